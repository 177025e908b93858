"""The sender gate as a library: follow the two compacted topics into a local RocksDB
database (``gate.store``) and answer "may this account send on this channel to this
recipient?" from there.

Freshness: the gate knows when it last read every partition to its end (from the
consumer's high watermarks and the times of its fetch answers). When that is longer ago
than ``stale_after_s``, its view is *stale*, and :meth:`SenderGate.check` either refuses
(``fail="closed"``) or answers as usual with ``stale`` set (``fail="open"``, the default:
see the README's "Sender gate").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from aiokafka import AIOKafkaConsumer, TopicPartition

from gate.errors import TopicMissing
from gate.records import MAX_KEY_BYTES, BadRecord, ChannelStatus, channels_of, reason_of
from gate.store import GateStore, WriteSet

log = logging.getLogger("sendguard.gate")

STATUS_TOPIC = "sendguard.account-status"
SUPPRESSIONS_TOPIC = "sendguard.suppressions"
#: Kafka's default ``delete.retention.ms`` (24 h) less a margin: a tombstone is kept that
#: long after compaction reaches it, so a store last caught up longer ago than this may
#: have missed one, and is read again from scratch.
REBUILD_AFTER_S = 20 * 3600.0
#: How often a caught-up gate notes so in its store (for ``REBUILD_AFTER_S``).
FRESH_MARK_S = 60.0
SKIP_LOG_EVERY_S = 60.0
#: The pause before following the topics again after a failure.
RETRY_S = 1.0
FailMode = Literal["open", "closed"]


@dataclass(frozen=True)
class GateAnswer:
    allowed: bool
    reason: str
    #: the gate's view was older than its ``stale_after_s`` when it answered
    stale: bool = False


@dataclass
class GateCounters:
    """What the gate did since it started (``gate.service`` exports them)."""

    records: int = 0
    skipped: int = 0
    rebuilds: int = 0


def _normalised(recipient: str) -> str:
    return recipient.strip().lower()


def _channel_answer(channel: str, status: ChannelStatus | None) -> GateAnswer | None:
    """The answer an account's channel state gives by itself (None: ask the suppressions)."""
    if status is None:
        return None
    if status.state == "suspended":
        kind = status.suspension_type or "deliverability"
        reason = f"{channel} suspended ({kind}: {status.reason}) since {status.since}"
        return GateAnswer(False, reason)
    if status.state == "under_review":
        return GateAnswer(False, f"{channel} is under review until an operator approves it")
    return None


