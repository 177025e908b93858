"""A *lane* is one :class:`policy.guard.Guard` driven over a replay, with its own store.

The replay runs one lane per policy (two with ``--compare``) over the same pass, so both
see the same events, watermarks and releases. Held events wait in the guard's
``policy.held.HeldEvents``, the same class the worker uses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

from policy.appeals import restore_reason
from policy.config import Policy
from policy.errors import NotSuspended
from policy.guard import Guard, Step
from policy.state import AccountState
from policy.store import ReplayStore
from schemas.appeals import AppealOutcome
from schemas.types import AccountMeta, Decision, Event

Clock = Callable[[], datetime]
Sink = Callable[[Decision], None]

class Lane:
    def __init__(self, policy: Policy, clock: Clock, sink: Sink) -> None:
        self.policy = policy
        self.store = ReplayStore(clock, timedelta(days=policy.seen_id_days))
        self.guard = Guard(policy, self.store, clock)
        self.sink = sink

    def receive(self, event: Event, watermark: datetime | None) -> Step:
        """Step one event, counting what ``watermark`` lets through for its account."""
        return self._publish(self.guard.receive(event, None, watermark))

    def meta(self, meta: AccountMeta) -> Step:
        return self._publish(self.guard.step_meta(meta))

    def restore(self, appeal: AppealOutcome, at: datetime) -> bool:
        """An operator approved ``appeal`` at ``at``: count what is held up to then, and
        restore the channel if this lane has it suspended (or under review)."""
        self.release(at)
        try:
            step = self.guard.step_restore(appeal.account_id, appeal.channel,
                                           restore_reason(appeal.kind), appeal.appeal_id,
                                           at=at, decided_by=appeal.decided_by)  # fmt: skip
        except NotSuspended:
            return False
        self._publish(step)
        return True

    def meta_deleted(self, account_id: str) -> Step:
        return self._publish(self.guard.step_meta_deleted(account_id))

    def release(self, watermark: datetime | None) -> None:
        """Count every held event at or before ``watermark`` (all of them for None)."""
        for account_id in self.guard.due(watermark):
            self._publish(self.guard.release(account_id, watermark))

    def accounts(self) -> Iterator[AccountState]:
        return iter(self.store.accounts.values())

    def _publish(self, step: Step) -> Step:
        for decision in step.outcome.decisions:
            self.sink(decision)
        return step
