"""How far this worker has read each input partition: the raw material of the watermark.

After each batch of an input partition the guard records the next offset it will read
and the latest event time it has read there. A partition whose next offset has reached
the end of its log (the high-water mark) is *idle*: caught up, holding nothing back.

Guard partition ``p`` learns directly how far the input partitions numbered ``p`` are
(the same worker reads them). Every other input partition may forward events to ``p``
(``streams.partitioning``), so their progress reaches ``p`` as a :class:`ProgressReport` sent
to ``sendguard.events`` *after* the events it covers; partition ``p`` therefore sees a
report only once it has seen everything the report vouches for.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import msgspec

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: source ("topic/partition") -> (latest event time in epoch µs or None, idle)
Sources = dict[str, tuple[int | None, bool]]


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


class SourceProgress:
    """Progress of the input partitions this worker reads."""

    def __init__(self, reporter: str) -> None:
        self.reporter = reporter
        self.next_offset: dict[Any, int] = {}
        self.latest: dict[Any, int] = {}
        self._last_sent: Sources = {}
        self._last_sent_at = 0.0

    def read(self, tp: Any, last_offset: int, latest_micros: int | None) -> None:
        self.next_offset[tp] = last_offset + 1
        if latest_micros is not None and latest_micros > self.latest.get(tp, -1):
            self.latest[tp] = latest_micros

    def state(
        self, tp: Any, highwater: int | None, committed: int | None
    ) -> tuple[int | None, bool]:
        """(latest event time, idle) of one partition; ``committed`` stands in for the next
        offset until this worker has read anything there."""
        start = self.next_offset.get(tp, committed)
        idle = highwater is not None and start is not None and start >= highwater
        return self.latest.get(tp), idle

    def snapshot(
        self,
        assigned: Iterable[Any],
        highwater: Callable[[Any], int | None],
        committed: Callable[[Any], int | None],
    ) -> Sources:
        return {
            source_name(tp.topic, tp.partition): self.state(tp, highwater(tp), committed(tp))
            for tp in assigned
        }

    def report_if_due(self, sources: Sources, heartbeat_s: float = 30.0) -> ProgressReport | None:
        """A report if anything changed since the last one, and as a heartbeat."""
        now = time.time()
        if sources == self._last_sent and now - self._last_sent_at < heartbeat_s:
            return None
        self._last_sent, self._last_sent_at = sources, now
        return ProgressReport(reporter=self.reporter, reported_at=now, sources=sources)

    def resend(self) -> None:
        """Report again at the next chance (after a rebalance: new owners know nothing)."""
        self._last_sent = {}

    def forget(self, tps: Iterable[Any]) -> None:
        """Partitions revoked: another worker reads (and reports) them now."""
        for tp in tps:
            self.next_offset.pop(tp, None)
            self.latest.pop(tp, None)
