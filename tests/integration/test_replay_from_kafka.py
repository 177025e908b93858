"""``sendguard replay --from-kafka`` against the session's real broker: a simulated month
produced to the input topics replays to the decisions of its file, whole or over a time
window, without creating a consumer group (no worker here: the replay alone)."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from offline.head import event_time, head
from offline.kafka_input import KafkaInput
from offline.produce import to_kafka
from offline.replay import replay
from offline.simulate import Item, simulate, write_jsonl
from offline.window import TimeWindow
from policy import load_policy
from schemas.appeals import APPEALS_TOPIC
from schemas.types import ACCOUNTS_TOPIC, TOPIC_KINDS
from sendguard.cli import main
from tests.integration.chaos import comparable, describe_difference
from tests.integration.kafka_io import create_topics
from tests.offline.test_replay_restores import PROBATION, appeal
from tests.offline.test_replay_restores import month as restored_month

pytestmark = pytest.mark.integration

START = (datetime.now(UTC) - timedelta(days=21)).replace(hour=0, minute=0, second=0, microsecond=0)
SINCE = START + timedelta(days=4, hours=5)
UNTIL = START + timedelta(days=13)


@pytest.fixture
def month(kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> tuple[list[Item], Path]:
    """12 accounts over 20 days, with retries and broken lines, in a file and in topics of
    three partitions each."""
    items = list(simulate(12, seed=17, start=START, days=20, duplicates=0.02, malformed=0.004))
    names = [topic_prefix + t for t in (*TOPIC_KINDS, ACCOUNTS_TOPIC)]
    asyncio.run(create_topics(kafka_bootstrap, names, partitions=3))
    to_kafka(items, kafka_bootstrap, topic_prefix, progress=None)
    path = tmp_path / "month.jsonl"
    write_jsonl(items, path)
    return items, path


def run(
    args: list[str], capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    bootstrap: str, prefix: str,
) -> tuple[dict[str, Any], str]:  # fmt: skip
    """``sendguard replay ARGS``: (decisions by id, without decided_at; stderr)."""
    monkeypatch.setenv("SENDGUARD_KAFKA_BOOTSTRAP", bootstrap)
    monkeypatch.setenv("SENDGUARD_TOPIC_PREFIX", prefix)
    capfd.readouterr()
    assert main(["replay", *args]) == 0
    out, err = capfd.readouterr()
    decisions = [json.loads(line) for line in out.splitlines()]
    by_id = {d["decision_id"]: comparable(d) | {"advice": d["advice"]} for d in decisions}
    assert len(by_id) == len(decisions)
    return by_id, err


def counts(summary: str) -> list[str]:
    """The numbers of the summary's events row: read, accepted, duplicates, rejected,
    account records; and its rejects-by-reason table."""
    lines = summary.splitlines()
    row = lines[lines.index(next(x for x in lines if x.strip().startswith("events"))) + 1]
    rejects = lines[lines.index("rejects by reason") + 1 : lines.index("final state per channel")]
    return [*row.split(), *rejects]


async def groups(bootstrap: str) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return {group[0] for group in await admin.list_consumer_groups()}
    finally:
        await admin.close()


def test_replay_from_kafka_equals_the_file_replay_whole_and_in_a_window(
    month: tuple[list[Item], Path], kafka_bootstrap: str, topic_prefix: str, tmp_path: Path,
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    items, path = month
    groups_before = asyncio.run(groups(kafka_bootstrap))

    def replay(*args: str) -> tuple[dict[str, Any], str]:
        return run(list(args), capfd, monkeypatch, kafka_bootstrap, topic_prefix)

    # The whole month: the same decisions, evidence and advice, the same counts.
    want, file_summary = replay(str(path))
    got, kafka_summary = replay("--from-kafka")
    assert {d["action"] for d in want.values()} >= {"warn", "suspend"}
    assert got == want, describe_difference(got, want)
    assert counts(kafka_summary) == counts(file_summary)
    assert f"{len(items):,} records read from " in kafka_summary
    assert "not JSON" in kafka_summary and "duplicates" in kafka_summary

    # A window: the decisions of a file of the window's events (by occurred_at). A broken
    # line without a readable time is placed by its broker stamp: produced just now, after
    # --until, so it is outside.
    def in_window(item: Item) -> bool:
        if isinstance(item, dict) and item["topic"] == ACCOUNTS_TOPIC:
            return True
        line = item if isinstance(item, str) else json.dumps(item)
        wire = head(line.encode())
        at = None if wire is None else event_time(wire.occurred_at)
        return at is not None and SINCE <= at < UNTIL

    window_file = tmp_path / "window.jsonl"
    selected = write_jsonl(filter(in_window, items), window_file)
    assert 0 < selected < len(items)
    want_window, file_window = replay(str(window_file))
    got_window, kafka_window = replay(
        "--from-kafka", "--since", SINCE.isoformat(), "--until", UNTIL.replace(tzinfo=None).isoformat()
    )
    assert want_window and {d["action"] for d in want_window.values()} & {"warn", "suspend"}
    assert want_window.keys() != want.keys()
    assert got_window == want_window, describe_difference(got_window, want_window)
    assert counts(kafka_window) == counts(file_window)
    skipped = len(items) - selected
    assert f"{skipped:,} records outside the window skipped" in kafka_window

    # Read with no consumer group: nothing the workers' group could notice. (A group of an
    # earlier test's killed worker can expire meanwhile, so no new group is the test.)
    assert asyncio.run(groups(kafka_bootstrap)) <= groups_before


async def produce_stamped(bootstrap: str, prefix: str, items: list[Item]) -> None:
    """Each event stamped with its ``occurred_at``, as an MTA publishing live would."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for item in items:
            assert isinstance(item, dict)
            value = {k: v for k, v in item.items() if k != "topic"}
            at = event_time(item.get("occurred_at"))
            await producer.send(
                prefix + item["topic"], json.dumps(value).encode(), key=item["account_id"].encode(),
                timestamp_ms=None if at is None else int(at.timestamp() * 1000),
            )  # fmt: skip
        await producer.flush()
    finally:
        await producer.stop()


