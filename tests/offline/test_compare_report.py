"""``--compare`` and ``--report``: which accounts another policy would treat differently,
and a chart per suspended account-channel."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from offline.summary import Comparison, differences
from policy import load_policy
from schemas.types import Decision, Evidence
from tests.offline.conftest import Replayed, RunReplay, WriteFile, deliveries, ev, hard_bounces

OTHER_POLICY = """
version = "2026-11-strict-unsubscribes"
[marketing.suspend]
hard_bounce_rate = 0.07
unsubscribe_rate = 0.01
"""


def month(tmp_path: Path, write_file: WriteFile) -> Path:
    """bouncer: 6 % hard bounces; unsubber: 3 % unsubscribes; quiet: clean; trapped: a trap hit."""
    unsubscribes = [
        ev("email.unsubscribe", f"unsubber-u{j}", 6000 + j, "unsubber") for j in range(30)
    ]
    return write_file(
        deliveries(1000, "bouncer") + hard_bounces(60, "bouncer")
        + deliveries(1000, "unsubber") + unsubscribes
        + deliveries(1000, "quiet")
        + [ev("email.spam-trap", "trap-1", 7000, "trapped", trap_kind="pristine")]
    )  # fmt: skip


def compared(
    tmp_path: Path, write_file: WriteFile, run_replay: RunReplay
) -> tuple[Replayed, Comparison]:
    """The month replayed under the default policy, compared with ``OTHER_POLICY``."""
    other = tmp_path / "other.toml"
    other.write_text(OTHER_POLICY)
    replayed = run_replay(month(tmp_path, write_file), compare_policy=load_policy(other))
    comparison = replayed.result.comparison
    assert comparison is not None
    return replayed, comparison


def test_compare_lists_newly_suspended_and_spared_accounts(
    tmp_path: Path, write_file: WriteFile, run_replay: RunReplay
) -> None:
    replayed, comparison = compared(tmp_path, write_file, run_replay)
    assert [(s.account_id, s.channel, s.reason) for s in comparison.newly_suspended] == [
        ("unsubber", "marketing", "unsubscribe_rate")
    ]
    assert [(s.account_id, s.channel, s.reason) for s in comparison.spared] == [
        ("bouncer", "marketing", "hard_bounce_rate")
    ]
    err = replayed.stderr
    assert "compare: 2026-11-default (decisions above) vs 2026-11-strict-unsubscribes" in err
    assert re.search(
        r"newly suspended under \S+: 1\n.*\n\s+marketing\s+unsubber\s+unsubscribe_rate", err
    )
    assert re.search(r"spared under \S+: 1\n.*\n\s+marketing\s+bouncer\s+hard_bounce_rate", err)
    # stdout holds the base policy's decisions only.
    assert {r["policy_version"] for r in replayed.records} == {"2026-11-default"}


def test_compare_with_the_same_policy_finds_no_difference(
    tmp_path: Path, write_file: WriteFile, run_replay: RunReplay, policy
) -> None:
    comparison = run_replay(month(tmp_path, write_file), compare_policy=policy).result.comparison
    assert comparison is not None
    assert comparison.newly_suspended == [] and comparison.spared == []


def test_report_has_one_chart_per_suspended_account_channel(
    tmp_path: Path, write_file: WriteFile, run_replay: RunReplay
) -> None:
    report = tmp_path / "report.html"
    replayed = run_replay(month(tmp_path, write_file), report_path=report)
    suspended = {
        (r["account_id"], r["channel"]) for r in replayed.records if r["action"] == "suspend"
    }
    assert suspended == {("bouncer", "marketing"), ("trapped", "marketing")}
    html = report.read_text(encoding="utf-8")
    assert html.count("<svg") == len(suspended)
    for account, channel in suspended:
        assert f"<section id='{account}-{channel}'>" in html
    assert "quiet" not in html and "unsubber" not in html
    # Self-contained: no script, no external resource.
    assert "<script" not in html
    assert not re.search(r"(src|href)=['\"]https?:", html)
    # Rates, limits and the suspension day are drawn.
    assert html.count("<polyline") >= 3
    assert "suspended 2026-10-05" in html
    assert f"report: {report}" in replayed.stderr


def test_report_without_suspensions_is_still_a_page(
    tmp_path: Path, write_file: WriteFile, run_replay: RunReplay
) -> None:
    report = tmp_path / "empty.html"
    run_replay(write_file(deliveries(10)), report_path=report)
    html = report.read_text(encoding="utf-8")
    assert "0 suspended account-channels" in html and "<svg" not in html


def test_compare_reports_every_differing_decision_with_its_time(
    tmp_path: Path, write_file: WriteFile, run_replay: RunReplay
) -> None:
    """Not only the first suspensions: warns too, and decisions both make at other times."""
    replayed, comparison = compared(tmp_path, write_file, run_replay)
    got = {(d.account_id, d.action, d.reason, d.kind) for d in comparison.differences}
    assert got == {
        # 7 % instead of 5 %: the bouncer's suspension is gone, its warning stays.
        ("bouncer", "suspend", "hard_bounce_rate", "base only"),
        # 1 % instead of 5 %: suspended at once, so never warned (it was, at 2 %, under
        # the base policy). The first-suspensions view alone missed the warning.
        ("unsubber", "suspend", "unsubscribe_rate", "other only"),
        ("unsubber", "warn", "unsubscribe_rate", "base only"),
    }
    assert comparison.counts()[("suspend", "base only")] == 1
    err = replayed.stderr
    assert "every decision that differs: " in err
    assert re.search(r"marketing\s+bouncer\s+suspend\s+hard_bounce_rate\s+\S+ \S+\s+-", err)


def test_a_decision_both_make_at_another_time_is_a_difference() -> None:
    def decision(action: str, at: datetime, n: int = 0) -> Decision:
        evidence = Evidence(sent=1000, hard_bounces=21, spam_reports=0, unsubscribes=0,
                            abuse_complaints=0, rate=0.021, limit=0.02)  # fmt: skip
        return Decision(decision_id=f"d{n}", account_id="acme", channel="marketing",
                        action=action, reason="hard_bounce_rate",  # type: ignore[arg-type]
                        suspension_type=None, campaign_id=None, period="2026-11",
                        evidence=evidence, trigger_event_id=None, policy_version="x",
                        decided_at=at)  # fmt: skip

    early, late = datetime(2026, 11, 3, tzinfo=UTC), datetime(2026, 11, 9, tzinfo=UTC)
    same = decision("warn", early)
    found = differences([same, decision("suspend", early)], [same, decision("suspend", late)])
    assert [(d.action, d.kind, d.base_at, d.other_at) for d in found] == [
        ("suspend", "at another time", early, late)
    ]
