"""Property tests: whatever bytes arrive, parsing either returns a valid event or raises
InvalidEvent with a reason; dead-letter records are always well formed."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.appeals import InvalidRequest, parse_appeal_form, parse_operator_decision
from schemas.parse import InvalidEvent, dead_letter, parse_account, parse_event
from schemas.types import TOPIC_KINDS, Event

NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
TOPICS = sorted(TOPIC_KINDS)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=6)
    ),
    max_leaves=20,
)
FIELDS = [
    "event_id", "account_id", "occurred_at", "channel", "campaign_id", "recipient",
    "bounce_type", "smtp_code", "diagnostic", "complaint_id", "summary", "blocklist",
    "listed", "trap_kind", "ip", "domain",
]  # fmt: skip
#: The cap of each producer string an event keeps.
CAPS = {"event_id": 200, "account_id": 200, "campaign_id": 200, "complaint_id": 200,
        "blocklist": 200, "ip": 200, "domain": 253, "diagnostic": 2048, "summary": 2048}  # fmt: skip
VALID = {
    "event_id": "e-1", "account_id": "acme", "occurred_at": "2026-11-15T11:00:00Z",
    "recipient": "Ann@Example.com", "bounce_type": "hard", "blocklist": "spamhaus",
    "listed": True,
}  # fmt: skip
mutated = st.fixed_dictionaries(
    {},
    optional={name: json_values | st.just(VALID.get(name)) for name in FIELDS},
).map(lambda d: {**VALID, **d})
years = st.integers(min_value=1, max_value=9999)


def check(topic: str, raw: bytes) -> None:
    try:
        event = parse_event(topic, raw, now=NOW, late_grace_days=7)
    except InvalidEvent as exc:
        assert exc.reason and "\n" not in exc.reason
        return
    assert isinstance(event, Event)
    assert event.occurred_at.tzinfo is not None and event.occurred_at.utcoffset() == timedelta(0)
    assert NOW - timedelta(days=7) <= event.occurred_at <= NOW + timedelta(hours=1)
    assert 1 <= len(event.event_id) <= 200 and 1 <= len(event.account_id) <= 200
    assert not any(ord(c) < 32 for c in event.event_id + event.account_id)
    if event.recipient is not None:
        assert event.recipient == event.recipient.lower()
    for name, limit in CAPS.items():
        value = getattr(event, name)
        assert value is None or len(value) <= limit, name


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(TOPICS), st.binary(max_size=300))
def test_random_bytes(topic: str, raw: bytes) -> None:
    check(topic, raw)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(TOPICS), json_values)
def test_random_json(topic: str, value: object) -> None:
    check(topic, json.dumps(value).encode())


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(TOPICS), mutated)
def test_mutated_valid_events(topic: str, body: dict) -> None:
    check(topic, json.dumps(body).encode())


@given(years, st.integers(0, 23), st.sampled_from(["Z", "+05:30", "-12:00", "", "+25:00"]))
def test_timestamps_of_any_year(year: int, hour: int, offset: str) -> None:
    body = {**VALID, "occurred_at": f"{year:04d}-06-15T{hour:02d}:00:00{offset}"}
    check("email.bounce", json.dumps(body).encode())


@given(st.binary(max_size=200_000), st.text(max_size=100))
def test_dead_letter_is_always_well_formed(raw: bytes, error: str) -> None:
    record = dead_letter("email.bounce", 0, 1, error, raw)
    assert len(record.raw.encode("utf-8")) <= 64 * 1024
    assert record.raw == raw.decode("utf-8", "replace")[: len(record.raw)]


@given(json_values)
def test_accounts_and_http_bodies_raise_only_their_own_errors(value: object) -> None:
    raw = json.dumps(value).encode()
    for parse, error in (
        (parse_account, InvalidEvent),
        (parse_appeal_form, InvalidRequest),
        (parse_operator_decision, InvalidRequest),
    ):
        with contextlib.suppress(error):
            parse(raw)


def test_hostile_shapes() -> None:
    for raw in (
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        b"\xff\xfe\x00\x01",
        json.dumps({**VALID, "event_id": "a\x00b"}).encode(),
        json.dumps({**VALID, "account_id": "x" * 10_000}).encode(),
        b" " * (5 * 1024 * 1024),
    ):
        check("email.bounce", raw)
