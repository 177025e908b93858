"""Batches are taken in order, once and without holes, judged by the consumer's positions:
a batch faust delivers again (it seeks back to the committed offsets after a table
recovery, in the same generation) is taken only for the records not taken yet; a batch
whose span starts past where the last batch taken ended follows one faust dropped, and
the partition is read again from there; offsets the consumer skipped itself (markers,
aborted transactions, compaction) lie inside a span and are no hole."""

from __future__ import annotations

from typing import NamedTuple

from agents.continuity import Cursor, Rewind, never_delivered, not_taken, verdict


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


def test_with_nothing_known_the_first_batch_is_taken() -> None:
    assert verdict(None, 5224, None, None) == "take"


def test_the_batch_that_starts_where_the_last_one_ended_is_taken() -> None:
    assert verdict(5224, 5224, 5224, None) == "take"


def test_offsets_the_consumer_skipped_itself_are_no_hole() -> None:
    # A commit marker at 5224 and an aborted transaction at 5225..5230: the consumer
    # went from 5224 to the next record it could deliver, 5231.
    assert verdict(5224, 5231, 5224, None) == "take"


def test_a_batch_delivered_again_is_taken_for_what_is_new() -> None:
    assert verdict(100, 100, 5224, None) == "take"


def test_a_batch_after_one_faust_dropped_sends_the_partition_back() -> None:
    # The failover case: committed 5224, faust dropped 5224..10348, delivered 10349..
    assert verdict(10349, 10349, 5224, None) == "rewind"
    # The first batch of an assignment dropped: the second starts past where reading started.
    assert verdict(700, 700, 0, None) == "rewind"


def test_without_a_span_only_offsets_can_tell() -> None:
    assert verdict(None, 5224, 5224, None) == "take"
    assert verdict(None, 6000, 5224, None) == "rewind"


def test_while_rewinding_only_the_re_read_is_taken() -> None:
    rewind = Rewind(expected=5224)
    assert verdict(10349, 15049, 5224, rewind) == "drop"  # fetched before the seek
    assert verdict(5224, 5224, 5224, rewind) == "take"
    assert verdict(5224, 5300, 5224, rewind) == "take"  # 5224..5299 skipped by the consumer


def test_while_rewinding_a_seek_back_further_is_the_re_read() -> None:
    """faust's seek to the committed offset (a table recovery) overtook the guard's: the
    batch from there is the re-read (``not_taken`` keeps what is new), not one to drop
    (the partition would wait for a span starting at 5224 that never comes)."""
    rewind = Rewind(expected=5224)
    assert verdict(4000, 4000, 5224, rewind) == "take"
    assert verdict(None, 4000, 5224, rewind) == "take"
    assert verdict(None, 5300, 5224, rewind) == "drop"


def test_records_the_consumer_delivered_past_what_was_taken_were_never_delivered() -> None:
    assert never_delivered(expected=5, delivered_to=7) == 5
    assert never_delivered(expected=7, delivered_to=7) is None
    assert never_delivered(expected=None, delivered_to=9) is None
    assert never_delivered(expected=3, delivered_to=None) is None


def test_a_cursor_follows_the_spans_taken() -> None:
    cursor = Cursor()
    assert cursor.expected(start=40) == 40
    cursor.took(span_end=52, last_offset=50)  # a marker at 51
    assert cursor.expected(start=40) == 52 and cursor.taken_through == 50
    cursor.took(span_end=45, last_offset=44)  # delivered again, already taken
    assert cursor.next == 52 and cursor.taken_through == 50
