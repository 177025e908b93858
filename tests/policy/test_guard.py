"""policy.guard: dedup, idempotent replays, two-phase commit and event-time order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from policy import load_policy
from policy.guard import DictStore, Guard, Position
from schemas.types import Event

T0 = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)


def ev(kind: str, n: int, seconds: float, account: str = "a1", **fields: object) -> Event:
    topic = {"delivery": "email.delivery", "bounce": "email.bounce"}[kind]
    extra = {"bounce_type": "hard"} if kind == "bounce" else {}
    return Event(
        topic=topic, kind=kind, event_id=f"{kind}-{n}", account_id=account,  # type: ignore[arg-type]
        occurred_at=T0 + timedelta(seconds=seconds),
        **{"recipient": f"r{n}@x.example", **extra, **fields},  # type: ignore[arg-type]
    )  # fmt: skip


@pytest.fixture
def guard() -> Guard:
    return Guard(load_policy(), DictStore(), lambda: NOW)


def feed(guard: Guard, events: list[Event], watermark: datetime | None = None) -> list:
    decisions = []
    for offset, event in enumerate(events):
        step = guard.step(event, Position(0, offset), watermark)
        guard.commit(step)
        decisions += step.outcome.decisions
    return decisions


def month(bounce_count: int) -> tuple[list[Event], list[Event]]:
    sends = [ev("delivery", i, i) for i in range(1000)]
    bounces = [ev("bounce", i, 1000 + i) for i in range(bounce_count)]
    return sends, bounces


def test_counts_once_and_decides_like_the_engine(guard: Guard) -> None:
    sends, bounces = month(60)
    decisions = feed(guard, sends + bounces)
    assert [(d.action, d.evidence.hard_bounces) for d in decisions] == [
        ("warn", 21), ("suspend", 51),
    ]  # fmt: skip
    assert decisions[1].trigger_event_id == "bounce-50"


def test_a_retry_with_the_same_event_id_is_a_duplicate(guard: Guard) -> None:
    sends, bounces = month(40)
    feed(guard, sends + bounces)
    step = guard.step(bounces[0], Position(0, 5000))
    assert step.kind == "duplicate" and not step.outcome.decisions
    guard.commit(step)
    state = guard.store.load_account("a1")
    assert state is not None
    assert state.channel("marketing").periods["2026-11"].hard_bounces == 40


def test_a_replayed_message_is_recognised_by_its_offset_or_its_seen_mark(guard: Guard) -> None:
    sends, _ = month(0)
    feed(guard, sends)
    # Offset already folded into the row: replayed, nothing counted.
    assert guard.step(sends[-1], Position(0, 999)).kind == "replayed"
    # Seen mark from this very message but the row was never written (crash between
    # the two writes): applied again, exactly once.
    store = guard.store
    assert isinstance(store, DictStore)
    extra = ev("delivery", 5000, 5000)
    store.mark_seen(extra.event_id, "0:1000")
    step = guard.step(extra, Position(0, 1000))
    assert step.kind == "applied"
    guard.commit(step)
    state = store.load_account("a1")
    assert state is not None and state.channel("marketing").periods["2026-11"].sent == 1001


def test_nothing_is_written_before_commit(guard: Guard) -> None:
    sends, _ = month(0)
    step = guard.step(sends[0], Position(0, 0))
    assert guard.store.load_account("a1") is None
    assert guard.store.seen_by(sends[0].event_id) is None
    guard.commit(step)
    assert guard.store.seen_by(sends[0].event_id) == "0:0"


def test_held_events_wait_for_the_watermark_and_count_in_time_order(guard: Guard) -> None:
    sends, bounces = month(60)
    # Skew: every bounce arrives before any delivery; the watermark is held back by the
    # lagging delivery source, so nothing is counted on arrival.
    early = feed(guard, bounces + sends, watermark=T0 - timedelta(seconds=1))
    assert early == []
    assert len(guard.store.held("a1", None)) == 1060  # type: ignore[attr-defined]
    step = guard.release("a1", None)
    guard.commit(step)
    assert step.counted == 1060
    assert [(d.action, d.evidence.hard_bounces, d.trigger_event_id) for d in step.outcome.decisions] == [
        ("warn", 21, "bounce-20"), ("suspend", 51, "bounce-50"),
    ]  # fmt: skip


def test_a_watermark_releases_only_what_it_has_passed(guard: Guard) -> None:
    sends, _ = month(0)
    feed(guard, sends[:10], watermark=T0 + timedelta(seconds=4))
    state = guard.store.load_account("a1")
    assert state is not None
    assert state.channel("marketing").periods["2026-11"].sent == 5  # seconds 0..4
    held = guard.store.held("a1", None)  # type: ignore[attr-defined]
    assert [e.event_id for _, e in held] == [f"delivery-{i}" for i in range(5, 10)]
    step = guard.release("a1", T0 + timedelta(seconds=7))
    guard.commit(step)
    assert step.counted == 3 and guard.earliest_held("a1") == T0 + timedelta(seconds=8)


def test_a_crash_after_the_row_write_does_not_count_held_events_twice(guard: Guard) -> None:
    sends, _ = month(0)
    feed(guard, sends[:10], watermark=T0 - timedelta(seconds=1))  # all ten held
    step = guard.release("a1", None)
    # Simulate the crash window: the row is written, the held events are not dropped.
    guard.store.save_account(step.state)
    again = guard.release("a1", None)
    assert again.counted == 0 and len(again.released) == 10
    guard.commit(again)
    assert guard.store.held("a1", None) == []  # type: ignore[attr-defined]
    state = guard.store.load_account("a1")
    assert state is not None and state.channel("marketing").periods["2026-11"].sent == 10


def test_suppressions_once_per_account_and_recipient(guard: Guard) -> None:
    first = ev("bounce", 1, 10)
    again = ev("bounce", 2, 11, recipient="r1@x.example")  # another event, same recipient
    step = guard.step(first, Position(0, 0))
    assert len(step.suppressions) == 1
    guard.commit(step)
    assert guard.step(again, Position(0, 1)).suppressions == []
