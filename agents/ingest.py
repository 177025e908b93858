"""The guard's record handling, without Faust: records in, records out, state in a store.

:class:`Ingest` takes one partition's records at a time, in offset order. For each it:

- validates it (``schemas.parse``); a reject goes to the dead-letter topic with its
  reason;
- if the record is not on its account's partition (``streams.partitioning``), forwards
  it to that partition of ``sendguard.events``, where the owner handles it like any input;
- otherwise steps the pure guard (``policy.guard``) with the partition's watermark
  (``agents.ordering``): the event is counted, or held in memory until the watermark
  passes it; records of ``sendguard.events`` (forwarded events, appeal commands) are
  handled likewise.

Progress reports of ``sendguard.progress`` come in by :meth:`Ingest.offer_report` and
count once the guard partitions have read past their fences (:meth:`apply_reports`).

With a shadow policy (``SENDGUARD_SHADOW_POLICY``) every event and metadata record is
stepped a second time, right after the live guard, by a guard of the shadow's
:class:`Lane` over its own account rows (``tables.shadow``). Its
decisions go to ``sendguard.shadow-decisions``; its statuses and suppressions are not
published, and operators' commands (appeals, restores) act on the live lane only, as the
offline replay, which has no commands, does. A batch is acknowledged once neither lane
holds an event of it.

Its collaborators are explicit: the policy, the store (the worker's ``TableBatch``), the
outbox the records go to, the metrics, where each partition stands (``Positions``) and
the wall clock. It imports nothing of faust (``tests/test_layering.py``): records are
Kafka records (:class:`InputRecord`), a :class:`Batch` holds the shell's handle without
looking into it, and a flush takes what the steps leave with :meth:`Ingest.drain`.
``agents.guard`` is the Faust shell around it: it delivers the batches in order, flushes
the outbox and the store, and acknowledges. ``tests/agents/test_ingest.py`` drives this
class with records and reads the records and state it leaves.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from agents.appeals import AppealDesk
from agents.census import AccountCensus
from agents.envelope import MetaDeleted, Record, UndecodableRecord, unwrap, wrap
from agents.ordering import PartitionClock, RemoteSources
from agents.outbox import Outbox
from agents.outputs import LiveOutput, Output, ShadowOutput, millis
from agents.progress import (
    ProgressReport,
    ReportGate,
    SourceProgress,
    from_micros,
    source_name,
    to_micros,
)
from policy import Policy
from policy.guard import Guard, Position, Step
from policy.held import HeldEvents
from policy.ordering import BEGINNING
from schemas.appeals import DecideAppeal, FileAppeal
from schemas.errors import InvalidEvent
from schemas.parse import (
    dead_letter,
    dead_letter_key,
    encode,
    parse_account,
    parse_event,
    tombstone_account,
)
from schemas.types import AccountMeta, Event
from streams.commands import CommandResult
from streams.metrics import Metrics
from streams.partitioning import account_partition
from streams.topics import TopicNames
from streams.topics import TopicPartition as TP
from tables.batch import TableBatch
from tables.shadow import ShadowStore

log = logging.getLogger("sendguard.guard")
#: While the worker holds more than ``hold_back_above`` events (``SENDGUARD_HOLD_BACK_ABOVE``),
#: an input partition more than LOOKAHEAD ahead of its watermark in event time is not
#: fetched until the watermark catches up: held events stay a bounded share of memory.
#: Below it nothing is held back: in a backlog every partition runs ahead of the others
#: by about a fetch, and holding them back left a draining worker waiting for the
#: progress reports that move the watermark (BENCHMARKS.md).
LOOKAHEAD = timedelta(minutes=1)
#: Header carrying a forwarded event's original append time (epoch ms, ASCII).
APPENDED_AT = "sendguard-appended-at"
LATE_PREFIX = "occurred_at: older than"

#: Reject lines logged per second at most; the dead-letter topic has every reject.
REJECTS_LOGGED_PER_S = 20


class LogBudget:
    """At most ``per_s`` log lines a second; counts the ones it refuses."""

    def __init__(self, per_s: int) -> None:
        self.per_s = per_s
        self._second = 0
        self._used = 0
        self._suppressed = 0

    def allow(self) -> bool:
        second = int(time.monotonic())
        if second != self._second:
            self._second, self._used = second, 0
        if self._used < self.per_s:
            self._used += 1
            return True
        self._suppressed += 1
        return False

    def take_suppressed(self) -> int:
        suppressed, self._suppressed = self._suppressed, 0
        return suppressed


#: (end, delivered) of an input partition, as the consumer knows them (``agents.guard``).
Positions = Callable[[TP], tuple[int | None, int | None]]
#: The offset of ``sendguard.events`` a guard partition has read to (None: not known).
EventsRead = Callable[[int], int | None]
Clock = Callable[[], datetime]


def now_ms() -> int:
    return int(time.time() * 1000)


class BatchClock:
    """The wall clock, read once per batch (:meth:`tick`) for what the ingest itself
    needs per event: the parser's late-event window, the future-stamp horizon, and the
    timestamps of forwards and dead letters. Reading it per event was half of the 5 % of
    a draining worker that reading the clock took. The guards keep the real clock: the
    decisions of one batch must stay in the order they were made, by ``decided_at``."""

    __slots__ = ("_read", "ms", "now")

    def __init__(self, read: Clock) -> None:
        self._read = read
        self.tick()

    def tick(self) -> datetime:
        self.now = self._read()
        self.ms = millis(self.now)
        return self.now


class Batch:
    """A delivered record batch of one guard partition, acknowledged once none of its
    events is held. ``handle``: the shell's own handle on it (faust's event, which the
    guard acknowledges), opaque here."""

    __slots__ = ("handle", "held", "partition")

    def __init__(self, partition: int, handle: Any = None) -> None:
        self.partition = partition
        self.handle = handle
        self.held = 0


class InputRecord(Protocol):
    """A record as read from Kafka (aiokafka's ``ConsumerRecord`` is one)."""

    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def timestamp(self) -> int | None: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes]]: ...


