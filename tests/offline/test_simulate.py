"""The simulator: deterministic, sorted, every profile, valid events, noise rates, lazy."""

from __future__ import annotations

import json
import time
import tracemalloc
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from offline.profiles import DEFAULT_PROFILES, GATING_PROFILES, MIXES, Profile
from offline.simulate import simulate, write_jsonl
from policy import load_policy
from schemas.parse import InvalidEvent, parse_account, parse_event_line

START = datetime(2026, 9, 1, tzinfo=UTC)


def run(accounts: int = 20, seed: int = 3, **options) -> list:
    options.setdefault("days", 10)
    return list(simulate(accounts, seed, start=START, **options))


def emails(items: list) -> list[dict]:
    return [i for i in items if isinstance(i, dict) and i["topic"] != "accounts"]


def test_same_seed_same_run_other_seed_other_run() -> None:
    assert run(seed=3, duplicates=0.01, malformed=0.01) == run(
        seed=3, duplicates=0.01, malformed=0.01
    )
    assert emails(run(seed=3)) != emails(run(seed=4))


def test_accounts_come_first_then_events_sorted_by_time() -> None:
    items = run()
    kinds = ["accounts" if i["topic"] == "accounts" else "email" for i in items]
    assert kinds == ["accounts"] * 20 + ["email"] * (len(items) - 20)
    times = [e["occurred_at"] for e in emails(items)]
    assert times == sorted(times)
    end = (START + timedelta(days=10)).isoformat().replace("+00:00", "Z")
    assert START.isoformat().replace("+00:00", "Z") <= times[0] and times[-1] < end


def test_every_profile_appears_and_volumes_vary() -> None:
    items = run(40, 7, days=30)
    profiles = {i["sim_profile"] for i in items if i["topic"] == "accounts"}
    assert profiles == {p.name for p in DEFAULT_PROFILES}
    sends = Counter(e["account_id"] for e in emails(items) if e["topic"] == "email.delivery")
    assert min(sends.values()) < 500 < 2500 < max(sends.values())
    topics = Counter(e["topic"] for e in emails(items))
    assert set(topics) == {"email.delivery", "email.bounce", "email.unsubscribe", "email.spam-report",
                           "email.abuse-desk", "email.spam-trap", "email.blocklist"}  # fmt: skip
    assert any(e.get("campaign_id") for e in emails(items))
    assert {e["channel"] for e in emails(items)} == {"marketing", "crm"}


def test_profiles_show_their_rates() -> None:
    items = run(120, 11, days=30)
    profile = {i["account_id"]: i["sim_profile"] for i in items if i["topic"] == "accounts"}
    sent: Counter[str] = Counter()
    hard: Counter[str] = Counter()
    unsub: Counter[str] = Counter()
    for e in emails(items):
        name = profile[e["account_id"]]
        if e["topic"] == "email.delivery":
            sent[name] += 1
        elif e["topic"] == "email.bounce" and e["bounce_type"] == "hard":
            hard[name] += 1
        elif e["topic"] == "email.unsubscribe":
            unsub[name] += 1
    assert 0.06 < hard["purchased_list"] / sent["purchased_list"] < 0.10
    assert hard["clean"] / sent["clean"] < 0.01
    assert 0.05 < unsub["irrelevant_content"] / sent["irrelevant_content"] < 0.09


def test_every_event_and_account_record_parses() -> None:
    items = run(30, 5, days=5, duplicates=0.01)
    now = START + timedelta(days=6)
    for item in items:
        line = json.dumps(item)
        if item["topic"] == "accounts":
            assert parse_account(line).account_id == item["account_id"]
        else:
            event = parse_event_line(line, now=now, late_grace_days=30)
            assert event.event_id == item["event_id"]
            assert event.recipient is None or event.recipient.startswith(("u", "trap"))


def test_duplicates_and_malformed_lines_at_about_the_asked_rates() -> None:
    items = run(30, 9, days=10, duplicates=0.02, malformed=0.01)
    events = emails(items)
    broken = [i for i in items if isinstance(i, str)]
    ids = Counter(e["event_id"] for e in events)
    repeats = sum(n - 1 for n in ids.values())
    assert 0.015 < repeats / len(events) < 0.025
    assert 0.007 < len(broken) / len(events) < 0.013
    first_seen: set[str] = set()
    previous = ""
    for e in events:  # only the copies are out of time order
        if e["event_id"] in first_seen:
            continue
        first_seen.add(e["event_id"])
        assert e["occurred_at"] >= previous
        previous = e["occurred_at"]
    for line in broken:
        assert "\n" not in line
        with pytest.raises(InvalidEvent):
            parse_event_line(line, now=START + timedelta(days=11), late_grace_days=30)


