"""Opt-in probation: for some days after a restore, the channel's limits are scaled down."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from policy import PolicyError, account_status, apply_restore, load_policy

PROBATION = "[marketing.probation]\ndays = 14\nfactor = 0.5\n"
RESTORED = datetime(2026, 11, 10, 12, tzinfo=UTC)


def _policy(tmp_path: Path, text: str = PROBATION):  # type: ignore[no-untyped-def]
    path = tmp_path / "policy.toml"
    path.write_text(text)
    return load_policy(path)


def _bounce_month(make_event, at: datetime, bounces: int) -> list:  # type: ignore[no-untyped-def]
    return ([make_event(occurred_at=at) for _ in range(1000)]
            + [make_event("bounce", occurred_at=at) for _ in range(bounces)])  # fmt: skip


def _restored(policy, run, state, make_event):  # type: ignore[no-untyped-def]
    run([make_event("abuse_complaint", occurred_at=RESTORED - timedelta(days=1))], using=policy)
    apply_restore(policy, state, "marketing", "appeal_approved", "ap-1", RESTORED)


def test_limits_are_scaled_during_probation(tmp_path, run, state, make_event) -> None:
    policy = _policy(tmp_path)
    _restored(policy, run, state, make_event)
    during = RESTORED + timedelta(days=3)
    outcome = run(_bounce_month(make_event, during, 26), using=policy, at=during)
    suspend = [d for d in outcome.decisions if d.action == "suspend"]
    assert [(d.reason, d.evidence.hard_bounces) for d in suspend] == [("hard_bounce_rate", 26)]
    assert suspend[0].evidence.limit == 0.025 and suspend[0].evidence.probation_factor == 0.5
    status = account_status(state, during).channels["marketing"]
    assert status.probation_until == RESTORED + timedelta(days=14)


def test_after_probation_the_usual_limits_apply(tmp_path, run, state, make_event) -> None:
    policy = _policy(tmp_path)
    _restored(policy, run, state, make_event)
    after = RESTORED + timedelta(days=15)
    outcome = run(_bounce_month(make_event, after, 26), using=policy, at=after)
    assert [d.action for d in outcome.decisions] == ["warn"]  # 2.6 % > 2 %, not > 5 %
    assert outcome.decisions[0].evidence.probation_factor is None


def test_no_probation_table_means_no_probation(run, state, make_event, policy) -> None:
    _restored(policy, run, state, make_event)
    assert state.channel("marketing").probation_until is None
    during = RESTORED + timedelta(days=3)
    outcome = run(_bounce_month(make_event, during, 26), at=during)
    assert [d.action for d in outcome.decisions] == ["warn"]


def test_count_limits_scale_but_never_below_one(tmp_path) -> None:
    marketing = _policy(tmp_path).channel("marketing").on_probation
    assert marketing.suspend.blocklistings == 1 and marketing.suspend.abuse_complaints == 1
    assert marketing.warn.hard_bounce_rate == 0.01


def test_a_probation_table_needs_both_keys(tmp_path) -> None:
    with pytest.raises(PolicyError, match="needs both days and factor"):
        _policy(tmp_path, "[crm.probation]\ndays = 7\n")
