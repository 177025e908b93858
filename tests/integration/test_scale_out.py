"""Workers join and leave a group under live load: a second and a third worker join while
traffic flows, then one is stopped with SIGTERM and another killed with SIGKILL. No
worker exits with an error (every timer and view that asks the consumer about a
partition survives its revoke), and the end state equals the offline replay."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from offline.produce import to_kafka
from streams.metrics import scrape_totals
from streams.provision import ensure_topics
from streams.settings import Settings
from tests.integration.backlog import Month, assert_end_state_equals_replay
from tests.integration.pipeline import Pipeline

pytestmark = pytest.mark.integration

CHUNKS = 12
PAUSE_S = 1.5


async def test_workers_join_and_leave_under_live_load(
    backlog_month: Month, worker_factory: Any, pipeline: Pipeline
) -> None:
    env = {"SENDGUARD_PARTITIONS": "8", "SENDGUARD_STANDBY_REPLICAS": "1",
           "SENDGUARD_POLICY": str(backlog_month.policy_path)}  # fmt: skip
    first = worker_factory("w1", start=False, **env)
    await ensure_topics(Settings.from_env(first.env))
    first.start()
    second = worker_factory("w2", start=False, **env)
    third = worker_factory("w3", start=False, **env)
    items = backlog_month.items
    size = -(-len(items) // CHUNKS)
    stopping = None
    for n in range(CHUNKS):
        chunk = items[n * size : (n + 1) * size]
        # In order per account across topics, as an MTA publishes a message's outcomes:
        # a month in 12 chunks puts hours of event time in one producer batch, and a
        # worker caught up on every topic counts what it reads as it reads it.
        await asyncio.to_thread(to_kafka, chunk, pipeline.bootstrap, pipeline.prefix,
                                progress=None, ordered=True)  # fmt: skip
        if n == 2:
            second.start(ready=False)
        elif n == 4:
            third.start(ready=False)
        elif n == 7:
            # Leaving only once it has joined (recovered its tables, taken its share):
            # a faster first worker leaves more changelog to recover by then.
            await asyncio.to_thread(second.wait_ready, 120)
            stopping = asyncio.create_task(asyncio.to_thread(second.stop))
        elif n == 9:
            await asyncio.to_thread(third.wait_ready, 120)
            third.kill()
        await asyncio.sleep(PAUSE_S)
    assert stopping is not None
    assert await stopping == 0, second.log_tail()  # a graceful stop, not an error
    await pipeline.wait_drained(timeout=240)
    await assert_end_state_equals_replay(
        pipeline, backlog_month, first.env["SENDGUARD_APP_ID"], once=False
    )
    assert first.proc is not None and first.proc.poll() is None, first.log_tail()
    # The first worker was assigned partitions at start, and again as the others came and
    # went (four times, unless two fell in one rebalance).
    rebalances = scrape_totals(first.port, names=["sendguard_rebalances_total"])
    assert rebalances["sendguard_rebalances_total"] >= 3, rebalances
    for worker in (first, second, third):
        log = worker.log_path.read_text(errors="replace")
        assert "Ready" in log, worker.log_tail()
        assert "[CRITICAL]" not in log and "Traceback" not in log, worker.log_tail(80)
