"""An event stamped up to an hour ahead (the contract's clock-skew allowance) while the
worker drains a backlog: it is counted on arrival, and the events read after it on its
partition are counted as the backlog lets them, not only once the backlog is gone.
Order is judged by ``decided_at`` against a hit from the backlog's last minutes, so the
test does not depend on how fast the machine drains."""

from __future__ import annotations

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
    # A spam-trap hit from the backlog's last minutes, on another topic: counted once the
    # watermark is near the backlog's end, so decided near the end of the drain.
    marker = event("email.spam-trap", "late-marker", occurred_at=stamp(start + timedelta(minutes=57)))
    await create_topics(pipeline.bootstrap, [pipeline.topic(name) for name in INPUT_TOPICS])
    await pipeline.send([*backlog, *complaints, marker])
    worker = worker_factory()
    await pipeline.wait_drained(timeout=180)

    decided = {d["account_id"]: d["decided_at"] for d in await pipeline.decisions()
               if d["action"] == "suspend"}  # fmt: skip
    assert set(decided) == {ahead, victim, filler, "late-marker"}, worker.log_tail()
    # The stamp from the future is counted on arrival: held instead, it would wait for a
    # watermark that cannot pass it before every input is caught up (and pin its batch,
    # and the account's later messages in the row, meanwhile).
    assert decided[ahead] < decided["late-marker"], decided
    # The complaint behind it on its partition is counted once the watermark passes it,
    # a quarter into the backlog: before the hit from the backlog's last minutes.
    assert decided[victim] < decided["late-marker"], decided
    assert worker.proc.poll() is None
