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
    outcome = run([make_event("abuse_complaint")], meta=NEEDS_REVIEW)
    assert outcome.status_changed is True
    assert outcome.decisions == []  # under review: no suspend
    assert state.channel("marketing").status.state == "under_review"
    assert state.channel("marketing").periods["2026-11"].abuse_complaints == 1


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
