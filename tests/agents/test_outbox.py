"""agents.outbox: the byte budget every record Sendguard writes is checked against."""

from __future__ import annotations

import msgspec

from agents.outbox import Outbox
from schemas.limits import MAX_RECORD_BYTES


def test_a_record_over_the_budget_is_not_queued_and_a_dead_letter_names_it() -> None:
    told: list[str] = []
    outbox = Outbox(lambda topic: 4, dead_letter_topic="dlq", oversized=told.append)
    outbox.add("decisions", b"acme", b"x" * (MAX_RECORD_BYTES - 4), 1)  # at the budget
    outbox.add("decisions", b"acme", b"y" * (MAX_RECORD_BYTES - 3), 2)  # one byte over
    outbox.add("decisions", b"acme", b"z", 3, headers=[("h", b"h" * MAX_RECORD_BYTES)])
    queued = outbox.queued()
    assert next((topic, len(value or b"")) for topic, _, _, value, _ in queued) == (
        "decisions", MAX_RECORD_BYTES - 4)
    letters = [msgspec.json.decode(value) for topic, _, _, value, _ in queued if topic == "dlq"]
    assert len(queued) == 3 and len(letters) == 2
    assert told == ["decisions", "decisions"]
    assert letters[0]["source_topic"] == "decisions"
    assert letters[0]["error"] == f"record of {MAX_RECORD_BYTES + 1} bytes over the budget of {MAX_RECORD_BYTES}"
    assert letters[0]["raw"] == "y" * 65536


def test_an_oversized_dead_letter_is_dropped_not_looped() -> None:
    told: list[str] = []
    outbox = Outbox(lambda topic: 1, dead_letter_topic="dlq", oversized=told.append)
    outbox.add("dlq", None, b"x" * (MAX_RECORD_BYTES + 1), 1)
    assert len(outbox) == 0 and told == ["dlq"]
