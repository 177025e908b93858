"""An event stamped up to an hour ahead (the contract's clock-skew allowance) while the
worker drains a backlog: the events read after it on its partition are counted as the
backlog lets them, not only once the backlog is gone."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from streams.partitioning import account_partition
from streams.topics import INPUT_TOPICS
from tests.integration.kafka_io import create_topics
from tests.integration.traffic import event, stamp

pytestmark = pytest.mark.integration

BACKLOG = 60_000
ACCOUNTS = 40


def same_partition(name: str, partitions: int = 2) -> tuple[str, str]:
    found = [f"{name}-{n}" for n in range(200) if account_partition(f"{name}-{n}", partitions) == 0]
    return found[0], found[1]


async def test_a_stamp_from_the_future_does_not_stall_its_partition_behind_a_backlog(
    worker_factory, pipeline
) -> None:
    now = datetime.now(UTC)
    start = now - timedelta(minutes=60)
    step = timedelta(minutes=58) / BACKLOG
    backlog = [
        event("email.delivery", f"sender-{n % ACCOUNTS}", recipient=f"r{n}@x.example",
              occurred_at=stamp(start + n * step))
        for n in range(BACKLOG)
    ]  # fmt: skip
    ahead, victim = same_partition("abuse")
    filler = same_partition("filler")[0]
    complaints = [
        # The MTA's clock is 50 minutes fast: the contract accepts its stamp.
        event("email.abuse-desk", ahead, occurred_at=stamp(now + timedelta(minutes=50))),
        # More than one fetch of the same partition (1 MiB) before the next complaint.
        *(event("email.abuse-desk", filler, summary="x" * 2000,
                occurred_at=stamp(start + timedelta(minutes=1)))
          for _ in range(1000)),
        # A complaint from the first quarter of the backlog's hour.
        event("email.abuse-desk", victim, occurred_at=stamp(start + timedelta(minutes=15))),
    ]  # fmt: skip
    await create_topics(pipeline.bootstrap, [pipeline.topic(name) for name in INPUT_TOPICS])
    await pipeline.send(backlog + complaints)
    worker = worker_factory()

    deadline = time.monotonic() + 180
    remaining = None
    while time.monotonic() < deadline:
        decisions = await pipeline.decisions()
        if any(d["account_id"] == victim and d["action"] == "suspend" for d in decisions):
            behind = await pipeline.behind()
            remaining = sum(end - committed for (committed, end) in behind.values())
            break
        await asyncio.sleep(0.5)
    assert remaining is not None, f"{victim} never suspended\n{worker.log_tail()}"
    # Counted once the watermark passed it, about a quarter into the backlog; held back
    # behind the whole backlog, it would come only once nothing else is left to read.
    assert remaining > BACKLOG // 10, remaining
    await pipeline.wait_drained(timeout=180)
    suspended = {d["account_id"] for d in await pipeline.decisions() if d["action"] == "suspend"}
    assert suspended == {ahead, victim, filler}
    assert worker.proc.poll() is None
