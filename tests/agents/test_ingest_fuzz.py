"""Any batch, to any topic the guard reads, goes through ``Ingest.take`` without raising,
and every input record is accounted for: counted (or held, or found a duplicate),
dead-lettered with a reason, or forwarded to its account's partition. One long-lived
rig takes every example, as a worker takes every record of its life.

``tests/agents/test_envelope.py`` fuzzes the decoding of internal records and the guard
over a dict store; this drives the worker's own record handling over real tables.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.ingest import APPENDED_AT
from schemas.parse import TOPIC_KINDS
from streams.partitioning import account_partition
from tests.agents.test_envelope import huge, json_values, mutated, tags, timestamps
from tests.agents.test_ingest import NAMES, Rig
from tests.integration.traffic import deliveries, event

INPUTS = sorted(TOPIC_KINDS)
PARTITIONS = 2

#: Field values worth trying in an input event, besides any JSON value and huge text.
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "occurred_at": timestamps,
    "account_id": st.sampled_from(["acme", "globex", "a" * 200, "", " x ", "ä\u202e"]),
    "event_id": st.sampled_from(["e-1", "e-1", "", "x" * 300]),
    "channel": st.sampled_from(["marketing", "transactional", "crm"]),
    "recipient": st.sampled_from(["a@b.example", " A@B.example ", "a@b@c", ""]),
    "smtp_code": st.integers(),
}


@st.composite
def input_values(draw: st.DrawFn, topic: str) -> bytes | None:
    """A message of an input topic: a valid event with a few fields replaced or dropped,
    any JSON, any bytes, or no value at all."""
    kind = draw(st.integers(0, 5))
    if kind == 0:
        return draw(st.binary(max_size=200))
    if kind == 1:
        return json.dumps(draw(json_values)).encode()
    if kind == 2:
        return None
    body = event(topic, draw(FIELDS["account_id"]))
    del body["topic"]
    for name in draw(st.lists(st.sampled_from(sorted(FIELDS)), max_size=3, unique=True)):
        body[name] = draw(st.one_of(FIELDS[name], json_values, huge))
    if draw(st.booleans()):
        body.pop(draw(st.sampled_from(sorted(body))), None)
    return json.dumps(body).encode()


internal_values = st.one_of(
    mutated(), st.builds(lambda tag, body: tag + body, tags, st.binary(max_size=200)),
    st.none(),
)  # fmt: skip


@st.composite
def batches(draw: st.DrawFn) -> tuple[str, int, list[bytes | None], bytes | None, list[Any]]:
    topic = draw(st.sampled_from([*INPUTS, NAMES.accounts, NAMES.events]))
    if topic == NAMES.events:
        values = draw(st.lists(internal_values, min_size=1, max_size=4))
    elif topic == NAMES.accounts:
        values = draw(st.lists(st.one_of(st.binary(max_size=100), json_values.map(
            lambda v: json.dumps(v).encode()), st.none()), min_size=1, max_size=4))  # fmt: skip
    else:
        values = draw(st.lists(input_values(topic), min_size=1, max_size=4))
    key = draw(st.one_of(st.none(), st.binary(max_size=40), st.just(b"\xff" * 2000)))
    headers = draw(st.lists(st.tuples(st.sampled_from([APPENDED_AT, "x"]),
                                      st.binary(max_size=30)), max_size=2))  # fmt: skip
    return topic, draw(st.integers(0, PARTITIONS - 1)), values, key, headers


def forwarded(rig: Rig) -> int:
    return len(rig.out(NAMES.events))


def test_no_batch_raises_and_every_input_record_is_accounted_for(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    rig = Rig(Path(tmp_path_factory.mktemp("fuzz")), partitions=PARTITIONS)

    @settings(max_examples=300, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
    @given(batches())
    def take(batch: tuple[str, int, list[bytes | None], bytes | None, list[Any]]) -> None:
        topic, partition, values, key, headers = batch
        rig.ingest.drain()
        before = forwarded(rig)
        rig.feed(topic, partition, values, headers=headers, key=key)
        outcomes = rig.ingest.drain().outcomes
        if topic in INPUTS:
            counted = sum(n for (name, _), n in outcomes.items() if name == topic)
            assert counted + forwarded(rig) - before == len(values), outcomes

    take()
    # The rig still takes good events afterwards: nothing it took broke it.
    owned = next(a for a in (f"after-{n}" for n in range(50)) if account_partition(a, 2) == 0)
    rig.ingest.drain()
    rig.feed("email.delivery", 0, deliveries(owned, 3))
    assert rig.ingest.drain().outcomes == {("email.delivery", "accepted"): 3}
