"""``apply_event`` bookkeeping: months, late events, pruning, listings and suppressions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from policy import (
    AccountMismatch,
    AccountState,
    PeriodCounts,
    apply_event,
    decode_state,
    encode_state,
    period_of,
)
from policy.ordering import BEGINNING
from policy.state import CampaignCounts, SourceMark
from schemas.types import Suppression


def test_month_boundary_splits_periods(run, state, make_event) -> None:
    run(
        [
            make_event(occurred_at=datetime(2026, 10, 31, 23, 59, 59, tzinfo=UTC)),
            make_event("bounce", occurred_at=datetime(2026, 11, 1, 0, 0, tzinfo=UTC)),
        ],
        at=datetime(2026, 11, 1, 0, 5, tzinfo=UTC),
    )
    periods = state.channel("marketing").periods
    assert periods == {
        "2026-10": PeriodCounts(sent=1),
        "2026-11": PeriodCounts(hard_bounces=1),
    }


def test_period_of_uses_utc() -> None:
    from datetime import timedelta, timezone

    plus_two = timezone(timedelta(hours=2))
    assert period_of(datetime(2026, 11, 1, 1, 0, tzinfo=plus_two)) == "2026-10"
    with pytest.raises(ValueError, match="naive"):
        period_of(datetime(2026, 11, 1))  # noqa: DTZ001


def test_every_kind_is_counted(run, state, make_event) -> None:
    run(
        [
            make_event(),
            make_event(),
            make_event("bounce"),
            make_event("bounce", bounce_type="soft"),
            make_event("unsubscribe"),
            make_event("spam_report"),
            make_event("blocklist", listed=False),
        ]
    )
    assert state.channel("marketing").periods["2026-11"] == PeriodCounts(
        sent=2, hard_bounces=1, soft_bounces=1, spam_reports=1, unsubscribes=1
    )


def test_late_event_within_grace_counts_in_its_own_period(run, state, make_event) -> None:
    chan = state.channel("marketing")
    chan.periods = {"2026-09": PeriodCounts(sent=9), "2026-10": PeriodCounts(sent=5)}
    chan.campaign_counts = {"c": CampaignCounts(sent=1, period="2026-09")}
    chan.cancelled_campaigns = {"2026-09": 1}
    chan.warned = ["2026-09/hard_bounce_rate", "2026-10/unsubscribe_rate"]
    now = datetime(2026, 11, 3, 8, 0, tzinfo=UTC)  # grace reaches back to 2026-10-27
    run([make_event(occurred_at=datetime(2026, 10, 30, 12, 0, tzinfo=UTC))], at=now)
    assert chan.periods == {"2026-10": PeriodCounts(sent=6)}
    assert chan.campaign_counts == {}
    assert chan.cancelled_campaigns == {}
    assert chan.warned == ["2026-10/unsubscribe_rate"]


def test_previous_month_is_pruned_once_grace_has_passed(run, state, make_event) -> None:
    chan = state.channel("marketing")
    chan.periods = {"2026-10": PeriodCounts(sent=5)}
    run([make_event()], at=datetime(2026, 11, 8, 0, 0, tzinfo=UTC))  # grace starts Nov 1
    assert chan.periods == {"2026-11": PeriodCounts(sent=1)}


def test_event_own_period_is_never_pruned(run, state, make_event) -> None:
    chan = state.channel("marketing")
    chan.periods = {"2026-08": PeriodCounts(sent=5)}
    run([make_event(occurred_at=datetime(2026, 8, 20, tzinfo=UTC))])
    assert chan.periods == {"2026-08": PeriodCounts(sent=6)}


def test_blocklist_listings_in_force(run, state, make_event) -> None:
    run(
        [
            make_event("blocklist", blocklist="sbl", ip="192.0.2.1"),
            make_event("blocklist", blocklist="sbl", ip="192.0.2.1"),  # same listing again
            make_event("blocklist", blocklist="sbl", ip=None, domain="mail.example.com"),
            make_event("blocklist", blocklist="sbl", ip="192.0.2.1", listed=False),
            make_event("blocklist", blocklist="barracuda", ip="192.0.2.9", listed=False),
        ]
    )
    assert state.channel("marketing").blocklists == ["sbl|mail.example.com"]


def test_suppression_candidates(run, make_event, now) -> None:
    outcome = run(
        [
            make_event(recipient="a@example.com"),
            make_event("bounce", recipient="Hard@Example.com", event_id="b1"),
            make_event("bounce", bounce_type="soft", recipient="soft@example.com"),
            make_event("unsubscribe", recipient="u@example.com", event_id="u1"),
            make_event("spam_report", recipient="s@example.com", event_id="s1", channel="crm"),
            make_event("spam_report", recipient=None),
            make_event("abuse_complaint"),
        ]
    )
    assert outcome.suppressions == [
        Suppression(
            account_id="acct-1",
            recipient="hard@example.com",
            reason="hard_bounce",
            suppressed_at=now,
            event_id="b1",
        ),
        Suppression(
            account_id="acct-1",
            recipient="u@example.com",
            reason="unsubscribe",
            suppressed_at=now,
            event_id="u1",
        ),
        Suppression(
            account_id="acct-1",
            recipient="s@example.com",
            reason="spam_report",
            suppressed_at=now,
            event_id="s1",
        ),
    ]


def test_suppressions_continue_while_suspended(run, state, make_event) -> None:
    state.channel("marketing").status.state = "suspended"
    outcome = run([make_event("unsubscribe", recipient="x@example.com")])
    assert [s.recipient for s in outcome.suppressions] == ["x@example.com"]
    assert outcome.decisions == []


def test_campaign_counts_only_marketing(run, state, make_event) -> None:
    run(
        [
            make_event(campaign_id="c1"),
            make_event(campaign_id="c1"),
            make_event("bounce", campaign_id="c1"),
            make_event("bounce", campaign_id="c1", bounce_type="soft"),
            make_event("unsubscribe", campaign_id="c1"),
            make_event(channel="crm", campaign_id="c1"),
        ]
    )
    assert state.channel("marketing").campaign_counts == {
        "c1": CampaignCounts(sent=2, hard_bounces=1, period="2026-11")
    }
    assert state.channel("crm").campaign_counts == {}


def test_event_of_another_account_is_refused(policy, state, make_event, now) -> None:
    with pytest.raises(AccountMismatch):
        apply_event(policy, state, make_event(account_id="other"), None, now)


def test_state_round_trips_through_json(run, state, make_event) -> None:
    run([make_event(campaign_id="c"), make_event("spam_trap"), make_event("blocklist")])
    state.done["email.delivery/0"] = SourceMark(41, [43])
    restored = decode_state(encode_state(state))
    assert restored == state
    assert isinstance(restored, AccountState)
    assert restored.channel("marketing").status.since == state.channel("marketing").status.since


def test_new_account_has_both_channels_active() -> None:
    state = AccountState.new("a")
    assert sorted(state.channels) == ["crm", "marketing"]
    assert {c.status.state for c in state.channels.values()} == {"active"}
    assert state.review_approved is False
    assert state.done == {}


def test_old_months_are_pruned_by_the_watermark_not_the_clock(policy, state, make_event) -> None:
    """An event accepted before midnight, held, and counted after it finds its month."""
    chan = state.channel("marketing")
    chan.periods = {"2026-10": PeriodCounts(sent=500)}
    after_midnight = datetime(2026, 11, 8, 0, 1, tzinfo=UTC)  # the clock's grace: Nov 1 on
    watermark = datetime(2026, 10, 31, 23, 59, tzinfo=UTC)  # events of Oct 31 still due
    apply_event(policy, state, make_event(occurred_at=datetime(2026, 11, 7, 23, 0, tzinfo=UTC)),
                None, after_midnight, watermark)  # fmt: skip
    held = make_event(occurred_at=datetime(2026, 10, 31, 23, 59, 30, tzinfo=UTC))
    apply_event(policy, state, held, None, after_midnight, watermark)
    assert chan.periods["2026-10"] == PeriodCounts(sent=501)
    later = datetime(2026, 11, 9, 0, 0, tzinfo=UTC)
    apply_event(policy, state, make_event(occurred_at=later), None, later, later)
    assert "2026-10" not in chan.periods  # once the watermark is past the grace, it goes


def test_a_watermark_at_the_beginning_of_time_prunes_nothing(policy, state, make_event) -> None:
    """A source not heard from yet holds the watermark at ``BEGINNING``."""
    chan = state.channel("marketing")
    chan.periods = {"2026-01": PeriodCounts(sent=5)}
    now = datetime(2026, 11, 20, tzinfo=UTC)
    apply_event(policy, state, make_event(), None, now, BEGINNING)
    assert set(chan.periods) == {"2026-01", "2026-11"}
