"""Inputs written by transactional producers (Kafka Connect, Flink, Kafka Streams with
exactly-once): records of an aborted transaction are never counted, and a partition whose
log ends in a transaction marker is caught up, so the watermark does not wait on it."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from tests.integration.http import AUTH_ENV, OPERATOR_TOKEN, call
from tests.integration.traffic import bounces, deliveries, event

pytestmark = pytest.mark.integration


async def send_in_transaction(
    bootstrap: str, prefix: str, events: list[dict[str, Any]], commit: bool
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True,
                                transactional_id=f"{prefix}tx-{uuid.uuid4().hex[:8]}")  # fmt: skip
    await producer.start()
    try:
        await producer.begin_transaction()
        futures = [
            await producer.send(
                prefix + e["topic"], key=e["account_id"].encode(),
                value=json.dumps({k: v for k, v in e.items() if k != "topic"}).encode(),
            )
            for e in events
        ]  # fmt: skip
        await asyncio.gather(*futures)
        if commit:
            await producer.commit_transaction()
        else:
            await producer.abort_transaction()
    finally:
        await producer.stop()


async def account(worker: Any, account_id: str) -> dict[str, Any]:
    reply = await call(worker.url(""), "GET", f"/accounts/{account_id}", OPERATOR_TOKEN)
    return reply.json() if reply.status == 200 else {}


async def wait_for(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.5)


async def test_transactional_inputs_aborted_records_and_a_log_ending_in_a_marker(
    worker_factory, pipeline, kafka_bootstrap, topic_prefix
) -> None:
    worker = worker_factory(**AUTH_ENV)

    # A log that ends in a commit marker: the complaint's partition is caught up once its
    # one record is read (the marker takes the offset after it), so the watermark lets
    # the complaint through and the account is suspended.
    await send_in_transaction(kafka_bootstrap, topic_prefix,
                              [event("email.abuse-desk", "tx-marker")], commit=True)  # fmt: skip

    async def suspended() -> bool:
        return any(d["account_id"] == "tx-marker" and d["action"] == "suspend"
                   for d in await pipeline.decisions())  # fmt: skip

    await wait_for(suspended, 40, "the complaint before a commit marker counted")

    # An aborted transaction is never counted: 100 hard bounces in it would suspend.
    await pipeline.send(deliveries("tx-abort", 1000))
    await send_in_transaction(kafka_bootstrap, topic_prefix, bounces("tx-abort", 100),
                              commit=False)  # fmt: skip
    await send_in_transaction(kafka_bootstrap, topic_prefix,
                              bounces("tx-abort", 10, start=100), commit=True)  # fmt: skip

    async def counted() -> bool:
        view = await account(worker, "tx-abort")
        counts = view.get("channels", {}).get("marketing", {}).get("counts", {})
        return counts.get("sent") == 1000 and counts.get("hard_bounces", 0) >= 10

    await wait_for(counted, 40, "the deliveries and the committed bounces counted")
    await asyncio.sleep(2)  # anything else read would be counted by now
    view = await account(worker, "tx-abort")
    marketing = view["channels"]["marketing"]
    assert marketing["counts"]["hard_bounces"] == 10
    assert marketing["state"] == "active"
    assert not [d for d in await pipeline.decisions() if d["account_id"] == "tx-abort"]

    # Markers are no work waiting: the lag reads 0 and the worker is not stalled.
    reply = await call(worker.url(""), "GET", "/metrics")
    lags = [line for line in reply.text.splitlines()
            if line.startswith("sendguard_consumer_lag_messages{")]  # fmt: skip
    assert lags and all(line.endswith(" 0.0") for line in lags), lags
    assert worker.proc.poll() is None
