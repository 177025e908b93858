"""Cross-topic skew: a month's bounces and complaints are in Kafka before its deliveries
(the delivery topic lags). Counting in arrival order would suspend healthy accounts; the
guard counts in event-time order, so only accounts over their limits are suspended."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from policy import load_policy
from policy.guard import Guard
from policy.store import DictStore
from schemas.parse import parse_event
from tests.integration.chaos import assert_matches_truth, ground_truth
from tests.integration.http import AUTH_ENV
from tests.integration.traffic import event

pytestmark = pytest.mark.integration

HEALTHY = {"steady-a": 0.03, "steady-b": 0.04, "steady-c": 0.045}  # hard bounces under 5 %
BAD = {"bad-list": 0.09}


def skewed_month(seed: int = 3) -> list[dict]:
    rng = random.Random(seed)
    events = []
    for n in range(2000):
        for account, rate in {**HEALTHY, **BAD}.items():
            recipient = f"u{n}@{account}.example"
            events.append(event("email.delivery", account, recipient=recipient))
            if rng.random() < rate:
                events.append(
                    event("email.bounce", account, recipient=recipient, bounce_type="hard")
                )
            if rng.random() < 0.01:
                events.append(event("email.unsubscribe", account, recipient=recipient))
    return events


def arrival_order_suspends(events: list[dict]) -> set[str]:
    """What a guard counting in arrival order (no watermark) would suspend."""
    now = datetime.now(UTC)
    guard = Guard(load_policy(), DictStore(), lambda: now)
    suspended = set()
    for e in events:
        body = {k: v for k, v in e.items() if k != "topic"}
        item = parse_event(e["topic"], body, now=now, late_grace_days=7)
        step = guard.receive(item)
        suspended |= {d.account_id for d in step.outcome.decisions if d.action == "suspend"}
    return suspended


async def test_bounces_before_deliveries_suspend_no_healthy_account(
    worker_factory, pipeline
) -> None:
    events = skewed_month()
    signals_first = [e for e in events if e["topic"] != "email.delivery"]
    signals_first += [e for e in events if e["topic"] == "email.delivery"]
    truth = ground_truth(events)
    truly_suspended = {
        d["account_id"] for d in truth.decisions.values() if d["action"] == "suspend"
    }
    assert truly_suspended == set(BAD)
    # The test can fail: in arrival order the healthy accounts would be suspended.
    assert set(HEALTHY) <= arrival_order_suspends(signals_first)

    worker = worker_factory(**AUTH_ENV)
    worker.stop()
    await pipeline.send(signals_first)
    worker.start()
    await pipeline.wait_drained(timeout=180)
    await assert_matches_truth(pipeline, worker.url(""), truth)
    statuses = await pipeline.statuses()
    for account in HEALTHY:
        assert statuses.get(account, {}).get("channels", {}).get("marketing", {}).get(
            "state", "active"
        ) in ("active", "warned"), account
