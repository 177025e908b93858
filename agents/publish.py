"""Publish what a guard step produced, and wait until the broker has it.

The guard writes a step's state only after this returns, so a crash can repeat a record
(same id) but never lose one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import msgspec

from policy.guard import Step
from schemas.parse import encode
from streams.app import Runtime

log = logging.getLogger("sendguard.guard")


class Publisher:
    def __init__(self, rt: Runtime) -> None:
        self.topics = rt.topics
        self.metrics = rt.metrics
        self._published_states: dict[str, dict[str, str]] = {}

    async def step(self, step: Step, source_timestamp: float | None = None) -> None:
        pending: list[Any] = []
        account_key = step.state.account_id.encode()
        for decision in step.outcome.decisions:
            pending.append(
                await self.topics.decisions.send(key=account_key, value=encode(decision))
            )
            self.metrics.decisions.labels(
                action=decision.action, reason=decision.reason, channel=decision.channel
            ).inc()
            log.info(
                "decision %s %s/%s reason=%s period=%s trigger=%s id=%s",
                decision.action, decision.account_id, decision.channel, decision.reason,
                decision.period, decision.trigger_event_id, decision.decision_id,
            )  # fmt: skip
        for suppression in step.suppressions:
            pending.append(
                await self.topics.suppressions.send(
                    key=suppression.key.encode(), value=encode(suppression)
                )
            )
            self.metrics.suppressions.labels(reason=suppression.reason).inc()
        if step.status is not None:
            pending.append(
                await self.topics.account_status.send(key=account_key, value=encode(step.status))
            )
            self._track_status(step)
        if pending:
            await asyncio.gather(*pending)
        if step.outcome.decisions and source_timestamp:
            self.metrics.decision_latency.observe(max(0.0, time.time() - source_timestamp))

    async def record(self, topic: Any, key: str, record: msgspec.Struct) -> None:
        """Publish one record (appeal audit, notification) and wait for the broker."""
        await (await topic.send(key=key.encode(), value=encode(record)))

    def _track_status(self, step: Step) -> None:
        assert step.status is not None
        account_id = step.status.account_id
        before = self._published_states.get(account_id, {})
        after = {name: channel.state for name, channel in step.status.channels.items()}
        for channel, state in before.items():
            self.metrics.accounts.labels(state=state, channel=channel).dec()
        for channel, state in after.items():
            self.metrics.accounts.labels(state=state, channel=channel).inc()
        self._published_states[account_id] = after
