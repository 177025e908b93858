"""The banner of each warn and suspend names the problem, its figures and the fix."""

from __future__ import annotations

import pytest

from policy import apply_event
from policy.advice import advice
from schemas.types import Evidence


def _evidence(**counts: float | None) -> Evidence:
    values = {"sent": 1000, "hard_bounces": 0, "spam_reports": 0, "unsubscribes": 0,
              "abuse_complaints": 0, "rate": None, "limit": None, **counts}  # fmt: skip
    return Evidence(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("reason", "evidence", "says"),
    [
        ("hard_bounce_rate", _evidence(hard_bounces=51, rate=0.051, limit=0.05),
         ["51 of 1,000 marketing emails", "5.10%", "5.00%", "Remove the addresses that bounced",
          "not mailed within a year", "stay suppressed"]),
        ("spam_report_rate", _evidence(spam_reports=2, rate=0.002, limit=0.001),
         ["2 of 1,000", "reported as spam", "0.20%", "0.10%"]),
        ("unsubscribe_rate", _evidence(unsubscribes=60, rate=0.06, limit=0.05),
         ["60 of 1,000", "unsubscribe", "6.00%"]),
        ("abuse_complaint", _evidence(abuse_complaints=1, limit=1), ["1 complaint(s)", "abuse"]),
        ("spam_trap", _evidence(limit=1), ["spam-trap", "consent"]),
        ("blocklist", _evidence(limit=2), ["at least 2 blocklist(s)", "delist"]),
        ("repeated_cancelled_campaigns", _evidence(limit=3), ["3 campaigns were cancelled"]),
    ],
)  # fmt: skip
def test_each_reason_names_its_figures_and_the_fix(reason, evidence, says) -> None:
    text = advice("suspend", reason, evidence, "marketing")
    assert text is not None
    for part in says:
        assert part in text, (reason, part)
    assert text.endswith("until an appeal is approved.")
    warned = advice("warn", reason, evidence, "marketing")
    assert warned is not None and "paused" not in warned


def test_other_actions_have_no_advice() -> None:
    for action in ("cancel_campaign", "restore"):
        assert advice(action, "hard_bounce_rate", _evidence(), "marketing") is None


def test_decisions_carry_it_and_the_channel_shows_the_current_banner(
    policy, run, state, make_event, now
) -> None:
    outcome = run([make_event() for _ in range(1000)] + [make_event("bounce") for _ in range(21)])
    (warn,) = outcome.decisions
    assert warn.advice is not None and "21 of 1,000" in warn.advice
    marketing = state.channel("marketing")
    assert marketing.banner == warn.advice
    apply_event(policy, state, make_event("abuse_complaint"), None, now)
    assert marketing.banner is not None and "abuse desk" in marketing.banner
    assert marketing.status.state == "suspended"
