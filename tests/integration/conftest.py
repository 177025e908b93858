"""Fixtures for tests that run the real worker against the session's broker."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.backlog import Month, simulate_month
from tests.integration.pipeline import Pipeline
from tests.integration.worker import WorkerProcess, worker_env


@pytest.fixture
def topic_prefix() -> str:
    """Every test gets its own topics and consumer group."""
    return f"t{uuid.uuid4().hex[:10]}."


#: The guard's ERROR when it takes a partition's first batch without knowing where the
#: consumer started reading (``agents.guard``): a hole before it could not be seen.
UNVERIFIED = "taken without knowing where reading started"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[_CALL_FAILED] = report.failed
    return report


_CALL_FAILED = pytest.StashKey[bool]()


@pytest.fixture
def worker_factory(
    request: pytest.FixtureRequest, kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> Iterator[Callable[..., WorkerProcess]]:
    """Start workers sharing this test's topics; each call gets its own data dir and port.

    After the test: if it failed, the workers' warnings and errors are printed (in the
    report); whatever the outcome, no worker may have taken a batch unverified."""
    workers: list[WorkerProcess] = []

    def make(name: str = "w1", start: bool = True, **env: str) -> WorkerProcess:
        data_dir = tmp_path / name / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        worker = WorkerProcess(
            env=worker_env(kafka_bootstrap, topic_prefix, data_dir, **env),
            log_path=tmp_path / name / "worker.log",
        )
        workers.append(worker)
        return worker.start() if start else worker

    yield make
    # SIGKILL: the test is over, and a graceful stop costs ~3 s a worker. The tests of
    # a graceful stop (test_worker_restart, test_main_job) call stop() themselves.
    for worker in workers:
        worker.kill()
    logs = {worker.log_path: worker.log_path.read_text(errors="replace")
            for worker in workers if worker.log_path.exists()}  # fmt: skip
    if request.node.stash.get(_CALL_FAILED, False):
        for path, text in logs.items():
            notable = [line for line in text.splitlines() if "[WARNING]" in line
                       or "[ERROR]" in line or "[CRITICAL]" in line]  # fmt: skip
            print(f"--- {path}: the last warnings and errors ---", *notable[-80:], sep="\n")
    unverified = [str(path) for path, text in logs.items() if UNVERIFIED in text]
    assert not unverified, f"a batch was taken unverified: {unverified}"
    credentials = [f"{path}: {line}" for path, text in logs.items()
                   for line in text.splitlines() if "Bearer" in line]  # fmt: skip
    assert not credentials, f"a worker logged a bearer token: {credentials[:3]}"


@pytest.fixture
def pipeline(kafka_bootstrap: str, topic_prefix: str) -> Pipeline:
    return Pipeline(kafka_bootstrap, topic_prefix)


@pytest.fixture(scope="session")
def backlog_month(tmp_path_factory: pytest.TempPathFactory) -> Month:
    """A month of 90 simulated accounts (~220k input events) and its replay, made once."""
    found = simulate_month(tmp_path_factory.mktemp("month"), accounts=90, seed=21)
    assert found.events >= 200_000
    return found
