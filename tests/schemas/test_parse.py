"""Parsing of the input topics and the codecs (CONTRACT.md, "Input topics" and "Running").

Every accept rule and every reject reason of ``schemas.parse`` has a case here; messages
go in as the JSON bytes a producer would send, and the concrete result comes out.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import typing
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import msgspec
import pytest

from schemas import parse as parse_module
from schemas.limits import MAX_DEAD_LETTER_ERROR_CHARS, MAX_DEAD_LETTER_KEY_BYTES, MAX_RECORD_BYTES
from schemas.parse import (
    MAX_DEAD_LETTER_RAW_BYTES,
    MAX_MESSAGE_BYTES,
    InvalidEvent,
    SchemaError,
    dead_letter,
    dead_letter_key,
    decode_account,
    decode_event,
    encode,
    parse_account,
    parse_event,
    parse_event_line,
    tombstone_account,
)
from schemas.types import (
    BOUNCE_TYPES,
    TIERS,
    TOPIC_KINDS,
    TRAP_KINDS,
    AccountMeta,
    Event,
)
from schemas.wire import EventWire

NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
GRACE = 7
DROP: Any = object()  # an override that removes the field

_TOPIC_FIELDS: dict[str, dict[str, Any]] = {
    "email.delivery": {},
    "email.bounce": {"bounce_type": "hard"},
    "email.unsubscribe": {},
    "email.spam-report": {},
    "email.abuse-desk": {},
    "email.spam-trap": {},
    "email.blocklist": {"blocklist": "spamhaus-sbl", "listed": True},
}


def message(topic: str = "email.bounce", **overrides: Any) -> dict[str, Any]:
    """A valid message of ``topic``; keyword arguments replace fields (``DROP`` removes)."""
    fields: dict[str, Any] = {
        "event_id": "evt-1",
        "account_id": "acct-1",
        "occurred_at": "2026-11-15T10:00:00Z",
        "recipient": "user@example.com",
        **_TOPIC_FIELDS[topic],
    }
    fields.update(overrides)
    return {k: v for k, v in fields.items() if v is not DROP}


def parse(topic: str = "email.bounce", *, now: datetime = NOW, **overrides: Any) -> Event:
    raw = msgspec.json.encode(message(topic, **overrides))
    return parse_event(topic, raw, now=now, late_grace_days=GRACE)


def reject(topic: str = "email.bounce", *, now: datetime = NOW, **overrides: Any) -> str:
    with pytest.raises(InvalidEvent) as info:
        parse(topic, now=now, **overrides)
    return info.value.reason


def reject_raw(raw: Any, topic: str = "email.bounce") -> str:
    with pytest.raises(InvalidEvent) as info:
        parse_event(topic, raw, now=NOW, late_grace_days=GRACE)
    return info.value.reason


# --- accepted events ----------------------------------------------------------------------


@pytest.mark.parametrize("topic", list(TOPIC_KINDS))
def test_minimal_valid_event_of_every_topic(topic: str) -> None:
    event = parse(topic)
    assert event.topic == topic
    assert event.kind == TOPIC_KINDS[topic]
    assert event.event_id == "evt-1"
    assert event.account_id == "acct-1"
    assert event.occurred_at == datetime(2026, 11, 15, 10, 0, tzinfo=UTC)
    assert event.channel == "marketing"
    assert event.campaign_id is None
    assert event.recipient == "user@example.com"
    assert event.period == "2026-11"


def test_bounce_with_every_field() -> None:
    event = parse(
        "email.bounce",
        channel="crm",
        campaign_id="cmp-9",
        bounce_type="soft",
        smtp_code=452,
        diagnostic="452 4.2.2 mailbox full",
    )
    assert (event.channel, event.campaign_id) == ("crm", "cmp-9")
    assert (event.bounce_type, event.smtp_code, event.diagnostic) == (
        "soft",
        452,
        "452 4.2.2 mailbox full",
    )


def test_abuse_desk_spam_trap_and_blocklist_fields() -> None:
    abuse = parse("email.abuse-desk", complaint_id="c-7", summary="never signed up")
    assert (abuse.complaint_id, abuse.summary) == ("c-7", "never signed up")
    assert parse("email.spam-trap", trap_kind="recycled").trap_kind == "recycled"
    listing = parse("email.blocklist", listed=False, ip="192.0.2.7", domain="mail.example.com")
    assert (listing.blocklist, listing.listed, listing.ip, listing.domain) == (
        "spamhaus-sbl",
        False,
        "192.0.2.7",
        "mail.example.com",
    )


@pytest.mark.parametrize("topic", ["email.abuse-desk", "email.spam-trap", "email.blocklist"])
def test_recipient_is_optional_where_the_contract_does_not_require_it(topic: str) -> None:
    assert parse(topic, recipient=DROP).recipient is None
    assert parse(topic, recipient=None).recipient is None
    assert parse(topic, recipient=" Who@Example.org ").recipient == "who@example.org"


def test_optional_fields_absent_or_null_are_none() -> None:
    event = parse(campaign_id=None, smtp_code=None, diagnostic=None, channel=None)
    assert (event.campaign_id, event.smtp_code, event.diagnostic) == (None, None, None)
    assert event.channel == "marketing"
    assert parse("email.spam-trap", trap_kind=None).trap_kind is None


def test_unknown_fields_and_other_topics_fields_are_ignored() -> None:
    event = parse(
        "email.delivery",
        x_mailer="postfix",
        nested={"a": [1, 2, {"b": None}]},
        bounce_type="nonsense",
        listed="not a bool",
    )
    assert event.bounce_type is None
    assert event.listed is None
    assert event.event_id == "evt-1"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("User@Example.COM", "user@example.com"),
        ("  user@example.com\t", "user@example.com"),
        ("First.Last+tag@Sub.Example.CO.UK", "first.last+tag@sub.example.co.uk"),
        ("ÜSER@EXAMPLE.DE", "üser@example.de"),
    ],
)
def test_recipient_is_stripped_and_lower_cased(given: str, expected: str) -> None:
    assert parse(recipient=given).recipient == expected


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2026-11-15T10:00:00Z", datetime(2026, 11, 15, 10, 0, tzinfo=UTC)),
        ("2026-11-15T12:30:00+02:00", datetime(2026, 11, 15, 10, 30, tzinfo=UTC)),
        ("2026-11-15T05:00:00-05:00", datetime(2026, 11, 15, 10, 0, tzinfo=UTC)),
        ("2026-11-15T10:00:00-00:00", datetime(2026, 11, 15, 10, 0, tzinfo=UTC)),
        ("2026-11-15T10:00:00.5Z", datetime(2026, 11, 15, 10, 0, 0, 500000, tzinfo=UTC)),
        ("2026-11-15T10:00:00.123456789Z", datetime(2026, 11, 15, 10, 0, 0, 123456, tzinfo=UTC)),
        ("2026-11-15t10:00:00z", datetime(2026, 11, 15, 10, 0, tzinfo=UTC)),
        ("2026-11-15 10:00:00Z", datetime(2026, 11, 15, 10, 0, tzinfo=UTC)),
    ],
)
def test_occurred_at_is_normalised_to_utc(given: str, expected: datetime) -> None:
    occurred_at = parse(occurred_at=given).occurred_at
    assert occurred_at == expected
    assert occurred_at.tzinfo is UTC
    assert occurred_at.utcoffset() == timedelta(0)


def test_period_is_the_utc_month() -> None:
    event = parse(occurred_at="2026-11-01T01:00:00+02:00", now=datetime(2026, 11, 1, 2, tzinfo=UTC))
    assert event.occurred_at == datetime(2026, 10, 31, 23, 0, tzinfo=UTC)
    assert event.period == "2026-10"


def test_long_but_legal_values_pass() -> None:
    event = parse(event_id="e" * 200, account_id="a", recipient="a@b")
    assert (len(event.event_id), event.account_id, event.recipient) == (200, "a", "a@b")
    local = "x" * (320 - len("@example.com"))
    assert parse(recipient=f"{local}@example.com").recipient == f"{local}@example.com"
    # not printable, but not a control character either
    assert parse(event_id="evt\u00a0\u200b1").event_id == "evt\u00a0\u200b1"


def test_huge_smtp_code_is_still_an_integer() -> None:
    assert parse(smtp_code=0).smtp_code == 0
    assert parse(smtp_code=10**30).smtp_code == 10**30


# --- input forms --------------------------------------------------------------------------


def test_bytes_str_bytearray_memoryview_and_mapping_give_the_same_event() -> None:
    fields = message("email.bounce", smtp_code=550, channel="crm")
    raw = msgspec.json.encode(fields)
    inputs: list[Any] = [raw, raw.decode(), bytearray(raw), memoryview(raw), fields]
    events = [parse_event("email.bounce", x, now=NOW, late_grace_days=GRACE) for x in inputs]
    assert events[0].smtp_code == 550
    assert all(e == events[0] for e in events)


def test_a_mapping_is_validated_like_json() -> None:
    with pytest.raises(InvalidEvent, match=r"^smtp_code: expected an integer, got bool$"):
        parse_event("email.bounce", message(smtp_code=True), now=NOW, late_grace_days=GRACE)
    assert reject_raw({1: "x"}).startswith("not a JSON object: ")


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="now must be timezone-aware"):
        parse(now=datetime(2026, 11, 15, 12))  # noqa: DTZ001 - the point of the test


# --- rejects ------------------------------------------------------------------------------


def test_invalid_event_is_a_schema_error_whose_text_is_the_reason() -> None:
    with pytest.raises(SchemaError) as info:
        parse(account_id=7)
    assert isinstance(info.value, InvalidEvent)
    assert info.value.reason == "account_id: expected a string, got int"
    assert str(info.value) == "account_id: expected a string, got int"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"event_id": ', "not JSON: Input data was truncated"),
        (b'{"event_id" "x"}', "not JSON: JSON is malformed: expected ':' (byte 12)"),
        (b"", "not JSON: empty message"),
        (b" \n", "not JSON: empty message"),
        (None, "not JSON: no value (a tombstone)"),
        (b'{"event_id": "\xff"}', "not JSON: invalid UTF-8 in a string (invalid start byte)"),
        (b"{'event_id': 'x'}", "not JSON: JSON is malformed: object keys must be strings (byte 1)"),
        (b'{"smtp_code": NaN}', "not JSON: JSON is malformed: invalid character (byte 14)"),
        (b'{"a": 1}\n{"b": 2}', "not JSON: JSON is malformed: trailing characters (byte 10)"),
        (b"[]", "not a JSON object"),
        (b'"evt-1"', "not a JSON object"),
        (b"42", "not a JSON object"),
        (b"null", "not a JSON object"),
        ('[{"event_id": "x"}]', "not a JSON object"),
    ],
)
def test_message_level_rejects(raw: Any, reason: str) -> None:
    assert reject_raw(raw) == reason


def test_number_too_large_for_a_float_is_not_json() -> None:
    assert reject_raw(b'{"smtp_code": 1e400}').startswith("not JSON: Number out of range")


@pytest.mark.parametrize("topic", ["accounts", "email.bounces", "sendguard.events", ""])
def test_unknown_topic(topic: str) -> None:
    assert reject_raw(msgspec.json.encode(message()), topic=topic) == f"unknown topic {topic!r}"


def test_size_limit_is_checked_before_decoding() -> None:
    base = msgspec.json.encode(message(padding=""))  # an unknown field: ignored
    padding = "x" * (MAX_MESSAGE_BYTES - len(base))
    at_limit = base.replace(b'"padding":""', f'"padding":"{padding}"'.encode())
    assert len(at_limit) == MAX_MESSAGE_BYTES == 1048576
    event = parse_event("email.bounce", at_limit, now=NOW, late_grace_days=GRACE)
    assert event.event_id == "evt-1"
    assert reject_raw(at_limit + b" ") == "message too large: 1048577 bytes (limit 1048576)"
    # not even JSON: rejected for its size, proving nothing was decoded
    assert reject_raw(b"\xff" * 2_000_000) == "message too large: 2000000 bytes (limit 1048576)"


def test_size_limit_counts_utf8_bytes_of_a_str() -> None:
    text = "é" * 600_000  # 600,000 characters, 1,200,000 bytes
    assert reject_raw(text) == "message too large: 1200000 bytes (limit 1048576)"
    assert reject_raw(memoryview(b" " * 1_048_577)).startswith("message too large: 1048577 bytes")


_ID_REJECTS = [
    (DROP, "{f}: missing"),
    (None, "{f}: expected a string, got null"),
    (7, "{f}: expected a string, got int"),
    (7.5, "{f}: expected a string, got float"),
    (True, "{f}: expected a string, got bool"),
    (["x"], "{f}: expected a string, got array"),
    ({"x": 1}, "{f}: expected a string, got object"),
    ("", "{f}: empty"),
    ("x" * 201, "{f}: longer than 200 characters (201)"),
    ("abc\x00def", "{f}: control character U+0000 at position 3"),
    ("evt\n1", "{f}: control character U+000A at position 3"),
    ("\x7f", "{f}: control character U+007F at position 0"),
    ("evt\x851", "{f}: control character U+0085 at position 3"),
]


@pytest.mark.parametrize("field", ["event_id", "account_id"])
@pytest.mark.parametrize(("value", "reason"), _ID_REJECTS)
def test_identifier_rejects(field: str, value: Any, reason: str) -> None:
    assert reject(**{field: value}) == reason.format(f=field)


_FUTURE = "occurred_at: more than one hour in the future"
_LATE = f"occurred_at: older than the late-event grace of {GRACE} days"
_WHITESPACE = "recipient: not an email address (contains whitespace or a control character): "
_NOT_RFC = "occurred_at: not an RFC 3339 timestamp (expected e.g. 2026-11-03T10:15:00Z), got "


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (DROP, "occurred_at: missing"),
        (None, "occurred_at: expected a string, got null"),
        (1763200800, "occurred_at: expected a string, got int"),
        ("2026-11-15T10:00:00", "occurred_at: timestamp has no UTC offset"),
        ("2026-11-15T10:00:00.250", "occurred_at: timestamp has no UTC offset"),
        ("2026-11-15 10:00:00", "occurred_at: timestamp has no UTC offset"),
        ("2026-11-15", _NOT_RFC + "'2026-11-15'"),
        ("2026-11-15T10:00Z", _NOT_RFC + "'2026-11-15T10:00Z'"),
        ("20261115T100000Z", _NOT_RFC + "'20261115T100000Z'"),
        ("2026-11-15T10:00:00+0200", _NOT_RFC + "'2026-11-15T10:00:00+0200'"),
        ("2026-11-15T10:00:00+02", _NOT_RFC + "'2026-11-15T10:00:00+02'"),
        ("2026-11-15T10:00:00+24:00", _NOT_RFC + "'2026-11-15T10:00:00+24:00'"),
        ("2026-11-15T10:00:00,5Z", _NOT_RFC + "'2026-11-15T10:00:00,5Z'"),
        ("2026-11-15x10:00:00Z", _NOT_RFC + "'2026-11-15x10:00:00Z'"),
        (
            "\uff12\uff10\uff12\uff16-11-15T10:00:00Z",
            _NOT_RFC + "'\uff12\uff10\uff12\uff16-11-15T10:00:00Z'",
        ),  # full-width digits
        ("yesterday", _NOT_RFC + "'yesterday'"),
        ("", _NOT_RFC + "''"),
        ("9" * 100, _NOT_RFC + "'" + "9" * 40 + "'…"),
        ("10000-01-01T00:00:00Z", _NOT_RFC + "'10000-01-01T00:00:00Z'"),
        ("2026-13-01T00:00:00Z", "occurred_at: invalid date or time: month must be in 1..12"),
        (
            "2026-02-29T00:00:00Z",
            "occurred_at: invalid date or time: day is out of range for month",
        ),
        ("2026-11-15T24:00:00Z", "occurred_at: invalid date or time: hour must be in 0..23"),
        ("2026-06-30T23:59:60Z", "occurred_at: invalid date or time: second must be in 0..59"),
        ("0000-01-01T00:00:00Z", "occurred_at: invalid date or time: year 0 is out of range"),
        ("9999-12-31T23:00:00-05:00", "occurred_at: out of range once converted to UTC"),
        ("0001-01-01T00:30:00+01:00", "occurred_at: out of range once converted to UTC"),
        ("9999-12-31T23:59:59.999999Z", _FUTURE),
        ("2027-01-01T00:00:00Z", _FUTURE),
        ("0001-01-01T00:00:00Z", _LATE),
        ("2026-01-01T00:00:00Z", _LATE),
    ],
)
def test_occurred_at_rejects(value: Any, reason: str) -> None:
    assert reject(occurred_at=value) == reason


def _stamp(at: datetime) -> str:
    return at.isoformat(timespec="microseconds").replace("+00:00", "Z")


def test_future_boundary_is_exactly_one_hour() -> None:
    edge = NOW + timedelta(hours=1)
    assert parse(occurred_at=_stamp(edge)).occurred_at == edge
    assert reject(occurred_at=_stamp(edge + timedelta(microseconds=1))) == _FUTURE
    # the same instant written with an offset is judged in UTC
    assert parse(occurred_at="2026-11-15T14:00:00+01:00").occurred_at == edge
    assert reject(occurred_at="2026-11-15T14:00:01+01:00") == _FUTURE


def test_late_boundary_is_exactly_the_grace() -> None:
    edge = NOW - timedelta(days=GRACE)
    assert parse(occurred_at=_stamp(edge)).occurred_at == edge
    assert reject(occurred_at=_stamp(edge - timedelta(microseconds=1))) == _LATE


def test_late_reason_names_the_grace_it_used() -> None:
    raw = msgspec.json.encode(message(occurred_at="2026-11-01T00:00:00Z"))
    with pytest.raises(
        InvalidEvent, match=r"^occurred_at: older than the late-event grace of 3 days$"
    ):
        parse_event("email.bounce", raw, now=NOW, late_grace_days=3)
    assert parse_event("email.bounce", raw, now=NOW, late_grace_days=30).period == "2026-11"


def test_now_with_another_offset_is_the_same_instant() -> None:
    now_plus_two = NOW.astimezone(timezone(timedelta(hours=2)))
    edge = _stamp(NOW + timedelta(hours=1))
    assert parse(occurred_at=edge, now=now_plus_two).occurred_at == NOW + timedelta(hours=1)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"channel": "sms"}, "channel: unknown value 'sms' (expected one of: marketing, crm)"),
        (
            {"channel": "Marketing"},
            "channel: unknown value 'Marketing' (expected one of: marketing, crm)",
        ),
        ({"channel": ""}, "channel: unknown value '' (expected one of: marketing, crm)"),
        ({"channel": 1}, "channel: expected a string, got int"),
        ({"campaign_id": 12}, "campaign_id: expected a string or null, got int"),
        ({"campaign_id": ["c"]}, "campaign_id: expected a string or null, got array"),
        ({"recipient": DROP}, "recipient: missing"),
        ({"recipient": None}, "recipient: expected a string, got null"),
        ({"recipient": 5}, "recipient: expected a string, got int"),
        ({"recipient": "   "}, "recipient: empty"),
        (
            {"recipient": "userexample.com"},
            "recipient: not an email address (expected exactly one '@'): 'userexample.com'",
        ),
        (
            {"recipient": "a@b@example.com"},
            "recipient: not an email address (expected exactly one '@'): 'a@b@example.com'",
        ),
        (
            {"recipient": "@example.com"},
            "recipient: not an email address (empty local part): '@example.com'",
        ),
        ({"recipient": "user@"}, "recipient: not an email address (empty domain): 'user@'"),
        (
            {"recipient": "us er@example.com"},
            _WHITESPACE + "'us er@example.com'",
        ),
        (
            {"recipient": "user@exa\u00a0mple.com"},
            _WHITESPACE + "'user@exa\\xa0mple.com'",
        ),
        (
            {"recipient": "user\x00@example.com"},
            _WHITESPACE + "'user\\x00@example.com'",
        ),
        ({"recipient": "x" * 309 + "@example.com"}, "recipient: longer than 320 characters (321)"),
        ({"bounce_type": DROP}, "bounce_type: missing"),
        ({"bounce_type": None}, "bounce_type: expected a string, got null"),
        (
            {"bounce_type": "Hard"},
            "bounce_type: unknown value 'Hard' (expected one of: hard, soft)",
        ),
        (
            {"bounce_type": "transient"},
            "bounce_type: unknown value 'transient' (expected one of: hard, soft)",
        ),
        ({"bounce_type": 5}, "bounce_type: expected a string, got int"),
        ({"smtp_code": True}, "smtp_code: expected an integer, got bool"),
        ({"smtp_code": False}, "smtp_code: expected an integer, got bool"),
        ({"smtp_code": 550.0}, "smtp_code: expected an integer, got float"),
        ({"smtp_code": "550"}, "smtp_code: expected an integer, got string"),
        ({"diagnostic": 550}, "diagnostic: expected a string or null, got int"),
        ({"diagnostic": {"text": "x"}}, "diagnostic: expected a string or null, got object"),
    ],
)
def test_field_rejects_on_a_bounce(overrides: dict[str, Any], reason: str) -> None:
    assert reject("email.bounce", **overrides) == reason


def test_enum_value_in_a_reason_is_shortened() -> None:
    reason = reject(channel="m" * 1000)
    assert reason == f"channel: unknown value '{'m' * 40}'… (expected one of: marketing, crm)"


@pytest.mark.parametrize("topic", ["email.delivery", "email.unsubscribe", "email.spam-report"])
def test_recipient_is_required_on_delivery_unsubscribe_and_spam_report(topic: str) -> None:
    assert reject(topic, recipient=DROP) == "recipient: missing"
    assert reject(topic, recipient="nobody") == (
        "recipient: not an email address (expected exactly one '@'): 'nobody'"
    )


@pytest.mark.parametrize(
    ("topic", "overrides", "reason"),
    [
        (
            "email.abuse-desk",
            {"complaint_id": 9},
            "complaint_id: expected a string or null, got int",
        ),
        ("email.abuse-desk", {"summary": False}, "summary: expected a string or null, got bool"),
        (
            "email.abuse-desk",
            {"recipient": "bad"},
            "recipient: not an email address (expected exactly one '@'): 'bad'",
        ),
        (
            "email.spam-trap",
            {"trap_kind": "honeypot"},
            "trap_kind: unknown value 'honeypot' (expected one of: pristine, recycled, typo)",
        ),
        ("email.spam-trap", {"trap_kind": 1}, "trap_kind: expected a string, got int"),
        ("email.blocklist", {"blocklist": DROP}, "blocklist: missing"),
        ("email.blocklist", {"blocklist": None}, "blocklist: expected a string, got null"),
        ("email.blocklist", {"blocklist": ""}, "blocklist: empty"),
        ("email.blocklist", {"blocklist": 3}, "blocklist: expected a string, got int"),
        ("email.blocklist", {"listed": DROP}, "listed: missing"),
        ("email.blocklist", {"listed": None}, "listed: expected a boolean, got null"),
        ("email.blocklist", {"listed": "true"}, "listed: expected a boolean, got string"),
        ("email.blocklist", {"listed": 1}, "listed: expected a boolean, got int"),
        ("email.blocklist", {"ip": 3232235777}, "ip: expected a string or null, got int"),
        (
            "email.blocklist",
            {"domain": ["example.com"]},
            "domain: expected a string or null, got array",
        ),
    ],
)
def test_field_rejects_on_other_topics(topic: str, overrides: dict[str, Any], reason: str) -> None:
    assert reject(topic, **overrides) == reason


#: (topic, field, limit): every producer string kept or passed on has a cap.
_CAPPED = [
    ("email.bounce", "campaign_id", 200),
    ("email.abuse-desk", "complaint_id", 200),
    ("email.blocklist", "blocklist", 200),
    ("email.blocklist", "ip", 200),
    ("email.blocklist", "domain", 253),
    ("email.bounce", "diagnostic", 2048),
    ("email.abuse-desk", "summary", 2048),
]
_NAMES = [(topic, field) for topic, field, limit in _CAPPED if limit < 2048]


@pytest.mark.parametrize(("topic", "field", "limit"), _CAPPED)
def test_producer_strings_up_to_their_cap_pass(topic: str, field: str, limit: int) -> None:
    assert getattr(parse(topic, **{field: "x" * limit}), field) == "x" * limit
    # characters, not bytes: 4 bytes of UTF-8 each
    assert getattr(parse(topic, **{field: "😀" * limit}), field) == "😀" * limit


@pytest.mark.parametrize(("topic", "field", "limit"), _CAPPED)
def test_producer_strings_over_their_cap_are_rejected(topic: str, field: str, limit: int) -> None:
    for value in ("x" * (limit + 1), "😀" * (limit + 1), "x" * 300_000):
        reason = f"{field}: longer than {limit} characters ({len(value)})"
        assert reject(topic, **{field: value}) == reason


@pytest.mark.parametrize(("topic", "field"), _NAMES)
def test_ids_and_names_refuse_control_characters(topic: str, field: str) -> None:
    assert reject(topic, **{field: "a\x00b"}) == f"{field}: control character U+0000 at position 1"
    assert reject(topic, **{field: "ab\n"}) == f"{field}: control character U+000A at position 2"
    # not printable, but not a control character either
    assert getattr(parse(topic, **{field: "a\u00a0b"}), field) == "a\u00a0b"


@pytest.mark.parametrize(
    ("topic", "field"), [("email.bounce", "diagnostic"), ("email.abuse-desk", "summary")]
)
def test_free_text_keeps_control_characters(topic: str, field: str) -> None:
    text = "550-5.1.1 first line\r\n550 5.1.1 second\tline"
    assert getattr(parse(topic, **{field: text}), field) == text


def test_optional_names_keep_null_absent_and_empty_as_before() -> None:
    for topic, field in [*_NAMES[:2], ("email.blocklist", "ip"), ("email.blocklist", "domain")]:
        assert getattr(parse(topic, **{field: None}), field) is None
        assert getattr(parse(topic, **{field: DROP}), field) is None
        assert getattr(parse(topic, **{field: ""}), field) == ""
    assert reject("email.blocklist", blocklist="") == "blocklist: empty"


def test_first_broken_rule_in_field_order_is_the_reason() -> None:
    assert reject(event_id=DROP, account_id=DROP, occurred_at="x") == "event_id: missing"
    assert reject(account_id=1, occurred_at="x") == "account_id: expected a string, got int"
    assert reject(occurred_at="2026-11-15T10:00:00", channel="sms") == (
        "occurred_at: timestamp has no UTC offset"
    )
    assert reject(recipient="bad", bounce_type="x") == (
        "recipient: not an email address (expected exactly one '@'): 'bad'"
    )


# --- JSON-lines event files ---------------------------------------------------------------


def _line(topic: Any = "email.bounce", **overrides: Any) -> bytes:
    fields = message("email.bounce" if topic not in _TOPIC_FIELDS else topic, **overrides)
    if topic is not DROP:
        fields["topic"] = topic
    return msgspec.json.encode(fields) + b"\n"


@pytest.mark.parametrize("topic", list(TOPIC_KINDS))
def test_event_line_names_its_topic(topic: str) -> None:
    event = parse_event_line(_line(topic), now=NOW, late_grace_days=GRACE)
    assert event == parse(topic)
    assert (event.topic, event.kind) == (topic, TOPIC_KINDS[topic])


def test_event_line_as_str_and_its_rules_are_the_input_rules() -> None:
    line = _line(recipient="A@B.C").decode()
    assert parse_event_line(line, now=NOW, late_grace_days=GRACE).recipient == "a@b.c"
    with pytest.raises(InvalidEvent, match=r"^bounce_type: missing$"):
        parse_event_line(_line(bounce_type=DROP), now=NOW, late_grace_days=GRACE)


_TOPICS = ", ".join(TOPIC_KINDS)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (_line(DROP), "topic: missing"),
        (_line(None), "topic: expected a string, got null"),
        (_line(7), "topic: expected a string, got int"),
        (_line("accounts"), f"topic: unknown value 'accounts' (expected one of: {_TOPICS})"),
        (
            _line("email.bounces"),
            f"topic: unknown value 'email.bounces' (expected one of: {_TOPICS})",
        ),
        (b"not json\n", "not JSON: JSON is malformed: invalid character (byte 4)"),
        (b"[1, 2]\n", "not a JSON object"),
        (b"\n", "not JSON: empty message"),
    ],
)
def test_event_line_rejects(line: bytes, reason: str) -> None:
    with pytest.raises(InvalidEvent) as info:
        parse_event_line(line, now=NOW, late_grace_days=GRACE)
    assert info.value.reason == reason


def test_event_line_is_decoded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bytes] = []
    # Private on purpose: the test counts decodes by wrapping the module's own decoder.
    real = parse_module._WIRE_DECODERS[EventWire]  # noqa: SLF001

    class Counting:
        def decode(self, data: bytes) -> Any:
            calls.append(data)
            return real.decode(data)

    monkeypatch.setitem(parse_module._WIRE_DECODERS, EventWire, Counting())  # noqa: SLF001
    monkeypatch.setattr(parse_module, "_PLAIN_DECODER", None)  # any second decode would fail
    line = _line()
    assert parse_event_line(line, now=NOW, late_grace_days=GRACE).event_id == "evt-1"
    assert calls == [line]


# --- accounts -----------------------------------------------------------------------------


def _account(raw: Any) -> AccountMeta:
    return parse_account(msgspec.json.encode(raw) if isinstance(raw, dict) else raw)


def test_account_defaults() -> None:
    assert _account({"account_id": "acct-1"}) == AccountMeta(
        account_id="acct-1", tier="free", primary_contact=None, csm=None, review_required=False
    )
    nulls = {"account_id": "a", "tier": None, "csm": None, "review_required": None}
    assert _account(nulls) == AccountMeta(account_id="a")


def test_account_with_every_field_is_normalised() -> None:
    meta = _account(
        {
            "account_id": "acct-9",
            "tier": "legacy",
            "primary_contact": " Owner@Shop.Example ",
            "csm": "CSM@Sendguard.Example",
            "review_required": True,
            "plan_notes": "ignored",
        }
    )
    assert meta == AccountMeta(
        account_id="acct-9",
        tier="legacy",
        primary_contact="owner@shop.example",
        csm="csm@sendguard.example",
        review_required=True,
    )


@pytest.mark.parametrize("tier", TIERS)
def test_every_tier_is_accepted(tier: str) -> None:
    assert _account({"account_id": "a", "tier": tier}).tier == tier


_TIER_LIST = "free, starter, professional, enterprise, trial, legacy"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ({}, "account_id: missing"),
        ({"account_id": 1}, "account_id: expected a string, got int"),
        ({"account_id": ""}, "account_id: empty"),
        ({"account_id": "a" * 201}, "account_id: longer than 200 characters (201)"),
        ({"account_id": "a\x00"}, "account_id: control character U+0000 at position 1"),
        (
            {"account_id": "a", "tier": "gold"},
            f"tier: unknown value 'gold' (expected one of: {_TIER_LIST})",
        ),
        ({"account_id": "a", "tier": 2}, "tier: expected a string, got int"),
        (
            {"account_id": "a", "primary_contact": "nobody"},
            "primary_contact: not an email address (expected exactly one '@'): 'nobody'",
        ),
        ({"account_id": "a", "primary_contact": 5}, "primary_contact: expected a string, got int"),
        ({"account_id": "a", "csm": "csm@"}, "csm: not an email address (empty domain): 'csm@'"),
        (
            {"account_id": "a", "review_required": "yes"},
            "review_required: expected a boolean, got string",
        ),
        ({"account_id": "a", "review_required": 0}, "review_required: expected a boolean, got int"),
        (b"[]", "not a JSON object"),
        (b"{", "not JSON: Input data was truncated"),
        (None, "not JSON: no value (a tombstone)"),
        (b" " * (MAX_MESSAGE_BYTES + 1), "message too large: 1048577 bytes (limit 1048576)"),
    ],
)
def test_account_rejects(raw: Any, reason: str) -> None:
    with pytest.raises(InvalidEvent) as info:
        _account(raw)
    assert info.value.reason == reason


# --- tombstones on accounts ---------------------------------------------------------------


def test_a_tombstone_deletes_the_account_its_key_names() -> None:
    assert tombstone_account(b"acm\xc3\xa9") == "acmé"
    assert tombstone_account("😀".encode() * 200) == "😀" * 200


_NO_KEY = "a tombstone (null value) without an account id as its key"
_BAD_KEY = "a tombstone (null value) whose key is no account id: "


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        (None, _NO_KEY),
        (b"", _NO_KEY),
        (b"\xff", _NO_KEY),
        (b"a" * 201, _BAD_KEY + "account_id: longer than 200 characters (201)"),
        (b"a" * 1_000_000, _BAD_KEY + "account_id: longer than 200 characters (1000000)"),
        (b"a\x00b", _BAD_KEY + "account_id: control character U+0000 at position 1"),
    ],
)
def test_a_tombstone_key_must_be_an_account_id(key: bytes | None, reason: str) -> None:
    with pytest.raises(InvalidEvent) as info:
        tombstone_account(key)
    assert info.value.reason == reason


# --- codecs -------------------------------------------------------------------------------


@pytest.mark.parametrize("topic", list(TOPIC_KINDS))
def test_event_round_trips_exactly(topic: str) -> None:
    event = parse(
        topic,
        occurred_at="2026-11-15T12:34:56.789012+02:00",
        campaign_id="cmp-1",
        smtp_code=550,
        diagnostic="550 5.1.1 unknown",
        trap_kind="typo",
        complaint_id="c-1",
        ip="192.0.2.1",
    )
    data = encode(event)
    again = decode_event(data)
    assert again == event
    assert again.occurred_at.tzinfo == UTC
    assert b'"occurred_at":"2026-11-15T10:34:56.789012Z"' in data


def test_encoded_event_is_plain_contract_json() -> None:
    event = parse("email.bounce", smtp_code=550)
    assert msgspec.json.decode(encode(event)) == {
        "topic": "email.bounce",
        "kind": "bounce",
        "event_id": "evt-1",
        "account_id": "acct-1",
        "occurred_at": "2026-11-15T10:00:00Z",
        "channel": "marketing",
        "campaign_id": None,
        "recipient": "user@example.com",
        "bounce_type": "hard",
        "smtp_code": 550,
        "diagnostic": None,
        "complaint_id": None,
        "summary": None,
        "trap_kind": None,
        "blocklist": None,
        "listed": None,
        "ip": None,
        "domain": None,
    }


def test_decode_event_rejects_what_encode_never_writes() -> None:
    good = msgspec.json.decode(encode(parse()))
    with pytest.raises(InvalidEvent, match=r"^not a sendguard\.events record: "):
        decode_event(b"{")
    with pytest.raises(InvalidEvent, match=r"^not a sendguard\.events record: .*bounce_type"):
        decode_event(msgspec.json.encode({**good, "bounce_type": "maybe"}))
    naive = msgspec.json.encode({**good, "occurred_at": "2026-11-15T10:00:00"})
    with pytest.raises(InvalidEvent, match=r"^not a sendguard\.events record: occurred_at has no"):
        decode_event(naive)


def test_account_round_trips_and_rejects_garbage() -> None:
    meta = AccountMeta(account_id="a", tier="trial", primary_contact="p@x.y", review_required=True)
    assert decode_account(encode(meta)) == meta
    with pytest.raises(InvalidEvent, match=r"^not an account record: .*tier"):
        decode_account(b'{"account_id": "a", "tier": "gold"}')


# --- dead letters -------------------------------------------------------------------------


def test_dead_letter_keeps_where_it_came_from() -> None:
    letter = dead_letter("email.bounce", 3, 1207, "bounce_type: missing", b'{"a": 1}')
    assert letter.source_topic == "email.bounce"
    assert (letter.partition, letter.offset) == (3, 1207)
    assert letter.error == "bounce_type: missing"
    assert letter.raw == '{"a": 1}'
    assert msgspec.json.decode(encode(letter)) == {
        "source_topic": "email.bounce",
        "partition": 3,
        "offset": 1207,
        "error": "bounce_type: missing",
        "raw": '{"a": 1}',
    }


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (None, ""),
        (b"", ""),
        (b"ok \xe2\x82\xac", "ok €"),
        (b"ab\xffcd", "ab\ufffdcd"),
        (b"\xc3", "\ufffd"),  # a UTF-8 sequence cut short
        (bytearray(b"x\x80"), "x\ufffd"),
        (memoryview(b"mv"), "mv"),
        ("text stays", "text stays"),
        ("lone \ud800 surrogate", "lone \ufffd surrogate"),
    ],
)
def test_dead_letter_raw_is_valid_text(raw: Any, text: str) -> None:
    letter = dead_letter("email.delivery", None, None, "x", raw)
    assert letter.raw == text
    assert (letter.partition, letter.offset) == (None, None)
    encode(letter)  # always encodable


@pytest.mark.parametrize(
    ("raw", "expected_chars", "expected_bytes"),
    [
        (b"a" * 65536, 65536, 65536),  # exactly at the limit: untouched
        (b"a" * 70000, 65536, 65536),
        ("€" * 30000, 21845, 65535),  # 3-byte characters: never split
        ("é" * 40000, 32768, 65536),
        (b"\xff" * 70000, 21845, 65535),  # each bad byte becomes U+FFFD (3 bytes)
        ("a" + "😀" * 20000, 16384, 65533),  # 1 + 16383 * 4 bytes; the next one would split
    ],
)
def test_dead_letter_raw_is_cut_at_64_kib(
    raw: Any, expected_chars: int, expected_bytes: int
) -> None:
    text = dead_letter("email.bounce", 0, 0, "message too large", raw).raw
    assert len(text) == expected_chars
    assert len(text.encode("utf-8")) == expected_bytes <= MAX_DEAD_LETTER_RAW_BYTES == 65536
    original = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    assert original.startswith(text)


def test_dead_letter_error_is_cut_with_an_ellipsis() -> None:
    assert dead_letter("email.bounce", 0, 0, "e" * 2048, b"").error == "e" * 2048
    cut = dead_letter("email.bounce", 0, 0, "e" * 2049, b"").error
    assert cut == "e" * 2047 + "…" and len(cut) == MAX_DEAD_LETTER_ERROR_CHARS == 2048
    assert dead_letter("email.bounce", 0, 0, "lone \ud800", b"").error == "lone \ufffd"


def test_dead_letter_key_keeps_the_first_kib_of_the_rejected_key() -> None:
    assert dead_letter_key(None) is None
    assert dead_letter_key(b"acme") == b"acme"
    assert dead_letter_key(b"k" * 1024) == b"k" * 1024
    assert dead_letter_key(memoryview(b"k" * 1_000_000)) == b"k" * MAX_DEAD_LETTER_KEY_BYTES


def test_the_largest_dead_letter_fits_the_record_budget() -> None:
    """64 KiB of raw control characters (each escaped to 6 bytes of JSON), an error of
    control characters as long as a producer can make it, a 1 MiB key."""
    raw = b"\x01" * MAX_MESSAGE_BYTES
    error = "\x01" * MAX_MESSAGE_BYTES
    letter = dead_letter("t" * 249 + ".email.bounce", 2**31 - 1, 2**63 - 1, error, raw)
    key = dead_letter_key(b"\xff" * MAX_MESSAGE_BYTES)
    value = encode(letter)
    assert len(letter.raw.encode()) == MAX_DEAD_LETTER_RAW_BYTES
    assert len(value) > 6 * MAX_DEAD_LETTER_RAW_BYTES  # the escaping really happened
    assert key is not None and len(key) + len(value) <= MAX_RECORD_BYTES


# --- package rules ------------------------------------------------------------------------


def test_constants_match_the_record_types() -> None:
    hints = typing.get_type_hints(Event)
    assert set(BOUNCE_TYPES) == set(typing.get_args(typing.get_args(hints["bounce_type"])[0]))
    assert set(TRAP_KINDS) == set(typing.get_args(typing.get_args(hints["trap_kind"])[0]))
    assert set(TIERS) == set(typing.get_args(typing.get_type_hints(AccountMeta)["tier"]))


def test_schemas_imports_with_faust_and_kafka_blocked() -> None:
    probe = textwrap.dedent(
        """
        import sys

        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {"faust", "aiokafka", "mode"}:
                    raise ImportError(f"layering: {name} must not be imported here")
                return None

        sys.meta_path.insert(0, Block())
        import schemas.parse, schemas.codec, schemas.errors, schemas.fields, schemas.timefmt
        print("ok")
        """
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=root, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
