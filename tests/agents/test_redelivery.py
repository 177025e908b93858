"""A batch faust delivers again (it seeks back to the committed offsets after a table
recovery, in the same generation) is taken only for the records not taken yet."""

from __future__ import annotations

from typing import NamedTuple

from agents.guard import not_taken


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
