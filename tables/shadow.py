"""The shadow policy's store: its own account rows and decisions, the live store's seen
ids and metadata, and no suppressions.

The shadow sees the same events as the live policy, stepped right after it, so what the
live guard decides of an event id (first seen, an upstream duplicate) is what the shadow
would decide: reading the live seen ids (staged ones included) instead of writing a
second copy halves the writes per event. Metadata is the same for both, and the shadow
publishes no suppressions, so it keeps none. Its rows record, per source, which messages
it has done, so after a crash each policy counts again exactly what its own rows miss.
Its own tables are flushed with the live ones (``tables.checkpoint``).
"""

from __future__ import annotations

from policy.state import AccountState
from schemas.types import AccountMeta, Decision
from tables.batch import TableBatch


class ShadowStore:
    def __init__(self, own: TableBatch, live: TableBatch) -> None:
        self.own = own
        self.live = live

    def load_account(self, account_id: str) -> AccountState | None:
        return self.own.load_account(account_id)

    def save_account(self, state: AccountState) -> None:
        self.own.save_account(state)

    def seen_by(self, account_id: str, event_id: str) -> str | None:
        return self.live.seen_by(account_id, event_id)

    def mark_seen(self, account_id: str, event_id: str, position: str) -> None:
        """The live guard, stepped first, has marked it."""

    def is_suppressed(self, account_id: str, key: str) -> bool:
        return self.live.is_suppressed(account_id, key)

    def mark_suppressed(self, account_id: str, key: str, reason: str) -> None:
        """The shadow's guards do not suppress (``policy.guard.Guard``'s ``suppresses``)."""
        raise TypeError("the shadow policy keeps no suppressions")

    def load_meta(self, account_id: str) -> AccountMeta | None:
        return self.live.load_meta(account_id)

    def save_meta(self, meta: AccountMeta) -> None:
        """The live guard, stepped first, has saved it."""

    def delete_meta(self, account_id: str) -> None:
        """The live guard, stepped first, has deleted it."""

    def record_decision(self, decision: Decision, value: bytes) -> None:
        self.own.record_decision(decision, value)
