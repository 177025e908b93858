"""The guard's Faust shell without a broker: acknowledging batches (``ack_batch``,
``GuardAgent._ready_to_ack`` and ``_ack``) and a revoke (``GuardAgent._on_revoked``), on a real faust app and
its real consumer object, whose acknowledgement bookkeeping decides what faust commits.

The stream is the one stand-in: faust's ``Stream.ack`` marks the event's message acked on
the consumer, which is all ``_FakeStream.ack`` does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import msgspec
import pytest
from aiokafka.structs import ConsumerRecord
from faust.types import TP

from agents.continuity import Cursor
from agents.envelope import unwrap
from agents.guard import GuardAgent
from agents.ingest import Batch
from agents.progress import ProgressReport
from streams.app import build_runtime
from streams.faust_ext import BatchingConsumer, RecordBatch, _batch, ack_batch
from streams.settings import Settings

DELIVERY = TP("email.delivery", 0)


class _FakeStream:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def ack(self, event: Any) -> bool:
        return bool(self.app.consumer.ack(event.message))


@pytest.fixture
async def agent(tmp_path: Path) -> AsyncIterator[GuardAgent]:
    rt = build_runtime(Settings(data_dir=tmp_path, app_id="shell", partitions=2))
    rt.app.loop = asyncio.get_running_loop()
    agent = GuardAgent(rt)
    agent.register()
    # faust records acks only for the topics its agents consume, as its conductor lists
    # them when the worker starts.
    rt.app.topics._acking_topics.update(rt.app.batched_topics)  # type: ignore[attr-defined]
    yield agent


def consumer_of(agent: GuardAgent) -> BatchingConsumer:
    return agent.consumer


def records(tp: TP, first: int, last: int, value: bytes = b"{}") -> list[ConsumerRecord]:
    return [
        ConsumerRecord(topic=tp.topic, partition=tp.partition, offset=offset,
                       timestamp=1_700_000_000_000, timestamp_type=0, key=b"k", value=value,
                       checksum=None, serialized_key_size=1, serialized_value_size=len(value),
                       headers=[])
        for offset in range(first, last + 1)
    ]  # fmt: skip


def delivered(tp: TP, first: int, last: int, span_start: int | None = None,
              value: bytes = b"{}") -> Any:  # fmt: skip
    message: RecordBatch = _batch(tp, records(tp, first, last, value), 0,
                                  first if span_start is None else span_start, last + 1)  # fmt: skip
    return SimpleNamespace(message=message)


async def test_ack_batch_lets_faust_commit_the_batch_and_the_offsets_skipped_before_it(
    agent: GuardAgent,
) -> None:
    consumer = consumer_of(agent)
    stream = _FakeStream(agent.rt.app)
    consumer._committed_offset[DELIVERY] = 100
    assert await ack_batch(stream, delivered(DELIVERY, 100, 149), None, 0)
    assert consumer._new_offset(DELIVERY) == 150
    consumer._committed_offset[DELIVERY] = 150  # what faust's commit then records
    # 150..159 were transaction markers: the consumer skipped them; the next batch's ack
    # registers them, so faust commits over them.
    assert await ack_batch(stream, delivered(DELIVERY, 160, 169, span_start=150), 149, 0)
    assert consumer._new_offset(DELIVERY) == 170


async def test_no_ack_once_a_revoke_has_started(agent: GuardAgent) -> None:
    """faust clears its bookkeeping of revoked partitions, then awaits other work before
    the agent hears of the revoke. An ack in that window would leave acked offsets and
    gaps behind for a partition that may come back to this worker, and they would let a
    commit pass events that are only held in memory."""
    consumer = consumer_of(agent)
    app = agent.rt.app
    stream = _FakeStream(app)
    consumer._committed_offset[DELIVERY] = 0
    take = delivered(DELIVERY, 0, 9)
    agent.cursors[DELIVERY] = Cursor()
    app.consumer_generation_id = take.message.generation_id
    agent.cursors[DELIVERY].unacked.append(Batch(take.message.partition, take))

    inside = asyncio.Event()
    release = asyncio.Event()

    async def app_revoke(revoked: set[TP]) -> None:  # faust's app handler: it awaits
        inside.set()
        await release.wait()

    consumer._on_partitions_revoked = app_revoke  # type: ignore[method-assign]
    revoking = asyncio.create_task(consumer.on_partitions_revoked({DELIVERY}))
    await inside.wait()
    await agent._ack(stream, agent._ready_to_ack())  # the agent runs in the window
    assert not consumer._acked.get(DELIVERY) and not consumer._gap.get(DELIVERY)
    release.set()
    await revoking
    await agent._on_revoked(app, {DELIVERY})
    assert agent.revocations == consumer.revocations == 1
    assert DELIVERY not in agent.cursors  # with the batch it held unacknowledged


async def test_acks_resume_after_the_revoke_is_handled(agent: GuardAgent) -> None:
    consumer = consumer_of(agent)
    app = agent.rt.app
    consumer.revocations = 1  # a revoke started and ...
    await agent._on_revoked(app, {DELIVERY})  # ... the guard handled it
    consumer._committed_offset[DELIVERY] = 0
    take = delivered(DELIVERY, 0, 9)
    agent.cursors[DELIVERY] = Cursor()
    agent.cursors[DELIVERY].unacked.append(Batch(take.message.partition, take))
    await agent._ack(_FakeStream(app), agent._ready_to_ack())
    assert consumer._new_offset(DELIVERY) == 10
    assert agent.cursors[DELIVERY].acked_through == 9


async def test_a_revoke_drops_the_records_queued_for_the_revoked_partitions(
    agent: GuardAgent,
) -> None:
    """Records queued for a revoked partition's work are not published at the next
    flush: the new owner reads the input again and may already have published newer
    records (a newer status on the compacted topic would lose to the stale one)."""
    app = agent.rt.app
    for tp in (DELIVERY, TP("email.delivery", 1)):
        consumer_of(agent)._reading.sought(tp, 0, start=True)
    agent.take(delivered(DELIVERY, 0, 0, value=b"{not json"))
    agent.take(delivered(TP("email.delivery", 1), 0, 0, value=b"[]"))
    assert len(agent.outbox) == 2  # a dead letter for each
    revoked = {TP(topic, 0) for topic in (*agent.names.inputs, agent.names.accounts,
                                          agent.names.events)}  # fmt: skip
    await agent._on_revoked(app, revoked)
    (letter,) = agent.outbox.queued()
    assert b'"partition":1' in (letter[3] or b"")


def test_a_partition_is_idle_for_a_batch_only_if_its_end_is_no_older_news(
    agent: GuardAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    """aiokafka leaves a partition with records buffered out of its fetches, so the end
    it knows goes stale: deliveries 0..499 fetched when the log ended at 500, the next
    500 and then bounces written, the bounces fetched. Judging the bounces, the delivery
    partition read to 500 is not idle on that old news, or they would count first."""
    consumer = consumer_of(agent)
    consumer._reading.sought(DELIVERY, 500, start=True)
    monkeypatch.setattr(consumer, "end_offset", lambda tp: 500)
    monkeypatch.setattr(consumer, "end_learned_at", lambda tp: 1_000)
    assert agent._positions(DELIVERY) == (500, 500)  # nothing fetched on partition 0 yet
    guard_partition = agent._cursor(TP(agent.events_topic, 0))
    guard_partition.events_fetched_at = 2_000  # the bounces came in a later response
    assert agent._positions(DELIVERY) == (500, None)
    assert agent._positions_at_fetch(DELIVERY) == (500, 500)  # for a report: as known
    guard_partition.events_fetched_at = 1_000  # in the same response: its end is as fresh
    assert agent._positions(DELIVERY) == (500, 500)


def test_a_guard_partition_is_judged_at_its_newest_events_fetch_time(agent: GuardAgent) -> None:
    """Forwarded events come on sendguard.events, from another broker maybe: the
    partition's own sources are judged at the newest fetch of any of its topics."""
    events = TP(agent.events_topic, 0)

    def fetched(message: Any, at: int) -> RecordBatch:
        message.message.fetched_at = at
        return message.message

    agent._note_fetch(fetched(delivered(DELIVERY, 0, 9), 1_000))
    assert agent.cursors[events].events_fetched_at == 1_000
    agent._note_fetch(fetched(delivered(events, 2, 2, value=b'E{"event_id":"e"}'), 6_000))
    agent._note_fetch(fetched(delivered(DELIVERY, 10, 10), 4_000))
    assert agent.cursors[events].events_fetched_at == 6_000
    assert TP(events.topic, 1) not in agent.cursors


