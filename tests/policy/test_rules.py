"""``rules.evaluate`` on hand-written counts: every limit at the line and just over it."""

from __future__ import annotations

import dataclasses

import pytest

from policy import ChannelPolicy, ChannelState, PeriodCounts, Verdict, evaluate, rate_crossed
from policy.state import CampaignCounts
from schemas.types import ChannelStatus, Evidence

PERIOD = "2026-11"


@pytest.fixture
def marketing(policy) -> ChannelPolicy:
    return policy.channel("marketing")


def actions(verdicts: list[Verdict]) -> list[tuple[str, str]]:
    return [(v.action, v.reason) for v in verdicts]


def test_rate_is_crossed_only_strictly_above_the_limit() -> None:
    assert rate_crossed(50, 1000, 1000, 0.05) is None
    assert rate_crossed(51, 1000, 1000, 0.05) == 0.051
    assert rate_crossed(1, 1000, 1000, 0.001) is None
    assert rate_crossed(2, 1000, 1000, 0.001) == 0.002


def test_rate_needs_the_minimum_volume() -> None:
    assert rate_crossed(999, 999, 1000, 0.05) is None
    assert rate_crossed(51, 1000, 1000, 0.05) == 0.051
    assert rate_crossed(5, 0, 0, 0.05) is None


@pytest.mark.parametrize(
    ("field", "reason", "at_limit", "over"),
    [
        ("hard_bounces", "hard_bounce_rate", 50, 51),
        ("spam_reports", "spam_report_rate", 1, 2),
        ("unsubscribes", "unsubscribe_rate", 50, 51),
    ],
)
def test_each_rate_suspends_just_over_its_limit(
    marketing, make_event, field: str, reason: str, at_limit: int, over: int
) -> None:
    event = make_event()
    at = evaluate(marketing, PeriodCounts(sent=1000, **{field: at_limit}), ChannelState(), event)
    assert ("suspend", reason) not in actions(at)
    verdicts = evaluate(marketing, PeriodCounts(sent=1000, **{field: over}), ChannelState(), event)
    assert actions(verdicts) == [("suspend", reason)]
    assert verdicts[0].suspension_type == "deliverability"
    assert verdicts[0].evidence.rate == over / 1000
    assert verdicts[0].evidence.limit == getattr(marketing.suspend, reason)


def test_rates_below_min_sends_do_nothing(marketing, make_event) -> None:
    counts = PeriodCounts(sent=999, hard_bounces=500, spam_reports=500, unsubscribes=500)
    assert evaluate(marketing, counts, ChannelState(), make_event()) == []


def test_crm_judges_rates_from_its_own_lower_volume(policy, make_event) -> None:
    crm = policy.channel("crm")
    counts = PeriodCounts(sent=200, hard_bounces=11)
    event = make_event(channel="crm")
    assert actions(evaluate(crm, counts, ChannelState(), event)) == [
        ("suspend", "hard_bounce_rate")
    ]
    counts199 = PeriodCounts(sent=199, hard_bounces=11)
    assert evaluate(crm, counts199, ChannelState(), event) == []


def test_evidence_carries_the_period_counts(marketing, make_event) -> None:
    counts = PeriodCounts(
        sent=2000, hard_bounces=7, spam_reports=1, unsubscribes=101, abuse_complaints=0
    )
    [verdict] = evaluate(marketing, counts, ChannelState(), make_event())
    assert verdict.evidence == Evidence(
        sent=2000,
        hard_bounces=7,
        spam_reports=1,
        unsubscribes=101,
        abuse_complaints=0,
        rate=0.0505,
        limit=0.05,
    )


def test_abuse_complaint_suspends_without_volume(marketing, make_event) -> None:
    counts = PeriodCounts(sent=0, abuse_complaints=1)
    [verdict] = evaluate(marketing, counts, ChannelState(), make_event("abuse_complaint"))
    assert (verdict.action, verdict.reason, verdict.suspension_type) == (
        "suspend",
        "abuse_complaint",
        "deliverability",
    )
    assert verdict.evidence.rate is None
    assert verdict.evidence.limit == 1.0


def test_spam_trap_is_a_fraud_suspension(marketing, make_event) -> None:
    counts = PeriodCounts(sent=3, spam_trap_hits=1)
    [verdict] = evaluate(marketing, counts, ChannelState(), make_event("spam_trap"))
    assert (verdict.action, verdict.reason, verdict.suspension_type) == (
        "suspend",
        "spam_trap",
        "fraud",
    )


def test_count_limits_below_the_limit_do_nothing(marketing, make_event) -> None:
    strict = dataclasses.replace(
        marketing,
        suspend=dataclasses.replace(marketing.suspend, abuse_complaints=3, spam_trap_hits=2),
    )
    counts = PeriodCounts(abuse_complaints=2, spam_trap_hits=1)
    assert evaluate(strict, counts, ChannelState(), make_event("abuse_complaint")) == []
    counts.abuse_complaints = 3
    assert actions(evaluate(strict, counts, ChannelState(), make_event())) == [
        ("suspend", "abuse_complaint")
    ]


