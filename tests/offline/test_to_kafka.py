"""``to_kafka`` against the session's real broker: every item lands on its input topic,
keyed by account, in order, without the file-only ``topic`` field."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
from collections import Counter
from datetime import UTC, datetime

import pytest

from offline.simulate import simulate, to_kafka
from schemas.types import TOPIC_KINDS
from tests.integration.kafka_io import create_topics, read_all

pytestmark = pytest.mark.integration


def test_simulated_events_are_produced_in_order_keyed_by_account(kafka_bootstrap: str) -> None:
    prefix = f"t{uuid.uuid4().hex[:10]}."
    inputs = [*TOPIC_KINDS, "accounts"]
    asyncio.run(create_topics(kafka_bootstrap, [prefix + t for t in inputs]))
    items = list(simulate(6, 4, start=datetime(2026, 9, 1, tzinfo=UTC), days=2, malformed=0.01))
    progress = io.StringIO()
    counts = to_kafka(items, kafka_bootstrap, prefix, progress=progress, batch=500)

    events = [i for i in items if isinstance(i, dict) and i["topic"] != "accounts"]
    broken = [i for i in items if isinstance(i, str)]
    assert broken, "the run should include malformed lines"
    assert sum(counts.values()) == len(items)
    assert counts["accounts"] == 6
    assert f"kafka: {len(items):,} messages produced" in progress.getvalue()

    records = asyncio.run(read_all(kafka_bootstrap, [prefix + t for t in inputs]))
    assert len(records) == len(items)
    assert Counter(r.topic[len(prefix) :] for r in records) == Counter(counts)
    values = {r.value for r in records}
    assert all(line.encode() in values for line in broken)
    parsed = [json.loads(r.value) for r in records if r.value not in {b.encode() for b in broken}]
    assert all("topic" not in p for p in parsed)
    # Per topic partition, an account's events keep the generator's order.
    order = {e["event_id"]: n for n, e in enumerate(events)}
    by_partition: dict[tuple[str, int], list] = {}
    for r in sorted(records, key=lambda r: (r.topic, r.partition, r.offset)):
        if r.value in {b.encode() for b in broken}:
            continue
        value = json.loads(r.value)
        assert r.key == value["account_id"].encode()
        if "event_id" in value:
            by_partition.setdefault((r.topic, r.partition), []).append(order[value["event_id"]])
    assert all(seq == sorted(seq) for seq in by_partition.values())
