"""A scripted month of traffic through ingest and guard gives exactly the expected records.

Phase 1 sends every account's deliveries, phase 2 its complaints and bounces, so the
counts at each decision are known exactly (within an account, phase 2 uses one topic).
"""

from __future__ import annotations

import pytest

from tests.integration.traffic import bounces, deliveries, event, signals

pytestmark = pytest.mark.integration


def scripted_month() -> tuple[list[dict], list[dict], dict[str, dict]]:
    phase1: list[dict] = []
    phase2: list[dict] = []
    phase1 += deliveries("clean", 1200)
    phase2 += bounces("clean", 5)
    phase1 += deliveries("bouncing", 1000)
    bouncing = bounces("bouncing", 60)
    phase2 += bouncing
    phase1 += deliveries("complaining", 2000)
    complaining = signals("email.spam-report", "complaining", 3)
    phase2 += complaining
    phase1 += deliveries("unsubscribing", 1000)
    unsubscribing = signals("email.unsubscribe", "unsubscribing", 60)
    phase2 += unsubscribing
    phase1 += deliveries("abusive", 10)
    abuse = [event("email.abuse-desk", "abusive", complaint_id="c-1", summary="never opted in")]
    phase2 += abuse
    trap = [event("email.spam-trap", "trapped", trap_kind="pristine")]
    phase2 += trap
    listings = [
        event("email.blocklist", "listed", blocklist="spamhaus", listed=True, ip="192.0.2.1"),
        event("email.blocklist", "listed", blocklist="barracuda", listed=True, ip="192.0.2.1"),
    ]
    phase2 += listings
    phase1 += deliveries("crm-only", 300, channel="crm")
    crm = bounces("crm-only", 16, channel="crm")
    phase2 += crm
    phase1 += deliveries("campaigner", 250, campaign_id="spring-sale")
    campaign = bounces("campaigner", 26, campaign_id="spring-sale")
    phase2 += campaign

    expected = {
        # (account, channel, action, reason): (trigger event, selected evidence)
        ("bouncing", "marketing", "warn", "hard_bounce_rate"): (bouncing[20], {"hard_bounces": 21, "sent": 1000, "limit": 0.02}),
        ("bouncing", "marketing", "suspend", "hard_bounce_rate"): (bouncing[50], {"hard_bounces": 51, "sent": 1000, "limit": 0.05}),
        ("complaining", "marketing", "warn", "spam_report_rate"): (complaining[1], {"spam_reports": 2, "sent": 2000}),
        ("complaining", "marketing", "suspend", "spam_report_rate"): (complaining[2], {"spam_reports": 3, "sent": 2000}),
        ("unsubscribing", "marketing", "warn", "unsubscribe_rate"): (unsubscribing[20], {"unsubscribes": 21}),
        ("unsubscribing", "marketing", "suspend", "unsubscribe_rate"): (unsubscribing[50], {"unsubscribes": 51}),
        ("abusive", "marketing", "suspend", "abuse_complaint"): (abuse[0], {"abuse_complaints": 1, "sent": 10}),
        ("trapped", "marketing", "suspend", "spam_trap"): (trap[0], {}),
        ("listed", "marketing", "warn", "blocklist"): (listings[0], {}),
        ("listed", "marketing", "suspend", "blocklist"): (listings[1], {}),
        ("crm-only", "crm", "warn", "hard_bounce_rate"): (crm[6], {"hard_bounces": 7, "sent": 300}),
        ("crm-only", "crm", "suspend", "hard_bounce_rate"): (crm[15], {"hard_bounces": 16, "sent": 300}),
        ("campaigner", "marketing", "cancel_campaign", "hard_bounce_rate"): (campaign[25], {"hard_bounces": 26, "sent": 250}),
    }  # fmt: skip
    return phase1, phase2, expected


async def test_scripted_month(worker_factory, pipeline) -> None:
    phase1, phase2, expected = scripted_month()
    worker_factory()
    await pipeline.send(phase1)
    await pipeline.wait_drained()
    await pipeline.send(phase2)
    await pipeline.wait_drained()

    decisions = await pipeline.decisions()
    got = {(d["account_id"], d["channel"], d["action"], d["reason"]): d for d in decisions}
    assert sorted(got) == sorted(expected)
    assert len(decisions) == len(expected)  # nothing issued twice
    for key, (trigger, evidence) in expected.items():
        decision = got[key]
        assert decision["trigger_event_id"] == trigger["event_id"], key
        for field, value in evidence.items():
            assert decision["evidence"][field] == value, (key, field)
        assert decision["period"] == trigger["occurred_at"][:7]
        assert decision["policy_version"] == "2026-11-default"
        kind = "fraud" if key[3] == "spam_trap" else "deliverability"
        assert decision["suspension_type"] == (kind if key[2] == "suspend" else None)
    assert (
        got[("campaigner", "marketing", "cancel_campaign", "hard_bounce_rate")]["campaign_id"]
        == "spring-sale"
    )

    statuses = await pipeline.statuses()
    states = {
        account: {ch: s["state"] for ch, s in status["channels"].items()}
        for account, status in statuses.items()
    }
    assert states == {
        "bouncing": {"marketing": "suspended", "crm": "active"},
        "complaining": {"marketing": "suspended", "crm": "active"},
        "unsubscribing": {"marketing": "suspended", "crm": "active"},
        "abusive": {"marketing": "suspended", "crm": "active"},
        "trapped": {"marketing": "suspended", "crm": "active"},
        "listed": {"marketing": "suspended", "crm": "active"},
        "crm-only": {"marketing": "active", "crm": "suspended"},
    }
    assert statuses["trapped"]["channels"]["marketing"]["suspension_type"] == "fraud"

    suppressions = await pipeline.suppressions()
    per_account: dict[str, int] = {}
    for key, value in suppressions.items():
        assert key == f"{value['account_id']}/{value['recipient']}"
        per_account[value["account_id"]] = per_account.get(value["account_id"], 0) + 1
    assert per_account == {
        "clean": 5, "bouncing": 60, "complaining": 3, "unsubscribing": 60,
        "crm-only": 16, "campaigner": 26,
    }  # fmt: skip
    assert suppressions["complaining/r0@complaining.example"]["reason"] == "spam_report"
    assert suppressions["unsubscribing/r0@unsubscribing.example"]["reason"] == "unsubscribe"
    assert suppressions["bouncing/r0@bouncing.example"]["reason"] == "hard_bounce"
