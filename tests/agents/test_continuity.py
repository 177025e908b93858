"""Batches are taken in offset order, once and without holes: a batch faust delivers
again (it seeks back to the committed offsets after a table recovery, in the same
generation) is taken only for the records not taken yet; a batch past a hole (faust
dropped the one before it) has the partition read again from the hole."""

from __future__ import annotations

from typing import NamedTuple

from agents.continuity import ANY_BATCH, Rewind, never_delivered, not_taken, verdict


class Record(NamedTuple):
    offset: int


def batch(first: int, last: int) -> list[Record]:
    return [Record(offset) for offset in range(first, last + 1)]


def test_first_batch_of_an_assignment_is_taken_whole() -> None:
    assert not_taken(batch(10, 14), None) == batch(10, 14)


def test_the_next_batch_is_taken_whole() -> None:
    assert not_taken(batch(15, 20), 14) == batch(15, 20)


def test_a_batch_delivered_again_is_not_taken() -> None:
    assert not_taken(batch(0, 14), 14) == []


def test_a_batch_overlapping_what_was_taken_keeps_only_the_new_records() -> None:
    assert not_taken(batch(5, 20), 14) == batch(15, 20)


def test_a_jump_forward_is_taken_whole() -> None:
    # Offsets the consumer skips (deleted or compacted records) are not this check's
    # business: ack_batch registers them as a gap.
    assert not_taken(batch(30, 31), 14) == batch(30, 31)


def test_with_nothing_known_the_first_batch_is_taken() -> None:
    assert verdict(5224, None, None) == "take"


def test_the_next_offset_and_batches_delivered_again_are_taken() -> None:
    assert verdict(5224, 5223, None) == "take"
    assert verdict(100, 5223, None) == "take"  # not_taken keeps only what is new


def test_a_batch_past_the_next_offset_sends_the_partition_back() -> None:
    # The failover case: committed 5224, faust dropped 5224..10348, delivered 10349..
    assert verdict(10349, 5223, None) == "rewind"


def test_while_rewinding_batches_fetched_before_the_seek_are_dropped() -> None:
    rewind = Rewind(expected=5224, seen=10349)
    assert verdict(15049, 5223, rewind) == "drop"


def test_while_rewinding_the_re_read_is_taken() -> None:
    rewind = Rewind(expected=5224, seen=10349)
    assert verdict(5224, 5223, rewind) == "take"


def test_a_hole_in_the_log_itself_is_taken_after_one_re_read() -> None:
    # Compacted away: the re-read starts past the expected offset again, no further
    # than the batch that showed the hole.
    rewind = Rewind(expected=5224, seen=10349)
    assert verdict(10349, 5223, rewind) == "take"
    assert verdict(7000, 5223, rewind) == "take"


def test_records_past_what_was_taken_were_never_delivered() -> None:
    # Taken through 4; the partition ends at 7: 5 and 6 were dropped.
    assert never_delivered(taken_through=4, start=0, highwater=7) == 5
    # Nothing taken yet: from where reading started (the committed offset).
    assert never_delivered(taken_through=None, start=3, highwater=5) == 3


def test_nothing_is_undelivered_when_everything_was_taken_or_nothing_is_known() -> None:
    assert never_delivered(taken_through=6, start=0, highwater=7) is None
    assert never_delivered(taken_through=None, start=5, highwater=5) is None
    assert never_delivered(taken_through=None, start=None, highwater=9) is None
    assert never_delivered(taken_through=3, start=0, highwater=None) is None


def test_a_re_read_started_while_idle_takes_whatever_offset_it_starts_at() -> None:
    # Records 5.. may be gone (compaction, markers): the first batch after the seek ends
    # the re-read, wherever it starts.
    assert verdict(9, taken_through=4, rewind=Rewind(5, ANY_BATCH)) == "take"