Records = Sequence[InputRecord]


@dataclass
class Effects:
    """What the steps since the last flush leave for the flush to do besides publishing:
    input outcomes to count, decision latencies to observe, command answers to give."""

    #: (topic, outcome) -> input events
    outcomes: Counter[tuple[str, str]]
    #: append times (epoch ms) of the events that triggered decisions
    latencies: list[int]
    answers: list[tuple[str, CommandResult]]


class _Waiting:
    """A held event's message: its batch, and when it was appended (for the latency).
    A plain class with slots: one is made per event."""

    __slots__ = ("appended", "batch", "event_id")

    def __init__(self, batch: Batch, event_id: str, appended: int | None) -> None:
        self.batch = batch
        self.event_id = event_id
        self.appended = appended


class Lane:
    """One policy's guards, one per guard partition, over that policy's own store, and
    what their steps publish (``agents.outputs``: live or shadow)."""

    def __init__(self, policy: Policy, store: TableBatch | ShadowStore, output: Output,
                 clock: Clock) -> None:  # fmt: skip
        self.policy = policy
        self.store = store
        self.output = output
        self.clock = clock
        self.guards: dict[int, Guard] = {}
        #: messages whose events this lane holds, by position
        self.waiting: dict[Position, _Waiting] = {}

    @property
    def name(self) -> str:
        return self.output.name

    def guard(self, partition: int) -> Guard:
        guard = self.guards.get(partition)
        if guard is None:
            guard = self.guards[partition] = Guard(
                self.policy, self.store, self.clock, HeldEvents(),
                suppresses=self.output.suppresses,
            )  # fmt: skip
        return guard

    def publish(self, step: Step) -> None:
        self.output.publish(step, self.store)

    def forget(self, partitions: set[int]) -> None:
        for partition in partitions:
            self.guards.pop(partition, None)
        self.waiting = {p: w for p, w in self.waiting.items()
                        if w.batch.partition not in partitions}  # fmt: skip

    def held(self) -> int:
        return sum(len(g.held) for g in self.guards.values())


