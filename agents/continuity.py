"""Each batched partition is taken in order, once, and without holes.

faust breaks this in two ways, both in a rebalance's transitions, and the guard mends
both here:

- **Again.** After a table recovery faust seeks back to the committed offsets and
  delivers again, in the same generation, records the guard has taken and may still hold
  (waiting for the watermark). Taking them twice would make the copies duplicates of the
  held events, their batch would be acknowledged, and the commit would pass events held
  only in memory. :func:`not_taken` keeps only the records past the last one taken.
- **Skipped.** faust can drop a batch it has fetched (after the seek to the committed
  offsets, before the agent sees it): the consumer's position is past it, nothing seeks
  back, and the next batch starts further on. Seen in a failover: a partition's first
  batch of the new generation never reached the agent; the worker went on from the
  second, and the skipped deliveries were missing when their account's bounces counted.

Holes are judged by the consumer's *positions*, not by offsets. Every batch carries the
consumer's position before and after its records (``streams.faust_ext.RecordBatch``), so
offsets the consumer skipped itself (transaction markers, records of aborted
transactions, compacted or deleted records) lie inside a batch's span. A batch whose span
starts where the last batch taken ended (or where reading started) follows it, whatever
its first offset; one whose span starts further on follows a batch that never arrived:
the partition is read again from where the last batch taken ended (:func:`verdict`). A
batch dropped with nothing after it shows no later batch: while the guard is idle,
:func:`never_delivered` compares where the consumer has got to with what was taken.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

Verdict = Literal["take", "drop", "rewind"]

@dataclass
class Rewind:
    """A partition being read again from ``expected``, where the consumer was sent."""

    expected: int


@dataclass
class Cursor:
    """One assigned partition as the guard reads it: where it has taken and acknowledged
    to, a re-read under way, and the batches taken but not acknowledged yet, in offset
    order. A revoke drops it whole."""

    #: the consumer's position after the last batch taken: where the next one's span
    #: must start (None until a batch is taken)
    next: int | None = None
    #: the last offset taken
    taken_through: int | None = None
    #: the last offset acknowledged to faust
    acked_through: int | None = None
    rewind: Rewind | None = None
    #: (where the guard expects the consumer's next batch, when first seen undelivered)
    undelivered: tuple[int, float] | None = None
    #: the batches taken and not acknowledged yet (``agents.ingest.Batch``), oldest first
    unacked: deque[Any] = field(default_factory=deque)
    #: on the internal topic's partition, for its whole guard partition: when the newest
    #: records with events taken there were fetched (epoch ms)
    events_fetched_at: int | None = None

    def expected(self, start: int | None) -> int | None:
        """Where the next batch's span must start: after the last batch taken, or where
        reading started (``start``) when nothing was taken."""
        return self.next if self.next is not None else start

    def took(self, span_end: int, last_offset: int) -> None:
        self.next = span_end if self.next is None else max(self.next, span_end)
        if self.taken_through is None or last_offset > self.taken_through:
            self.taken_through = last_offset


def verdict(
    span_start: int | None, first: int, expected: int | None, rewind: Rewind | None
) -> Verdict:
    """What to do with a batch whose span starts at ``span_start`` (None: unknown) and
    whose first record is at ``first``.

    ``expected``: where the last batch taken ended, or where reading started (None:
    nothing is known, take what comes). ``rewind``: the partition is being read again
    from ``rewind.expected``: a batch whose span starts further on was fetched before the
    seek (which the consumer makes between two fetches, so no batch of one can pass for
    the other) and is dropped; one that starts there, or before (faust's own seek back to
    the committed offset overtook the guard's), is the re-read.
    """
    if rewind is not None:
        start = first if span_start is None else span_start
        return "take" if start <= rewind.expected else "drop"
    if expected is None:
        return "take"
    if span_start is None:  # the consumer does not know where it was: offsets only
        return "take" if first <= expected else "rewind"
    # A span that starts before the expected position is a batch delivered again
    # (faust seeked back): ``not_taken`` keeps only what is new.
    return "take" if span_start <= expected else "rewind"


def never_delivered(expected: int | None, delivered_to: int | None) -> int | None:
    """The position from which the consumer delivered records the guard never took, if
    any: ``delivered_to`` is the consumer's position after the last batch it yielded,
    ``expected`` where the last batch taken ended (or where reading started)."""
    if expected is None or delivered_to is None or delivered_to <= expected:
        return None
    return expected


def not_taken(records: list[Any], taken_through: int | None) -> list[Any]:
    """The records past ``taken_through``, the last offset taken from their partition."""
    if taken_through is None or records[0].offset > taken_through:
        return records
    return [record for record in records if record.offset > taken_through]
