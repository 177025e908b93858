"""The account state machine shared by the streaming worker and the offline replay.

Both call these functions and nothing else decides, so a replay reproduces the stream's
decisions exactly, ids included. Every function is pure apart from mutating the
:class:`AccountState` it is given; the clock is the ``now`` argument.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Literal

import msgspec

from policy.advice import advice
from policy.config import Policy
from policy.errors import AccountMismatch, NotSuspended
from policy.rules import Verdict, evaluate, make_evidence
from policy.state import (
    MAX_CAMPAIGNS,
    MAX_LISTINGS,
    AccountState,
    CampaignCounts,
    ChannelState,
    PeriodCounts,
)
from schemas.types import (
    CHANNELS,
    AccountMeta,
    AccountStatus,
    Channel,
    ChannelStatus,
    Decision,
    Event,
    Suppression,
    SuppressionReason,
)

__all__ = [
    "Outcome",
    "RestoreReason",
    "account_status",
    "apply_event",
    "apply_meta",
    "apply_restore",
    "decision_id",
    "period_of",
]

RestoreReason = Literal["appeal_approved", "review_approved"]


@dataclass
class Outcome:
    """What one step produced: records to publish, and whether to republish the status."""

    decisions: list[Decision] = field(default_factory=list)
    suppressions: list[Suppression] = field(default_factory=list)
    status_changed: bool = False


def period_of(moment: datetime) -> str:
    """The ``YYYY-MM`` calendar month (UTC) of an aware datetime.

    A naive time is refused: guessing its zone would move month-end events across months.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment!r}: pass a timezone-aware time")
    utc = moment.astimezone(UTC)
    return f"{utc.year:04d}-{utc.month:02d}"


def decision_id(*parts: str | None) -> str:
    """A deterministic id: the first 32 hex chars of sha256 over the identifying parts.

    A unit separator joins the parts so that no two different tuples hash the same text.
    """
    text = "\x1f".join("" if part is None else part for part in parts)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def apply_event(
    policy: Policy,
    state: AccountState,
    event: Event,
    meta: AccountMeta | None,
    now: datetime,
    watermark: datetime | None = None,
) -> Outcome:
    """Fold one validated event into ``state`` and return the decisions it tips.

    The worker de-duplicates events (by id and offset) before calling this; the engine
    counts whatever it is given. ``watermark`` is the event time before which no more
    events are expected (None: unknown); old months are pruned by it, not by ``now``.
    """
    _check_account(state, event.account_id)
    outcome = Outcome()
    if meta is not None and _enter_review(state, meta, now):
        outcome.status_changed = True
    channel = state.channel(event.channel)
    period = event.period
    if period > channel.period:
        if channel.period and _warning_expires(channel, now):
            outcome.status_changed = True
        channel.period = period
    _prune(channel, policy, period, now if watermark is None else min(now, watermark))
    counts = channel.counts(period)
    channel_policy = policy.channel(event.channel)
    on_probation = (channel.probation_until is not None
                    and event.occurred_at < channel.probation_until
                    and channel_policy.probation is not None)  # fmt: skip
    if on_probation:
        channel_policy = channel_policy.on_probation
    _count(channel, counts, event, period, channel_policy.campaign is not None)
    for verdict in evaluate(channel_policy, counts, channel, event):
        if on_probation and channel_policy.probation is not None:
            verdict.evidence.probation_factor = channel_policy.probation.factor
        decision = _decide(policy, state, event, period, verdict, now)
        outcome.decisions.append(decision)
        if _apply_verdict(channel, period, verdict, now):
            outcome.status_changed = True
            channel.banner = decision.advice
    suppression = _suppression(event, now)
    if suppression is not None:
        outcome.suppressions.append(suppression)
    return outcome


def apply_meta(policy: Policy, state: AccountState, meta: AccountMeta, now: datetime) -> Outcome:
    """Account metadata arrived: an account that needs a review is held until it passes."""
    _check_account(state, meta.account_id)
    return Outcome(status_changed=_enter_review(state, meta, now))


