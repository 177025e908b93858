"""Faults with real processes while a backlog drains: failover to a second worker, a broker
restart. Whatever happens, the end state equals the replay of the same events: nothing
lost, nothing counted twice. (kill -9 during a backlog: ``test_backlog``.)
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import pytest

from localkafka.broker import LocalBroker
from localkafka.probe import free_port
from offline.produce import to_kafka
from streams.provision import ensure_topics
from streams.settings import Settings, default_home
from tests.conftest import TEST_BROKER_CONFIG
from tests.integration.backlog import Month, assert_end_state_equals_replay
from tests.integration.pipeline import Pipeline

pytestmark = pytest.mark.integration


async def produce(worker: Any, pipeline: Pipeline, month: Month) -> None:
    await ensure_topics(Settings.from_env(worker.env))
    await asyncio.to_thread(to_kafka, month.items, pipeline.bootstrap, pipeline.prefix,
                            progress=None)  # fmt: skip


async def test_failover_to_a_second_worker(
    backlog_month: Month, worker_factory: Any, pipeline: Pipeline
) -> None:
    env = {"SENDGUARD_STANDBY_REPLICAS": "1", "SENDGUARD_POLICY": str(backlog_month.policy_path)}
    first = worker_factory("w1", start=False, **env)
    await produce(first, pipeline, backlog_month)
    first.start()
    second = worker_factory("w2", **env)
    assert await pipeline.wait_working(), "the work was done before the failover"
    first.kill()
    # The survivor re-reads what the dead worker had not committed, and faust drops a
    # fetched batch in the rebalance now and then (agents.continuity reads it again).
    await pipeline.wait_drained(timeout=120)
    await assert_end_state_equals_replay(
        pipeline, backlog_month, second.env["SENDGUARD_APP_ID"], once=False
    )
    assert "Ready" in second.log_path.read_text()


async def test_broker_restart_mid_stream(
    backlog_month: Month, worker_factory: Any, tmp_path: Path, topic_prefix: str
) -> None:
    """A broker restart mid-stream (SIGTERM, 3 s down, restart on the same data). The
    worker usually rides it out (aiokafka reconnects). When faust-streaming does not (it
    can crash on aiokafka's "Unrecognized partition" while metadata is empty, or hang in
    the rebalance, which the watchdog turns into exit code 3), restarting it, as a
    supervisor does, finishes the work. Either way the end state is the replay's."""
    broker = LocalBroker(home=default_home(), run_dir=tmp_path / "broker", port=free_port(),
                         extra_config=TEST_BROKER_CONFIG)  # fmt: skip
    broker.start()
    try:
        pipeline = Pipeline(broker.bootstrap, topic_prefix)
        worker = worker_factory(
            start=False, SENDGUARD_KAFKA_BOOTSTRAP=broker.bootstrap,
            SENDGUARD_POLICY=str(backlog_month.policy_path), SENDGUARD_STALL_SECONDS="5",
            SENDGUARD_EXIT_ON_STALL_S="15",
        )  # fmt: skip
        await produce(worker, pipeline, backlog_month)
        worker.start(ready=False)  # watched from launch: a fast drain ends soon after
        assert await pipeline.wait_working(), "the work was done before the restart"
        broker.stop()
        await asyncio.sleep(3.0)
        broker.start()
        restarts = 0
        deadline = asyncio.get_running_loop().time() + 300
        while await pipeline.behind():  # supervise: restart the worker whenever it exits
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
        await assert_end_state_equals_replay(
            pipeline, backlog_month, worker.env["SENDGUARD_APP_ID"], once=False
        )
        print(f"\nbroker restart: the worker was restarted {restarts} time(s)")
        worker.stop()  # while its broker is up: a worker without one stops slowly
    finally:
        broker.stop()
