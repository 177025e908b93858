"""The console's pages as drawn: every producer's value escaped, the limits in the SVG,
decide buttons only for those who may decide."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from api.accounts import account_view
from api.console.render import case_page, login_page, rate_chart
from api.console.session import Session
from policy import load_policy
from policy.state import AccountState

SCRIPT = "<script>alert('x')</script>"
DECIDER = Session("alice", "decider", 2_000_000_000, "tok-123")
VIEWER = Session("vera", "viewer", 2_000_000_000, "tok-456")


def _page(session: Session, **channel: object) -> str:
    view = account_view("acme", AccountState.new("acme"), None, datetime(2026, 12, 7, tzinfo=UTC))
    view["account_id"] = f"acme{SCRIPT}"
    view["channels"]["marketing"].update(channel)
    appeal = {"appeal_id": "ap-1", "status": "pending", "channel": "marketing",
              "queue": "deliverability", "form": {"what_happened": SCRIPT}}  # fmt: skip
    decision = {"decided_at": "2026-12-07T00:00:00Z", "action": "suspend",
                "channel": "marketing", "reason": SCRIPT, "evidence": {"note": SCRIPT}}  # fmt: skip
    return case_page(view, [appeal], [decision], load_policy(), session)


def test_every_value_a_producer_wrote_is_escaped() -> None:
    page = _page(DECIDER, banner=SCRIPT, reason=SCRIPT)
    assert "<script" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "<script" not in login_page('"><script>', error=SCRIPT, next_path='"><b>')


def test_a_decider_gets_the_form_with_its_csrf_token_and_a_viewer_none() -> None:
    page = _page(DECIDER)
    assert 'action="/console/appeals/ap-1/decision"' in page
    assert 'name="csrf" value="tok-123"' in page
    assert 'value="restore"' in page and 'value="deny"' in page
    viewer = _page(VIEWER)
    assert "/decision" not in viewer and 'value="restore"' not in viewer


def test_the_chart_draws_the_rate_and_both_limits() -> None:
    limits = load_policy().channel("marketing")
    svg = rate_chart("hard_bounce_rate", 0.03, 5000, limits)
    found = dict(re.findall(r'data-limit="(\w+)" data-value="([0-9.e-]+)"', svg))
    assert found == {"warn": str(limits.warn.hard_bounce_rate),
                     "suspend": str(limits.suspend.hard_bounce_rate)}  # fmt: skip
    assert 'class="rate"' in svg and "not judged" not in svg
    assert "not judged" in rate_chart("hard_bounce_rate", 0.03, 10, limits)
    assert 'class="rate"' not in rate_chart("hard_bounce_rate", None, 0, limits)


def test_the_shadow_verdict_is_marked_where_it_differs_and_its_list_escaped() -> None:
    from api.accounts import shadow_verdict
    from api.console.render import shadow_page

    view = account_view("acme", AccountState.new("acme"), None, datetime(2026, 12, 7, tzinfo=UTC))
    view["shadow"] = shadow_verdict(None, "lenient")
    same = case_page(view, [], [], load_policy(), DECIDER)
    assert 'class="shadow-differs"' not in same and same.count(", as live.") == 2
    view["channels"]["marketing"].update(state="suspended", reason="abuse_complaint")
    differs = case_page(view, [], [], load_policy(), DECIDER)
    assert differs.count('class="shadow-differs"') == 1
    row = {"account_id": SCRIPT, "channel": "marketing", "live_state": "suspended",
           "live_reason": SCRIPT, "shadow_state": "active", "shadow_reason": None}  # fmt: skip
    listed = shadow_page([row], [f"http://w2 {SCRIPT}"], "v1", "lenient", DECIDER)
    assert "<script" not in listed and '<span id="count">1</span>' in listed
    assert "Not every worker answered" in listed


def test_under_wilson_gating_the_chart_draws_the_lower_bound_the_limits_judge() -> None:
    import dataclasses

    from policy.rules import wilson_lower

    limits = dataclasses.replace(load_policy().channel("marketing"), gating="wilson", floor=50)
    svg = rate_chart("hard_bounce_rate", 0.03, 1000, limits, 30)
    found = re.search(r'class="lower-bound" data-value="([0-9.e-]+)"', svg)
    assert found and float(found.group(1)) == round(wilson_lower(30, 1000, limits.z), 6)
    assert "not judged" not in svg  # 1,000 sends: above the floor, below min_sends
    few = rate_chart("hard_bounce_rate", 0.1, 40, limits, 4)
    assert "lower-bound" not in few and "under 50 sent: not judged" in few
    assert "lower-bound" not in rate_chart("hard_bounce_rate", 0.03, 1000,
                                           load_policy().channel("marketing"), 30)  # fmt: skip


def test_contacts_blocklists_and_advice_are_shown_escaped() -> None:
    view = account_view("acme", AccountState.new("acme"), None, datetime(2026, 12, 7, tzinfo=UTC))
    view["contacts"] = {"primary contact": f"ops@acme.test{SCRIPT}", "CSM": "csm@us.test"}
    view["channels"]["marketing"].update(blocklists=["spamhaus", SCRIPT], advice=SCRIPT)
    page = case_page(view, [], [], load_policy(), VIEWER)
    assert "Primary contact: ops@acme.test&lt;script&gt;" in page and "CSM: csm@us.test" in page
    assert "<td>spamhaus, &lt;script&gt;" in page
    assert "<th>advice</th><td>&lt;script&gt;" in page and "<script" not in page
