"""Create the topics Sendguard reads and writes, with their cleanup policies, before start.

Faust declares only the topics its agents consume; the output topics must exist with the
right cleanup policy (compacted status and suppressions) before the first record, and
input topics are created too so a worker can start before its first producer. Topics that
already exist are left as they are, but their partition counts are checked first: the
worker refuses to start on a count that would crash it or split an account's rows.

Every topic is created replicated (:class:`Replication`, chosen from the cluster unless
set), with ``min.insync.replicas`` and ``max.message.bytes`` set on the topic itself, so
that a cluster with other broker defaults behaves the same.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from policy import Policy, load_policy
from schemas.limits import TOPIC_MAX_MESSAGE_BYTES
from streams import topics as t
from streams.errors import StreamsError
from streams.settings import Settings
from tables import changelog_topic, shadow_table_specs, table_specs

log = logging.getLogger("sendguard.provision")


class ProvisionError(StreamsError):
    """The broker refused to create a topic Sendguard needs, or a topic cannot be used."""


@dataclass(frozen=True)
class Replication:
    """How the topics Sendguard creates are replicated, and why (said once at start)."""

    factor: int
    min_insync: int
    why: str


def default_min_insync(factor: int) -> int:
    """A majority of the replicas from 3 on (3 -> 2), else 1: a write is acknowledged by
    at least two brokers, and one broker can be lost without stopping writes."""
    return factor // 2 + 1 if factor >= 3 else 1


def choose_replication(settings: Settings, brokers: int) -> Replication:
    """Replication factor and min ISR: the settings', else the cluster's (``brokers``)."""
    plural = "broker" if brokers == 1 else "brokers"
    factor = settings.replication_factor
    if factor is None:
        factor = min(3, brokers)
        source = f"{brokers} {plural}"
    else:
        source = f"SENDGUARD_REPLICATION_FACTOR={factor}, {brokers} {plural}"
        if factor > brokers:
            raise ProvisionError(
                f"SENDGUARD_REPLICATION_FACTOR is {factor} but the cluster at "
                f"{settings.kafka_bootstrap} has {brokers} {plural}: set it to at most "
                f"{brokers}, or unset it to take the cluster's default"
            )
    min_insync = settings.min_insync_replicas
    if min_insync is None:
        min_insync = default_min_insync(factor)
    else:
        source += f", SENDGUARD_MIN_INSYNC_REPLICAS={min_insync}"
        if min_insync > factor:
            raise ProvisionError(
                f"SENDGUARD_MIN_INSYNC_REPLICAS is {min_insync} but the replication factor is "
                f"{factor} ({source}): no write could succeed; set it to at most {factor}"
            )
    why = f"{source}: replication factor {factor}, min.insync.replicas {min_insync}"
    if factor == 1:
        why += " (a single copy: losing its broker loses the topics and the table state)"
    return Replication(factor, min_insync, why)


def wanted_topics(
    settings: Settings, replication: Replication | None = None, policy: Policy | None = None
) -> list[NewTopic]:
    """``policy``: the settings' policy (loaded from its file if not given)."""
    replication = replication or Replication(1, 1, "")
    # The seen-events changelog keeps ids as long as the policy's tables do.
    seen_ttl_days = (policy or load_policy(settings.policy_path)).seen_id_days

    def new(name: str, config: dict[str, str], partitions: int | None = None) -> NewTopic:
        return NewTopic(
            name,
            num_partitions=partitions or settings.partitions,
            replication_factor=replication.factor,
            topic_configs={
                **config,
                "min.insync.replicas": str(replication.min_insync),
                "max.message.bytes": str(TOPIC_MAX_MESSAGE_BYTES),
            },
        )

    wanted = [new(settings.topic(name), t.APPEND_ONLY) for name in t.INPUT_TOPICS]
    wanted.append(new(settings.topic(t.ACCOUNTS), t.COMPACTED))
    wanted.extend(
        new(settings.topic(spec.name), spec.config, spec.partitions) for spec in t.OUTPUT_SPECS
    )
    specs = table_specs(seen_ttl_days)
    if settings.shadow_policy_path is not None:
        specs += shadow_table_specs(seen_ttl_days)
    wanted.extend(
        new(changelog_topic(settings.app_id, spec.name), dict(spec.changelog_configs))
        for spec in specs
    )
    return wanted


def partition_problems(settings: Settings, counts: dict[str, int]) -> str | None:
    """One line naming every existing topic whose partition count Sendguard cannot use,
    and how to fix it; None when all fit.

    Accounts are routed to partitions by murmur2 over ``SENDGUARD_PARTITIONS``, and a
    table partition is its changelog's partition: an input, ``sendguard.events`` or a
    changelog with another count would split an account's rows between two workers or
    break faust's recovery. An output topic may have more partitions (the guard writes
    to the first ones), not fewer."""
    want = settings.partitions
    changelogs = {changelog_topic(settings.app_id, spec.name)
                  for spec in table_specs(9) + shadow_table_specs(9)}  # fmt: skip
    outputs = {settings.topic(spec.name) for spec in t.OUTPUT_SPECS} - {settings.topic(t.EVENTS)}
    fixed = {settings.topic(spec.name): spec.partitions
             for spec in t.OUTPUT_SPECS if spec.partitions}  # fmt: skip
    wrong = {
        name: count
        for name, count in counts.items()
        if name not in fixed and (count < want if name in outputs else count != want)
    }
    if not wrong:
        return None
    named = ", ".join(f"{name} has {count} partitions" for name, count in sorted(wrong.items()))
    them = "the topic" if len(wrong) == 1 else "those topics"
    others = set(wrong.values())
    if len(others) == 1 and set(counts.values()) == others:
        (other,) = others
        remedy = (f"set SENDGUARD_PARTITIONS={other} (all topics must match) or recreate "
                  f"{them} with {want} partitions")  # fmt: skip
    else:
        remedy = f"recreate {them} with {want} partitions (all topics must match)"
    if changelogs & wrong.keys():
        remedy += "; a changelog holds table state, recreating it starts the tables empty"
    return f"{named}, SENDGUARD_PARTITIONS is {want}: {remedy}"


@dataclass(frozen=True)
class Provisioned:
    """What ``ensure_topics`` found: partition counts of the topics agents read, and the
    replication the topics were created with."""

    partitions: dict[str, int]
    replication: Replication


async def ensure_topics(
    settings: Settings, policy: Policy | None = None, timeout: float = 30.0
) -> Provisioned:
    """Check the existing topics, create the missing ones."""
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
        brokers = len((await admin.describe_cluster())["brokers"])
        replication = choose_replication(settings, brokers)
        existing = set(await admin.list_topics())
        wanted = wanted_topics(settings, replication, policy)
        present = [topic.name for topic in wanted if topic.name in existing]
        counts = await _partition_counts(admin, present)
        problems = partition_problems(settings, counts)
        if problems is not None:
            raise ProvisionError(problems)
        if present:
            log.debug("topics that exist are left as they are: %s", ", ".join(present))
        for topic in wanted:
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
        partitions = await _partition_counts(admin, inputs)
    finally:
        await admin.close()
    if created:
        log.info("created topics: %s", ", ".join(created))
    return Provisioned(partitions, replication)


async def _partition_counts(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, int]:
    if not names:
        return {}
    return {
        described["topic"]: len(described["partitions"])
        for described in await admin.describe_topics(names)
    }
