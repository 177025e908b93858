"""Replay a JSON-lines event file, or the input topics, through the policy, exactly as the
worker would decide.

The input is a file (:class:`offline.inputs.FileInput`) or the input topics of a broker
(:class:`offline.kafka_input.KafkaInput`); both hand out the same kind of entries, and
everything below is one implementation for both. Two streaming passes, so an input of
any length runs in memory that follows the number of accounts (and the events the
watermark holds), not the number of lines:

1. :mod:`offline.scan`: each topic's last line, its earliest time and its gaps, and the
   file's event-time span.
2. Parse each line with the worker's parser, fold it into a :class:`policy.guard.Guard`
   with a :class:`policy.ordering.Watermarks` watermark (one source per topic), release
   held events as the watermark moves on, and write each decision to stdout as the exact
   ``sendguard.decisions`` record.

Time: the future check uses the wall clock, as the worker's does; the late check and the
guard's clock use the *event-time clock*, the latest ``occurred_at`` accepted so far. An
old file is then judged as it was while it was live: not every line is "late", months are
pruned as they were, and ``decided_at`` is the event time of the decision.
"""

from __future__ import annotations

import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO, TextIO

from offline.compare_report import write_comparison_report
from offline.driver import MAX_BAD_LINES_SHOWN, Driver
from offline.errors import ReplayInputError, ReportError
from offline.inputs import FileInput, ReplayInput
from offline.progress import Progress
from offline.report import write_report
from offline.result import ReplayResult
from offline.scan import scan
from offline.summary import Comparison, format_summary
from policy.config import Policy

__all__ = ["MAX_BAD_LINES_SHOWN", "Comparison", "ReplayResult", "replay"]


def replay(
    source: str | Path | ReplayInput,
    policy: Policy,
    *,
    allowance: timedelta = timedelta(seconds=10),
    progress: bool = True,
    compare_policy: Policy | None = None,
    report_path: str | Path | None = None,
    force_progress: bool = False,
    summary: bool = True,
    out: BinaryIO | None = None,
    err: TextIO | None = None,
    keep_state: bool = False,
) -> ReplayResult:
    """Replay ``source`` (a file's path, or an input) under ``policy``; decisions go to
    ``out`` (default stdout) as JSON lines.

    ``progress`` allows a progress bar on ``err`` (default stderr) when it is a terminal;
    ``force_progress`` draws it anyway. ``summary`` prints bad lines (the first
    :data:`MAX_BAD_LINES_SHOWN`) and the summary tables to ``err``. With
    ``compare_policy`` a second guard runs over the same pass and the result tells which
    account-channels it would newly suspend or spare, and every decision that differs.
    ``report_path`` writes an HTML report: of the suspended account-channels, or with
    ``compare_policy`` of every account-channel whose decisions differ. ``keep_state``
    keeps the guard's final state in ``result.store``.

    Raises :class:`offline.errors.ReplayInputError` if the input cannot be read, and
    :class:`offline.errors.ReportError` (before replaying) if the report cannot be written.
    """
    source = FileInput(source) if isinstance(source, (str, Path)) else source
    out = out if out is not None else sys.stdout.buffer
    err = err if err is not None else sys.stderr
    started = time.monotonic()
    if report_path is not None:
        _check_writable(Path(report_path))

    def bar(label: str) -> Progress:
        return Progress.auto(
            source.total, err, label=label, allowed=progress, force=force_progress,
            unit=source.unit,
        )  # fmt: skip

    try:
        scanning = bar("scan")
        found = scan(source, scanning)
        scanning.close()
    except OSError as exc:
        raise ReplayInputError(f"{source.name}: cannot read: {exc.strerror or exc}") from exc
    result = ReplayResult(
        source.name, policy.version, unit=_UNITS[source.unit], first=found.first, last=found.last
    )
    run = Driver(source, found, policy, compare_policy, allowance, result, out, summary)
    replaying = bar("replay")
    try:
        run.pass_two(replaying)
    except BrokenPipeError:
        raise  # stdout's reader went away: the caller's business, not the input's
    except OSError as exc:
        raise ReplayInputError(f"{source.name}: cannot read: {exc.strerror or exc}") from exc
    finally:
        replaying.close()
    run.finish()
    result.notes = source.notes()
    if keep_state:
        result.store = run.lane.store
    result.seconds = time.monotonic() - started
    if report_path is not None:
        result.report_path = Path(report_path)
        try:
            if compare_policy is None:
                write_report(result.report_path, result, run.daily, policy)
            else:
                write_comparison_report(result.report_path, result, run.daily, policy,
                                        compare_policy, run.other_decisions)  # fmt: skip
        except OSError as exc:
            raise ReportError(f"{report_path}: cannot write: {exc.strerror or exc}") from exc
    if summary:
        err.write(format_summary(result))
        err.flush()
    return result


#: What a replay's summary calls the entries of an input, by what its progress counts.
_UNITS = {"bytes": "lines", "records": "records"}


def _check_writable(path: Path) -> None:
    """Fail before a long replay rather than after it."""
    try:
        with path.open("a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise ReportError(f"{path}: cannot write: {exc.strerror or exc}") from exc
