"""Faults with real processes: SIGKILL mid-stream, failover between two workers, a broker
restart. Whatever happens, the published decisions and the counts equal the ground truth
(the pure guard over the same events): nothing lost, nothing counted twice.

SENDGUARD_TEST_KILLS sets the number of kills (3 by default, 10 for the long run).
"""

from __future__ import annotations

import asyncio
import contextlib
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


async def test_failover_to_a_second_worker(worker_factory, pipeline) -> None:
    events = month_of_traffic(sends_per_account=1200, seed=12)
    truth = ground_truth(events)
    standby = {"SENDGUARD_STANDBY_REPLICAS": "1", **AUTH_ENV}
    first = worker_factory("w1", **standby)
    first.stop()
    await pipeline.send(events)
    first.start()
    second = worker_factory("w2", **standby)
    await asyncio.sleep(2.0)
    assert await pipeline._behind(), "the work was done before the failover"
    first.kill()
    await pipeline.wait_drained(timeout=180)
    await assert_matches_truth(pipeline, second.url(""), truth)
    log = second.log_path.read_text()
    assert "Ready" in log


async def test_broker_restart_mid_stream(worker_factory, tmp_path, topic_prefix) -> None:
    """A broker restart mid-stream (SIGTERM, 3 s down, restart on the same data). The
    worker usually rides it out (aiokafka reconnects). When faust-streaming does not (it
    can crash on aiokafka's "Unrecognized partition" while metadata is empty, or hang in
    the rebalance, which the watchdog turns into exit code 3), restarting it, as a
    supervisor does, finishes the work. Either way the end state is the ground truth."""
    from streams.kafka_local import LocalBroker
    from streams.kafka_probe import free_port
    from streams.settings import default_home
    from tests.integration.pipeline import Pipeline

    broker = LocalBroker(home=default_home(), run_dir=tmp_path / "broker", port=free_port())
    broker.start()
    try:
        pipeline = Pipeline(broker.bootstrap, topic_prefix)
        events = month_of_traffic(sends_per_account=1200, seed=13)
        truth = ground_truth(events)
        worker = worker_factory(
            SENDGUARD_KAFKA_BOOTSTRAP=broker.bootstrap, SENDGUARD_STALL_SECONDS="5",
            SENDGUARD_EXIT_ON_STALL_S="15", **AUTH_ENV,
        )  # fmt: skip
        worker.stop()
        await pipeline.send(events)
        worker.start()
        await asyncio.sleep(1.5)
        assert await pipeline._behind(), "the work was done before the restart"
        broker.stop()
        await asyncio.sleep(3.0)
        broker.start(fresh=False)
        restarts = 0
        deadline = asyncio.get_running_loop().time() + 300
        while await pipeline._behind():  # supervise: restart the worker whenever it exits
            assert asyncio.get_running_loop().time() < deadline, worker.log_tail()
            assert worker.proc is not None
            if worker.proc.poll() is not None:
                assert restarts < 8, worker.log_tail()
                restarts += 1
                await asyncio.sleep(2.0)  # a supervisor's back-off
                # If it dies while starting, the next round restarts it again.
                with contextlib.suppress(AssertionError):
                    worker.start()
            await asyncio.sleep(1.0)
        await pipeline.wait_drained(timeout=120)
        await assert_matches_truth(pipeline, worker.url(""), truth)
        print(f"\nbroker restart: the worker was restarted {restarts} time(s)")
    finally:
        broker.stop()
