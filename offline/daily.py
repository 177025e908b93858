"""Daily counters per account-channel, collected during the replay's single pass.

The report charts month-to-date rates day by day for suspended accounts, but which
accounts end up suspended is only known at the end. Four integers per account-channel
per day are cheap, so every account is counted and the few interesting ones are read
back at the end: memory grows with accounts and days, never with events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from schemas.types import Event

_SENT, _HARD, _SPAM, _UNSUB = range(4)


@dataclass(frozen=True)
class DayPoint:
    """Month-to-date totals at the end of ``day`` (they restart on the 1st)."""

    day: date
    sent: int
    hard_bounces: int
    spam_reports: int
    unsubscribes: int

    def rate(self, signal: str) -> float | None:
        count = getattr(self, signal)
        return count / self.sent if self.sent else None


class DailyCounts:
    def __init__(self) -> None:
        self._days: dict[tuple[str, str], dict[int, list[int]]] = {}

    def add(self, event: Event) -> None:
        kind = event.kind
        if kind == "delivery":
            slot = _SENT
        elif kind == "bounce" and event.bounce_type == "hard":
            slot = _HARD
        elif kind == "spam_report":
            slot = _SPAM
        elif kind == "unsubscribe":
            slot = _UNSUB
        else:
            return
        per_day = self._days.setdefault((event.account_id, event.channel), {})
        day = event.occurred_at.toordinal()
        row = per_day.get(day)
        if row is None:
            row = per_day[day] = [0, 0, 0, 0]
        row[slot] += 1

    def series(self, account_id: str, channel: str) -> list[DayPoint]:
        """Every day from the first to the last counted one, month-to-date cumulative."""
        per_day = self._days.get((account_id, channel))
        if not per_day:
            return []
        points: list[DayPoint] = []
        totals = [0, 0, 0, 0]
        month: tuple[int, int] | None = None
        for ordinal in range(min(per_day), max(per_day) + 1):
            day = date.fromordinal(ordinal)
            if (day.year, day.month) != month:
                month, totals = (day.year, day.month), [0, 0, 0, 0]
            for slot, count in enumerate(per_day.get(ordinal, (0, 0, 0, 0))):
                totals[slot] += count
            points.append(DayPoint(day, *totals))
        return points
