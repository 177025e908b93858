"""Builders of contract events for scripted traffic (JSON-lines style dicts)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

_ids = itertools.count()


def at(minutes_ago: float) -> str:
    """An RFC 3339 time ``minutes_ago`` before now, inside the default late grace."""
    return stamp(datetime.now(UTC) - timedelta(minutes=minutes_ago))


def stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _start() -> datetime:
    """Two hours ago, but never in the previous month: the tests expect one period."""
    now = datetime.now(UTC)
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return max(now - timedelta(hours=2), month_start)


_START = _start()


def next_time() -> str:
    """Every scripted event happens 1 ms after the previous one, in the order built, so
    event-time order (which the guard counts in) is the order a test writes them."""
    return stamp(_START + timedelta(milliseconds=next(_clock)))


_clock = itertools.count()


def event(topic: str, account: str, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "topic": topic,
        "event_id": f"{account}-{topic}-{next(_ids)}",
        "account_id": account,
        "occurred_at": next_time(),
    }
    body.update(fields)
    return body


def deliveries(account: str, n: int, channel: str = "marketing", **fields: Any) -> list[dict]:
    return [
        event(
            "email.delivery",
            account,
            recipient=f"r{i}@{account}.example",
            channel=channel,
            **fields,
        )
        for i in range(n)
    ]


def bounces(account: str, n: int, kind: str = "hard", start: int = 0, **fields: Any) -> list[dict]:
    return [
        event(
            "email.bounce", account, recipient=f"r{i}@{account}.example", bounce_type=kind, **fields
        )
        for i in range(start, start + n)
    ]


def signals(topic: str, account: str, n: int, start: int = 0, **fields: Any) -> list[dict]:
    """Unsubscribes or spam reports from recipients r<start>..r<start+n-1>."""
    return [
        event(topic, account, recipient=f"r{i}@{account}.example", **fields)
        for i in range(start, start + n)
    ]
