"""How far this worker has read each input partition: the raw material of the watermark.

For each input partition the guard keeps the latest event time it has read there (its
``policy.ordering.Frontier``). A partition the consumer has read to its end, with
everything it fetched delivered to the guard, is *idle*: caught up, holding nothing back.

Guard partition ``p`` learns directly how far the input partitions numbered ``p`` are
(the same worker reads them). Every other input partition may forward events to ``p``
(``streams.partitioning``), so their progress reaches ``p`` as a :class:`ProgressReport`.
Each worker publishes one every :data:`REPORT_INTERVAL_S` at most, while its progress
changes (and as a heartbeat), on the single partition of ``sendguard.progress``, which
every worker reads: the control traffic is a few records a second per worker, whatever
the partition count (Flink's periodic watermarks work so).

A report vouches for events that may still be on their way to ``p``: the ones its worker
forwarded. So it carries *fences*: for each guard partition, the offset of
``sendguard.events`` below which everything it vouches for was forwarded (the end of the
worker's own acknowledged forwards, and at least the topic's end when the worker was
last assigned its partitions, which covers what their previous owner forwarded). A
worker applies a report only once every guard partition it owns has read that far
(:class:`ReportGate`); a partition assigned later waits for the fences already applied
(``agents.ingest``). That is the order the reports had when they were written to
``sendguard.events`` itself, after the events they cover, without a record per partition.
"""

from __future__ import annotations

import math
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import msgspec

from policy.ordering import Frontier, micros
from schemas import fields as f
from schemas.errors import InvalidEvent

#: source ("topic/partition") -> (latest event time in epoch µs or None, idle)
Sources = dict[str, tuple[int | None, bool]]
#: guard partition -> offset of ``sendguard.events`` it must have read to
Fences = dict[int, int]
#: At most this many sources in one report: about 250 kB at the longest topic names,
#: within the budget of one record (``schemas.limits.MAX_RECORD_BYTES``).
SOURCES_PER_REPORT = 2000
#: A worker reports at most this often (Flink's default watermark interval), ...
REPORT_INTERVAL_S = 0.2
#: ... and at least this often while nothing changes, so that a worker that starts
#: reading ``sendguard.progress`` this far back hears of every source.
HEARTBEAT_S = 5.0


class ProgressReport(msgspec.Struct, frozen=True, kw_only=True):
    reporter: str
    reported_at: float
    sources: Sources
    fences: Fences = msgspec.field(default_factory=dict)
    #: the reporter's consumer group (app id): deployments that share the topics (a
    #: topic prefix) do not count each other's reports
    group: str = ""


#: Microseconds since 1970 (``policy.ordering``'s, compiled with it).
to_micros = micros


def from_micros(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1_000_000, UTC)


def source_name(topic: str, partition: int) -> str:
    return f"{topic}/{partition}"


def source_partition(source: str) -> int:
    return int(source.rpartition("/")[2])


#: A source's name: a Kafka topic name (at most 249 of these characters), "/", and a
#: partition number (Kafka's are below 2**31).
_SOURCE = re.compile(r"[A-Za-z0-9._-]{1,249}/(?:0|[1-9][0-9]{0,9})")
_MAX_PARTITION = 2**31 - 1
#: The event times a report may carry: 1970 to the start of year 9999, so that
#: ``from_micros`` and the watermark's arithmetic on them (minus the reorder allowance,
#: plus the guard's look-ahead) stay inside ``datetime``'s range.
EARLIEST_MICROS = 0
LATEST_MICROS = to_micros(datetime(9999, 1, 1, tzinfo=UTC))


def check_report(report: ProgressReport) -> ProgressReport:
    """A report read from ``sendguard.events``, held to what :class:`SourceProgress`
    writes, so that applying it (``agents.ordering``) cannot fail: anyone can produce to
    that topic. Raises ``InvalidEvent``."""
    f.ident("reporter", report.reporter)
    if report.group:
        f.ident("group", report.group)
    if not (math.isfinite(report.reported_at) and report.reported_at >= 0):
        raise InvalidEvent(f"reported_at: not a time ({report.reported_at})")

    for source, (latest, _idle) in report.sources.items():
        if _SOURCE.fullmatch(source) is None or source_partition(source) > _MAX_PARTITION:
            raise InvalidEvent(f"sources: not a topic/partition: {f.show(source)}")
        if latest is not None and not EARLIEST_MICROS <= latest <= LATEST_MICROS:
            raise InvalidEvent(f"sources: {source}: latest event time out of range ({latest})")
    for partition, offset in report.fences.items():
        if not (0 <= partition <= _MAX_PARTITION and 0 <= offset < 2**63):
            raise InvalidEvent(f"fences: not a partition and an offset: {partition}: {offset}")
    return report


