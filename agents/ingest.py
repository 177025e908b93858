"""Ingest: validate and normalise input events, re-key them by account, dead-letter rejects.

Producers may key input messages any way they like; after this agent every record of one
account is on one partition of ``sendguard.events``, so the guard sees them in one order
whatever key or partition they arrived on.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec

from agents.envelope import PROGRESS, wrap
from agents.progress import SourceProgress
from schemas.parse import InvalidEvent, dead_letter, encode, parse_account, parse_event
from schemas.types import AccountMeta, Event
from streams.app import Runtime

log = logging.getLogger("sendguard.ingest")
LATE_PREFIX = "occurred_at: older than"
REPORT_INTERVAL_S = 0.25


def register(rt: Runtime) -> None:
    prefix = rt.settings.topic_prefix
    grace = rt.policy.late_grace_days
    progress = SourceProgress(reporter=uuid.uuid4().hex)
    # Account metadata is a watermark source too, without event times: until its
    # partitions are caught up they hold counting back, so an account's metadata (e.g.
    # review_required) is in place before its events count, as in a replay.
    input_topics = set(rt.topics.inputs.topics)
    reported_topics = input_topics | set(rt.topics.accounts.topics)

    def source_name(topic: str) -> str:
        return topic[len(prefix) :] if prefix and topic.startswith(prefix) else topic

    async def reject(message: Any, topic: str, reason: str) -> None:
        outcome = "late" if reason.startswith(LATE_PREFIX) else "invalid"
        rt.metrics.events.labels(topic=topic, outcome=outcome).inc()
        log.info("rejected %s[%s]@%s: %s", topic, message.partition, message.offset, reason)
        record = dead_letter(topic, message.partition, message.offset, reason, message.value)
        await rt.topics.dead_letter.send(key=message.key, value=encode(record))

    async def forward(record: Event | AccountMeta, timestamp_ms: int | None) -> None:
        # The input's append time travels on, for the event-to-decision latency metric.
        await rt.topics.events.send(
            key=record.account_id.encode(),
            value=wrap(record),
            timestamp=timestamp_ms / 1000 if timestamp_ms else None,
        )

    def parse(topic: str, value: bytes | None) -> Event | AccountMeta:
        if value is None:
            raise InvalidEvent("empty message (null value)")
        if topic == "accounts":
            return parse_account(value)
        return parse_event(topic, value, now=datetime.now(UTC), late_grace_days=grace)

    async def consume(stream: Any) -> None:
        async for event in stream.events():
            message = event.message
            topic = source_name(message.topic)
            occurred_at = None
            try:
                record = parse(topic, message.value)
            except InvalidEvent as exc:
                await reject(message, topic, exc.reason)
            except Exception as exc:  # a bug must not stop the stream: dead-letter it
                log.exception("unexpected error parsing %s@%s", topic, message.offset)
                await reject(message, topic, f"internal error: {type(exc).__name__}: {exc}")
            else:
                await forward(record, message.timestamp)
                if isinstance(record, Event):
                    occurred_at = record.occurred_at
            progress.forwarded(message.tp, message.offset, occurred_at)
            rt.liveness.progressed("ingest", message.tp, message.offset)

    @rt.app.timer(REPORT_INTERVAL_S)
    async def report_progress() -> None:
        """Tell every guard partition how far each input partition has been forwarded."""
        consumer = rt.app.consumer
        assigned = [tp for tp in consumer.assignment() if tp.topic in reported_topics]
        if not assigned:
            return
        highwater = {tp: consumer.highwater(tp) for tp in assigned}
        committed = {tp: consumer._committed_offset.get(tp) for tp in assigned}
        sources = progress.snapshot(assigned, highwater, committed)
        report = progress.report_if_due(sources)
        if report is None:
            return
        value = PROGRESS + msgspec.json.encode(report)
        events_topic = rt.topics.events.get_topic_name()
        # While a restarted broker has no metadata yet, aiokafka asserts on an explicit
        # partition and the assertion kills faust's producer task: skip this report.
        metadata = rt.app.producer._ensure_producer()._metadata
        if not metadata.partitions_for_topic(events_topic):
            return
        for partition in range(rt.input_partitions.get(events_topic, 0)):
            await rt.topics.events.send(key=None, value=value, partition=partition)

    @rt.app.on_partitions_revoked.connect
    async def on_revoked(app: Any, revoked: set[Any], **kwargs: Any) -> None:
        progress.forget(revoked)

    rt.app.agent(rt.topics.inputs, name="sendguard.ingest", concurrency=1)(consume)
    rt.app.agent(rt.topics.accounts, name="sendguard.ingest-accounts", concurrency=1)(consume)
