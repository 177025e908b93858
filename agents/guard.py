"""The guard agent: the Faust shell around ``agents.ingest``.

One faust agent consumes the seven ``email.*`` topics, ``accounts`` and the internal
``sendguard.events``, co-partitioned, at concurrency 1 (faust-streaming #606). faust
hands it one :class:`streams.faust_ext.RecordBatch` per partition and fetch. The agent
takes each partition's batches in offset order, once, without holes
(``agents.continuity``), and hands their records to :class:`agents.ingest.Ingest`,
which parses, forwards, counts and decides.

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
from datetime import timedelta
from typing import Any

import msgspec
from aiokafka import AIOKafkaProducer
from faust.types import TP

from agents.continuity import Cursor, Rewind, never_delivered, not_taken, verdict
from agents.envelope import PROGRESS
from agents.ingest import Batch, Ingest, now_ms
from agents.outbox import Outbox
from schemas.limits import TOPIC_MAX_MESSAGE_BYTES
from streams.app import Runtime
from streams.faust_ext import (
    BatchingConsumer,
    ack_batch,
    committed_offset,
    consumer_flowing,
    tables_recovered,
)
from tables.batch import Offsets, TableBatch
from tables.checkpoint import Checkpoint
from tables.shadow import ShadowStore

log = logging.getLogger("sendguard.guard")
EXIT_AGENT_FAILED = 4
#: Flush at least this often while busy, and whenever nothing more is waiting.
FLUSH_EVENTS = 20_000
FLUSH_INTERVAL_S = 0.2
#: Input partitions ahead of their watermark (``agents.ingest.LOOKAHEAD``) are fetched
#: again when the guard has had nothing to read for this long.
HOLD_BACK_RELEASE_S = 2.0
#: Idle this long with events held, report progress again (at most this often): the
#: report wakes each guard partition to judge its held events on fresher news.
WAKE_HELD_AFTER_S = 0.5
#: Idle this long with batches still unacknowledged: the log says what holds them.
UNACKED_REPORT_S = 20.0
#: Idle this long while a partition has had records never delivered for at least
#: UNDELIVERED_FOR_S with the tables recovered and the consumer's flow on (not merely
#: fetched a moment ago, nor paused by faust's recovery): read them again.
UNDELIVERED_AFTER_S = 5.0
UNDELIVERED_FOR_S = 5.0
_REPORT_ENCODER = msgspec.json.Encoder()


class GuardAgent:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        settings = rt.settings
        self.metrics = rt.metrics
        self.partitions = settings.partitions
        self.names = settings.topic_names
        self.events_topic = self.names.events
        self.store = TableBatch(rt.tables, self.partitions)
        shadow = None
        #: the live store, then the shadow's own: each flush makes both durable together
        self.checkpoint = Checkpoint(self.store)
        if rt.shadow is not None:
            own = TableBatch(rt.shadow.tables, self.partitions)
            shadow = (rt.shadow.policy, ShadowStore(own, self.store))
            self.checkpoint = Checkpoint(self.store, own)
        self.outbox = Outbox(
            rt.partitions_of,
            dead_letter_topic=self.names.dead_letter,
            oversized=lambda topic: rt.metrics.oversized.labels(topic=topic).inc(),
        )
        self.ingest = Ingest(
            policy=rt.policy,
            store=self.store,
            outbox=self.outbox,
            metrics=rt.metrics,
            names=self.names,
            partitions=self.partitions,
            partitions_of=rt.partitions_of,
            allowance=timedelta(seconds=settings.reorder_allowance_s),
            positions=self._positions,
            reporter=uuid.uuid4().hex,
            shadow=shadow,
        )
        self.progress = self.ingest.progress
        self.producer: AIOKafkaProducer | None = None
        #: each assigned partition as read this assignment (``agents.continuity``)
        self.cursors: dict[TP, Cursor] = {}
        #: the consumer's revokes the guard has handled (``ack_batch``)
        self.revocations = 0
        #: a flush and a revoke never interleave: a revoke waits for the flush in flight
        self.flushing = asyncio.Lock()
        self.records_since_flush = 0
        self.last_flush = time.monotonic()
        self.last_take = time.monotonic()
        self.handled = 0
        self.working = False
        self.unacked_reported = 0.0
        #: while a batch is taken: when the newest events judged on its guard partition
        #: were fetched. Another partition is idle for them only if its end was learned
        #: no earlier (``_positions``).
        self.judging_fetched_at: int | None = None
        self.woken_at = 0.0

    @property
    def consumer(self) -> BatchingConsumer:
        return self.rt.app.consumer  # type: ignore[return-value]  # BatchingApp's transport

    # -- faust wiring -----------------------------------------------------------------

    def register(self) -> None:
        app = self.rt.app
        app.hold_back = lambda: self.ingest.held_back
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
            # A batch at most Kafka's default max.message.bytes; every record is at most
            # half of it (agents.outbox), so one always fits.
            max_batch_size=TOPIC_MAX_MESSAGE_BYTES - 4096,
            request_timeout_ms=30_000,
        )
        await self.producer.start()

    async def consume(self, stream: Any) -> None:
        queue = stream.channel.queue
        fault_after = self.rt.settings.fault_stall_after
        async for event in stream.noack().events():
            self.working = True
            self.take(event)
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
        message = event.message
        if not self._reports_alone(message):
            # Idle spells (HOLD_BACK_RELEASE_S, UNDELIVERED_AFTER_S, UNACKED_REPORT_S) are
            # counted from the last work taken: the reports that wake the guard partitions
            # while events are held come every WAKE_HELD_AFTER_S, and would end them all.
            self.last_take = time.monotonic()
        tp = message.tp
        cursor = self._cursor(tp)
        expected = cursor.expected(self._start_of(tp))
        rewind = cursor.rewind
        action = verdict(message.span_start, message.first_offset, expected, rewind)
        if action == "drop":
            return  # fetched before the seek (the consumer seeks between two fetches)
        if action == "rewind":
            assert expected is not None
            self._rewind(tp, cursor, expected, message.span_start)
            return
        if rewind is not None:
            cursor.rewind = None
        if expected is None:
            self.metrics.unverified.labels(topic=tp.topic).inc()
            log.error("%s: first batch at offset %d taken without knowing where reading "
                      "started: a batch dropped before it could not be seen",
                      tp, message.first_offset)  # fmt: skip
        records = not_taken(message.records, cursor.taken_through)
        cursor.took(message.span_end, message.records[-1].offset)
        if len(records) < len(message.records):
            log.debug("%s delivered again from offset %d: %d records new", tp,
                      message.first_offset, len(records))  # fmt: skip
            if not records:
                return
            message.records = records
        batch = Batch(message.partition, event)
        cursor.unacked.append(batch)
        self.handled += len(records)
        self.records_since_flush += len(records)
        self.judging_fetched_at = self._judging(message)
        try:
            self.ingest.take(batch, message.topic, message.partition, records)
        finally:
            self.judging_fetched_at = None
        self.metrics.processed.inc(len(records))
        self.metrics.last_progress.set(time.time())
        self.rt.liveness.progressed("guard", message.tp, message.span_end - 1)

    def _judging(self, message: Any) -> int | None:
        """The fetch time a batch is judged at: its own, or, for a batch of progress
        reports alone, that of the newest events taken on its guard partition. A report
        brings no events to order, only the chance to release those held: judged at its
        own fetch time, a quiet partition led by another broker would never be idle for
        it (that broker's last answer is always older news), and held events would wait
        for a report that happened to come in just after it."""
        guard_partition = self._cursor(TP(self.events_topic, message.partition))
        fetched, newest = message.fetched_at, guard_partition.events_fetched_at
        if fetched is not None and not self._reports_alone(message):
            guard_partition.events_fetched_at = fetched if newest is None else max(fetched, newest)
        return guard_partition.events_fetched_at

    def _reports_alone(self, message: Any) -> bool:
        """Whether a batch holds progress reports and nothing else."""
        return message.topic == self.events_topic and all(
            r.value is not None and r.value.startswith(PROGRESS) for r in message.records
        )

    def _cursor(self, tp: TP) -> Cursor:
        cursor = self.cursors.get(tp)
        if cursor is None:
            cursor = self.cursors[tp] = Cursor()
        return cursor

    def _read_again(self, tp: TP, cursor: Cursor, expected: int) -> None:
        """Read a partition again from ``expected``, where the last batch taken ended."""
        cursor.rewind = Rewind(expected)
        self.consumer.request_seeks({tp: expected})
        self.metrics.rewinds.labels(topic=tp.topic).inc()

    def _rewind(self, tp: TP, cursor: Cursor, expected: int, seen: int | None) -> None:
        """The consumer delivered records in a batch the guard never got."""
        self._read_again(tp, cursor, expected)
        log.info("%s: the consumer went on from position %s, but the guard took records "
                 "only up to position %d (faust dropped a batch): reading from %d again",
                 tp, seen, expected, expected)  # fmt: skip

    # -- the flush --------------------------------------------------------------------

    async def flush(self, stream: Any) -> None:
        async with self.flushing:
            await self._flush(stream)

    async def _flush(self, stream: Any) -> None:
        outbox, producer, ingest = self.outbox, self.producer, self.ingest
        assert producer is not None
        flushed_at = now_ms()
        for partition, value in self._report_records():
            outbox.add(self.events_topic, None, value, flushed_at, partition)

        def add(topic: str, partition: int, key: bytes, value: bytes | None) -> None:
            outbox.add(topic, key, value, flushed_at, partition)

        async def send() -> Offsets:
            return await outbox.send(producer) if len(outbox) else {}

        ingest.rows_created(await self.checkpoint.commit(add, send))
        effects = ingest.drain()
        for (topic, outcome), count in effects.outcomes.items():
            self.metrics.events.labels(topic=topic, outcome=outcome).inc(count)
        now = time.time()
        for start in effects.latencies:
            self.metrics.decision_latency.observe(max(0.0, now - start / 1000))
        for command_id, result in effects.answers:
            self.rt.commands.resolve(command_id, result)
        await self._ack(stream)
        self.records_since_flush = 0
        self.last_flush = time.monotonic()

    async def _ack(self, stream: Any) -> None:
        """Acknowledge, in order per partition, the batches none of whose events is held."""
        ready: list[tuple[Cursor, Batch]] = []
        generation = self.rt.app.consumer_generation_id
        # Taken off the cursors before any await: a revoke meanwhile drops them whole.
        for cursor in self.cursors.values():
            unacked = cursor.unacked
            while unacked:
                batch = unacked[0]
                if batch.handle.message.generation_id != generation:
                    unacked.popleft()  # read before a rebalance: read again from the commit
                elif batch.held:
                    break  # it and the batches after it wait
                else:
                    ready.append((cursor, unacked.popleft()))
        for cursor, batch in ready:
            if self.cursors.get(batch.handle.message.tp) is not cursor:
                continue  # revoked meanwhile
            if not await ack_batch(stream, batch.handle, cursor.acked_through, self.revocations):
                break  # a revoke has started: faust reads them again from the commit
            cursor.acked_through = batch.handle.message.offset

    def _assigned_inputs(self) -> list[TP]:
        return [
            tp for tp in self.rt.app.consumer.assignment()
            if tp.topic in self.names.inputs or tp.topic == self.names.accounts
        ]  # fmt: skip

    def _positions(self, partition: tuple[str, int]) -> tuple[int | None, int | None]:
        """(end, delivered) of a partition: where it ends for the consumer (its last
        stable offset), and the consumer's position there if every batch it has yielded
        was taken (None while one is on its way, or nothing is known)."""
        tp = TP(*partition)
        consumer = self.consumer
        cursor = self.cursors.get(tp)
        taken = (cursor or Cursor()).expected(self._start_of(tp))
        yielded = consumer.span_ends.get(tp)
        if yielded is not None and (taken is None or yielded > taken):
            return consumer.end_offset(tp), None
        judging = self.judging_fetched_at
        if judging is not None:
            learned = consumer.end_learned_at(tp)
            if learned is None or learned < judging:
                # Its end is older news than the batch being judged: records written
                # before that batch's may be missing from it (aiokafka leaves a partition
                # with records buffered out of its fetches, so its end goes stale).
                return consumer.end_offset(tp), None
        return consumer.end_offset(tp), consumer.positions.get(tp)

    def _report_records(self) -> list[tuple[int, bytes]]:
        """How far this worker's input partitions are, if that changed (or as a
        heartbeat), as (guard partition, value): each report goes to every guard
        partition, from the flush (after the events it forwards) and from the idle timer
        alike."""
        sources = self.progress.snapshot(self._assigned_inputs(), self._positions)
        reports = self.progress.report_if_due(sources) if sources else []
        values = [PROGRESS + _REPORT_ENCODER.encode(report) for report in reports]
        partitions = range(self.rt.partitions_of(self.events_topic))
        return [(partition, value) for value in values for partition in partitions]

    def _start_of(self, tp: TP) -> int | None:
        """Where reading started this assignment: where faust sent the consumer."""
        start = self.consumer.starts.get(tp)
        return start if start is not None else committed_offset(self.rt.app, tp)

    async def _report_progress(self) -> None:
        """While the agent is idle, tell every guard partition how far this worker's input
        partitions are (also those it has read nothing from), and so wake it."""
        if self.ingest.held_back and time.monotonic() - self.last_take > HOLD_BACK_RELEASE_S:
            # Nothing else to read: holding partitions back would only stall the guard.
            waiting = {p: source for p, (_, source) in self.ingest.waiting_for().items()}
            log.warning("fetching %d partitions again that were ahead of the watermark "
                        "(nothing else to read; the watermarks wait for %s)",
                        self.ingest.fetch_all_again(), waiting)  # fmt: skip
        self._report_unacked()
        await self._read_undelivered()
        if self.working or self.producer is None:
            return
        now = time.monotonic()
        if (
            now - max(self.last_take, self.woken_at) >= WAKE_HELD_AFTER_S
            and self.ingest.held()
        ):
            self.woken_at = now
            self.progress.resend()
        sent_at = now_ms()
        futures = [
            await self.producer.send(
                self.events_topic, value, partition=partition, timestamp_ms=sent_at
            )
            for partition, value in self._report_records()
        ]
        await asyncio.gather(*futures)

    async def _read_undelivered(self) -> None:
        """faust can drop a fetched batch that nothing follows (``agents.continuity``),
        the re-read of a partition included: when idle, a partition where the consumer
        went further than the batches taken is read again from where they ended."""
        now = time.monotonic()
        if (
            self.working
            or now - self.last_take < UNDELIVERED_AFTER_S
            or not tables_recovered(self.rt.app)
            or not consumer_flowing(self.rt.app)
        ):
            for cursor in self.cursors.values():
                cursor.undelivered = None
            return
        consumer = self.consumer
        batched = self.rt.app.batched_topics
        for tp in consumer.assignment():
            if (
                tp.topic not in batched
                or tp in consumer.pending_seeks
                or tp in self.ingest.held_back
            ):
                continue
            # A partition being read again is checked too: faust can drop the re-read.
            cursor = self._cursor(tp)
            delivered_to = consumer.span_ends.get(tp)
            expected = never_delivered(cursor.expected(self._start_of(tp)), delivered_to)
            if expected is None:
                cursor.undelivered = None
                continue
            seen = cursor.undelivered
            if seen is None or seen[0] != expected:
                cursor.undelivered = (expected, now)
                continue
            if now - seen[1] < UNDELIVERED_FOR_S:
                continue
            cursor.undelivered = None
            log.warning("%s: the consumer delivered records from position %d to %s that "
                        "never reached the guard (idle for %.0f s; faust dropped a "
                        "fetched batch): reading from %d again", tp, expected, delivered_to,
                        now - seen[1], expected)  # fmt: skip
            self._read_again(tp, cursor, expected)

    def _report_unacked(self) -> None:
        """Say, once per quiet spell, why batches stay unacknowledged while nothing comes:
        the events each one holds, and what each guard partition's watermark waits for.
        Normal for a moment (events wait for the watermark); for long, a stuck partition."""
        now = time.monotonic()
        if now - self.last_take < UNACKED_REPORT_S or self.unacked_reported > self.last_take:
            return
        batches = {
            str(tp): [f"{b.handle.message.first_offset}..{b.handle.message.offset} "
                      f"held={b.held} gen={b.handle.message.generation_id}"
                      for b in cursor.unacked]
            for tp, cursor in self.cursors.items() if cursor.unacked
        }  # fmt: skip
        if not batches:
            return
        self.unacked_reported = now
        clocks = {p: (str(mark), source)
                  for p, (mark, source) in self.ingest.waiting_for().items()}  # fmt: skip
        rewinding = {str(tp): c.rewind for tp, c in self.cursors.items() if c.rewind}
        log.warning(
            "idle for %.0f s with %d batches unacknowledged (generation %s): %s; watermark "
            "and the source it waits for, per guard partition: %s; rewinding: %s; seeks: %s; "
            "held back: %s", now - self.last_take, sum(map(len, batches.values())),
            self.rt.app.consumer_generation_id, batches, clocks, rewinding,
            dict(self.consumer.pending_seeks),
            sorted(map(str, self.ingest.held_back)),
        )  # fmt: skip

    async def _on_assigned(self, app: Any, assigned: set[Any], **kwargs: Any) -> None:
        for store in self.checkpoint.stores:
            store.rebalanced()
        self.progress.resend()

    async def _on_revoked(self, app: Any, revoked: set[Any], **kwargs: Any) -> None:
        """Forget what was read from revoked partitions: faust reads it again from the
        committed offsets (aiokafka revokes every partition at each rebalance).

        A flush in flight finishes first (its acks are refused: ``ack_batch``); then the
        records queued for the revoked partitions' work are dropped, not published
        after their new owner may have published newer ones."""
        async with self.flushing:
            self.revocations = self.consumer.revocations
            self.ingest.revoked(revoked)
            for tp in revoked:
                self.cursors.pop(tp, None)
            gone = {tp.partition for tp in revoked if tp.topic == self.events_topic}
            if not gone:
                return
            dropped = self.outbox.forget(gone)
            for store in self.checkpoint.stores:
                store.forget(gone.__contains__)
            for tp, cursor in self.cursors.items():
                if tp.partition in gone:  # their events were held by the guards dropped
                    cursor.unacked.clear()
            log.info("partitions %s revoked: what they held is read again (%d records "
                     "not published)", sorted(gone), dropped)  # fmt: skip


def register(rt: Runtime) -> GuardAgent:
    agent = GuardAgent(rt)
    agent.register()
    return agent