def test_zero_count_limit_switches_the_signal_off(marketing, make_event) -> None:
    off = dataclasses.replace(
        marketing,
        suspend=dataclasses.replace(
            marketing.suspend, abuse_complaints=0, spam_trap_hits=0, blocklistings=0
        ),
        warn=dataclasses.replace(marketing.warn, blocklistings=0),
    )
    counts = PeriodCounts(abuse_complaints=9, spam_trap_hits=9)
    channel = ChannelState(blocklists=["a|192.0.2.1", "b|192.0.2.1", "c|192.0.2.1"])
    assert evaluate(off, counts, channel, make_event("blocklist")) == []


def test_precedence_when_everything_crosses_at_once(marketing, make_event) -> None:
    counts = PeriodCounts(
        sent=1000,
        hard_bounces=500,
        spam_reports=500,
        unsubscribes=500,
        abuse_complaints=1,
        spam_trap_hits=1,
    )
    channel = ChannelState(blocklists=["a|x", "b|x"], cancelled_campaigns={PERIOD: 3})
    event = make_event("blocklist")

    def first(c: PeriodCounts, ch: ChannelState) -> tuple[str, str]:
        [verdict] = evaluate(marketing, c, ch, event)
        return verdict.action, verdict.reason

    assert first(counts, channel) == ("suspend", "spam_trap")
    counts.spam_trap_hits = 0
    assert first(counts, channel) == ("suspend", "abuse_complaint")
    counts.abuse_complaints = 0
    assert first(counts, channel) == ("suspend", "blocklist")
    channel.blocklists = []
    assert first(counts, channel) == ("suspend", "hard_bounce_rate")
    counts.hard_bounces = 0
    assert first(counts, channel) == ("suspend", "spam_report_rate")
    counts.spam_reports = 0
    assert first(counts, channel) == ("suspend", "unsubscribe_rate")
    counts.unsubscribes = 0
    assert first(counts, channel) == ("suspend", "repeated_cancelled_campaigns")


def test_suspended_channel_gets_nothing(marketing, make_event) -> None:
    channel = ChannelState(
        status=ChannelStatus(state="suspended"),
        campaign_counts={"c1": CampaignCounts(sent=200, hard_bounces=100, period=PERIOD)},
    )
    counts = PeriodCounts(sent=1000, hard_bounces=900, abuse_complaints=5, spam_trap_hits=5)
    assert evaluate(marketing, counts, channel, make_event("bounce", campaign_id="c1")) == []


def test_under_review_channel_gets_no_rate_warn_suspend_or_cancel(marketing, make_event) -> None:
    channel = ChannelState(
        status=ChannelStatus(state="under_review"),
        campaign_counts={"c1": CampaignCounts(sent=200, hard_bounces=100, period=PERIOD)},
    )
    counts = PeriodCounts(sent=1000, hard_bounces=900, unsubscribes=900)
    assert evaluate(marketing, counts, channel, make_event("bounce", campaign_id="c1")) == []


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        (PeriodCounts(spam_trap_hits=1), ("suspend", "spam_trap", "fraud")),
        (PeriodCounts(abuse_complaints=1), ("suspend", "abuse_complaint", "deliverability")),
        (PeriodCounts(spam_trap_hits=1, abuse_complaints=1), ("suspend", "spam_trap", "fraud")),
    ],
)
def test_a_review_does_not_hide_fraud_or_abuse(marketing, make_event, counts, expected) -> None:
    channel = ChannelState(status=ChannelStatus(state="under_review"))
    [verdict] = evaluate(marketing, counts, channel, make_event("spam_trap"))
    assert (verdict.action, verdict.reason, verdict.suspension_type) == expected


def test_warned_channel_can_still_be_suspended(marketing, make_event) -> None:
    channel = ChannelState(status=ChannelStatus(state="warned", reason="hard_bounce_rate"))
    counts = PeriodCounts(sent=1000, hard_bounces=51)
    assert actions(evaluate(marketing, counts, channel, make_event("bounce"))) == [
        ("suspend", "hard_bounce_rate")
    ]


@pytest.mark.parametrize(
    ("field", "reason", "at_limit", "over"),
    [
        ("hard_bounces", "hard_bounce_rate", 20, 21),
        ("unsubscribes", "unsubscribe_rate", 20, 21),
    ],
)
def test_warn_just_over_the_warn_limit(
    marketing, make_event, field: str, reason: str, at_limit: int, over: int
) -> None:
    event = make_event()
    at = evaluate(marketing, PeriodCounts(sent=1000, **{field: at_limit}), ChannelState(), event)
    assert at == []
    [verdict] = evaluate(marketing, PeriodCounts(sent=1000, **{field: over}), ChannelState(), event)
    assert (verdict.action, verdict.reason, verdict.suspension_type) == ("warn", reason, None)
    assert verdict.evidence.rate == over / 1000
    assert verdict.evidence.limit == 0.02


