"""The records of the input partitions as one stream in event-time order.

Kafka orders records only within a partition; a replay needs one sequence. The sequence
that makes a replay from the topics equal to the replay of a file is the file's own
order, and the files Sendguard writes (``write_jsonl``, from ``simulate``) sort their
events by ``occurred_at``: the replay's watermark (one source per topic, ``allowance``
of disorder) and its event-time clock are built for that order. Reading partition after
partition instead would put a topic's partitions days apart and make most events late.

So the partitions are merged by ``occurred_at`` (a ``sendguard.appeals`` record by its
``decided_at``, or ``filed_at`` while pending: where a file of the audit trail puts it):
the head record with the earliest time comes next; equal times go by partition (topics
in contract order, then partition number), so the order is the same on every pass. Each
partition's own order is kept: a retried event (the same ``occurred_at`` as its first
copy, published later) comes straight after the record it follows in its partition, and
a record whose time cannot be read (broken JSON) keeps the time of the record before it
in its partition. Where such a record sits among the other partitions, or which of two
events of the same millisecond comes first, can differ from a file's order; that can
move a watermark release by a record, hence a ``decided_at`` and the order of decisions
printed at the same instant, not what is decided: the guard counts each account's
events in (occurred_at, event_id) order, and in a time-ordered stream none is late.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from msgspec import UNSET

from offline.head import appeal_time, event_time, head
from offline.inputs import Entry
from offline.window import TimeWindow
from policy.ordering import BEGINNING
from schemas.appeals import APPEALS_TOPIC


class Record(NamedTuple):
    """One message of an input partition, as the replay needs it."""

    topic: str
    """The contract's name of the topic (without the prefix)."""
    partition: int
    offset: int
    timestamp: int
    """The broker's timestamp, ms since 1970."""
    key: bytes | None
    value: bytes | None


class EventTimeMerge:
    """Merges partitions into entries, keeping those of ``window``; counts the others."""

    def __init__(self, window: TimeWindow) -> None:
        self.window = window
        self.outside = 0

    def entries(self, partitions: Sequence[Iterable[Record]], first: int = 1) -> Iterator[Entry]:
        """The records of ``partitions`` in the window, merged; numbered from ``first``.

        ``partitions`` in a fixed order (it breaks ties); each is read lazily, one record
        ahead of what has been handed out.
        """
        streams = [iter(p) for p in partitions]
        heap: list[tuple[datetime, int, Record, Any]] = []
        last = [BEGINNING] * len(streams)

        def pull(index: int) -> None:
            for record in streams[index]:
                wire = None if record.value is None else head(record.value)
                occurred_at = UNSET if wire is None else wire.occurred_at
                if record.topic == APPEALS_TOPIC:
                    at = None if record.value is None else appeal_time(record.value)
                else:
                    at = event_time(occurred_at)
                if at is None:
                    at = last[index]
                    selected = self.window.whole or self.window.holds_stamp(record.timestamp)
                else:
                    last[index] = at
                    selected = self.window.holds(at)
                if selected:
                    heapq.heappush(heap, (at, index, record, occurred_at))
                    return
                self.outside += 1

        for index in range(len(streams)):
            pull(index)
        number = first
        while heap:
            _, index, record, occurred_at = heapq.heappop(heap)
            yield Entry(
                number, record.topic, occurred_at, record.value, record.key,
                (record.partition, record.offset),
            )  # fmt: skip
            number += 1
            pull(index)
