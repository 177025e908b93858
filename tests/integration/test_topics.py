"""The topics a worker starts on, against the session's single broker: created replicated
as the cluster allows, with their limits set on the topic; a partition count that does not
match SENDGUARD_PARTITIONS, or a replication factor the cluster cannot have, stops the
worker at start with one line and exit code 1, before it creates anything."""

from __future__ import annotations

from typing import Any

import pytest

from schemas.limits import TOPIC_MAX_MESSAGE_BYTES
from streams.kafka_admin import topic_partitions
from streams.provision import ensure_topics
from streams.settings import Settings
from tests.integration.kafka_io import create_topics, replicas, topic_configs

pytestmark = pytest.mark.integration


def one_error_line(worker: Any, timeout: float = 60.0) -> str:
    """Wait for the worker to exit with code 1; the one error line it printed."""
    assert worker.proc is not None
    assert worker.proc.wait(timeout) == 1, worker.log_tail()
    log = worker.log_path.read_text()
    assert "Traceback" not in log, log
    output = [line for line in log.splitlines() if line and not line.startswith("=====")]
    assert len(output) == 1, log
    assert output[0].startswith("sendguard: error: "), log
    return output[0]


async def test_a_single_broker_gets_one_copy_and_every_topic_its_limits(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    settings = Settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix,
                        app_id=f"{topic_prefix}sendguard", partitions=2)  # fmt: skip
    provisioned = await ensure_topics(settings)
    replication = provisioned.replication
    assert (replication.factor, replication.min_insync) == (1, 1)
    assert replication.why.startswith("1 broker: replication factor 1, min.insync.replicas 1")
    names = [settings.topic("email.bounce"), settings.topic("sendguard.decisions"),
             f"{settings.app_id}-accounts-changelog"]  # fmt: skip
    configs = await topic_configs(kafka_bootstrap, names)
    for name in names:
        assert configs[name]["min.insync.replicas"] == "1", name
        assert configs[name]["max.message.bytes"] == str(TOPIC_MAX_MESSAGE_BYTES), name
    assert await replicas(kafka_bootstrap, names) == {name: {1} for name in names}


async def test_an_input_topic_with_another_partition_count_stops_the_worker_at_start(
    kafka_bootstrap: str, topic_prefix: str, worker_factory: Any
) -> None:
    bounce = f"{topic_prefix}email.bounce"
    await create_topics(kafka_bootstrap, [bounce], partitions=3)
    worker = worker_factory(start=False)  # SENDGUARD_PARTITIONS=2
    worker.start(ready=False)
    line = one_error_line(worker)
    assert line == (
        f"sendguard: error: {bounce} has 3 partitions, SENDGUARD_PARTITIONS is 2: set "
        "SENDGUARD_PARTITIONS=3 (all topics must match) or recreate the topic with 2 partitions"
    )
    # Refused before creating anything: the other topics are not there.
    assert await topic_partitions(kafka_bootstrap, [f"{topic_prefix}email.delivery"]) == []


async def test_a_replication_factor_above_the_brokers_stops_the_worker_at_start(
    kafka_bootstrap: str, topic_prefix: str, worker_factory: Any
) -> None:
    worker = worker_factory(start=False, SENDGUARD_REPLICATION_FACTOR="3")
    worker.start(ready=False)
    line = one_error_line(worker)
    assert "SENDGUARD_REPLICATION_FACTOR is 3 but the cluster at" in line
    assert "has 1 broker: set it to at most 1" in line
    assert await topic_partitions(kafka_bootstrap, [f"{topic_prefix}email.delivery"]) == []