class SourceProgress:
    """Progress of the input partitions this worker reads."""

    def __init__(self, reporter: str, group: str = "") -> None:
        self.reporter = reporter
        self.group = group
        self.frontiers: dict[Any, Frontier] = {}
        self._last_sent: tuple[Sources, Fences] = ({}, {})
        self._last_sent_at = 0.0
        #: partitions seen read to their end since their last batch was taken
        self._rested: set[Any] = set()

    def frontier(self, tp: Any) -> Frontier:
        """The latest event time read from ``tp`` (``policy.ordering.Frontier``)."""
        found = self.frontiers.get(tp)
        if found is None:
            found = self.frontiers[tp] = Frontier()
        return found

    def latest(self, tp: Any) -> int | None:
        found = self.frontiers.get(tp)
        return None if found is None else found.latest

    def state(
        self, tp: Any, end: int | None, delivered: int | None, rested: bool = False
    ) -> tuple[int | None, bool]:
        """(latest event time, idle) of one partition: idle once the consumer's position,
        with everything it yielded taken (``delivered``), has reached the partition's end
        (past any transaction markers, which a last offset read would never reach).

        With ``rested`` (a report), also once seen so since its last batch: the report
        says how the partition was after the batch that last moved it. At live rates a
        partition often has a fetch in flight, and a report that needed every partition
        at rest at one instant would hold events for seconds (measured, at one report
        every 0.2 s). The guard partition's own sources are judged as they are now."""
        idle = end is not None and delivered is not None and delivered >= end
        if idle:
            self._rested.add(tp)
        return self.latest(tp), idle or (rested and tp in self._rested)

    def snapshot(
        self, assigned: Iterable[Any], positions: Callable[[Any], tuple[int | None, int | None]]
    ) -> Sources:
        return {
            source_name(tp.topic, tp.partition): self.state(tp, *positions(tp), rested=True)
            for tp in assigned
        }

    def due(self) -> bool:
        """Whether a report may go now (:data:`REPORT_INTERVAL_S` since the last)."""
        return time.time() - self._last_sent_at >= REPORT_INTERVAL_S

    def took(self, tp: Any) -> None:
        """A batch of ``tp`` was taken: it is idle again only once seen read to its end."""
        self._rested.discard(tp)

    def report_if_due(
        self, sources: Sources, fences: Fences | None = None, heartbeat_s: float = HEARTBEAT_S
    ) -> list[ProgressReport]:
        """Reports if anything changed since the last ones, and as a heartbeat: one per
        :data:`SOURCES_PER_REPORT` sources, so that each stays a small record."""
        now = time.time()
        fences = fences or {}
        if (sources, fences) == self._last_sent and now - self._last_sent_at < heartbeat_s:
            return []
        self._last_sent, self._last_sent_at = (sources, fences), now
        names = list(sources)
        chunks = [names[i:i + SOURCES_PER_REPORT]
                  for i in range(0, len(names), SOURCES_PER_REPORT)]  # fmt: skip
        return [
            ProgressReport(reporter=self.reporter, reported_at=now, group=self.group,
                           sources={name: sources[name] for name in chunk}, fences=fences)
            for chunk in chunks
        ]  # fmt: skip

    def resend(self) -> None:
        """Report again at the next chance (after a rebalance: new owners know nothing)."""
        self._last_sent = ({}, {})

    def forget(self, tps: Iterable[Any]) -> None:
        """Partitions revoked: another worker reads (and reports) them now."""
        for tp in tps:
            self.frontiers.pop(tp, None)
            self._rested.discard(tp)


class ReportGate:
    """Reports wait here, in order per reporter, until every guard partition this worker
    owns has read ``sendguard.events`` up to the report's fence for it."""

    #: Reports waiting per reporter at most: past it the newest replaces the last one
    #: waiting, so the oldest (with the lowest fences) still go in order.
    PER_REPORTER = 64
    #: Reporters waiting at most: anyone can write to the topic.
    REPORTERS = 1024

    def __init__(self) -> None:
        self._waiting: dict[str, deque[ProgressReport]] = {}

    def __len__(self) -> int:
        return sum(map(len, self._waiting.values()))

    def offer(self, report: ProgressReport) -> bool:
        """Queue a report; False if it was refused (too many reporters)."""
        waiting = self._waiting.get(report.reporter)
        if waiting is None:
            if len(self._waiting) >= self.REPORTERS:
                return False
            waiting = self._waiting[report.reporter] = deque()
        if len(waiting) >= self.PER_REPORTER:
            waiting[-1] = report
        else:
            waiting.append(report)
        return True

    def ready(self, read_to: Mapping[int, int | None]) -> list[ProgressReport]:
        """The reports whose fences the guard partitions (``read_to``: each owned one, and
        the offset of ``sendguard.events`` it has read to, None if not known yet) have
        passed, taken out in order."""
        found: list[ProgressReport] = []
        for reporter, waiting in list(self._waiting.items()):
            while waiting and passed(waiting[0].fences, read_to):
                found.append(waiting.popleft())
            if not waiting:
                del self._waiting[reporter]
        return found


def passed(fences: Fences, read_to: Mapping[int, int | None]) -> bool:
    for partition, read in read_to.items():
        fence = fences.get(partition, 0)
        if fence and (read is None or read < fence):
            return False
    return True
