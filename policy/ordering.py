"""The event-time watermark: the time before which no more events are expected.

Each *source* (an input topic partition in the worker, an input topic in a replayed file)
reports the latest event time it has delivered. The watermark is the minimum over sources
that still have events to deliver of (latest time - allowance); a source known to exist
but not heard from yet holds it at the beginning of time; a source with nothing left to
deliver (caught up, or exhausted) does not hold it back. When no source holds it back the
watermark is ``None``: count everything at once.

``allowance`` absorbs small disorder inside one source (MTAs publish roughly, not
strictly, in time order). An event older than the watermark when it arrives is late and
is counted on arrival.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

BEGINNING = datetime.min.replace(tzinfo=UTC)


@dataclass
class _Source:
    latest: datetime | None = None
    idle: bool = False


class Watermarks:
    def __init__(self, allowance: timedelta) -> None:
        self.allowance = allowance
        self._sources: dict[str, _Source] = {}

    def expect(self, source: str) -> None:
        """A source exists: until it reports, it holds the watermark back."""
        self._sources.setdefault(source, _Source())

    def observe(self, source: str, occurred_at: datetime) -> None:
        """The source delivered an event (it is therefore not idle)."""
        found = self._sources.setdefault(source, _Source())
        if found.latest is None or occurred_at > found.latest:
            found.latest = occurred_at
        found.idle = False

    def report(self, source: str, latest: datetime | None, idle: bool) -> None:
        """A progress report of a source, from whoever consumes it."""
        found = self._sources.setdefault(source, _Source())
        if latest is not None and (found.latest is None or latest > found.latest):
            found.latest = latest
        found.idle = idle

    def finish(self, source: str) -> None:
        """The source has nothing left to deliver."""
        self._sources.setdefault(source, _Source()).idle = True

    def current(self) -> datetime | None:
        low: datetime | None = None
        for source in self._sources.values():
            if source.idle:
                continue
            if source.latest is None:
                return BEGINNING
            mark = (
                source.latest - self.allowance
                if source.latest > BEGINNING + self.allowance
                else BEGINNING
            )
            if low is None or mark < low:
                low = mark
        return low

    def holding(self) -> str | None:
        """The source the watermark waits for (None when nothing holds it back)."""
        found: tuple[datetime, str] | None = None
        for name, source in self._sources.items():
            if source.idle:
                continue
            if source.latest is None:
                return name
            if found is None or source.latest < found[0]:
                found = (source.latest, name)
        return None if found is None else found[1]

    def sources(self) -> dict[str, tuple[datetime | None, bool]]:
        return {name: (s.latest, s.idle) for name, s in self._sources.items()}
