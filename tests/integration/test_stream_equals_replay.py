"""The same simulated traffic through the streaming worker and through the offline replay
gives the same decisions: ids, actions, reasons, evidence and triggers.

The worker runs a shadow policy beside the live one (Wilson gating, stricter limits,
probation): the shadow's decisions equal a replay under that policy, and the live output
(decisions, statuses, suppressions, dead letters) equals the replay under the live one,
as it does without a shadow (``test_lifecycle_e2e``, ``tests/agents/test_shadow.py``)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from offline.produce import to_kafka
from offline.simulate import simulate, write_jsonl
from streams import topics as t
from tests.integration.chaos import comparable, describe_difference, replayed_decisions
from tests.integration.http import AUTH_ENV, OPERATOR_TOKEN, account_token, call

pytestmark = pytest.mark.integration

# The stream judges lateness by the wall clock: a policy whose grace covers the
# simulated days keeps every event in play, as the replay's event clock does.
POLICY = 'version = "stream-vs-replay"\nlate_grace_days = 40\n'
SHADOW_POLICY = POLICY.replace("stream-vs-replay", "shadow-candidate") + """
[marketing]
gating = "wilson"
floor = 50
[marketing.suspend]
hard_bounce_rate = 0.04
[marketing.probation]
days = 14
factor = 0.5
"""


async def test_stream_equals_replay(worker_factory, pipeline, tmp_path: Path) -> None:
    policy_path = tmp_path / "policy.toml"
    policy_path.write_text(POLICY)
    shadow_path = tmp_path / "shadow.toml"
    shadow_path.write_text(SHADOW_POLICY)
    start = (datetime.now(UTC) - timedelta(days=12)).replace(minute=0, second=0, microsecond=0)
    items = list(simulate(18, seed=5, start=start, days=10, duplicates=0.01, malformed=0.002))
    events_file = tmp_path / "month.jsonl"
    write_jsonl(items, events_file)

    result, expected = replayed_decisions(events_file, policy_path)
    assert result.rejected > 0 and result.duplicates > 0
    assert {d["action"] for d in expected.values()} >= {"suspend", "warn"}
    shadow_result, shadow_expected = replayed_decisions(events_file, shadow_path)
    differing = {
        (d["account_id"], d["channel"], d["action"]) for d in shadow_expected.values()
    } ^ {(d["account_id"], d["channel"], d["action"]) for d in expected.values()}
    assert differing, "the two policies must disagree for this test to tell them apart"

    worker = worker_factory(SENDGUARD_POLICY=str(policy_path),
                            SENDGUARD_SHADOW_POLICY=str(shadow_path), **AUTH_ENV)  # fmt: skip
    worker.stop()  # the topics exist now: the whole month first, then the worker
    await asyncio.to_thread(to_kafka, items, pipeline.bootstrap, pipeline.prefix, progress=None)
    worker.start()
    await pipeline.wait_drained(timeout=240)

    published = {d["decision_id"]: comparable(d) for d in await pipeline.raw_decisions()}
    assert published == expected, describe_difference(published, expected)
    shadowed = {
        r.json()["decision_id"]: comparable(r.json())
        for r in await pipeline.read(t.SHADOW_DECISIONS)
    }
    assert shadowed == shadow_expected, describe_difference(shadowed, shadow_expected)

    # The live output is the live policy's alone: statuses, suppressions, dead letters.
    assert result.store is not None and shadow_result.store is not None
    live_states = {
        row.account_id: {name: c.status.state for name, c in row.channels.items()}
        for row in result.store.accounts.values()
    }
    statuses = await pipeline.statuses()
    for account, status in statuses.items():
        states = {name: channel["state"] for name, channel in status["channels"].items()}
        assert states == live_states[account], account
    assert set(await pipeline.suppressions()) == set(result.store.suppressed)
    letters = await pipeline.dead_letters()
    assert len(letters) == result.rejected

    # An operator sees the shadow's verdict beside the live one; an account does not.
    account, channel, _ = sorted(differing)[0]
    view = (await call(worker.url(""), "GET", f"/accounts/{account}", OPERATOR_TOKEN)).json()
    shadow_row = shadow_result.store.accounts[account]
    assert view["policy_version"] == "stream-vs-replay"
    assert view["shadow"]["policy_version"] == "shadow-candidate"
    assert view["shadow"]["channels"][channel]["state"] == (
        shadow_row.channels[channel].status.state
    )
    assert view["channels"][channel]["state"] == live_states[account][channel]
    own = (await call(worker.url(""), "GET", f"/accounts/{account}",
                      account_token(account))).json()  # fmt: skip
    assert "shadow" not in own
    print(f"\nstream == replay: {len(items)} lines, {len(expected)} decisions live, "
          f"{len(shadow_expected)} shadow, {result.rejected} rejects, "
          f"{result.duplicates} duplicates")  # fmt: skip
