"""How far this worker has read each input partition: the raw material of the watermark.

For each input partition the guard keeps the latest event time it has read there (its
``policy.ordering.Frontier``). A partition the consumer has read to its end, with
everything it fetched delivered to the guard, is *idle*: caught up, holding nothing back.

Guard partition ``p`` learns directly how far the input partitions numbered ``p`` are
(the same worker reads them). Every other input partition may forward events to ``p``
(``streams.partitioning``), so their progress reaches ``p`` as a :class:`ProgressReport` sent
to ``sendguard.events`` *after* the events it covers; partition ``p`` therefore sees a
report only once it has seen everything the report vouches for.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import msgspec

from policy.ordering import Frontier
from schemas import fields as f
from schemas.errors import InvalidEvent

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: source ("topic/partition") -> (latest event time in epoch µs or None, idle)
Sources = dict[str, tuple[int | None, bool]]
#: At most this many sources in one report: about 250 kB at the longest topic names,
#: within the budget of one record (``schemas.limits.MAX_RECORD_BYTES``).
SOURCES_PER_REPORT = 2000


class ProgressReport(msgspec.Struct, frozen=True, kw_only=True):
    reporter: str
    reported_at: float
    sources: Sources


def to_micros(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int) -> datetime:
    return datetime.fromtimestamp(micros / 1_000_000, UTC)


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
    if not (math.isfinite(report.reported_at) and report.reported_at >= 0):
        raise InvalidEvent(f"reported_at: not a time ({report.reported_at})")

    for source, (latest, _idle) in report.sources.items():
        if _SOURCE.fullmatch(source) is None or source_partition(source) > _MAX_PARTITION:
            raise InvalidEvent(f"sources: not a topic/partition: {f.show(source)}")
        if latest is not None and not EARLIEST_MICROS <= latest <= LATEST_MICROS:
            raise InvalidEvent(f"sources: {source}: latest event time out of range ({latest})")
    return report


class SourceProgress:
    """Progress of the input partitions this worker reads."""

    def __init__(self, reporter: str) -> None:
        self.reporter = reporter
        self.frontiers: dict[Any, Frontier] = {}
        self._last_sent: Sources = {}
        self._last_sent_at = 0.0

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
        self, tp: Any, end: int | None, delivered: int | None
    ) -> tuple[int | None, bool]:
        """(latest event time, idle) of one partition: idle once the consumer's position,
        with everything it yielded taken (``delivered``), has reached the partition's end
        (past any transaction markers, which a last offset read would never reach)."""
        idle = end is not None and delivered is not None and delivered >= end
        return self.latest(tp), idle

    def snapshot(
        self, assigned: Iterable[Any], positions: Callable[[Any], tuple[int | None, int | None]]
    ) -> Sources:
        return {
            source_name(tp.topic, tp.partition): self.state(tp, *positions(tp))
            for tp in assigned
        }

    def report_if_due(self, sources: Sources, heartbeat_s: float = 30.0) -> list[ProgressReport]:
        """Reports if anything changed since the last ones, and as a heartbeat: one per
        :data:`SOURCES_PER_REPORT` sources, so that each stays a small record."""
        now = time.time()
        if sources == self._last_sent and now - self._last_sent_at < heartbeat_s:
            return []
        self._last_sent, self._last_sent_at = sources, now
        names = list(sources)
        chunks = [names[i:i + SOURCES_PER_REPORT]
                  for i in range(0, len(names), SOURCES_PER_REPORT)]  # fmt: skip
        return [
            ProgressReport(reporter=self.reporter, reported_at=now,
                           sources={name: sources[name] for name in chunk})
            for chunk in chunks
        ]  # fmt: skip

    def resend(self) -> None:
        """Report again at the next chance (after a rebalance: new owners know nothing)."""
        self._last_sent = {}

    def forget(self, tps: Iterable[Any]) -> None:
        """Partitions revoked: another worker reads (and reports) them now."""
        for tp in tps:
            self.frontiers.pop(tp, None)
