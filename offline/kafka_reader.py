"""Read Kafka partitions synchronously, any number of them side by side, without a group.

A replay is synchronous and aiokafka is not, so the consumer lives on an event loop in a
thread of its own, and :meth:`KafkaReader.read` hands out one partition's records as a
plain iterator. Several such iterators are read side by side (the event-time merge
takes from whichever partition is earliest), so the reader keeps a buffer per partition:

* every fetch takes *all* that the consumer has fetched, for every partition. aiokafka
  fetches nothing from a broker while any partition there has records not taken yet, so
  taking one partition's records at a time stalls every other partition for its backoff;
* a partition whose buffer holds :data:`BUFFERED` records or more is paused until it is
  read down, so a partition the merge needs rarely (a sparse topic) does not fill memory
  while a busy one is read.

No consumer group, no commits: reading never disturbs the workers' group. aiokafka is
imported inside the methods, so ``offline`` imports without the broker stack.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

from offline.errors import ReplayInputError

_T = TypeVar("_T")
_AIOKAFKA_LOG = logging.getLogger("aiokafka")

#: A partition with this many records fetched and not read yet is paused.
BUFFERED = 4096


class KafkaReader:
    """Use as a context manager (or ``open`` and ``close``): opening starts the loop's
    thread and connects."""

    def __init__(self, bootstrap: str, *, timeout: float = 30.0) -> None:
        self.bootstrap = bootstrap
        self.timeout = timeout
        self.consumed = 0
        """Offsets read past so far (records, and gaps: compacted or transaction markers)."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._consumer: Any = None
        self._buffers: dict[Any, deque[Any]] = {}
        self._paused: set[Any] = set()
        self._ends: dict[Any, int] = {}
        self._fetched_all: set[Any] = set()
        self._log_level = logging.NOTSET

    def __enter__(self) -> KafkaReader:
        return self.open()

    def open(self) -> KafkaReader:
        """Start the loop's thread and connect (``close`` undoes it)."""
        # aiokafka logs each failed connection attempt; the errors raised here say it once.
        self._log_level = _AIOKAFKA_LOG.level
        _AIOKAFKA_LOG.setLevel(logging.CRITICAL)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="sendguard-kafka-reader", daemon=True
        )
        self._thread.start()
        try:
            self._run(self._start())
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        loop, self._loop = self._loop, None
        if loop is None:
            return
        try:
            if self._consumer is not None:
                asyncio.run_coroutine_threadsafe(self._consumer.stop(), loop).result(self.timeout)
        finally:
            self._consumer = None
            loop.call_soon_threadsafe(loop.stop)
            if self._thread is not None:
                self._thread.join()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            _AIOKAFKA_LOG.setLevel(self._log_level)

    # -- what there is to read ------------------------------------------------------------

    def partitions(self, topics: list[str]) -> dict[str, list[int]]:
        """The partitions of each of ``topics`` that exists (a missing one is left out)."""
        return self._run(self._partitions(topics))

    def offsets(
        self, partitions: list[tuple[str, int]], seek_millis: dict[tuple[str, int], int]
    ) -> dict[tuple[str, int], tuple[int, int]]:
        """(first, end) offset of each partition, fixed now: its beginning (or its first
        record stamped at or after ``seek_millis[partition]``, its end if there is none),
        and its end offset; the partitions are assigned to the reader."""
        return self._run(self._offsets(partitions, seek_millis))

    # -- reading --------------------------------------------------------------------------

    def read(self, topic: str, partition: int, start: int, end: int) -> Iterator[Any]:
        """The records of ``topic[partition]`` from offset ``start`` to before ``end``."""
        if start >= end:
            return
        tp = _tp(topic, partition)
        buffer: deque[Any] = deque()
        self._run(self._open(tp, start, end, buffer))
        next_offset = start
        waited_since = time.monotonic()
        try:
            while next_offset < end:
                if not buffer:
                    self._run(self._fill(tp))
                    if buffer:
                        waited_since = time.monotonic()
                    elif self._run(self._consumer_of().position(tp)) >= end:
                        break  # the rest holds no records (compacted, transaction markers)
                    elif time.monotonic() - waited_since > self.timeout:
                        raise ReplayInputError(
                            f"{topic}[{partition}]: nothing from Kafka at {self.bootstrap} "
                            f"for {self.timeout:.0f} s at offset {next_offset}"
                        )
                    continue
                record = buffer.popleft()
                if record.offset >= end:
                    break
                self.consumed += record.offset + 1 - next_offset
                next_offset = record.offset + 1
                yield record
            self.consumed += end - next_offset
        finally:
            if self._loop is not None:
                self._run(self._close(tp))

    # -- on the loop's thread ---------------------------------------------------------------

    async def _start(self) -> None:
        from aiokafka import AIOKafkaConsumer
        from aiokafka.errors import KafkaError

        self._consumer = consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False,
            auto_offset_reset="none", client_id="sendguard-replay",
            request_timeout_ms=int(self.timeout * 1000), fetch_max_wait_ms=100,
        )  # fmt: skip
        try:
            await asyncio.wait_for(consumer.start(), self.timeout)
        except (KafkaError, OSError, TimeoutError) as exc:
            raise ReplayInputError(
                f"cannot reach Kafka at {self.bootstrap}: {exc!r}; is it running? "
                "(`sendguard kafka up`)"
            ) from exc

    async def _partitions(self, topics: list[str]) -> dict[str, list[int]]:
        """Asked of the admin client: a plain consumer's metadata may not know a topic."""
        from aiokafka.admin import AIOKafkaAdminClient
        from aiokafka.errors import KafkaError

        admin = AIOKafkaAdminClient(
            bootstrap_servers=self.bootstrap, client_id="sendguard-replay",
            request_timeout_ms=int(self.timeout * 1000),
        )  # fmt: skip
        try:
            await asyncio.wait_for(admin.start(), self.timeout)
            existing = set(await admin.list_topics())
            wanted = [topic for topic in topics if topic in existing]
            described = await admin.describe_topics(wanted) if wanted else []
        except (KafkaError, OSError, TimeoutError) as exc:
            raise ReplayInputError(f"cannot list the topics at {self.bootstrap}: {exc!r}") from exc
        finally:
            await admin.close()
        found = {d["topic"]: sorted(p["partition"] for p in d["partitions"]) for d in described}
        return {topic: parts for topic, parts in found.items() if parts}

    async def _offsets(
        self, partitions: list[tuple[str, int]], seek_millis: dict[tuple[str, int], int]
    ) -> dict[tuple[str, int], tuple[int, int]]:
        consumer = self._consumer_of()
        tps = {key: _tp(*key) for key in partitions}
        consumer.assign(list(tps.values()))
        consumer.pause(*tps.values())
        self._paused = set(tps.values())
        ends = await consumer.end_offsets(list(tps.values()))
        starts = await consumer.beginning_offsets(list(tps.values()))
        if seek_millis:
            found = await consumer.offsets_for_times({tps[k]: ms for k, ms in seek_millis.items()})
            for key in seek_millis:
                tp = tps[key]
                at = found.get(tp)
                starts[tp] = max(starts[tp], ends[tp] if at is None else at.offset)
        spans = {key: (min(starts[tp], ends[tp]), ends[tp]) for key, tp in tps.items()}
        for key, tp in tps.items():
            # A position for every partition: with none, aiokafka would try to reset it
            # (and fail, ``auto_offset_reset="none"``) even while it is paused.
            consumer.seek(tp, spans[key][0])
        return spans

    async def _open(self, tp: Any, start: int, end: int, buffer: deque[Any]) -> None:
        consumer = self._consumer_of()
        consumer.seek(tp, start)
        consumer.resume(tp)
        self._paused.discard(tp)
        self._buffers[tp] = buffer
        self._ends[tp] = end

    async def _close(self, tp: Any) -> None:
        self._consumer_of().pause(tp)
        self._paused.add(tp)
        self._buffers.pop(tp, None)
        self._fetched_all.discard(tp)

    async def _fill(self, wanted: Any) -> None:
        """Take everything fetched (waiting up to 200 ms for something), into the buffers
        of the partitions being read; pause the full ones and those fetched to their end,
        resume the drained ones.

        A partition fetched to its end must not stay in the fetch: the broker would hold
        each fetch up to ``fetch_max_wait_ms`` for it, and aiokafka sends one fetch at a
        time, so every other partition would wait too.
        """
        consumer = self._consumer_of()
        for tp in [tp for tp in self._paused if tp in self._buffers]:
            if tp in self._fetched_all:
                continue
            if tp == wanted or len(self._buffers[tp]) < BUFFERED // 2:
                consumer.resume(tp)
                self._paused.discard(tp)
        fetched = await consumer.getmany(timeout_ms=200)
        for tp, records in fetched.items():
            buffer = self._buffers.get(tp)
            if buffer is None or not records:
                continue  # a partition no longer read: what was still in flight
            buffer.extend(records)
            if records[-1].offset + 1 >= self._ends[tp]:
                self._fetched_all.add(tp)
            if tp in self._fetched_all or (len(buffer) >= BUFFERED and tp != wanted):
                consumer.pause(tp)
                self._paused.add(tp)

    # -- plumbing -------------------------------------------------------------------------

    def _consumer_of(self) -> Any:
        if self._consumer is None:
            raise RuntimeError("KafkaReader is not open: use it in a with statement")
        return self._consumer

    def _run(self, step: Coroutine[Any, Any, _T]) -> _T:
        """Run ``step`` on the reader's loop and wait for it (the loop's thread alone touches
        the consumer and, while it runs, the buffers)."""
        from aiokafka.errors import KafkaError

        if self._loop is None:
            step.close()
            raise RuntimeError("KafkaReader is not open: use it in a with statement")
        try:
            return asyncio.run_coroutine_threadsafe(step, self._loop).result()
        except KafkaError as exc:
            raise ReplayInputError(f"reading from Kafka at {self.bootstrap}: {exc!r}") from exc


def _tp(topic: str, partition: int) -> Any:
    from aiokafka import TopicPartition

    return TopicPartition(topic, partition)
