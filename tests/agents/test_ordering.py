"""agents.ordering and agents.progress: the watermark one guard partition sees."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import msgspec
from faust.types import TP

from agents.envelope import PROGRESS
from agents.ordering import PartitionClock, RemoteSources
from agents.progress import (
    SOURCES_PER_REPORT,
    ProgressReport,
    ReportGate,
    SourceProgress,
    to_micros,
)
from schemas.limits import MAX_RECORD_BYTES

T0 = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
SOURCES = ["email.delivery/0", "email.delivery/1", "email.bounce/0", "email.bounce/1"]


def report(at: float, sources: dict[str, tuple[datetime | None, bool]],
           fences: dict[int, int] | None = None, reporter: str = "w") -> ProgressReport:  # fmt: skip
    return ProgressReport(
        reporter=reporter,
        reported_at=at,
        sources={name: (to_micros(t) if t else None, idle) for name, (t, idle) in sources.items()},
        fences=fences or {},
    )


def clock_of(partition: int, allowance: timedelta) -> PartitionClock:
    """Partition ``partition``'s clock; its remote sources are ``clock.remote``."""
    own = [s for s in SOURCES if s.endswith(f"/{partition}")]
    return PartitionClock(partition, allowance, own, RemoteSources(allowance, SOURCES))


def test_every_source_holds_the_watermark_until_it_is_heard_of() -> None:
    clock = clock_of(0, timedelta(seconds=5))
    assert clock.watermark() == datetime.min.replace(tzinfo=UTC)
    clock.direct("email.delivery/0", to_micros(T0), idle=False)
    clock.direct("email.bounce/0", None, idle=True)
    assert clock.watermark() == datetime.min.replace(tzinfo=UTC)  # partition 1 unheard of
    clock.remote.apply(
        report(1.0, {"email.delivery/1": (T0 + timedelta(hours=1), False),
                     "email.bounce/1": (None, True)})
    )  # fmt: skip
    assert clock.watermark() == T0 - timedelta(seconds=5)
    clock.direct("email.delivery/0", to_micros(T0 + timedelta(hours=2)), idle=True)
    assert clock.watermark() == T0 + timedelta(hours=1) - timedelta(seconds=5)


def test_reports_about_its_own_partition_and_stale_reports_are_ignored() -> None:
    clock = clock_of(0, timedelta(0))
    clock.direct("email.delivery/0", to_micros(T0), idle=False)
    clock.direct("email.bounce/0", None, idle=True)
    # Another worker's report about partition 0 (read here directly) does not count.
    clock.remote.apply(
        report(2.0, {"email.delivery/0": (None, True),
                     "email.delivery/1": (T0 + timedelta(hours=1), False),
                     "email.bounce/1": (None, True)})
    )  # fmt: skip
    assert clock.watermark() == T0
    # An older report (a previous owner's) about partition 1 loses to the newer one.
    clock.remote.apply(report(1.0, {"email.delivery/1": (None, True)}))
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
    clock = clock_of(0, timedelta(0))
    clock.remote.apply(report(time.time(), {s: (None, True) for s in SOURCES}))
    for source in SOURCES[::2]:
        clock.direct(source, None, idle=True)
    assert clock.watermark() is None
    clock.remote.apply(report(time.time(), {"email.delivery/7": (None, False)}))
    assert clock.watermark() is None


def test_a_report_stamped_in_the_future_does_not_win_over_later_ones() -> None:
    clock = clock_of(0, timedelta(0))
    clock.remote.apply(report(0.5, {s: (None, True) for s in SOURCES}))
    for source in SOURCES[::2]:
        clock.direct(source, None, idle=True)
    clock.remote.apply(report(time.time() + 3600, {"email.delivery/1": (None, False)}))
    assert clock.watermark() == datetime.min.replace(tzinfo=UTC)  # held, for now
    clock.remote.apply(report(time.time() + 1, {"email.delivery/1": (None, True)}))
    assert clock.watermark() is None  # the real reporter's next report counts


