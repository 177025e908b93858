"""Event-time order as one partition of the guard sees it: its watermark.

Partition ``p`` of the guard expects every input partition as a source: any of them may
forward events to it. The ones numbered ``p`` it reads itself and updates directly
(:class:`PartitionClock`); the others it learns from the progress reports every worker
publishes on ``sendguard.progress`` (``agents.progress``). Those are the same for every
guard partition of a worker, so the worker keeps them once (:class:`RemoteSources`), with
the lowest mark of each partition number: a watermark costs the same at 4 partitions as
at 1,024. The watermark is the lowest mark of the partition's own sources and of every
other partition number's: the guard counts an event once it is at or before the
watermark, and holds it until then.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime, timedelta

from agents.progress import ProgressReport, from_micros, source_partition
from policy.ordering import Watermarks

#: A partition's mark: the time before which its sources send nothing more (BEGINNING
#: while one is unheard of), or None when none of them holds the watermark back.
Mark = datetime | None


def lower(a: Mark, b: Mark) -> Mark:
    """The lower of two marks (None holds nothing back)."""
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


class RemoteSources:
    """Every input partition, as the progress reports tell it, kept once per worker."""

    def __init__(self, allowance: timedelta, sources: Iterable[str]) -> None:
        self.allowance = allowance
        #: partition number -> the watermark over that number's sources
        self._by_partition: dict[int, Watermarks] = {}
        for source in sources:
            marks = self._by_partition.setdefault(source_partition(source), Watermarks(allowance))
            marks.expect(source)
        #: when each source was last reported: a stale report (an old owner's) loses.
        self._reported_at: dict[str, float] = {}
        self._marks: dict[int, Mark] = {p: m.current() for p, m in self._by_partition.items()}
        self._lowest: list[tuple[datetime, int]] = []
        self._rank()

    def knows(self, source: str) -> bool:
        marks = self._by_partition.get(source_partition(source))
        return marks is not None and marks.knows(source)

    def apply(self, report: ProgressReport) -> None:
        # Stamped in the future (a forged report, or a clock far ahead), it would win over
        # every later report of the source: it counts as made now.
        reported_at = min(report.reported_at, time.time())
        touched = set()
        for source, (latest, idle) in report.sources.items():
            if not self.knows(source) or reported_at < self._reported_at.get(source, 0.0):
                continue  # no input of this guard (a forged name), or older news
            self._reported_at[source] = reported_at
            partition = source_partition(source)
            self._by_partition[partition].report(
                source, from_micros(latest) if latest is not None else None, idle
            )
            touched.add(partition)
        for partition in touched:
            self._marks[partition] = self._by_partition[partition].current()
        if any(self._moves_lowest(partition) for partition in touched):
            self._rank()

    def _moves_lowest(self, partition: int) -> bool:
        """Whether a partition's new mark can change the two lowest: it is one of them,
        or lower than the second. Otherwise ranking again is skipped: with many workers a
        report rarely touches them, and ranking walks every partition."""
        lowest = self._lowest
        mark = self._marks[partition]
        if any(p == partition for _, p in lowest):
            return True
        return mark is not None and (len(lowest) < 2 or mark < lowest[-1][0])

    def _rank(self) -> None:
        """The two lowest partition marks: the lowest other than any one partition's."""
        held = sorted((mark, p) for p, mark in self._marks.items() if mark is not None)
        self._lowest = held[:2]

    def excluding(self, partition: int) -> Mark:
        """The lowest mark of every partition number but ``partition`` (read directly)."""
        for mark, p in self._lowest:
            if p != partition:
                return mark
        return None

    def holding(self, partition: int) -> str | None:
        """The source that holds ``excluding(partition)`` (diagnostics)."""
        for _, p in self._lowest:
            if p != partition:
                return self._by_partition[p].holding()
        return None


class PartitionClock:
    def __init__(
        self, partition: int, allowance: timedelta, sources: Iterable[str], remote: RemoteSources
    ) -> None:
        """``sources``: the partition's own (read here directly)."""
        self.partition = partition
        self.marks = Watermarks(allowance)
        for source in sources:
            self.marks.expect(source)
        self.remote = remote

    def direct(self, source: str, latest_micros: int | None, idle: bool) -> None:
        """Progress of a source this partition reads itself."""
        latest = from_micros(latest_micros) if latest_micros is not None else None
        self.marks.report(source, latest, idle)

    def watermark(self) -> datetime | None:
        return lower(self.marks.current(), self.remote.excluding(self.partition))

    def holding(self) -> str | None:
        """The source the watermark waits for (diagnostics)."""
        own, remote = self.marks.current(), self.remote.excluding(self.partition)
        if own is not None and (remote is None or own <= remote):
            return self.marks.holding()
        return self.remote.holding(self.partition)
