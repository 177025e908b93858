"""The guard agent: input events in, decisions, status and suppressions out.

One faust agent consumes the seven ``email.*`` topics, ``accounts`` and the internal
``sendguard.events``, co-partitioned, at concurrency 1 (faust-streaming #606). faust
hands it one :class:`streams.faust_ext.RecordBatch` per partition and fetch. For each
record it:

- validates it (``schemas.parse``); a reject goes to the dead-letter topic with its
  reason;
- if the record is not on its account's partition (``streams.partitioning``), forwards it to
  that partition of ``sendguard.events``, where the owner handles it like any input;
- otherwise steps the pure guard (``policy.guard``) with the partition's watermark
  (``agents.ordering``): the event is counted, or held in memory until the watermark
  passes it.

Work is made durable in *flushes* (``flush``): the records of every step since the last
flush are published and acknowledged by the broker, then the seen ids and other tables,
then the account rows (``tables.batch``); only then are the input batches acknowledged to
faust, and a batch whose events are still held stays unacknowledged, so a crash or a
rebalance reads it again (at-least-once, with the guard skipping what it already did).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from aiokafka import AIOKafkaProducer
from faust.types import TP

from agents.appeals import AppealDesk
from agents.continuity import Rewind, not_taken, verdict
from agents.envelope import PROGRESS, UndecodableRecord, unwrap, wrap
from agents.ordering import PartitionClock
from agents.outbox import Outbox
from agents.progress import ProgressReport, SourceProgress, from_micros, source_name, to_micros
from policy.guard import Guard, Position, Step
from policy.held import HeldEvents
from schemas.appeals import DecideAppeal, FileAppeal
from schemas.errors import InvalidEvent
from schemas.parse import dead_letter, encode, parse_account, parse_event
from schemas.types import AccountMeta, Event
from streams import topics as t
from streams.app import Runtime
from streams.commands import CommandResult
from streams.faust_ext import ack_batch, committed_offset
from streams.partitioning import account_partition
from tables.batch import TableBatch

log = logging.getLogger("sendguard.guard")
EXIT_AGENT_FAILED = 4
#: Flush at least this often while busy, and whenever nothing more is waiting.
FLUSH_EVENTS = 20_000
FLUSH_INTERVAL_S = 0.2
#: An input partition this far ahead of its watermark in event time is not fetched
#: until the watermark catches up: held events stay a bounded share of memory.
LOOKAHEAD = timedelta(minutes=1)
#: ... unless the guard has had nothing to read for this long.
HOLD_BACK_RELEASE_S = 2.0
#: Header carrying a forwarded event's original append time (epoch ms, ASCII).
APPENDED_AT = "sendguard-appended-at"
LATE_PREFIX = "occurred_at: older than"
_REPORT_ENCODER = msgspec.json.Encoder()


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class _Batch:
    """A delivered record batch, acknowledged once none of its events is held."""

    event: Any
    held: int = 0


@dataclass(frozen=True)
class _Waiting:
    """A held event's message: its batch, and when it was appended (for the latency)."""

    batch: _Batch
    event_id: str
    appended: int | None


