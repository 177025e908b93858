"""The time window of a replay from the input topics: ``--since`` and ``--until``.

The window selects events by ``occurred_at``, the time the policy counts in (its months,
its rates, the file replay's clock): ``since <= occurred_at < until``. An operator who
backtests November gets exactly November's events, however late the broker received some
of them, and the result equals a file replay of those events.

The broker can only seek by a record's *timestamp* (set by the producer, or the broker's
append time). A producer publishes an event after it happened, so a record is stamped
no earlier than its ``occurred_at``, give or take the clock skew the parser tolerates
(:data:`schemas.parse.FUTURE_TOLERANCE`). So each partition is read from its first
record stamped at or after ``since`` minus that skew: no event of the window comes
before it. The other end cannot be cut by timestamp: an event of the window may have
been published any time later (a backfill, ``sendguard simulate --kafka`` of a past
month), so every partition is read to its end.

A record whose ``occurred_at`` cannot be read (broken JSON, a timestamp without offset)
has no event time; its broker timestamp, the only time it has, decides whether it is in
the window, so the rejects of a window are those the broker received in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from schemas.parse import FUTURE_TOLERANCE

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _millis(moment: datetime) -> int:
    """Milliseconds since 1970, as Kafka stamps records."""
    return (moment - _EPOCH) // timedelta(milliseconds=1)


@dataclass(frozen=True)
class TimeWindow:
    """``since <= time < until``; either end open when ``None``. Times are timezone-aware."""

    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        for moment in (self.since, self.until):
            if moment is not None and moment.tzinfo is None:
                raise ValueError("window times must be timezone-aware")
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ValueError("since must be before until")

    @property
    def whole(self) -> bool:
        """No bound: everything is in the window."""
        return self.since is None and self.until is None

    def holds(self, moment: datetime) -> bool:
        return (self.since is None or moment >= self.since) and (
            self.until is None or moment < self.until
        )

    def holds_stamp(self, millis: int) -> bool:
        """Whether a broker timestamp (ms since 1970) is in the window."""
        return (self.since is None or millis >= _millis(self.since)) and (
            self.until is None or millis < _millis(self.until)
        )

    def seek_millis(self) -> int | None:
        """The broker timestamp to seek each input partition to (None: its beginning)."""
        if self.since is None:
            return None
        return max(_millis(self.since - FUTURE_TOLERANCE), 0)

    def describe(self) -> str:
        """``occurred_at in [since, until)`` in UTC (an open end left blank)."""

        def show(moment: datetime | None) -> str:
            if moment is None:
                return ""
            return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")

        return f"occurred_at in [{show(self.since)}, {show(self.until)})"
