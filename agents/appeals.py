"""Apply the appeal commands the HTTP views queue: file an appeal, decide on one.

Runs inside the guard agent, in order with the account's events. The view checked the
request already; the checks are repeated here because the account may have changed in
between, and a command read again after a crash must not act twice. Like every step of
the guard, what a command writes becomes durable at the next flush, after its records
are published; its answer is sent to the waiting view only then.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from prometheus_client import Counter

from policy import NotSuspended
from policy.appeals import admit_appeal, restore_reason
from policy.engine import decision_id
from policy.guard import Guard, Position, Step
from schemas.appeals import (
    Appeal,
    DecideAppeal,
    FileAppeal,
    Notification,
    decode_appeal,
    pending_key,
)
from schemas.parse import encode
from streams.commands import CommandResult
from tables.batch import TableBatch

log = logging.getLogger("sendguard.appeals")

#: publish(topic name, account id, record): queue a record for the next flush.
Publish = Callable[[str, str, bytes, datetime], None]


def appeal_view(appeal: Appeal) -> dict[str, object]:
    return {
        "appeal_id": appeal.appeal_id,
        "status": appeal.status,
        "kind": appeal.kind,
        "queue": appeal.queue,
        "channel": appeal.channel,
    }


class AppealDesk:
    def __init__(
        self,
        store: TableBatch,
        publish: Publish,
        appeals_topic: str,
        notifications_topic: str,
        unaddressed: Counter,
    ) -> None:
        self.store = store
        self.unaddressed = unaddressed
        self.table = store.tables.appeals
        self.publish = publish
        self.appeals_topic = appeals_topic
        self.notifications_topic = notifications_topic

    def load(self, appeal_id: str, account_id: str) -> Appeal | None:
        raw = self.store.get(self.table, self.store.partition_of(account_id), appeal_id.encode())
        return decode_appeal(raw) if raw is not None else None

    def pending(self, account_id: str, channel: str) -> str | None:
        """The appeal of an account-channel waiting for an operator, if any: one at a
        time, so a suspended account cannot flood its team with notifications."""
        partition = self.store.partition_of(account_id)
        raw = self.store.get(self.table, partition, pending_key(account_id, channel))
        if raw is None:
            return None
        appeal = self.load(raw.decode(), account_id)
        return appeal.appeal_id if appeal is not None and appeal.status == "pending" else None

    def _set_pending(self, appeal: Appeal) -> None:
        key = pending_key(appeal.account_id, appeal.channel)
        partition = self.store.partition_of(appeal.account_id)
        pending = appeal.appeal_id.encode() if appeal.status == "pending" else None
        self.store.put(self.table, partition, key, pending)  # None: a tombstone

    def _save(self, appeal: Appeal) -> None:
        self.store.put(self.table, self.store.partition_of(appeal.account_id),
                       appeal.appeal_id.encode(), encode(appeal))  # fmt: skip
        self.publish(self.appeals_topic, appeal.account_id, encode(appeal),
                     appeal.decided_at or appeal.filed_at)  # fmt: skip

    def file(self, command: FileAppeal) -> CommandResult:
        appeal = command.appeal
        existing = self.load(appeal.appeal_id, appeal.account_id)
        if existing is not None:  # a command read again
            return CommandResult(201, appeal_view(existing))
        state = self.store.load_account(appeal.account_id)
        meta = self.store.load_meta(appeal.account_id)
        status = state.channel(appeal.channel).status if state else None
        if status is None:
            return CommandResult(409, {"error": f"the {appeal.channel} channel is active"})
        admission = admit_appeal(meta.tier if meta else "free", appeal.channel, status)
        if not admission.accepted:
            return CommandResult(admission.status, {"error": admission.reason})
        pending = self.pending(appeal.account_id, appeal.channel)
        if pending is not None:
            return CommandResult(409, {
                "error": f"appeal {pending} for the {appeal.channel} channel is pending; "
                         "wait for its decision",
                "pending_appeal_id": pending,
            })  # fmt: skip
        appeal.kind, appeal.queue = admission.kind, admission.queue
        self._save(appeal)
        self._set_pending(appeal)
        answer = appeal_view(appeal)
        if admission.notify_account_team and meta is not None:
            warning = self._notify_account_team(appeal, meta.primary_contact, meta.csm)
            if warning:
                answer["warning"] = warning
        log.info("appeal %s filed for %s/%s (%s queue)", appeal.appeal_id, appeal.account_id,
                 appeal.channel, appeal.queue)  # fmt: skip
        return CommandResult(201, answer)

    def decide(
        self, command: DecideAppeal, guard: Guard, position: Position
    ) -> tuple[CommandResult, Step | None]:
        appeal = self.load(command.appeal_id, command.account_id)
        if appeal is None or appeal.account_id != command.account_id:
            return CommandResult(404, {"error": f"no appeal {command.appeal_id}"}), None
        if appeal.status != "pending":
            return CommandResult(409, {"error": f"appeal already {appeal.status}"}), None
        step = None
        # One time for the restore and the appeal's record: a replay of the audit trail
        # restores at decided_at, and probation is counted from it.
        decided_at = datetime.now(UTC)
        if command.decision == "restore":
            try:
                step = guard.step_restore(
                    appeal.account_id, appeal.channel, restore_reason(appeal.kind),
                    appeal.appeal_id, position, at=decided_at,
                    decided_by=command.decided_by or None,
                )  # fmt: skip
            except NotSuspended as exc:
                return CommandResult(409, {"error": str(exc)}), None
            appeal.status = "restored"
        else:
            appeal.status = "denied"
        appeal.decided_at = decided_at
        appeal.note = command.note or None
        appeal.decided_by = command.decided_by or None
        self._save(appeal)
        self._set_pending(appeal)
        log.info("appeal %s %s by %s", appeal.appeal_id, appeal.status, appeal.decided_by)
        answer = {**appeal_view(appeal), "note": appeal.note, "decided_by": appeal.decided_by}
        return CommandResult(200, answer), step

    def _notify_account_team(
        self, appeal: Appeal, primary_contact: str | None, csm: str | None
    ) -> str | None:
        """Tell a legacy account's team of its appeal; a warning if no contact is known.

        Without a primary contact the account itself cannot be reached: the operator is
        told (the answer, the log, a metric). The CSM, if any, is still notified.
        """
        warning = None
        if not primary_contact:
            warning = (f"account {appeal.account_id} has no primary_contact on record: "
                       + (f"only its CSM {csm} was notified" if csm else "nobody was notified")
                       + "; reach the account another way")  # fmt: skip
            log.warning("appeal %s: %s", appeal.appeal_id, warning)
            self.unaddressed.inc()
        recipients = [p for p in (primary_contact, csm) if p]
        if not recipients:
            return warning
        notification = Notification(
            notification_id=decision_id("notify", appeal.appeal_id),
            account_id=appeal.account_id,
            to=recipients,
            subject=f"Legacy account {appeal.account_id} appealed its {appeal.channel} suspension",
            body=(
                f"Appeal {appeal.appeal_id} ({appeal.suspension_reason}). Contacts came from: "
                f"{appeal.form.contact_source}. Details: {appeal.form.details}. "
                "Work out next steps with the account; reply within one business day."
            ),
            appeal_id=appeal.appeal_id,
            created_at=datetime.now(UTC),
        )
        self.publish(self.notifications_topic, appeal.account_id, encode(notification),
                     notification.created_at)  # fmt: skip
        return warning
