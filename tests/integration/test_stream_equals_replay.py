"""The same simulated traffic through the streaming worker and through the offline replay
gives the same decisions: ids, actions, reasons, evidence and triggers."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from offline.produce import to_kafka
from offline.replay import replay
from offline.simulate import simulate, write_jsonl
from policy import load_policy
from tests.integration.chaos import comparable, describe_difference

pytestmark = pytest.mark.integration

# The stream judges lateness by the wall clock: a policy whose grace covers the
# simulated days keeps every event in play, as the replay's event clock does.
POLICY = 'version = "stream-vs-replay"\nlate_grace_days = 40\n'


async def test_stream_equals_replay(worker_factory, pipeline, tmp_path: Path) -> None:
    policy_path = tmp_path / "policy.toml"
    policy_path.write_text(POLICY)
    start = (datetime.now(UTC) - timedelta(days=12)).replace(minute=0, second=0, microsecond=0)
    items = list(simulate(18, seed=5, start=start, days=10, duplicates=0.01, malformed=0.002))
    events_file = tmp_path / "month.jsonl"
    write_jsonl(items, events_file)

    out = io.BytesIO()
    result = replay(events_file, load_policy(policy_path), progress=False, summary=False, out=out)
    expected = {
        d["decision_id"]: comparable(d) for d in map(json.loads, out.getvalue().splitlines())
    }
    assert result.rejected > 0 and result.duplicates > 0
    assert {d["action"] for d in expected.values()} >= {"suspend", "warn"}

    worker = worker_factory(SENDGUARD_POLICY=str(policy_path))  # creates the topics
    worker.stop()
    await asyncio.to_thread(to_kafka, items, pipeline.bootstrap, pipeline.prefix, progress=None)
    worker.start()
    await pipeline.wait_drained(timeout=240)
    published = {d["decision_id"]: comparable(d) for d in await pipeline.raw_decisions()}

    assert published == expected, describe_difference(published, expected)
    letters = await pipeline.dead_letters()
    assert len(letters) == result.rejected
    print(f"\nstream == replay: {len(items)} lines, {len(expected)} decisions, "
          f"{result.rejected} rejects, {result.duplicates} duplicates")  # fmt: skip
