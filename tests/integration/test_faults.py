"""Faults with real processes: SIGKILL mid-stream, failover between two workers, a broker
restart. Whatever happens, the published decisions and the counts equal the ground truth
(the pure guard over the same events): nothing lost, nothing counted twice.

SENDGUARD_TEST_KILLS sets the number of kills (3 by default, 10 for the long run).
"""

from __future__ import annotations

import asyncio
import os
import random

import pytest

from tests.integration.chaos import assert_matches_truth, ground_truth, month_of_traffic
from tests.integration.http import AUTH_ENV

pytestmark = pytest.mark.integration

KILLS = int(os.environ.get("SENDGUARD_TEST_KILLS", "3"))


async def test_kill_9_mid_stream_loses_nothing_and_counts_nothing_twice(
    worker_factory, pipeline
) -> None:
    events = month_of_traffic()
    truth = ground_truth(events)
    worker = worker_factory(**AUTH_ENV)  # creates the topics
    worker.stop()
    await pipeline.send(events)
    rng = random.Random(2026)
    mid_stream = 0
    for _ in range(KILLS):
        worker.start()
        await asyncio.sleep(rng.uniform(0.5, 2.5))
        if await pipeline._behind():
            mid_stream += 1
        worker.kill()
    worker.start()
    await pipeline.wait_drained(timeout=180)
    await assert_matches_truth(pipeline, worker.url(""), truth)
    assert mid_stream >= 1, "no kill landed while work was pending"
    print(
        f"\nkill -9: {KILLS} kills ({mid_stream} mid-stream), {len(events)} events, "
        f"{len(truth.decisions)} decisions, 0 lost, 0 double-counted"
    )
