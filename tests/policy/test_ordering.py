from __future__ import annotations

from datetime import UTC, datetime, timedelta

from policy.ordering import BEGINNING, Frontier, Watermarks

T0 = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)


def observe(marks: Watermarks, source: str, at: datetime) -> None:
    """A source's first event alone does not move it: deliver it twice."""
    marks.observe(source, at)
    marks.observe(source, at)


def test_minimum_over_busy_sources_minus_allowance() -> None:
    marks = Watermarks(timedelta(seconds=10))
    observe(marks, "email.delivery/0", T0 + timedelta(minutes=5))
    observe(marks, "email.bounce/0", T0 + timedelta(minutes=30))
    assert marks.current() == T0 + timedelta(minutes=5) - timedelta(seconds=10)


def test_a_known_silent_source_holds_everything() -> None:
    marks = Watermarks(timedelta(0))
    marks.expect("email.delivery/0")
    marks.observe("email.bounce/0", T0)
    assert marks.current() == BEGINNING


def test_idle_sources_do_not_hold_it_back_and_all_idle_means_no_bound() -> None:
    marks = Watermarks(timedelta(0))
    observe(marks, "email.delivery/0", T0)
    observe(marks, "email.bounce/0", T0 + timedelta(hours=1))
    marks.finish("email.delivery/0")
    assert marks.current() == T0 + timedelta(hours=1)
    marks.report("email.bounce/0", None, idle=True)
    assert marks.current() is None
    observe(marks, "email.delivery/0", T0 + timedelta(hours=2))  # busy again
    assert marks.current() == T0 + timedelta(hours=2)


def test_reports_never_move_a_source_back_in_time() -> None:
    marks = Watermarks(timedelta(0))
    marks.report("s", T0 + timedelta(hours=1), idle=False)
    marks.report("s", T0, idle=False)
    assert marks.current() == T0 + timedelta(hours=1)


def test_one_event_stamped_far_ahead_moves_its_source_by_at_most_a_minute() -> None:
    """A producer's clock an hour fast (or a hostile stamp): the source keeps holding
    the watermark where its other events are, and a real jump is confirmed by the next."""
    marks = Watermarks(timedelta(0))
    observe(marks, "email.delivery/0", T0)
    observe(marks, "email.bounce/0", T0 + timedelta(hours=3))
    marks.observe("email.delivery/0", T0 + timedelta(hours=1))  # the outlier
    assert marks.current() == T0 + timedelta(minutes=1)
    marks.observe("email.delivery/0", T0 + timedelta(seconds=2))  # back to normal
    assert marks.current() == T0 + timedelta(minutes=1)
    marks.observe("email.delivery/0", T0 + timedelta(hours=2))  # a real jump: two events
    marks.observe("email.delivery/0", T0 + timedelta(hours=2, seconds=1))
    assert marks.current() == T0 + timedelta(hours=2, seconds=1)


def test_a_frontier_caps_each_event_at_the_clock_and_trusts_no_first_event_alone() -> None:
    frontier = Frontier()
    frontier.observe(10_000_000_000)
    assert frontier.latest is None
    frontier.observe(10_000_000_001)
    assert frontier.latest == 10_000_000_001
    frontier.observe(99_000_000_000, cap=10_000_000_005)  # stamped in the future: now
    assert frontier.latest == 10_000_000_005
