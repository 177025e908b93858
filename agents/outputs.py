"""What a lane's steps publish: the difference between the live policy and a shadow.

The live policy's decisions, suppressions and status records are what downstream
sending services obey; a shadow policy's decisions go to ``sendguard.shadow-decisions``
for comparison and nothing else (no suppressions, no status, not in the latency metric).
Each lane of ``agents.ingest`` is given one of these, as the replay's lanes are given a
sink (``offline.lanes``).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Protocol

from agents.census import AccountCensus
from agents.outbox import Outbox
from policy.guard import Step
from schemas.parse import encode
from schemas.types import Decision
from streams.metrics import Metrics
from streams.partitioning import account_partition
from streams.topics import TopicNames

log = logging.getLogger("sendguard.ingest")


class DecisionStore(Protocol):
    def record_decision(self, decision: Decision, value: bytes) -> None: ...


class Output(Protocol):
    #: the ``policy`` label of the decision metric
    name: str
    #: whether the lane's guards suppress recipients (``policy.guard.Guard``)
    suppresses: bool
    #: whether its decisions are timed for the decision-latency metric
    timed: bool

    def publish(self, step: Step, store: DecisionStore) -> None: ...


def millis(moment: datetime) -> int:
    """A record timestamp (epoch ms) of a time."""
    return int(moment.timestamp() * 1000)


class _Decisions:
    """Queue a step's decisions on one topic, keep them for the account's list, count and
    log them."""

    def __init__(
        self, outbox: Outbox, topic: str, metrics: Metrics, name: str, log_prefix: str
    ) -> None:
        self.outbox = outbox
        self.topic = topic
        self.metrics = metrics
        self.name = name
        self._prefix = log_prefix

    def publish(self, step: Step, store: DecisionStore) -> None:
        key = step.account_id.encode()
        for decision in step.outcome.decisions:
            value = encode(decision)
            self.outbox.add(self.topic, key, value, millis(decision.decided_at))
            store.record_decision(decision, value)
            self.metrics.decisions.labels(
                action=decision.action, reason=decision.reason, channel=decision.channel,
                policy=self.name,
            ).inc()  # fmt: skip
            log.info(
                "%sdecision %s %s/%s reason=%s period=%s trigger=%s id=%s", self._prefix,
                decision.action, decision.account_id, decision.channel, decision.reason,
                decision.period, decision.trigger_event_id, decision.decision_id,
            )  # fmt: skip


class LiveOutput(_Decisions):
    """Decisions, suppressions and status records: what the sending services obey."""

    suppresses = True
    timed = True

    def __init__(self, outbox: Outbox, names: TopicNames, metrics: Metrics,
                 census: AccountCensus, partitions: int) -> None:  # fmt: skip
        super().__init__(outbox, names.decisions, metrics, "live", "")
        self.names = names
        self.census = census
        self.partitions = partitions

    def publish(self, step: Step, store: DecisionStore) -> None:
        super().publish(step, store)
        outbox, names = self.outbox, self.names
        for suppression in step.suppressions:
            outbox.add(names.suppressions, suppression.key.encode(), encode(suppression),
                       millis(suppression.suppressed_at))  # fmt: skip
            self.metrics.suppressions.labels(reason=suppression.reason).inc()
        if step.status is not None:
            outbox.add(names.account_status, step.account_id.encode(), encode(step.status),
                       millis(step.status.updated_at))  # fmt: skip
            self.census.published(
                account_partition(step.account_id, self.partitions), step.account_id,
                {name: channel.state for name, channel in step.status.channels.items()},
            )  # fmt: skip


class ShadowOutput(_Decisions):
    """Decisions alone, on their own topic: nothing downstream obeys them."""

    suppresses = False
    timed = False

    def __init__(self, outbox: Outbox, names: TopicNames, metrics: Metrics) -> None:
        super().__init__(outbox, names.shadow_decisions, metrics, "shadow", "shadow ")
