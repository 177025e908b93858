"""``apply_event`` / ``apply_restore`` end to end: events in, decisions and statuses out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from policy import (
    AccountState,
    NotSuspended,
    PeriodCounts,
    PolicyError,
    account_status,
    apply_restore,
    decision_id,
)
from schemas.types import ChannelStatus, Evidence


def deliveries(make_event, n: int, **fields):
    return [make_event(**fields) for _ in range(n)]


def summary(outcome) -> list[tuple[str, str, str]]:
    return [(d.channel, d.action, d.reason) for d in outcome.decisions]


def test_hard_bounce_stream_warns_then_suspends(run, state, make_event, now) -> None:
    run(deliveries(make_event, 1000))
    warned = run([make_event("bounce") for _ in range(21)])
    assert summary(warned) == [("marketing", "warn", "hard_bounce_rate")]
    assert warned.decisions[0].trigger_event_id == "e1021"
    assert state.channel("marketing").status == ChannelStatus(
        state="warned", reason="hard_bounce_rate", since=now
    )
    at_limit = run([make_event("bounce") for _ in range(29)])  # 50 / 1000 is not over 5 %
    assert at_limit.decisions == []
    suspended = run([make_event("bounce")])
    [decision] = suspended.decisions
    assert (decision.action, decision.reason, decision.suspension_type) == (
        "suspend",
        "hard_bounce_rate",
        "deliverability",
    )
    assert decision.evidence == Evidence(
        sent=1000,
        hard_bounces=51,
        spam_reports=0,
        unsubscribes=0,
        abuse_complaints=0,
        rate=0.051,
        limit=0.05,
    )
    assert decision.period == "2026-11"
    assert decision.policy_version == "2026-11-default"
    assert decision.decided_at == now
    assert decision.trigger_event_id == "e1051"
    assert decision.campaign_id is None
    assert suspended.status_changed is True


def test_rate_tipped_by_the_delivery_that_reaches_min_sends(run, make_event) -> None:
    early = run([make_event("bounce") for _ in range(60)] + deliveries(make_event, 999))
    assert early.decisions == []
    [decision] = run([make_event(event_id="the-1000th")]).decisions
    assert (decision.action, decision.reason, decision.trigger_event_id) == (
        "suspend",
        "hard_bounce_rate",
        "the-1000th",
    )


def test_warn_is_issued_once_per_reason_and_period(run, state, make_event) -> None:
    state.channel("marketing").periods["2026-11"] = PeriodCounts(sent=1000, unsubscribes=20)
    first = run([make_event("unsubscribe")])
    again = run([make_event("unsubscribe") for _ in range(10)])
    assert summary(first) == [("marketing", "warn", "unsubscribe_rate")]
    assert again.decisions == []
    assert again.status_changed is False
    assert state.channel("marketing").warned == ["2026-11/unsubscribe_rate"]


def test_warn_again_in_a_new_period(run, state, make_event) -> None:
    state.channel("marketing").warned = ["2026-10/unsubscribe_rate"]
    state.channel("marketing").periods["2026-11"] = PeriodCounts(sent=1000, unsubscribes=20)
    assert summary(run([make_event("unsubscribe")])) == [("marketing", "warn", "unsubscribe_rate")]


def test_suspended_channel_is_not_suspended_again(run, state, make_event) -> None:
    first = run([make_event("abuse_complaint")])
    assert summary(first) == [("marketing", "suspend", "abuse_complaint")]
    later = run([make_event("abuse_complaint"), make_event("spam_trap"), make_event("bounce")])
    assert later.decisions == []
    assert later.status_changed is False
    assert state.channel("marketing").status.reason == "abuse_complaint"


def test_spam_trap_suspends_as_fraud(run, state, make_event, now) -> None:
    outcome = run([make_event("spam_trap", trap_kind="pristine")])
    [decision] = outcome.decisions
    assert (decision.reason, decision.suspension_type) == ("spam_trap", "fraud")
    assert decision.evidence.rate is None
    assert state.channel("marketing").status == ChannelStatus(
        state="suspended", reason="spam_trap", suspension_type="fraud", since=now
    )


def test_crm_is_judged_independently(run, state, make_event) -> None:
    outcome = run([make_event("abuse_complaint", channel="crm")])
    assert summary(outcome) == [("crm", "suspend", "abuse_complaint")]
    assert state.channel("marketing").status.state == "active"
    assert state.channel("marketing").periods == {}
    marketing = run([*deliveries(make_event, 1000), make_event("unsubscribe")])
    assert marketing.decisions == []
    crm = run([*deliveries(make_event, 200, channel="crm"), make_event("bounce", channel="crm")])
    assert crm.decisions == []  # suspended already
    assert state.channel("crm").periods["2026-11"].sent == 200
    assert state.channel("marketing").periods["2026-11"].sent == 1000


def test_blocklist_warns_on_first_and_suspends_on_second_listing(run, state, make_event) -> None:
    first = run([make_event("blocklist", blocklist="sbl")])
    assert summary(first) == [("marketing", "warn", "blocklist")]
    delisted = run([make_event("blocklist", blocklist="sbl", listed=False)])
    relisted = run([make_event("blocklist", blocklist="sbl")])
    assert delisted.decisions == relisted.decisions == []  # warned once this period
    second = run([make_event("blocklist", blocklist="barracuda")])
    assert summary(second) == [("marketing", "suspend", "blocklist")]
    assert second.decisions[0].evidence.limit == 2.0


def test_campaign_cancel_then_repeated_cancels_suspend(run, state, make_event) -> None:
    run(deliveries(make_event, 3000))  # keep the account's own rate well under 5 %

    def bad_campaign(cid: str):
        return run(
            deliveries(make_event, 200, campaign_id=cid)
            + [make_event("bounce", campaign_id=cid) for _ in range(21)]
        )

    first = bad_campaign("c1")
    assert [(d.action, d.campaign_id) for d in first.decisions] == [("cancel_campaign", "c1")]
    assert first.decisions[0].evidence.sent == 200
    assert first.decisions[0].evidence.hard_bounces == 21
    assert first.status_changed is False
    more_bounces = run([make_event("bounce", campaign_id="c1")])
    assert more_bounces.decisions == []
    assert bad_campaign("c2").decisions[0].action == "cancel_campaign"
    chan = state.channel("marketing")
    assert chan.cancelled_campaigns == {"2026-11": 2}
    third = bad_campaign("c3")
    assert [(d.action, d.reason, d.campaign_id) for d in third.decisions] == [
        ("cancel_campaign", "hard_bounce_rate", "c3"),
        ("suspend", "repeated_cancelled_campaigns", None),
    ]
    assert third.decisions[1].suspension_type == "deliverability"
    assert chan.status.state == "suspended"
    assert chan.cancelled_campaigns == {"2026-11": 3}
    assert chan.campaign_counts["c3"].cancelled is True


def test_restore_resets_counts_and_a_new_bad_stream_resuspends(
    policy, run, state, make_event, now
) -> None:
    run(deliveries(make_event, 1000) + [make_event("bounce") for _ in range(51)])
    chan = state.channel("marketing")
    chan.blocklists = ["sbl|192.0.2.1"]
    assert chan.status.state == "suspended"
    later = now + timedelta(days=1)
    outcome = apply_restore(policy, state, "marketing", "appeal_approved", "appeal-7", later)
    [decision] = outcome.decisions
    assert (decision.action, decision.reason, decision.suspension_type) == (
        "restore",
        "appeal_approved",
        None,
    )
    assert decision.trigger_event_id is None
    assert decision.decision_id == decision_id(
        "acct-1", "marketing", "restore", "appeal_approved", "ref", "appeal-7"
    )
    assert decision.evidence.sent == 1000
    assert decision.evidence.hard_bounces == 51
    assert decision.evidence.rate is None
    assert outcome.status_changed is True
    assert chan.status == ChannelStatus(state="active", reason="appeal_approved", since=later)
    assert chan.periods == {}
    assert chan.warned == []  # the month starts again: a new offence is warned first
    assert chan.blocklists == ["sbl|192.0.2.1"]

    calm = run(deliveries(make_event, 999) + [make_event("bounce") for _ in range(60)], at=later)
    assert calm.decisions == []  # only 999 sends since the restore
    again = run(deliveries(make_event, 1), at=later)
    assert summary(again) == [("marketing", "suspend", "hard_bounce_rate")]


def test_a_restored_channel_that_goes_bad_again_is_warned_before_it_is_suspended(
    policy, run, state, make_event, now
) -> None:
    bad = deliveries(make_event, 1000) + [make_event("bounce") for _ in range(51)]
    assert summary(run(bad)) == [
        ("marketing", "warn", "hard_bounce_rate"), ("marketing", "suspend", "hard_bounce_rate")
    ]
    later = now + timedelta(days=1)
    apply_restore(policy, state, "marketing", "appeal_approved", "appeal-8", later)
    again = deliveries(make_event, 1000) + [make_event("bounce") for _ in range(51)]
    assert summary(run(again, at=later)) == [
        ("marketing", "warn", "hard_bounce_rate"), ("marketing", "suspend", "hard_bounce_rate")
    ]


def test_a_restore_is_stamped_with_the_channels_month_not_the_clocks(
    policy, run, state, make_event, now
) -> None:
    run([make_event("spam_trap", occurred_at=datetime(2026, 11, 30, 23, 0, tzinfo=UTC))])
    processed = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)  # an appeal decided in December
    [decision] = apply_restore(
        policy, state, "marketing", "appeal_approved", "ap-3", processed
    ).decisions
    assert decision.period == "2026-11"


def test_restore_keeps_listings_without_resuspending(policy, run, state, make_event, now) -> None:
    run([make_event("blocklist", blocklist="a"), make_event("blocklist", blocklist="b")])
    apply_restore(policy, state, "marketing", "appeal_approved", "ap-1", now)
    assert run(deliveries(make_event, 5)).decisions == []
    third = run([make_event("blocklist", blocklist="c")])
    assert summary(third) == [("marketing", "suspend", "blocklist")]


def test_restore_of_an_active_channel_is_refused(policy, state, now) -> None:
    with pytest.raises(NotSuspended, match="'crm' is active"):
        apply_restore(policy, state, "crm", "appeal_approved", "ap-1", now)
    assert issubclass(NotSuspended, PolicyError)


def test_decision_ids_are_deterministic(policy, make_event) -> None:
    from policy import apply_event

    def replay(at: datetime) -> list[str]:
        state = AccountState.new("acct-1")
        events = [
            make_event("blocklist", event_id="x1"),
            make_event("abuse_complaint", event_id="x2"),
        ]
        return [
            d.decision_id for e in events for d in apply_event(policy, state, e, None, at).decisions
        ]

    first, second = (
        replay(datetime(2026, 11, 15, tzinfo=UTC)),
        replay(datetime(2026, 11, 16, tzinfo=UTC)),
    )
    assert first == second
    assert len(first) == 2 and len(set(first)) == 2
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in first)
    assert first[1] == decision_id(
        "acct-1", "marketing", "suspend", "abuse_complaint", "2026-11", None, "event", "x2"
    )


def test_account_status_lists_both_channels(run, state, make_event, now) -> None:
    run([make_event("spam_trap", channel="crm")])
    status = account_status(state, now)
    assert status.account_id == "acct-1"
    assert status.updated_at == now
    assert status.channels == {
        "marketing": ChannelStatus(),
        "crm": ChannelStatus(
            state="suspended", reason="spam_trap", suspension_type="fraud", since=now
        ),
    }
    status.channels["crm"].state = "active"
    assert state.channel("crm").status.state == "suspended"  # a copy, not the live state
    bare = account_status(AccountState(account_id="b"), now)
    assert set(bare.channels) == {"marketing", "crm"}


def test_restore_resets_campaign_counts_and_cancellations(
    policy, run, state, make_event, now
) -> None:
    run(deliveries(make_event, 3000))
    for cid in ("c1", "c2"):
        run(
            [
                *deliveries(make_event, 200, campaign_id=cid),
                *[make_event("bounce", campaign_id=cid) for _ in range(21)],
            ]
        )
    run([make_event("abuse_complaint")])
    chan = state.channel("marketing")
    assert chan.cancelled_campaigns == {"2026-11": 2}
    apply_restore(policy, state, "marketing", "appeal_approved", "ap-2", now)
    assert chan.campaign_counts == {}
    assert chan.cancelled_campaigns == {}
    third = run(
        [
            *deliveries(make_event, 1000),
            *deliveries(make_event, 200, campaign_id="c1"),
            *[make_event("bounce", campaign_id="c1") for _ in range(21)],
        ]
    )
    assert [(d.action, d.campaign_id) for d in third.decisions] == [("cancel_campaign", "c1")]
    assert chan.status.state == "active"


def test_a_warning_expires_when_the_channels_next_month_starts(
    policy, run, state, make_event, now
) -> None:
    november = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    run(deliveries(make_event, 1000, occurred_at=november)
        + [make_event("bounce", occurred_at=november) for _ in range(21)])  # fmt: skip
    chan = state.channel("marketing")
    assert (chan.status.state, chan.status.reason) == ("warned", "hard_bounce_rate")
    late_november = run([make_event(occurred_at=november)], at=now)
    assert late_november.status_changed is False and chan.status.state == "warned"
    december = datetime(2026, 12, 1, 0, 5, tzinfo=UTC)
    clean = run([make_event(occurred_at=december)], at=december)
    assert clean.status_changed is True  # a status record says so
    assert clean.decisions == []
    assert chan.status == ChannelStatus(state="active", since=december)
    assert state.channel("crm").status.state == "active"


def test_a_later_warning_names_the_newest_problem_and_when(
    policy, run, state, make_event, now
) -> None:
    run(deliveries(make_event, 1000) + [make_event("bounce") for _ in range(21)])
    later = now + timedelta(hours=2)
    outcome = run([make_event("unsubscribe") for _ in range(21)], at=later)
    assert summary(outcome) == [("marketing", "warn", "unsubscribe_rate")]
    assert outcome.status_changed is True
    assert state.channel("marketing").status == ChannelStatus(
        state="warned", reason="unsubscribe_rate", since=later
    )


def test_a_campaign_across_the_months_end_is_judged_on_all_its_events(run, make_event) -> None:
    run([make_event(occurred_at=datetime(2026, 11, 29, tzinfo=UTC)) for _ in range(3000)])
    before, after = datetime(2026, 11, 30, 23, 0, tzinfo=UTC), datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    sends = [make_event(campaign_id="big", occurred_at=at) for at in (before, after) for _ in range(150)]
    bounces = [make_event("bounce", campaign_id="big", occurred_at=at)
               for at in (before, after) for _ in range(30)]  # fmt: skip
    outcome = run(sends + bounces, at=after)
    assert [(d.action, d.campaign_id, d.period) for d in outcome.decisions] == [
        ("cancel_campaign", "big", "2026-12")
    ]
    evidence = outcome.decisions[0].evidence
    assert (evidence.sent, evidence.hard_bounces) == (300, 31)  # cancelled as it crossed 10 %
