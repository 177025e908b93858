"""A three-node cluster on one machine: ``sendguard kafka up --brokers 3`` and its status
and stop; and a broker killed (kill -9) while a worker drains a month of traffic, with
replication factor 3 and min.insync.replicas 2 (the defaults on 3 brokers): the worker
rides it out (no restart), and ends exactly where ``sendguard replay`` of the same
events ends: nothing lost, nothing counted twice."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from localkafka.broker import pid_alive
from localkafka.cluster import LocalCluster
from localkafka.jars import jar_dir
from localkafka.probe import free_port
from offline.produce import to_kafka
from streams import topics as t
from streams.provision import ensure_topics
from streams.settings import Settings, default_home
from tests.integration.backlog import (
    Month,
    assert_end_state_equals_replay,
    mixed_keys,
    simulate_month,
)
from tests.integration.kafka_io import replicas, topic_configs
from tests.integration.pipeline import Pipeline
from tests.integration.traffic import event
from tests.integration.worker import WorkerProcess, worker_env
from tests.sendguard.test_cli import run_cli

pytestmark = pytest.mark.integration

#: The node killed, and how long it stays down: longer than the controller's broker
#: session timeout (9 s), so it is fenced and its partitions' leaders move.
KILLED_NODE = 2
DOWN_S = 12.0


@pytest.fixture(scope="module")
def small_month(tmp_path_factory: pytest.TempPathFactory) -> Month:
    """A month of 120 accounts (~290k events): a drain long enough to kill a broker in
    (35 accounts, 85k events, drained before the first look at the group's offsets)."""
    return simulate_month(tmp_path_factory.mktemp("month"), accounts=120, seed=23)


@pytest.fixture
def cluster_worker(
    kafka_cluster: LocalCluster, small_month: Month, tmp_path: Path, topic_prefix: str
) -> Iterator[WorkerProcess]:
    data_dir = tmp_path / "w1" / "data"
    data_dir.mkdir(parents=True)
    worker = WorkerProcess(
        env=worker_env(kafka_cluster.bootstrap, topic_prefix, data_dir,
                       SENDGUARD_PARTITIONS="3", SENDGUARD_POLICY=str(small_month.policy_path)),
        log_path=tmp_path / "w1" / "worker.log",
    )  # fmt: skip
    yield worker
    worker.kill()


async def leaders(bootstrap: str, names: list[str]) -> dict[int, int]:
    """How many partitions of ``names`` each node leads."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        led: dict[int, int] = {}
        for topic in await admin.describe_topics(names):
            for partition in topic["partitions"]:
                led[partition["leader"]] = led.get(partition["leader"], 0) + 1
        return led
    finally:
        await admin.close()


async def test_a_broker_killed_mid_drain_loses_nothing_and_counts_nothing_twice(
    kafka_cluster: LocalCluster, small_month: Month, cluster_worker: WorkerProcess,
    topic_prefix: str,
) -> None:  # fmt: skip
    began = time.monotonic()
    worker, month = cluster_worker, small_month
    pipeline = Pipeline(kafka_cluster.bootstrap, topic_prefix)
    settings = Settings.from_env(worker.env)
    provisioned = await ensure_topics(settings)
    assert provisioned.replication.why == "3 brokers: replication factor 3, min.insync.replicas 2"
    ours = [settings.topic(name) for name in (*t.INPUT_TOPICS, t.ACCOUNTS, t.EVENTS,
                                              t.DECISIONS, t.ACCOUNT_STATUS)]  # fmt: skip
    ours.append(f"{settings.app_id}-accounts-changelog")
    assert all(n == {3} for n in (await replicas(kafka_cluster.bootstrap, ours)).values())
    configs = await topic_configs(kafka_cluster.bootstrap, ours)
    assert {c["min.insync.replicas"] for c in configs.values()} == {"2"}
    await asyncio.to_thread(to_kafka, month.items, pipeline.bootstrap, pipeline.prefix,
                            progress=None, key_of=mixed_keys(0.02))  # fmt: skip
    led = (await leaders(kafka_cluster.bootstrap, ours)).get(KILLED_NODE, 0)
    assert led > 0, "the node to kill leads no partition of ours"
    # Watched from launch: a worker that drains 20k events/s would be done with the
    # month by the time it answers /healthz.
    worker.start(ready=False)
    assert await pipeline.wait_working(), "the work was done before the broker was killed"
    assert await pipeline.behind(), "the backlog drained before the broker was killed"
    kafka_cluster.node(KILLED_NODE).kill()
    killed_at = time.monotonic()
    await asyncio.sleep(DOWN_S)
    assert worker.proc is not None and worker.proc.poll() is None, worker.log_tail()
    await asyncio.to_thread(kafka_cluster.node(KILLED_NODE).start)
    await pipeline.wait_drained(timeout=240)
    drained_at = time.monotonic()
    leader_topic = f"{settings.app_id}-__assignor-__leader"  # faust's own, created by it
    assert await replicas(kafka_cluster.bootstrap, [leader_topic]) == {leader_topic: {3}}
    assert worker.proc.poll() is None, f"the worker exited\n{worker.log_tail()}"
    assert worker.starts == 1
    await assert_end_state_equals_replay(
        pipeline, month, worker.env["SENDGUARD_APP_ID"], once=True
    )
    log = worker.log_path.read_text()
    assert "out of range" not in log and "EVENTS LOST" not in log
    assert "3 brokers: replication factor 3, min.insync.replicas 2" in log
    print(f"\nlost broker: node {KILLED_NODE} (leader of {led} partitions of ours) killed "
          f"mid-drain, restarted after {DOWN_S:.0f} s; drained {drained_at - killed_at:.0f} s "
          f"after the kill; {month.events:,} events, {len(month.decisions)} decisions, "
          f"0 lost, 0 counted twice; {time.monotonic() - began:.0f} s in all")  # fmt: skip


async def test_on_a_quiet_cluster_each_event_is_decided_within_seconds(
    kafka_cluster: LocalCluster, tmp_path: Path, topic_prefix: str
) -> None:
    """The input partitions led by different brokers, the stream quiet: each spam-trap
    hit is decided within seconds. (A guard partition's watermark once waited minutes for
    an empty partition led by another broker: the news of its end always came from that
    broker's last answer, older than the progress report being judged.)"""
    data_dir = tmp_path / "w1" / "data"
    data_dir.mkdir(parents=True)
    worker = WorkerProcess(
        env=worker_env(kafka_cluster.bootstrap, topic_prefix, data_dir, SENDGUARD_PARTITIONS="1"),
        log_path=tmp_path / "w1" / "worker.log",
    )
    settings = Settings.from_env(worker.env)
    await ensure_topics(settings)
    inputs = [settings.topic(name) for name in (*t.INPUT_TOPICS, t.ACCOUNTS, t.EVENTS)]
    led = await leaders(kafka_cluster.bootstrap, inputs)
    assert len(led) >= 2, f"every input partition has one leader: {led}"
    pipeline = Pipeline(kafka_cluster.bootstrap, topic_prefix)
    worker.start()
    try:
        waited = []
        for n in range(3):
            account = f"trapped-{n}"
            sent = time.monotonic()
            await pipeline.send([event("email.spam-trap", account, trap_kind="pristine")])
            while not any(d["account_id"] == account for d in await pipeline.decisions()):
                assert time.monotonic() - sent < 20, (
                    f"{account}: no decision in 20 s\n{worker.log_tail()}")  # fmt: skip
            waited.append(time.monotonic() - sent)
        print(f"\nquiet cluster ({len(led)} leaders): decided after "
              + ", ".join(f"{s:.1f} s" for s in waited))  # fmt: skip
    finally:
        worker.kill()


def test_kafka_up_brokers_3_status_and_down(tmp_path: Path) -> None:
    """The CLI's cluster: three nodes that answer, report and stop, leaving no java."""
    ports = [free_port() for _ in range(3)]
    bootstrap = ",".join(f"127.0.0.1:{p}" for p in ports)
    home = tmp_path / "home"  # the cluster's files; the jars from the usual cache
    jars = jar_dir(Path(os.environ.get("SENDGUARD_HOME") or default_home()))
    jar_dir(home).parent.mkdir(parents=True)
    jar_dir(home).symlink_to(jars)
    env = {"SENDGUARD_HOME": str(home), "SENDGUARD_KAFKA_BOOTSTRAP": bootstrap,
           "PATH": os.environ["PATH"]}  # fmt: skip
    up = run_cli("kafka", "up", "--brokers", "3", **env)
    try:
        assert up.returncode == 0, up.stderr
        assert f"export SENDGUARD_KAFKA_BOOTSTRAP={bootstrap}" in up.stdout
        pids = [int((home / "cluster" / f"node-{n}" / "broker.pid").read_text())
                for n in (1, 2, 3)]  # fmt: skip
        status = run_cli("kafka", "status", **env)
        assert status.returncode == 0, status.stdout
        assert "3 of 3 nodes up" in status.stdout
        again = run_cli("kafka", "up", "--brokers", "3", **env)
        assert again.returncode == 0 and "already answers" in again.stdout
    finally:
        down = run_cli("kafka", "down", **env)
    assert down.returncode == 0 and "3 node(s) of the cluster" in down.stdout, down
    assert not any(pid_alive(pid) for pid in pids)
    status = run_cli("kafka", "status", **env)
    assert status.returncode == 1 and "0 of 3 nodes up" in status.stdout
