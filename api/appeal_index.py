"""The appeals every worker can answer for: the queue of pending appeals and the latest
audit rows, read from ``sendguard.appeals``.

An appeal lives on its account's partition, so no one worker holds them all. Each worker
reads the whole audit trail, outside any consumer group, then follows it (as it does the
token revocations, ``api.revocations``): every record is an appeal as filed or decided,
so the last record of an appeal says whether it is still pending. Until the worker has
read to the end once, the queue answers 503.

Anyone who can produce to the topic can write to it: a record that is not an appeal is
counted and skipped. Memory is bounded: at most :data:`MAX_PENDING` pending appeals and
the last :data:`AUDIT_ROWS` audit rows are kept.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import msgspec

from api.revocations import SkippedRecords
from schemas.appeals import Appeal, decode_appeal
from schemas.limits import MAX_RECORD_BYTES

log = logging.getLogger("sendguard.appeal_index")
MAX_PENDING = 100_000
AUDIT_ROWS = 5_000


@dataclass(frozen=True)
class AuditRow:
    """One step of an appeal: filed, or decided by an operator."""

    at: datetime
    appeal_id: str
    account_id: str
    channel: str
    action: str  # "filed", "restored", "denied"
    actor: str  # the operator's name, or "account:<id>" for a filing
    note: str | None


class AppealIndex:
    def __init__(self) -> None:
        self.pending: dict[str, Appeal] = {}
        self.audit: deque[AuditRow] = deque(maxlen=AUDIT_ROWS)
        self.caught_up = False
        self._skips = SkippedRecords(log, "the appeals topic that is not an appeal")

    @property
    def skipped(self) -> int:
        return self._skips.count

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        try:
            if value is None or len(value) > MAX_RECORD_BYTES:
                raise ValueError("no value, or one too large")
            appeal = decode_appeal(value)
        except (ValueError, msgspec.DecodeError, RecursionError) as exc:
            self._skips.note(exc)
            return
        if appeal.status == "pending":
            if appeal.appeal_id in self.pending or len(self.pending) < MAX_PENDING:
                self.pending[appeal.appeal_id] = appeal
            action, actor, at = "filed", f"account:{appeal.account_id}", appeal.filed_at
        else:
            self.pending.pop(appeal.appeal_id, None)
            action, actor = appeal.status, appeal.decided_by or "unknown"
            at = appeal.decided_at or appeal.filed_at
        self.audit.append(AuditRow(at, appeal.appeal_id, appeal.account_id, appeal.channel,
                                   action, actor, appeal.note))  # fmt: skip

    def describe(self) -> str:
        return f"{len(self.pending)} pending appeals, {len(self.audit)} audit rows"

    def queue(
        self, queue: str | None = None, tier: str | None = None, channel: str | None = None
    ) -> list[Appeal]:
        """Pending appeals, oldest first, of a queue, tier and channel (None: any)."""
        return sorted(
            (a for a in self.pending.values()
             if (queue is None or a.queue == queue) and (tier is None or a.tier == tier)
             and (channel is None or a.channel == channel)),
            key=lambda a: (a.filed_at, a.appeal_id),
        )  # fmt: skip

    def trail(self, account_id: str | None = None) -> Iterable[AuditRow]:
        """Audit rows, newest first (of one account, or all)."""
        return (row for row in reversed(self.audit)
                if account_id is None or row.account_id == account_id)  # fmt: skip
