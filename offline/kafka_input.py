"""The input topics of a broker as a replay's input: ``sendguard replay --from-kafka``.

Every partition of the ``email.*`` topics, of the compacted ``accounts`` topic and of the
appeals audit trail (``sendguard.appeals``: approved appeals restore channels, as in a
file) is read by a :class:`offline.kafka_reader.KafkaReader`: no consumer group, no
committed offsets, so the workers' group is never touched. The range is fixed when the
input opens: each partition from its first record of the window (:mod:`offline.window`)
to its end offset at that moment, so both passes of the replay read the same records
even while producers keep writing.

* ``accounts`` is read whole and first (metadata is the accounts' state, not history: a
  compacted topic keeps only its latest values anyway, and the window does not apply),
  once, and kept for the second pass, so compaction between the passes cannot change it.
* The ``email.*`` and appeals partitions are merged in event-time order
  (:mod:`offline.merge`) and read again for the second pass; a partition that then
  yields another number of records (retention deleted its start meanwhile) is an error,
  not a different replay.

The records are framed as the worker frames them (the topic is the record's, a null
value is an empty message, a tombstone on ``accounts`` deletes the metadata) and
validated by the same ``schemas.parse`` code as a file's lines.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from msgspec import UNSET

from offline.errors import ReplayInputError
from offline.inputs import Entry
from offline.kafka_reader import KafkaReader
from offline.merge import EventTimeMerge, Record
from offline.progress import Progress, Unit
from offline.window import TimeWindow
from schemas.appeals import APPEALS_TOPIC
from schemas.errors import InvalidEvent
from schemas.parse import parse_event
from schemas.types import ACCOUNTS_TOPIC, TOPIC_KINDS, Event


@dataclass(frozen=True)
class _Span:
    """The offsets of one partition a replay reads: ``start`` up to, not including, ``end``."""

    topic: str
    """The contract's name (without the prefix)."""
    partition: int
    start: int
    end: int

    @property
    def size(self) -> int:
        return self.end - self.start


class KafkaInput:
    """The input topics at ``bootstrap`` (names prefixed with ``prefix``), in ``window``.

    Use it as a context manager: entering connects and fixes the offsets to read (and
    raises :class:`offline.errors.ReplayInputError` if the broker does not answer or
    holds none of the input topics); leaving disconnects.
    """

    unit: Unit = "records"

    def __init__(
        self,
        bootstrap: str,
        prefix: str = "",
        window: TimeWindow | None = None,
        *,
        timeout: float = 30.0,
    ) -> None:
        self.bootstrap = bootstrap
        self.prefix = prefix
        self.window = window or TimeWindow()
        self.missing: list[str] = []
        self.outside = 0
        self._reader = KafkaReader(bootstrap, timeout=timeout)
        self._events: list[_Span] = []
        self._accounts: list[_Span] = []
        self._account_records: list[Record] | None = None
        self._counts: dict[tuple[str, int], int] = {}

    def __enter__(self) -> KafkaInput:
        self._reader.open()
        try:
            self._plan()
        except BaseException:
            self._reader.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._reader.close()

    # -- the input protocol ---------------------------------------------------------------

    @property
    def name(self) -> str:
        topics = ", ".join(self.prefix + t for t in ("email.*", ACCOUNTS_TOPIC, APPEALS_TOPIC))
        window = "every event" if self.window.whole else self.window.describe()
        return f"kafka {self.bootstrap} ({topics}), {window}"

    @property
    def total(self) -> int:
        return sum(span.size for span in (*self._accounts, *self._events))

    def entries(self, bar: Progress | None = None) -> Iterator[Entry]:
        """``accounts`` first, then the merged ``email.*`` and appeals records of the
        window."""
        self._reader.consumed = 0
        number = 0
        for record in self._account_records_read(bar):
            number += 1
            yield Entry(
                number, ACCOUNTS_TOPIC, UNSET, record.value, record.key,
                (record.partition, record.offset),
            )  # fmt: skip
        merge = EventTimeMerge(self.window)
        partitions = [self._partition(span) for span in self._events]
        for entry in merge.entries(partitions, number + 1):
            if bar is not None and entry.number % 4096 == 0:
                bar.update(self._reader.consumed)
            yield entry
        self.outside = merge.outside
        if bar is not None:
            bar.update(self._reader.consumed)

    def parse_event(
        self, entry: Entry, *, now: datetime, late_grace_days: int, late_reference: datetime
    ) -> Event:
        if entry.raw is None:
            raise InvalidEvent("empty message (null value)")  # as the worker says it
        return parse_event(
            entry.topic, entry.raw, now=now, late_grace_days=late_grace_days,
            late_reference=late_reference,
        )  # fmt: skip

    def where(self, entry: Entry) -> str:
        partition, offset = entry.origin or (0, 0)
        return f"{self.prefix}{entry.topic}[{partition}]@{offset}"

    def notes(self) -> list[str]:
        read = [span for span in (*self._accounts, *self._events) if span.size]
        notes = [f"{self.total:,} records read from {len(read)} partitions"]
        if not self.window.whole:
            notes.append(f"{self.outside:,} records outside the window skipped")
        if self.missing:
            notes.append(f"topics not found, read as empty: {', '.join(self.missing)}")
        return notes

    # -- the plan: which offsets of which partitions ---------------------------------------

    def _plan(self) -> None:
        names = {self.prefix + t: t for t in (*TOPIC_KINDS, ACCOUNTS_TOPIC, APPEALS_TOPIC)}
        found = self._reader.partitions(list(names))
        self.missing = [name for name in names if name not in found]
        if not any(self.prefix + topic in found for topic in TOPIC_KINDS):
            raise ReplayInputError(
                f"none of the input topics exists at {self.bootstrap} "
                f"({', '.join(self.prefix + t for t in TOPIC_KINDS)}): nothing was produced "
                "there yet, or SENDGUARD_TOPIC_PREFIX names other topics"
            )
        partitions = [(name, p) for name, parts in found.items() for p in parts]
        seek = self.window.seek_millis()
        seeks = {} if seek is None else {
            (name, p): seek for name, p in partitions if names[name] != ACCOUNTS_TOPIC
        }  # fmt: skip
        offsets = self._reader.offsets(partitions, seeks)
        for (name, partition), (start, end) in offsets.items():
            span = _Span(names[name], partition, start, end)
            (self._accounts if span.topic == ACCOUNTS_TOPIC else self._events).append(span)

    # -- reading ----------------------------------------------------------------------------

    def _account_records_read(self, bar: Progress | None) -> list[Record]:
        """``accounts`` as read on the first pass (the second reuses it)."""
        if self._account_records is None:
            records: list[Record] = []
            for span in self._accounts:
                for record in self._partition(span):
                    records.append(record)
                    if bar is not None and len(records) % 4096 == 0:
                        bar.update(self._reader.consumed)
            self._account_records = records
        else:
            self._reader.consumed += sum(span.size for span in self._accounts)
        return self._account_records

    def _partition(self, span: _Span) -> Iterator[Record]:
        """The records of one partition's span, in offset order."""
        count = 0
        read = self._reader.read(self.prefix + span.topic, span.partition, span.start, span.end)
        for record in read:
            count += 1
            yield Record(
                span.topic, span.partition, record.offset, record.timestamp, record.key,
                record.value,
            )  # fmt: skip
        before = self._counts.setdefault((span.topic, span.partition), count)
        if before != count:
            raise ReplayInputError(
                f"{self.prefix}{span.topic}[{span.partition}]: {count:,} records on the "
                f"second pass, {before:,} on the first; the broker deleted or compacted "
                "records while the replay read them (retention?); run it again"
            )
