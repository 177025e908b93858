"""One step of the guard over a state store: de-duplicate, order, apply the engine, stage writes.

The streaming worker (Faust tables) and the offline replay (dicts) both drive this class,
so dedup and idempotency behave the same in both. A step is two-phase: :meth:`Guard.step`
computes what to publish without writing anything, the caller publishes, and only then
:meth:`Guard.commit` writes the new state. A crash between the two leaves the state as it
was, so the replayed message produces the same records again (same decision ids) instead
of being lost.

Idempotency under at-least-once delivery: the account row remembers the last source offset
folded into it, and the seen-ids table remembers which message first carried an event id.
A replayed message is recognised by either, whichever of the two writes survived a crash.

Event-time order: input topics are consumed independently, so an account's bounces can
arrive before the deliveries they followed. A received event is counted only once the
caller's *watermark* (a time before which no more events are expected) has passed it;
until then it is *held* in the store (``policy.held``), and held events are counted in
(occurred_at, event_id) order. The streaming worker derives the watermark from the input
partitions' progress, the replay from the file; both call this same code, so they count
the same events in the same order. ``watermark=None`` means "count at once". An event
older than what was already counted (late beyond the watermark) is counted on arrival.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from policy.config import Policy
from policy.engine import (
    Outcome,
    RestoreReason,
    account_status,
    apply_event,
    apply_meta,
    apply_restore,
)
from policy.held import HeldInMemory, order_key, time_key
from policy.state import AccountState, decode_state, encode_state
from schemas.types import AccountMeta, AccountStatus, Channel, Event, Suppression

StepKind = Literal["applied", "duplicate", "replayed"]


class GuardStore(Protocol):
    """Where the guard keeps its state; Faust tables in the worker, dicts in replay."""

    def load_account(self, account_id: str) -> AccountState | None: ...
    def save_account(self, state: AccountState) -> None: ...
    def seen_by(self, event_id: str) -> str | None: ...
    def mark_seen(self, event_id: str, position: str) -> None: ...
    def is_suppressed(self, key: str) -> bool: ...
    def mark_suppressed(self, key: str, reason: str) -> None: ...
    def load_meta(self, account_id: str) -> AccountMeta | None: ...
    def save_meta(self, meta: AccountMeta) -> None: ...
    def hold(self, event: Event) -> None: ...
    def held(self, account_id: str, up_to: str | None) -> list[tuple[str, Event]]: ...
    def drop_held(self, account_id: str, keys: list[str]) -> None: ...
    def first_held(self, account_id: str) -> Event | None: ...


@dataclass(frozen=True)
class Position:
    """Where a message sits on the internal topic: partition and offset."""

    partition: int
    offset: int

    def __str__(self) -> str:
        return f"{self.partition}:{self.offset}"


@dataclass
class Step:
    """What one message produced, before anything is written."""

    kind: StepKind
    state: AccountState
    outcome: Outcome = field(default_factory=Outcome)
    suppressions: list[Suppression] = field(default_factory=list)
    status: AccountStatus | None = None
    event_id: str | None = None
    position: Position | None = None
    meta: AccountMeta | None = None
    counted: int = 0
    """Events folded into the counts by this step (held ones released included)."""
    to_hold: Event | None = None
    released: list[str] = field(default_factory=list)
    """Order keys of held events this step counted (or found already counted)."""


class DictStore(HeldInMemory):
    """The in-memory twin of the worker's tables (replay, unit tests).

    Accounts are kept encoded, as in the table, so a step that is never committed cannot
    change the stored state through a shared object.
    """

    def __init__(self) -> None:
        super().__init__()
        self.accounts: dict[str, bytes] = {}
        self.seen: dict[str, str] = {}
        self.suppressed: dict[str, str] = {}
        self.meta: dict[str, AccountMeta] = {}

    def load_account(self, account_id: str) -> AccountState | None:
        raw = self.accounts.get(account_id)
        return decode_state(raw) if raw is not None else None

    def save_account(self, state: AccountState) -> None:
        self.accounts[state.account_id] = encode_state(state)

    def seen_by(self, event_id: str) -> str | None:
        return self.seen.get(event_id)

    def mark_seen(self, event_id: str, position: str) -> None:
        self.seen[event_id] = position

    def is_suppressed(self, key: str) -> bool:
        return key in self.suppressed

    def mark_suppressed(self, key: str, reason: str) -> None:
        self.suppressed[key] = reason

    def load_meta(self, account_id: str) -> AccountMeta | None:
        return self.meta.get(account_id)

    def save_meta(self, meta: AccountMeta) -> None:
        self.meta[meta.account_id] = meta


class Guard:
    def __init__(self, policy: Policy, store: GuardStore, clock: Callable[[], datetime]) -> None:
        self.policy = policy
        self.store = store
        self.clock = clock

    def _account(self, account_id: str) -> AccountState:
        return self.store.load_account(account_id) or AccountState.new(account_id)

    @staticmethod
    def _already_applied(state: AccountState, position: Position | None) -> bool:
        if position is None:
            return False
        return position.offset <= state.applied_offsets.get(str(position.partition), -1)

    @staticmethod
    def _mark_applied(state: AccountState, position: Position | None) -> None:
        if position is not None:
            state.applied_offsets[str(position.partition)] = position.offset

    def step(
        self, event: Event, position: Position | None = None, watermark: datetime | None = None
    ) -> Step:
        """Receive one event; count it, and any held event, up to ``watermark``."""
        state = self._account(event.account_id)
        if self._already_applied(state, position):
            return Step("replayed", state, event_id=event.event_id, position=position)
        first_seen_by = self.store.seen_by(event.event_id)
        if first_seen_by is not None and (position is None or first_seen_by != str(position)):
            return Step("duplicate", state, event_id=event.event_id)
        self._mark_applied(state, position)
        now = self.clock()
        key = order_key(event)
        late = bool(state.released_through) and key <= state.released_through
        if late or watermark is None or event.occurred_at <= watermark:
            arriving: tuple[str, Event] | None = (key, event)
        else:
            arriving = None
        step = self._count_due(state, watermark, now, arriving, late)
        step.event_id, step.position = event.event_id, position
        if arriving is None:
            step.to_hold = event
        return step

    def release(self, account_id: str, watermark: datetime | None) -> Step:
        """Count an account's held events up to ``watermark`` (the watermark moved on)."""
        return self._count_due(self._account(account_id), watermark, self.clock(), None, False)

    def _count_due(
        self,
        state: AccountState,
        watermark: datetime | None,
        now: datetime,
        arriving: tuple[str, Event] | None,
        late: bool,
    ) -> Step:
        due = self.store.held(state.account_id, None if watermark is None else time_key(watermark))
        released = [key for key, _ in due]
        fresh = [(key, e) for key, e in due if key > state.released_through]
        if arriving is not None and not late:
            fresh.append(arriving)
            fresh.sort(key=lambda entry: entry[0])
        outcome = Outcome()
        meta = self.store.load_meta(state.account_id)
        counting = fresh + ([arriving] if late and arriving is not None else [])
        for _key, event in counting:
            result = apply_event(self.policy, state, event, meta, now)
            outcome.decisions.extend(result.decisions)
            outcome.suppressions.extend(result.suppressions)
            outcome.status_changed |= result.status_changed
        if fresh:
            state.released_through = max(state.released_through, fresh[-1][0])
        step = self._staged("applied", state, outcome, now, None, None)
        step.counted = len(counting)
        step.released = released
        return step

    def step_meta(self, meta: AccountMeta) -> Step:
        state = self._account(meta.account_id)
        now = self.clock()
        outcome = apply_meta(self.policy, state, meta, now)
        step = self._staged("applied", state, outcome, now, None, None)
        step.meta = meta
        return step

    def step_restore(
        self,
        account_id: str,
        channel: Channel,
        reason: RestoreReason,
        ref: str,
        position: Position | None = None,
    ) -> Step:
        """An operator restored a channel; raises ``NotSuspended`` if there is nothing to.

        A replayed restore command (its offset already folded into the account) is a
        ``replayed`` step: the restore happened, only its bookkeeping may be missing.
        """
        state = self._account(account_id)
        if self._already_applied(state, position):
            return Step("replayed", state, position=position)
        now = self.clock()
        outcome = apply_restore(self.policy, state, channel, reason, ref, now)
        self._mark_applied(state, position)
        return self._staged("applied", state, outcome, now, None, position)

    def _staged(
        self,
        kind: StepKind,
        state: AccountState,
        outcome: Outcome,
        now: datetime,
        event_id: str | None,
        position: Position | None,
    ) -> Step:
        fresh: dict[str, Suppression] = {}
        for suppression in outcome.suppressions:
            if suppression.key not in fresh and not self.store.is_suppressed(suppression.key):
                fresh[suppression.key] = suppression
        status = account_status(state, now) if outcome.status_changed else None
        return Step(kind, state, outcome, list(fresh.values()), status, event_id, position)

    def earliest_held(self, account_id: str) -> datetime | None:
        """When the account's first held event happened (None: it holds nothing)."""
        first = self.store.first_held(account_id)
        return first.occurred_at if first is not None else None

    def commit(self, step: Step) -> None:
        """Write what ``step`` changed; call only after its records were published."""
        if step.kind == "duplicate":
            return
        if step.kind == "applied":
            if step.to_hold is not None:  # before the row: a replay must find it held
                self.store.hold(step.to_hold)
            self.store.save_account(step.state)
            for suppression in step.suppressions:
                self.store.mark_suppressed(suppression.key, suppression.reason)
            if step.meta is not None:
                self.store.save_meta(step.meta)
            if step.released:  # after the row: left-overs are skipped by released_through
                self.store.drop_held(step.state.account_id, step.released)
        if step.event_id is not None:
            self.store.mark_seen(step.event_id, str(step.position) if step.position else "replay")
