"""Measurements the benchmark takes: consume ceilings, drain times, process memory."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient


@dataclass
class Rate:
    messages: int
    seconds: float

    @property
    def per_s(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0


async def partitions(bootstrap: str, topics: list[str]) -> list[TopicPartition]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return [
            TopicPartition(t["topic"], p["partition"])
            for t in await admin.describe_topics(topics)
            for p in t["partitions"]
        ]
    finally:
        await admin.close()


async def raw_consume(bootstrap: str, topics: list[str], parse: bool = False) -> Rate:
    """The ceiling: a plain aiokafka consumer reading ``topics`` to their end."""
    tps = await partitions(bootstrap, topics)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 * 1024 * 1024, fetch_max_bytes=32 * 1024 * 1024,
    )  # fmt: skip
    await consumer.start()
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        total = sum(ends.values())
        seen = 0
        started: float | None = None
        while seen < total:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            if started is None and batches:
                started = time.monotonic()
            for messages in batches.values():
                seen += len(messages)
                if parse:
                    for message in messages:
                        with contextlib.suppress(ValueError):
                            json.loads(message.value)
        return Rate(seen, time.monotonic() - (started or time.monotonic()))
    finally:
        await consumer.stop()


def _metrics(port: int) -> dict[str, float]:
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
    return totals


async def wait_processed(ports: list[int], expected: int, progress: bool = True) -> float:
    """Seconds until the workers on ``ports`` have an outcome for ``expected`` input events
    (accepted, duplicate, invalid or late) and hold none back for event-time order."""
    started = time.monotonic()
    while True:
        done = held = 0.0
        for port in ports:
            try:
                totals = await asyncio.to_thread(_metrics, port)
            except OSError:
                totals = {}
            done += totals.get("sendguard_events_total", 0)
            held += totals.get("sendguard_held_events", 0)
        elapsed = time.monotonic() - started
        if progress:
            rate = done / max(elapsed, 1e-9)
            print(f"\r  sendguard: {done:,.0f}/{expected:,} events ({rate:,.0f}/s), "
                  f"{held:,.0f} held   ", end="", flush=True)  # fmt: skip
        if done >= expected and held == 0:
            if progress:
                print()
            return elapsed
        await asyncio.sleep(0.5)


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def tree_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def show(rows: list[tuple[str, Any]]) -> None:
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")
