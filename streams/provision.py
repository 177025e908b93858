"""Create the topics Sendguard reads and writes, with their cleanup policies, before start.

Faust declares only the topics its agents consume; the output topics must exist with the
right cleanup policy (compacted status and suppressions) before the first record, and
input topics are created too so a worker can start before its first producer. Topics that
already exist are left as they are.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from streams import topics as t
from streams.errors import StreamsError
from streams.settings import Settings
from tables import changelog_topic, shadow_table_specs, table_specs

log = logging.getLogger("sendguard.provision")


class ProvisionError(StreamsError):
    """The broker refused to create a topic Sendguard needs."""


def wanted_topics(settings: Settings, seen_ttl_days: int = 9) -> list[NewTopic]:
    def new(name: str, config: dict[str, str]) -> NewTopic:
        return NewTopic(
            settings.topic(name),
            num_partitions=settings.partitions,
            replication_factor=1,
            topic_configs=dict(config),
        )

    wanted = [new(name, t.APPEND_ONLY) for name in t.INPUT_TOPICS]
    wanted.append(new(t.ACCOUNTS, t.COMPACTED))
    wanted.extend(new(spec.name, spec.config) for spec in t.OUTPUT_SPECS)
    specs = table_specs(seen_ttl_days)
    if settings.shadow_policy_path is not None:
        specs += shadow_table_specs(seen_ttl_days)
    wanted.extend(
        NewTopic(
            changelog_topic(settings.app_id, spec.name),
            num_partitions=settings.partitions,
            replication_factor=1,
            topic_configs=dict(spec.changelog_configs),
        )
        for spec in specs
    )
    return wanted


async def ensure_topics(
    settings: Settings, timeout: float = 30.0, seen_ttl_days: int = 9
) -> dict[str, int]:
    """Create the missing topics; return the partition counts of the topics agents read."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=int(timeout * 1000)
    )
    try:
        await asyncio.wait_for(admin.start(), timeout)
    except (KafkaError, OSError, TimeoutError) as exc:
        raise ProvisionError(
            f"cannot reach Kafka at {settings.kafka_bootstrap}: {exc!r}; "
            "is it running? (`sendguard kafka up`)"
        ) from exc
    created: list[str] = []
    try:
        existing = set(await admin.list_topics())
        for topic in wanted_topics(settings, seen_ttl_days):
            if topic.name in existing:
                continue
            try:
                await admin.create_topics([topic])
                created.append(topic.name)
            except TopicAlreadyExistsError:
                pass
            except KafkaError as exc:
                raise ProvisionError(f"cannot create topic {topic.name}: {exc!r}") from exc
        inputs = [settings.topic(name) for name in (*t.INPUT_TOPICS, t.ACCOUNTS, t.EVENTS)]
        partitions = {
            described["topic"]: len(described["partitions"])
            for described in await admin.describe_topics(inputs)
        }
    finally:
        await admin.close()
    if created:
        log.info("created topics: %s", ", ".join(created))
    return partitions
