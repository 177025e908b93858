"""A month's lifecycle end to end, against a real broker, checked against the replay.

One scripted file: repeated cancelled campaigns, a blocklisting and its delisting, a
warning in November that expires in December, metadata rejects on ``accounts``, and
the same traffic keyed by account, by something else and by nothing. The worker's
decisions, final statuses and suppressions (raw: each once) must equal the replay's.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest

from offline.simulate import write_jsonl
from policy import period_of
from policy.state import PeriodCounts
from tests.integration.chaos import comparable, describe_difference, replayed_decisions
from tests.integration.http import AUTH_ENV, OPERATOR_TOKEN, call
from tests.integration.traffic import bounces, deliveries, event, stamp

pytestmark = pytest.mark.integration

#: A grace that reaches back into the previous month, so both months are in play.
POLICY = 'version = "lifecycle-e2e"\nlate_grace_days = 40\n'


def _at(moment: datetime, *events: dict[str, Any]) -> list[dict[str, Any]]:
    """``events`` one millisecond apart from ``moment`` on."""
    return [
        {**e, "occurred_at": stamp(moment + timedelta(milliseconds=n))} for n, e in enumerate(events)
    ]


def scripted_lifecycle() -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    this_month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    last_month = this_month - timedelta(days=3)  # three days before this month began
    lines: list[dict[str, Any]] = []
    # Three bad campaigns in one month: each cancelled, the third suspends.
    campaigns = deliveries("campaigner", 3000)
    for cid in ("c1", "c2", "c3"):
        campaigns += deliveries("campaigner", 200, campaign_id=cid)
        campaigns += bounces("campaigner", 21, campaign_id=cid, start=len(campaigns))
    lines += _at(this_month + timedelta(hours=1), *campaigns)
    # A listing warns; delisted, then listed elsewhere: one in force, no suspension.
    listing = {"blocklist": "spamhaus", "ip": "192.0.2.7"}
    lines += _at(this_month + timedelta(hours=2),
                 *deliveries("listed", 20),
                 event("email.blocklist", "listed", listed=True, **listing),
                 event("email.blocklist", "listed", listed=False, **listing),
                 event("email.blocklist", "listed", listed=True, blocklist="barracuda",
                       ip="192.0.2.7"))  # fmt: skip
    # Warned last month; its first event of this month ends the warning.
    lines += _at(last_month, *deliveries("rolling", 1000), *bounces("rolling", 21))
    lines += _at(this_month + timedelta(hours=3), *deliveries("rolling", 10))
    # Metadata: one good record, and rejects. Then the events as MTAs publish them, in
    # event-time order (disorder beyond the allowance is late, and counted on arrival).
    metadata = [
        {"topic": "accounts", "account_id": "listed", "tier": "starter"},
        {"topic": "accounts", "account_id": "rolling", "tier": "platinum"},
        {"topic": "accounts", "tier": "starter"},
    ]
    return metadata + sorted(lines, key=lambda line: line["occurred_at"])


def _other_keys(n: int, record: dict[str, Any]) -> bytes | None:
    """Of the events, every third keyed by the account, every third by something else,
    the rest by nothing: the answers must not depend on the key. (``accounts`` is
    compacted, where Kafka refuses a record without a key.)"""
    account = str(record.get("account_id", "")).encode()
    if record["topic"] == "accounts":
        return account
    return [account, b"not-the-account", None][n % 3]


async def test_lifecycle_equals_the_replay_whatever_the_keys(
    worker_factory, pipeline, tmp_path: Path
) -> None:
    policy_path = tmp_path / "policy.toml"
    policy_path.write_text(POLICY)
    lines = scripted_lifecycle()
    events_file = tmp_path / "lifecycle.jsonl"
    write_jsonl(lines, events_file)
    result, expected = replayed_decisions(events_file, policy_path)
    kinds = {(d["account_id"], d["action"], d["reason"]) for d in expected.values()}
    assert kinds >= {
        ("campaigner", "cancel_campaign", "hard_bounce_rate"),
        ("campaigner", "suspend", "repeated_cancelled_campaigns"),
        ("listed", "warn", "blocklist"),
        ("rolling", "warn", "hard_bounce_rate"),
    }
    assert ("listed", "suspend", "blocklist") not in kinds  # delisted before the second
    assert result.rejected == 2

    # The whole file first, then the worker (as test_stream_equals_replay does): a topic
    # read to its end counts as caught up, so traffic still being produced could
    # otherwise arrive behind the watermark, and late events are counted on arrival.
    worker = worker_factory(SENDGUARD_POLICY=str(policy_path), **AUTH_ENV)  # creates the topics
    worker.stop()
    await pipeline.send(lines, key=_other_keys)
    worker.start()
    await pipeline.wait_drained(timeout=120)

    published = {d["decision_id"]: comparable(d) for d in await pipeline.raw_decisions()}
    assert published == expected, describe_difference(published, expected)

    assert result.store is not None
    states = {
        account: {channel: s["state"] for channel, s in status["channels"].items()}
        for account, status in (await pipeline.statuses()).items()
    }
    replayed = {
        row.account_id: {name: c.status.state for name, c in row.channels.items()}
        for row in result.store.accounts.values()
    }
    assert states == {a: s for a, s in replayed.items() if a in states}
    assert all(set(s.values()) == {"active"} for a, s in replayed.items() if a not in states)
    assert states["campaigner"]["marketing"] == "suspended"
    assert states["rolling"]["marketing"] == "active"  # the warning expired with its month
    assert states["listed"]["marketing"] == "warned"

    # This month's counts, as the API shows them, equal the replay's (last month's are in
    # the evidence of its warning, compared above).
    month = period_of(datetime.now(UTC))
    for account, row in result.store.accounts.items():
        view = (await call(worker.url(""), "GET", f"/accounts/{account}", OPERATOR_TOKEN)).json()
        for name, channel in row.channels.items():
            counts = msgspec.structs.asdict(channel.periods.get(month, PeriodCounts()))
            assert view["channels"][name]["counts"] == counts, (account, name)

    suppressions = await pipeline.suppressions()  # raw records: each key once
    assert set(suppressions) == set(result.store.suppressed)
    letters = await pipeline.dead_letters()
    assert [letter["source_topic"] for letter in letters] == ["accounts", "accounts"]