class GuardAgent:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        settings = rt.settings
        self.metrics = rt.metrics
        self.topics = rt.topics
        self.partitions = settings.partitions
        self.grace = rt.policy.late_grace_days
        self.allowance = timedelta(seconds=settings.reorder_allowance_s)
        self.events_topic = rt.topics.events.get_topic_name()
        self.accounts_topic = settings.topic("accounts")
        #: prefixed input topic -> its contract name
        self.inputs = {settings.topic(name): name for name in t.INPUT_TOPICS}
        self.store = TableBatch(rt.tables, self.partitions)
        self.desk = AppealDesk(
            self.store, self._publish_record, settings.topic("sendguard.appeals"),
            settings.topic("sendguard.notifications"),
        )  # fmt: skip
        self.progress = SourceProgress(reporter=uuid.uuid4().hex)
        self.guards: dict[int, Guard] = {}
        self.clocks: dict[int, PartitionClock] = {}
        self.producer: AIOKafkaProducer | None = None
        self.outbox: Outbox | None = None
        self.unacked: list[_Batch] = []
        self.waiting: dict[Position, _Waiting] = {}
        #: append times (epoch ms) of decisions' trigger events, observed after the flush
        self.latencies: list[int] = []
        self.answers: list[tuple[str, CommandResult]] = []
        #: (topic, outcome) -> input events since the last flush, for the metric
        self.outcomes: Counter[tuple[str, str]] = Counter()
        self.held_back: set[TP] = set()
        #: last offset acknowledged per partition (this assignment)
        self.acked_through: dict[Any, int] = {}
        #: last offset taken per partition (this assignment): a batch delivered again
        #: (the consumer seeked back) must not be taken twice
        self.taken_through: dict[Any, int] = {}
        #: partitions being read again after the consumer skipped offsets
        self.rewinding: dict[TP, Rewind] = {}
        #: where to send the consumer before the next batch
        self.seeks: dict[TP, int] = {}
        self.revocations = 0
        #: first offset of input partitions without a committed offset (where reading
        #: starts, auto.offset.reset=earliest), so an empty one counts as caught up
        self.log_starts: dict[TP, int] = {}
        self.records_since_flush = 0
        self.last_flush = time.monotonic()
        self.last_take = time.monotonic()
        self.handled = 0
        self.working = False
        self.published: dict[str, dict[str, str]] = {}

    # -- faust wiring -----------------------------------------------------------------

    def register(self) -> None:
        app = self.rt.app
        app.hold_back = lambda: self.held_back
        # mode types a receiver as taking *args; faust calls it (app, tps, signal=...).
        app.on_partitions_revoked.connect(self._on_revoked)  # type: ignore[arg-type]
        app.on_partitions_assigned.connect(self._on_assigned)  # type: ignore[arg-type]
        app.timer(0.25)(self._report_progress)
        topics = self.rt.topics
        agent_topic = app.topic(
            *topics.inputs.topics, *topics.accounts.topics, self.events_topic,
            key_type=bytes, value_type=bytes,
        )  # fmt: skip
        app.agent(agent_topic, name="sendguard.guard", concurrency=1)(self.process)

    async def process(self, stream: Any) -> None:
        try:
            await self._start()
            await self.consume(stream)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            # A crashed faust agent leaves a worker that looks alive but does nothing.
            # Nothing is lost by exiting (offsets are committed only after flushing):
            # exit so that a supervisor restarts the worker from its committed offsets.
            log.critical("guard agent failed; exiting so the worker restarts", exc_info=exc)
            os._exit(EXIT_AGENT_FAILED)
        finally:
            if self.producer is not None:
                await self.producer.stop()

    async def _start(self) -> None:
        settings = self.rt.settings
        self.producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap,
            acks="all",
            enable_idempotence=True,
            linger_ms=0,
            max_batch_size=1024 * 1024,
            max_request_size=8 * 1024 * 1024,
            request_timeout_ms=30_000,
        )
        await self.producer.start()
        counts = self.rt.input_partitions
        self.outbox = Outbox(self.producer, lambda topic: counts.get(topic, self.partitions))

    async def consume(self, stream: Any) -> None:
        queue = stream.channel.queue
        fault_after = self.rt.settings.fault_stall_after
        async for event in stream.noack().events():
            self.working = True
            self.take(event)
            if self.seeks:
                await self._seek()
            if fault_after and self.handled >= fault_after:
                log.warning("SENDGUARD_FAULT_STALL_AFTER reached: the guard hangs now")
                await asyncio.Event().wait()
            if (
                queue.empty()
                or self.records_since_flush >= FLUSH_EVENTS
                or time.monotonic() - self.last_flush >= FLUSH_INTERVAL_S
            ):
                await self.flush(stream)
                self.working = False

    # -- taking a batch ---------------------------------------------------------------

    def take(self, event: Any) -> None:
        self.last_take = time.monotonic()
        message = event.message
        tp = message.tp
        through = self.taken_through.get(tp)
        if through is None:
            start = self._start_of(tp)  # where the consumer was sent at the assignment
            through = None if start is None else start - 1
        rewind = self.rewinding.get(tp)
        action = verdict(message.first_offset, through, rewind)
        if action == "drop":
            # Fetched before the seek; or the seek was lost in a race with the fetch:
            # send the consumer back again (the re-read ends the rewind either way).
            assert rewind is not None
            self.seeks[tp] = rewind.expected
            return
        if action == "rewind":
            assert through is not None
            self._rewind(tp, Rewind(through + 1, message.first_offset))
            return
        if rewind is not None:
            del self.rewinding[tp]
            if message.first_offset > rewind.expected:
                log.info("%s has no records at offsets %d..%d (compacted, or transaction "
                         "markers): going on from %d", tp, rewind.expected,
                         message.first_offset - 1, message.first_offset)  # fmt: skip
        records = not_taken(message.records, through)
        if len(records) < len(message.records):
            log.debug("%s delivered again from offset %d: %d records new", tp,
                      message.first_offset, len(records))  # fmt: skip
            if not records:
                return
            message.records = records
        self.taken_through[tp] = message.offset
        batch = _Batch(event)
        self.unacked.append(batch)
        topic, partition = message.topic, message.partition
        self.handled += len(records)
        self.records_since_flush += len(records)
        if topic == self.events_topic:
            self._internal(batch, partition, records)
        elif topic == self.accounts_topic:
            self._accounts(batch, topic, partition, records)
        else:
            self._inputs(batch, topic, partition, records)
        self.metrics.processed.inc(len(records))
        self.metrics.last_progress.set(time.time())
        self.rt.liveness.progressed("guard", message.tp, records[-1].offset)
        self._advance(partition)

    def _rewind(self, tp: TP, rewind: Rewind) -> None:
        """The consumer skipped offsets: read the partition again from the first one."""
        self.rewinding[tp] = rewind
        self.seeks[tp] = rewind.expected
        self.metrics.rewinds.labels(topic=tp.topic).inc()
        log.info("%s: the consumer skipped offsets %d..%d (no batch delivered them); "
                 "reading from %d again", tp, rewind.expected, rewind.seen - 1,
                 rewind.expected)  # fmt: skip

    async def _seek(self) -> None:
        seeks, self.seeks = self.seeks, {}
        consumer = self.rt.app.consumer
        assigned = consumer.assignment()
        seeks = {tp: offset for tp, offset in seeks.items() if tp in assigned}
        if seeks:
            # seek_wait seeks in the consumer's thread, where aiokafka's fetcher runs.
            await consumer.seek_wait(seeks)

    def _guard(self, partition: int) -> Guard:
        guard = self.guards.get(partition)
        if guard is None:
            guard = self.guards[partition] = Guard(
                self.rt.policy, self.store, lambda: datetime.now(UTC), HeldEvents()
            )
            sources = [
                source_name(topic, p)
                for topic in (*self.inputs, self.accounts_topic)
                for p in range(self.rt.input_partitions.get(topic, self.partitions))
            ]
            self.clocks[partition] = PartitionClock(partition, self.allowance, sources)
        return guard

    def _inputs(self, batch: _Batch, topic: str, partition: int, records: list[Any]) -> None:
        name = self.inputs[topic]
        source = source_name(topic, partition)
        guard = self._guard(partition)
        watermark = self.clocks[partition].watermark()
        now = datetime.now(UTC)
        latest: int | None = None
        for record in records:
            try:
                if record.value is None:
                    raise InvalidEvent("empty message (null value)")
                event = parse_event(name, record.value, now=now, late_grace_days=self.grace)
            except InvalidEvent as exc:
                self._reject(name, record, exc.reason)
                continue
            except Exception as exc:  # a bug must not stop the stream: dead-letter it
                log.exception("unexpected error parsing %s@%s", topic, record.offset)
                self._reject(name, record, f"internal error: {type(exc).__name__}: {exc}")
                continue
            micros = to_micros(event.occurred_at)
            if latest is None or micros > latest:
                latest = micros
            owner = account_partition(event.account_id, self.partitions)
            if owner != partition:
                self._forward(event.account_id, wrap(event), owner, record.timestamp)
                continue
            position = Position(source, record.offset)
            step = guard.receive(event, position, watermark)
            self._count_outcome(name, step)
            self._after(step, _Waiting(batch, event.event_id, record.timestamp), position)
        self.progress.read(TP(topic, partition), records[-1].offset, latest)

    def _accounts(self, batch: _Batch, topic: str, partition: int, records: list[Any]) -> None:
        guard = self._guard(partition)
        for record in records:
            try:
                if record.value is None:
                    raise InvalidEvent("empty message (null value)")
                meta = parse_account(record.value)
            except InvalidEvent as exc:
                self._reject("accounts", record, exc.reason)
                continue
            owner = account_partition(meta.account_id, self.partitions)
            if owner != partition:
                self._forward(meta.account_id, wrap(meta), owner, record.timestamp)
                continue
            self._publish(guard.step_meta(meta))
        self.progress.read(TP(topic, partition), records[-1].offset, None)

    def _internal(self, batch: _Batch, partition: int, records: list[Any]) -> None:
        guard = self._guard(partition)
        clock = self.clocks[partition]
        source = source_name(self.events_topic, partition)
        for record in records:
            try:
                item = unwrap(record.value)
            except UndecodableRecord as exc:
                log.error("undecodable record on %s@%s: %s", source, record.offset, exc)
                self.metrics.undecodable.inc()
                self._reject("sendguard.events", record, f"undecodable internal record: {exc}")
                continue
            position = Position(source, record.offset)
            if isinstance(item, Event):
                step = guard.receive(item, position, clock.watermark())
                self._count_outcome(item.topic, step)
                self._after(step, _Waiting(batch, item.event_id, _appended_at(record)), position)
            elif isinstance(item, ProgressReport):
                clock.apply_report(item)
            elif isinstance(item, AccountMeta):
                self._publish(guard.step_meta(item))
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
                    self._publish(step)
        except Exception:
            log.exception("command %s failed", command.command_id)
            result = CommandResult(500, {"error": "internal error; see the worker log"})
        self.answers.append((command.command_id, result))

    def _advance(self, partition: int) -> None:
        """Bring the partition's direct sources up to date, then count what is now due."""
        guard = self._guard(partition)
        clock = self.clocks[partition]
        app = self.rt.app
        for topic in (*self.inputs, self.accounts_topic):
            tp = TP(topic, partition)
            clock.direct(
                source_name(topic, partition),
                *self.progress.state(tp, app.consumer.highwater(tp), self._start_of(tp)),
            )
        watermark = clock.watermark()
        for account_id in guard.due(watermark):
            self._after(guard.release(account_id, watermark), None, None)
        for topic in self.inputs:
            tp = TP(topic, partition)
            latest = self.progress.latest.get(tp)
            ahead = (
                watermark is not None
                and latest is not None
                and from_micros(latest) > watermark + LOOKAHEAD
            )
            (self.held_back.add if ahead else self.held_back.discard)(tp)
        self.metrics.held_events.set(sum(len(g.held) for g in self.guards.values()))
        marks = [c.watermark() for c in self.clocks.values()]
        lowest = min((m for m in marks if m is not None), default=None)
        delay = 0.0 if lowest is None else max(0.0, time.time() - lowest.timestamp())
        self.metrics.watermark_delay.set(delay)

    def _after(self, step: Step, arriving: _Waiting | None, position: Position | None) -> None:
        """Account for a step: a held message waits, a done one frees its batch."""
        if step.kind == "held":
            assert arriving is not None and position is not None
            arriving.batch.held += 1
            self.waiting[position] = arriving
            return
        appended: dict[str, int | None] = {}
        if arriving is not None:
            appended[arriving.event_id] = arriving.appended
        for done in step.done:
            waited = self.waiting.pop(done, None)
            if waited is not None:
                waited.batch.held -= 1
                appended[waited.event_id] = waited.appended
        for decision in step.outcome.decisions:
            start = appended.get(decision.trigger_event_id or "")
            if start is not None:
                self.latencies.append(start)
        self._publish(step)

    # -- records out ------------------------------------------------------------------

    def _count_outcome(self, topic: str, step: Step) -> None:
        if step.kind == "replayed":
            return
        if step.kind == "duplicate":
            outcome = "duplicate"
        else:
            outcome = "late_counted" if step.late else "accepted"
        self.outcomes[(topic, outcome)] += 1

    def _reject(self, topic: str, record: Any, reason: str) -> None:
        self.outcomes[(topic, "late" if reason.startswith(LATE_PREFIX) else "invalid")] += 1
        log.info("rejected %s[%s]@%s: %s", topic, record.partition, record.offset, reason)
        letter = dead_letter(topic, record.partition, record.offset, reason, record.value)
        assert self.outbox is not None
        self.outbox.add(self.topics.dead_letter.get_topic_name(), record.key, encode(letter),
                        _now_ms())  # fmt: skip

    def _forward(self, account_id: str, value: bytes, partition: int, appended: int | None) -> None:
        assert self.outbox is not None
        headers = [(APPENDED_AT, str(appended).encode())] if appended is not None else []
        self.outbox.add(self.events_topic, account_id.encode(), value, _now_ms(), partition,
                        headers)  # fmt: skip

    def _publish_record(self, topic: str, account_id: str, value: bytes, at: datetime) -> None:
        assert self.outbox is not None
        self.outbox.add(topic, account_id.encode(), value, _millis(at))

    def _publish(self, step: Step) -> None:
        outbox = self.outbox
        assert outbox is not None
        key = step.account_id.encode()
        metrics = self.metrics
        for decision in step.outcome.decisions:
            outbox.add(self.topics.decisions.get_topic_name(), key, encode(decision),
                       _millis(decision.decided_at))  # fmt: skip
            metrics.decisions.labels(
                action=decision.action, reason=decision.reason, channel=decision.channel
            ).inc()
            log.info(
                "decision %s %s/%s reason=%s period=%s trigger=%s id=%s",
                decision.action, decision.account_id, decision.channel, decision.reason,
                decision.period, decision.trigger_event_id, decision.decision_id,
            )  # fmt: skip
        for suppression in step.suppressions:
            outbox.add(self.topics.suppressions.get_topic_name(), suppression.key.encode(),
                       encode(suppression), _millis(suppression.suppressed_at))  # fmt: skip
            metrics.suppressions.labels(reason=suppression.reason).inc()
        if step.status is not None:
            outbox.add(self.topics.account_status.get_topic_name(), key, encode(step.status),
                       _millis(step.status.updated_at))  # fmt: skip
            self._track_status(step.account_id, step.status.channels)

    def _track_status(self, account_id: str, channels: dict[str, Any]) -> None:
        before = self.published.get(account_id, {})
        after = {name: channel.state for name, channel in channels.items()}
        for channel, state in before.items():
            self.metrics.accounts.labels(state=state, channel=channel).dec()
        for channel, state in after.items():
            self.metrics.accounts.labels(state=state, channel=channel).inc()
        self.published[account_id] = after

    # -- the flush --------------------------------------------------------------------

    async def flush(self, stream: Any) -> None:
        outbox = self.outbox
        assert outbox is not None
        report = self._report()
        if report is not None:
            self._send_report(outbox, report)
        store = self.store
        now_ms = _now_ms()

        def add(topic: str, partition: int, key: bytes, value: bytes | None) -> None:
            outbox.add(topic, key, value, now_ms, partition)

        for rows in (False, True):
            store.changelog(rows, add)
            offsets = await outbox.send() if len(outbox) else {}
            store.apply(offsets, rows=rows)
        for (topic, outcome), count in self.outcomes.items():
            self.metrics.events.labels(topic=topic, outcome=outcome).inc(count)
        self.outcomes.clear()
        now = time.time()
        for start in self.latencies:
            self.metrics.decision_latency.observe(max(0.0, now - start / 1000))
        self.latencies.clear()
        for command_id, result in self.answers:
            self.rt.commands.resolve(command_id, result)
        self.answers.clear()
        await self._ack(stream)
        self.records_since_flush = 0
        self.last_flush = time.monotonic()

    async def _ack(self, stream: Any) -> None:
        """Acknowledge, in order per partition, the batches none of whose events is held."""
        still: list[_Batch] = []
        ready: list[_Batch] = []
        pinned: set[Any] = set()
        generation = self.rt.app.consumer_generation_id
        for batch in self.unacked:
            message = batch.event.message
            if message.generation_id != generation:
                continue  # read before a rebalance: faust reads it again from the commit
            if batch.held or message.tp in pinned:
                pinned.add(message.tp)
                still.append(batch)
            else:
                ready.append(batch)
        # Before any await: a rebalance meanwhile filters self.unacked itself.
        self.unacked = still
        revocations = self.revocations
        for batch in ready:
            if self.revocations != revocations:
                break  # revoked meanwhile: faust reads them again from the commit
            message = batch.event.message
            await ack_batch(stream, batch.event, self.acked_through.get(message.tp))
            self.acked_through[message.tp] = message.offset

    def _assigned_inputs(self) -> list[TP]:
        return [
            tp for tp in self.rt.app.consumer.assignment()
            if tp.topic in self.inputs or tp.topic == self.accounts_topic
        ]  # fmt: skip

    def _report(self) -> ProgressReport | None:
        """How far this worker's input partitions are, if that changed (or as a heartbeat).

        Sent at a flush it follows the events that flush forwards, on every partition."""
        sources = self.progress.snapshot(
            self._assigned_inputs(), self.rt.app.consumer.highwater, self._start_of
        )
        return self.progress.report_if_due(sources) if sources else None

    def _send_report(self, outbox: Outbox, report: ProgressReport) -> None:
        value = PROGRESS + _REPORT_ENCODER.encode(report)
        for partition in range(self.rt.input_partitions.get(self.events_topic, self.partitions)):
            outbox.add(self.events_topic, None, value, _now_ms(), partition)

    def _start_of(self, tp: TP) -> int | None:
        committed = committed_offset(self.rt.app, tp)
        return committed if committed is not None else self.log_starts.get(tp)

    async def _report_progress(self) -> None:
        """While the agent is idle, tell every guard partition how far this worker's input
        partitions are (also those it has read nothing from), and so wake it."""
        if self.held_back and time.monotonic() - self.last_take > HOLD_BACK_RELEASE_S:
            # Nothing else to read: holding partitions back would only stall the guard.
            waiting = {p: c.marks.holding() for p, c in sorted(self.clocks.items())}
            log.warning("fetching %d partitions again that were ahead of the watermark "
                        "(nothing else to read; the watermarks wait for %s)",
                        len(self.held_back), waiting)  # fmt: skip
            self.held_back.clear()
        unknown = [tp for tp in self._assigned_inputs() if self._start_of(tp) is None]
        if unknown:
            self.log_starts.update(await self.rt.app.consumer.earliest_offsets(*unknown))
        if self.working or self.producer is None:
            return
        report = self._report()
        if report is None:
            return
        value = PROGRESS + _REPORT_ENCODER.encode(report)
        futures = [
            await self.producer.send(
                self.events_topic, value, partition=partition, timestamp_ms=_now_ms()
            )
            for partition in range(self.rt.input_partitions.get(self.events_topic, 0))
        ]
        await asyncio.gather(*futures)

    async def _on_assigned(self, app: Any, assigned: set[Any], **kwargs: Any) -> None:
        self.store.rebalanced()
        self.progress.resend()

    async def _on_revoked(self, app: Any, revoked: set[Any], **kwargs: Any) -> None:
        """Forget what was read from revoked partitions: faust reads it again from the
        committed offsets (aiokafka revokes every partition at each rebalance)."""
        self.revocations += 1
        self.progress.forget(tp for tp in revoked if tp.topic != self.events_topic)
        for tp in revoked:
            self.log_starts.pop(tp, None)
            self.acked_through.pop(tp, None)
            self.taken_through.pop(tp, None)
            self.rewinding.pop(tp, None)
            self.seeks.pop(tp, None)
            self.held_back.discard(tp)
        gone = {tp.partition for tp in revoked if tp.topic == self.events_topic}
        if not gone:
            return
        for partition in gone:
            self.guards.pop(partition, None)
            self.clocks.pop(partition, None)
        self.store.forget(gone.__contains__)
        self.unacked = [b for b in self.unacked if b.event.message.partition not in gone]
        self.waiting = {p: w for p, w in self.waiting.items()
                        if w.batch.event.message.partition not in gone}  # fmt: skip
        log.info("partitions %s revoked: what they held is read again", sorted(gone))


def _appended_at(record: Any) -> int | None:
    for name, value in record.headers or ():
        if name == APPENDED_AT:
            try:
                return int(value)
            except ValueError:
                return None
    return record.timestamp


def register(rt: Runtime) -> GuardAgent:
    agent = GuardAgent(rt)
    agent.register()
    return agent
