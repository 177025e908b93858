"""What a replay reads: numbered *entries*, from a JSON-lines file or from the input topics.

A replay makes two passes over its input (:mod:`offline.scan`, then
:mod:`offline.driver`), so an input is something that can hand out the same entries, in
the same order, twice. Two inputs exist: :class:`FileInput` here, and
:class:`offline.kafka_input.KafkaInput`. They differ only in *framing*: a file line names
its topic in a ``topic`` field, a Kafka record is on its topic. Validation is the same
code for both (``schemas.parse``), so an event is accepted or rejected, for the same
reason, whichever way it came.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from msgspec import UNSET

from offline.head import head
from offline.progress import Progress, Unit
from schemas.parse import parse_event_line
from schemas.types import Event


class Entry(NamedTuple):
    """One line of a file, or one record of an input topic."""

    number: int
    """Its place in the input, from 1 (a file's line number)."""
    topic: Any
    """The input topic: a record's, or a line's ``topic`` field as decoded (anything)."""
    occurred_at: Any
    """Its ``occurred_at`` field as decoded (``UNSET`` when it cannot be read); pass 1
    places the entry in time with it."""
    raw: bytes | None
    """The line, or the record's value (``None``: a tombstone)."""
    key: bytes | None = None
    """The record's key (a tombstone on ``accounts`` names its account by it)."""
    origin: tuple[int, int] | None = None
    """The record's (partition, offset); ``None`` for a file line."""


class ReplayInput(Protocol):
    """The entries of a replay's input, as many times as asked, always the same."""

    @property
    def name(self) -> str:
        """What the summary and the report call the input."""

    @property
    def unit(self) -> Unit:
        """What the progress bar counts."""

    @property
    def total(self) -> int:
        """How much :meth:`entries` reads, in ``unit`` (the progress bar's 100 %)."""

    def entries(self, bar: Progress | None = None) -> Iterator[Entry]:
        """Every entry in order; ``bar`` (if given) is updated with the amount read."""

    def parse_event(
        self, entry: Entry, *, now: datetime, late_grace_days: int, late_reference: datetime
    ) -> Event:
        """The event of an entry of an ``email.*`` topic; raises ``InvalidEvent``."""

    def where(self, entry: Entry) -> str:
        """Where the entry is, for a person (``line 12``, ``email.bounce[2]@1234``)."""

    def notes(self) -> list[str]:
        """Lines for the summary about what was read (after the passes)."""


class FileInput:
    """A JSON-lines file: one input event, or ``accounts`` record, plus its ``topic`` a line."""

    unit: Unit = "bytes"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __enter__(self) -> FileInput:
        """Nothing to open (each pass opens the file); the same use as ``KafkaInput``."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    @property
    def name(self) -> str:
        return str(self.path)

    @property
    def total(self) -> int:
        return self.path.stat().st_size

    def entries(self, bar: Progress | None = None) -> Iterator[Entry]:
        """Numbered lines (from 1) without their line end; blank ones skipped: they are not
        events."""
        done = 0
        with self.path.open("rb") as fh:
            for number, line in enumerate(fh, 1):
                done += len(line)
                if bar is not None and number % 4096 == 0:
                    bar.update(done)
                if not line.strip():
                    continue
                # The line without its end: the message itself, as Kafka would carry it
                # (a broken line then gets the reason the worker would give it).
                line = line.rstrip(b"\r\n")
                wire = head(line)
                if wire is None:
                    yield Entry(number, None, UNSET, line)
                else:
                    yield Entry(number, wire.topic, wire.occurred_at, line)

    def parse_event(
        self, entry: Entry, *, now: datetime, late_grace_days: int, late_reference: datetime
    ) -> Event:
        assert entry.raw is not None  # a line is never a tombstone
        return parse_event_line(
            entry.raw, now=now, late_grace_days=late_grace_days, late_reference=late_reference
        )

    def where(self, entry: Entry) -> str:
        return f"line {entry.number}"

    def notes(self) -> list[str]:
        return []
