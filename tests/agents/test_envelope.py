"""Records on ``sendguard.events``: what ``wrap`` writes ``unwrap`` reads; anything else is
one error the guard dead-letters, never a crash of the agent.

Anyone who can produce to the input topics can usually produce to this one, so it is
fuzzed like the input parser (``tests/schemas/test_fuzz.py``): whatever the bytes,
``unwrap`` returns a record or raises ``UndecodableRecord``, and a record it returns can
be applied (a report to the watermark, an event or metadata to the guard) without an
exception.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.envelope import MetaDeleted, Record, UndecodableRecord, unwrap, wrap
from agents.ingest import LOOKAHEAD
from agents.ordering import PartitionClock, RemoteSources
from agents.progress import LATEST_MICROS, ProgressReport, SourceProgress, passed, to_micros
from api.accounts import appeal_id_for
from policy import load_policy
from policy.guard import Guard, Position
from policy.store import DictStore
from schemas.appeals import Appeal, AppealForm, DecideAppeal, FileAppeal
from schemas.parse import encode, parse_event
from schemas.types import TOPIC_KINDS, AccountMeta, Event

NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
POLICY = load_policy()
SOURCES = [f"{topic}/{p}" for topic in (*TOPIC_KINDS, "accounts") for p in range(2)]


def _event(topic: str = "email.bounce", **fields: Any) -> Event:
    body = {"event_id": "e-1", "account_id": "acme", "occurred_at": "2026-11-15T11:00:00Z",
            "recipient": "u@x.test", "bounce_type": "hard", "blocklist": "spamhaus",
            "listed": True, **fields}  # fmt: skip
    return parse_event(topic, body, now=NOW, late_grace_days=7)


_FORM = AppealForm(channel="marketing", opt_out_list_imported=True, lists_cleaned=True,
                   contact_source="sign-up form", emailed_within_last_year=True,
                   details="removed a bought list")  # fmt: skip
_APPEAL = Appeal(appeal_id=appeal_id_for("acme"), account_id="acme", channel="marketing",
                 kind="appeal", queue="deliverability", tier="starter",
                 suspension_reason="hard_bounce_rate", suspension_type="deliverability",
                 form=_FORM, filed_at=NOW)  # fmt: skip
_REPORT = ProgressReport(reporter="0123abcd", reported_at=1_700_000_000.5,
                         sources={"email.delivery/1": (to_micros(NOW), False),
                                  "t1.email.bounce/0": (None, True)})  # fmt: skip
#: One valid record of each kind, as ``wrap`` (or the progress reporter) writes it.
VALID: dict[bytes, Any] = {
    b"E": _event(),
    b"A": AccountMeta(account_id="acme", tier="starter", primary_contact="ops@acme.test"),
    b"C": FileAppeal(command_id="c0ffee", appeal=_APPEAL),
    b"P": _REPORT,
}


def _wrapped(record: Any) -> bytes:
    return b"P" + encode(record) if isinstance(record, ProgressReport) else wrap(record)


@pytest.mark.parametrize(
    "record",
    [
        AccountMeta(account_id="acme", tier="starter", primary_contact="ops@acme.test"),
        MetaDeleted("acmé"),
        MetaDeleted("😀" * 200),
        *(_event(topic) for topic in TOPIC_KINDS),
        _event("email.blocklist", ip="i" * 200, domain="d" * 253, campaign_id="c" * 200),
        _event("email.abuse-desk", complaint_id="c" * 200, summary="s\r\n" * 682),
        _event(diagnostic="d" * 2048),
        FileAppeal(command_id="c0ffee", appeal=_APPEAL),
        FileAppeal(command_id="c0ffee", appeal=msgspec.structs.replace(
            _APPEAL, appeal_id=appeal_id_for("😀" * 200), account_id="😀" * 200)),
        DecideAppeal(command_id="c0ffee", account_id="acme", appeal_id=_APPEAL.appeal_id,
                     decision="deny", note="n" * 5000),
        _REPORT,
    ],
    ids=lambda record: type(record).__name__,
)
def test_wrap_then_unwrap_round_trips(record: Record) -> None:
    assert unwrap(_wrapped(record)) == record


def test_a_report_as_the_reporter_writes_it_is_read_back() -> None:
    progress = SourceProgress("f" * 32)
    sources = {"t1.email.delivery/3": (to_micros(NOW), False), "t1.accounts/0": (None, True)}
    (report,) = progress.report_if_due(sources, {0: 17, 3: 2**40})
    assert unwrap(b"P" + encode(report)) == report
    assert report.fences == {0: 17, 3: 2**40}


def _json(tag: bytes, **changes: Any) -> bytes:
    """A valid record of ``tag`` as JSON, with fields changed."""
    body = msgspec.json.decode(encode(VALID[tag]))
    body.update(changes)
    return tag + json.dumps(body).encode()


_E = "2026-11-15T11:00:00"
_DEEP = b'{"x":' + b"[" * 100_000 + b"]" * 100_000 + b"}"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (None, "no value"),
        (b"", "unknown envelope tag"),
        (b"Z{}", "unknown envelope tag"),
        (b"E{not json", "JSON is malformed"),
        (b'A{"account_id": 7}', "Expected `str`"),
        (b"P[]", "Expected `object`"),
        (b"D\xff", "can't decode"),
        # nesting, even in a field nobody reads, once raised RecursionError
        *((tag + _DEEP, "^nested too deeply$") for tag in (b"E", b"A", b"C", b"P")),
        # events: every field rule of the input parser but the time window
        (_json(b"E", account_id="a" * 1_000_000), "^account_id: longer than 200 characters"),
        (_json(b"E", event_id=""), "^event_id: empty$"),
        (_json(b"E", event_id="a\x00b"), "^event_id: control character U\\+0000"),
        (_json(b"E", occurred_at=_E), "occurred_at has no UTC offset"),
        (_json(b"E", occurred_at=_E + "+02:00"), "^occurred_at: not in UTC$"),
        (_json(b"E", topic="email.nope"), "^topic: unknown topic 'email.nope'$"),
        (_json(b"E", kind="delivery"), "^kind: 'delivery' is not the kind of email.bounce$"),
        (_json(b"E", campaign_id="c" * 300_000), "^campaign_id: longer than 200 characters"),
        (_json(b"E", diagnostic="d" * 2049), "^diagnostic: longer than 2048 characters"),
        (_json(b"E", recipient=None), "^recipient: expected a string, got null$"),
        (_json(b"E", recipient="a b@x"), "^recipient: not an email address"),
        (_json(b"E", bounce_type=None), "^bounce_type: expected a string, got null$"),
        # metadata and tombstones
        (_json(b"A", account_id="a" * 201), "^account_id: longer than 200 characters"),
        (_json(b"A", primary_contact="x" * 400), "^primary_contact: longer than 320"),
        (b"D", "^account_id: empty$"),
        (b"D" + b"a" * 201, "^account_id: longer than 200 characters"),
        (b"D" + b"a\nb", "^account_id: control character U\\+000A"),
        # progress reports: what applying them needs
        (_json(b"P", sources={"email.bounce": [1, False]}), "^sources: not a topic/partition"),
        (_json(b"P", sources={"x/1" + "0" * 5000: [1, False]}), "^sources: not a topic/partition"),
        (_json(b"P", sources={"x/99999999999": [1, False]}), "^sources: not a topic/partition"),
        (_json(b"P", sources={"x/4294967296": [1, False]}), "^sources: not a topic/partition"),
        (_json(b"P", sources={"a b/1": [1, False]}), "^sources: not a topic/partition"),
        (_json(b"P", sources={"x/1": [10**20, False]}), "latest event time out of range"),
        (_json(b"P", sources={"x/1": [-1, False]}), "latest event time out of range"),
        (_json(b"P", fences={"-1": 5}), "^fences: not a partition and an offset"),
        (_json(b"P", fences={"1": -5}), "^fences: not a partition and an offset"),
        (_json(b"P", fences={"1": 2**63}), "^fences: not a partition and an offset"),
        (_json(b"P", fences={"x": 1}), "."),
        (_json(b"P", sources={"x/1": [1, "no"]}), "Expected `bool`"),
        (_json(b"P", reported_at=-1), "^reported_at: not a time"),
        (_json(b"P", reporter=""), "^reporter: empty$"),
        # commands
        (_json(b"C", command_id="c" * 201), "^command_id: longer than 200"),
        (b"C" + encode(DecideAppeal(command_id="c", account_id="acme", appeal_id="a" * 2000,
                                    decision="deny", note="n")), "^appeal_id: longer than"),
        (b"C" + encode(DecideAppeal(command_id="c", account_id="acme", appeal_id="a",
                                    decision="deny", note="n" * 5001)), "^note: longer than"),
        (b"C" + encode(FileAppeal(command_id="c", appeal=msgspec.structs.replace(
            _APPEAL, filed_at=NOW.replace(tzinfo=None)))), "^appeal.filed_at: timestamp has no"),
    ],
    ids=lambda value: repr(value)[:60],
)
def test_anything_else_is_an_undecodable_record(data: bytes | None, reason: str) -> None:
    with pytest.raises(UndecodableRecord, match=reason):
        unwrap(data)


def test_the_reason_of_an_undecodable_record_is_cut() -> None:
    with pytest.raises(UndecodableRecord) as info:
        unwrap(_json(b"E", kind="k" * 100_000))
    assert len(str(info.value)) <= 2048


# --- fuzzing ------------------------------------------------------------------------------


def apply(record: Record) -> None:
    """What the guard does with a record it read: none of it may raise."""
    if isinstance(record, ProgressReport):
        remote = RemoteSources(timedelta(seconds=5), SOURCES)
        clock = PartitionClock(0, timedelta(seconds=5), SOURCES[::2], remote)
        for source in SOURCES[::2]:  # partition 0's own sources: caught up
            clock.direct(source, None, idle=True)
        remote.apply(record)
        assert passed(record.fences, {0: 0, 1: None}) in (True, False)
        watermark = clock.watermark()
        if watermark is not None:
            assert watermark + LOOKAHEAD > watermark  # what ingest compares with
        return
    guard = Guard(POLICY, DictStore(), lambda: NOW)
    if isinstance(record, Event):
        for watermark in (None, NOW, datetime.min.replace(tzinfo=UTC)):
            guard.receive(record, Position("sendguard.events/0", 1), watermark)
            for account_id in guard.due(None):
                guard.release(account_id, None)
        encode(record)
    elif isinstance(record, AccountMeta):
        guard.step_meta(record)
    elif isinstance(record, MetaDeleted):
        guard.step_meta_deleted(record.account_id)
    else:  # a command: applied by the appeal desk over the tables; it must encode
        assert len(encode(record)) < 512 * 1024


def check(data: bytes) -> None:
    try:
        record = unwrap(data)
    except UndecodableRecord as exc:
        assert str(exc)
        return
    apply(record)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=6)
    ),
    max_leaves=20,
)
tags = st.sampled_from([b"E", b"A", b"C", b"P", b"D", b"Z", b""])
timestamps = st.builds(
    lambda y, h, offset: f"{y:04d}-06-15T{h:02d}:00:00{offset}",
    st.integers(1, 9999), st.integers(0, 23), st.sampled_from(["Z", "+14:00", "-12:00", ""]),
)  # fmt: skip
huge = st.builds(lambda c, n: c * n, st.sampled_from(["x", "\x00", "😀", "é"]),
                 st.integers(150, 70_000))  # fmt: skip
source_keys = st.one_of(
    st.builds(lambda t, p: f"{t}/{p}", st.sampled_from([*TOPIC_KINDS, "accounts"]),
              st.integers(0, 2**31)),
    st.text(max_size=30),
    st.builds(lambda t, p: f"{t}/{p}", st.sampled_from(["", "a/b", "a b"]), st.integers()),
)
latest = st.one_of(st.integers(0, 2**58), st.none(), st.integers())
#: Field values worth trying on each kind of record, besides any JSON value.
SPECIAL: dict[bytes, dict[str, Any]] = {
    b"E": {"occurred_at": timestamps, "topic": st.sampled_from([*TOPIC_KINDS, "accounts"]),
           "kind": st.sampled_from([*TOPIC_KINDS.values(), "other"]),
           "smtp_code": st.integers(), "channel": st.sampled_from(["marketing", "crm", "x"]),
           "recipient": st.sampled_from(["A@B.c", " a@b ", "a@b@c", ""])},
    b"A": {"tier": st.sampled_from(["free", "legacy", "gold"])},
    b"C": {"type": st.sampled_from(["file_appeal", "decide_appeal", "x"])},
    b"P": {"reported_at": st.floats(allow_nan=False) | st.integers(),
           "sources": st.dictionaries(source_keys, st.tuples(latest, st.booleans()),
                                      max_size=4)},
}  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid record of some kind, a few of its fields replaced (by values of the right
    kind first, so that many are still accepted and get applied), maybe one dropped."""
    tag = draw(st.sampled_from(list(VALID)))
    body = msgspec.json.decode(encode(VALID[tag]))
    for name in draw(st.lists(st.sampled_from(sorted(body)), max_size=3, unique=True)):
        special = SPECIAL[tag].get(name)
        options = ([special] if special is not None else []) + [json_values, huge]
        body[name] = draw(st.one_of(*options))
    if draw(st.integers(0, 3)) == 0:
        del body[draw(st.sampled_from(sorted(body)))]
    return tag + json.dumps(body).encode()