def apply_restore(
    policy: Policy,
    state: AccountState,
    channel: Channel,
    reason: RestoreReason,
    ref: str,
    now: datetime,
    decided_by: str | None = None,
) -> Outcome:
    """Restore a suspended or under-review channel after an appeal or a review, by the
    operator named ``decided_by``.

    ``ref`` (the appeal or review id) makes the decision id, so retrying the same operator
    action yields the same id. The channel starts its month again: its counts, campaign
    counts, cancelled-campaign counts and issued warnings are cleared in every retained
    month, so a channel that goes bad again is warned before it is suspended. Listings
    in force stay, and suppressions are not touched. Approving a review lifts only the
    review: a channel suspended meanwhile (a spam trap, an abuse complaint) stays so.
    """
    chan = state.channel(channel)
    wanted = ("under_review",) if reason == "review_approved" else ("suspended", "under_review")
    if chan.status.state not in wanted:
        detail = f" ({chan.status.reason})" if chan.status.reason else ""
        raise NotSuspended(
            f"account {state.account_id!r} channel {channel!r} is {chan.status.state}{detail}, "
            + ("not under review: approving the review does not lift a suspension"
               if reason == "review_approved" else "not suspended or under review")
        )  # fmt: skip
    period = chan.period or period_of(now)
    counts = chan.periods.get(period, PeriodCounts())
    decision = Decision(
        decision_id=decision_id(state.account_id, channel, "restore", reason, "ref", ref),
        account_id=state.account_id,
        channel=channel,
        action="restore",
        reason=reason,
        suspension_type=None,
        campaign_id=None,
        period=period,
        evidence=make_evidence(counts, rate=None, limit=None),
        trigger_event_id=None,
        policy_version=policy.version,
        decided_at=now,
        decided_by=decided_by,
    )
    chan.periods.clear()
    chan.campaign_counts.clear()
    chan.cancelled_campaigns.clear()
    chan.warned.clear()
    chan.banner = None
    probation = policy.channel(channel).probation
    chan.probation_until = None if probation is None else now + timedelta(days=probation.days)
    chan.status = ChannelStatus(state="active", reason=reason, since=now, decided_by=decided_by)
    if reason == "review_approved":
        state.review_approved = True
    return Outcome(decisions=[decision], status_changed=True)


def account_status(state: AccountState, now: datetime) -> AccountStatus:
    """The ``sendguard.account-status`` record; both channels are always present."""
    channels: dict[str, ChannelStatus] = {}
    for name in CHANNELS:
        chan = state.channels.get(name)
        channels[name] = (
            msgspec.structs.replace(chan.status, probation_until=chan.probation_until)
            if chan else ChannelStatus()
        )  # fmt: skip
    return AccountStatus(account_id=state.account_id, channels=channels, updated_at=now)


def _check_account(state: AccountState, account_id: str) -> None:
    if account_id != state.account_id:
        raise AccountMismatch(
            f"record of account {account_id!r} applied to state of {state.account_id!r}"
        )


def _enter_review(state: AccountState, meta: AccountMeta, now: datetime) -> bool:
    """Hold marketing for review; True if the status changed.

    Only an active or warned channel moves: a suspension is never softened into a review,
    and an account that passed its review is not held again.
    """
    if not meta.review_required or state.review_approved:
        return False
    marketing = state.channel("marketing")
    if marketing.status.state not in ("active", "warned"):
        return False
    marketing.status = ChannelStatus(state="under_review", since=now)
    return True


def _warning_expires(channel: ChannelState, now: datetime) -> bool:
    """A new month starts for the channel: a warning of the last one no longer holds.

    Warnings are issued per month; the new month's counts start at zero and are judged
    afresh. True if the channel's status changed.
    """
    if channel.status.state != "warned":
        return False
    channel.status = ChannelStatus(state="active", since=now)
    channel.banner = None
    return True


def _prune(channel: ChannelState, policy: Policy, keep: str, reference: datetime) -> None:
    """Drop months no event can still arrive for; never the month being counted into.

    ``reference`` is an event time (the watermark, capped at now): an event accepted
    before midnight and counted after it must still find its month.
    """
    oldest = _oldest_period(reference.date(), policy.late_grace_days)
    if oldest is None:  # the watermark still at the beginning of time: nothing is old
        return
    # A campaign's month always has counts in ``periods`` too, so it needs no check here.
    if all(
        key >= oldest for table in (channel.periods, channel.cancelled_campaigns) for key in table
    ) and all(w >= oldest for w in channel.warned):
        return  # the usual case: nothing to drop

    def stale(period: str) -> bool:
        return period < oldest and period != keep

    for table in (channel.periods, channel.cancelled_campaigns):
        for period in [p for p in table if stale(p)]:
            del table[period]
    for campaign_id in [c for c, counts in channel.campaign_counts.items() if stale(counts.period)]:
        del channel.campaign_counts[campaign_id]
    channel.warned = [w for w in channel.warned if not stale(w.partition("/")[0])]


@functools.lru_cache(maxsize=64)
def _oldest_period(day: date, grace_days: int) -> str | None:
    """The month of the oldest day an event can still be counted for on ``day`` (None:
    before the first day there is)."""
    try:
        oldest = day - timedelta(days=grace_days)
    except OverflowError:
        return None
    return f"{oldest.year:04d}-{oldest.month:02d}"


