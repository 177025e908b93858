"""Sendguard's extensions of faust-streaming: the one module that reaches into faust's
and aiokafka's internals (each use is marked and says why).

**Batched delivery.** faust hands an agent one stream event per Kafka record, and each
one costs about 150 µs of faust machinery (a task pair in the fetch loop, the conductor,
the stream queue, the event): a bare agent that only iterates reads ~5-7k records/s on
this project's 2-core VM, below the whole job written with quix-streams. So for the
topics the guard agent consumes, :class:`BatchingConsumer` hands the agent one
:class:`RecordBatch` per partition and fetch instead: a faust message whose ``records``
are the aiokafka records and whose offset is the last one's. Everything else stays
faust's: the consumer group and its co-partitioned assignment, flow control during
rebalances and recovery, acks and commits (the offsets inside a batch are registered as
a gap faust may commit over once the batch is acked, see ``ack_batch``), tables,
changelogs, standbys. Topics not listed (changelogs, which table recovery reads) keep one
event per record.

**Holding back partitions.** The guard counts events in event-time order; a partition
that has run far ahead of the watermark only fills memory. :class:`BatchingConsumer`
leaves such partitions out of the fetch (the records stay in aiokafka's buffer, which
then stops fetching for them) until the watermark catches up.

**Positions.** Each batch carries the consumer's position before and after its records
(``span_start``, ``span_end``): offsets the consumer skipped itself (transaction markers,
aborted transactions under ``read_committed``, compacted or deleted records) lie inside
a span, so the guard can tell them from a batch faust fetched and never delivered
(``agents.continuity``). The positions are recorded in the consumer's thread, in the
same step as the drains and seeks that move them (``streams.read_positions``), and
records drained before a partition's seek of the current assignment are not delivered:
the seek reads them again. Inputs are read with ``read_committed``, so records of
aborted transactions are never counted, and a partition's end is its last stable offset.

**Revocations.** faust clears its acknowledgement bookkeeping for revoked partitions and
then awaits other work before the agent hears of the revoke; an ack in that window would
write stale entries for a partition that may come back. :attr:`BatchingConsumer.revocations`
counts revokes from their very start, so ``ack_batch`` can refuse to ack in the window.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping, Set
from pathlib import Path
from typing import Any, NoReturn, cast

import faust
import rocksdict
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.structs import OffsetAndMetadata
from faust.stores import rocksdb as faust_rocksdb
from faust.tables import TableManager
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from faust.types.tuples import ConsumerMessage

from streams.read_positions import ReadPositions, Span, as_tp, drained_before_seek

log = logging.getLogger("sendguard.consumer")

__all__ = [
    "BatchingApp",
    "RecordBatch",
    "ack_batch",
    "committed_offset",
    "partition_db",
    "producer_knows_topic",
]


class RecordBatch(ConsumerMessage):
    """One partition's records of one fetch, delivered to an agent as one message.

    ``span_start``: the consumer's position before these records (the position after the
    previous batch it yielded for the partition, or where it was sent; None if unknown);
    ``span_end``: its position after them (past any markers it skipped with them). The
    message's ``offset`` is ``span_end - 1``: the batch is acked up to there.
    """

    __slots__ = ("fetched_at", "records", "span_end", "span_start")

    records: list[Any]
    span_start: int | None
    span_end: int
    #: when the fetch response with its last records arrived (epoch ms; None: unknown)
    fetched_at: int | None

    @property
    def first_offset(self) -> int:
        return int(self.records[0].offset)


def _batch(
    tp: TP, records: list[Any], generation_id: int, span_start: int | None, span_end: int,
    fetched_at: int | None = None,
) -> RecordBatch:  # fmt: skip
    last = records[-1]
    batch = RecordBatch(
        tp.topic,
        tp.partition,
        # The last offset of the span, past any markers the consumer skipped after the
        # last record: acking it lets faust commit past them too.
        span_end - 1,
        # Seconds, as faust; None only from brokers older than 0.10 (faust casts it too).
        last.timestamp / 1000.0 if last.timestamp is not None else cast(float, None),
        last.timestamp_type,
        None,
        None,
        b"",
        None,
        0,
        0,
        tp,
        generation_id=generation_id,
    )
    batch.records = records
    batch.span_start = span_start
    batch.span_end = span_end
    batch.fetched_at = fetched_at
    return batch


class BatchingConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """faust's consumer thread, with an aiokafka consumer that reads committed data only,
    and that records where it reads (:attr:`reading`) in the same step as each drain and
    seek (``streams.read_positions``).

    faust picks ``read_committed`` only for its ``exactly_once`` guarantee; Sendguard is
    at-least-once with idempotent state, but must not count records of transactions
    that upstream producers abort.

    After each drain the positions of the partitions drained are read, and every
    :data:`FULL_SNAPSHOT_S` those of all partitions (a position can also move past
    transaction markers with no record drained)."""

    FULL_SNAPSHOT_S = 0.5
    _full_snapshot_at = 0.0

    async def _commit(self, offsets: Mapping[TP, int]) -> bool:
        """faust's, with the assignment built once per commit: faust builds it again for
        every partition committed, a cost in partitions squared (at 128 partitions, 19 %
        of a worker's time under live traffic, py-spy)."""
        consumer = self._ensure_consumer()
        now = time.monotonic()
        assigned = self.assignment()
        commitable = {tp: offset for tp, offset in offsets.items() if tp in assigned}
        try:
            aiokafka_offsets = {
                faust_aiokafka.ensure_aiokafka_TP(tp): OffsetAndMetadata(offset, "")
                for tp, offset in commitable.items()
            }
            self.tp_last_committed_at.update({tp: now for tp in commitable})
            await consumer.commit(aiokafka_offsets)
        except CommitFailedError as exc:
            if "already rebalanced" in str(exc):
                return False
            self.log.exception("Committing raised exception: %r", exc)
            await self.crash(exc)
            return False
        except Exception as exc:  # as faust: IllegalStateError and the rest, logged
            self.log.exception("Got exception: %r\nCurrent assignment: %r", exc,
                               self.assignment())  # fmt: skip
            await self.crash(exc)
            return False
        return True

    def __post_init__(self) -> None:
        super().__post_init__()
        self.reading = ReadPositions()
        #: the spans of the last drain, for the event loop's ``getmany``
        self.drained_spans: dict[TP, Span] = {}

    def verify_event_path(self, now: float, tp: TP) -> None:
        """faust's livelock check, a diagnostic run every 2.5 commit intervals. It walks
        the assignment with an await between partitions and reads aiokafka's state of
        each from the event loop, while the consumer's thread owns it: a partition can
        be revoked, or assigned and not yet positioned, under it, and aiokafka then
        asserts. That crashed a worker joining a group on 128 partitions (2 runs of 2).
        The check has nothing to say of such a partition; it is skipped."""
        try:
            super().verify_event_path(now, tp)
        except (AssertionError, KeyError, AttributeError) as exc:
            log.debug("livelock check skipped %s (%s: its state changed under the check)",
                      tp, type(exc).__name__)  # fmt: skip

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # Internal: aiokafka reads the isolation level when it starts its fetcher.
        consumer._isolation_level = "read_committed"  # noqa: SLF001 no public setter
        return consumer

    def _reading(self, consumer: Any) -> ReadPositions:
        return self.reading.follow(_assignment(consumer))

    def _batched(self) -> frozenset[str]:
        return getattr(self.app, "batched_topics", frozenset())

    async def _fetch_records(
        self, consumer: Any, active_partitions: Any, timeout: float | None = None,
        max_records: int | None = None,
    ) -> Any:  # fmt: skip
        records = await super()._fetch_records(
            consumer, active_partitions, timeout=timeout, max_records=max_records
        )
        now = time.monotonic()
        full = now - self._full_snapshot_at >= self.FULL_SNAPSHOT_S
        if full:
            self._full_snapshot_at = now
        positions = _positions(consumer, None if full else records)
        self.drained_spans = self._reading(consumer).drained(
            records, positions, self._tracked(), _fetched_at(consumer, records)
        )
        return records

    def _tracked(self) -> frozenset[str]:
        """The topics drained as spans: the batched inputs and the tables' changelogs."""
        return self._batched() | frozenset(self.app.tables.changelog_topics)

    async def seek_to_committed(self) -> Mapping[TP, int]:
        return await self.call_thread(self._seek_to_committed)

    async def _seek_to_committed(self) -> dict[Any, int | None]:
        """aiokafka's ``seek_to_committed``, recording each seek as it is made.

        aiokafka seeks only to a committed offset above 0; a batched partition with
        nothing committed would keep its fetch position across a rebalance, past batches
        that were delivered but not acked (events held for event-time order): it is sent
        to the log's start instead (recorded as 0)."""
        consumer = self._ensure_consumer()
        batched = self._batched()
        committed = await _committed(consumer, consumer.assignment())
        again = []
        assigned = consumer.assignment()  # as it is now, after the await
        for tp, offset in committed.items():
            if tp not in assigned:
                continue  # revoked meanwhile: its next owner seeks it
            if offset and offset > 0:
                consumer.seek(tp, offset)
                self._reading(consumer).sought(tp, offset, start=True)
            elif tp.topic in batched:
                again.append(tp)
        if again:
            reading = self._reading(consumer)
            for tp in again:
                reading.sought(tp, 0, start=True)
            # One call: it asks for every reset before it first awaits, then waits for
            # them (about a second; one call per partition made a start take 26 s).
            await consumer.seek_to_beginning(*again)
        return committed

    async def _seek_wait(self, consumer: Any, partitions: Mapping[TP, int]) -> None:
        """faust's ``seek_wait`` in the thread (the guard's requested seeks), recording
        each seek as it is made."""
        read_offset = self.consumer._read_offset  # noqa: SLF001 as faust's own _seek_wait
        partitions = seekable(consumer.assignment(), partitions)
        for tp, offset in partitions.items():
            consumer.seek(tp, offset)
            self._reading(consumer).sought(tp, offset)
            if offset > 0:
                read_offset[tp] = offset
            else:
                read_offset.pop(tp, None)
        await asyncio.wait_for(
            asyncio.gather(*[consumer.position(tp) for tp in partitions]),
            timeout=self.app.conf.broker_request_timeout,
        )


def seekable(assigned: Set[TP], partitions: Mapping[TP, int | None]) -> dict[TP, int]:
    """The seeks faust asks for that the consumer can make: only partitions still
    assigned, and an offset that is not a position (``None``, -1) read as the beginning.

    faust's recovery builds its offsets, recovers the active partitions, then seeks the
    standbys from its live sets: a rebalance in between (a worker joining) adds standbys
    with offset ``None`` or takes partitions away, and aiokafka's ``seek`` raises on
    either, which crashed a joining worker (tests/integration/test_scale_out.py).
    """
    return {
        tp: offset if isinstance(offset, int) and offset >= 0 else 0
        for tp, offset in partitions.items()
        if tp in assigned
    }


async def _committed(consumer: Any, tps: Iterable[Any]) -> dict[Any, int | None]:
    """The group's committed offset of each of ``tps`` (None: nothing committed), in one
    request: aiokafka's ``committed`` asks one partition at a time, which made a worker
    on 128 partitions (2,048 with the changelogs) spend 3 s per rebalance asking."""
    wanted = list(tps)
    # Internal: the group coordinator aiokafka's own ``committed`` calls, with a list.
    found = await consumer._coordinator.fetch_committed_offsets(wanted)  # noqa: SLF001
    offsets: dict[Any, int | None] = {}
    for tp in wanted:
        meta = found.get(tp)
        offsets[tp] = None if meta is None or meta.offset == -1 else meta.offset
    return offsets


def _assignment(consumer: Any) -> Any:
    """aiokafka's current assignment object (new at each rebalance), None without one.
    Internal: aiokafka's subscription state; its public getters await or assert."""
    try:
        return consumer._subscription.subscription.assignment  # noqa: SLF001
    except AttributeError:
        return None


def _partition_states(consumer: Any, tps: Iterable[Any] | None) -> Iterator[tuple[TP, Any]]:
    """aiokafka's fetch state of each of ``tps`` (None: every assigned partition) that
    has one; nothing once the assignment is gone (revoked, or not yet assigned)."""
    assignment = _assignment(consumer)
    if assignment is None:
        return
    try:
        wanted = assignment.tps if tps is None else tps
        states = [(tp, assignment.state_value(tp)) for tp in wanted]
    except (AttributeError, KeyError, AssertionError):
        return
    for tp, state in states:
        if state is not None:
            yield TP(tp.topic, tp.partition), state


def _fetched_at(consumer: Any, tps: Iterable[Any]) -> dict[TP, int]:
    """When the last fetch response for each of ``tps`` arrived (epoch ms), where known
    (``timestamp``: aiokafka sets it with the high-water mark)."""
    return {
        tp: int(state.timestamp)
        for tp, state in _partition_states(consumer, tps)
        if state.timestamp is not None
    }


def _positions(consumer: Any, tps: Iterable[Any] | None) -> dict[TP, int]:
    """aiokafka's positions of ``tps`` (None: every assigned partition) that are valid."""
    return {
        tp: int(state.position)
        for tp, state in _partition_states(consumer, tps)
        if state.has_valid_position
    }


class BatchingConsumer(faust_aiokafka.Consumer):
    """faust's aiokafka consumer, delivering the app's ``batched_topics`` in batches."""

    #: revokes started so far (bumped before faust clears its bookkeeping)
    revocations = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        #: where the guard asked to send the consumer back to (``request_seeks``)
        self.pending_seeks: dict[TP, int] = {}
        self._spans: dict[TP, Span] = {}

    @property
    def _reading(self) -> ReadPositions:
        return cast(BatchingConsumerThread, self._thread).reading

    @property
    def span_ends(self) -> Mapping[TP, int]:
        """Per batched partition, the consumer's position after the last batch it
        yielded (or is about to yield), or where it was last sent."""
        return self._reading.span_ends

    @property
    def positions(self) -> Mapping[TP, int]:
        """Per partition, the consumer's position as of its last drain: every record
        below it has been yielded, or is about to be (``span_ends`` says which)."""
        return self._reading.positions

    @property
    def starts(self) -> Mapping[TP, int]:
        """Per batched partition, where faust last sent the consumer to read from (the
        committed offset, or 0 for the log's start when nothing is committed)."""
        return self._reading.starts

    def request_seeks(self, seeks: Mapping[TP, int]) -> None:
        """Send the consumer to these positions before its next fetch.

        The seek is done in the fetch loop, between two drains: a seek made while a
        drain is on its way could not tell the records fetched before it from those
        fetched after."""
        self.pending_seeks.update(seeks)

    async def _perform_requested_seeks(self) -> None:
        seeks, self.pending_seeks = self.pending_seeks, {}
        assigned = self.assignment()
        seeks = {tp: offset for tp, offset in seeks.items() if tp in assigned}
        if not seeks:
            return
        try:
            # seek_wait seeks in the consumer's thread, where aiokafka's fetcher runs.
            await super().seek_wait(seeks)
        except (AssertionError, KafkaError) as exc:  # revoked meanwhile: read again anyway
            log.info("seek to %s not done (%s); a rebalance reads them again", seeks, exc)

    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return BatchingConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        self.revocations += 1
        for tp in revoked:
            self.pending_seeks.pop(tp, None)
        await super().on_partitions_revoked(revoked)

    def _fetch_state(self, tp: TP) -> Any:
        """aiokafka's fetch state of ``tp``, None if it has none. Asked for every source
        of every progress report (1,024 at 128 partitions, five times a second), so
        it is one lookup, not ``_partition_states``' generator."""
        assignment = _assignment(self._thread._consumer)  # noqa: SLF001
        return None if assignment is None else assignment.state_value(tp)

    def end_offset(self, tp: TP) -> int | None:
        """Where ``tp`` ends for this consumer, as of its last fetch: the last stable
        offset (``read_committed`` reads no further), or None if not known (or the
        partition is no longer assigned: it can be revoked between any two lines)."""
        state = self._fetch_state(tp)
        if state is None:
            return None
        end = state.lso if state.lso is not None and state.lso >= 0 else state.highwater
        return None if end is None else int(end)

    def end_learned_at(self, tp: TP) -> int | None:
        """When the fetch response that said where ``tp`` ends arrived (epoch ms)."""
        state = self._fetch_state(tp)
        return None if state is None or state.timestamp is None else int(state.timestamp)

    def _batched(self) -> frozenset[str]:
        return getattr(self.app, "batched_topics", frozenset())

    def _held_back(self) -> set[TP]:
        hold_back: Callable[[], Iterable[tuple[str, int]]] | None = getattr(
            self.app, "hold_back", None
        )
        return {TP(*tp) for tp in hold_back()} if hold_back is not None else set()

    async def _getmany(self, active_partitions: set[TP] | None, timeout: float) -> Any:
        # Internal: faust's fetch step. Partitions far ahead in event time sit out.
        if active_partitions:
            held_back = self._held_back()
            if held_back:
                fetching = active_partitions - held_back
                if fetching:
                    active_partitions = fetching
        records = await super()._getmany(active_partitions, timeout)
        self._spans = cast(BatchingConsumerThread, self._thread).drained_spans
        return records

    async def seek_to_committed(self) -> Any:
        """faust's seek back after a rebalance (and at start), for every partition (made
        and recorded in the consumer's thread); requested seeks it supersedes are
        dropped."""
        committed = await super().seek_to_committed()
        for tp in committed:
            self.pending_seeks.pop(as_tp(tp), None)
        return committed

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Any]]:
        """faust's ``Consumer.getmany`` (v0.15), with one message per batched partition."""
        # Internal: _wait_next_records, _buffered_partitions, _to_message, perform_seek are
        # faust's own fetch loop pieces; this mirrors its getmany step for step.
        if self.pending_seeks:
            await self._perform_requested_seeks()
        records, active_partitions = await self._wait_next_records(timeout)
        generation_id = self.app.consumer_generation_id
        if records is None or self.should_stop:
            return
        if not self.flow_active:
            try:  # as faust: a failed seek is tried again at the next call
                await self.perform_seek()
            except Exception as exc:  # noqa: BLE001 faust catches every error here too
                log.warning("seek to the committed offsets failed while the flow is "
                            "stopped (tried again): %r", exc)  # fmt: skip
            return
        batched = self._batched()
        changelogs = self.app.tables.changelog_topics
        spans = self._spans
        for tp, tp_records in records.items():
            if not self.flow_active or self.app.consumer_generation_id != generation_id:
                break
            if not (
                active_partitions is None
                or tp in active_partitions
                or tp in self._buffered_partitions
            ):
                if tp.topic in changelogs and tp_records:
                    # Paused since the fetch: read them again when it resumes, or a
                    # standby's store would miss them for good.
                    self.request_seeks({tp: tp_records[0].offset})
                continue
            end_offset = self.end_offset(tp)
            if end_offset is not None:
                self.app.monitor.track_tp_end_offset(tp, end_offset)
            if tp.topic in batched:
                if not tp_records:
                    continue
                span = spans.get(as_tp(tp))
                if span is None or span[0] is None:
                    # Drained before the partition's seek of this assignment: read
                    # again after it (streams.read_positions).
                    log.debug("%s: %d records drained before its seek, not delivered",
                              tp, len(tp_records))  # fmt: skip
                    continue
                # faust's fetch loop would register the offsets between the last read
                # one and this batch's as a gap it may commit over at once, before the
                # batch is acked: read as if it were the very next one. ``ack_batch``
                # registers them when the batch is acked.
                self._read_offset[tp] = tp_records[-1].offset - 1
                yield tp, _batch(tp, tp_records, generation_id, *span)
            else:
                if tp.topic in changelogs and drained_before_seek(spans.get(as_tp(tp))):
                    # faust's recovery seeks every changelog partition after an
                    # assignment, to where its store is applied, and reads from there:
                    # handed out, these would move recovery's offset past records
                    # never applied (a standby with a hole, found in the scale-out test).
                    log.debug("%s: %d changelog records drained before its seek, not "
                              "delivered", tp, len(tp_records))  # fmt: skip
                    continue
                for record in tp_records:
                    yield tp, self._to_message(tp, record)


