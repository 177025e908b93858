"""A *lane* is one :class:`policy.guard.Guard` driven over a replay, with its own store.

The replay runs one lane per policy (two with ``--compare``) over the same pass, so both
see the same events, watermarks and releases. Held events wait in the guard's
``policy.held.HeldEvents``, the same class the worker uses.
"""

from __future__ import annotations

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

    Seen event ids expire like the worker's TTL table, by the replay's event-time clock,
    so memory follows the grace window rather than the file's length; a repeat older
    than that would be rejected as late before it reached the guard anyway.
    """

    def __init__(self, clock: Clock, ttl: timedelta) -> None:
        super().__init__()
        self._clock = clock
        self._ttl_days = max(1, ttl.days + (1 if ttl.seconds else 0))
        self._days: deque[tuple[int, list[str]]] = deque()

    def mark_seen(self, account_id: str, event_id: str, position: str) -> None:
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

    def receive(self, event: Event, watermark: datetime | None) -> Step:
        """Step one event, counting what ``watermark`` lets through for its account."""
        return self._publish(self.guard.receive(event, None, watermark))

    def meta(self, meta: AccountMeta) -> Step:
        return self._publish(self.guard.step_meta(meta))

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
