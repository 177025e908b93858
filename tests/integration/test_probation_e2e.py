"""Probation after a restore, through the real worker and broker, and the same in a replay
of the same events with the appeals audit trail (``sendguard.appeals``) in the file.

An account suspended for hard bounces is restored by an operator; in the same month it
bounces 3 %: under probation (factor 0.5) that is over both halved limits, so it is warned
and suspended again, its evidence saying so. An account never restored, at the same 3 %,
is only warned.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from offline.simulate import write_jsonl
from streams import topics as t
from tests.integration.chaos import comparable, describe_difference, replayed_decisions
from tests.integration.http import AUTH_ENV, OPERATOR_TOKEN, account_token, appeal_form, call
from tests.integration.traffic import bounces, deliveries

pytestmark = pytest.mark.integration

POLICY = 'version = "probation-e2e"\n[marketing.probation]\ndays = 14\nfactor = 0.5\n'


def account(account_id: str) -> dict[str, Any]:
    return {"topic": "accounts", "account_id": account_id, "tier": "professional",
            "primary_contact": f"owner@{account_id}.example"}  # fmt: skip


def offences(decisions: list[dict[str, Any]], account_id: str) -> list[tuple[Any, ...]]:
    return [(d["action"], d["evidence"]["hard_bounces"], d["evidence"].get("probation_factor"))
            for d in decisions if d["account_id"] == account_id]  # fmt: skip


async def test_probation_after_a_restore_in_stream_and_replay(
    worker_factory, pipeline, tmp_path: Path
) -> None:
    policy_path = tmp_path / "policy.toml"
    policy_path.write_text(POLICY)
    worker = worker_factory(SENDGUARD_POLICY=str(policy_path), **AUTH_ENV)
    base = worker.url("")
    sent: list[Any] = []

    async def send(items: list[dict[str, Any]]) -> None:
        sent.extend(items)
        await pipeline.send(items)
        await pipeline.wait_drained()

    await send([account("phoenix"), account("steady"), *deliveries("phoenix", 1000),
                *deliveries("steady", 1000)])  # fmt: skip
    await send(bounces("phoenix", 60))
    filed = await call(base, "POST", "/accounts/phoenix/appeals", account_token("phoenix"),
                       appeal_form())  # fmt: skip
    assert filed.status == 201, filed.text
    restored = await call(base, "POST", f"/appeals/{filed.json()['appeal_id']}/decision",
                          OPERATOR_TOKEN, {"decision": "restore", "note": "cleaned"})  # fmt: skip
    assert restored.status == 200, restored.text
    (audit,) = [r.json() for r in await pipeline.read(t.APPEALS) if r.json()["status"] == "restored"]
    sent.append({"topic": t.APPEALS, **audit})  # the audit trail, as a replay file carries it
    await send(deliveries("phoenix", 1000))
    await send(bounces("phoenix", 30, start=100) + bounces("steady", 30))

    decisions = await pipeline.decisions()
    assert offences(decisions, "phoenix") == [
        ("warn", 21, None), ("suspend", 51, None), ("restore", 60, None),
        ("warn", 11, 0.5), ("suspend", 26, 0.5),  # over 1 % and 2.5 %: the halved limits
    ]  # fmt: skip
    assert offences(decisions, "steady") == [("warn", 21, None)]  # 3 %, no probation
    decided_at = datetime.fromisoformat(audit["decided_at"])
    status = (await pipeline.statuses())["phoenix"]["channels"]["marketing"]
    assert status["state"] == "suspended"
    assert datetime.fromisoformat(status["probation_until"]) == decided_at + timedelta(days=14)
    view = (await call(base, "GET", "/accounts/phoenix", OPERATOR_TOKEN)).json()
    shown = datetime.fromisoformat(view["channels"]["marketing"]["probation_until"])
    assert shown == decided_at + timedelta(days=14)

    events_file = tmp_path / "month.jsonl"
    write_jsonl(sent, events_file)
    result, replayed = replayed_decisions(events_file, policy_path)
    published = {d["decision_id"]: comparable(d) for d in decisions}
    assert published == replayed, describe_difference(published, replayed)
    assert result.restores == 1 and result.store is not None
    channel = result.store.accounts["phoenix"].channels["marketing"]
    assert channel.probation_until == decided_at + timedelta(days=14)
