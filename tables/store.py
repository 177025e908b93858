"""The guard's state store over Faust tables: the worker's side of ``policy.guard.GuardStore``.

Must be used inside stream iteration (Faust sends each write to the changelog partition of
the message being processed).
"""

from __future__ import annotations

from policy.state import AccountState, decode_state, encode_state
from schemas.parse import decode_account, encode
from schemas.types import AccountMeta
from tables import Tables


class TableStore:
    def __init__(self, tables: Tables) -> None:
        self.tables = tables

    def load_account(self, account_id: str) -> AccountState | None:
        raw = self.tables.accounts.get(account_id)
        return decode_state(raw) if raw is not None else None

    def save_account(self, state: AccountState) -> None:
        self.tables.accounts[state.account_id] = encode_state(state)

    def seen_by(self, event_id: str) -> str | None:
        raw = self.tables.seen.get(event_id)
        return raw.decode() if raw is not None else None

    def mark_seen(self, event_id: str, position: str) -> None:
        self.tables.seen[event_id] = position.encode()

    def is_suppressed(self, key: str) -> bool:
        return self.tables.suppressions.get(key) is not None

    def mark_suppressed(self, key: str, reason: str) -> None:
        self.tables.suppressions[key] = reason.encode()

    def load_meta(self, account_id: str) -> AccountMeta | None:
        raw = self.tables.meta.get(account_id)
        return decode_account(raw) if raw is not None else None

    def save_meta(self, meta: AccountMeta) -> None:
        self.tables.meta[meta.account_id] = encode(meta)
