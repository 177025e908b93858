"""``replay --compare OTHER --report OUT.html``: the HTML report of a policy comparison.

A simulated month (with borderline bouncers, so the two policies below disagree on
several accounts) is replayed once under the built-in policy compared with one that
suspends at a 3 % hard-bounce rate instead of 5 %. The checks read the page the way a
reader would: a section for every account-channel in ``Comparison.differences`` and for
no other, both policies' limits in it, a marker for every differing decision.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from offline.profiles import DEFAULT_PROFILES, Profile
from offline.replay import ReplayResult, replay
from offline.simulate import simulate, write_jsonl
from offline.summary import Comparison
from policy import Policy, load_policy
from tests.offline.conftest import T0, RunReplay, WriteFile, deliveries, ev, hard_bounces
from tests.offline.test_replay_restores import PROBATION, appeal, month

STRICT = 'version = "2026-11-strict-bounces"\n[marketing.suspend]\nhard_bounce_rate = 0.03\n'
#: True hard-bounce rate between the two suspend limits: suspended under 3 % only.
BORDERLINE = Profile("borderline_bounces", 8, monthly_sends=(1500, 4000), hard_bounce=0.04)
KINDS = ("base only", "other only", "at another time")


@dataclass(frozen=True)
class Compared:
    result: ReplayResult
    comparison: Comparison
    base: Policy
    other: Policy
    html: str

    def section(self, account: str, channel: str) -> str:
        start = self.html.index(f"<section id='{account}-{channel}'>")
        return self.html[start : self.html.index("</section>", start)]


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory) -> Compared:
    folder = tmp_path_factory.mktemp("compare-html")
    events = simulate(24, 5, start=datetime(2026, 10, 1, tzinfo=UTC), days=30,
                      profiles=(*DEFAULT_PROFILES, BORDERLINE))  # fmt: skip
    events_file = folder / "month.jsonl"
    write_jsonl(events, events_file)
    (folder / "strict.toml").write_text(STRICT)
    base, other = load_policy(), load_policy(folder / "strict.toml")
    report = folder / "report.html"
    result = replay(events_file, base, compare_policy=other, report_path=report, progress=False,
                    out=io.BytesIO(), err=io.StringIO())  # fmt: skip
    assert result.comparison is not None
    return Compared(result, result.comparison, base, other, report.read_text(encoding="utf-8"))


def differing(comparison: Comparison) -> set[tuple[str, str]]:
    return {(d.account_id, d.channel) for d in comparison.differences}


def test_every_differing_account_channel_has_a_section_and_no_other(compared: Compared) -> None:
    keys = differing(compared.comparison)
    kinds = {d.kind for d in compared.comparison.differences}
    assert len(keys) >= 3 and kinds == set(KINDS), "the month must exercise every kind"
    sections = re.findall(r"<section id='([^']*)'>", compared.html)
    assert sorted(sections) == sorted(f"{a}-{c}" for a, c in keys)
    # Accounts with decisions, all made alike under both policies, are left out.
    alike = {(d.account_id, d.channel) for d in compared.result.decisions} - keys
    assert alike
    for account, _ in alike:
        assert account not in compared.html
    # Self-contained, and each section stays small (a page of ~100 stays ~1-2 MB).
    assert "<script" not in compared.html
    assert not re.search(r"(src|href)=['\"]https?:", compared.html)
    for account, channel in keys:
        assert len(compared.section(account, channel)) < 25_000


def test_the_summary_counts_differing_decisions_by_action_and_kind(compared: Compared) -> None:
    html = compared.html
    assert compared.base.version in html and compared.other.version in html
    counts = compared.comparison.counts()
    for action in {a for a, _ in counts}:
        row = re.search(rf"<tr><td>{action}</td>((?:<td class='num'>[\d,]+</td>)+)</tr>", html)
        assert row is not None, action
        cells = [int(n.replace(",", "")) for n in re.findall(r">([\d,]+)<", row.group(1))]
        expected = [counts[(action, kind)] for kind in KINDS]
        assert cells == [*expected, sum(expected)]
    assert f"{len(compared.comparison.differences):,} decisions differ" in html


def percent(rate: float) -> str:
    return f"{rate * 100:g}%"


def test_each_section_shows_both_policies_limits(compared: Compared) -> None:
    for account, channel in differing(compared.comparison):
        section = compared.section(account, channel)
        for name, title in (("hard_bounce_rate", "hard bounce rate"),
                            ("unsubscribe_rate", "unsubscribe rate")):  # fmt: skip
            values = [
                percent(getattr(getattr(p.channel(channel), which), name))
                for p in (compared.base, compared.other)
                for which in ("warn", "suspend")
            ]
            assert f"<td>{title}</td>" + "".join(f"<td>{v}</td>" for v in values) in section
        base, other = compared.base.channel(channel), compared.other.channel(channel)
        for side, version, limits in (("base", compared.base.version, base),
                                      ("other", compared.other.version, other)):  # fmt: skip
            limit = percent(limits.suspend.hard_bounce_rate)
            assert f"<title>{side} {version}: suspend limit {limit}</title>" in section


def test_each_differing_decision_is_marked_and_listed(compared: Compared) -> None:
    by_key: dict[tuple[str, str], int] = {}
    for d in compared.comparison.differences:
        section = compared.section(d.account_id, d.channel)
        chart = section[section.index("<svg") : section.index("</svg>")]
        for side, version, at in (("base", compared.base.version, d.base_at),
                                  ("other", compared.other.version, d.other_at)):  # fmt: skip
            if at is not None:
                label = f"<g><title>{side} {version}: {d.action} {d.reason} {at:%Y-%m-%d %H:%M}"
                assert chart.count(label) == 3, (d, side)  # one marker per panel
                by_key[(d.account_id, d.channel)] = by_key.get((d.account_id, d.channel), 0) + 1
        row = re.search(rf"<tr class='differs'><td>{d.action}</td><td>{d.reason}</td>"
                        rf"(?:(?!</tr>).)*<td>{d.kind}</td></tr>", section)  # fmt: skip
        assert row is not None, d
    # Decisions both policies made at the same time are drawn faint; the rest are not.
    for (account, channel), marked in by_key.items():
        chart = compared.section(account, channel).split("<svg", 1)[1]
        assert chart.count("<g><title>") == 3 * marked


def test_wilson_gating_says_its_limits_apply_to_the_lower_bound(
    tmp_path: Path, write_file: WriteFile, run_replay: RunReplay
) -> None:
    wilson = tmp_path / "wilson.toml"
    wilson.write_text('version = "wilson"\n[marketing]\ngating = "wilson"\n')
    report = tmp_path / "report.html"
    month = write_file(deliveries(1000, "bouncer") + hard_bounces(60, "bouncer"))
    replayed = run_replay(month, compare_policy=load_policy(wilson), report_path=report)
    assert replayed.result.comparison is not None
    assert differing(replayed.result.comparison) == {("bouncer", "marketing")}
    html = report.read_text(encoding="utf-8")
    section = html[html.index("<section id='bouncer-marketing'>") :]
    assert "<td colspan='2'>the rate itself, from 1,000 sends</td>" in section
    assert "Wilson lower bound at 95% confidence, from 50 sends: the limits apply" in section


def test_text_from_the_events_is_escaped(
    tmp_path: Path, write_file: WriteFile, run_replay: RunReplay
) -> None:
    strict = tmp_path / "strict.toml"
    strict.write_text(STRICT.replace("strict-bounces", "<i>strict</i>"))
    name = "<b>Bounce & Co's</b>"
    events = [ev("email.delivery", f"d{i}", i, name) for i in range(1000)]
    events += [ev("email.bounce", f"b{j}", 5000 + j * 10, name) for j in range(40)]
    report = tmp_path / "report.html"
    run_replay(write_file(events), compare_policy=load_policy(strict), report_path=report)
    html = report.read_text(encoding="utf-8")
    assert "<b>Bounce" not in html and "<i>strict" not in html
    assert "&lt;b&gt;Bounce &amp; Co" in html and "&lt;i&gt;strict&lt;/i&gt;" in html
    assert html.count("<section id=") == 1


def test_restores_and_probation_are_marked(
    tmp_path: Path, write_file: WriteFile, run_replay: RunReplay
) -> None:
    """Restored under both at the same instant (faint R in both rows); under probation the
    second offence is warned earlier and suspended, and the limits table says why."""
    probation = tmp_path / "probation.toml"
    probation.write_text(PROBATION)
    report = tmp_path / "report.html"
    replayed = run_replay(write_file(month([appeal("restored", 15_000)])),
                          compare_policy=load_policy(probation), report_path=report)  # fmt: skip
    assert replayed.result.comparison is not None
    kinds = {(d.action, d.kind) for d in replayed.result.comparison.differences}
    assert kinds == {("warn", "at another time"), ("suspend", "other only")}
    html = report.read_text(encoding="utf-8")
    restored = f"{T0 + timedelta(seconds=15_000):%Y-%m-%d %H:%M}"
    for side, version in (("base", "2026-11-default"), ("other", "probation")):
        label = f"<g opacity='0.4'><title>{side} {version}: restore appeal_approved {restored}"
        assert html.count(label) == 3
    assert re.search(r"<g><title>other probation: suspend hard_bounce_rate [^<]*on probation",
                     html)  # fmt: skip
    assert ("<tr><td>probation after a restore</td><td colspan='2'>none</td>"
            "<td colspan='2'>limits times 0.5 for 14 days</td></tr>") in html  # fmt: skip
    assert "<tr class='same'><td>restore</td><td>appeal_approved</td>" in html