class Ingest:
    def __init__(
        self,
        *,
        policy: Policy,
        store: TableBatch,
        outbox: Outbox,
        metrics: Metrics,
        names: TopicNames,
        partitions: int,
        partitions_of: Callable[[str], int],
        allowance: timedelta,
        positions: Positions,
        events_read: EventsRead,
        reporter: str,
        group: str = "",
        shadow: tuple[Policy, ShadowStore] | None = None,
        clock: Clock = lambda: datetime.now(UTC),
        hold_back_above: int,
    ) -> None:
        """``clock``: the wall clock (now, UTC), for the late-event window, the future
        stamps and the time of what the guard writes. ``hold_back_above``: see
        :data:`LOOKAHEAD`."""
        self.policy = policy
        self.store = store
        self.clock = BatchClock(clock)
        self.census = AccountCensus(metrics.accounts)
        live = LiveOutput(outbox, names, metrics, self.census, partitions)
        self.live = Lane(policy, store, live, clock)
        #: the live lane first: its step is the one a message's outcome is counted by
        self.lanes = [self.live]
        if shadow is not None:
            self.lanes.append(Lane(*shadow, ShadowOutput(outbox, names, metrics), clock))
        self.outbox = outbox
        self.metrics = metrics
        self.names = names
        #: the topics each guard partition reads itself, and for each, the others
        self.direct = (*names.inputs, names.accounts)
        self._others = {topic: [o for o in self.direct if o != topic] for topic in self.direct}
        self.partitions = partitions
        #: how many partitions each topic read has (its sources)
        self.partitions_of = partitions_of
        self.allowance = allowance
        self.hold_back_above = hold_back_above
        self.positions = positions
        self.events_read = events_read
        self.desk = AppealDesk(store, self._publish_record, names.appeals, names.notifications,
                               metrics.unaddressed_notifications)  # fmt: skip
        self.progress = SourceProgress(reporter=reporter, group=group)
        self.clocks: dict[int, PartitionClock] = {}
        #: the guard partitions assigned to this worker
        self.owned: set[int] = set()
        #: the other input partitions, from the reports applied (made on first use)
        self._remote: RemoteSources | None = None
        self.gate = ReportGate()
        #: the highest fence of every report applied: a guard partition that has not
        #: read ``sendguard.events`` this far (assigned since) waits for it
        self.fenced: dict[int, int] = {}
        #: input partitions too far ahead of their watermark to fetch now
        self.held_back: set[TP] = set()
        #: append times (epoch ms) of decisions' trigger events, observed after the flush
        self.latencies: list[int] = []
        self.answers: list[tuple[str, CommandResult]] = []
        #: (topic, outcome) -> input events since the last flush, for the metric
        self.outcomes: Counter[tuple[str, str]] = Counter()
        #: a flood of bad input must not spend the worker's time on log lines
        self._reject_log = LogBudget(REJECTS_LOGGED_PER_S)

    def take(self, batch: Batch, topic: str, partition: int, records: Records) -> None:
        """Handle one partition's records (aiokafka ``ConsumerRecord``s), in offset order.
        After records of ``sendguard.events``, the reports waiting for them are applied."""
        self.outbox.origin = partition  # what this queues is this partition's work
        self.clock.tick()
        self._guard(partition)
        if topic != self.names.events:
            self.progress.took(TP(topic, partition))
        # The other sources as they are now, not as at the last batch: records of another
        # topic may have arrived since (drained with this batch, say), and a watermark
        # that still took that topic for caught up would count this batch's events ahead
        # of them. Its own topic is refreshed once its records are handled.
        self._refresh(partition, self._others.get(topic, self.direct))
        try:
            if topic == self.names.events:
                self._internal(batch, partition, records)
            elif topic == self.names.accounts:
                self._accounts(topic, partition, records)
            else:
                self._inputs(batch, topic, partition, records)
            self._advance(partition, [topic] if topic in self._others else [])
        finally:
            self.outbox.origin = None
        if topic == self.names.events and len(self.gate):
            self.apply_reports()

    # -- progress of the other input partitions ----------------------------------------

    def offer_report(self, report: ProgressReport) -> None:
        """A report read from ``sendguard.progress``: it counts once its fences are read
        past (:meth:`apply_reports`)."""
        if not self.gate.offer(report):
            log.warning("progress report of %s refused: too many reporters waiting",
                        report.reporter)  # fmt: skip

    def apply_reports(self) -> bool:
        """Apply the reports whose fences every owned guard partition has read past, and
        count what they let through; whether any applied."""
        ready = self.gate.ready({p: self.events_read(p) for p in self.owned})
        if not ready:
            return False
        self.clock.tick()
        remote = self.remote()
        for report in ready:
            remote.apply(report)
            for partition, fence in report.fences.items():
                if fence > self.fenced.get(partition, 0):
                    self.fenced[partition] = fence
        for partition in list(self.clocks):
            if not self._waits(partition):
                continue  # nothing to release or to fetch again: its next batch looks
            self.outbox.origin = partition
            try:
                self._advance(partition, self.direct)
            finally:
                self.outbox.origin = None
        return True

    def _waits(self, partition: int) -> bool:
        """Whether a guard partition waits for its watermark to move: events held, or an
        input partition left out of the fetches. Only those are advanced when reports
        arrive: the others would refresh their eight sources per report for nothing."""
        return any(
            (guard := lane.guards.get(partition)) is not None and len(guard.held)
            for lane in self.lanes
        ) or any(TP(topic, partition) in self.held_back for topic in self.names.inputs)

    def remote(self) -> RemoteSources:
        if self._remote is None:
            sources = [
                source_name(topic, p)
                for topic in self.direct
                for p in range(self.partitions_of(topic))
            ]
            self._remote = RemoteSources(self.allowance, sources)
        return self._remote

    def watermark(self, partition: int, read: int | None = None) -> datetime | None:
        """The partition's watermark; at the beginning of time while it has not read
        ``sendguard.events`` to the fences of the reports applied (to ``read``, or as far
        as it has taken)."""
        fence = self.fenced.get(partition, 0)
        if fence:
            if read is None:
                read = self.events_read(partition)
            if read is None or read < fence:
                return BEGINNING
        return self.clocks[partition].watermark()

    def update_gauges(self) -> None:
        """Held events and the watermark delay (every owned partition: from a timer)."""
        self.metrics.held_events.set(self.held())
        self.clock.tick()
        for partition in self.clocks:  # as they are now, not as at their last batch
            self._refresh(partition, self.direct)
        marks = [self.watermark(p) for p in self.clocks]
        lowest = min((m for m in marks if m is not None), default=None)
        delay = 0.0 if lowest is None else max(0.0, (self.clock.now - lowest).total_seconds())
        self.metrics.watermark_delay.set(delay)

    def partition_status(self) -> list[dict[str, Any]]:
        """Each owned guard partition, its direct sources brought up to date as the gauges'
        timer does: its watermark (None: nothing holds it back) and how far it trails the
        clock (None: at the beginning of time), the source it waits for, and the events
        it holds (``GET /status``)."""
        now = self.clock.tick()
        for partition in self.clocks:
            self._refresh(partition, self.direct)
        found = []
        for partition, (mark, holding) in self.waiting_for().items():
            guard = self.live.guards.get(partition)
            row: dict[str, Any] = {
                "partition": partition,
                "watermark": None,
                "watermark_age_s": 0.0,
                "waits_for": None,
                "held_events": len(guard.held) if guard is not None else 0,
            }
            if mark == BEGINNING:
                row["watermark_age_s"] = None
                row["waits_for"] = holding or self.names.events
            elif mark is not None:
                row["watermark"] = mark.isoformat()
                row["watermark_age_s"] = round(max(0.0, (now - mark).total_seconds()), 1)
                row["waits_for"] = holding
            found.append(row)
        return found

    def forget(self, partitions: set[int]) -> None:
        """The guard partitions were revoked: drop their guards, clocks and held events."""
        for partition in partitions:
            self.clocks.pop(partition, None)
        for lane in self.lanes:
            lane.forget(partitions)
        self.census.forget(partitions)

    def held(self) -> int:
        """Events the live policy holds (the shadow holds the same ones)."""
        return self.live.held()

    def drain(self) -> Effects:
        """What the steps since the last call leave for the flush (and forget it)."""
        effects = Effects(self.outcomes, self.latencies, self.answers)
        self.outcomes, self.latencies, self.answers = Counter(), [], []
        return effects

    def rows_created(self, created: Mapping[int, list[str]]) -> None:
        """The flush wrote these accounts' first rows (by guard partition)."""
        for partition, accounts in created.items():
            self.census.created(partition, accounts)

    def waiting_for(self) -> dict[int, tuple[datetime | None, str | None]]:
        """Per guard partition, its watermark and the source holding it (diagnostics)."""
        return {p: (self.watermark(p), c.holding()) for p, c in sorted(self.clocks.items())}

    def fetch_all_again(self) -> int:
        """Stop holding input partitions back; how many were."""
        count = len(self.held_back)
        self.held_back.clear()
        return count

    def assigned(self, tps: Iterable[TP]) -> None:
        self.owned.update(tp.partition for tp in tps if tp.topic == self.names.events)

    def revoked(self, tps: Iterable[TP]) -> None:
        """These partitions are another worker's now: forget how far their inputs were
        read, and the guard partitions' guards, clocks and held events."""
        gone = set()
        for tp in tps:
            self.held_back.discard(tp)
            if tp.topic == self.names.events:
                gone.add(tp.partition)
            else:
                self.progress.forget([tp])
        self.owned -= gone
        self.forget(gone)

    def _guard(self, partition: int) -> Guard:
        """The live guard of a partition; the first call also sets up its clock."""
        if partition not in self.clocks:
            own = [source_name(topic, partition) for topic in self.direct]
            self.clocks[partition] = PartitionClock(partition, self.allowance, own, self.remote())
            if not self.census.counted(partition):
                self.census.count(partition, self.store.account_states(partition))
        return self.live.guard(partition)

    def _receive(self, partition: int, event: Event, position: Position,
                 watermark: datetime | None, arriving: _Waiting) -> Step:  # fmt: skip
        """Step every lane's guard with an event; the live step is returned. An event
        stamped more than the allowance past the wall clock is counted on arrival
        (``policy.guard``)."""
        horizon = self.clock.now + self.allowance
        steps = []
        for lane in self.lanes:
            step = lane.guard(partition).receive(event, position, watermark, horizon)
            self._after(lane, step, arriving, position)
            steps.append(step)
        return steps[0]

    def _meta(self, partition: int, item: AccountMeta | MetaDeleted) -> None:
        self._guard(partition)
        for lane in self.lanes:
            guard = lane.guard(partition)
            if isinstance(item, MetaDeleted):
                guard.step_meta_deleted(item.account_id)
            else:
                lane.publish(guard.step_meta(item))

    # -- records in -------------------------------------------------------------------

    def _inputs(self, batch: Batch, topic: str, partition: int, records: Records) -> None:
        name = self.names.inputs[topic]
        source = source_name(topic, partition)
        watermark = self.watermark(partition)
        now = self.clock.now
        grace = self.policy.late_grace_days
        tp = TP(topic, partition)
        frontier = self.progress.frontier(tp)
        cap = to_micros(now)
        for record in records:
            try:
                if record.value is None:
                    raise InvalidEvent("empty message (null value)")
                event = parse_event(name, record.value, now=now, late_grace_days=grace)
            except InvalidEvent as exc:
                self._reject(name, record, exc.reason)
                continue
            except Exception as exc:  # a bug must not stop the stream: dead-letter it
                log.exception("unexpected error parsing %s@%s", topic, record.offset)
                self._reject(name, record, f"internal error: {type(exc).__name__}: {exc}")
                continue
            frontier.observe(to_micros(event.occurred_at), cap)
            owner = account_partition(event.account_id, self.partitions)
            if owner != partition:
                self._forward(event.account_id, wrap(event), owner, record.timestamp)
                continue
            position = Position(source, record.offset)
            arriving = _Waiting(batch, event.event_id, record.timestamp)
            step = self._receive(partition, event, position, watermark, arriving)
            self._count_outcome(name, step)

    def _accounts(self, topic: str, partition: int, records: Records) -> None:
        self._guard(partition)
        for record in records:
            try:
                item = _account_record(record)
            except InvalidEvent as exc:
                self._reject("accounts", record, exc.reason)
                continue
            owner = account_partition(item.account_id, self.partitions)
            if owner != partition:
                self._forward(item.account_id, wrap(item), owner, record.timestamp)
            else:
                self._meta(partition, item)

    def _internal(self, batch: Batch, partition: int, records: Records) -> None:
        guard = self._guard(partition)
        source = source_name(self.names.events, partition)
        for record in records:
            try:
                item = unwrap(record.value)
            except UndecodableRecord as exc:
                log.error("undecodable record on %s@%s: %s", source, record.offset, exc)
                self.metrics.undecodable.inc()
                self._reject("sendguard.events", record, f"undecodable internal record: {exc}")
                continue
            try:
                self._apply(batch, partition, guard, item, Position(source, record.offset),
                            record)  # fmt: skip
            except Exception as exc:  # anyone can write the topic: one record must not stop us
                log.exception("unexpected error handling %s@%s", source, record.offset)
                self.metrics.undecodable.inc()
                self._reject("sendguard.events", record,
                             f"internal error: {type(exc).__name__}: {exc}")  # fmt: skip

    def _apply(self, batch: Batch, partition: int, guard: Guard, item: Record,
               position: Position, record: InputRecord) -> None:  # fmt: skip
        """Apply one decoded record of ``sendguard.events``."""
        if isinstance(item, Event):
            arriving = _Waiting(batch, item.event_id, _appended_at(record))
            watermark = self.watermark(partition, read=record.offset)
            step = self._receive(partition, item, position, watermark, arriving)
            self._count_outcome(item.topic, step)
        elif isinstance(item, ProgressReport):
            # Written here by workers before sendguard.progress: it counts like the others
            # (a rolling upgrade keeps going), in order on this partition only.
            self.offer_report(item)
        elif isinstance(item, AccountMeta | MetaDeleted):
            self._meta(partition, item)
        else:
            self._command(guard, item, position)

    def _command(
        self, guard: Guard, command: FileAppeal | DecideAppeal, position: Position
    ) -> None:
        try:
            if isinstance(command, FileAppeal):
                result = self.desk.file(command)
            else:
                result, step = self.desk.decide(command, guard, position)
                if step is not None:
                    self.live.publish(step)
        except Exception:
            log.exception("command %s failed", command.command_id)
            result = CommandResult(500, {"error": "internal error; see the worker log"})
        self.answers.append((command.command_id, result))

    def _refresh(self, partition: int, topics: Iterable[str]) -> None:
        """Bring the partition's direct sources of these topics up to date."""
        clock = self.clocks[partition]
        for topic in topics:
            tp = TP(topic, partition)
            clock.direct(source_name(topic, partition),
                         *self.progress.state(tp, *self.positions(tp)))  # fmt: skip

    def _advance(self, partition: int, topics: Iterable[str]) -> None:
        """Bring the partition's direct sources of these topics up to date, then count
        what is now due."""
        self._guard(partition)
        self._refresh(partition, topics)
        watermark = self.watermark(partition)
        for lane in self.lanes:
            lane_guard = lane.guard(partition)
            for account_id in lane_guard.due(watermark):
                self._after(lane, lane_guard.release(account_id, watermark), None, None)
        crowded = self.held() > self.hold_back_above
        for topic in self.names.inputs:
            tp = TP(topic, partition)
            latest = self.progress.latest(tp)
            ahead = (
                crowded
                and watermark is not None
                and latest is not None
                and from_micros(latest) > watermark + LOOKAHEAD
            )
            (self.held_back.add if ahead else self.held_back.discard)(tp)

    def _after(
        self, lane: Lane, step: Step, arriving: _Waiting | None, position: Position | None
    ) -> None:
        """Account for a lane's step: a held message waits, a done one frees its batch."""
        if step.kind == "held":
            assert arriving is not None and position is not None
            arriving.batch.held += 1
            lane.waiting[position] = arriving
            return
        appended: dict[str, int | None] = {}
        if arriving is not None:
            appended[arriving.event_id] = arriving.appended
        for done in step.done:
            waited = lane.waiting.pop(done, None)
            if waited is not None:
                waited.batch.held -= 1
                appended[waited.event_id] = waited.appended
        if lane.output.timed:
            for decision in step.outcome.decisions:
                start = appended.get(decision.trigger_event_id or "")
                if start is not None:
                    self.latencies.append(start)
        lane.publish(step)

    # -- records out ------------------------------------------------------------------

    def _count_outcome(self, topic: str, step: Step) -> None:
        if step.kind == "replayed":
            return
        if step.kind == "duplicate":
            outcome = "duplicate"
        elif step.late:
            outcome = "late_counted"
        else:
            outcome = "ahead_counted" if step.ahead else "accepted"
        self.outcomes[(topic, outcome)] += 1

    def reject_internal(self, topic: str, record: InputRecord, reason: str) -> None:
        """An internal record (of ``sendguard.progress``) that is not one of ours."""
        log.error("undecodable record on %s@%s: %s", topic, record.offset, reason)
        self.metrics.undecodable.inc()
        self.clock.tick()
        self._reject(topic, record, f"undecodable internal record: {reason}")

    def _reject(self, topic: str, record: InputRecord, reason: str) -> None:
        self.outcomes[(topic, "late" if reason.startswith(LATE_PREFIX) else "invalid")] += 1
        if self._reject_log.allow():
            more = self._reject_log.take_suppressed()
            log.info("rejected %s[%s]@%s: %s%s", topic, record.partition, record.offset, reason,
                     f" (and {more} more rejects not logged; all are dead-lettered)"
                     if more else "")  # fmt: skip
        letter = dead_letter(topic, record.partition, record.offset, reason, record.value)
        self.outbox.add(self.names.dead_letter, dead_letter_key(record.key), encode(letter),
                        self.clock.ms)  # fmt: skip

    def _forward(self, account_id: str, value: bytes, partition: int, appended: int | None) -> None:
        headers = [(APPENDED_AT, str(appended).encode())] if appended is not None else []
        self.outbox.add(self.names.events, account_id.encode(), value, self.clock.ms,
                        partition,
                        headers)  # fmt: skip

    def _publish_record(self, topic: str, account_id: str, value: bytes, at: datetime) -> None:
        self.outbox.add(topic, account_id.encode(), value, millis(at))


def _account_record(record: InputRecord) -> AccountMeta | MetaDeleted:
    """An ``accounts`` record: metadata, or a tombstone (a null value) deleting it."""
    if record.value is not None:
        return parse_account(record.value)
    return MetaDeleted(tombstone_account(record.key))


def _appended_at(record: InputRecord) -> int | None:
    for name, value in record.headers or ():
        if name == APPENDED_AT:
            try:
                return int(value)
            except (TypeError, ValueError):  # no value, not a number: anyone can write it
                return None
    return record.timestamp
