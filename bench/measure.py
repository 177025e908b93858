"""Measurements the benchmark takes: consume ceilings, drain times, process memory."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streams.kafka_admin import described_partitions, not_committed, topic_partitions
from streams.metrics import scrape_totals

#: How often a drain reads the workers' event counters, and asks the broker how much
#: the group has left to commit.
COUNT_EVERY_S = 0.1
BEHIND_EVERY_S = 0.5
#: The samples a drain reads (``/metrics?name[]=``: not every partition's series).
COUNTED = ("sendguard_events_total", "sendguard_held_events")


@dataclass
class Rate:
    messages: int
    seconds: float

    @property
    def per_s(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0


async def raw_consume(bootstrap: str, topics: list[str], parse: bool = False) -> Rate:
    """The ceiling: a plain aiokafka consumer reading ``topics`` to their end."""
    tps = await topic_partitions(bootstrap, topics)
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


class GroupWatch:
    """How many messages of ``topics`` a consumer group has not committed yet, asked over
    clients kept open: a new admin client and consumer per question
    (``streams.kafka_admin.uncommitted``) took 0.2 to 0.4 s on this machine, which a
    drain's end was timed with."""

    def __init__(self, bootstrap: str, group: str, topics: list[str]) -> None:
        self.group = group
        self.topics = topics
        self.admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
        self.tps: list[TopicPartition] = []

    async def __aenter__(self) -> GroupWatch:
        await self.admin.start()
        await self.consumer.start()
        self.tps = described_partitions(await self.admin.describe_topics(self.topics))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()
        await self.admin.close()

    async def behind(self) -> int:
        ends = await self.consumer.end_offsets(self.tps)
        committed = await self.admin.list_consumer_group_offsets(self.group)
        return sum(end - offset for offset, end in not_committed(ends, committed).values())


@dataclass
class Drain:
    """Seconds from the call: to the group having committed everything, to the workers'
    event counters first above 0, and to every event applied (``events`` counted and
    none held for its turn in event time; None: not seen)."""

    committed_s: float
    first_event_s: float | None = None
    all_events_s: float | None = None

    def steady_per_s(self, events: int) -> float | None:
        """Events per second from the first event counted to the last applied (as the
        quix peer times itself: without start-up and the last commit)."""
        if self.first_event_s is None or self.all_events_s is None:
            return None
        return events / max(self.all_events_s - self.first_event_s, 1e-9)


async def wait_drained(
    bootstrap: str,
    group: str,
    topics: list[str],
    ports: list[int],
    progress: bool = True,
    events: int | None = None,
) -> Drain:
    """Until the group has committed every message of ``topics`` (the input and internal
    topics): the exact end of the work, whatever was read twice on the way. Reads the
    workers' event counts meanwhile, every ``COUNT_EVERY_S``, and shows them."""
    async with GroupWatch(bootstrap, group, topics) as watch:
        return await _drain(watch, ports, progress, events)


async def _drain(watch: GroupWatch, ports: list[int], progress: bool, events: int | None) -> Drain:
    started = time.monotonic()
    drain = Drain(0.0)
    asked = 0.0
    while True:
        elapsed = time.monotonic() - started
        done = held = 0.0
        for port in ports:
            with contextlib.suppress(OSError):
                totals = await asyncio.to_thread(scrape_totals, port, names=COUNTED)
                done += totals.get("sendguard_events_total", 0)
                held += totals.get("sendguard_held_events", 0)
        if done and drain.first_event_s is None:
            drain.first_event_s = elapsed
        # Applied: counted (an event is, as it comes in) and none held for its turn.
        if events is not None and done >= events and not held and drain.all_events_s is None:
            drain.all_events_s = elapsed
        if elapsed - asked >= BEHIND_EVERY_S or drain.all_events_s is not None:
            asked = elapsed
            behind = await watch.behind()
            if progress:
                rate = done / max(elapsed, 1e-9)
                print(f"\r  sendguard: {done:,.0f} events read ({rate:,.0f}/s), "
                      f"{behind:,} messages not committed   ", end="", flush=True)  # fmt: skip
            if behind == 0:
                if progress:
                    print()
                drain.committed_s = time.monotonic() - started
                if events is not None and drain.all_events_s is None:
                    drain.all_events_s = drain.committed_s  # counted since the last read
                return drain
        await asyncio.sleep(COUNT_EVERY_S)


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def tree_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def provenance() -> dict[str, str]:
    """When, on which commit and on what machine a benchmark ran (its JSON's head)."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, check=False, cwd=Path(__file__).parent)  # fmt: skip
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit.stdout.strip() or "unknown",
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
    }


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