class SenderGate:
    """Follows ``<prefix>sendguard.account-status`` and ``<prefix>sendguard.suppressions``.

    ``path`` keeps the database between runs (a restart goes on from its stored offsets);
    without it, a temporary directory is used and removed at :meth:`stop`."""

    def __init__(
        self,
        bootstrap: str,
        topic_prefix: str = "",
        *,
        path: Path | str | None = None,
        cache_mb: int = 64,
        stale_after_s: float = 30.0,
        fail: FailMode = "open",
    ) -> None:
        if fail not in ("open", "closed"):
            raise ValueError(f"fail must be 'open' or 'closed', not {fail!r}")
        self.bootstrap = bootstrap
        self.status_topic = f"{topic_prefix}{STATUS_TOPIC}"
        self.suppressions_topic = f"{topic_prefix}{SUPPRESSIONS_TOPIC}"
        self.topics = [self.status_topic, self.suppressions_topic]
        self.stale_after_s = stale_after_s
        self.fail: FailMode = fail
        self.counters = GateCounters()
        self._temporary: tempfile.TemporaryDirectory[str] | None = None
        if path is None:
            self._temporary = tempfile.TemporaryDirectory(prefix="sendguard-gate-")
            path = self._temporary.name
        self._path = Path(path)
        self._cache_mb = cache_mb
        self._store: GateStore | None = None
        self._status: dict[str, dict[str, ChannelStatus]] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._positions: dict[TopicPartition, int] = {}
        self._fresh: dict[TopicPartition, float] = {}
        self._lag: dict[TopicPartition, int] = {}
        self._marked_fresh = 0.0
        self._skip_logged_at = -math.inf
        #: when the view was last known current before this start (the store's mark)
        self._fresh_floor = -math.inf
        #: when every partition was last read to its end (the oldest of ``_fresh``)
        self._view_at = -math.inf

    async def __aenter__(self) -> SenderGate:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        await self.stop()

    @property
    def store(self) -> GateStore:
        assert self._store is not None, "the gate is not started"
        return self._store

    # -- starting ---------------------------------------------------------------------

    def open_store(self) -> None:
        """Open the database and load the statuses it holds (``start`` does this first;
        alone, the gate answers from what it stored, and its view is stale)."""
        self._store = GateStore(self._path, self._cache_mb)
        self._load_statuses()
        self._fresh_floor = self._view_at = self._store.fresh_at() or -math.inf

    async def start(self) -> None:
        self.open_store()
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=4 * 1024 * 1024,
            fetch_max_bytes=32 * 1024 * 1024,
        )
        await self._consumer.start()
        try:
            partitions = [
                TopicPartition(topic, p)
                for topic in self.topics
                for p in sorted(await self._partitions(topic))
            ]
            self._consumer.assign(partitions)
            await self._resume(partitions)
        except BaseException:
            await self.stop()
            raise
        self._task = asyncio.create_task(self._follow(), name="sendguard-gate")

    async def _partitions(self, topic: str) -> set[int]:
        assert self._consumer is not None
        for _ in range(50):
            parts = self._consumer.partitions_for_topic(topic)
            if parts:
                return parts
            # aiokafka's consumer has no public metadata refresh; its client has one.
            await self._consumer._client.force_metadata_update()  # noqa: SLF001
            await asyncio.sleep(0.1)
        raise TopicMissing(f"topic {topic} does not exist; is a Sendguard worker running?")

    async def _resume(self, partitions: list[TopicPartition]) -> None:
        """Go on from the stored offsets, or read from the beginning when the store is
        empty, older than ``REBUILD_AFTER_S``, or does not match the topics."""
        assert self._consumer is not None
        stored = self.store.offsets()
        why = self._rebuild_reason(stored, partitions,
                                   await self._consumer.beginning_offsets(partitions),
                                   await self._consumer.end_offsets(partitions))  # fmt: skip
        if why is not None:
            if stored:
                log.warning("sender gate: reading the topics again from the beginning: %s", why)
                self.counters.rebuilds += 1
            self.store.wipe()
            self._status = {}
            self._fresh_floor = self._view_at = -math.inf
            stored = {}
        beginning = WriteSet()  # every partition has an offset stored from the start
        for tp in partitions:
            offset = stored.get((tp.topic, tp.partition))
            if offset is None:
                await self._consumer.seek_to_beginning(tp)
                offset = await self._consumer.position(tp)
                beginning.read_to(tp.topic, tp.partition, offset)
            else:
                self._consumer.seek(tp, offset)
            self._positions[tp] = offset
        self.store.write(beginning)
        if stored:
            log.info("sender gate: resuming from the offsets stored in %s", self._path)

    def _rebuild_reason(
        self, stored: dict[tuple[str, int], int], partitions: list[TopicPartition],
        beginnings: dict[TopicPartition, int], ends: dict[TopicPartition, int],
    ) -> str | None:  # fmt: skip
        if not stored:
            return "nothing stored"
        fresh = self.store.fresh_at()
        if fresh is None or time.time() - fresh > REBUILD_AFTER_S:
            return "last caught up too long ago: a tombstone may have been compacted away unread"
        for tp in partitions:
            offset = stored.get((tp.topic, tp.partition))
            if offset is None:
                return f"no offset stored for {tp.topic}[{tp.partition}]"
            where = f"{tp.topic}[{tp.partition}]"
            if offset > ends[tp]:
                return f"{where} ends at {ends[tp]}, before the stored {offset}: a new topic"
            if offset < beginnings[tp]:
                return f"{where} begins at {beginnings[tp]}, after the stored {offset}"
        return None

    def _load_statuses(self) -> None:
        self._status = {}
        for account_id, value in self.store.statuses():
            try:
                channels = channels_of(value)
            except BadRecord:
                continue
            if channels:
                self._status[account_id.decode("utf-8", "replace")] = channels

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
        if self._store is not None:
            self._store.close()
            self._store = None
        if self._temporary is not None:
            self._temporary.cleanup()

    # -- following --------------------------------------------------------------------

    async def wait_caught_up(self, timeout: float = 30.0) -> None:
        """Wait until everything already on both topics has been read."""
        assert self._consumer is not None
        ends = await self._consumer.end_offsets(list(self._consumer.assignment()))
        deadline = time.monotonic() + timeout
        while any(self._positions.get(tp, 0) < end for tp, end in ends.items()):
            if time.monotonic() > deadline:
                raise TimeoutError("sender gate did not catch up")
            await asyncio.sleep(0.05)

    async def _follow(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        while True:
            try:
                batches = await consumer.getmany(timeout_ms=500, max_records=50_000)
                if batches:
                    self._apply(batches)
                await self._note_freshness(consumer)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 the gate goes stale and says so; it retries
                log.warning("sender gate: following the topics failed (%s: %s); again in "
                            "%.0f s from the stored offsets", type(exc).__name__, exc,
                            RETRY_S)  # fmt: skip
                await asyncio.sleep(RETRY_S)
                self._rewind(consumer)

    def _rewind(self, consumer: AIOKafkaConsumer) -> None:
        """Read again from the offsets stored with the last write (a batch read but not
        written would otherwise be skipped)."""
        for (topic, partition), offset in self.store.offsets().items():
            tp = TopicPartition(topic, partition)
            if tp in consumer.assignment():
                consumer.seek(tp, offset)
                self._positions[tp] = offset

    def _apply(self, batches: dict[TopicPartition, list[Any]]) -> None:
        changes = WriteSet()
        statuses: dict[str, dict[str, ChannelStatus] | None] = {}
        skipped = 0
        for tp, messages in batches.items():
            if not messages:
                continue
            is_status = tp.topic == self.status_topic
            for message in messages:
                key, value = message.key, message.value
                if key is None or len(key) > MAX_KEY_BYTES:
                    skipped += 1
                    continue
                try:
                    if is_status:
                        channels = channels_of(value) if value is not None else {}
                        changes.status(key, value if channels else None)
                        statuses[key.decode("utf-8", "replace")] = channels or None
                    elif value is None:
                        changes.unsuppress(key)
                    else:
                        changes.suppress(key, reason_of(value))
                except BadRecord as exc:
                    skipped += 1
                    if time.monotonic() - self._skip_logged_at > SKIP_LOG_EVERY_S:
                        self._skip_logged_at = time.monotonic()
                        log.warning("sender gate: skipping %s[%d]@%d (%d skipped so far; "
                                    "logged at most once a minute): %s", tp.topic,
                                    tp.partition, message.offset,
                                    self.counters.skipped + skipped, exc)  # fmt: skip
            changes.read_to(tp.topic, tp.partition, messages[-1].offset + 1)
        self.store.write(changes)
        for tp, messages in batches.items():
            if messages:
                self._positions[tp] = messages[-1].offset + 1
        for account_id, kept in statuses.items():
            if kept is None:
                self._status.pop(account_id, None)
            else:
                self._status[account_id] = kept
        self.counters.records += changes.count + skipped
        self.counters.skipped += skipped

    async def _note_freshness(self, consumer: AIOKafkaConsumer) -> None:
        for tp in consumer.assignment():
            end = consumer.highwater(tp)
            if end is None:
                continue
            position = await consumer.position(tp)
            self._positions.setdefault(tp, position)
            self._lag[tp] = max(0, end - position)
            polled = consumer.last_poll_timestamp(tp)
            if position >= end and polled is not None:
                self._fresh[tp] = polled / 1000
        floor = self._fresh_floor
        self._view_at = min((self._fresh.get(tp, floor) for tp in consumer.assignment()),
                            default=floor)  # fmt: skip
        now = time.time()
        if self.staleness_s() < self.stale_after_s and now - self._marked_fresh > FRESH_MARK_S:
            self._marked_fresh = now
            self.store.mark_fresh(now)

    # -- answers ----------------------------------------------------------------------

    def staleness_s(self) -> float:
        """How old the gate's view is: the time since every partition was last read to
        its end. Until this run has, since the store last noted itself caught up
        (infinite for a store that never was)."""
        return max(0.0, time.time() - self._view_at)

    def _age(self) -> str:
        age = self.staleness_s()
        return "the gate has never read the topics to their end" if math.isinf(age) \
            else f"the gate's view is {age:.0f} s old"

    def lag_records(self) -> int:
        """Records on the topics not read yet, as of the last fetch answers."""
        return sum(self._lag.values())

    def is_stale(self) -> bool:
        return self.staleness_s() > self.stale_after_s

    def check(self, account_id: str, channel: str, recipient: str) -> GateAnswer:
        return self.check_many(account_id, channel, [recipient])[0]

    def check_many(
        self, account_id: str, channel: str, recipients: Sequence[str]
    ) -> list[GateAnswer]:
        """One answer per recipient, in order: the account's status read once, and the
        suppressions in one multi-get."""
        stale = self.is_stale()
        if stale and self.fail == "closed":
            refused = GateAnswer(False, f"{self._age()} (stale); refusing, as it fails closed",
                                 stale=True)  # fmt: skip
            return [refused] * len(recipients)
        status = self._status.get(account_id, {}).get(channel)
        blocked = _channel_answer(channel, status)
        if blocked is not None:
            return [GateAnswer(blocked.allowed, blocked.reason, stale)] * len(recipients)
        prefix = f"{account_id}/"
        # A lone surrogate (JSON allows "\ud800") is kept, to match nothing, not to raise.
        keys = [(prefix + _normalised(r)).encode("utf-8", "surrogatepass") for r in recipients]
        reasons = self.store.reasons(keys)
        if status is not None and status.state == "warned":
            allowed = f"allowed, but {channel} is warned ({status.reason})"
        else:
            allowed = "allowed"
        if stale:
            allowed += f" ({self._age()})"
        return [
            GateAnswer(True, allowed, stale) if reason is None
            else GateAnswer(False, f"recipient suppressed ({reason.decode(errors='replace')})",
                            stale)
            for reason in reasons
        ]  # fmt: skip
