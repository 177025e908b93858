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

A source's latest time is its :class:`Frontier`: one event stamped far ahead of its
neighbours (a producer's clock an hour fast, or a hostile stamp) moves it by at most
``Frontier.JUMP``; the next event confirms a real jump. Otherwise that one event would
stop the source from holding the watermark (events of other sources would be counted
before this source's earlier ones) and make it look far ahead of everything else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

BEGINNING = datetime.min.replace(tzinfo=UTC)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def micros(moment: datetime) -> int:
    """Microseconds since 1970 (exact; ``timestamp()`` rounds through a float)."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


class Frontier:
    """The latest event time a source has delivered, in epoch microseconds, moved by at
    most :data:`JUMP` past the event before: an event stamped far ahead moves it only
    once the next event confirms the jump. ``cap`` (the wall clock, in the worker) bounds
    every event's contribution: an event stamped in the future stands for now."""

    #: How far one event can move the frontier past its predecessor (µs).
    JUMP = 60_000_000

    __slots__ = ("_last", "latest")

    def __init__(self) -> None:
        self.latest: int | None = None
        self._last: int | None = None

    def observe(self, at: int, cap: int | None = None) -> None:
        if cap is not None and at > cap:
            at = cap
        last, self._last = self._last, at
        if last is None:
            if self.latest is None:
                return  # a first event alone is not trusted; the next confirms it
            last = self.latest
        if at > last + self.JUMP:
            at = last + self.JUMP
        if self.latest is None or at > self.latest:
            self.latest = at


@dataclass
class _Source:
    latest: datetime | None = None
    idle: bool = False
    frontier: Frontier | None = None


class Watermarks:
    def __init__(self, allowance: timedelta) -> None:
        self.allowance = allowance
        self._sources: dict[str, _Source] = {}

    def expect(self, source: str) -> None:
        """A source exists: until it reports, it holds the watermark back."""
        self._sources.setdefault(source, _Source())

    def knows(self, source: str) -> bool:
        return source in self._sources

    def observe(self, source: str, occurred_at: datetime) -> None:
        """The source delivered an event (it is therefore not idle)."""
        found = self._sources.setdefault(source, _Source())
        frontier = found.frontier
        if frontier is None:
            frontier = found.frontier = Frontier()
            if found.latest is not None:
                frontier.latest = micros(found.latest)
        frontier.observe(micros(occurred_at))
        if frontier.latest is not None:
            latest = from_micros(frontier.latest)
            if found.latest is None or latest > found.latest:
                found.latest = latest
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
