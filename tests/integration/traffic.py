"""Builders of contract events for scripted traffic (JSON-lines style dicts)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

_ids = itertools.count()


def at(minutes_ago: float) -> str:
    """An RFC 3339 time ``minutes_ago`` before now, inside the default late grace."""
    moment = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event(topic: str, account: str, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "topic": topic,
        "event_id": f"{account}-{topic}-{next(_ids)}",
        "account_id": account,
        "occurred_at": at(30),
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