def test_since_seeks_each_partition_by_the_record_stamps(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    """Records stamped more than an hour before --since are not even read; the window then
    keeps the events of --since and later. (Stamps within the broker's 7-day retention.)"""
    start = (datetime.now(UTC) - timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    items = list(simulate(6, seed=3, start=start, days=3))
    names = [topic_prefix + t for t in (*TOPIC_KINDS, ACCOUNTS_TOPIC)]
    asyncio.run(create_topics(kafka_bootstrap, names, partitions=2))
    asyncio.run(produce_stamped(kafka_bootstrap, topic_prefix, items))
    since = start + timedelta(hours=40)  # with sends in the hour before it, for any start
    events = [event_time(i["occurred_at"]) for i in items if isinstance(i, dict)
              and i["topic"] != ACCOUNTS_TOPIC]  # fmt: skip
    accounts = len(items) - len(events)
    stamped_late_enough = sum(1 for at in events if at and at >= since - timedelta(hours=1))
    in_window = sum(1 for at in events if at and at >= since)
    assert 0 < in_window < stamped_late_enough < len(events)

    with KafkaInput(kafka_bootstrap, topic_prefix, TimeWindow(since=since)) as source:
        result = replay(source, load_policy(), progress=False, summary=False, out=io.BytesIO())
        assert source.total == accounts + stamped_late_enough
        assert source.outside == stamped_late_enough - in_window
    assert (result.accepted, result.rejected, result.account_records) == (in_window, 0, accounts)
    assert result.first is not None and result.first >= since


def test_restores_from_the_appeals_audit_trail_apply_as_in_the_file(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path,
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """``sendguard.appeals`` is read with the input topics: the approved appeal restores
    the channel at its ``decided_at`` and probation follows, as in the file's replay."""
    items = restored_month([appeal("pending", 14_000), appeal("restored", 15_000)])
    names = [topic_prefix + t for t in (*TOPIC_KINDS, ACCOUNTS_TOPIC, APPEALS_TOPIC)]
    asyncio.run(create_topics(kafka_bootstrap, names, partitions=2))
    to_kafka(items, kafka_bootstrap, topic_prefix, progress=None)
    path = tmp_path / "month.jsonl"
    write_jsonl(items, path)
    policy = tmp_path / "probation.toml"
    policy.write_text(PROBATION)

    def replay(*args: str) -> tuple[dict[str, Any], str]:
        return run([*args, "--policy", str(policy)], capfd, monkeypatch, kafka_bootstrap,
                   topic_prefix)  # fmt: skip

    want, file_summary = replay(str(path))
    got, kafka_summary = replay("--from-kafka")
    assert [(d["action"], d["evidence"].get("probation_factor")) for d in want.values()] == [
        ("warn", None), ("suspend", None), ("restore", None), ("warn", 0.5), ("suspend", 0.5),
    ]  # fmt: skip
    assert got == want, describe_difference(got, want)
    restored = "appeal records: 2, of which 1 restored a channel"
    assert restored in file_summary and restored in kafka_summary


def test_replay_from_topics_that_do_not_exist_is_a_clear_error(
    kafka_bootstrap: str, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENDGUARD_KAFKA_BOOTSTRAP", kafka_bootstrap)
    monkeypatch.setenv("SENDGUARD_TOPIC_PREFIX", "no-such-prefix.")
    assert main(["replay", "--from-kafka"]) == 1
    out, err = capfd.readouterr()
    assert out == ""
    assert err.startswith("sendguard: error: none of the input topics exists at ")
    assert "no-such-prefix.email.delivery" in err and len(err.splitlines()) == 1