async def test_a_revoke_forgets_a_guard_partition_in_one_pop(agent: GuardAgent) -> None:
    """Everything the shell keeps of an assigned partition lives in its Cursor: after a
    revoke nothing of it is left, not even when its newest events were fetched."""
    consumer_of(agent)._reading.sought(DELIVERY, 0, start=True)
    batch = delivered(DELIVERY, 0, 0, value=b"{not json")
    batch.message.fetched_at = 1_000
    agent.take(batch)
    events = TP(agent.events_topic, 0)
    assert agent.cursors[events].events_fetched_at == 1_000
    assert agent.cursors[DELIVERY].unacked
    revoked = {TP(topic, 0) for topic in (*agent.names.inputs, agent.names.accounts,
                                          agent.names.events)}  # fmt: skip
    await agent._on_revoked(agent.rt.app, revoked)
    assert not set(agent.cursors) & revoked  # no stale fetch time survives


class _SentReports:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, dict[str, Any]]] = []

    async def send(self, topic: str, value: bytes, **kwargs: Any) -> asyncio.Future[None]:
        self.sent.append((topic, value, kwargs))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


async def published(agent: GuardAgent) -> None:
    """Wait for the reports handed to the producer apart from the flush."""
    if agent.publishing is not None:
        await agent.publishing


