"""Root fixtures: a real Kafka broker for the whole session.

The broker is the one named by SENDGUARD_KAFKA_BOOTSTRAP when that is set; otherwise the
session starts its own with the same code as ``sendguard kafka up`` and stops it at the
end. The terminal summary says which, so a run shows that it tested against a real broker.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from localkafka.broker import LocalBroker
from localkafka.cluster import LocalCluster
from localkafka.jars import KAFKA_VERSION
from localkafka.probe import broker_answers, free_port
from streams.settings import Settings, default_home

_broker_report: list[str] = []
#: The broker's periodic work, made frequent so that a test outlives several rounds of it
#: (Kafka's defaults: the first retention check 30 s after start, then every 5 min).
#: A record stamped in the past is deleted at the next check whether read or not.
TEST_BROKER_CONFIG = {
    "log.initial.task.delay.ms": "1000",
    "log.retention.check.interval.ms": "2000",
}


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    given = os.environ.get("SENDGUARD_KAFKA_BOOTSTRAP")
    if given:
        addresses = Settings(kafka_bootstrap=given).bootstrap_addresses
        if not any(broker_answers(host, port) for host, port in addresses):
            pytest.fail(f"SENDGUARD_KAFKA_BOOTSTRAP={given} names no running Kafka broker")
        _broker_report.append(f"kafka: tests ran against the broker at {given} (not started here)")
        yield given
        return
    home = Path(os.environ.get("SENDGUARD_HOME") or default_home())
    broker = LocalBroker(
        home=home, run_dir=tmp_path_factory.mktemp("kafka"), port=free_port(),
        extra_config=TEST_BROKER_CONFIG,
    )  # fmt: skip
    seconds = broker.start()
    _broker_report.append(
        f"kafka: this run started Apache Kafka {KAFKA_VERSION} (KRaft) at {broker.bootstrap} "
        f"in {seconds:.1f} s, pid {broker.pid()}; stopped at the end"
    )
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture
def kafka_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A three-node KRaft cluster of its own (each node broker and controller, 384 MB of
    heap), with the session broker's test settings; stopped at the end of the test, so a
    test may kill and restart its nodes."""
    home = Path(os.environ.get("SENDGUARD_HOME") or default_home())
    cluster = LocalCluster(
        home=home, run_dir=tmp_path_factory.mktemp("cluster"),
        ports=[free_port() for _ in range(3)], extra_config=TEST_BROKER_CONFIG,
    )  # fmt: skip
    seconds = cluster.start()
    _broker_report.append(f"kafka: a test started a 3-node cluster at {cluster.bootstrap} "
                          f"in {seconds:.1f} s; stopped after it")  # fmt: skip
    try:
        yield cluster
    finally:
        cluster.stop()


def report_line(line: str) -> None:
    """A line for the end of the run's report (what a test ran against)."""
    if line not in _broker_report:
        _broker_report.append(line)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for line in _broker_report:
        terminalreporter.write_line(line)
