"""Event-time order as one partition of the guard sees it: its watermark.

Partition ``p`` of the guard expects every input partition as a source. The ones
numbered ``p`` it reads itself and updates directly; the others it learns from the
progress reports on ``sendguard.events`` partition ``p`` (``agents.progress``). The
watermark is ``policy.ordering.Watermarks`` over all of them: the guard counts an event
once it is at or before the watermark, and holds it until then.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime, timedelta

from agents.progress import ProgressReport, from_micros, source_partition
from policy.ordering import Watermarks


class PartitionClock:
    def __init__(self, partition: int, allowance: timedelta, sources: Iterable[str]) -> None:
        self.partition = partition
        self.marks = Watermarks(allowance)
        for source in sources:
            self.marks.expect(source)
        #: when each source was last reported: a stale report (an old owner's) loses.
        self._reported_at: dict[str, float] = {}

    def direct(self, source: str, latest_micros: int | None, idle: bool) -> None:
        """Progress of a source this partition reads itself."""
        latest = from_micros(latest_micros) if latest_micros is not None else None
        self.marks.report(source, latest, idle)

    def apply_report(self, report: ProgressReport) -> None:
        for source, (latest, idle) in report.sources.items():
            if source_partition(source) == self.partition or not self.marks.knows(source):
                continue  # read directly here; or no input of this guard (a forged name)
            # Stamped in the future (a forged report, or a clock far ahead), it would win
            # over every later report of the source: it counts as made now.
            reported_at = min(report.reported_at, time.time())
            if reported_at < self._reported_at.get(source, 0.0):
                continue
            self._reported_at[source] = reported_at
            self.marks.report(source, from_micros(latest) if latest is not None else None, idle)

    def watermark(self) -> datetime | None:
        return self.marks.current()
