"""Records waiting to be published at the guard's next flush, and their publication.

The guard publishes a batch's records together: one producer batch per topic partition
(aiokafka's ``create_batch``/``send_batch``), all sent at once and awaited once. Every
record carries the time it describes, in epoch milliseconds as Kafka expects.

Every record is checked against the byte budget of one Kafka record
(``schemas.limits.MAX_RECORD_BYTES``) as it is queued. Every record Sendguard writes is
bounded well below it, so one over it is a bug; it is not published (Kafka would refuse
it and the flush would fail, again after every restart), and a dead letter names it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer

from schemas.codec import dead_letter, encode
from schemas.limits import MAX_RECORD_BYTES
from streams.partitioning import partition_for

log = logging.getLogger("sendguard.outbox")

#: Kafka's timestamps are epoch milliseconds.
Millis = int


Headers = list[tuple[str, bytes]]


@dataclass
class _Pending:
    records: list[tuple[bytes | None, bytes | None, Millis, Headers, int | None]] = field(
        default_factory=list
    )


class Outbox:
    def __init__(
        self,
        partitions: Callable[[str], int],
        dead_letter_topic: str | None = None,
        oversized: Callable[[str], None] | None = None,
    ) -> None:
        """``partitions``: a topic's partition count; ``dead_letter_topic``: where a
        record over the budget is named; ``oversized(topic)``: told of each (a metric)."""
        self.partitions = partitions
        self.dead_letter_topic = dead_letter_topic
        self.oversized = oversized
        self._pending: dict[tuple[str, int], _Pending] = {}
        self._round_robin = 0
        #: the guard partition whose work the records added now come from (None: none in
        #: particular); its records are forgotten if it is revoked before the flush
        self.origin: int | None = None

    def __len__(self) -> int:
        return sum(len(p.records) for p in self._pending.values())

    def add(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        timestamp_ms: Millis,
        partition: int | None = None,
        headers: Headers | None = None,
    ) -> None:
        """Queue a record; its partition is the key's (Kafka's default partitioner) unless
        given, and round-robin for a record without key."""
        size = len(key or b"") + len(value or b"")
        if headers:
            size += sum(len(n) + len(v) for n, v in headers)
        if size > MAX_RECORD_BYTES:
            self._over_budget(topic, key, value, size, timestamp_ms)
            return
        if partition is None:
            count = self.partitions(topic)
            if key is None:
                self._round_robin += 1
                partition = self._round_robin % count
            else:
                partition = partition_for(key, count)
        found = self._pending.get((topic, partition))
        if found is None:
            found = self._pending[(topic, partition)] = _Pending()
        found.records.append((key, value, timestamp_ms, headers or [], self.origin))

    def detach(self) -> Outbox:
        """Everything queued so far, in an outbox of its own (a flush's), leaving this one
        empty for the records that follow."""
        taken = Outbox(self.partitions, self.dead_letter_topic, self.oversized)
        taken._pending, self._pending = self._pending, {}
        return taken

    def forget(self, origins: set[int]) -> int:
        """Drop the records queued for the work of guard partitions ``origins`` (revoked:
        their new owner reads their input again, and publishing these after it has
        published newer records would let a stale status win). Returns how many."""
        dropped = 0
        for queued in self._pending.values():
            kept = [r for r in queued.records if r[4] not in origins]
            dropped += len(queued.records) - len(kept)
            queued.records = kept
        self._pending = {k: q for k, q in self._pending.items() if q.records}
        return dropped

    def _over_budget(
        self, topic: str, key: bytes | None, value: bytes | None, size: int, timestamp_ms: Millis
    ) -> None:
        log.error("a record for %s (key %r) is %d bytes, over the budget of %d: not "
                  "published; its start goes to the dead-letter topic", topic,
                  (key or b"")[:80], size, MAX_RECORD_BYTES)  # fmt: skip
        if self.oversized is not None:
            self.oversized(topic)
        if self.dead_letter_topic is None or topic == self.dead_letter_topic:
            return
        letter = dead_letter(topic, None, None,
                             f"record of {size} bytes over the budget of {MAX_RECORD_BYTES}",
                             value)  # fmt: skip
        self.add(self.dead_letter_topic, (key or b"")[:1024], encode(letter), timestamp_ms)

    def queued(self) -> list[tuple[str, int, bytes | None, bytes | None, Headers]]:
        """(topic, partition, key, value, headers) of each record queued, in order per
        topic partition."""
        return [
            (topic, partition, key, value, headers)
            for (topic, partition), queued in self._pending.items()
            for key, value, _, headers, _ in queued.records
        ]

    async def send(self, producer: AIOKafkaProducer) -> dict[tuple[str, int], int]:
        """Publish everything queued and wait for the broker; return the offset of the last
        record written to each topic partition."""
        pending, self._pending = self._pending, {}
        futures: list[tuple[tuple[str, int], int, asyncio.Future[Any]]] = []
        for (topic, partition), queued in pending.items():
            batch = producer.create_batch()
            count = 0
            for key, value, timestamp, headers, _ in queued.records:
                if batch.append(key=key, value=value, timestamp=timestamp, headers=headers) is None:
                    if count == 0:
                        raise ValueError(f"a record for {topic} is larger than a producer batch")
                    future = await producer.send_batch(batch, topic, partition=partition)
                    futures.append(((topic, partition), count, future))
                    batch, count = producer.create_batch(), 0
                    if batch.append(key=key, value=value, timestamp=timestamp,
                                    headers=headers) is None:  # fmt: skip
                        raise ValueError(f"a record for {topic} is larger than a producer batch")
                count += 1
            if count:
                future = await producer.send_batch(batch, topic, partition=partition)
                futures.append(((topic, partition), count, future))
        last: dict[tuple[str, int], int] = {}
        results = await asyncio.gather(*(future for _, _, future in futures))
        for (tp, count, _), metadata in zip(futures, results, strict=True):
            last[tp] = max(last.get(tp, -1), metadata.offset + count - 1)
        return last
