"""The worker keeps its counts across restarts: from RocksDB, and from the changelog alone."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.integration.traffic import bounces, deliveries

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("wipe_data_dir", [False, True], ids=["rocksdb", "changelog"])
async def test_counts_survive_a_restart(worker_factory, pipeline, wipe_data_dir: bool) -> None:
    worker = worker_factory()
    # 1000 sends and 30 hard bounces: 3 %, under the 5 % limit (a warn, no suspend).
    await pipeline.send(deliveries("acme", 1000) + bounces("acme", 30))
    await pipeline.wait_drained()
    assert [d["action"] for d in await pipeline.decisions()] == ["warn"]

    assert worker.stop() == 0, worker.log_tail()
    if wipe_data_dir:
        shutil.rmtree(Path(worker.env["SENDGUARD_DATA_DIR"]))
    worker.start()

    # 25 more: the 21st makes 51 / 1000 = 5.1 % > 5 %, but only if the first 30 were kept.
    second = bounces("acme", 25, start=30)
    await pipeline.send(second)
    await pipeline.wait_drained()
    decisions = await pipeline.decisions()
    suspends = [d for d in decisions if d["action"] == "suspend"]
    assert len(suspends) == 1, decisions
    assert suspends[0]["evidence"]["hard_bounces"] == 51
    assert suspends[0]["evidence"]["sent"] == 1000
    assert suspends[0]["trigger_event_id"] == second[20]["event_id"]
    assert suspends[0]["reason"] == "hard_bounce_rate"
