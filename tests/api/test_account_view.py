"""``GET /accounts/{id}``'s view at a month's boundary: "this month" is the guard's month
for each channel (the month of its latest event), not the wall clock's."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from api.accounts import account_view
from policy import AccountState, apply_event, load_policy
from schemas.types import Event

ACCOUNT = "acct-1"
_ids = itertools.count()
MIDNIGHT = datetime(2026, 12, 1, tzinfo=UTC)


def event(kind: str, at: datetime, **fields: Any) -> Event:
    n = next(_ids)
    topic = {"delivery": "email.delivery", "bounce": "email.bounce"}[kind]
    values: dict[str, Any] = {"topic": topic, "kind": kind, "event_id": f"e{n}",
                              "account_id": ACCOUNT, "occurred_at": at,
                              "recipient": f"user{n}@example.com"}  # fmt: skip
    if kind == "bounce":
        values["bounce_type"] = "hard"
    return Event(**values, **fields)


def month_end_state() -> AccountState:
    """1,000 November sends and 30 hard bounces (3 %: a warning), the bounces late,
    counted after midnight: the channel is still in November."""
    policy, state = load_policy(), AccountState.new(ACCOUNT)
    november = MIDNIGHT - timedelta(hours=1)
    for n in range(1000):
        apply_event(policy, state, event("delivery", november + timedelta(seconds=n)), None, november)
    for n in range(30):
        late = MIDNIGHT - timedelta(seconds=1 + n)
        apply_event(policy, state, event("bounce", late), None, MIDNIGHT + timedelta(minutes=3))
    return state


def test_after_midnight_the_view_shows_the_month_the_guard_still_counts_in() -> None:
    state = month_end_state()
    assert state.channel("marketing").status.state == "warned"
    view = account_view(ACCOUNT, state, None, MIDNIGHT + timedelta(minutes=5))
    marketing = view["channels"]["marketing"]
    # The wall clock says December; the guard still judges November, and the warning
    # shown is November's: the counts beside it must be too.
    assert view["period"] == marketing["period"] == "2026-11"
    assert marketing["state"] == "warned"
    assert marketing["counts"]["sent"] == 1000 and marketing["counts"]["hard_bounces"] == 30
    assert marketing["rates"]["hard_bounce_rate"] == 0.03
    # A channel with no events: the wall clock's month, nothing counted.
    assert view["channels"]["crm"]["period"] == "2026-12"
    assert view["channels"]["crm"]["counts"]["sent"] == 0


def test_the_first_event_of_the_new_month_moves_the_view_with_the_guard() -> None:
    state = month_end_state()
    december = MIDNIGHT + timedelta(minutes=10)
    apply_event(load_policy(), state, event("delivery", december), None, december)
    view = account_view(ACCOUNT, state, None, december)
    marketing = view["channels"]["marketing"]
    assert view["period"] == marketing["period"] == "2026-12"
    assert marketing["state"] == "active"  # November's warning expired with its month
    assert marketing["counts"]["sent"] == 1 and marketing["counts"]["hard_bounces"] == 0


def test_before_midnight_an_event_stamped_in_the_next_month_moves_the_channel() -> None:
    """The other side: an MTA clock a little fast stamps December before the wall clock
    gets there; the guard counts it in December, and so does the view."""
    state = month_end_state()
    ahead = MIDNIGHT + timedelta(seconds=30)
    apply_event(load_policy(), state, event("delivery", ahead), None, MIDNIGHT - timedelta(seconds=10))
    view = account_view(ACCOUNT, state, None, MIDNIGHT - timedelta(seconds=5))
    assert view["channels"]["marketing"]["period"] == "2026-12"
    assert view["channels"]["marketing"]["counts"]["sent"] == 1
