"""The limits of docs/POLICY.md as one pure function: counts in, verdicts out.

:func:`evaluate` reads the counts *after* the event was counted and never mutates
anything; the engine applies its verdicts. Keeping the judgement separate from the
bookkeeping lets every rule be tested with hand-written counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from policy.config import ChannelPolicy
from policy.state import ChannelState, PeriodCounts
from schemas.types import Action, Event, Evidence, Reason, SuspensionType

__all__ = ["SUSPEND_PRECEDENCE", "Verdict", "evaluate", "rate_crossed"]

#: When several suspend limits cross on one event, the first of these is the reason.
SUSPEND_PRECEDENCE: tuple[Reason, ...] = (
    "spam_trap",
    "abuse_complaint",
    "blocklist",
    "hard_bounce_rate",
    "spam_report_rate",
    "unsubscribe_rate",
    "repeated_cancelled_campaigns",
)

#: Rate reasons -> the ``PeriodCounts`` field that is their numerator.
_RATE_FIELDS: dict[Reason, str] = {
    "hard_bounce_rate": "hard_bounces",
    "spam_report_rate": "spam_reports",
    "unsubscribe_rate": "unsubscribes",
}


@dataclass(frozen=True)
class Verdict:
    """One decision the rules reached, before the engine gives it an id and a time."""

    action: Action
    reason: Reason
    evidence: Evidence
    suspension_type: SuspensionType | None = None
    campaign_id: str | None = None


def wilson_lower(numerator: int, sent: int, z: float) -> float:
    """The Wilson score lower bound of the rate ``numerator / sent`` for quantile ``z``."""
    p = numerator / sent
    z2 = z * z
    centre = p + z2 / (2 * sent)
    margin = z * math.sqrt(p * (1 - p) / sent + z2 / (4 * sent * sent))
    return max(0.0, (centre - margin) / (1 + z2 / sent))


def _crossed(
    policy: ChannelPolicy, numerator: int, sent: int, limit: float
) -> tuple[float, float | None] | None:
    """(rate, lower bound or None) if the rate crosses ``limit`` under the channel's
    gating, else None. ``wilson``: the lower bound is above the limit, on at least
    ``floor`` sends; otherwise the contract's rule (:func:`rate_crossed`)."""
    if policy.gating != "wilson":
        rate = rate_crossed(numerator, sent, policy.min_sends, limit)
        return None if rate is None else (rate, None)
    if sent <= 0 or sent < policy.floor:
        return None
    lower = wilson_lower(numerator, sent, policy.z)
    return (numerator / sent, lower) if lower > limit else None


def rate_crossed(numerator: int, sent: int, min_sends: int, limit: float) -> float | None:
    """The rate if it crosses ``limit``, else None.

    Crossed means strictly greater, on a volume of at least ``min_sends`` deliveries
    (and at least one, since a rate of nothing is not a rate).
    """
    if sent <= 0 or sent < min_sends:
        return None
    rate = numerator / sent
    return rate if rate > limit else None


def evaluate(
    policy: ChannelPolicy, counts: PeriodCounts, channel: ChannelState, event: Event
) -> list[Verdict]:
    """Decide what ``event`` tips over, given its period's ``counts`` after counting it.

    Returns at most one ``cancel_campaign``, then either one ``suspend`` (the first
    reason of :data:`SUSPEND_PRECEDENCE`) or the ``warn`` verdicts not yet issued this
    period. A suspended or under-review channel gets nothing.

    An under-review channel is still suspended by a spam-trap hit or an abuse complaint.
    Count signals (abuse complaints, spam-trap hits, cancelled campaigns) are judged on
    every event: counts only grow until a restore resets them. Blocklistings are judged
    only on a new listing, because listings in force survive a restore, and judging them
    on every event would re-suspend a restored account on its next delivery.
    """
    state = channel.status.state
    if state == "suspended":
        return []
    if state == "under_review":
        # A review holds sending, but must not hide fraud or abuse behind it.
        fraud = _fraud_or_abuse(policy, counts)
        return [fraud] if fraud is not None else []
    verdicts: list[Verdict] = []
    cancel = _campaign_cancel(policy, channel, event)
    if cancel is not None:
        verdicts.append(cancel)
    suspend = _suspend(policy, counts, channel, event, cancelled_now=cancel is not None)
    if suspend is not None:
        verdicts.append(suspend)
    else:
        verdicts.extend(_warns(policy, counts, channel, event))
    return verdicts


