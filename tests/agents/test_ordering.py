"""agents.ordering and agents.progress: the watermark one guard partition sees."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import msgspec
from faust.types import TP

from agents.envelope import PROGRESS
from agents.ordering import PartitionClock
from agents.progress import SOURCES_PER_REPORT, ProgressReport, SourceProgress, to_micros
from schemas.limits import MAX_RECORD_BYTES

T0 = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
SOURCES = ["email.delivery/0", "email.delivery/1", "email.bounce/0", "email.bounce/1"]


def report(at: float, sources: dict[str, tuple[datetime | None, bool]]) -> ProgressReport:
    return ProgressReport(
        reporter="w",
        reported_at=at,
        sources={name: (to_micros(t) if t else None, idle) for name, (t, idle) in sources.items()},
    )


def test_every_source_holds_the_watermark_until_it_is_heard_of() -> None:
    clock = PartitionClock(0, timedelta(seconds=5), SOURCES)
    assert clock.watermark() == datetime.min.replace(tzinfo=UTC)
    clock.direct("email.delivery/0", to_micros(T0), idle=False)
    clock.direct("email.bounce/0", None, idle=True)
    assert clock.watermark() == datetime.min.replace(tzinfo=UTC)  # partition 1 unheard of
    clock.apply_report(
        report(1.0, {"email.delivery/1": (T0 + timedelta(hours=1), False),
                     "email.bounce/1": (None, True)})
    )  # fmt: skip
    assert clock.watermark() == T0 - timedelta(seconds=5)
    clock.direct("email.delivery/0", to_micros(T0 + timedelta(hours=2)), idle=True)
    assert clock.watermark() == T0 + timedelta(hours=1) - timedelta(seconds=5)


def test_reports_about_its_own_partition_and_stale_reports_are_ignored() -> None:
    clock = PartitionClock(0, timedelta(0), SOURCES)
    clock.direct("email.delivery/0", to_micros(T0), idle=False)
    clock.direct("email.bounce/0", None, idle=True)
    # Another worker's report about partition 0 (read here directly) does not count.
    clock.apply_report(
        report(2.0, {"email.delivery/0": (None, True),
                     "email.delivery/1": (T0 + timedelta(hours=1), False),
                     "email.bounce/1": (None, True)})
    )  # fmt: skip
    assert clock.watermark() == T0
    # An older report (a previous owner's) about partition 1 loses to the newer one.
    clock.apply_report(report(1.0, {"email.delivery/1": (None, True)}))
    clock.direct("email.delivery/0", to_micros(T0 + timedelta(hours=3)), idle=False)
    assert clock.watermark() == T0 + timedelta(hours=1)


def test_a_partition_is_idle_once_the_consumer_has_delivered_it_to_its_end() -> None:
    progress = SourceProgress("w")
    tp = TP("email.delivery", 0)
    assert progress.state(tp, end=None, delivered=None) == (None, False)
    assert progress.state(tp, end=0, delivered=0) == (None, True)  # empty
    assert progress.state(tp, end=10, delivered=4) == (None, False)
    assert progress.state(tp, end=10, delivered=None) == (None, False)  # a batch on its way
    progress.frontier(tp).observe(to_micros(T0))
    progress.frontier(tp).observe(to_micros(T0))
    assert progress.state(tp, end=10, delivered=10) == (to_micros(T0), True)
    # A log that ends in a commit marker (offset 10): the last record read is 9, but the
    # consumer's position is past the marker, so the partition is caught up.
    assert progress.state(tp, end=11, delivered=11) == (to_micros(T0), True)
    assert progress.state(tp, end=12, delivered=11) == (to_micros(T0), False)


def test_reports_split_so_that_each_stays_a_small_record() -> None:
    progress = SourceProgress("w")
    sources = {f"email.delivery/{p}": (None, True) for p in range(SOURCES_PER_REPORT + 5)}
    reports = progress.report_if_due(sources)
    assert [len(r.sources) for r in reports] == [SOURCES_PER_REPORT, 5]
    assert {k for r in reports for k in r.sources} == set(sources)
    assert len(PROGRESS + msgspec.json.encode(reports[0])) < MAX_RECORD_BYTES // 2
    assert progress.report_if_due(sources) == []  # nothing changed


def test_a_report_of_a_source_this_guard_does_not_read_changes_nothing() -> None:
    """A forged report naming a made-up source, busy and never heard of, would otherwise
    hold the watermark at the beginning of time."""
    clock = PartitionClock(0, timedelta(0), SOURCES)
    for source in SOURCES:
        clock.direct(source, None, idle=True)
    assert clock.watermark() is None
    clock.apply_report(report(time.time(), {"email.delivery/7": (None, False)}))
    assert clock.watermark() is None


def test_a_report_stamped_in_the_future_does_not_win_over_later_ones() -> None:
    clock = PartitionClock(0, timedelta(0), SOURCES)
    for source in SOURCES:
        clock.direct(source, None, idle=True)
    clock.apply_report(report(time.time() + 3600, {"email.delivery/1": (None, False)}))
    assert clock.watermark() == datetime.min.replace(tzinfo=UTC)  # held, for now
    clock.apply_report(report(time.time() + 1, {"email.delivery/1": (None, True)}))
    assert clock.watermark() is None  # the real reporter's next report counts
