"""Records waiting to be published at the guard's next flush, and their publication.

The guard publishes a batch's records together: one producer batch per topic partition
(aiokafka's ``create_batch``/``send_batch``), all sent at once and awaited once. Every
record carries the time it describes, in epoch milliseconds as Kafka expects.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer

from streams.partitioning import partition_for

#: Kafka's timestamps are epoch milliseconds.
Millis = int


Headers = list[tuple[str, bytes]]


@dataclass
class _Pending:
    records: list[tuple[bytes | None, bytes | None, Millis, Headers]] = field(default_factory=list)


class Outbox:
    def __init__(self, partitions: Callable[[str], int]) -> None:
        self.partitions = partitions
        self._pending: dict[tuple[str, int], _Pending] = {}
        self._round_robin = 0

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
        found.records.append((key, value, timestamp_ms, headers or []))

    def queued(self) -> list[tuple[str, int, bytes | None, bytes | None, Headers]]:
        """(topic, partition, key, value, headers) of each record queued, in order per
        topic partition."""
        return [
            (topic, partition, key, value, headers)
            for (topic, partition), queued in self._pending.items()
            for key, value, _, headers in queued.records
        ]

    async def send(self, producer: AIOKafkaProducer) -> dict[tuple[str, int], int]:
        """Publish everything queued and wait for the broker; return the offset of the last
        record written to each topic partition."""
        pending, self._pending = self._pending, {}
        futures: list[tuple[tuple[str, int], int, asyncio.Future[Any]]] = []
        for (topic, partition), queued in pending.items():
            batch = producer.create_batch()
            count = 0
            for key, value, timestamp, headers in queued.records:
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
