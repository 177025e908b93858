"""Event-to-decision latency under live traffic: produce, then time until readable."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.measure import partitions


def _now_rfc3339() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def probe(
    bootstrap: str, prefix: str, seconds: float = 20.0, background_per_s: int = 1000,
    probes_per_s: int = 10,
) -> list[float]:  # fmt: skip
    """Abuse complaints (each suspends a fresh account at once) amid background deliveries;
    returns seconds from handing each complaint to the producer to reading its decision."""
    decisions_topic = f"{prefix}sendguard.decisions"
    tps = await partitions(bootstrap, [decisions_topic])
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    consumer.assign(tps)
    await consumer.seek_to_end(*tps)
    for tp in tps:
        await consumer.position(tp)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=1)
    await producer.start()
    sent_at: dict[str, float] = {}
    latencies: list[float] = []
    done = asyncio.Event()

    async def read() -> None:
        while not done.is_set() or len(latencies) < len(sent_at):
            batches = await consumer.getmany(timeout_ms=200)
            now = time.monotonic()
            for messages in batches.values():
                for message in messages:
                    decision = json.loads(message.value)
                    started = sent_at.get(decision["account_id"])
                    if started is not None and decision["action"] == "suspend":
                        latencies.append(now - started)
            if done.is_set() and time.monotonic() - stop_time > 30:
                break

    stop_time = float("inf")
    reader = asyncio.create_task(read())
    tick = 1.0 / probes_per_s
    per_tick = max(1, background_per_s // probes_per_s)
    n = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        began = time.monotonic()
        for i in range(per_tick):
            account = f"bg-{(n * per_tick + i) % 500}"
            body = {
                "event_id": f"lat-bg-{n}-{i}", "account_id": account,
                "occurred_at": _now_rfc3339(), "recipient": f"r{i}@{account}.example",
            }  # fmt: skip
            await producer.send(
                f"{prefix}email.delivery", json.dumps(body).encode(), key=account.encode()
            )
        account = f"lat-{n}"
        body = {"event_id": f"lat-abuse-{n}", "account_id": account,
                "occurred_at": _now_rfc3339(), "complaint_id": f"c{n}"}  # fmt: skip
        sent_at[account] = time.monotonic()
        await producer.send(
            f"{prefix}email.abuse-desk", json.dumps(body).encode(), key=account.encode()
        )
        n += 1
        await asyncio.sleep(max(0.0, tick - (time.monotonic() - began)))
    await producer.flush()
    stop_time = time.monotonic()
    done.set()
    await reader
    await producer.stop()
    await consumer.stop()
    return latencies