def test_the_remote_mark_is_the_lowest_of_every_other_partition_number() -> None:
    sources = [f"email.delivery/{p}" for p in range(4)]
    remote = RemoteSources(timedelta(0), sources)
    remote.apply(report(1.0, {"email.delivery/1": (T0, False),
                              "email.delivery/2": (T0 + timedelta(hours=1), False),
                              "email.delivery/3": (None, True)}))  # fmt: skip
    assert remote.excluding(1) == datetime.min.replace(tzinfo=UTC)  # 0: unheard of
    assert remote.excluding(0) == T0
    remote.apply(report(2.0, {"email.delivery/0": (T0 + timedelta(hours=2), False)}))
    assert remote.excluding(0) == T0
    assert remote.excluding(1) == T0 + timedelta(hours=1)
    assert remote.excluding(3) == T0
    assert remote.holding(1) == "email.delivery/2"
    remote.apply(report(3.0, {"email.delivery/1": (None, True),
                              "email.delivery/2": (None, True)}))  # fmt: skip
    assert remote.excluding(0) is None
    assert remote.excluding(1) == T0 + timedelta(hours=2)


def test_reports_wait_in_order_until_every_owned_partition_has_read_to_their_fences() -> None:
    gate = ReportGate()
    first = report(1.0, {}, fences={0: 10, 1: 4})
    second = report(2.0, {}, fences={0: 12, 1: 4, 5: 99})  # 5: not this worker's
    other = report(1.5, {}, fences={}, reporter="v")
    for r in (first, second, other):
        assert gate.offer(r)
    assert gate.ready({0: 9, 1: 4}) == [other]
    assert gate.ready({0: None, 1: 4}) == []  # where 0 is, not known yet
    assert gate.ready({0: 11, 1: 4}) == [first]
    assert gate.ready({0: 12, 1: 4}) == [second]
    assert len(gate) == 0


def test_a_reporter_far_behind_keeps_its_oldest_reports_and_the_newest() -> None:
    gate = ReportGate()
    reports = [report(float(n), {}, fences={0: n}) for n in range(1, ReportGate.PER_REPORTER + 10)]
    for r in reports:
        gate.offer(r)
    assert len(gate) == ReportGate.PER_REPORTER
    assert gate.ready({0: 3}) == reports[:3]
    assert gate.ready({0: 10**6})[-1] == reports[-1]


def test_a_report_counts_a_partition_idle_if_read_to_its_end_since_its_last_batch() -> None:
    """At live rates a partition often has a fetch in flight: a report says how it was
    after the batch that last moved it, or events wait for a report that catches every
    partition at rest at once. Its own guard partition judges it as it is now."""
    progress = SourceProgress("w")
    tp = TP("email.delivery", 0)
    assert progress.state(tp, end=10, delivered=10) == (None, True)
    assert progress.state(tp, end=12, delivered=10, rested=True) == (None, True)
    assert progress.state(tp, end=12, delivered=10) == (None, False)
    progress.took(tp)  # a batch taken since: idle again once read to its end
    assert progress.state(tp, end=12, delivered=10, rested=True) == (None, False)
    progress.forget([tp])


def test_the_remote_marks_match_a_full_ranking_after_any_reports() -> None:
    """Ranking again is skipped when a report cannot change the two lowest marks: checked
    against the plain minimum over random reports."""
    import random

    rng = random.Random(7)
    sources = [f"email.{topic}/{p}" for topic in ("delivery", "bounce") for p in range(6)]
    remote = RemoteSources(timedelta(0), sources)
    state: dict[str, tuple[datetime | None, bool]] = {s: (None, False) for s in sources}
    for n in range(400):
        chosen = rng.sample(sources, rng.randint(1, 4))
        news = {s: (T0 + timedelta(minutes=rng.randint(0, 60)), rng.random() < 0.3)
                for s in chosen}  # fmt: skip
        remote.apply(report(1.0 + n, news))
        for s, (latest, idle) in news.items():
            old = state[s][0]
            state[s] = (latest if old is None or latest > old else old, idle)
        for p in range(6):
            held = [latest for s, (latest, idle) in state.items()
                    if not idle and not s.endswith(f"/{p}")]  # fmt: skip
            if any(latest is None for latest in held):
                want = datetime.min.replace(tzinfo=UTC)
            else:
                want = min(held, default=None)  # type: ignore[type-var]
            assert remote.excluding(p) == want, (n, p)