def make_evidence(
    counts: PeriodCounts,
    rate: float | None,
    limit: float | None,
    policy: ChannelPolicy | None = None,
    lower_bound: float | None = None,
) -> Evidence:
    """The counts behind a decision, with the rate and limit that crossed (if any), and
    under Wilson gating the lower bound, its confidence and the mode."""
    evidence = Evidence(
        sent=counts.sent,
        hard_bounces=counts.hard_bounces,
        spam_reports=counts.spam_reports,
        unsubscribes=counts.unsubscribes,
        abuse_complaints=counts.abuse_complaints,
        rate=rate,
        limit=None if limit is None else float(limit),
    )
    if policy is not None and lower_bound is not None:
        evidence.lower_bound = round(lower_bound, 6)
        evidence.confidence = policy.confidence
        evidence.gating = "wilson"
    return evidence


def _at_least(count: int, limit: int) -> bool:
    """Count signals: a limit of 0 switches the signal off."""
    return limit > 0 and count >= limit


def _new_listing(event: Event) -> bool:
    return event.kind == "blocklist" and bool(event.listed)


def _suspend(
    policy: ChannelPolicy,
    counts: PeriodCounts,
    channel: ChannelState,
    event: Event,
    *,
    cancelled_now: bool,
) -> Verdict | None:
    limits = policy.suspend
    fraud = _fraud_or_abuse(policy, counts)
    if fraud is not None:
        return fraud
    if _new_listing(event) and _at_least(len(channel.blocklists), limits.blocklistings):
        evidence = make_evidence(counts, None, limits.blocklistings)
        return Verdict("suspend", "blocklist", evidence, "deliverability")
    for reason, field in _RATE_FIELDS.items():
        limit = getattr(limits, reason)
        crossed = _crossed(policy, getattr(counts, field), counts.sent, limit)
        if crossed is not None:
            evidence = make_evidence(counts, crossed[0], limit, policy, crossed[1])
            return Verdict("suspend", reason, evidence, "deliverability")
    campaign = policy.campaign
    if campaign is not None:
        cancelled = channel.cancelled_campaigns.get(event.period, 0) + int(cancelled_now)
        if _at_least(cancelled, campaign.cancelled_to_suspend):
            evidence = make_evidence(counts, None, campaign.cancelled_to_suspend)
            return Verdict("suspend", "repeated_cancelled_campaigns", evidence, "deliverability")
    return None


def _fraud_or_abuse(policy: ChannelPolicy, counts: PeriodCounts) -> Verdict | None:
    """A spam-trap hit (fraud) or abuse-desk complaints over the limit: suspend at once."""
    limits = policy.suspend
    if _at_least(counts.spam_trap_hits, limits.spam_trap_hits):
        return Verdict(
            "suspend", "spam_trap", make_evidence(counts, None, limits.spam_trap_hits), "fraud"
        )
    if _at_least(counts.abuse_complaints, limits.abuse_complaints):
        evidence = make_evidence(counts, None, limits.abuse_complaints)
        return Verdict("suspend", "abuse_complaint", evidence, "deliverability")
    return None


def _warns(
    policy: ChannelPolicy, counts: PeriodCounts, channel: ChannelState, event: Event
) -> list[Verdict]:
    limits = policy.warn
    done = set(channel.warned)
    verdicts: list[Verdict] = []

    def fresh(reason: Reason) -> bool:
        return f"{event.period}/{reason}" not in done

    if (
        _new_listing(event)
        and _at_least(len(channel.blocklists), limits.blocklistings)
        and fresh("blocklist")
    ):
        evidence = make_evidence(counts, None, limits.blocklistings)
        verdicts.append(Verdict("warn", "blocklist", evidence))
    for reason, field in _RATE_FIELDS.items():
        limit = getattr(limits, reason)
        crossed = _crossed(policy, getattr(counts, field), counts.sent, limit)
        if crossed is not None and fresh(reason):
            evidence = make_evidence(counts, crossed[0], limit, policy, crossed[1])
            verdicts.append(Verdict("warn", reason, evidence))
    return verdicts


def _campaign_cancel(policy: ChannelPolicy, channel: ChannelState, event: Event) -> Verdict | None:
    campaign = policy.campaign
    if campaign is None or event.campaign_id is None:
        return None
    counts = channel.campaign_counts.get(event.campaign_id)
    if counts is None or counts.cancelled:
        return None
    limit = campaign.hard_bounce_rate
    rate = rate_crossed(counts.hard_bounces, counts.sent, campaign.min_sends, limit)
    if rate is None:
        return None
    # Evidence of a cancel is the campaign's own counts; the other signals are not kept
    # per campaign, so they read 0 rather than mixing in the account's month.
    evidence = Evidence(
        sent=counts.sent,
        hard_bounces=counts.hard_bounces,
        spam_reports=0,
        unsubscribes=0,
        abuse_complaints=0,
        rate=rate,
        limit=limit,
    )
    return Verdict("cancel_campaign", "hard_bounce_rate", evidence, campaign_id=event.campaign_id)
