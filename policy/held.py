"""Events held back for event-time order, outside the account row.

Keeping them in the row made every step rewrite every held event (quadratic under a
backlog). The worker keeps them in their own RocksDB table, keyed so that one account's
held events sort by (occurred_at, event_id); this module has the key format and the
in-memory twin that the replay and the unit tests use.
"""

from __future__ import annotations

import bisect
from datetime import UTC, datetime

from schemas.types import Event

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def order_key(event: Event) -> str:
    """``<µs since 1970, 20 digits>/<event_id>``: sorts as (occurred_at, event_id)."""
    delta = event.occurred_at - _EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return f"{max(micros, 0):020d}/{event.event_id}"


def time_key(moment: datetime) -> str:
    """The largest order key at ``moment``: every event at or before it sorts below."""
    delta = moment - _EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return f"{max(micros, 0):020d}/\U0010ffff"


class HeldInMemory:
    """``hold``/``held``/``drop_held``/``first_held`` of ``GuardStore`` over dicts."""

    def __init__(self) -> None:
        self._held: dict[str, list[tuple[str, Event]]] = {}

    def hold(self, event: Event) -> None:
        entries = self._held.setdefault(event.account_id, [])
        key = order_key(event)
        index = bisect.bisect_left(entries, key, key=lambda entry: entry[0])
        if index < len(entries) and entries[index][0] == key:
            entries[index] = (key, event)
        else:
            entries.insert(index, (key, event))

    def held(self, account_id: str, up_to: str | None) -> list[tuple[str, Event]]:
        entries = self._held.get(account_id, [])
        if up_to is None:
            return list(entries)
        return entries[: bisect.bisect_right(entries, up_to, key=lambda entry: entry[0])]

    def drop_held(self, account_id: str, keys: list[str]) -> None:
        gone = set(keys)
        remaining = [e for e in self._held.get(account_id, []) if e[0] not in gone]
        if remaining:
            self._held[account_id] = remaining
        else:
            self._held.pop(account_id, None)

    def first_held(self, account_id: str) -> Event | None:
        entries = self._held.get(account_id)
        return entries[0][1] if entries else None
