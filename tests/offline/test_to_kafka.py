"""``to_kafka`` against the session's real broker: every item lands on its input topic,
keyed by account, in order, without the file-only ``topic`` field."""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import subprocess
import sys
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from offline.simulate import simulate, to_kafka
from schemas.types import TOPIC_KINDS
from tests.integration.kafka_io import create_topics, read_all

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def cli_env(bootstrap: str, prefix: str) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(ROOT / ".no-home"),
        "SENDGUARD_KAFKA_BOOTSTRAP": bootstrap, "SENDGUARD_TOPIC_PREFIX": prefix,
    }  # fmt: skip


def append_time_topics(bootstrap: str, names: list[str], partitions: int) -> None:
    """Topics whose records the broker stamps as it appends them: their write order."""
    asyncio.run(create_topics(bootstrap, names, partitions=partitions,
                              configs={"message.timestamp.type": "LogAppendTime"}))  # fmt: skip


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
    raw_lines = {line.encode() for line in broken}
    assert raw_lines <= {r.value for r in records}
    # Per topic partition, an account's events keep the generator's order.
    order = {e["event_id"]: n for n, e in enumerate(events)}
    by_partition: dict[tuple[str, int], list] = {}
    for r in sorted(records, key=lambda r: (r.topic, r.partition, r.offset)):
        if r.value in raw_lines:
            continue
        value = json.loads(r.value)
        assert "topic" not in value
        assert r.key == value["account_id"].encode()
        if "event_id" in value:
            by_partition.setdefault((r.topic, r.partition), []).append(order[value["event_id"]])
    assert all(seq == sorted(seq) for seq in by_partition.values())


@pytest.mark.parametrize("ordered", [True, False])
def test_ordered_writes_each_accounts_messages_in_order_across_topics(
    kafka_bootstrap: str, ordered: bool
) -> None:
    """The broker stamps each record as it appends it (LogAppendTime): with ``ordered``,
    an account's records are appended in the order given, whatever their topics. Without
    it, a message to a quiet topic lingers in its batch while later ones to a busy topic
    go out full, so the same check fails (the case is built so it does on one broker)."""
    prefix = f"t{uuid.uuid4().hex[:10]}."
    inputs = [*TOPIC_KINDS, "accounts"]
    append_time_topics(kafka_bootstrap, [prefix + t for t in inputs], partitions=2)
    items = [
        {"topic": "email.bounce" if n % 400 == 0 else "email.delivery", "account_id": "a1",
         "event_id": f"e{n}", "padding": "x" * 400}
        for n in range(4000)
    ]  # fmt: skip
    to_kafka(items, kafka_bootstrap, prefix, progress=None, ordered=ordered)

    records = asyncio.run(read_all(kafka_bootstrap, [prefix + t for t in inputs]))
    appended = {json.loads(r.value)["event_id"]: r.timestamp for r in records}
    stamps = [appended[i["event_id"]] for i in items]
    in_order = all(a <= b for a, b in itertools.pairwise(stamps))
    assert in_order is ordered


def test_simulate_kafka_command_provisions_and_produces(kafka_bootstrap: str) -> None:
    prefix = f"t{uuid.uuid4().hex[:10]}."
    env = cli_env(kafka_bootstrap, prefix)
    result = subprocess.run(
        [sys.executable, "-m", "sendguard.cli", "simulate", "--accounts", "3", "--seed", "1",
         "--days", "1", "--start", "2026-09-01", "--kafka"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    counts = dict(line.split("\t") for line in result.stdout.splitlines())
    assert counts[f"{prefix}accounts"] == "3"
    produced = sum(int(n) for n in counts.values())
    assert f"kafka: {produced:,} messages produced" in result.stderr
    records = asyncio.run(
        read_all(kafka_bootstrap, [prefix + t for t in (*TOPIC_KINDS, "accounts")])
    )
    assert len(records) == produced


def test_simulate_kafka_ordered_keeps_each_accounts_order_across_topics(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """``simulate --kafka --ordered`` as the function (without ``--ordered`` this month
    lands out of order: checked when written, three runs of three)."""
    prefix = f"t{uuid.uuid4().hex[:10]}."
    inputs = [*TOPIC_KINDS, "accounts"]
    append_time_topics(kafka_bootstrap, [prefix + t for t in inputs], partitions=4)
    env = cli_env(kafka_bootstrap, prefix)
    month = ["simulate", "--accounts", "20", "--seed", "5", "--days", "3", "--start", "2026-09-01"]
    for target in (["--out", str(tmp_path / "m.jsonl")], ["--kafka", "--ordered"]):
        result = subprocess.run([sys.executable, "-m", "sendguard.cli", *month, *target],
                                env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
        assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    records = asyncio.run(read_all(kafka_bootstrap, [prefix + t for t in inputs]))
    appended = {json.loads(r.value)["event_id"]: r.timestamp for r in records
                if r.topic != prefix + "accounts"}  # fmt: skip
    by_account: dict[str, list[int]] = {}
    for event in events:
        if event["topic"] != "accounts":
            by_account.setdefault(event["account_id"], []).append(appended[event["event_id"]])
    assert all(a <= b for s in by_account.values() for a, b in itertools.pairwise(s))