async def ack_batch(stream: Any, event: Any, after: int | None, revocations: int) -> bool:
    """Acknowledge a record batch: faust may commit past all of its offsets now, and past
    any offsets between ``after`` (the last offset acked before on this partition; None:
    the committed offset) and the batch, which the consumer skipped (compacted, deleted
    or transaction markers).

    Batches of one partition must be acked in order: faust commits the longest run of
    acked offsets, and skips its check that the run starts at the committed offset when
    that offset is 0 or unknown.

    ``revocations``: the consumer's :attr:`BatchingConsumer.revocations` the caller knows
    of. If a revoke has started since, faust has cleared (or is clearing) its bookkeeping
    of the partition and nothing is acked: False. The revoked batches are read again.
    """
    message: RecordBatch = event.message
    consumer = stream.app.consumer
    if consumer.revocations != revocations:
        return False
    start = after + 1 if after is not None else committed_offset(stream.app, message.tp)
    start = message.first_offset if start is None else min(start, message.first_offset)
    if message.offset > start:
        # Consumer._add_gap marks offsets as needing no ack of their own. It yields to
        # the loop once, where a revoke can start.
        await consumer._add_gap(message.tp, start, message.offset - 1)  # noqa: SLF001 no public call
        if consumer.revocations != revocations:
            return False
    await stream.ack(event)
    return True