def test_spam_report_warn_level(marketing, make_event) -> None:
    event = make_event()
    assert evaluate(marketing, PeriodCounts(sent=2000, spam_reports=1), ChannelState(), event) == []
    verdicts = evaluate(marketing, PeriodCounts(sent=2000, spam_reports=2), ChannelState(), event)
    assert actions(verdicts) == [("warn", "spam_report_rate")]


def test_warn_needs_min_sends(marketing, make_event) -> None:
    counts = PeriodCounts(sent=999, hard_bounces=40)
    assert evaluate(marketing, counts, ChannelState(), make_event()) == []


def test_warn_is_skipped_when_already_warned_this_period(marketing, make_event) -> None:
    counts = PeriodCounts(sent=1000, hard_bounces=30, unsubscribes=30)
    channel = ChannelState(warned=[f"{PERIOD}/hard_bounce_rate", "2026-10/unsubscribe_rate"])
    assert actions(evaluate(marketing, counts, channel, make_event())) == [
        ("warn", "unsubscribe_rate")
    ]


def test_no_warn_alongside_a_suspend(marketing, make_event) -> None:
    counts = PeriodCounts(sent=1000, hard_bounces=60, unsubscribes=30)
    assert actions(evaluate(marketing, counts, ChannelState(), make_event("bounce"))) == [
        ("suspend", "hard_bounce_rate")
    ]


def test_blocklist_judged_only_on_a_new_listing(marketing, make_event) -> None:
    one, two = ["a|192.0.2.1"], ["a|192.0.2.1", "b|192.0.2.1"]
    listing = make_event("blocklist")
    delisting = make_event("blocklist", listed=False)
    assert actions(evaluate(marketing, PeriodCounts(), ChannelState(blocklists=one), listing)) == [
        ("warn", "blocklist")
    ]
    assert actions(evaluate(marketing, PeriodCounts(), ChannelState(blocklists=two), listing)) == [
        ("suspend", "blocklist")
    ]
    assert evaluate(marketing, PeriodCounts(), ChannelState(blocklists=two), delisting) == []
    assert evaluate(marketing, PeriodCounts(), ChannelState(blocklists=two), make_event()) == []


def test_campaign_cancel_just_over_its_limit(marketing, make_event) -> None:
    event = make_event("bounce", campaign_id="c1")
    at = ChannelState(campaign_counts={"c1": CampaignCounts(sent=200, hard_bounces=20, period=PERIOD)})
    assert evaluate(marketing, PeriodCounts(sent=5000), at, event) == []
    over = ChannelState(campaign_counts={"c1": CampaignCounts(sent=200, hard_bounces=21, period=PERIOD)})
    [verdict] = evaluate(marketing, PeriodCounts(sent=5000), over, event)
    assert (verdict.action, verdict.reason, verdict.campaign_id) == (
        "cancel_campaign",
        "hard_bounce_rate",
        "c1",
    )
    assert verdict.suspension_type is None
    assert verdict.evidence == Evidence(
        sent=200,
        hard_bounces=21,
        spam_reports=0,
        unsubscribes=0,
        abuse_complaints=0,
        rate=0.105,
        limit=0.1,
    )


def test_campaign_needs_its_min_sends_and_is_cancelled_once(marketing, make_event) -> None:
    event = make_event("bounce", campaign_id="c1")
    small = ChannelState(campaign_counts={"c1": CampaignCounts(sent=199, hard_bounces=150, period=PERIOD)})
    assert evaluate(marketing, PeriodCounts(sent=5000), small, event) == []
    done = ChannelState(
        campaign_counts={"c1": CampaignCounts(sent=300, hard_bounces=150, cancelled=True, period=PERIOD)}
    )
    assert evaluate(marketing, PeriodCounts(sent=5000), done, event) == []


def test_third_cancel_in_a_period_suspends(marketing, make_event) -> None:
    event = make_event("bounce", campaign_id="c3")
    channel = ChannelState(
        campaign_counts={"c3": CampaignCounts(sent=200, hard_bounces=30, period=PERIOD)},
        cancelled_campaigns={PERIOD: 2, "2026-10": 5},
    )
    verdicts = evaluate(marketing, PeriodCounts(sent=5000, hard_bounces=30), channel, event)
    assert actions(verdicts) == [
        ("cancel_campaign", "hard_bounce_rate"),
        ("suspend", "repeated_cancelled_campaigns"),
    ]
    assert verdicts[1].evidence.limit == 3.0
    channel.cancelled_campaigns[PERIOD] = 1
    assert actions(
        evaluate(marketing, PeriodCounts(sent=5000, hard_bounces=30), channel, event)
    ) == [("cancel_campaign", "hard_bounce_rate")]


def test_crm_has_no_campaigns(policy, make_event) -> None:
    channel = ChannelState(campaign_counts={"c1": CampaignCounts(sent=500, hard_bounces=400, period=PERIOD)})
    event = make_event("bounce", channel="crm", campaign_id="c1")
    assert evaluate(policy.channel("crm"), PeriodCounts(sent=5000), channel, event) == []
