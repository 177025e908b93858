"""The gating study (``python -m bench.gating``): its yardstick on hand-made months, and
one small run end to end through simulate and replay."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench.gating import main, markdown, run_study
from bench.gating_score import (
    MonthCounts,
    Suspension,
    Tally,
    false_table,
    first_suspensions,
    score,
    sends_table,
)
from policy import load_policy
from policy.config import SuspendLimits
from schemas.types import Decision, Evidence

from .test_cli_offline import run_cli

START = datetime(2026, 9, 1, tzinfo=UTC)
LIMITS = {name: c.suspend for name, c in load_policy().channels.items()}


def tally(months: dict[tuple[str, str], MonthCounts], profile: str = "p") -> Tally:
    t = Tally(counts=dict(months))
    t.profiles = {account: profile for account, _ in months}
    return t


def test_a_suspension_whose_month_ended_under_the_limit_is_false() -> None:
    """Suspended at 600 sends; the month ended at 4.9 % (98 of 2,000): a false suspension."""
    months = {("a", "marketing"): MonthCounts(sent=2000, hard_bounces=98)}
    scores = score(tally(months), {("a", "marketing"): Suspension("hard_bounce_rate", 600)}, LIMITS)
    s = scores["p"]
    assert (s.suspended["hard_bounce_rate"], s.false["hard_bounce_rate"]) == (1, 1)
    assert (s.over, s.sends_until) == (0, [])
    assert scores["all"].false == s.false


def test_exactly_at_the_limit_is_not_over_it() -> None:
    months = {("a", "marketing"): MonthCounts(sent=2000, hard_bounces=100)}  # 5.0 %
    s = score(tally(months), {("a", "marketing"): Suspension("hard_bounce_rate", 1200)}, LIMITS)
    assert s["p"].false["hard_bounce_rate"] == 1 and s["p"].over == 0


def test_truly_over_counts_its_sends_until_suspension_or_never() -> None:
    months = {
        ("a", "marketing"): MonthCounts(sent=2000, hard_bounces=110),   # 5.5 %: suspended
        ("b", "marketing"): MonthCounts(sent=3000, unsubscribes=160),   # 5.3 %: suspended
        ("c", "marketing"): MonthCounts(sent=800, hard_bounces=240),    # 30 %: never
        ("d", "marketing"): MonthCounts(sent=5000, spam_reports=4),     # 0.08 %: fine
    }  # fmt: skip
    suspensions = {
        ("a", "marketing"): Suspension("hard_bounce_rate", 1200),
        ("b", "marketing"): Suspension("spam_trap", 400),  # any reason stops the sending
    }
    s = score(tally(months), suspensions, LIMITS)["p"]
    assert s.account_channels == 4 and s.over == 3 and s.never_suspended == 1
    assert sorted(s.sends_until) == [400, 1200]
    assert s.false["hard_bounce_rate"] == 0 and s.suspended["hard_bounce_rate"] == 1
    assert "spam_trap" not in s.suspended  # only rates have a whole-month rate to judge
    assert s.sends_at(0.5) in (400, 1200) and s.sends_at(0.9) == 1200


def test_each_channel_is_judged_against_its_own_limits() -> None:
    strict_crm = dict(LIMITS)
    strict_crm["crm"] = SuspendLimits(0.03, 0.001, 0.05, 1, 1, 2)
    months = {("a", "marketing"): MonthCounts(sent=500, hard_bounces=20),  # 4 %
              ("a", "crm"): MonthCounts(sent=500, hard_bounces=20)}  # fmt: skip
    suspensions = {key: Suspension("hard_bounce_rate", 300) for key in months}
    s = score(tally(months), suspensions, strict_crm)["p"]
    assert s.false["hard_bounce_rate"] == 1 and s.over == 1  # crm's 4 % is over its 3 %


def test_profiles_are_scored_apart_and_together() -> None:
    t = Tally(counts={("a", "marketing"): MonthCounts(sent=100, hard_bounces=30),
                      ("b", "marketing"): MonthCounts(sent=100, hard_bounces=1)})  # fmt: skip
    t.profiles = {"a": "bad_list", "b": "clean"}
    scores = score(t, {("a", "marketing"): Suspension("hard_bounce_rate", 50)}, LIMITS)
    assert set(scores) == {"bad_list", "clean", "all"}
    assert scores["bad_list"].sends_until == [50] and scores["clean"].over == 0
    assert scores["all"].account_channels == 2 and scores["all"].over == 1


def _decision(account: str, action: str, reason: str, sent: int, n: int) -> Decision:
    return Decision(
        decision_id=f"d{n}", account_id=account, channel="marketing", action=action,
        reason=reason, suspension_type=None, campaign_id=None, period="2026-09",
        evidence=Evidence(sent=sent, hard_bounces=0, spam_reports=0, unsubscribes=0,
                          abuse_complaints=0, rate=None, limit=None),
        trigger_event_id=None, policy_version="v", decided_at=START,
    )  # fmt: skip


def test_first_suspensions_take_the_first_suspend_and_its_sends() -> None:
    decisions = [
        _decision("a", "warn", "hard_bounce_rate", 300, 1),
        _decision("a", "suspend", "hard_bounce_rate", 650, 2),
        _decision("a", "suspend", "spam_trap", 900, 3),  # after a restore, say: not the first
        _decision("b", "cancel_campaign", "hard_bounce_rate", 200, 4),
    ]
    assert first_suspensions(decisions) == {("a", "marketing"): Suspension("hard_bounce_rate", 650)}


def test_the_tally_counts_what_streams_past_and_passes_it_on() -> None:
    items = [
        {"topic": "accounts", "account_id": "a", "sim_profile": "bad_list"},
        *({"topic": "email.delivery", "account_id": "a", "channel": "marketing"} for _ in range(4)),
        {"topic": "email.delivery", "account_id": "a", "channel": "crm"},
        {"topic": "email.bounce", "account_id": "a", "channel": "marketing", "bounce_type": "hard"},
        {"topic": "email.bounce", "account_id": "a", "channel": "marketing", "bounce_type": "soft"},
        {"topic": "email.spam-report", "account_id": "a"},  # no channel: marketing
        {"topic": "email.unsubscribe", "account_id": "a", "channel": "crm"},
        "a broken line",
    ]
    t = Tally()
    assert list(t.watch(items)) == items
    assert t.counts[("a", "marketing")] == MonthCounts(sent=4, hard_bounces=1, spam_reports=1)
    assert t.counts[("a", "crm")] == MonthCounts(sent=1, unsubscribes=1)
    assert t.profile(("a", "crm")) == "bad_list"


def test_the_tables_show_each_policy_side_by_side() -> None:
    months = {("a", "marketing"): MonthCounts(sent=2000, hard_bounces=98),
              ("b", "marketing"): MonthCounts(sent=900, hard_bounces=270)}  # fmt: skip
    t = tally(months, "borderline")
    default = score(t, {("a", "marketing"): Suspension("hard_bounce_rate", 1100)}, LIMITS)
    wilson = score(t, {("b", "marketing"): Suspension("hard_bounce_rate", 50)}, LIMITS)
    rows = false_table(["default", "wilson"], [default, wilson])
    assert rows[0].startswith(
        "| profile | account-channels | hard bounces: default | hard bounces: wilson |"
    )
    assert rows[2] == "| `borderline` | 2 | 1 / 1 | 0 / 1 | 0 / 0 | 0 / 0 | 0 / 0 | 0 / 0 |"
    assert rows[3].startswith("| **all** | 2 | 1 / 1 | 0 / 1 |")
    rows = sends_table(["default", "wilson"], [default, wilson])
    assert rows[2] == "| `borderline` | 1 | - | - | 1 | 50 | 50 | 0 |"


def test_a_small_month_end_to_end(tmp_path: Path) -> None:
    """Every gating profile once, and a few more: the bad list is stopped near the floor
    under Wilson, never before 1,000 sends under the default; the event file is the one
    ``sendguard simulate --mix gating`` writes."""
    kept = tmp_path / "month.jsonl"
    study = run_study(accounts=14, seed=2, start=START, days=30, mix="gating", keep_events=kept)
    assert study.names == ["default", "wilson"] and study.accounts == 14
    default, wilson = study.scores
    bad = wilson["bad_list"]
    assert bad.over >= 1 and bad.never_suspended == 0 and max(bad.sends_until) < 100
    assert all(n >= 1000 for n in default["bad_list"].sends_until)
    assert default["bad_list"].never_suspended + len(default["bad_list"].sends_until) == bad.over
    assert default["clean"].suspended == wilson["clean"].suspended == {}
    text = markdown(study)
    assert "| `bad_list` |" in text and study.versions[1] in text
    same = tmp_path / "same.jsonl"
    result = run_cli("simulate", "--mix", "gating", "--accounts", "14", "--seed", "2",
                     "--start", "2026-09-01", "--days", "30", "--out", str(same))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert same.read_bytes() == kept.read_bytes()


def test_a_run_must_stay_in_one_calendar_month() -> None:
    with pytest.raises(
        ValueError, match="one calendar month: 2026-09-20 plus 30 days ends in 2026-10"
    ):
        run_study(accounts=1, seed=1, start=datetime(2026, 9, 20, tzinfo=UTC), days=30,
                  mix="gating")  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--mix", "nope"], "gating: error: unknown mix 'nope'; known: default, gating"),
        (["--start", "2026-09-20"], "gating: error: the study judges one calendar month"),
        (["--start", "soon"], "gating: error: --start: not an ISO date or time: 'soon'"),
        (["--confidence", "1.5"], "gating: error: "),
    ],
)
def test_bad_study_arguments_are_one_line(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--accounts", "1", *args]) == 1
    err = capsys.readouterr().err
    assert err.startswith(message) and len(err.splitlines()) == 1
