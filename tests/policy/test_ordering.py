from __future__ import annotations

from datetime import UTC, datetime, timedelta

from policy.ordering import BEGINNING, Watermarks

T0 = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)


def test_minimum_over_busy_sources_minus_allowance() -> None:
    marks = Watermarks(timedelta(seconds=10))
    marks.observe("email.delivery/0", T0 + timedelta(minutes=5))
    marks.observe("email.bounce/0", T0 + timedelta(minutes=30))
    assert marks.current() == T0 + timedelta(minutes=5) - timedelta(seconds=10)


def test_a_known_silent_source_holds_everything() -> None:
    marks = Watermarks(timedelta(0))
    marks.expect("email.delivery/0")
    marks.observe("email.bounce/0", T0)
    assert marks.current() == BEGINNING


def test_idle_sources_do_not_hold_it_back_and_all_idle_means_no_bound() -> None:
    marks = Watermarks(timedelta(0))
    marks.observe("email.delivery/0", T0)
    marks.observe("email.bounce/0", T0 + timedelta(hours=1))
    marks.finish("email.delivery/0")
    assert marks.current() == T0 + timedelta(hours=1)
    marks.report("email.bounce/0", None, idle=True)
    assert marks.current() is None
    marks.observe("email.delivery/0", T0 + timedelta(hours=2))  # busy again
    assert marks.current() == T0 + timedelta(hours=2)


def test_reports_never_move_a_source_back_in_time() -> None:
    marks = Watermarks(timedelta(0))
    marks.report("s", T0 + timedelta(hours=1), idle=False)
    marks.report("s", T0, idle=False)
    assert marks.current() == T0 + timedelta(hours=1)
