"""policy.guard: dedup, re-read messages after a crash, and event-time order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from policy import load_policy
from policy.guard import Guard, Position
from policy.state import SourceMark
from policy.store import DictStore
from schemas.types import Event

T0 = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
SOURCE = "email.delivery/0"


def ev(kind: str, n: int, seconds: float, account: str = "a1", **fields: object) -> Event:
    topic = {"delivery": "email.delivery", "bounce": "email.bounce"}[kind]
    extra = {"bounce_type": "hard"} if kind == "bounce" else {}
    return Event(
        topic=topic, kind=kind, event_id=f"{kind}-{n}", account_id=account,  # type: ignore[arg-type]
        occurred_at=T0 + timedelta(seconds=seconds),
        **{"recipient": f"r{n}@x.example", **extra, **fields},  # type: ignore[arg-type]
    )  # fmt: skip


@pytest.fixture
def store() -> DictStore:
    return DictStore()


@pytest.fixture
def guard(store: DictStore) -> Guard:
    return Guard(load_policy(), store, lambda: NOW)


def feed(
    guard: Guard, events: list[Event], watermark: datetime | None = None, first: int = 0
) -> list:
    decisions = []
    for offset, event in enumerate(events, start=first):
        decisions += guard.receive(event, Position(SOURCE, offset), watermark).outcome.decisions
    return decisions


def sent(store: DictStore, account: str = "a1") -> int:
    state = store.load_account(account)
    assert state is not None
    return state.channel("marketing").periods["2026-11"].sent


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


def test_a_retry_with_the_same_event_id_is_a_duplicate(guard: Guard, store: DictStore) -> None:
    sends, bounces = month(40)
    feed(guard, sends + bounces)
    step = guard.receive(bounces[0], Position(SOURCE, 5000))
    assert step.kind == "duplicate" and not step.outcome.decisions
    assert list(step.done) == [Position(SOURCE, 5000)]
    state = store.load_account("a1")
    assert state is not None
    assert state.channel("marketing").periods["2026-11"].hard_bounces == 40


def test_a_reread_message_is_recognised_by_the_row_or_counted_once(
    guard: Guard, store: DictStore
) -> None:
    sends, _ = month(0)
    feed(guard, sends)
    assert store.accounts["a1"].done[SOURCE] == SourceMark(1000, [])
    # Already done in the row: skipped, nothing counted.
    assert guard.receive(sends[-1], Position(SOURCE, 999)).kind == "replayed"
    # Its seen mark names this very message but the row never covered it (a crash lost
    # the row after the seen ids were written): counted again, exactly once.
    extra = ev("delivery", 5000, 5000)
    store.mark_seen("a1", extra.event_id, str(Position(SOURCE, 1000)))
    assert guard.receive(extra, Position(SOURCE, 1000)).kind == "applied"
    assert guard.receive(extra, Position(SOURCE, 1000)).kind == "replayed"
    assert sent(store) == 1001


def test_held_events_wait_for_the_watermark_and_count_in_time_order(guard: Guard) -> None:
    sends, bounces = month(60)
    # Skew: every bounce arrives before any delivery; the watermark is held back by the
    # lagging delivery source, so nothing is counted on arrival.
    early = feed(guard, bounces + sends, watermark=T0 - timedelta(seconds=1))
    assert early == []
    assert len(guard.held) == 1060
    assert guard.due(None) == ["a1"]
    step = guard.release("a1", None)
    assert step.counted == 1060 and len(guard.held) == 0
    assert [(d.action, d.evidence.hard_bounces, d.trigger_event_id) for d in step.outcome.decisions] == [
        ("warn", 21, "bounce-20"), ("suspend", 51, "bounce-50"),
    ]  # fmt: skip


def test_a_watermark_releases_only_what_it_has_passed(guard: Guard, store: DictStore) -> None:
    sends, _ = month(0)
    feed(guard, sends[:10], watermark=T0 + timedelta(seconds=4))
    assert sent(store) == 5  # seconds 0..4
    assert guard.due(T0 + timedelta(seconds=4)) == []
    assert guard.due(T0 + timedelta(seconds=7)) == ["a1"]
    step = guard.release("a1", T0 + timedelta(seconds=7))
    assert step.counted == 3 and guard.held.earliest("a1") == T0 + timedelta(seconds=8)
    assert list(step.done) == [Position(SOURCE, o) for o in (5, 6, 7)]


def test_the_row_marks_what_is_done_around_held_messages(guard: Guard, store: DictStore) -> None:
    # Offsets 0..3 arrive; 1 happened late in time and waits, the others count at once.
    times = [0, 50, 1, 2]
    events = [ev("delivery", i, t) for i, t in enumerate(times)]
    feed(guard, events, watermark=T0 + timedelta(seconds=10))
    assert store.accounts["a1"].done[SOURCE] == SourceMark(1, [2, 3])
    guard.release("a1", None)
    assert store.accounts["a1"].done[SOURCE] == SourceMark(4, [])


def test_a_restart_rereads_and_counts_exactly_what_was_not_done(store: DictStore) -> None:
    policy = load_policy()
    times = [0, 50, 1, 2, 60, 3]
    events = [ev("delivery", i, t) for i, t in enumerate(times)]
    before = Guard(policy, store, lambda: NOW)
    feed(before, events, watermark=T0 + timedelta(seconds=10))  # 1 and 4 held
    assert sent(store) == 4
    # The worker dies: its held events are gone, its uncommitted messages come again.
    after = Guard(policy, store, lambda: NOW)
    kinds = [after.receive(e, Position(SOURCE, o), None).kind for o, e in enumerate(events)]
    assert kinds == ["replayed", "applied", "replayed", "replayed", "applied", "replayed"]
    assert sent(store) == 6


def test_a_duplicate_of_a_held_event_is_not_counted_twice(guard: Guard, store: DictStore) -> None:
    first = ev("delivery", 1, 100)
    guard.receive(first, Position(SOURCE, 0), T0)
    assert guard.receive(first, Position(SOURCE, 1), T0).kind == "duplicate"
    assert guard.release("a1", None).counted == 1
    assert sent(store) == 1


def test_suppressions_once_per_account_and_recipient(guard: Guard) -> None:
    first = ev("bounce", 1, 10)
    again = ev("bounce", 2, 11, recipient="r1@x.example")  # another event, same recipient
    assert len(guard.receive(first, Position(SOURCE, 0)).suppressions) == 1
    assert guard.receive(again, Position(SOURCE, 1)).suppressions == []


def test_an_event_behind_what_its_account_counted_in_order_is_counted_late(
    guard: Guard, store: DictStore
) -> None:
    feed(guard, [ev("delivery", 1, 100), ev("delivery", 2, 200)], watermark=T0 + timedelta(1))
    step = guard.receive(ev("delivery", 3, 150), Position(SOURCE, 2), T0)
    assert step.kind == "applied" and step.late and step.counted == 1
    assert not guard.receive(ev("delivery", 4, 300), Position(SOURCE, 3), None).late
    assert sent(store) == 4


def test_a_guard_that_does_not_suppress_stages_and_returns_no_suppressions() -> None:
    """A shadow policy's guard: the same decisions, no suppression kept or published."""
    events = [ev("delivery", i, i) for i in range(3)] + [ev("bounce", 0, 10)]
    suppressing, quiet = DictStore(), DictStore()
    steps = {}
    for name, store, suppresses in (("live", suppressing, True), ("shadow", quiet, False)):
        guard = Guard(load_policy(), store, lambda: NOW, suppresses=suppresses)
        steps[name] = [guard.receive(e, Position(SOURCE, n)) for n, e in enumerate(events)]
    assert [s.suppressions for s in steps["live"]][-1] and suppressing.suppressed
    assert not any(s.suppressions for s in steps["shadow"]) and not quiet.suppressed
    assert sent(suppressing) == sent(quiet) == 3
