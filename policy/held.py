"""Events received but not yet counted, held in memory for event-time order.

Input topics are consumed independently, so an account's bounces can arrive before the
deliveries they followed. The guard counts an event only once the watermark has passed
it; until then it waits here, per account, sorted by (occurred_at, event_id). A heap of
accounts by their earliest held time lets a moving watermark release exactly the
accounts that are due. The worker and the replay both use this class.

Held events live only in memory: the worker does not acknowledge a message while one of
its events is held, so after a crash or a rebalance the message is read again and the
event is held again (``policy.guard`` explains how the account row tells re-read events
it already counted from new ones).
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import NamedTuple

from schemas.types import Event

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Position(NamedTuple):
    """Where a message sits: its source (``topic/partition``) and offset."""

    source: str
    offset: int

    def __str__(self) -> str:
        return f"{self.source}@{self.offset}"


def _micros(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def order_key(event: Event) -> str:
    """``<µs since 1970, 20 digits>/<event_id>``: sorts as (occurred_at, event_id)."""
    return f"{max(_micros(event.occurred_at), 0):020d}/{event.event_id}"


def time_key(moment: datetime) -> str:
    """The largest order key at ``moment``: every event at or before it sorts below."""
    return f"{max(_micros(moment), 0):020d}/\U0010ffff"


class Held(NamedTuple):
    key: str
    event: Event
    position: Position | None


class HeldEvents:
    def __init__(self) -> None:
        self._by_account: dict[str, list[Held]] = {}
        self._ids: dict[str, set[str]] = {}
        self._heap: list[tuple[datetime, str]] = []
        self._earliest: dict[str, datetime] = {}
        self._count = 0

    def __len__(self) -> int:
        """Events held, over all accounts."""
        return self._count

    def accounts(self) -> Iterator[str]:
        return iter(self._by_account)

    def holds(self, account_id: str, event_id: str) -> bool:
        return event_id in self._ids.get(account_id, ())

    def hold(self, held: Held) -> None:
        account_id = held.event.account_id
        entries = self._by_account.setdefault(account_id, [])
        if not entries or entries[-1].key <= held.key:
            entries.append(held)  # the usual case: events come in about their order
        else:
            bisect.insort(entries, held, key=_key)
        self._ids.setdefault(account_id, set()).add(held.event.event_id)
        self._count += 1
        self._note_earliest(account_id)

    def take(self, account_id: str, up_to: str | None) -> list[Held]:
        """Remove and return the account's held events with keys up to ``up_to`` (None: all)."""
        entries = self._by_account.get(account_id)
        if not entries:
            return []
        cut = len(entries) if up_to is None else bisect.bisect_right(entries, up_to, key=_key)
        if cut == 0:
            return []
        taken, rest = entries[:cut], entries[cut:]
        ids = self._ids[account_id]
        for held in taken:
            ids.discard(held.event.event_id)
        self._count -= cut
        if rest:
            self._by_account[account_id] = rest
        else:
            del self._by_account[account_id]
            del self._ids[account_id]
        self._note_earliest(account_id)
        return taken

    def pending_offsets(self, account_id: str, source: str) -> list[int]:
        """Offsets of the account's held messages from ``source``, ascending."""
        return sorted(
            h.position.offset
            for h in self._by_account.get(account_id, ())
            if h.position is not None and h.position.source == source
        )

    def earliest(self, account_id: str) -> datetime | None:
        return self._earliest.get(account_id)

    def due(self, watermark: datetime | None) -> list[str]:
        """Accounts whose earliest held event is at or before ``watermark`` (None: all)."""
        found: dict[str, None] = {}
        heap = self._heap
        while heap and (watermark is None or heap[0][0] <= watermark):
            at, account_id = heapq.heappop(heap)
            if self._earliest.get(account_id) == at:
                found[account_id] = None
        # Back on the heap until the caller's take() moves their earliest time on.
        for account_id in found:
            heapq.heappush(heap, (self._earliest[account_id], account_id))
        return list(found)

    def drop(self, belongs: Callable[[str], bool]) -> list[Held]:
        """Forget the held events of accounts for which ``belongs`` is true (a rebalance
        took their partition away: the new owner reads their messages again)."""
        dropped: list[Held] = []
        for account_id in [a for a in self._by_account if belongs(a)]:
            dropped.extend(self.take(account_id, None))
        return dropped

    def _note_earliest(self, account_id: str) -> None:
        entries = self._by_account.get(account_id)
        if not entries:
            self._earliest.pop(account_id, None)
            return
        at = entries[0].event.occurred_at
        if self._earliest.get(account_id) != at:
            self._earliest[account_id] = at
            heapq.heappush(self._heap, (at, account_id))
        if len(self._heap) > 4 * len(self._earliest) + 64:
            self._heap = [(t, a) for a, t in self._earliest.items()]
            heapq.heapify(self._heap)


def _key(held: Held) -> str:
    return held.key
