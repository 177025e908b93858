"""Opt-in statistical gating: a rate limit acts once the evidence is sufficient."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from policy import PolicyError, load_policy
from policy.rules import evaluate, wilson_lower
from policy.state import ChannelState, PeriodCounts

WILSON = "[marketing]\ngating = 'wilson'\nconfidence = 0.95\nfloor = 50\n"


def _policy(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "policy.toml"
    path.write_text(text)
    return load_policy(path)


def test_wilson_lower_bound_matches_the_textbook_values() -> None:
    # 30 of 100 at z = 1.645 (one-sided 95 %): (0.3135 - 0.0766) / 1.0271 = 0.2307.
    assert wilson_lower(30, 100, 1.6448536) == pytest.approx(0.2307, abs=1e-4)
    assert wilson_lower(0, 50, 1.6448536) == 0.0
    assert wilson_lower(60, 1000, 1.6448536) < 0.06 < wilson_lower(600, 10_000, 1.6448536) + 0.01


def test_a_purchased_list_is_stopped_after_100_sends_not_1000(tmp_path: Path, make_event) -> None:
    counts = PeriodCounts(sent=100, hard_bounces=30)
    default = load_policy().channel("marketing")
    assert evaluate(default, counts, ChannelState(), make_event("bounce")) == []
    gated = _policy(tmp_path, WILSON).channel("marketing")
    (suspend,) = evaluate(gated, counts, ChannelState(), make_event("bounce"))
    assert (suspend.action, suspend.reason) == ("suspend", "hard_bounce_rate")
    assert suspend.evidence.gating == "wilson" and suspend.evidence.confidence == 0.95
    assert suspend.evidence.lower_bound == pytest.approx(0.2307, abs=1e-4)


def test_a_rate_just_over_the_limit_on_few_sends_waits_for_evidence(
    tmp_path: Path, make_event
) -> None:
    """5.5 % on 2,000 sends: the contract's rule suspends, the lower bound is under 5 %."""
    counts = PeriodCounts(sent=2000, hard_bounces=110)
    default = load_policy().channel("marketing")
    assert [v.action for v in evaluate(default, counts, ChannelState(), make_event("bounce"))] == [
        "suspend"
    ]
    gated = _policy(tmp_path, WILSON).channel("marketing")
    verdicts = evaluate(gated, counts, ChannelState(), make_event("bounce"))
    assert [(v.action, v.reason) for v in verdicts] == [("warn", "hard_bounce_rate")]  # over 2 %


def test_nothing_acts_under_the_floor(tmp_path: Path, make_event) -> None:
    gated = _policy(tmp_path, WILSON).channel("marketing")
    assert evaluate(gated, PeriodCounts(sent=49, hard_bounces=49), ChannelState(),
                    make_event("bounce")) == []  # fmt: skip


def test_the_default_evidence_is_unchanged_on_the_wire(make_event) -> None:
    counts = PeriodCounts(sent=1000, hard_bounces=51)
    (verdict,) = evaluate(load_policy().channel("marketing"), counts, ChannelState(),
                          make_event("bounce"))  # fmt: skip
    assert set(json.loads(msgspec.json.encode(verdict.evidence))) == {
        "sent", "hard_bounces", "spam_reports", "unsubscribes", "abuse_complaints", "rate",
        "limit",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[crm]\ngating = 'bayes'\n", "'crm.gating' must be one of min_sends, wilson"),
        ("[crm]\nconfidence = 1.0\n", "'crm.confidence' must be a fraction in [0.5, 1)"),
        ("[crm]\nconfidence = 0.3\n", "'crm.confidence' must be a fraction in [0.5, 1)"),
        ("[crm]\nfloor = -1\n", "'crm.floor' must not be negative"),
    ],
)
def test_bad_gating_keys_are_named(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message.replace("[", r"\[").replace(")", r"\)")):
        _policy(tmp_path, text)