def test_generator_is_lazy_for_a_large_run() -> None:
    started = time.monotonic()
    stream = simulate(10_000, 1, start=START)
    first = next(stream)
    assert first["topic"] == "accounts"
    assert time.monotonic() - started < 1.0
    first_email = next(i for i in stream if i["topic"] != "accounts")
    assert first_email["topic"].startswith("email.")
    assert time.monotonic() - started < 15.0


def test_memory_follows_a_day_not_the_run() -> None:
    """Streaming a 30-day run peaks far below holding it: nothing accumulates per event."""
    tracemalloc.start()
    try:
        for _ in simulate(30, 2, start=START, days=30):
            pass
        _, streamed_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        held = list(simulate(30, 2, start=START, days=30))
        _, held_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(held) > 30_000
    assert streamed_peak * 5 < held_peak


def test_write_jsonl_writes_one_line_per_item(tmp_path: Path) -> None:
    items = run(5, 1, days=3, malformed=0.05)
    path = tmp_path / "sim.jsonl"
    assert write_jsonl(iter(items), path) == len(items)
    lines = path.read_bytes().splitlines()
    assert len(lines) == len(items)
    for line, item in zip(lines, items, strict=True):
        if isinstance(item, str):
            assert line.decode() == item
        else:
            assert msgspec.json.decode(line) == item


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        simulate(1, 1, start=datetime(2026, 9, 1))  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="probabilities"):
        simulate(1, 1, start=START, duplicates=1.5)


def _rates_by_profile(items: list) -> dict[str, dict[str, float]]:
    """Per profile, every delivery's hard bounces, spam reports and unsubscribes."""
    profile = {i["account_id"]: i["sim_profile"] for i in items if i["topic"] == "accounts"}
    counts: dict[str, Counter[str]] = {}
    for e in emails(items):
        c = counts.setdefault(profile[e["account_id"]], Counter())
        if e["topic"] == "email.bounce":
            c[e["bounce_type"]] += 1
        else:
            c[e["topic"]] += 1
    return {
        name: {
            "hard": c["hard"] / c["email.delivery"],
            "spam": c["email.spam-report"] / c["email.delivery"],
            "unsub": c["email.unsubscribe"] / c["email.delivery"],
        }
        for name, c in counts.items()
    }


def test_borderline_profiles_sit_exactly_at_the_default_suspend_limits() -> None:
    """Per delivery, as the policy counts: a report or unsubscribe needs a delivery that
    did not bounce, so the profile's number is scaled up by the bounces it excludes."""
    by_name = {p.name: p for p in GATING_PROFILES}
    limits = load_policy().channel("marketing").suspend
    crm = load_policy().channel("crm").suspend

    def per_delivery(p: Profile, rate: float) -> float:
        return rate * (1 - p.hard_bounce - p.soft_bounce)

    assert by_name["borderline_bounces"].hard_bounce == limits.hard_bounce_rate
    b = by_name["borderline_spam"]
    assert per_delivery(b, b.spam_report) == pytest.approx(limits.spam_report_rate, rel=1e-9)
    b = by_name["borderline_unsubscribes"]
    assert per_delivery(b, b.unsubscribe) == pytest.approx(limits.unsubscribe_rate, rel=1e-9)
    assert by_name["crm_borderline_bounces"].channel == "crm"
    assert by_name["crm_borderline_bounces"].hard_bounce == crm.hard_bounce_rate
    assert by_name["bad_list"].hard_bounce == 0.30 and by_name["bad_list"].monthly_sends[1] <= 1500


def test_gating_profiles_show_their_rates() -> None:
    """A 30-day month of the gating mix: each new profile's rates near its number. Late
    reports of the month's last days fall after it, so those read a little under."""
    rates = _rates_by_profile(run(90, 5, days=30, profiles=GATING_PROFILES))
    assert set(rates) == {p.name for p in GATING_PROFILES}
    assert 0.045 < rates["borderline_bounces"]["hard"] < 0.055
    assert 0.058 < rates["bounces_just_over"]["hard"] < 0.072
    assert 0.27 < rates["bad_list"]["hard"] < 0.33
    assert 0.04 < rates["crm_borderline_bounces"]["hard"] < 0.06
    assert 0.0007 < rates["borderline_spam"]["spam"] < 0.0013
    assert 0.045 < rates["borderline_unsubscribes"]["unsub"] < 0.052
    # Only one signal of each borderline profile is at its limit.
    assert rates["borderline_bounces"]["unsub"] < 0.01
    assert rates["borderline_spam"]["hard"] < 0.01 and rates["borderline_spam"]["unsub"] < 0.01
    assert rates["borderline_unsubscribes"]["hard"] < 0.01
    assert rates["borderline_unsubscribes"]["spam"] < 0.0005
    assert rates["clean"]["hard"] < 0.01


def test_the_mixes_by_name() -> None:
    assert MIXES["default"] is DEFAULT_PROFILES and MIXES["gating"] is GATING_PROFILES
    for mix in MIXES.values():
        names = [p.name for p in mix]
        assert len(names) == len(set(names))
