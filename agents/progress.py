"""How far ingest has got in each input partition: the raw material of the watermark.

Ingest records, per input partition, the next offset it will forward and the latest event
time it forwarded. A timer turns that into a :class:`ProgressReport` and sends it to every
partition of ``sendguard.events``; because it is sent after the events it covers, each
guard partition sees the report only after those events. A partition whose next offset
has reached the end of the log (its high-water mark) is *idle*: caught up, holding nothing
back.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import msgspec

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ProgressReport(msgspec.Struct, frozen=True, kw_only=True):
    reporter: str
    reported_at: float
    #: source ("topic/partition") -> [latest event time in epoch µs or None, idle]
    sources: dict[str, tuple[int | None, bool]]


def to_micros(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int) -> datetime:
    return datetime.fromtimestamp(micros / 1_000_000, UTC)


def source_name(topic: str, partition: int) -> str:
    return f"{topic}/{partition}"


class SourceProgress:
    def __init__(self, reporter: str) -> None:
        self.reporter = reporter
        self.next_offset: dict[Any, int] = {}
        self.latest: dict[Any, int] = {}
        self._last_sent: dict[str, tuple[int | None, bool]] = {}
        self._last_sent_at = 0.0

    def forwarded(self, tp: Any, offset: int, occurred_at: datetime | None) -> None:
        self.next_offset[tp] = offset + 1
        if occurred_at is not None:
            micros = to_micros(occurred_at)
            if micros > self.latest.get(tp, -1):
                self.latest[tp] = micros

    def snapshot(
        self,
        assigned: Iterable[Any],
        highwater: Mapping[Any, int | None],
        committed: Mapping[Any, int | None],
    ) -> dict[str, tuple[int | None, bool]]:
        sources = {}
        for tp in assigned:
            end = highwater.get(tp)
            start = self.next_offset.get(tp, committed.get(tp) or 0)
            idle = end is not None and start >= end
            sources[source_name(tp.topic, tp.partition)] = (self.latest.get(tp), idle)
        return sources

    def report_if_due(
        self, sources: dict[str, tuple[int | None, bool]], heartbeat_s: float = 5.0
    ) -> ProgressReport | None:
        now = time.time()
        if sources == self._last_sent and now - self._last_sent_at < heartbeat_s:
            return None
        self._last_sent, self._last_sent_at = sources, now
        return ProgressReport(reporter=self.reporter, reported_at=now, sources=sources)

    def forget(self, tps: Iterable[Any]) -> None:
        """Partitions revoked: another worker reports them now."""
        for tp in tps:
            self.next_offset.pop(tp, None)
            self.latest.pop(tp, None)
