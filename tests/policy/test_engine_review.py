"""Additional account reviews: marketing is held until the review is approved."""

from __future__ import annotations

from datetime import timedelta

import pytest

from policy import AccountMismatch, NotSuspended, apply_meta, apply_restore
from schemas.types import AccountMeta, ChannelStatus

NEEDS_REVIEW = AccountMeta(account_id="acct-1", tier="starter", review_required=True)


def test_meta_requiring_review_holds_marketing(policy, state, now) -> None:
    outcome = apply_meta(policy, state, NEEDS_REVIEW, now)
    assert outcome.status_changed is True
    assert outcome.decisions == []
    assert state.channel("marketing").status == ChannelStatus(state="under_review", since=now)
    assert state.channel("crm").status.state == "active"
    assert apply_meta(policy, state, NEEDS_REVIEW, now).status_changed is False


def test_meta_without_review_changes_nothing(policy, state, now) -> None:
    meta = AccountMeta(account_id="acct-1", review_required=False)
    assert apply_meta(policy, state, meta, now).status_changed is False
    assert state.channel("marketing").status.state == "active"


def test_meta_of_another_account_is_refused(policy, state, now) -> None:
    with pytest.raises(AccountMismatch):
        apply_meta(policy, state, AccountMeta(account_id="zz", review_required=True), now)


def test_review_does_not_soften_a_suspension(policy, run, state, make_event, now) -> None:
    run([make_event("spam_trap")])
    assert apply_meta(policy, state, NEEDS_REVIEW, now).status_changed is False
    assert state.channel("marketing").status.suspension_type == "fraud"


def test_event_with_meta_enters_review_before_judging(run, state, make_event) -> None:
    outcome = run([make_event() for _ in range(1000)] + [make_event("bounce") for _ in range(60)],
                  meta=NEEDS_REVIEW)  # fmt: skip
    assert outcome.status_changed is True
    assert outcome.decisions == []  # under review: rates are not judged
    assert state.channel("marketing").status.state == "under_review"
    assert state.channel("marketing").periods["2026-11"].hard_bounces == 60


@pytest.mark.parametrize(
    ("kind", "reason", "suspension_type"),
    [("spam_trap", "spam_trap", "fraud"), ("abuse_complaint", "abuse_complaint", "deliverability")],
)
def test_a_review_does_not_hide_fraud_and_its_approval_does_not_erase_it(
    policy, run, state, make_event, now, kind, reason, suspension_type
) -> None:
    run([make_event()], meta=NEEDS_REVIEW)
    outcome = run([make_event(kind)], meta=NEEDS_REVIEW)
    assert [(d.action, d.reason, d.suspension_type) for d in outcome.decisions] == [
        ("suspend", reason, suspension_type)
    ]
    marketing = state.channel("marketing")
    assert (marketing.status.state, marketing.status.reason) == ("suspended", reason)
    with pytest.raises(NotSuspended, match="approving the review does not lift a suspension"):
        apply_restore(policy, state, "marketing", "review_approved", "review-1", now)
    assert marketing.status.state == "suspended"
    assert marketing.periods["2026-11"].sent == 1  # the signal is kept, not cleared


def test_under_review_marketing_does_not_block_crm(run, state, make_event) -> None:
    outcome = run([make_event("abuse_complaint", channel="crm")], meta=NEEDS_REVIEW)
    assert [(d.channel, d.action) for d in outcome.decisions] == [("crm", "suspend")]
    assert state.channel("marketing").status.state == "under_review"


def test_review_approved_restores_and_is_remembered(policy, run, state, make_event, now) -> None:
    run([make_event()], meta=NEEDS_REVIEW)
    later = now + timedelta(hours=3)
    outcome = apply_restore(policy, state, "marketing", "review_approved", "review-9", later)
    [decision] = outcome.decisions
    assert (decision.action, decision.reason, decision.channel) == (
        "restore",
        "review_approved",
        "marketing",
    )
    assert state.review_approved is True
    assert state.channel("marketing").status == ChannelStatus(
        state="active", reason="review_approved", since=later
    )
    assert state.channel("marketing").periods == {}
    again = run([make_event()], meta=NEEDS_REVIEW)
    assert again.status_changed is False
    assert apply_meta(policy, state, NEEDS_REVIEW, later).status_changed is False
    assert state.channel("marketing").status.state == "active"


def test_appeal_restore_does_not_count_as_review(policy, run, state, make_event, now) -> None:
    run([make_event("abuse_complaint")])
    apply_restore(policy, state, "marketing", "appeal_approved", "ap-1", now)
    assert state.review_approved is False
    assert apply_meta(policy, state, NEEDS_REVIEW, now).status_changed is True
    assert state.channel("marketing").status.state == "under_review"


def test_restoring_twice_is_refused(policy, state, now) -> None:
    apply_meta(policy, state, NEEDS_REVIEW, now)
    apply_restore(policy, state, "marketing", "review_approved", "r-1", now)
    with pytest.raises(NotSuspended):
        apply_restore(policy, state, "marketing", "review_approved", "r-1", now)
