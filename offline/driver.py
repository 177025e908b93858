"""Pass 2 of a replay: parse each line, drive the guard lanes with the watermark.

The watermark has one source per input topic. Every topic of the input is expected from
the start and reports its earliest time (from pass 1); a valid event is observed; a topic
is finished right after its last line; a gap found by pass 1 is announced right after the
line before it. Each event is stepped with the current watermark, and whenever the
watermark moves on, the accounts holding events at or before it are released.

A "line" is an entry of the input (:mod:`offline.inputs`): a line of a file or a record
of the input topics; the input frames it, ``schemas.parse`` validates it.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import BinaryIO

import msgspec

from offline.daily import DailyCounts
from offline.inputs import Entry, ReplayInput
from offline.lanes import Lane
from offline.progress import Progress
from offline.result import ReplayResult
from offline.scan import FileScan
from offline.summary import compare, reason_group
from policy.config import Policy
from policy.ordering import Watermarks
from schemas.appeals import APPEALS_TOPIC, decode_appeal_outcome
from schemas.codec import encode
from schemas.errors import InvalidEvent
from schemas.parse import parse_account, tombstone_account
from schemas.types import ACCOUNTS_TOPIC, Decision

MAX_BAD_LINES_SHOWN = 20


class EventClock:
    """The latest ``occurred_at`` accepted so far; the guard's clock during a replay."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


class Driver:
    """Pass 2: the watermark, the lanes and the counters, fed one line at a time."""

    def __init__(
        self,
        source: ReplayInput,
        found: FileScan,
        policy: Policy,
        other: Policy | None,
        allowance: timedelta,
        result: ReplayResult,
        out: BinaryIO,
        summary: bool,
    ) -> None:
        self.source = source
        self.found = found
        self.policy = policy
        self.result = result
        self.out = out
        self.summary = summary
        self.wall = datetime.now(UTC)
        self.clock = EventClock(found.first or self.wall)
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
        self.other_decisions.append(decision)

    def pass_two(self, bar: Progress) -> None:
        self.bar = bar
        for entry in self.source.entries(bar):
            self._line(entry)
            self._after(entry.number)
        self.result.lines = self.found.lines

    def _line(self, entry: Entry) -> None:
        try:
            if entry.topic == APPEALS_TOPIC:
                self._appeal(entry)
                return
            if entry.topic == ACCOUNTS_TOPIC:
                self._account(entry)
                return
            event = self.source.parse_event(
                entry,
                now=self.wall,
                late_grace_days=self.policy.late_grace_days,
                late_reference=self.clock.now,
            )
        except InvalidEvent as exc:
            self._reject(entry, exc.reason)
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

    def _appeal(self, entry: Entry) -> None:
        """A record of ``sendguard.appeals``: an approved one restores its channel."""
        try:
            appeal = decode_appeal_outcome(entry.raw or b"")
        except msgspec.DecodeError as exc:  # broken JSON, or a record of the wrong shape
            raise InvalidEvent(f"not an appeal record: {exc}") from None
        self.result.appeal_records += 1
        if appeal.status != "restored" or appeal.decided_at is None:
            return
        if appeal.decided_at > self.clock.now:
            self.clock.now = appeal.decided_at
        applied = [lane.restore(appeal, appeal.decided_at) for lane in self.lanes]
        self.result.restores += applied[0]

    def _account(self, entry: Entry) -> None:
        """Metadata, or a tombstone on ``accounts`` deleting it (as the worker reads them)."""
        if entry.raw is None:
            account_id = tombstone_account(entry.key)
            self.result.account_records += 1
            for lane in self.lanes:
                lane.meta_deleted(account_id)
            return
        meta = parse_account(entry.raw)
        self.result.account_records += 1
        for lane in self.lanes:
            lane.meta(meta)

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

    def _reject(self, entry: Entry, reason: str) -> None:
        result = self.result
        result.rejected += 1
        result.rejects_by_reason[reason_group(reason)] += 1
        if len(result.bad_lines) < MAX_BAD_LINES_SHOWN:
            where = self.source.where(entry)
            result.bad_lines.append((where, reason))
            if self.summary and self.bar is not None:
                self.bar.note(f"{where}: {reason}")

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
                result.decisions,
                self.other.policy.version,
                self.other_decisions,
            )
