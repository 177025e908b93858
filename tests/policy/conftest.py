"""Fixtures of the policy tests: a fixed clock, the built-in policy and event factories."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import pytest

from policy import AccountState, Outcome, Policy, apply_event, load_policy
from schemas.types import AccountMeta, Event

NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
ACCOUNT = "acct-1"
_TOPICS = {
    "delivery": "email.delivery",
    "bounce": "email.bounce",
    "unsubscribe": "email.unsubscribe",
    "spam_report": "email.spam-report",
    "abuse_complaint": "email.abuse-desk",
    "spam_trap": "email.spam-trap",
    "blocklist": "email.blocklist",
}

EventFactory = Callable[..., Event]
Runner = Callable[..., Outcome]


@pytest.fixture
def policy() -> Policy:
    return load_policy()


@pytest.fixture
def now() -> datetime:
    return NOW


@pytest.fixture
def state() -> AccountState:
    return AccountState.new(ACCOUNT)


@pytest.fixture
def make_event() -> EventFactory:
    """Build a valid event; every keyword overrides one field. Ids are ``e1``, ``e2``, …"""
    ids = itertools.count(1)

    def make(kind: str = "delivery", **fields: Any) -> Event:
        n = next(ids)
        values: dict[str, Any] = {
            "topic": _TOPICS[kind],
            "kind": kind,
            "event_id": f"e{n}",
            "account_id": ACCOUNT,
            "occurred_at": datetime(2026, 11, 10, 9, 0, tzinfo=UTC),
        }
        if kind in ("delivery", "bounce", "unsubscribe", "spam_report"):
            values["recipient"] = f"user{n}@example.com"
        if kind == "bounce":
            values["bounce_type"] = "hard"
        if kind == "blocklist":
            values.update(blocklist="spamhaus-sbl", listed=True, ip="192.0.2.1")
        values.update(fields)
        return Event(**values)

    return make


@pytest.fixture
def run(policy: Policy, state: AccountState) -> Runner:
    """Apply events in order and merge their outcomes (data in, data out)."""

    def apply(
        events: Iterable[Event],
        *,
        on: AccountState | None = None,
        using: Policy | None = None,
        meta: AccountMeta | None = None,
        at: datetime = NOW,
    ) -> Outcome:
        total = Outcome()
        for event in events:
            target = on if on is not None else state
            step = apply_event(using or policy, target, event, meta, at)
            total.decisions += step.decisions
            total.suppressions += step.suppressions
            total.status_changed |= step.status_changed
        return total

    return apply
