"""The per-account aggregate the engine folds events into.

The worker keeps exactly one table row per account, so everything here is counters and
short lists, never one entry per event or per recipient. Every list and map has a bound,
so that a row stays far below Kafka's message limit whatever producers send
(``schemas.limits``; ``tests/policy/test_row_size.py`` builds the largest row):

- months (``periods``, ``cancelled_campaigns``, ``warned``) are pruned after the
  late-event grace;
- campaigns: at most :data:`MAX_CAMPAIGNS` per channel, the least recently active one
  forgotten first (``policy.engine``);
- listings in force: at most :data:`MAX_LISTINGS` per channel, the oldest forgotten first;
- offsets done out of order (``SourceMark.extra``): at most :data:`MAX_DONE_EXTRA` per
  source, after which the account's held events are counted at once (``policy.guard``);
- sources (``done``): the input partitions of the account's own partition and its
  partition of ``sendguard.events``.

Structs are mutable on purpose: the engine updates a row in place and the worker writes
it back once.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from schemas.types import CHANNELS, ChannelStatus

#: Campaigns a channel keeps counts of; past it the least recently active is forgotten
#: (a campaign that pauses while this many others send, and then sends again, starts
#: its counts afresh).
MAX_CAMPAIGNS = 256
#: Listings in force a channel keeps; past it the oldest is forgotten (a policy's
#: ``blocklistings`` limit must be at most this).
MAX_LISTINGS = 32
#: Offsets of one source a row lists as done out of order, while an earlier one of the
#: account is held; past it the account's held events are counted at once.
MAX_DONE_EXTRA = 512

__all__ = [
    "MAX_CAMPAIGNS",
    "MAX_DONE_EXTRA",
    "MAX_LISTINGS",
    "AccountState",
    "CampaignCounts",
    "ChannelState",
    "PeriodCounts",
    "SourceMark",
    "decode_state",
    "encode_state",
]


class PeriodCounts(msgspec.Struct, kw_only=True):
    """Events of one account-channel in one calendar month; ``sent`` is the denominator."""

    sent: int = 0
    hard_bounces: int = 0
    soft_bounces: int = 0
    spam_reports: int = 0
    unsubscribes: int = 0
    abuse_complaints: int = 0
    spam_trap_hits: int = 0


class CampaignCounts(msgspec.Struct, kw_only=True):
    """One marketing campaign, whole: a campaign is one send, even across a month's end.

    ``period`` is the latest month it had an event in (it is pruned after that month);
    ``cancelled`` stops a second cancel.
    """

    sent: int = 0
    hard_bounces: int = 0
    cancelled: bool = False
    period: str = ""


class ChannelState(msgspec.Struct, kw_only=True):
    status: ChannelStatus = msgspec.field(default_factory=ChannelStatus)
    periods: dict[str, PeriodCounts] = msgspec.field(default_factory=dict)
    #: The latest month (event time) the channel counted an event in: its current month.
    period: str = ""
    #: campaign_id -> counts over all its months (marketing only), least recently
    #: active first.
    campaign_counts: dict[str, CampaignCounts] = msgspec.field(default_factory=dict)
    #: period -> campaigns cancelled in it (the month of the event that cancelled it).
    cancelled_campaigns: dict[str, int] = msgspec.field(default_factory=dict)
    #: ``"YYYY-MM/reason"`` for every warn already issued, so each is issued once.
    warned: list[str] = msgspec.field(default_factory=list)
    #: The advice of the warn or suspend behind the current status (None when active).
    banner: str | None = None
    #: Events before this (event time) are judged under probation after a restore.
    probation_until: datetime | None = None
    #: Listings in force, ``"blocklist-name|ip-or-domain"``, oldest first. Not per month:
    #: a listing stays in force until its delisting arrives, whatever the month.
    blocklists: list[str] = msgspec.field(default_factory=list)

    def counts(self, period: str) -> PeriodCounts:
        """The counts of ``period``, created on first use."""
        found = self.periods.get(period)
        if found is None:
            found = self.periods[period] = PeriodCounts()
        return found


class SourceMark(msgspec.Struct, array_like=True):
    """Which of one account's messages from one source (a topic partition) are done.

    Every message of the account below ``below`` is done, and so is each offset in
    ``extra`` (done out of offset order while an earlier one was still held). A worker
    that restarts re-reads from its committed offsets and skips what this says is done.
    """

    below: int = 0
    extra: list[int] = msgspec.field(default_factory=list)

    def covers(self, offset: int) -> bool:
        return offset < self.below or offset in self.extra


class AccountState(msgspec.Struct, kw_only=True):
    account_id: str
    channels: dict[str, ChannelState] = msgspec.field(default_factory=dict)
    review_approved: bool = False
    #: source ("topic/partition") -> the account's messages from it already applied;
    #: owned by ``policy.guard``.
    done: dict[str, SourceMark] = msgspec.field(default_factory=dict)
    #: Order key (``policy.held.order_key``) of the last event counted in event-time
    #: order: an event arriving at or below it is late and is counted on arrival.
    released_through: str = ""

    @classmethod
    def new(cls, account_id: str) -> AccountState:
        """A fresh account with both channels active, as every account starts."""
        return cls(account_id=account_id, channels={name: ChannelState() for name in CHANNELS})

    def channel(self, name: str) -> ChannelState:
        """The state of channel ``name``, created on first use."""
        found = self.channels.get(name)
        if found is None:
            found = self.channels[name] = ChannelState()
        return found


_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(AccountState)


def encode_state(state: AccountState) -> bytes:
    """JSON bytes of ``state``, the value format of the worker's table."""
    return _ENCODER.encode(state)


def decode_state(data: bytes) -> AccountState:
    return _DECODER.decode(data)
