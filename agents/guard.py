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
A flush runs in the background (``_request_flush``): it takes what it covers before it
first waits for the broker, and the guard takes the next batches meanwhile (a draining
worker waited for its flushes a sixth of the time).

Progress: after a flush, and from a timer while idle, the worker reports how far its
input partitions are on ``sendguard.progress`` (``agents.progress``), at most every
``REPORT_INTERVAL_S``; a task follows that topic, outside the consumer group, and hands
every worker's reports to the guard partitions (``_follow_progress``).
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
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition
from faust.types import TP

from agents.continuity import Cursor, Rewind, never_delivered, not_taken, verdict
from agents.envelope import PROGRESS, UndecodableRecord, unwrap
from agents.ingest import Batch, Ingest, now_ms
from agents.outbox import Outbox
from agents.progress import HEARTBEAT_S, ProgressReport, Sources
from schemas.limits import TOPIC_MAX_MESSAGE_BYTES
from streams.app import Runtime
from streams.faust_ext import (
    BatchingConsumer,
    ack_batch,
    committed_offset,
    consumer_flowing,
    tables_recovered,
)
from streams.kafka_admin import topic_partitions
from streams.topics import PROGRESS as PROGRESS_TOPIC
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
#: A worker that (re)starts following ``sendguard.progress`` reads this far back: every
#: live worker has reported at least once in it.
PROGRESS_LOOKBACK_S = 3 * HEARTBEAT_S
PROGRESS_POLL_MS = 100
#: The idle timer ticks every 0.1 s, but with nothing taken since it last looked, it
#: looks at every partition again (for a report: a transaction marker can make one idle
#: without a record) only this often, and checks for undelivered records and sets the
#: gauges this often: each walks every assigned partition (16 % of a core, idle, at 128
#: partitions before).
QUIET_LOOK_S = 1.0
_RETRY_S = 2.0
#: Idle this long with batches still unacknowledged: the log says what holds them.
UNACKED_REPORT_S = 20.0
#: Idle this long while a partition has had records never delivered for at least
#: UNDELIVERED_FOR_S with the tables recovered and the consumer's flow on (not merely
#: fetched a moment ago, nor paused by faust's recovery): read them again.
UNDELIVERED_AFTER_S = 5.0
UNDELIVERED_FOR_S = 5.0
#: At shutdown, wait this long at most for the flush on its way.
SHUTDOWN_FLUSH_S = 10.0
#: With this many records acknowledged since it last committed (a backlog), the guard
#: commits as soon as it is idle, not at faust's next periodic commit (``_flush_until_done``).
BACKLOG_RECORDS = FLUSH_EVENTS
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
            hold_back_above=settings.hold_back_above,
            positions=self._positions,
            events_read=self._events_read,
            reporter=uuid.uuid4().hex,
            group=settings.app_id,
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
        #: the flushes in the background (``_request_flush``), and whether another is due
        self.flush_task: asyncio.Task[None] | None = None
        self.flush_again = False
        #: set while no flush is on its way
        self.flushed = asyncio.Event()
        self.flushed.set()
        self.stopping = False
        self.records_since_flush = 0
        self.last_flush = time.monotonic()
        self.last_take = time.monotonic()
        self.handled = 0
        self.working = False
        #: records acknowledged since the guard last committed itself, and that commit
        self.acked_since_commit = 0
        self.committing: asyncio.Future[bool] | None = None
        self.unacked_reported = 0.0
        self.woken_at = 0.0
        #: the agent's stream, once it runs (a flush acknowledges through it)
        self.stream: Any = None
        #: guard partition -> the offset after this worker's last acknowledged forward
        self.forwarded: dict[int, int] = {}
        #: ``sendguard.events``' end offsets when the partitions were last assigned (None
        #: until learned: no report goes without them)
        self.fence_floor: dict[int, int] | None = None
        self.assignments = 0
        self.follower: asyncio.Task[None] | None = None
        #: the reports being handed to the producer (``_publish``)
        self.publishing: asyncio.Future[None] | None = None
        #: when the idle timer last looked at every partition, and what had been taken
        self.looked = (0.0, -1)
        self.slow_tick_at = 0.0

    @property
    def consumer(self) -> BatchingConsumer:
        return self.rt.app.consumer  # type: ignore[return-value]  # BatchingApp's transport

    # -- faust wiring -----------------------------------------------------------------

    def register(self) -> None:
        app = self.rt.app
        app.hold_back = lambda: self.ingest.held_back
        app.before_tables_close.append(self._stop_before_tables_close)
        # mode types a receiver as taking *args; faust calls it (app, tps, signal=...).
        app.on_partitions_revoked.connect(self._on_revoked)  # type: ignore[arg-type]
        app.on_partitions_assigned.connect(self._on_assigned)  # type: ignore[arg-type]
        app.timer(0.1)(self._report_progress)
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
            if self.follower is not None:
                self.follower.cancel()
            await self._settle_flush()
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
        self.follower = asyncio.ensure_future(self._follow_progress())

    async def consume(self, stream: Any) -> None:
        queue = stream.channel.queue
        fault_after = self.rt.settings.fault_stall_after
        self.stream = stream
        async for event in stream.noack().events():
            if self.stopping:
                continue  # left unacknowledged: read again from the committed offsets
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
                await self._request_flush(stream)

    async def _request_flush(self, stream: Any) -> None:
        """Flush what was taken, in the background: the guard takes the next batches while
        the flush waits for the broker (``tables.checkpoint``). One flush at a time; one
        asked for meanwhile follows it. Past ``FLUSH_EVENTS`` unflushed, wait for the
        flush on its way."""
        if self.stopping:
            return
        task = self.flush_task
        if task is None or task.done():
            self.flush_task = asyncio.ensure_future(self._flush_until_done(stream))
            self.flush_task.add_done_callback(self._flush_ended)
            return
        self.flush_again = True
        if self.records_since_flush >= FLUSH_EVENTS:
            await self.flushed.wait()

    async def _flush_until_done(self, stream: Any) -> None:
        while True:
            self.flush_again = False
            await self.flush(stream)
            if not (self.flush_again and self.records_since_flush):
                break
        if self.records_since_flush == 0:
            self.working = False
            self._commit_backlog()

    def _commit_backlog(self) -> None:
        """Idle after a backlog: commit what it acknowledged now, so that the group's lag
        reads 0 (and a restart reads nothing again) at once, not up to faust's commit
        interval later. Live traffic is committed by faust's timer, and these commits
        add at most one per ``BACKLOG_RECORDS`` records. In its own task: a flush asked
        for meanwhile must not wait for the commit."""
        if self.stopping or self.working or self.acked_since_commit < BACKLOG_RECORDS:
            return
        self.acked_since_commit = 0
        self.committing = asyncio.ensure_future(self.rt.app.consumer.commit())
        self.committing.add_done_callback(_commit_done)

    def _flush_ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and (exc := task.exception()) is not None:
            _flush_failed(exc, self.stopping)

    async def _stop_before_tables_close(self) -> None:
        """At shutdown, before faust closes the tables: take nothing more, stop following
        the reports (applying them flushes), and let the flush on its way end."""
        self.stopping = True
        follower, self.follower = self.follower, None
        if follower is not None:
            async with self.flushing:  # not while it flushes: that would leave it half done
                follower.cancel()
            await asyncio.gather(follower, return_exceptions=True)
        await self._settle_flush()
        for store in self.checkpoint.stores:
            store.rebalanced()  # its handles on faust's databases go with the tables

    async def _settle_flush(self) -> None:
        """At shutdown: let the flush on its way end before the producer stops."""
        self.stopping = True
        task = self.flush_task
        if task is None or task.done():
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=SHUTDOWN_FLUSH_S)
        except Exception as exc:  # noqa: BLE001 shutting down: its input is read again
            log.warning("the last flush did not end (%s: %s); its input is read again",
                        type(exc).__name__, exc)  # fmt: skip

    # -- taking a batch ---------------------------------------------------------------

    def take(self, event: Any) -> None:
        message = event.message
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
        self._note_fetch(message)
        self.ingest.take(batch, message.topic, message.partition, records)
        self.metrics.processed.inc(len(records))
        self.metrics.last_progress.set(time.time())
        self.rt.liveness.progressed("guard", message.tp, message.span_end - 1)

    def _note_fetch(self, message: Any) -> None:
        """Its guard partition's events were fetched this late at least: the partition's
        own sources are judged at that time (``_positions``)."""
        guard_partition = self._cursor(TP(self.events_topic, message.partition))
        fetched, newest = message.fetched_at, guard_partition.events_fetched_at
        if fetched is not None:
            guard_partition.events_fetched_at = fetched if newest is None else max(fetched, newest)

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
        """Make durable what was taken until now, then acknowledge its input batches.

        Everything the flush covers is taken before its first await: the staged writes
        (``Checkpoint.commit`` freezes them), the queued records, the steps' effects and
        the batches to acknowledge. What is taken meanwhile waits for the next flush."""
        producer, ingest = self.producer, self.ingest
        assert producer is not None
        flushed_at = now_ms()
        sources = self._snapshot()
        outbox = self.outbox.detach()
        effects = ingest.drain()
        ready = self._ready_to_ack()
        self.records_since_flush = 0
        self.last_flush = time.monotonic()
        self.flushed.clear()

        def add(topic: str, partition: int, key: bytes, value: bytes | None) -> None:
            outbox.add(topic, key, value, flushed_at, partition)

        async def send() -> Offsets:
            offsets = await outbox.send(producer) if len(outbox) else {}
            for (topic, partition), last in offsets.items():
                if topic == self.events_topic:  # forwards: a report's fences cover them
                    self.forwarded[partition] = max(self.forwarded.get(partition, 0), last + 1)
            return offsets

        try:
            ingest.rows_created(await self.checkpoint.commit(add, send))
        finally:
            self.flushed.set()
        for (topic, outcome), count in effects.outcomes.items():
            self.metrics.events.labels(topic=topic, outcome=outcome).inc(count)
        # An event is counted when it comes in, held or not: with the held ones beside
        # the count, a reader knows how many are applied (``bench.measure``).
        self.metrics.held_events.set(ingest.held())
        now = time.time()
        for start in effects.latencies:
            self.metrics.decision_latency.observe(max(0.0, now - start / 1000))
        for command_id, result in effects.answers:
            self.rt.commands.resolve(command_id, result)
        await self._ack(stream, ready)
        self._send_report(sources)

    def _ready_to_ack(self) -> list[tuple[Cursor, Batch]]:
        """Take, in order per partition, the batches none of whose events is held off
        their cursors (a revoke meanwhile drops the cursors whole)."""
        ready: list[tuple[Cursor, Batch]] = []
        generation = self.rt.app.consumer_generation_id
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
        return ready

    async def _ack(self, stream: Any, ready: list[tuple[Cursor, Batch]]) -> None:
        """Acknowledge the batches ``_ready_to_ack`` took, now that their work is durable."""
        for cursor, batch in ready:
            if self.cursors.get(batch.handle.message.tp) is not cursor:
                continue  # revoked meanwhile
            if not await ack_batch(stream, batch.handle, cursor.acked_through, self.revocations):
                break  # a revoke has started: faust reads them again from the commit
            cursor.acked_through = batch.handle.message.offset
            self.acked_since_commit += len(batch.handle.message.records)

    def _assigned_inputs(self) -> list[TP]:
        return [
            tp for tp in self.rt.app.consumer.assignment()
            if tp.topic in self.names.inputs or tp.topic == self.names.accounts
        ]  # fmt: skip

    def _events_read(self, partition: int) -> int | None:
        """The offset of ``sendguard.events`` a guard partition has taken records to."""
        tp = TP(self.events_topic, partition)
        return (self.cursors.get(tp) or Cursor()).expected(self._start_of(tp))

    def _positions(self, partition: tuple[str, int]) -> tuple[int | None, int | None]:
        """(end, delivered) of one of a guard partition's own sources, judged at the time
        its newest events were fetched: the source is idle for them only if its end was
        learned no earlier. For a batch of forwarded events alone, this is when the
        partition's last events were fetched: judged at the batch's own fetch time, a quiet
        source led by another broker would never be idle for it (that broker's last answer
        is always older news)."""
        guard_partition = self.cursors.get(TP(self.events_topic, partition[1]))
        judging = guard_partition.events_fetched_at if guard_partition is not None else None
        return self._positions_at(partition, judging)

    def _positions_at(
        self, partition: tuple[str, int], judging: int | None
    ) -> tuple[int | None, int | None]:
        """(end, delivered) of a partition: where it ends for the consumer (its last
        stable offset), and the consumer's position there if every batch it has yielded
        was taken (None while one is on its way, or nothing is known, or its end is older
        news than ``judging``, a fetch time)."""
        tp = TP(*partition)
        consumer = self.consumer
        cursor = self.cursors.get(tp)
        taken = (cursor or Cursor()).expected(self._start_of(tp))
        yielded = consumer.span_ends.get(tp)
        if yielded is not None and (taken is None or yielded > taken):
            return consumer.end_offset(tp), None
        if judging is not None:
            learned = consumer.end_learned_at(tp)
            if learned is None or learned < judging:
                # Its end is older news than the batch being judged: records written
                # before that batch's may be missing from it (aiokafka leaves a partition
                # with records buffered out of its fetches, so its end goes stale).
                return consumer.end_offset(tp), None
        return consumer.end_offset(tp), consumer.positions.get(tp)

    def _snapshot(self) -> Sources | None:
        """How far this worker's input partitions are now, if a report may go (None)."""
        if (
            self.producer is None
            or self.fence_floor is None
            or not self.progress.due()
            or (self.publishing is not None and not self.publishing.done())
        ):
            return None
        return self.progress.snapshot(self._assigned_inputs(), self._positions_at_fetch)

    def _send_report(self, sources: Sources | None) -> None:
        """Publish ``sources`` (a ``_snapshot``) if that changed (or as a heartbeat): from
        the flush, taken before its first await (with everything fetched taken, every
        partition read to its end is idle) and sent after the forwards it acknowledged;
        from the idle timer, with nothing taken unflushed. The fences cover every
        forward acknowledged so far (``agents.progress``)."""
        producer, floor = self.producer, self.fence_floor
        if sources is None or producer is None or floor is None:
            return
        fences = dict(floor)
        for partition, offset in self.forwarded.items():
            fences[partition] = max(fences.get(partition, 0), offset)
        reports = self.progress.report_if_due(sources, {p: o for p, o in fences.items() if o})
        if reports:
            values = [PROGRESS + _REPORT_ENCODER.encode(report) for report in reports]
            self.publishing = asyncio.ensure_future(self._publish(producer, values))

    async def _publish(self, producer: AIOKafkaProducer, values: list[bytes]) -> None:
        """Hand reports to the producer, apart from the flush: a producer waiting for the
        topic's metadata (just created, or deleted by hand) must not hold the flush up.
        One at a time, in order; the next snapshot waits for it (``_snapshot``)."""
        sent_at = now_ms()
        try:
            for value in values:
                future = await producer.send(self.names.progress, value, partition=0,
                                             timestamp_ms=sent_at)  # fmt: skip
                future.add_done_callback(_report_sent)
        except Exception as exc:  # noqa: BLE001 the next report follows; the log says why
            log.warning("a progress report was not published (%s: %s); the next one follows",
                        type(exc).__name__, exc)  # fmt: skip

    def _positions_at_fetch(self, partition: tuple[str, int]) -> tuple[int | None, int | None]:
        """(end, delivered) for a report: as the consumer knows them now."""
        return self._positions_at(partition, None)

    async def _follow_progress(self) -> None:
        """Read every worker's reports on ``sendguard.progress`` (from
        ``PROGRESS_LOOKBACK_S`` back), outside the consumer group, for as long as the
        worker runs; apply them as their fences are read past, and flush what they let
        through. Also learns ``sendguard.events``' ends after each assignment."""
        bootstrap, topic = self.rt.settings.kafka_bootstrap, self.names.progress
        while True:
            consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                        auto_offset_reset="latest")  # fmt: skip
            try:
                while not await topic_partitions(bootstrap, [topic]):
                    await asyncio.sleep(1.0)  # created at start; its metadata may lag
                await consumer.start()
                tp = TopicPartition(topic, 0)
                consumer.assign([tp])
                since = int((time.time() - PROGRESS_LOOKBACK_S) * 1000)
                found = (await consumer.offsets_for_times({tp: since})).get(tp)
                if found is None:
                    await consumer.seek_to_end(tp)
                else:
                    consumer.seek(tp, found.offset)
                while True:
                    if self.fence_floor is None:
                        await self._learn_fence_floor(consumer)
                    batches = await consumer.getmany(timeout_ms=PROGRESS_POLL_MS)
                    await self._apply_progress([r for rs in batches.values() for r in rs])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 the broker away: the last reports stand
                log.warning("reading %s failed (%s: %s); again in %.0f s", topic,
                            type(exc).__name__, exc, _RETRY_S)  # fmt: skip
                await asyncio.sleep(_RETRY_S)
            finally:
                await consumer.stop()

    async def _learn_fence_floor(self, consumer: AIOKafkaConsumer) -> None:
        assignment = self.assignments
        count = self.rt.partitions_of(self.events_topic)
        tps = [TopicPartition(self.events_topic, p) for p in range(count)]
        ends = await consumer.end_offsets(tps)
        if assignment == self.assignments:  # no rebalance meanwhile
            self.fence_floor = {tp.partition: end for tp, end in ends.items() if end}

    async def _apply_progress(self, records: list[Any]) -> None:
        reports: list[ProgressReport] = []
        rejected: list[tuple[Any, str]] = []
        for record in records:
            try:
                item = unwrap(record.value)
                if not isinstance(item, ProgressReport):
                    raise UndecodableRecord(f"not a progress report ({type(item).__name__})")
            except UndecodableRecord as exc:
                rejected.append((record, str(exc)))
                continue
            if item.group == self.rt.settings.app_id:  # not another deployment's
                reports.append(item)
        if not (reports or rejected or len(self.ingest.gate)):
            return
        async with self.flushing:
            if self.stopping:
                return
            for record, reason in rejected:
                self.ingest.reject_internal(PROGRESS_TOPIC, record, reason)
            for report in reports:
                self.ingest.offer_report(report)
            if (self.ingest.apply_reports() or rejected) and self.stream is not None:
                try:
                    await self._flush(self.stream)
                except Exception as exc:  # not a failure to read the reports: re-raised
                    _flush_failed(exc, self.stopping)
                    raise
        self._commit_backlog()  # the held events a backlog's last reports let go

    def _start_of(self, tp: TP) -> int | None:
        """Where reading started this assignment: where faust sent the consumer."""
        start = self.consumer.starts.get(tp)
        return start if start is not None else committed_offset(self.rt.app, tp)

    async def _report_progress(self) -> None:
        """While the agent is idle, tell every worker how far this worker's input
        partitions are (also those it has read nothing from), and so wake the guard
        partitions."""
        if self.ingest.held_back and time.monotonic() - self.last_take > HOLD_BACK_RELEASE_S:
            # Nothing else to read: holding partitions back would only stall the guard.
            waiting = {p: source for p, (_, source) in self.ingest.waiting_for().items()}
            log.warning("fetching %d partitions again that were ahead of the watermark "
                        "(nothing else to read; the watermarks wait for %s)",
                        self.ingest.fetch_all_again(), waiting)  # fmt: skip
        self._report_unacked()
        now = time.monotonic()
        if now - self.slow_tick_at >= QUIET_LOOK_S:
            self.slow_tick_at = now
            self.ingest.update_gauges()
            await self._read_undelivered()
        if self.working or self.producer is None:
            return
        if (
            now - max(self.last_take, self.woken_at) >= WAKE_HELD_AFTER_S
            and self.ingest.held()
        ):
            self.woken_at = now
            self.progress.resend()
            self.looked = (0.0, -1)
        looked_at, handled = self.looked
        if handled == self.handled and now - looked_at < QUIET_LOOK_S:
            return  # nothing taken since the last look
        sources = self._snapshot()
        if sources is not None:
            self.looked = (now, self.handled)
        self._send_report(sources)

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
        self.ingest.assigned(assigned)
        # What the partitions' previous owners forwarded is below the ends learned now.
        self.assignments += 1
        self.fence_floor = None
        self.progress.resend()
        self.looked = (0.0, -1)

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


def _flush_failed(exc: BaseException, stopping: bool) -> None:
    """A flush that failed leaves its writes half applied (``tables.checkpoint``): no
    flush may follow it. As a failed agent, the worker exits and restarts from its
    committed offsets; when stopping, it is stopping anyway."""
    if stopping:
        log.warning("a flush failed while stopping (%s: %s); its input is read again",
                    type(exc).__name__, exc)  # fmt: skip
        return
    log.critical("a flush failed; exiting so the worker restarts", exc_info=exc)
    os._exit(EXIT_AGENT_FAILED)


def _commit_done(future: asyncio.Future[bool]) -> None:
    if not future.cancelled() and future.exception() is not None:
        # faust's commit logs and handles its own failures; anything else is logged here,
        # and faust's timer commits the same offsets next.
        log.warning("committing after a backlog failed: %r", future.exception())


def _report_sent(future: asyncio.Future[Any]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.warning("a progress report was not published (%s); the next one follows",
                    future.exception())  # fmt: skip


def register(rt: Runtime) -> GuardAgent:
    agent = GuardAgent(rt)
    agent.register()
    return agent
