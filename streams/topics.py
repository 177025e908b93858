"""Topic names of the contract and the configs Sendguard creates its own topics with."""

from __future__ import annotations

from dataclasses import dataclass

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

COMPACTED = {"cleanup.policy": "compact"}
APPEND_ONLY = {"cleanup.policy": "delete"}


@dataclass(frozen=True)
class TopicSpec:
    name: str
    config: dict[str, str]


OUTPUT_SPECS: tuple[TopicSpec, ...] = (
    TopicSpec(EVENTS, APPEND_ONLY),
    TopicSpec(DECISIONS, APPEND_ONLY),
    TopicSpec(SHADOW_DECISIONS, APPEND_ONLY),
    TopicSpec(ACCOUNT_STATUS, COMPACTED),
    TopicSpec(SUPPRESSIONS, COMPACTED),
    TopicSpec(DEAD_LETTER, APPEND_ONLY),
    TopicSpec(NOTIFICATIONS, APPEND_ONLY),
    TopicSpec(APPEALS, APPEND_ONLY),
)
ACCOUNTS = ACCOUNTS_TOPIC
