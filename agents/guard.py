"""Guard: fold each account's events into its state, publish decisions, status, suppressions.

Runs with ``concurrency=1`` (faust-streaming #606: higher values can commit past an
unprocessed message) under at-least-once delivery; ``policy.guard`` makes a replayed
message harmless. Records of a step are published and acknowledged by the broker before
the step's state is written, so a crash can repeat a record (same id) but never lose one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Any

from agents.envelope import unwrap
from policy.guard import Guard, Position, Step
from schemas.parse import encode
from schemas.types import AccountMeta
from streams.app import Runtime
from tables.store import TableStore

log = logging.getLogger("sendguard.guard")


def _now() -> datetime:
    return datetime.now(UTC)


def register(rt: Runtime) -> Guard:
    guard = Guard(rt.policy, TableStore(rt.tables), _now)
    topics, metrics = rt.topics, rt.metrics
    published_states: dict[str, dict[str, str]] = {}

    def track_status(step: Step) -> None:
        assert step.status is not None
        before = published_states.get(step.status.account_id, {})
        after = {name: ch.state for name, ch in step.status.channels.items()}
        for channel, state in before.items():
            metrics.accounts.labels(state=state, channel=channel).dec()
        for channel, state in after.items():
            metrics.accounts.labels(state=state, channel=channel).inc()
        published_states[step.status.account_id] = after

    async def publish(step: Step, source_timestamp: float | None) -> None:
        pending: list[Any] = []
        account_key = step.state.account_id.encode()
        for decision in step.outcome.decisions:
            pending.append(await topics.decisions.send(key=account_key, value=encode(decision)))
            metrics.decisions.labels(
                action=decision.action, reason=decision.reason, channel=decision.channel
            ).inc()
            log.info(
                "decision %s %s/%s reason=%s period=%s trigger=%s",
                decision.action,
                decision.account_id,
                decision.channel,
                decision.reason,
                decision.period,
                decision.trigger_event_id,
            )
        for suppression in step.suppressions:
            pending.append(
                await topics.suppressions.send(
                    key=suppression.key.encode(), value=encode(suppression)
                )
            )
            metrics.suppressions.labels(reason=suppression.reason).inc()
        if step.status is not None:
            pending.append(
                await topics.account_status.send(key=account_key, value=encode(step.status))
            )
            track_status(step)
        if pending:
            await asyncio.gather(*pending)
        if step.outcome.decisions and source_timestamp:
            metrics.decision_latency.observe(max(0.0, time.time() - source_timestamp))

    async def process(stream: Any) -> None:
        async for event in stream.events():
            message = event.message
            try:
                record = unwrap(message.value)
            except Exception:
                log.exception("undecodable record on %s@%s skipped", message.topic, message.offset)
                continue
            if isinstance(record, AccountMeta):
                step = guard.step_meta(record)
            else:
                step = guard.step(record, Position(message.partition, message.offset))
                if step.kind != "replayed":
                    outcome = "accepted" if step.kind == "applied" else "duplicate"
                    metrics.events.labels(topic=record.topic, outcome=outcome).inc()
            await publish(step, message.timestamp / 1000 if message.timestamp else None)
            guard.commit(step)
            metrics.processed.inc()
            metrics.last_progress.set(time.time())

    rt.app.agent(topics.events, name="sendguard.guard", concurrency=1)(process)
    return guard
