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
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO, TextIO

from offline.daily import DailyCounts
from offline.errors import ReplayInputError, ReportError
from offline.lanes import Lane
from offline.progress import Progress
from offline.scan import FileScan, head, read_lines, scan
from offline.summary import Comparison, compare, format_summary, reason_group
from policy.config import Policy
from policy.ordering import Watermarks
from schemas.codec import encode
from schemas.errors import InvalidEvent
from schemas.parse import parse_account, parse_event_line
from schemas.types import ACCOUNTS_TOPIC, Decision

__all__ = ["Comparison", "ReplayResult", "replay"]

MAX_BAD_LINES_SHOWN = 20


@dataclass
class ReplayResult:
    """What a replay did; the same numbers the summary on stderr shows."""

    path: str
    policy_version: str
    lines: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    account_records: int = 0
    accounts: int = 0
    decisions: list[Decision] = field(default_factory=list)
    by_action_reason: Counter[tuple[str, str]] = field(default_factory=Counter)
    rejects_by_reason: Counter[str] = field(default_factory=Counter)
    bad_lines: list[tuple[int, str]] = field(default_factory=list)
    states: dict[str, Counter[str]] = field(default_factory=dict)
    first: datetime | None = None
    last: datetime | None = None
    seconds: float = 0.0
    comparison: Comparison | None = None
    report_path: Path | None = None

    @property
    def events_per_second(self) -> float:
        return self.lines / self.seconds if self.seconds > 0 else 0.0


class _EventClock:
    """The latest ``occurred_at`` accepted so far; the guard's clock during a replay."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


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
) -> ReplayResult:
    """Replay ``path`` under ``policy``; decisions go to ``out`` (default stdout) as JSON lines.

    ``progress`` allows a progress bar on ``err`` (default stderr) when it is a terminal;
    ``force_progress`` draws it anyway. ``summary`` prints bad lines (the first
    :data:`MAX_BAD_LINES_SHOWN`) and the summary tables to ``err``. With
    ``compare_policy`` a second guard runs over the same pass and the result tells which
    account-channels it would newly suspend or spare. ``report_path`` writes an HTML
    report of the suspended account-channels.

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
    run = _Run(found, policy, compare_policy, allowance, result, out, err, summary)
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
    result.seconds = time.monotonic() - started
    if report_path is not None:
        from offline.report import write_report

        result.report_path = Path(report_path)
        try:
            write_report(result.report_path, result, run.daily, policy)
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


class _Run:
    """The state of pass 2: the watermark, the lanes and the counters."""

    def __init__(
        self,
        found: FileScan,
        policy: Policy,
        other: Policy | None,
        allowance: timedelta,
        result: ReplayResult,
        out: BinaryIO,
        err: TextIO,
        summary: bool,
    ) -> None:
        self.found = found
        self.policy = policy
        self.result = result
        self.out = out
        self.err = err
        self.summary = summary
        self.wall = datetime.now(UTC)
        self.clock = _EventClock(found.first or self.wall)
        self.daily = DailyCounts()
        self.lane = Lane(policy, self.clock, self._emit)
        self.other_decisions: list[Decision] = []
        self.other = None if other is None else Lane(other, self.clock, self._keep_other)
        self.lanes = [lane for lane in (self.lane, self.other) if lane is not None]
        self.marks = Watermarks(allowance)
        for name, topic in found.topics.items():
            if topic.earliest is None:
                continue  # no line of it can be valid, so it will never report
            self.marks.expect(name)
            self.marks.report(name, topic.earliest, idle=False)
        self.finishing = found.finishing()
        self.watermark = self.marks.current()
        self.bar: Progress | None = None

    def _emit(self, decision: Decision) -> None:
        self.out.write(encode(decision) + b"\n")
        self.result.decisions.append(decision)
        self.result.by_action_reason[(decision.action, decision.reason)] += 1

    def _keep_other(self, decision: Decision) -> None:
        if decision.action == "suspend":
            self.other_decisions.append(decision)

    def pass_two(self, path: str | Path, bar: Progress) -> None:
        self.bar = bar
        done = 0
        with open(path, "rb") as fh:
            for number, line in read_lines(fh):
                done += len(line)
                if number % 4096 == 0:
                    bar.update(done)
                self._line(number, line)
                self._after(number)
        self.result.lines = self.found.lines

    def _line(self, number: int, line: bytes) -> None:
        wire = head(line)
        try:
            if wire is not None and wire.topic == ACCOUNTS_TOPIC:
                meta = parse_account(line)
                self.result.account_records += 1
                for lane in self.lanes:
                    lane.meta(meta)
                return
            event = parse_event_line(
                line,
                now=self.wall,
                late_grace_days=self.policy.late_grace_days,
                late_reference=self.clock.now,
            )
        except InvalidEvent as exc:
            self._reject(number, exc.reason)
            return
        if event.occurred_at > self.clock.now:
            self.clock.now = event.occurred_at
        self.marks.observe(event.topic, event.occurred_at)
        watermark = self.marks.current()
        step = self.lane.receive(event, watermark)
        if self.other is not None:
            self.other.receive(event, watermark)
        if step.kind == "duplicate":
            self.result.duplicates += 1
        else:
            self.result.accepted += 1
            self.daily.add(event)
        self._advance(watermark)

    def _after(self, number: int) -> None:
        """Finish topics whose last line this was, announce gaps, release what is due."""
        finished = self.finishing.get(number)
        announced = self.found.announcements.get(number)
        if finished is None and announced is None:
            return  # the watermark cannot have moved since the line's own step
        for name in finished or ():
            self.marks.finish(name)
        for name, at in announced or ():
            self.marks.report(name, at, idle=False)
        self._advance(self.marks.current())

    def _advance(self, watermark: datetime | None) -> None:
        previous = self.watermark
        if watermark == previous:
            return
        self.watermark = watermark
        if watermark is None or previous is None or watermark > previous:
            for lane in self.lanes:
                lane.release(watermark)

    def _reject(self, number: int, reason: str) -> None:
        result = self.result
        result.rejected += 1
        result.rejects_by_reason[reason_group(reason)] += 1
        if len(result.bad_lines) < MAX_BAD_LINES_SHOWN:
            result.bad_lines.append((number, reason))
            if self.summary and self.bar is not None:
                self.bar.note(f"line {number}: {reason}")

    def finish(self) -> None:
        for lane in self.lanes:
            lane.release(None)
        self.out.flush()
        result = self.result
        states: dict[str, Counter[str]] = {}
        for state in self.lane.accounts():
            result.accounts += 1
            for name, channel in state.channels.items():
                states.setdefault(name, Counter())[channel.status.state] += 1
        result.states = states
        if self.other is not None:
            result.comparison = compare(
                self.policy.version,
                [d for d in result.decisions if d.action == "suspend"],
                self.other.policy.version,
                self.other_decisions,
            )
