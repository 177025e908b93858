"""The broker the session started is a real Kafka: a produce/consume round trip."""

from __future__ import annotations

import uuid

import pytest

from tests.integration.kafka_io import create_topics, produce, read_until

pytestmark = pytest.mark.integration


async def test_produce_consume_round_trip(kafka_bootstrap: str) -> None:
    topic = f"roundtrip-{uuid.uuid4().hex}"
    await create_topics(kafka_bootstrap, [topic], partitions=3)
    sent = [(topic, f"k{i % 5}".encode(), f"v{i}".encode()) for i in range(50)]
    await produce(kafka_bootstrap, sent)

    records = await read_until(kafka_bootstrap, [topic], lambda rs: len(rs) >= 50, timeout=30)

    assert sorted(r.value for r in records) == sorted(v for _, _, v in sent)
    # The same key always lands on the same partition.
    partitions_by_key: dict[bytes | None, set[int]] = {}
    for record in records:
        partitions_by_key.setdefault(record.key, set()).add(record.partition)
    assert all(len(p) == 1 for p in partitions_by_key.values())
    assert {r.partition for r in records} != {0}  # keys spread over partitions
