"""Kinds of sending account the simulator knows, as data.

Each profile is one story the policy should tell apart: a clean sender, one that bought a
list, one whose content gets reported or unsubscribed from, fraud signals, blocklistings,
one-to-one CRM mail, and a campaign that goes bad while it is sending. Rates are per
delivery (Bernoulli per send), so a profile's monthly rate is close to its number.

A *mix* is a named tuple of profiles with weights (``sendguard simulate --mix NAME``):
``default`` is the realistic mix; ``gating`` is the one the gating study
(``python -m bench.gating``) measures, mostly borderline senders and bad lists.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from types import MappingProxyType

from schemas.types import Channel

__all__ = ["DEFAULT_PROFILES", "GATING_PROFILES", "MIXES", "Profile"]


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


def _per_delivery(rate: float, hard_bounce: float = 0.004, soft_bounce: float = 0.01) -> float:
    """The ``unsubscribe`` or ``spam_report`` number that makes ``rate`` a rate per delivery.

    Only a delivery that did not bounce can be unsubscribed from or reported, so the
    profile's number is per delivery that did not bounce; a borderline sender needs it
    per delivery, like the policy's rate. (0.004 and 0.01 are the profile defaults.)
    """
    return rate / (1 - hard_bounce - soft_bounce)


_DEFAULT = {p.name: p for p in DEFAULT_PROFILES}

#: Borderline senders (true rate per delivery exactly at a suspend limit of
#: ``policy/default.toml``: 5 % hard bounces, 0.1 % spam reports, 5 % unsubscribes), on a
#: few thousand sends, where a month-to-date rate swings across the limit and back; a
#: sender just over the limit; bad lists; and a few of the default mix as a control.
GATING_PROFILES: tuple[Profile, ...] = (
    replace(_DEFAULT["clean"], weight=5),
    replace(_DEFAULT["purchased_list"], weight=8),
    replace(_DEFAULT["crm_one_to_one"], weight=6),
    Profile("borderline_bounces", 22, monthly_sends=(1000, 3000), hard_bounce=0.05),
    Profile("borderline_spam", 14, monthly_sends=(1000, 3000), spam_report=_per_delivery(0.001)),
    Profile("borderline_unsubscribes", 14, monthly_sends=(1000, 3000),
            unsubscribe=_per_delivery(0.05)),
    Profile("bounces_just_over", 8, monthly_sends=(1000, 3000), hard_bounce=0.065),
    # A bought list: 30 % of its addresses hard-bounce from the first send, on a few
    # hundred to 1,500 sends a month (fewer than the default min_sends of 1,000 for many).
    Profile("bad_list", 14, monthly_sends=(200, 1500), hard_bounce=0.30, soft_bounce=0.05,
            unsubscribe=0.01, spam_report=0.0005),
    Profile("crm_borderline_bounces", 10, channel="crm", monthly_sends=(200, 800),
            hard_bounce=0.05, unsubscribe=0.002, spam_report=0.0),
)  # fmt: skip

#: ``sendguard simulate --mix NAME``.
MIXES: MappingProxyType[str, tuple[Profile, ...]] = MappingProxyType(
    {"default": DEFAULT_PROFILES, "gating": GATING_PROFILES}
)
