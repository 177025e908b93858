"""The guard's state store over Faust tables: the worker's side of ``policy.guard.GuardStore``.

Must be used inside stream iteration (Faust sends each write to the changelog partition of
the message being processed).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import faust

from policy.held import order_key
from policy.state import AccountState, decode_state, encode_state
from schemas.parse import decode_account, decode_event, encode
from schemas.types import AccountMeta, Event
from tables import Tables

SEP = "\x1f"


class TableStore:
    def __init__(self, tables: Tables) -> None:
        self.tables = tables

    def load_account(self, account_id: str) -> AccountState | None:
        raw = self.tables.accounts.get(account_id.encode())
        return decode_state(raw) if raw is not None else None

    def save_account(self, state: AccountState) -> None:
        self.tables.accounts[state.account_id.encode()] = encode_state(state)

    def seen_by(self, event_id: str) -> str | None:
        raw = self.tables.seen.get(event_id.encode())
        return raw.decode() if raw is not None else None

    def mark_seen(self, event_id: str, position: str) -> None:
        self.tables.seen[event_id.encode()] = position.encode()

    def is_suppressed(self, key: str) -> bool:
        return self.tables.suppressions.get(key.encode()) is not None

    def mark_suppressed(self, key: str, reason: str) -> None:
        self.tables.suppressions[key.encode()] = reason.encode()

    def load_meta(self, account_id: str) -> AccountMeta | None:
        raw = self.tables.meta.get(account_id.encode())
        return decode_account(raw) if raw is not None else None

    def save_meta(self, meta: AccountMeta) -> None:
        self.tables.meta[meta.account_id.encode()] = encode(meta)

    # Held events (policy.held): a RocksDB range scan over the current partition's
    # database finds an account's events in (occurred_at, event_id) order.

    def _held_db(self) -> Any:
        event = faust.current_event()
        if event is None:
            raise RuntimeError("held events are read inside stream iteration only")
        return self.tables.held_events.data._db_for_partition(event.message.partition)

    def hold(self, event: Event) -> None:
        key = f"{event.account_id}{SEP}{order_key(event)}".encode()
        self.tables.held_events[key] = encode(event)

    def held(self, account_id: str, up_to: str | None) -> list[tuple[str, Event]]:
        return list(self._scan(account_id, up_to, limit=None))

    def first_held(self, account_id: str) -> Event | None:
        for _, event in self._scan(account_id, None, limit=1):
            return event
        return None

    def drop_held(self, account_id: str, keys: list[str]) -> None:
        for key in keys:
            del self.tables.held_events[f"{account_id}{SEP}{key}".encode()]

    def _scan(
        self, account_id: str, up_to: str | None, limit: int | None
    ) -> Iterator[tuple[str, Event]]:
        prefix = f"{account_id}{SEP}".encode()
        end = None if up_to is None else prefix + up_to.encode()
        found = 0
        for key, value in self._held_db().items(from_key=prefix):
            if not isinstance(key, bytes) or not key.startswith(prefix):
                break
            if end is not None and key > end:
                break
            if value is None:
                continue
            yield key[len(prefix) :].decode(), decode_event(value)
            found += 1
            if limit is not None and found >= limit:
                break
