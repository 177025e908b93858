"""Small aiokafka helpers for the integration tests: produce JSON, read topics to the end."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int = 0
    """Epoch milliseconds, as Kafka stores it."""

    def json(self) -> Any:
        return json.loads(self.value) if self.value is not None else None


async def create_topics(
    bootstrap: str, names: Iterable[str], partitions: int = 2, configs: dict[str, str] | None = None
) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        topics = [
            NewTopic(name, num_partitions=partitions, replication_factor=1,
                     topic_configs=configs or {})
            for name in names
        ]  # fmt: skip
        await admin.create_topics(topics)
    finally:
        await admin.close()


async def produce(
    bootstrap: str, messages: Iterable[tuple[str, bytes | None, bytes | None]]
) -> int:
    """Send (topic, key, value) triples and wait until the broker has them all."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=8 * 1024 * 1024)
    await producer.start()
    count = 0
    try:
        futures = []
        for topic, key, value in messages:
            futures.append(await producer.send(topic, key=key, value=value))
            count += 1
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return count


def event_message(topic: str, event: dict[str, Any]) -> tuple[str, bytes, bytes]:
    return topic, str(event.get("account_id", "")).encode(), json.dumps(event).encode()


async def read_until(
    bootstrap: str,
    topics: list[str],
    done: Callable[[list[Record]], bool],
    timeout: float = 60.0,
) -> list[Record]:
    """Read ``topics`` from the beginning until ``done(records)`` or the timeout."""
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
        metadata_max_age_ms=1000,
    )
    await consumer.start()
    records: list[Record] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not done(records):
            batch = await consumer.getmany(timeout_ms=500)
            for tp, messages in batch.items():
                records.extend(
                    Record(tp.topic, tp.partition, m.offset, m.key, m.value, m.timestamp)
                    for m in messages
                )
    finally:
        await consumer.stop()
    return records


async def read_all(bootstrap: str, topics: list[str], settle: float = 2.0) -> list[Record]:
    """Everything on ``topics`` now: read until nothing new arrives for ``settle`` seconds."""
    last_change = [time.monotonic(), 0]

    def quiet(records: list[Record]) -> bool:
        if len(records) != last_change[1]:
            last_change[:] = [time.monotonic(), len(records)]
        return time.monotonic() - last_change[0] > settle

    return await read_until(bootstrap, topics, quiet, timeout=120.0)


async def topic_configs(bootstrap: str, names: list[str]) -> dict[str, dict[str, str]]:
    """Each topic's configuration as the broker reports it."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        found: dict[str, dict[str, str]] = {}
        for name in names:
            (response,) = await admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, name)]
            )
            for _, _, _, _, entries in response.resources:
                found[name] = {entry[0]: entry[1] for entry in entries}
        return found
    finally:
        await admin.close()


async def replicas(bootstrap: str, names: list[str]) -> dict[str, set[int]]:
    """The number of replicas of each partition, per topic."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return {
            topic["topic"]: {len(p["replicas"]) for p in topic["partitions"]}
            for topic in await admin.describe_topics(names)
        }
    finally:
        await admin.close()
