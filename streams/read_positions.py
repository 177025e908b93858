"""Where the consumer is in each partition of one assignment, as its own thread sees it.

aiokafka moves a partition's position in the consumer's thread: when it hands records
out, and when it is sent elsewhere (a seek). The event loop sees the records later, and
a seek it asks for is made later still, so anything it records itself can describe a
drain from before a seek as one from after it (a batch that looks contiguous with the
committed offset, though it was read from elsewhere), or a seek from before a drain.
:class:`ReadPositions` is therefore kept in the consumer's thread, in the same step as the
drain or seek that moves it (no await between), and the event loop only reads it.

A partition's *span end* is the consumer's position after the last records drained there
(or where it was last sent): the next drain's span starts there. Until the partition has
been sent somewhere in the current assignment, nothing is known: what is drained before
that is read again after the seek, which always follows an assignment (faust seeks every
partition to its committed offset), so it is not handed out (its span start is None).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from faust.types import TP

#: (span start, span end, fetched at) of a drained partition: the consumer's position
#: before and after its records (the start is None if the partition was not sought this
#: assignment), and when the fetch response that brought its last records arrived
#: (epoch ms; None if not known).
Span = tuple[int | None, int, int | None]


def drained_before_seek(span: Span | None) -> bool:
    """Whether these records were drained before their partition was sought in this
    assignment: the seek that follows reads them again."""
    return span is not None and span[0] is None


def as_tp(tp: Any) -> TP:
    """faust's TopicPartition for aiokafka's (equal as tuples; one type as keys)."""
    return TP(tp.topic, tp.partition)


class ReadPositions:
    def __init__(self) -> None:
        self._assignment: object | None = None
        #: per partition, the position after the last records drained, or where it was
        #: sent (only partitions sought this assignment)
        self.span_ends: dict[TP, int] = {}
        #: per partition, the consumer's position at its last drain (for the batched
        #: topics, only partitions sought this assignment)
        self.positions: dict[TP, int] = {}
        #: per partition, where the seek to the committed offsets sent it (0: the start
        #: of the log)
        self.starts: dict[TP, int] = {}

    def follow(self, assignment: object) -> ReadPositions:
        """Start afresh on a new assignment (aiokafka makes a new object for each)."""
        if assignment is not self._assignment:
            self._assignment = assignment
            self.clear()
        return self

    def clear(self) -> None:
        # New dicts: a reader in the event loop iterating the old ones is not disturbed.
        self.span_ends, self.positions, self.starts = {}, {}, {}

    def sought(self, tp: Any, offset: int, *, start: bool = False) -> None:
        """The consumer was sent to ``offset``; ``start``: by the seek to committed."""
        tp = as_tp(tp)
        self.span_ends[tp] = offset
        self.positions[tp] = offset
        if start:
            self.starts[tp] = offset

    def drained(
        self, records: Mapping[Any, list[Any]], positions: Mapping[TP, int],
        batched: Collection[str], fetched: Mapping[TP, int] | None = None,
    ) -> dict[TP, Span]:  # fmt: skip
        """Record a drain: ``records`` per partition, the consumer's ``positions`` right
        after it, and when each partition's last fetch response arrived (``fetched``).
        Returns the span of each batched partition that has records."""
        spans: dict[TP, Span] = {}
        for key, found in records.items():
            tp = as_tp(key)
            if tp.topic not in batched or not found:
                continue
            start = self.span_ends.get(tp)
            end = positions.get(tp)
            last = int(found[-1].offset)
            if end is None or end <= last:
                end = last + 1
            if start is not None:
                self.span_ends[tp] = end
            spans[tp] = (start, end, (fetched or {}).get(tp))
        for tp, position in positions.items():
            if tp.topic not in batched or tp in self.span_ends:
                self.positions[tp] = position
        return spans
