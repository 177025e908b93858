"""A *lane* is one :class:`policy.guard.Guard` driven over a replay, with its own store.

The replay runs one lane per policy (two with ``--compare``) over the same pass, so both
see the same events, watermarks and releases. A lane keeps a heap of
``(earliest held event, account)`` from each step, so a watermark that moves on releases
exactly the accounts with something now due, without scanning every account.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

from policy.config import Policy
from policy.guard import DictStore, Guard, Step
from policy.state import AccountState
from schemas.types import AccountMeta, Decision, Event

Clock = Callable[[], datetime]
Sink = Callable[[Decision], None]

#: The worker's seen-events table keeps ids this long past the late-event grace.
SEEN_TTL_EXTRA = timedelta(days=2)


class ReplayStore(DictStore):
    """The guard's state for a replay (a ``GuardStore``), in memory.

    Unlike ``DictStore`` it keeps account states as live objects: a replay commits every
    step at once, so no uncommitted step can leak through a shared object, and skipping an
    encode and decode per event roughly halves the cost of a step. Seen event ids expire
    like the worker's TTL table, by the replay's event-time clock, so memory follows the
    grace window rather than the file's length; a repeat older than that would be
    rejected as late before it reached the guard anyway.
    """

    def __init__(self, clock: Clock, ttl: timedelta) -> None:
        super().__init__()
        self.states: dict[str, AccountState] = {}
        self._clock = clock
        self._ttl_days = max(1, ttl.days + (1 if ttl.seconds else 0))
        self._days: deque[tuple[int, list[str]]] = deque()

    def load_account(self, account_id: str) -> AccountState | None:
        return self.states.get(account_id)

    def save_account(self, state: AccountState) -> None:
        self.states[state.account_id] = state

    def mark_seen(self, event_id: str, position: str) -> None:
        day = self._clock().toordinal()
        if not self._days or self._days[-1][0] != day:
            self._days.append((day, []))
            while self._days[0][0] < day - self._ttl_days:
                for old in self._days.popleft()[1]:
                    self.seen.pop(old, None)
        self._days[-1][1].append(event_id)
        self.seen[event_id] = position


class Lane:
    def __init__(self, policy: Policy, clock: Clock, sink: Sink) -> None:
        self.policy = policy
        self.store = ReplayStore(clock, timedelta(days=policy.late_grace_days) + SEEN_TTL_EXTRA)
        self.guard = Guard(policy, self.store, clock)
        self.sink = sink
        self._due: dict[str, datetime] = {}
        self._heap: list[tuple[datetime, str]] = []

    def receive(self, event: Event, watermark: datetime | None) -> Step:
        """Step one event, counting what ``watermark`` lets through for its account."""
        step = self.guard.step(event, None, watermark)
        self._finish(step, event.account_id)
        return step

    def meta(self, meta: AccountMeta) -> Step:
        step = self.guard.step_meta(meta)
        self._finish(step, meta.account_id)
        return step

    def release(self, watermark: datetime | None) -> None:
        """Count every held event at or before ``watermark`` (all of them for None)."""
        heap = self._heap
        while heap and (watermark is None or heap[0][0] <= watermark):
            at, account = heapq.heappop(heap)
            if self._due.get(account) != at:
                continue  # stale: the account's earliest held event changed since
            del self._due[account]
            self._finish(self.guard.release(account, watermark), account)

    def accounts(self) -> Iterator[AccountState]:
        return iter(self.store.states.values())

    def _finish(self, step: Step, account_id: str) -> None:
        # As the worker does: publish a step's records, then write its state.
        for decision in step.outcome.decisions:
            self.sink(decision)
        self.guard.commit(step)
        earliest = self.guard.earliest_held(account_id)
        if earliest is None:
            self._due.pop(account_id, None)
        elif self._due.get(account_id) != earliest:
            self._due[account_id] = earliest
            heapq.heappush(self._heap, (earliest, account_id))
