"""What the consumer's thread records of where it reads (``streams.read_positions``)."""

from __future__ import annotations

from types import SimpleNamespace

from aiokafka.structs import TopicPartition
from faust.types import TP

from streams.read_positions import ReadPositions, drained_before_seek

BATCHED = frozenset({"email.delivery"})
DELIVERY = TP("email.delivery", 0)
CHANGELOG = TP("app-accounts-changelog", 0)


def drained(offsets: range) -> list[SimpleNamespace]:
    return [SimpleNamespace(offset=offset) for offset in offsets]


def test_records_drained_before_the_seek_have_no_span_start_and_move_nothing() -> None:
    """After an assignment aiokafka may fetch before faust's seek to the committed
    offsets: that drain is read again after the seek, so it is no delivery (its span
    start is None) and the partition's position is not taken from it."""
    reading = ReadPositions().follow(assignment := object())
    spans = reading.drained({DELIVERY: drained(range(40, 50))}, {DELIVERY: 50}, BATCHED)
    assert spans == {DELIVERY: (None, 50, None)}
    assert DELIVERY not in reading.span_ends and DELIVERY not in reading.positions
    reading.follow(assignment).sought(DELIVERY, 27, start=True)
    spans = reading.drained({DELIVERY: drained(range(27, 40))}, {DELIVERY: 40}, BATCHED)
    assert spans == {DELIVERY: (27, 40, None)}
    assert reading.starts == {DELIVERY: 27} and reading.positions == {DELIVERY: 40}


def test_spans_chain_and_cover_what_the_consumer_skipped() -> None:
    reading = ReadPositions()
    reading.sought(TopicPartition("email.delivery", 0), 0, start=True)  # aiokafka's kind
    assert reading.drained({DELIVERY: drained(range(0, 10))}, {}, BATCHED, {DELIVERY: 7}) == {
        DELIVERY: (0, 10, 7)
    }
    # A commit marker after offset 19: the consumer's position is past it.
    assert reading.drained({DELIVERY: drained(range(10, 20))}, {DELIVERY: 21}, BATCHED) == {
        DELIVERY: (10, 21, None)
    }
    assert reading.span_ends[DELIVERY] == 21


def test_a_seek_back_starts_the_next_span_where_it_sent_the_consumer() -> None:
    reading = ReadPositions()
    reading.sought(DELIVERY, 0, start=True)
    reading.drained({DELIVERY: drained(range(0, 30))}, {DELIVERY: 30}, BATCHED)
    reading.sought(DELIVERY, 12)  # the guard reads again from 12
    assert reading.starts == {DELIVERY: 0} and reading.positions[DELIVERY] == 12
    assert reading.drained({DELIVERY: drained(range(12, 30))}, {}, BATCHED) == {
        DELIVERY: (12, 30, None)
    }


def test_a_new_assignment_forgets_everything() -> None:
    reading = ReadPositions().follow(first := object())
    reading.sought(DELIVERY, 5, start=True)
    assert reading.follow(first).starts == {DELIVERY: 5}
    reading.follow(object())
    assert (reading.span_ends, reading.positions, reading.starts) == ({}, {}, {})


def test_other_topics_positions_are_recorded_whenever_drained() -> None:
    reading = ReadPositions()
    spans = reading.drained({CHANGELOG: drained(range(0, 3))}, {CHANGELOG: 3}, BATCHED)
    assert spans == {} and reading.positions == {CHANGELOG: 3}


def test_a_changelog_drained_before_recoverys_seek_is_not_delivered() -> None:
    """A standby's changelog drained after an assignment and before faust's recovery
    seeks it: handed out, recovery would count those offsets as applied and seek past
    them, and a drop of the batch before them would leave a hole in the standby's store
    (the scale-out test's double count). Tracked like the batched inputs, it waits for
    the seek; after it, the changelog's spans chain as theirs do."""
    tracked = BATCHED | {CHANGELOG.topic}
    reading = ReadPositions().follow(assignment := object())
    spans = reading.drained({CHANGELOG: drained(range(25060, 26359))}, {CHANGELOG: 26359},
                            tracked)  # fmt: skip
    assert drained_before_seek(spans[CHANGELOG])
    reading.follow(assignment).sought(CHANGELOG, 22984)
    spans = reading.drained({CHANGELOG: drained(range(22984, 25060))}, {CHANGELOG: 25060},
                            tracked)  # fmt: skip
    assert spans[CHANGELOG] == (22984, 25060, None) and not drained_before_seek(spans[CHANGELOG])
    assert not drained_before_seek(None)
