"""Where the guard keeps its state: the contract, and its in-memory implementations.

:class:`GuardStore` is what :class:`policy.guard.Guard` needs of a store. Three stores
implement it: :class:`DictStore` (unit tests), :class:`ReplayStore` (the offline replay)
here, and ``tables.batch.TableBatch`` over the worker's RocksDB tables. One test class,
``tests/test_store_contract.py``, runs the contract against all three.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from policy.state import AccountState
from schemas.types import AccountMeta


class GuardStore(Protocol):
    """Where the guard keeps its state: Faust tables in the worker, dicts in the replay.

    ``load_account`` may return the live object the store holds; the guard mutates it
    and hands it back with ``save_account``.
    """

    def load_account(self, account_id: str) -> AccountState | None: ...
    def save_account(self, state: AccountState) -> None: ...
    def seen_by(self, account_id: str, event_id: str) -> str | None: ...
    def mark_seen(self, account_id: str, event_id: str, position: str) -> None: ...
    def is_suppressed(self, account_id: str, key: str) -> bool: ...
    def mark_suppressed(self, account_id: str, key: str, reason: str) -> None: ...
    def load_meta(self, account_id: str) -> AccountMeta | None: ...
    def save_meta(self, meta: AccountMeta) -> None: ...
    def delete_meta(self, account_id: str) -> None: ...


class DictStore:
    """The in-memory twin of the worker's tables (replay, unit tests)."""

    def __init__(self) -> None:
        self.accounts: dict[str, AccountState] = {}
        #: (account_id, event_id) -> position: ids come from many MTAs, so an id is
        #: unique only within its account.
        self.seen: dict[tuple[str, str], str] = {}
        self.suppressed: dict[str, str] = {}
        self.meta: dict[str, AccountMeta] = {}

    def load_account(self, account_id: str) -> AccountState | None:
        return self.accounts.get(account_id)

    def save_account(self, state: AccountState) -> None:
        self.accounts[state.account_id] = state

    def seen_by(self, account_id: str, event_id: str) -> str | None:
        return self.seen.get((account_id, event_id))

    def mark_seen(self, account_id: str, event_id: str, position: str) -> None:
        self.seen[(account_id, event_id)] = position

    def is_suppressed(self, account_id: str, key: str) -> bool:
        return key in self.suppressed

    def mark_suppressed(self, account_id: str, key: str, reason: str) -> None:
        self.suppressed[key] = reason

    def load_meta(self, account_id: str) -> AccountMeta | None:
        return self.meta.get(account_id)

    def save_meta(self, meta: AccountMeta) -> None:
        self.meta[meta.account_id] = meta

    def delete_meta(self, account_id: str) -> None:
        self.meta.pop(account_id, None)


class ReplayStore(DictStore):
    """The guard's state for a replay (a ``GuardStore``), in memory.

    Seen event ids expire like the worker's TTL table, by the replay's event-time clock,
    so memory follows the grace window rather than the file's length; a repeat older
    than that would be rejected as late before it reached the guard anyway.
    """

    def __init__(self, clock: Callable[[], datetime], ttl: timedelta) -> None:
        super().__init__()
        self._clock = clock
        self._ttl_days = max(1, ttl.days + (1 if ttl.seconds else 0))
        self._days: deque[tuple[int, list[tuple[str, str]]]] = deque()

    def mark_seen(self, account_id: str, event_id: str, position: str) -> None:
        day = self._clock().toordinal()
        if not self._days or self._days[-1][0] != day:
            self._days.append((day, []))
            while self._days[0][0] < day - self._ttl_days:
                for old in self._days.popleft()[1]:
                    self.seen.pop(old, None)
        self._days[-1][1].append((account_id, event_id))
        self.seen[(account_id, event_id)] = position