@pytest.fixture
def reporting(agent: GuardAgent, monkeypatch: pytest.MonkeyPatch) -> _SentReports:
    """The agent reports to a recording producer, as often as asked."""
    producer = _SentReports()
    agent.producer = producer  # type: ignore[assignment]
    agent.fence_floor = {}
    monkeypatch.setattr("agents.progress.REPORT_INTERVAL_S", 0.0)
    monkeypatch.setattr(agent, "_assigned_inputs", lambda: [DELIVERY])
    monkeypatch.setattr(consumer_of(agent), "end_offset", lambda tp: 0)
    return producer


async def test_idle_with_events_held_reports_again_to_wake_the_guard(
    agent: GuardAgent, reporting: _SentReports, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing changed since the last report, but events are held: reported again (not
    only at the heartbeat), so each guard partition judges them on fresher news. One
    record on sendguard.progress, whatever the partition count."""
    held = 0
    monkeypatch.setattr(agent.ingest, "held", lambda: held)
    agent.last_take = time.monotonic() - 1
    await agent._report_progress()
    await published(agent)
    assert [(t, k) for t, _, k in reporting.sent] == [(agent.names.progress, {
        "partition": 0, "timestamp_ms": reporting.sent[0][2]["timestamp_ms"]})]  # fmt: skip
    await agent._report_progress()
    assert len(reporting.sent) == 1  # nothing new, nothing held: quiet
    held = 3
    await agent._report_progress()
    await published(agent)
    assert len(reporting.sent) == 2  # events held: reported again
    await agent._report_progress()
    assert len(reporting.sent) == 2  # at most every WAKE_HELD_AFTER_S


async def test_a_report_is_fenced_by_the_forwards_acknowledged_and_the_ends_at_assignment(
    agent: GuardAgent, reporting: _SentReports
) -> None:
    agent.fence_floor = None  # assigned, the topic's ends not learned yet: no report
    assert agent._snapshot() is None
    agent.fence_floor = {0: 3, 1: 5}
    sources = agent._snapshot()
    agent.forwarded = {1: 7}  # acknowledged by the flush after the snapshot
    agent._send_report(sources)
    await published(agent)
    ((_, value, _),) = reporting.sent
    report = unwrap(value)
    assert isinstance(report, ProgressReport)
    assert report.fences == {0: 3, 1: 7}
    assert set(report.sources) == {"email.delivery/0"}


async def test_reports_read_from_the_topic_wait_for_their_fences(agent: GuardAgent) -> None:
    """A report whose fence partition 0 has not read is kept; a record that is not a
    report is dead-lettered; a report of another deployment sharing the topics (its app
    id) is skipped; nothing is flushed before the agent's stream runs."""
    events = TP(agent.events_topic, 0)
    consumer_of(agent)._reading.sought(events, 0, start=True)
    agent.ingest.assigned([events])
    report = ProgressReport(reporter="w", reported_at=time.time(), sources={}, fences={0: 4},
                            group="shell")  # fmt: skip
    elsewhere = ProgressReport(reporter="v", reported_at=time.time(), sources={},
                               group="another-deployment")  # fmt: skip
    await agent._apply_progress([
        SimpleNamespace(offset=n, partition=0, key=None, value=value)
        for n, value in enumerate([b"P" + msgspec.json.encode(report), b"Pnot json",
                                   b"P" + msgspec.json.encode(elsewhere)])
    ])  # fmt: skip
    assert len(agent.ingest.gate) == 1  # another app id's report is not this group's news
    (letter,) = agent.outbox.queued()
    assert letter[0] == agent.names.dead_letter
    assert b"undecodable internal record" in (letter[3] or b"")
    agent.take(delivered(events, 0, 3, value=b"Znot ours"))
    assert len(agent.ingest.gate) == 0  # read past its fence with that batch: applied


async def test_a_failed_seek_while_the_flow_is_stopped_does_not_end_getmany(
    agent: GuardAgent, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """faust's getmany logs a failed seek to the committed offsets (a broker away for a
    moment) and goes on; the guard's copy of it must too, or the fetch loop dies."""
    consumer = consumer_of(agent)

    async def no_records(timeout: float) -> tuple[dict[TP, list[Any]], None]:
        return {DELIVERY: []}, None

    async def broker_away() -> None:
        raise ConnectionError("coordinator not available")

    monkeypatch.setattr(consumer, "_wait_next_records", no_records)
    monkeypatch.setattr(consumer, "perform_seek", broker_away)
    consumer.flow_active = False
    assert [item async for item in consumer.getmany(0.1)] == []
    assert "seek to the committed offsets failed" in caplog.text


async def test_acks_go_in_order_per_partition_and_a_held_batch_pins_only_its_own(
    agent: GuardAgent,
) -> None:
    consumer = consumer_of(agent)
    app = agent.rt.app
    other = TP("email.bounce", 0)
    batches = {}
    for tp in (DELIVERY, other):
        consumer._committed_offset[tp] = 0
        agent.cursors[tp] = Cursor()
        for first in (0, 10, 20):
            take = delivered(tp, first, first + 9)
            batches[(tp, first)] = batch = Batch(tp.partition, take)
            agent.cursors[tp].unacked.append(batch)
    app.consumer_generation_id = batches[(DELIVERY, 0)].handle.message.generation_id
    batches[(DELIVERY, 10)].held = 1  # an event of it waits for the watermark
    await agent._ack(_FakeStream(app), agent._ready_to_ack())
    assert consumer._new_offset(DELIVERY) == 10  # the first only: the held one pins 20..29
    assert consumer._new_offset(other) == 30
    assert list(agent.cursors[DELIVERY].unacked) == [batches[(DELIVERY, 10)],
                                                     batches[(DELIVERY, 20)]]  # fmt: skip
    assert not agent.cursors[other].unacked
    batches[(DELIVERY, 10)].held = 0
    await agent._ack(_FakeStream(app), agent._ready_to_ack())
    assert consumer._new_offset(DELIVERY) == 30 and agent.cursors[DELIVERY].acked_through == 29


class _SlowBroker:
    """A producer whose sends the broker acknowledges only once ``release`` is set; it
    notes, at each send, how far faust may commit ``DELIVERY``."""

    def __init__(self, consumer: BatchingConsumer) -> None:
        self.consumer = consumer
        self.release = asyncio.Event()
        self.sends: list[tuple[str, int, int | None]] = []
        self.acks: list[asyncio.Task[None]] = []

    def create_batch(self) -> Any:
        batch = SimpleNamespace(records=[])
        batch.append = lambda **record: batch.records.append(record) or True
        return batch

    async def send_batch(self, batch: Any, topic: str, partition: int) -> asyncio.Future[Any]:
        self.sends.append((topic, len(batch.records), self.consumer._new_offset(DELIVERY)))
        acked: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        async def acknowledge() -> None:
            await self.release.wait()
            acked.set_result(SimpleNamespace(offset=0))

        self.acks.append(asyncio.ensure_future(acknowledge()))
        return acked


async def test_a_batch_taken_while_a_flush_waits_for_the_broker_goes_with_the_next_one(
    agent: GuardAgent,
) -> None:
    """The guard takes batches while a flush waits for the broker. What it takes then is
    neither published nor acknowledged by that flush (its work is not durable yet): the
    flush asked for meanwhile follows, and acknowledges it."""
    app, consumer = agent.rt.app, consumer_of(agent)
    broker = _SlowBroker(consumer)
    agent.producer = broker  # type: ignore[assignment]
    consumer._reading.sought(DELIVERY, 0, start=True)
    consumer._committed_offset[DELIVERY] = 0
    first = delivered(DELIVERY, 0, 0, value=b"{not json")
    app.consumer_generation_id = first.message.generation_id
    stream = _FakeStream(app)
    agent.take(first)
    await agent._request_flush(stream)
    while not broker.sends:
        await asyncio.sleep(0)  # the flush took the first dead letter; it waits
    agent.take(delivered(DELIVERY, 1, 1, value=b"[]"))
    assert len(agent.outbox) == 1  # the second's dead letter: for the next flush
    await agent._request_flush(stream)
    assert agent.flush_task is not None and not agent.flush_task.done()
    broker.release.set()
    await agent.flush_task
    # One dead letter per flush; the second flush sent when only the first was acked.
    assert broker.sends == [(agent.names.dead_letter, 1, None),
                            (agent.names.dead_letter, 1, 1)]  # fmt: skip
    assert consumer._new_offset(DELIVERY) == 2 and not agent.working


async def test_a_backlog_is_committed_as_soon_as_the_guard_is_idle(
    agent: GuardAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past ``BACKLOG_RECORDS`` acknowledged, an idle guard commits at once; short of it,
    busy, or stopping, it leaves the commit to faust's timer."""
    app = agent.rt.app
    commits: list[None] = []

    async def commit(*args: Any, **kwargs: Any) -> bool:
        commits.append(None)
        return True

    monkeypatch.setattr(app.consumer, "commit", commit)
    monkeypatch.setattr("agents.guard.BACKLOG_RECORDS", 15)
    consumer_of(agent)._committed_offset[DELIVERY] = 0
    agent.cursors[DELIVERY] = Cursor()
    for first in (0, 10):
        take = delivered(DELIVERY, first, first + 9)
        app.consumer_generation_id = take.message.generation_id
        agent.cursors[DELIVERY].unacked.append(Batch(take.message.partition, take))
    await agent._ack(_FakeStream(app), agent._ready_to_ack())
    assert agent.acked_since_commit == 20

    agent.working = True
    agent._commit_backlog()
    assert agent.committing is None
    agent.working = False
    agent._commit_backlog()
    assert agent.committing is not None and await agent.committing
    assert len(commits) == 1 and agent.acked_since_commit == 0
    agent._commit_backlog()  # nothing acknowledged since
    agent.acked_since_commit, agent.stopping = 20, True
    agent._commit_backlog()
    await asyncio.sleep(0)
    assert len(commits) == 1