def _count(
    channel: ChannelState, counts: PeriodCounts, event: Event, period: str, campaigns: bool
) -> None:
    kind = event.kind
    hard = kind == "bounce" and event.bounce_type == "hard"
    if kind == "delivery":
        counts.sent += 1
    elif hard:
        counts.hard_bounces += 1
    elif kind == "bounce":
        counts.soft_bounces += 1
    elif kind == "unsubscribe":
        counts.unsubscribes += 1
    elif kind == "spam_report":
        counts.spam_reports += 1
    elif kind == "abuse_complaint":
        counts.abuse_complaints += 1
    elif kind == "spam_trap":
        counts.spam_trap_hits += 1
    elif kind == "blocklist":
        _count_listing(channel, event)
    if campaigns and event.campaign_id is not None and (kind == "delivery" or hard):
        campaign = _active_campaign(channel.campaign_counts, event.campaign_id)
        if period > campaign.period:
            campaign.period = period
        if hard:
            campaign.hard_bounces += 1
        else:
            campaign.sent += 1


def _active_campaign(campaigns: dict[str, CampaignCounts], campaign_id: str) -> CampaignCounts:
    """The counts of a campaign that has an event now, moved to the end (most recently
    active); a new one past :data:`MAX_CAMPAIGNS` makes room by forgetting the least
    recently active."""
    campaign = campaigns.pop(campaign_id, None)
    if campaign is None:
        campaign = CampaignCounts()
        while len(campaigns) >= MAX_CAMPAIGNS:
            del campaigns[next(iter(campaigns))]
    campaigns[campaign_id] = campaign
    return campaign


def _count_listing(channel: ChannelState, event: Event) -> None:
    listing = f"{event.blocklist}|{event.ip or event.domain or ''}"
    listings = channel.blocklists
    if event.listed and listing not in listings:
        if len(listings) >= MAX_LISTINGS:
            del listings[0]
        listings.append(listing)
    elif not event.listed and listing in listings:
        listings.remove(listing)


def _decide(
    policy: Policy, state: AccountState, event: Event, period: str, verdict: Verdict, now: datetime
) -> Decision:
    return Decision(
        decision_id=decision_id(
            state.account_id,
            event.channel,
            verdict.action,
            verdict.reason,
            period,
            verdict.campaign_id,
            "event",
            event.event_id,
        ),
        account_id=state.account_id,
        channel=event.channel,
        action=verdict.action,
        reason=verdict.reason,
        suspension_type=verdict.suspension_type,
        campaign_id=verdict.campaign_id,
        period=period,
        evidence=verdict.evidence,
        trigger_event_id=event.event_id,
        policy_version=policy.version,
        decided_at=now,
        advice=advice(verdict.action, verdict.reason, verdict.evidence, event.channel),
    )


def _apply_verdict(channel: ChannelState, period: str, verdict: Verdict, now: datetime) -> bool:
    """Record ``verdict`` in the channel; True if the channel's status changed."""
    if verdict.action == "cancel_campaign" and verdict.campaign_id is not None:
        channel.campaign_counts[verdict.campaign_id].cancelled = True
        channel.cancelled_campaigns[period] = channel.cancelled_campaigns.get(period, 0) + 1
        return False
    if verdict.action == "warn":
        channel.warned.append(f"{period}/{verdict.reason}")
        if channel.status.state not in ("active", "warned"):
            return False
        # A later warning names the newest problem, and when it was found.
        channel.status = ChannelStatus(state="warned", reason=verdict.reason, since=now)
        return True
    if verdict.action == "suspend":
        channel.status = ChannelStatus(
            state="suspended",
            reason=verdict.reason,
            suspension_type=verdict.suspension_type,
            since=now,
        )
        return True
    return False


_SUPPRESSED_KINDS: dict[str, SuppressionReason] = {
    "unsubscribe": "unsubscribe",
    "spam_report": "spam_report",
}


def _suppression(event: Event, now: datetime) -> Suppression | None:
    """A suppression candidate; the caller emits it once per account and recipient."""
    if event.recipient is None:
        return None
    if event.kind == "bounce" and event.bounce_type == "hard":
        reason: SuppressionReason = "hard_bounce"
    elif event.kind in _SUPPRESSED_KINDS:
        reason = _SUPPRESSED_KINDS[event.kind]
    else:
        return None
    return Suppression(
        account_id=event.account_id,
        recipient=event.recipient.lower(),
        reason=reason,
        suppressed_at=now,
        event_id=event.event_id,
    )