_SETTINGS = settings(max_examples=300, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip


@_SETTINGS
@given(tags, st.binary(max_size=300))
def test_random_bytes_with_each_tag(tag: bytes, body: bytes) -> None:
    check(tag + body)


@_SETTINGS
@given(tags, json_values)
def test_random_json_with_each_tag(tag: bytes, value: object) -> None:
    check(tag + json.dumps(value).encode())


@settings(max_examples=600, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
@given(mutated())
def test_valid_records_with_wrong_fields(data: bytes) -> None:
    check(data)


@_SETTINGS
@given(st.sampled_from([b"E", b"A", b"C", b"P", b"D"]), huge)
def test_huge_text_with_each_tag(tag: bytes, text: str) -> None:
    check(tag + text.encode())
    check(tag + json.dumps({"account_id": text, "reporter": text}).encode())


@pytest.mark.parametrize("topic", list(TOPIC_KINDS))
@pytest.mark.parametrize(
    "at", ["0001-01-01T00:00:00Z", "1970-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z"]
)
def test_an_event_of_any_time_is_read_and_applied(topic: str, at: str) -> None:
    """No time window on this topic: an event of any year reaches the guard, which must
    cope (its month pruning, holding and ordering near datetime's ends)."""
    body = msgspec.json.decode(encode(_event(topic)))
    data = b"E" + json.dumps({**body, "occurred_at": at}).encode()
    record = unwrap(data)
    assert isinstance(record, Event) and record.occurred_at.isoformat()[:4] == at[:4]
    apply(record)


@pytest.mark.parametrize("latest", [0, LATEST_MICROS])
def test_a_report_at_the_ends_of_its_range_is_read_and_applied(latest: int) -> None:
    others = {source: (latest, False) for source in SOURCES if not source.endswith("/0")}
    record = unwrap(_json(b"P", sources=others))
    assert isinstance(record, ProgressReport)
    apply(record)


@pytest.mark.parametrize("tag", [b"E", b"A", b"C", b"P", b"D"])
@pytest.mark.parametrize("depth", [10, 1_000, 100_000])
def test_deep_nesting_with_each_tag(tag: bytes, depth: int) -> None:
    check(tag + b"[" * depth + b"]" * depth)
    check(tag + b'{"sources":' + b'{"a":' * depth + b"1" + b"}" * (depth + 1))
    body = msgspec.json.decode(encode(VALID.get(tag, _REPORT)))
    nested = json.dumps(body)[:-1] + ', "x": ' + "[" * depth + "]" * depth + "}"
    check(tag + nested.encode())
