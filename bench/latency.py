"""Event-to-decision latency under live traffic: produce, then time until the decision
can be read from ``sendguard.decisions``.

Two probes ride on background deliveries:

- **absolute**: an abuse-desk complaint for a fresh account, which suspends at once;
- **rate**: a fresh account sends 1,000 deliveries and then hard bounces; the 51st bounce
  crosses the 5 % limit. Timed from handing that bounce to the producer.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streams.kafka_admin import topic_partitions

RATE_SENDS = 1000
RATE_CROSSING_BOUNCE = 51  # 51 / 1000 > 5 %


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Latencies:
    absolute: list[float] = field(default_factory=list)
    rate: list[float] = field(default_factory=list)
    background_per_s: float = 0.0


async def probe(
    bootstrap: str, prefix: str, seconds: float, background_per_s: int,
    absolute_per_s: int = 10, rate_every_s: float = 2.0,
) -> Latencies:  # fmt: skip
    decisions_topic = f"{prefix}sendguard.decisions"
    tps = await topic_partitions(bootstrap, [decisions_topic])
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    consumer.assign(tps)
    await consumer.seek_to_end(*tps)
    for tp in tps:
        await consumer.position(tp)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=2)
    await producer.start()
    run = f"{time.time():.0f}"
    sent_at: dict[str, tuple[str, float]] = {}  # account -> (kind, handed to producer)
    result = Latencies()
    done = asyncio.Event()

    async def read() -> None:
        expected = 0
        while True:
            batches = await consumer.getmany(timeout_ms=200)
            now = time.monotonic()
            for messages in batches.values():
                for message in messages:
                    decision = json.loads(message.value)
                    found = sent_at.get(decision["account_id"])
                    if found is not None and decision["action"] == "suspend":
                        kind, started = found
                        getattr(result, kind).append(now - started)
            if done.is_set():
                expected = expected or time.monotonic() + 30
                measured = len(result.absolute) + len(result.rate)
                if measured >= len(sent_at) or time.monotonic() > expected:
                    return

    async def send(topic: str, body: dict[str, object]) -> None:
        await producer.send(f"{prefix}{topic}", json.dumps(body).encode(),
                            key=str(body["account_id"]).encode())  # fmt: skip

    reader = asyncio.create_task(read())
    tick = 1.0 / absolute_per_s
    per_tick = max(1, background_per_s // absolute_per_s)
    n = sent = 0
    next_rate = time.monotonic()
    started = time.monotonic()
    deadline = started + seconds
    while time.monotonic() < deadline:
        began = time.monotonic()
        now = datetime.now(UTC)
        for i in range(per_tick):
            account = f"bg-{run}-{(n * per_tick + i) % 500}"
            await send("email.delivery", {
                "event_id": f"bg-{run}-{n}-{i}", "account_id": account, "occurred_at": _stamp(now),
                "recipient": f"r{i}@{account}.example",
            })  # fmt: skip
        sent += per_tick
        account = f"abuse-{run}-{n}"
        sent_at[account] = ("absolute", time.monotonic())
        await send(
            "email.abuse-desk",
            {
                "event_id": f"{account}-c",
                "account_id": account,
                "occurred_at": _stamp(now),
                "complaint_id": "c",
            },
        )
        if began >= next_rate:
            next_rate = began + rate_every_s
            sent += await _rate_probe(send, f"rate-{run}-{n}", now, sent_at)
        n += 1
        await asyncio.sleep(max(0.0, tick - (time.monotonic() - began)))
    result.background_per_s = sent / (time.monotonic() - started)
    await producer.flush()
    done.set()
    await reader
    await producer.stop()
    await consumer.stop()
    return result


async def _rate_probe(send, account: str, now: datetime, sent_at: dict) -> int:  # type: ignore[no-untyped-def]
    """1,000 deliveries, then hard bounces until the limit is crossed; returns messages."""
    at = now - timedelta(seconds=2)
    for i in range(RATE_SENDS):
        await send(
            "email.delivery",
            {
                "event_id": f"{account}-d{i}",
                "account_id": account,
                "occurred_at": _stamp(at),
                "recipient": f"u{i}@x.example",
            },
        )
    for i in range(1, RATE_CROSSING_BOUNCE + 1):
        if i == RATE_CROSSING_BOUNCE:
            sent_at[account] = ("rate", time.monotonic())
        await send("email.bounce", {"event_id": f"{account}-b{i}", "account_id": account,
                                    "occurred_at": _stamp(now), "recipient": f"u{i}@x.example",
                                    "bounce_type": "hard"})  # fmt: skip
    return RATE_SENDS + RATE_CROSSING_BOUNCE
