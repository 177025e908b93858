"""Ingest: validate and normalise input events, re-key them by account, dead-letter rejects.

Producers may key input messages any way they like; after this agent every record of one
account is on one partition of ``sendguard.events``, so the guard sees them in one order
whatever key or partition they arrived on.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from agents.envelope import wrap
from schemas.parse import InvalidEvent, dead_letter, encode, parse_account, parse_event
from schemas.types import AccountMeta, Event
from streams.app import Runtime

log = logging.getLogger("sendguard.ingest")
LATE_PREFIX = "occurred_at: older than"


def register(rt: Runtime) -> None:
    prefix = rt.settings.topic_prefix
    grace = rt.policy.late_grace_days

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
            try:
                record = parse(topic, message.value)
            except InvalidEvent as exc:
                await reject(message, topic, exc.reason)
                rt.liveness.progressed()
                continue
            except Exception as exc:  # a bug must not stop the stream: dead-letter it
                log.exception("unexpected error parsing %s@%s", topic, message.offset)
                await reject(message, topic, f"internal error: {type(exc).__name__}: {exc}")
                continue
            await forward(record, message.timestamp)
            rt.liveness.progressed()

    rt.app.agent(rt.topics.inputs, name="sendguard.ingest", concurrency=1)(consume)
    rt.app.agent(rt.topics.accounts, name="sendguard.ingest-accounts", concurrency=1)(consume)
