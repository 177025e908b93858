"""Questions to the broker apart from the worker's own clients: the demo, the benchmark, the
tests and ``GET /status`` ask them (which partitions a topic has, how far a consumer group
has committed, how many records a topic got lately)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient


async def topic_partitions(bootstrap: str, topics: list[str]) -> list[TopicPartition]:
    """Every partition of ``topics`` the broker knows (none for a topic not created yet).

    Asked of the admin client: a plain consumer's metadata may not know a topic yet."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    try:  # closed also when cancelled while starting (``GET /status`` times out)
        await admin.start()
        return described_partitions(await admin.describe_topics(topics))
    finally:
        await admin.close()


def described_partitions(described: list[dict[str, Any]]) -> list[TopicPartition]:
    """The partitions in an answer of the admin client's ``describe_topics``."""
    return [
        TopicPartition(topic["topic"], part["partition"])
        for topic in described
        for part in topic["partitions"]
    ]


async def end_offsets(bootstrap: str, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        return dict(await consumer.end_offsets(tps))
    finally:
        await consumer.stop()


async def uncommitted(
    bootstrap: str, group: str, tps: list[TopicPartition]
) -> dict[TopicPartition, tuple[int, int]]:
    """(committed offset, end offset) of each of ``tps`` whose messages ``group`` has not
    all committed (committed 0 when it has committed nothing there)."""
    ends = await end_offsets(bootstrap, tps)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return not_committed(ends, committed)


def not_committed(
    ends: Mapping[TopicPartition, int], committed: Mapping[TopicPartition, Any]
) -> dict[TopicPartition, tuple[int, int]]:
    """(committed offset, end offset) of each partition of ``ends`` not committed to its
    end, from an admin client's ``list_consumer_group_offsets`` answer (``committed``;
    0 for a partition the group has committed nothing on)."""
    found: dict[TopicPartition, tuple[int, int]] = {}
    for tp, end in ends.items():
        offset = max(committed[tp].offset, 0) if tp in committed else 0
        if offset < end:
            found[tp] = (offset, end)
    return found


async def appended_since(bootstrap: str, topics: list[str], since_ms: int) -> dict[str, int]:
    """Records appended to each of ``topics`` since ``since_ms`` (Unix milliseconds, by
    record timestamp): per partition, its end offset minus the first offset at or after
    that time."""
    tps = await topic_partitions(bootstrap, topics)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    try:
        await consumer.start()
        ends = await consumer.end_offsets(tps)
        firsts = await consumer.offsets_for_times(dict.fromkeys(tps, since_ms))
    finally:
        await consumer.stop()
    counts = dict.fromkeys(topics, 0)
    for tp in tps:
        first = firsts.get(tp)
        if first is not None:
            counts[tp.topic] += ends[tp] - first.offset
    return counts
