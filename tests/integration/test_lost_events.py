"""Records deleted before the guard read them: the worker says so loudly and goes on."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.records_to_delete import RecordsToDelete

from streams.partitioning import account_partition
from tests.integration.test_gate_and_metrics import samples
from tests.integration.traffic import deliveries

pytestmark = pytest.mark.integration


async def test_an_offset_reset_is_an_error_a_metric_and_a_failing_healthz(
    worker_factory, pipeline
) -> None:
    worker = worker_factory()
    await pipeline.send(deliveries("gone", 10))
    await pipeline.wait_drained()
    worker.stop()
    await pipeline.send(deliveries("gone", 20))
    # What retention does to a backlog nobody read in time: the next 10 records vanish.
    tp = TopicPartition(pipeline.topic("email.delivery"), account_partition("gone", 2))
    admin = AIOKafkaAdminClient(bootstrap_servers=pipeline.bootstrap)
    await admin.start()
    try:
        await admin.delete_records({tp: RecordsToDelete(before_offset=20)})
    finally:
        await admin.close()

    worker.start(ready=False)  # it never becomes ready: events were lost before it was
    deadline = time.monotonic() + 60
    status, health = 0, {}
    while True:
        try:
            async with aiohttp.ClientSession() as session:
                async with session.get(worker.url("/healthz")) as reply:
                    status, health = reply.status, await reply.json()
                async with session.get(worker.url("/metrics")) as reply:
                    metrics = samples(await reply.text())
        except aiohttp.ClientError:
            pass  # not listening yet
        if status == 503 and "events lost" in health.get("why", ""):
            break
        assert time.monotonic() < deadline, f"the reset went unnoticed: {health}"
        await asyncio.sleep(0.5)
    assert health["why"].startswith("events lost: 1 offset reset(s), the last at "), health
    labels = (("partition", str(tp.partition)), ("topic", tp.topic))
    assert metrics[("sendguard_offset_resets_total", labels)] == 1
    assert "EVENTS LOST" in worker.log_path.read_text()
    # The worker goes on with what is left: the 10 records after the deleted ones.
    await pipeline.wait_drained()
    consumer = AIOKafkaConsumer(bootstrap_servers=pipeline.bootstrap)
    await consumer.start()
    try:
        assert (await consumer.end_offsets([tp]))[tp] == 30
    finally:
        await consumer.stop()
    async with aiohttp.ClientSession() as session, session.get(worker.url("/metrics")) as reply:
        metrics = samples(await reply.text())
    accepted = (("outcome", "accepted"), ("topic", "email.delivery"))
    assert metrics[("sendguard_events_total", accepted)] == 10  # this process: 10 of 20
