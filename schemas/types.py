"""Typed records of the Sendguard contract (docs/CONTRACT.md).

msgspec structs: they validate and (de)serialise in one step and are far faster than
``faust.Record``. Input parsing with actionable reject reasons lives in ``schemas.parse``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

Channel = Literal["marketing", "crm"]
CHANNELS: tuple[Channel, ...] = ("marketing", "crm")

EventKind = Literal[
    "delivery", "bounce", "unsubscribe", "spam_report", "abuse_complaint", "spam_trap", "blocklist"
]

#: Input topic name -> the event kind its messages carry.
TOPIC_KINDS: dict[str, EventKind] = {
    "email.delivery": "delivery",
    "email.bounce": "bounce",
    "email.unsubscribe": "unsubscribe",
    "email.spam-report": "spam_report",
    "email.abuse-desk": "abuse_complaint",
    "email.spam-trap": "spam_trap",
    "email.blocklist": "blocklist",
}
ACCOUNTS_TOPIC = "accounts"

#: Kinds whose events must name a recipient (rates and suppressions are per recipient).
RECIPIENT_REQUIRED_KINDS: frozenset[EventKind] = frozenset(
    {"delivery", "bounce", "unsubscribe", "spam_report"}
)
BOUNCE_TYPES: tuple[str, ...] = ("hard", "soft")
TRAP_KINDS: tuple[str, ...] = ("pristine", "recycled", "typo")

Tier = Literal["free", "starter", "professional", "enterprise", "trial", "legacy"]
TIERS: tuple[Tier, ...] = ("free", "starter", "professional", "enterprise", "trial", "legacy")
State = Literal["active", "warned", "suspended", "under_review"]
Action = Literal["warn", "suspend", "restore", "cancel_campaign"]
Reason = Literal[
    "hard_bounce_rate",
    "spam_report_rate",
    "unsubscribe_rate",
    "abuse_complaint",
    "spam_trap",
    "blocklist",
    "repeated_cancelled_campaigns",
    "appeal_approved",
    "review_approved",
]
SuspensionType = Literal["deliverability", "fraud"]
SuppressionReason = Literal["hard_bounce", "unsubscribe", "spam_report"]


#: (year, month) -> ``YYYY-MM``: formatted once (at most 12 x 10,000 of them)
_PERIODS: dict[tuple[int, int], str] = {}


class Event(msgspec.Struct, frozen=True, kw_only=True):
    """A validated, normalised input event (recipient lower-cased, time in UTC).

    This is also the value format of the internal ``sendguard.events`` topic.
    """

    topic: str
    kind: EventKind
    event_id: str
    account_id: str
    occurred_at: datetime  # timezone-aware, UTC
    channel: Channel = "marketing"
    campaign_id: str | None = None
    recipient: str | None = None
    bounce_type: Literal["hard", "soft"] | None = None
    smtp_code: int | None = None
    diagnostic: str | None = None
    complaint_id: str | None = None
    summary: str | None = None
    trap_kind: Literal["pristine", "recycled", "typo"] | None = None
    blocklist: str | None = None
    listed: bool | None = None
    ip: str | None = None
    domain: str | None = None

    @property
    def period(self) -> str:
        """The calendar month (UTC) this event counts in, ``YYYY-MM``."""
        at = self.occurred_at
        found = _PERIODS.get((at.year, at.month))
        if found is None:
            found = _PERIODS[(at.year, at.month)] = f"{at.year:04d}-{at.month:02d}"
        return found


class AccountMeta(msgspec.Struct, frozen=True, kw_only=True):
    """Latest metadata of an account from the compacted ``accounts`` topic."""

    account_id: str
    tier: Tier = "free"
    primary_contact: str | None = None
    csm: str | None = None
    review_required: bool = False


class Evidence(msgspec.Struct, kw_only=True, omit_defaults=True):
    sent: int
    hard_bounces: int
    spam_reports: int
    unsubscribes: int
    abuse_complaints: int
    rate: float | None
    limit: float | None
    #: Under ``gating = "wilson"`` only (omitted otherwise): the rate's Wilson lower
    #: bound, its confidence, and the mode.
    lower_bound: float | None = None
    confidence: float | None = None
    gating: str | None = None
    #: Decided under probation after a restore (omitted otherwise): the limits' factor.
    probation_factor: float | None = None


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    """One message on ``sendguard.decisions``."""

    decision_id: str
    account_id: str
    channel: Channel
    action: Action
    reason: Reason
    suspension_type: SuspensionType | None
    campaign_id: str | None
    period: str
    evidence: Evidence
    trigger_event_id: str | None
    policy_version: str
    decided_at: datetime
    advice: str | None = None
    """For ``warn`` and ``suspend``: what the account should do, with its figures."""
    decided_by: str | None = None
    """For an operator's action (a ``restore``): the operator's name; else null."""


class ChannelStatus(msgspec.Struct, kw_only=True):
    state: State = "active"
    reason: Reason | None = None
    suspension_type: SuspensionType | None = None
    since: datetime | None = None
    probation_until: datetime | None = None
    """On the status record: the end of a probation after a restore (limits scaled)."""
    decided_by: str | None = None
    """The operator who set this state (a restore); null when the guard did."""


class AccountStatus(msgspec.Struct, kw_only=True):
    """One message on the compacted ``sendguard.account-status`` topic."""

    account_id: str
    channels: dict[str, ChannelStatus]
    updated_at: datetime


class Suppression(msgspec.Struct, frozen=True, kw_only=True):
    """One message on the compacted ``sendguard.suppressions`` topic."""

    account_id: str
    recipient: str
    reason: SuppressionReason
    suppressed_at: datetime
    event_id: str

    @property
    def key(self) -> str:
        return f"{self.account_id}/{self.recipient}"


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True):
    """One message on ``sendguard.dead-letter``."""

    source_topic: str
    partition: int | None
    offset: int | None
    error: str
    raw: str
