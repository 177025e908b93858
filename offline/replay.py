"""Replay a JSON-lines event file through the policy, exactly as the worker would decide.

Two streaming passes, so a file of any length runs in memory that follows the number of
accounts (and the events the watermark holds), not the number of lines:

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
from offline.progress import Progress
from offline.report import write_report
from offline.result import ReplayResult
from offline.scan import scan
from offline.summary import Comparison, format_summary
from policy.config import Policy

__all__ = ["MAX_BAD_LINES_SHOWN", "Comparison", "ReplayResult", "replay"]


def replay(
    path: str | Path,
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
    """Replay ``path`` under ``policy``; decisions go to ``out`` (default stdout) as JSON lines.

    ``progress`` allows a progress bar on ``err`` (default stderr) when it is a terminal;
    ``force_progress`` draws it anyway. ``summary`` prints bad lines (the first
    :data:`MAX_BAD_LINES_SHOWN`) and the summary tables to ``err``. With
    ``compare_policy`` a second guard runs over the same pass and the result tells which
    account-channels it would newly suspend or spare, and every decision that differs.
    ``report_path`` writes an HTML report: of the suspended account-channels, or with
    ``compare_policy`` of every account-channel whose decisions differ. ``keep_state``
    keeps the guard's final state in ``result.store``.

    Raises :class:`offline.errors.ReplayInputError` if the file cannot be read, and
    :class:`offline.errors.ReportError` (before replaying) if the report cannot be written.
    """
    out = out if out is not None else sys.stdout.buffer
    err = err if err is not None else sys.stderr
    started = time.monotonic()
    if report_path is not None:
        _check_writable(Path(report_path))
    try:
        size = Path(path).stat().st_size
        bar = Progress.auto(size, err, label="scan", allowed=progress, force=force_progress)
        found = scan(path, bar)
        bar.close()
    except OSError as exc:
        raise ReplayInputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    result = ReplayResult(str(path), policy.version, first=found.first, last=found.last)
    run = Driver(found, policy, compare_policy, allowance, result, out, summary)
    bar = Progress.auto(found.size, err, label="replay", allowed=progress, force=force_progress)
    try:
        run.pass_two(path, bar)
    except BrokenPipeError:
        raise  # stdout's reader went away: the caller's business, not the file's
    except OSError as exc:
        raise ReplayInputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    finally:
        bar.close()
    run.finish()
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


def _check_writable(path: Path) -> None:
    """Fail before a long replay rather than after it."""
    try:
        with path.open("a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise ReportError(f"{path}: cannot write: {exc.strerror or exc}") from exc
