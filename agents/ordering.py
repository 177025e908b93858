"""The guard's side of event-time order: one watermark and one held-accounts heap per
partition of ``sendguard.events``.

Each guard partition learns the input partitions' progress from the reports ingest puts
on it (``agents.progress``) and keeps the accounts that hold events in a heap by their
earliest held time, so a watermark step releases exactly the accounts that are due. The
heap is in memory; the ``held-accounts`` table lets it be rebuilt after a restart or a
rebalance.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from agents.progress import ProgressReport, from_micros, source_name
from policy.ordering import Watermarks


@dataclass
class PartitionOrder:
    marks: Watermarks
    heap: list[tuple[datetime, str]] = field(default_factory=list)
    held: set[str] = field(default_factory=set)
    #: when each reporter last spoke about each source: a stale report loses.
    reported_at: dict[str, float] = field(default_factory=dict)

    def apply_report(self, report: ProgressReport) -> None:
        for source, (latest, idle) in report.sources.items():
            if report.reported_at < self.reported_at.get(source, 0.0):
                continue
            self.reported_at[source] = report.reported_at
            self.marks.report(source, from_micros(latest) if latest is not None else None, idle)

    def track(self, account_id: str, earliest: datetime | None) -> None:
        """Remember where an account stands after a step."""
        if earliest is None:
            self.held.discard(account_id)
            return
        self.held.add(account_id)
        heapq.heappush(self.heap, (earliest, account_id))

    def due(self, watermark: datetime | None) -> list[str]:
        """Accounts whose earliest held event the watermark has passed (each once)."""
        found: list[str] = []
        while self.heap and (watermark is None or self.heap[0][0] <= watermark):
            _, account_id = heapq.heappop(self.heap)
            if account_id in self.held and account_id not in found:
                found.append(account_id)
        return found


class Ordering:
    def __init__(self, allowance: timedelta, expected_sources: Callable[[], Iterable[str]]):
        self.allowance = allowance
        self.expected_sources = expected_sources
        self.partitions: dict[int, PartitionOrder] = {}

    def get(self, partition: int) -> PartitionOrder | None:
        return self.partitions.get(partition)

    def create(self, partition: int) -> PartitionOrder:
        marks = Watermarks(self.allowance)
        for source in self.expected_sources():
            marks.expect(source)
        order = self.partitions[partition] = PartitionOrder(marks)
        return order

    def forget(self, partitions: Iterable[int]) -> None:
        for partition in partitions:
            self.partitions.pop(partition, None)


def expected_sources(input_partitions: dict[str, int], input_topics: Iterable[str]) -> list[str]:
    return [
        source_name(topic, p)
        for topic in input_topics
        for p in range(input_partitions.get(topic, 0))
    ]
