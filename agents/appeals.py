"""Apply the appeal commands the HTTP views queue: file an appeal, decide on one.

Runs inside the guard agent (tables change only in stream iteration). The view checked
the request already; the checks are repeated here because the account may have changed
in between, and a replayed command must not act twice.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from agents.publish import Publisher
from policy import NotSuspended
from policy.appeals import admit_appeal
from policy.engine import decision_id
from policy.guard import Guard, Position
from schemas.appeals import Appeal, DecideAppeal, FileAppeal, Notification, decode_appeal
from schemas.parse import encode
from streams.app import Runtime
from streams.commands import CommandResult

log = logging.getLogger("sendguard.appeals")


def appeal_view(appeal: Appeal) -> dict[str, object]:
    return {
        "appeal_id": appeal.appeal_id,
        "status": appeal.status,
        "kind": appeal.kind,
        "queue": appeal.queue,
        "channel": appeal.channel,
    }


class AppealDesk:
    def __init__(self, rt: Runtime, guard: Guard, publisher: Publisher) -> None:
        self.rt = rt
        self.guard = guard
        self.publisher = publisher
        self.table = rt.tables.appeals

    def load(self, appeal_id: str) -> Appeal | None:
        raw = self.table.get(appeal_id.encode())
        return decode_appeal(raw) if raw is not None else None

    async def file(self, command: FileAppeal) -> CommandResult:
        appeal = command.appeal
        existing = self.load(appeal.appeal_id)
        if existing is not None:  # a replayed command
            return CommandResult(201, appeal_view(existing))
        state = self.guard.store.load_account(appeal.account_id)
        meta = self.guard.store.load_meta(appeal.account_id)
        status = state.channel(appeal.channel).status if state else None
        if status is None:
            return CommandResult(409, {"error": f"the {appeal.channel} channel is active"})
        admission = admit_appeal(meta.tier if meta else "free", appeal.channel, status)
        if not admission.accepted:
            return CommandResult(admission.status, {"error": admission.reason})
        appeal.kind, appeal.queue = admission.kind, admission.queue
        await self.publisher.record(self.rt.topics.appeals, appeal.account_id, appeal)
        if admission.notify_account_team and meta is not None:
            await self._notify_account_team(appeal, [meta.primary_contact, meta.csm])
        self.table[appeal.appeal_id.encode()] = encode(appeal)
        log.info("appeal %s filed for %s/%s (%s queue)", appeal.appeal_id, appeal.account_id,
                 appeal.channel, appeal.queue)  # fmt: skip
        return CommandResult(201, appeal_view(appeal))

    async def decide(self, command: DecideAppeal, position: Position) -> CommandResult:
        appeal = self.load(command.appeal_id)
        if appeal is None or appeal.account_id != command.account_id:
            return CommandResult(404, {"error": f"no appeal {command.appeal_id}"})
        if appeal.status != "pending":
            return CommandResult(409, {"error": f"appeal already {appeal.status}"})
        if command.decision == "restore":
            reason = "review_approved" if appeal.kind == "review" else "appeal_approved"
            try:
                step = self.guard.step_restore(
                    appeal.account_id, appeal.channel, reason, appeal.appeal_id, position
                )
            except NotSuspended as exc:
                return CommandResult(409, {"error": str(exc)})
            await self.publisher.step(step)
            self.guard.commit(step)
            appeal.status = "restored"
        else:
            appeal.status = "denied"
        appeal.decided_at = datetime.now(UTC)
        appeal.note = command.note or None
        await self.publisher.record(self.rt.topics.appeals, appeal.account_id, appeal)
        self.table[appeal.appeal_id.encode()] = encode(appeal)
        log.info("appeal %s %s", appeal.appeal_id, appeal.status)
        return CommandResult(200, {**appeal_view(appeal), "note": appeal.note})

    async def _notify_account_team(self, appeal: Appeal, people: list[str | None]) -> None:
        notification = Notification(
            notification_id=decision_id("notify", appeal.appeal_id),
            account_id=appeal.account_id,
            to=[p for p in people if p],
            subject=f"Legacy account {appeal.account_id} appealed its {appeal.channel} suspension",
            body=(
                f"Appeal {appeal.appeal_id} ({appeal.suspension_reason}). Contacts came from: "
                f"{appeal.form.contact_source}. Details: {appeal.form.details}. "
                "Work out next steps with the account; reply within one business day."
            ),
            appeal_id=appeal.appeal_id,
            created_at=datetime.now(UTC),
        )
        await self.publisher.record(self.rt.topics.notifications, appeal.account_id, notification)
