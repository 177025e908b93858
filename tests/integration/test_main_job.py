"""The main job (``./dev run``) again and again: a second run works on the first one's
broker and table state; SIGTERM stops the broker it started; a wiped broker makes the
worker rebuild its state; a changelog that lost records stops it with one line."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from localkafka.broker import LocalBroker, default_broker
from localkafka.jars import jar_dir
from localkafka.probe import free_port
from streams.settings import default_home
from tests.conftest import TEST_BROKER_CONFIG
from tests.integration.pipeline import Pipeline
from tests.integration.traffic import deliveries

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def demo_env(home: Path, port: int) -> dict[str, str]:
    """A private SENDGUARD_HOME (its own broker), sharing the machine's Kafka jars."""
    jars = jar_dir(Path(os.environ.get("SENDGUARD_HOME") or default_home())).parent
    home.mkdir(parents=True, exist_ok=True)
    (home / jars.name).symlink_to(jars, target_is_directory=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENDGUARD_")}
    env.update(
        SENDGUARD_HOME=str(home),
        SENDGUARD_KAFKA_BOOTSTRAP=f"127.0.0.1:{port}",
        SENDGUARD_DATA_DIR=str(home / "sendguard-data"),
        SENDGUARD_WEB_PORT=str(free_port()),
        SENDGUARD_STANDBY_REPLICAS="0",
        PYTHONPATH=str(ROOT),
    )
    return env


def run_demo(env: dict[str, str], stop: signal.Signals, log: Path) -> str:
    """Run the demo until it says it is running, then send ``stop``; return its output."""
    with log.open("w") as out:
        demo = subprocess.Popen([sys.executable, "-m", "sendguard.demo", "--accounts", "20"],
                                env=env, cwd=ROOT,
                                stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    deadline = time.monotonic() + 240
    while "demo: running" not in log.read_text():
        assert demo.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.5)
    demo.send_signal(stop)
    assert demo.wait(60) == 0, log.read_text()
    return log.read_text()


def test_the_main_job_runs_again_and_again_and_stops_on_signals(tmp_path: Path) -> None:
    port = free_port()
    env = demo_env(tmp_path, port)
    broker = default_broker(tmp_path, "127.0.0.1", port)
    first = run_demo(env, signal.SIGTERM, tmp_path / "first.log")
    assert "a new cluster" in first
    assert broker.pid() is None and not broker.answers(), "SIGTERM left the broker running"
    second = run_demo(env, signal.SIGHUP, tmp_path / "second.log")
    assert "its data kept from the last run" in second
    assert broker.pid() is None and not broker.answers(), "SIGHUP left the broker running"
    for output in (first, second):
        assert "Traceback" not in output
        assert "decisions for 20 accounts" in output
        # A decision printed as the worker made it (the summary says "suspended 0" too).
        assert re.search(r"^  suspend +\S+/marketing ", output, re.MULTILINE), output
    worker_log = (tmp_path / "sendguard-data" / "worker.log").read_text()
    assert "ConsistencyError" not in worker_log and "Traceback" not in worker_log


async def test_state_from_a_wiped_broker_is_rebuilt_and_a_lost_changelog_stops_the_worker(
    tmp_path: Path, worker_factory, topic_prefix: str
) -> None:
    broker = LocalBroker(home=default_home(), run_dir=tmp_path / "broker", port=free_port(),
                         extra_config=TEST_BROKER_CONFIG)  # fmt: skip
    broker.start()
    try:
        pipeline = Pipeline(broker.bootstrap, topic_prefix)
        worker = worker_factory(SENDGUARD_KAFKA_BOOTSTRAP=broker.bootstrap)
        await pipeline.send(deliveries("kept", 50))
        await pipeline.wait_drained()
        worker.stop()

        broker.stop()
        broker.start(fresh=True)  # `sendguard kafka up --fresh`: a new, empty cluster
        worker.start()
        log = worker.log_path.read_text()
        assert "was built on another Kafka cluster" in log and "rebuilding it" in log
        await pipeline.send(deliveries("kept", 5))
        await pipeline.wait_drained()
        worker.stop()

        # Same cluster, but the accounts changelog lost its records.
        admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
        await admin.start()
        try:
            await admin.delete_topics([f"{worker.env['SENDGUARD_APP_ID']}-accounts-changelog"])
        finally:
            await admin.close()
        command = [sys.executable, "-m", "sendguard.cli", "worker"]
        result = subprocess.run(command, env=worker.env, capture_output=True, text=True,
                                timeout=120)  # fmt: skip
        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr
        assert (
            result.stderr.strip()
            .splitlines()[-1]
            .startswith("sendguard: error: the table state in ")
        ), result.stderr
        assert "is ahead of the broker's changelog" in result.stderr
    finally:
        broker.stop()
