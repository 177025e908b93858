"""The appeals queue as each worker reads it from ``sendguard.appeals``: the last record
of an appeal decides whether it waits; anything else on the topic is skipped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec

from api import appeal_index
from api.appeal_index import AppealIndex
from schemas.appeals import Appeal, AppealForm

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def appeal(n: int, **fields: object) -> bytes:
    form = AppealForm(channel="marketing", opt_out_list_imported=True, lists_cleaned=True,
                      contact_source="sign-up", emailed_within_last_year=True, details="x")  # fmt: skip
    value = Appeal(appeal_id=f"ap-{n}", account_id=f"acct-{n}", channel="marketing",
                   kind="appeal", queue="deliverability", tier="starter",
                   suspension_reason="hard_bounce_rate", suspension_type="deliverability",
                   form=form, filed_at=T0 + timedelta(hours=n))  # fmt: skip
    return msgspec.json.encode(msgspec.structs.replace(value, **fields))


def test_pending_until_decided_oldest_first_and_filtered() -> None:
    index = AppealIndex()
    for n in (3, 1, 2):
        index.apply(None, appeal(n))
    index.apply(None, appeal(4, queue="fraud-review", tier="free"))
    assert [a.appeal_id for a in index.queue()] == ["ap-1", "ap-2", "ap-3", "ap-4"]
    assert [a.appeal_id for a in index.queue(queue="fraud-review")] == ["ap-4"]
    assert [a.appeal_id for a in index.queue(tier="starter", channel="marketing")] == [
        "ap-1", "ap-2", "ap-3"]
    index.apply(None, appeal(2, status="restored", decided_by="alice", note="ok",
                             decided_at=T0 + timedelta(days=1)))  # fmt: skip
    assert [a.appeal_id for a in index.queue()] == ["ap-1", "ap-3", "ap-4"]
    newest = next(iter(index.trail()))
    assert (newest.actor, newest.action, newest.note) == ("alice", "restored", "ok")
    assert [r.action for r in index.trail("acct-2")] == ["restored", "filed"]
    assert next(iter(index.trail("acct-1"))).actor == "account:acct-1"


def test_anything_else_on_the_topic_is_skipped() -> None:
    index = AppealIndex()
    for junk in (None, b"", b"{}", b"[" * 5000, b"\xff\xfe", b'{"appeal_id": 1}',
                 b"x" * (appeal_index.MAX_RECORD_BYTES + 1)):  # fmt: skip
        index.apply(b"k", junk)
    assert index.skipped == 7 and not index.pending and not index.audit


def test_memory_is_bounded(monkeypatch) -> None:
    monkeypatch.setattr(appeal_index, "MAX_PENDING", 3)
    index = AppealIndex()
    for n in range(5):
        index.apply(None, appeal(n))
    assert len(index.pending) == 3
    index.apply(None, appeal(0, status="denied", decided_by="bob", note="no"))
    assert len(index.pending) == 2  # a decision frees its room
    assert index.audit.maxlen == appeal_index.AUDIT_ROWS
