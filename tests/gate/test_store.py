"""The gate's database and its reading of the topics' records, without a broker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gate.records import MAX_REASON_BYTES, BadRecord, ChannelStatus, channels_of, reason_of
from gate.store import GateStore, WriteSet


def test_writes_and_offsets_land_together_and_survive_a_reopen(tmp_path: Path) -> None:
    store = GateStore(tmp_path / "db", cache_mb=8)
    changes = WriteSet()
    changes.suppress(b"acme/ann@example.com", b"unsubscribe")
    changes.suppress(b"acme/bob@example.com", b"hard_bounce")
    changes.status(b"acme", b'{"channels": {}}')
    changes.read_to("p.sendguard.suppressions", 0, 2)
    changes.read_to("p.sendguard.suppressions", 256, 7)  # a partition whose bytes hold a NUL
    store.write(changes)
    tombstones = WriteSet()
    tombstones.unsuppress(b"acme/bob@example.com")
    tombstones.status(b"acme", None)
    tombstones.read_to("p.sendguard.suppressions", 0, 4)
    store.write(tombstones)
    store.close()

    again = GateStore(tmp_path / "db", cache_mb=8)
    assert again.reason(b"acme/ann@example.com") == b"unsubscribe"
    assert again.reasons([b"acme/bob@example.com", b"acme/ann@example.com"]) == [None, b"unsubscribe"]
    assert again.reasons([]) == []
    assert list(again.statuses()) == []
    assert again.offsets() == {("p.sendguard.suppressions", 0): 4, ("p.sendguard.suppressions", 256): 7}
    again.mark_fresh(1234.5)
    assert again.fresh_at() == 1234.5
    again.wipe()
    assert again.offsets() == {} and again.reason(b"acme/ann@example.com") is None
    assert again.fresh_at() is None
    again.close()


def test_only_channels_that_are_not_active_are_kept() -> None:
    value = (b'{"account_id": "a", "channels": {"marketing": {"state": "suspended", '
             b'"reason": "spam_trap_hit", "suspension_type": "fraud", "since": "2026-12-01", '
             b'"probation_until": null}, "crm": {"state": "active", "reason": "appeal_approved"}},'
             b' "updated_at": "2026-12-01"}')  # fmt: skip
    assert channels_of(value) == {"marketing": ChannelStatus("suspended", "spam_trap_hit", "fraud", "2026-12-01")}
    assert channels_of(b'{"channels": {"crm": {"state": "active"}}}') == {}
    assert reason_of(b'{"reason": "hard_bounce", "recipient": "x"}') == b"hard_bounce"
    assert len(reason_of(('{"reason": "%s"}' % ("r" * 5000)).encode())) == MAX_REASON_BYTES


@pytest.mark.parametrize("value", [b"", b"not json", b"[1, 2]", b'{"channels": 5}',
                                   b'{"channels": {"m": {"state": 7}}}', b"\xff\xfe",
                                   b'{"channels": {' + b", ".join(b'"c%d": {}' % n for n in range(9)) + b"}}"])
def test_a_status_record_that_is_not_one_is_refused(value: bytes) -> None:
    with pytest.raises(BadRecord):
        channels_of(value)


@given(st.one_of(st.binary(max_size=300), st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=10).map(lambda v: json.dumps({"channels": v, "reason": v}).encode())))
def test_any_bytes_decode_or_raise_bad_record(value: bytes) -> None:
    """Nothing but BadRecord escapes, and what decodes is bounded."""
    try:
        channels = channels_of(value)
    except BadRecord:
        channels = {}
    assert all(len(s.state) <= 256 and s.state != "active" for s in channels.values())
    try:
        reason = reason_of(value)
    except BadRecord:
        reason = b""
    assert len(reason) <= MAX_REASON_BYTES


def test_a_reopened_store_keeps_its_cache_and_filters(tmp_path: Path) -> None:
    """rocksdict would reopen an existing database with RocksDB's defaults."""
    for _ in range(2):
        store = GateStore(tmp_path / "db", cache_mb=24)
        store.db.put(b"k", b"v")
        assert store.db.property_int_value("rocksdb.block-cache-capacity") == 24 * 1024 * 1024
        store.close()
    latest = max((tmp_path / "db").glob("OPTIONS-*"))  # RocksDB writes them at each open
    policy = [line.strip() for line in latest.read_text().splitlines() if "filter_policy=" in line]
    assert policy and "nullptr" not in policy[0], policy
