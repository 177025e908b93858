"""An account row stays bounded whatever producers send: the caps of ``policy.state`` and
the largest row they allow, which must fit the budget of a Kafka record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from policy import load_policy
from policy.config import PolicyError
from policy.engine import apply_event
from policy.guard import Guard, Position
from policy.held import order_key
from policy.state import (
    MAX_CAMPAIGNS,
    MAX_DONE_EXTRA,
    MAX_LISTINGS,
    AccountState,
    CampaignCounts,
    PeriodCounts,
    SourceMark,
    encode_state,
)
from policy.store import DictStore
from schemas.limits import MAX_DOMAIN_CHARS, MAX_ID_CHARS, MAX_RECORD_BYTES
from schemas.types import CHANNELS, TOPIC_KINDS, ChannelStatus, Event

T0 = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
#: The widest character UTF-8 has: 4 bytes, written as is by the JSON encoder.
WIDE = "\U0001f4e7"


def wide(chars: int, tag: int) -> str:
    return f"{tag:06d}" + WIDE * (chars - 6)


def event(n: int, **fields: object) -> Event:
    values: dict[str, object] = {
        "topic": "email.delivery", "kind": "delivery", "event_id": f"e{n}",
        "account_id": "a1", "occurred_at": T0 + timedelta(seconds=n),
        "recipient": f"r{n}@x.example",
    }  # fmt: skip
    values.update(fields)
    return Event(**values)  # type: ignore[arg-type]


def listing(n: int, listed: bool = True) -> Event:
    return event(n, topic="email.blocklist", kind="blocklist", recipient=None,
                 blocklist=f"list-{n}", listed=listed, ip=f"10.0.0.{n}")  # fmt: skip


def test_the_largest_row_the_caps_allow_fits_a_kafka_record() -> None:
    state = AccountState(account_id=wide(MAX_ID_CHARS, 0))
    months = ("2026-09", "2026-10", "2026-11")
    for name in CHANNELS:
        channel = state.channel(name)
        channel.status = ChannelStatus(state="suspended", reason="hard_bounce_rate",
                                       suspension_type="deliverability", since=NOW)  # fmt: skip
        channel.banner = "x" * 2000
        channel.probation_until = NOW
        channel.period = months[-1]
        for month in months:
            channel.periods[month] = PeriodCounts(**{f: 2**62 for f in PeriodCounts.__struct_fields__})
            channel.cancelled_campaigns[month] = 2**62
            channel.warned += [f"{month}/{r}" for r in ("hard_bounce_rate", "spam_report_rate",
                                                       "unsubscribe_rate", "blocklist")]  # fmt: skip
        if load_policy().channel(name).campaign is not None:  # only they count campaigns
            channel.campaign_counts = {
                wide(MAX_ID_CHARS, n): CampaignCounts(sent=2**62, hard_bounces=2**62,
                                                      period=months[-1])
                for n in range(MAX_CAMPAIGNS)
            }
        channel.blocklists = [
            f"{wide(MAX_ID_CHARS, n)}|{wide(MAX_DOMAIN_CHARS, n)}" for n in range(MAX_LISTINGS)
        ]
    sources = [f"{topic}/1023" for topic in (*TOPIC_KINDS, "accounts", "sendguard.events")]
    state.done = {
        source: SourceMark(below=2**62, extra=list(range(2**62, 2**62 + MAX_DONE_EXTRA)))
        for source in sources
    }
    state.released_through = "9" * 20 + "/" + wide(MAX_ID_CHARS, 0)
    size = len(state.account_id.encode()) + len(encode_state(state))
    assert 0.6 * MAX_RECORD_BYTES < size <= MAX_RECORD_BYTES, size


def test_campaigns_past_the_cap_forget_the_least_recently_active() -> None:
    policy = load_policy()
    state = AccountState.new("a1")
    for n in range(MAX_CAMPAIGNS):
        apply_event(policy, state, event(n, campaign_id=f"c{n}"), None, NOW)
    apply_event(policy, state, event(10_000, campaign_id="c0"), None, NOW)  # c0 active again
    apply_event(policy, state, event(10_001, campaign_id="new"), None, NOW)
    campaigns = state.channel("marketing").campaign_counts
    assert len(campaigns) == MAX_CAMPAIGNS
    assert "c1" not in campaigns  # the least recently active
    assert campaigns["c0"].sent == 2 and campaigns["new"].sent == 1
    assert list(campaigns)[-2:] == ["c0", "new"]


def test_listings_past_the_cap_forget_the_oldest() -> None:
    policy = load_policy()
    state = AccountState.new("a1")
    for n in range(MAX_LISTINGS + 3):
        apply_event(policy, state, listing(n), None, NOW)
    listings = state.channel("marketing").blocklists
    assert len(listings) == MAX_LISTINGS
    assert listings[0] == "list-3|10.0.0.3" and listings[-1] == f"list-{MAX_LISTINGS + 2}|10.0.0.{MAX_LISTINGS + 2}"
    apply_event(policy, state, listing(MAX_LISTINGS + 2, listed=False), None, NOW)
    assert len(listings) == MAX_LISTINGS - 1


def test_a_policy_cannot_ask_for_more_listings_than_a_row_keeps(tmp_path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(f"[marketing.suspend]\nblocklistings = {MAX_LISTINGS + 1}\n")
    with pytest.raises(PolicyError, match="blocklistings' must be at most"):
        load_policy(path)


def test_a_held_event_pins_at_most_max_done_extra_offsets_of_its_source() -> None:
    """An event held for long (ahead of the watermark) would make the row list every later
    message of its source counted meanwhile; past the cap the account's held events are
    counted at once, and the row is back to one line."""
    store = DictStore()
    guard = Guard(load_policy(), store, lambda: NOW)
    watermark = T0 + timedelta(seconds=1)
    ahead = event(0, occurred_at=T0 + timedelta(hours=1), event_id="ahead")
    assert guard.receive(ahead, Position("email.delivery/0", 0), watermark).kind == "held"
    steps = [
        guard.receive(event(n, occurred_at=T0), Position("email.delivery/0", n), watermark)
        for n in range(1, MAX_DONE_EXTRA + 2)
    ]
    state = store.load_account("a1")
    assert state is not None
    mark = state.done["email.delivery/0"]
    assert len(guard.held) == 0
    assert mark.below == MAX_DONE_EXTRA + 2 and mark.extra == []
    assert Position("email.delivery/0", 0) in steps[-1].done
    assert state.channel("marketing").periods["2026-11"].sent == MAX_DONE_EXTRA + 2
    assert state.released_through == order_key(ahead)
    # Before the cap, the offsets were listed while the held one pinned the line.
    assert all(Position("email.delivery/0", 0) not in s.done for s in steps[:-1])