class BatchingTransport(faust_aiokafka.Transport):
    Consumer = BatchingConsumer


class PerPartitionOpenFilter(logging.Filter):
    """Drops faust's line per table partition opened (``opening partition N for gen id``):
    a start at 128 partitions logged 768 of them (6 tables), 5 % of its CPU (py-spy).
    faust's other store messages (a locked database, a retry) still show."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith("opening partition"))


def quiet_per_partition_logs() -> None:
    logging.getLogger("faust.stores.rocksdb").addFilter(PerPartitionOpenFilter())


_faust_open = faust_rocksdb.RocksDBOptions.open


def _open_with_options(self: Any, path: Path, *, read_only: bool = False) -> Any:
    if not self.use_rocksdict:
        return _faust_open(self, path, read_only=read_only)
    options = self.as_options()
    access = (rocksdict.AccessType.read_write() if self.ttl is None
              else rocksdict.AccessType.with_ttl(self.ttl))  # fmt: skip
    db = rocksdict.Rdict(str(path), options=options, column_families={"default": options},
                         access_type=access)  # fmt: skip
    db.set_read_options(rocksdict.ReadOptions())
    return db


def keep_store_options_on_reopen() -> None:
    """faust opens a table partition's rocksdict database without naming its column
    family's options, and rocksdict applies the options only to column families it
    creates: a database that already exists (every one, after a restart) ran with
    RocksDB's defaults, an 8 MB block cache and no bloom filter, whatever the table asked
    for (quix-streams #1136 is the same bug). Opened with them named again."""
    faust_rocksdb.RocksDBOptions.open = _open_with_options  # type: ignore[method-assign]


class PromptTableManager(TableManager):
    """faust's table manager, without the second it sleeps before it registers the tables.

    faust waits so that tables defined while the app starts are in the first subscription.
    Sendguard defines every table before the worker starts (``streams.app.build_runtime``),
    and one added later is refused (``Too late to add tables``), not missed. The second
    was 30 to 45 % of a worker's start-up, so of a failover's pause too."""

    async def on_start(self) -> None:
        if not self.should_stop:
            await self._update_channels()
            await self.recovery.start()


class BatchingApp(faust.App):
    """A faust app whose consumer batches ``batched_topics`` (set before the worker starts).

    ``hold_back``, when set, names the partitions to leave out of the next fetch.
    """

    batched_topics: frozenset[str] = frozenset()
    hold_back: Callable[[], Iterable[tuple[str, int]]] | None = None
    #: set once the worker has begun to stop: the tables are about to close
    closing: bool = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: awaited, in order, when the worker stops, before faust closes the tables
        self.before_tables_close: list[Callable[[], Awaitable[None]]] = []

    def _new_transport(self) -> Any:
        # Internal: faust builds its transport from the broker URL's scheme here.
        return BatchingTransport(self.conf.broker_consumer, self)

    async def _stop_consumer(self) -> None:
        """faust's App.on_stop closes the tables here, first of all, while the agents, the
        timers and the web views still run (they stop after it). Whatever writes to the
        tables ends its work before that."""
        self.closing = True
        for hook in self.before_tables_close:
            try:
                await hook()
            except Exception:  # stopping: the next hook and faust's stop still run
                log.exception("stopping before the tables close failed")
        await super()._stop_consumer()


def committed_offset(app: faust.App, tp: TP) -> int | None:
    """The consumer group's committed offset of ``tp`` as faust last saw it."""
    # faust keeps it in Consumer._committed_offset; there is no public getter.
    return app.consumer._committed_offset.get(tp)  # type: ignore[attr-defined]  # noqa: SLF001


#: faust's own key in each table partition's RocksDB database: the changelog offset
#: applied there (faust.stores.rocksdb.Store.offset_key).
OFFSET_KEY = b"__faust\x00offset__"


def partition_db(table: Any, partition: int) -> Any:
    """The rocksdict database behind one partition of a faust table (opened if needed)."""
    # faust's RocksDB store keeps one database per partition, and has no public getter.
    return table.data._db_for_partition(partition)  # noqa: SLF001


def mark_persisted(table: Any, tp: TP, offset: int) -> None:
    """Record in ``table``'s store that its changelog ``tp`` is applied through ``offset``.

    Needed after writing to :func:`partition_db` directly, so that a restart recovers
    the changelog from there (faust's store does this itself for writes it makes).
    """
    table.data.set_persisted_offset(tp, offset)


def producer_knows_topic(app: faust.App, topic: str) -> bool:
    """Whether faust's producer has metadata for ``topic`` (a restarted broker may not)."""
    # aiokafka asserts on an explicit partition of a topic it has no metadata for, and the
    # assertion kills faust's producer task. There is no public way to the aiokafka
    # producer under faust's, nor to its metadata.
    producer = app.producer._ensure_producer()  # type: ignore[attr-defined]  # noqa: SLF001
    metadata = producer._metadata  # noqa: SLF001
    return bool(metadata.partitions_for_topic(topic))


def tables_recovered(app: faust.App) -> bool:
    """Whether faust has finished recovering the tables from their changelogs."""
    # Public on faust's TableManager, but absent from the TableManagerT protocol it is typed as.
    return bool(app.tables.recovery.completed.is_set())  # type: ignore[attr-defined]


def consumer_flowing(app: faust.App) -> bool:
    """Whether faust's consumer delivers records (it stops the flow during a rebalance)."""
    # Consumer.flow_active is public, but absent from the ConsumerT protocol.
    return bool(app.consumer.flow_active)  # type: ignore[attr-defined]


def faust_main(app: faust.App, argv: list[str]) -> NoReturn:
    """Run Faust's command line (``worker …``) on ``app`` with ``argv``.

    What ``app.main()`` does, except that ``app.main()`` reads ``sys.argv``, which this
    process would have to overwrite. The app has autodiscovery off, so there is nothing
    to discover.
    """
    from faust.cli.faust import cli

    app.finalize()
    app.worker_init()
    app.worker_init_post_autodiscover()
    cli.main(args=argv, prog_name="sendguard", app=app)
    raise SystemExit(0)  # click exits itself; this is for the type checker
