"""The guard over a state store: de-duplicate, order by event time, apply the engine.

The streaming worker (Faust tables behind a batch store) and the offline replay (dicts)
both drive this class, so dedup, ordering and idempotency behave the same in both. Each
call returns a :class:`Step`: the records to publish. The state it changed is already
staged in the store; the worker makes a batch of steps durable only after publishing
their records, so a crash can repeat a record (same id) but never lose one.

Event-time order: a received event is counted only once the caller's *watermark* (a time
before which no more events are expected) has passed it; until then it waits in
:class:`policy.held.HeldEvents`, and held events are counted in (occurred_at, event_id)
order. ``watermark=None`` means "count at once". An event at or before what the account
already counted in order (late beyond the watermark) is counted on arrival. So is an
event stamped after the caller's *horizon* (the worker's clock plus the allowance): the
watermark cannot pass it before the clock does, so holding it would pin its message, and
every later one of its source, for up to the hour the contract lets a stamp run ahead.

Idempotency under at-least-once delivery: the worker acknowledges a message only after
its events are counted and the state is durable, so a crash makes it read messages
again. The account row records, per source, which of its messages are done
(:class:`policy.state.SourceMark`), and the seen-ids store records which message first
carried each event id of the account (ids come from many MTAs: they are unique per
account only). A re-read message is skipped if the row says it is done; an event id
first carried by *another* message is an upstream duplicate (an MTA retry). The worker
writes seen ids before rows, so a seen id that names this very message but a row that
does not cover it means the row was lost in a crash: the event is counted again, once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Literal

from policy.config import Policy
from policy.engine import (
    Outcome,
    RestoreReason,
    account_status,
    apply_event,
    apply_meta,
    apply_restore,
)
from policy.held import Held, HeldEvents, Position, order_key, time_key
from policy.state import MAX_DONE_EXTRA, AccountState, SourceMark
from policy.store import GuardStore
from schemas.types import AccountMeta, AccountStatus, Channel, Event, Suppression

__all__ = ["Guard", "Position", "Step", "order_key"]

StepKind = Literal["applied", "held", "duplicate", "replayed"]


#: The outcome of a step that counted nothing (shared: never mutate it).
NOTHING = Outcome()


class Step:
    """What one message (or one watermark release) produced.

    ``counted``: events folded into the counts (held ones released included). ``done``:
    messages this step finished: counted, found duplicate, or already done before.
    ``late``: the arriving event was counted out of event-time order (after the account
    had counted a later one). ``ahead``: it was stamped past the horizon and counted on
    arrival.
    A plain class with slots: the guard makes one per message.
    """

    __slots__ = (
        "account_id", "ahead", "counted", "done", "kind", "late", "outcome", "status",
        "suppressions",
    )  # fmt: skip

    def __init__(
        self,
        kind: StepKind,
        account_id: str,
        outcome: Outcome = NOTHING,
        suppressions: Sequence[Suppression] = (),
        status: AccountStatus | None = None,
        counted: int = 0,
        done: Sequence[Position] = (),
    ) -> None:
        self.kind = kind
        self.account_id = account_id
        self.outcome = outcome
        self.suppressions = suppressions
        self.status = status
        self.counted = counted
        self.done = done
        self.late = False
        self.ahead = False


class Guard:
    def __init__(
        self,
        policy: Policy,
        store: GuardStore,
        clock: Callable[[], datetime],
        held: HeldEvents | None = None,
        *,
        suppresses: bool = True,
    ) -> None:
        """``suppresses``: whether steps suppress recipients (stage and return them); a
        shadow policy's do not, as nothing downstream obeys it."""
        self.policy = policy
        self.store = store
        self.clock = clock
        self.held = held if held is not None else HeldEvents()
        self.suppresses = suppresses

    def _account(self, account_id: str) -> AccountState:
        return self.store.load_account(account_id) or AccountState.new(account_id)

    def receive(
        self,
        event: Event,
        position: Position | None = None,
        watermark: datetime | None = None,
        horizon: datetime | None = None,
    ) -> Step:
        """Receive one event; count it, and the account's held events, up to ``watermark``.

        An event stamped after ``horizon`` (None: no horizon) is counted on arrival."""
        account_id = event.account_id
        # An account without a row is made only once an event is counted: in a backlog
        # most events are held first, and making a fresh row for each was 8 % of a worker.
        state = self.store.load_account(account_id)
        if position is not None and state is not None:
            mark = state.done.get(position.source)
            if mark is not None and mark.covers(position.offset):
                return Step("replayed", account_id, done=(position,))
        first_seen_by = self.store.seen_by(account_id, event.event_id)
        if (
            first_seen_by is not None and (position is None or first_seen_by != str(position))
        ) or self.held.holds(account_id, event.event_id):
            return Step("duplicate", account_id, done=() if position is None else (position,))
        arriving = Held(order_key(event), event, position)
        late = (
            state is not None
            and bool(state.released_through)
            and arriving.key <= state.released_through
        )
        ahead = horizon is not None and event.occurred_at > horizon
        if late or ahead or watermark is None or event.occurred_at <= watermark:
            if state is None:
                state = AccountState.new(account_id)
            step = self._count(state, watermark, arriving, late or ahead)
            step.late, step.ahead = late, ahead and not late
            return step
        self.held.hold(arriving)
        return Step("held", account_id)

    def release(self, account_id: str, watermark: datetime | None) -> Step:
        """Count an account's held events up to ``watermark`` (the watermark moved on)."""
        return self._count(self._account(account_id), watermark, None, False)

    def due(self, watermark: datetime | None) -> list[str]:
        """Accounts holding events that ``watermark`` has passed."""
        return self.held.due(watermark)

    def _count(
        self,
        state: AccountState,
        watermark: datetime | None,
        arriving: Held | None,
        on_arrival: bool,
    ) -> Step:
        """Count the account's held events up to ``watermark`` with ``arriving``: in
        event-time order, or after them when it is counted ``on_arrival`` (out of order)."""
        account_id = state.account_id
        in_order = self.held.take(account_id, None if watermark is None else time_key(watermark))
        if arriving is not None and not on_arrival:
            in_order.append(arriving)
            in_order.sort(key=lambda held: held.key)
        counting = in_order + ([arriving] if on_arrival and arriving is not None else [])
        now = self.clock()
        outcome = Outcome()
        meta = self.store.load_meta(account_id)
        done = self._apply(state, counting, in_order, meta, now, watermark, outcome)
        if any(len(mark.extra) > MAX_DONE_EXTRA for mark in state.done.values()):
            # A held event pins every later message of its source that is counted: the
            # row would list them all. Count the account's held events now, out of
            # event-time order (they are ahead of the watermark), so the row stays bounded.
            forced = self.held.take(account_id, None)
            done += self._apply(state, forced, forced, meta, now, watermark, outcome)
            counting += forced
        step = self._finish(state, outcome, now)
        step.counted = len(counting)
        step.done = done
        return step

    def _apply(
        self,
        state: AccountState,
        counting: list[Held],
        in_order: list[Held],
        meta: AccountMeta | None,
        now: datetime,
        watermark: datetime | None,
        outcome: Outcome,
    ) -> list[Position]:
        """Count ``counting`` into ``state`` and the outcome; mark their messages done."""
        for held in counting:
            result = apply_event(self.policy, state, held.event, meta, now, watermark)
            outcome.decisions.extend(result.decisions)
            outcome.suppressions.extend(result.suppressions)
            outcome.status_changed |= result.status_changed
        if in_order:
            state.released_through = max(state.released_through, in_order[-1].key)
        done = [held.position for held in counting if held.position is not None]
        self._mark_done(state, done)
        account_id = state.account_id
        for held in counting:
            self.store.mark_seen(account_id, held.event.event_id, str(held.position or "replay"))
        return done

    def step_meta(self, meta: AccountMeta) -> Step:
        """Account metadata arrived: applied at once (it is not ordered by event time)."""
        state = self._account(meta.account_id)
        now = self.clock()
        outcome = apply_meta(self.policy, state, meta, now)
        self.store.save_meta(meta)
        return self._finish(state, outcome, now)

    def step_meta_deleted(self, account_id: str) -> Step:
        """A tombstone on ``accounts``: the account's metadata is gone, as compaction
        means. It falls back to the defaults of an account never seen; its state stays."""
        self.store.delete_meta(account_id)
        return Step("applied", account_id)

    def step_restore(
        self,
        account_id: str,
        channel: Channel,
        reason: RestoreReason,
        ref: str,
        position: Position | None = None,
        at: datetime | None = None,
        decided_by: str | None = None,
    ) -> Step:
        """The operator ``decided_by`` restored a channel (at ``at``, default the clock's
        now); raises ``NotSuspended`` if there is nothing to.

        A re-read restore command (its message already done) is a ``replayed`` step: the
        restore happened, only its bookkeeping may be missing.
        """
        state = self._account(account_id)
        if position is not None:
            mark = state.done.get(position.source)
            if mark is not None and mark.covers(position.offset):
                return Step("replayed", account_id, done=(position,))
        now = at or self.clock()
        outcome = apply_restore(self.policy, state, channel, reason, ref, now, decided_by)
        done = () if position is None else (position,)
        self._mark_done(state, done)
        step = self._finish(state, outcome, now)
        step.done = done
        return step

    def _mark_done(self, state: AccountState, positions: Iterable[Position]) -> None:
        """Record ``positions`` as done in the row.

        Messages of one source reach the guard in offset order (from the committed
        offset on, after a restart), and every message received and not held is done.
        So everything up to the newest done offset is done when nothing of the source is
        held, and below the first held offset otherwise; offsets done above that line
        are listed. Listed offsets beyond the newest one come from before a restart.
        """
        by_source: dict[str, list[int]] = {}
        for position in positions:
            by_source.setdefault(position.source, []).append(position.offset)
        for source, offsets in by_source.items():
            mark = state.done.get(source) or SourceMark()
            pending = self.held.pending_offsets(state.account_id, source)
            line = pending[0] if pending else max(offsets) + 1
            mark.below = max(mark.below, line)
            extra = sorted({o for o in (*mark.extra, *offsets) if o >= mark.below})
            while extra and extra[0] == mark.below:  # contiguous: the line moves up
                mark.below += 1
                extra.pop(0)
            mark.extra = extra
            state.done[source] = mark

    def _finish(self, state: AccountState, outcome: Outcome, now: datetime) -> Step:
        fresh: dict[str, Suppression] = {}
        for suppression in outcome.suppressions if self.suppresses else ():
            key = suppression.key
            if key not in fresh and not self.store.is_suppressed(state.account_id, key):
                fresh[key] = suppression
                self.store.mark_suppressed(state.account_id, key, suppression.reason)
        self.store.save_account(state)
        status = account_status(state, now) if outcome.status_changed else None
        return Step("applied", state.account_id, outcome, list(fresh.values()), status)
