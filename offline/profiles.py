"""Kinds of sending account the simulator knows, as data.

Each profile is one story the policy should tell apart: a clean sender, one that bought a
list, one whose content gets reported or unsubscribed from, fraud signals, blocklistings,
one-to-one CRM mail, and a campaign that goes bad while it is sending. Rates are per
delivery (Bernoulli per send), so a profile's monthly rate is close to its number.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.types import Channel

__all__ = ["DEFAULT_PROFILES", "Profile"]


@dataclass(frozen=True)
class Profile:
    """How one kind of account sends over a 30-day month."""

    name: str
    weight: float
    channel: Channel = "marketing"
    monthly_sends: tuple[int, int] = (100, 5000)
    hard_bounce: float = 0.004
    soft_bounce: float = 0.01
    spam_report: float = 0.00002
    unsubscribe: float = 0.004
    #: Campaigns per month (marketing bursts with a ``campaign_id``); (0, 0) sends
    #: workflow mail spread over each day instead.
    campaigns: tuple[int, int] = (0, 0)
    #: One campaign hard-bounces at 20-35 % from 30-60 % of its sends on.
    bad_campaign: bool = False
    abuse_complaints: tuple[int, int] = (0, 0)
    trap_hits: int = 0
    #: Listing episodes on a blocklist; some overlap, so two are in force at once.
    blocklist_episodes: tuple[int, int] = (0, 0)
    #: Whether ``review_required`` may be set on the account (a few accounts).
    reviewable: bool = False


DEFAULT_PROFILES: tuple[Profile, ...] = (
    Profile("clean", 34, campaigns=(3, 6), reviewable=True),
    Profile("purchased_list", 8, hard_bounce=0.08, soft_bounce=0.03, unsubscribe=0.01,
            spam_report=0.0002),
    Profile("spammy_content", 6, hard_bounce=0.01, spam_report=0.003, unsubscribe=0.015),
    Profile("irrelevant_content", 6, hard_bounce=0.01, unsubscribe=0.07, spam_report=0.0001),
    Profile("abuse_complaint", 4, abuse_complaints=(1, 2)),
    Profile("spam_trap", 3, trap_hits=1),
    Profile("blocklisted", 5, blocklist_episodes=(1, 3)),
    Profile("crm_one_to_one", 10, channel="crm", monthly_sends=(20, 400), hard_bounce=0.005,
            unsubscribe=0.002, spam_report=0.0, reviewable=True),
    Profile("campaign_gone_bad", 5, monthly_sends=(1500, 6000), campaigns=(4, 8),
            bad_campaign=True),
)  # fmt: skip
