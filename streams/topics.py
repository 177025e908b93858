"""Topic names of the contract and the configs Sendguard creates its own topics with."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from schemas.appeals import APPEALS_TOPIC
from schemas.types import ACCOUNTS_TOPIC, TOPIC_KINDS

INPUT_TOPICS: tuple[str, ...] = tuple(TOPIC_KINDS)
EVENTS = "sendguard.events"
DECISIONS = "sendguard.decisions"
SHADOW_DECISIONS = "sendguard.shadow-decisions"
ACCOUNT_STATUS = "sendguard.account-status"
SUPPRESSIONS = "sendguard.suppressions"
DEAD_LETTER = "sendguard.dead-letter"
NOTIFICATIONS = "sendguard.notifications"
APPEALS = APPEALS_TOPIC
TOKEN_REVOCATIONS = "sendguard.token-revocations"
PROGRESS = "sendguard.progress"


class TopicPartition(NamedTuple):
    """One partition of a topic. A tuple like faust's ``TP`` and aiokafka's: equal to
    theirs, with the same hash, so either can look up what is keyed by the other."""

    topic: str
    partition: int


COMPACTED = {"cleanup.policy": "compact"}
APPEND_ONLY = {"cleanup.policy": "delete"}


#: The appeals' audit trail is kept until someone deletes it: every worker reads it whole
#: for the appeals queue (``api.appeal_index``), and an appeal may wait longer than a
#: broker's default retention (7 days). Appeals come at a human rate.
AUDIT_TRAIL = {"cleanup.policy": "delete", "retention.ms": "-1"}

#: Progress reports matter for seconds (``agents.progress``): an hour of them is kept.
SHORT_LIVED = {"cleanup.policy": "delete", "retention.ms": "3600000",
               "segment.ms": "600000"}  # fmt: skip


@dataclass(frozen=True)
class TopicSpec:
    name: str
    config: dict[str, str]
    #: a fixed partition count (None: ``SENDGUARD_PARTITIONS``)
    partitions: int | None = None


OUTPUT_SPECS: tuple[TopicSpec, ...] = (
    TopicSpec(EVENTS, APPEND_ONLY),
    TopicSpec(DECISIONS, APPEND_ONLY),
    TopicSpec(SHADOW_DECISIONS, APPEND_ONLY),
    TopicSpec(ACCOUNT_STATUS, COMPACTED),
    TopicSpec(SUPPRESSIONS, COMPACTED),
    TopicSpec(DEAD_LETTER, APPEND_ONLY),
    TopicSpec(NOTIFICATIONS, APPEND_ONLY),
    TopicSpec(APPEALS, AUDIT_TRAIL),
    TopicSpec(TOKEN_REVOCATIONS, COMPACTED),
    # One partition, read whole by every worker, in the order the reports were written.
    TopicSpec(PROGRESS, SHORT_LIVED, partitions=1),
)
ACCOUNTS = ACCOUNTS_TOPIC


@dataclass(frozen=True)
class TopicNames:
    """The (prefixed) names of the topics the guard reads and writes."""

    inputs: Mapping[str, str]
    """prefixed input topic -> its contract name"""
    accounts: str
    events: str
    decisions: str
    shadow_decisions: str
    account_status: str
    suppressions: str
    dead_letter: str
    appeals: str
    notifications: str
    token_revocations: str
    progress: str

    @classmethod
    def prefixed(cls, prefix: str) -> TopicNames:
        return cls(
            inputs={prefix + name: name for name in INPUT_TOPICS},
            accounts=prefix + ACCOUNTS,
            events=prefix + EVENTS,
            decisions=prefix + DECISIONS,
            shadow_decisions=prefix + SHADOW_DECISIONS,
            account_status=prefix + ACCOUNT_STATUS,
            suppressions=prefix + SUPPRESSIONS,
            dead_letter=prefix + DEAD_LETTER,
            appeals=prefix + APPEALS,
            notifications=prefix + NOTIFICATIONS,
            token_revocations=prefix + TOKEN_REVOCATIONS,
            progress=prefix + PROGRESS,
        )
