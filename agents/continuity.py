"""Each batched partition is taken in offset order, once, and without holes.

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
  :func:`verdict` sees the hole (a batch starting past the next offset expected) and has
  the partition re-read from that offset.

A dropped batch with nothing after it (a partition's last records) shows no hole: no
later batch comes. While the guard is idle, :func:`never_delivered` compares what it
took with the partition's end, and the partition is read again from the first record
not taken; the re-read is taken whatever offset it starts at (records may be gone).

A hole can also be in the log itself (records removed by compaction, transaction
markers): the re-read then starts past the expected offset again, no further than the
batch that showed the hole, and is taken. Batches that come after the one that showed the
hole, before the re-read, are dropped (the re-read delivers them again), and each sends
the consumer back again: one may have been fetched after the seek, if the seek lost a race
with the fetch, and without a new seek the partition would never be read again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Verdict = Literal["take", "drop", "rewind"]


@dataclass(frozen=True)
class Rewind:
    """A partition being re-read after a hole."""

    #: the first offset not taken yet, where the consumer was sent back to
    expected: int
    #: the first offset of the batch that showed the hole
    seen: int


def verdict(first: int, taken_through: int | None, rewind: Rewind | None) -> Verdict:
    """What to do with a batch whose first offset is ``first``.

    ``taken_through``: the last offset taken from the partition (None: nothing is known,
    take what comes). ``rewind``: the partition is being re-read after a hole.
    """
    if rewind is not None:
        # The re-read starts at or before the batch that showed the hole; anything
        # further on was fetched before the seek.
        return "take" if first <= rewind.seen else "drop"
    if taken_through is None or first <= taken_through + 1:
        return "take"
    return "rewind"


#: ``Rewind.seen`` of a re-read started while idle: any batch after it is the re-read.
ANY_BATCH = 2**62


def never_delivered(
    taken_through: int | None, start: int | None, highwater: int | None
) -> int | None:
    """The first offset of records the consumer has but never delivered, if any.

    ``taken_through``: the last offset taken (this assignment), ``start``: where reading
    started (the committed offset, or the log's start), ``highwater``: the partition's
    end as the consumer last fetched it. Meaningful only while nothing is being
    delivered: then records below the end and past what was taken were dropped.
    """
    expected = taken_through + 1 if taken_through is not None else start
    if expected is None or highwater is None or highwater <= expected:
        return None
    return expected


def not_taken(records: list[Any], taken_through: int | None) -> list[Any]:
    """The records past ``taken_through``, the last offset taken from their partition."""
    if taken_through is None or records[0].offset > taken_through:
        return records
    return [record for record in records if record.offset > taken_through]
