"""``sendguard_accounts``: the accounts in each state, on the partitions this worker owns.

Counted from the accounts table, not from what this process happened to publish: a
guard partition is counted once, by a scan of its table partition when the worker first
handles it (after faust recovered the table), and then kept up to date by the rows the
guard creates and the statuses it publishes. A revoked partition's counts are removed.
Only accounts not active in every channel are remembered one by one; the rest are a count.
Every update is O(1) in the number of accounts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from prometheus_client import Gauge

from schemas.types import CHANNELS

#: (marketing state, crm state) of an account, in ``CHANNELS`` order.
States = tuple[str, ...]
ACTIVE: States = tuple("active" for _ in CHANNELS)
SHOWN_STATES = ("active", "warned", "suspended", "under_review")


class _Partition:
    def __init__(self) -> None:
        self.rows = 0
        #: accounts not active in every channel, and their states
        self.others: dict[str, States] = {}
        #: (state, channel) -> accounts of ``others`` in that state, "active" excluded
        self.inactive: Counter[tuple[str, str]] = Counter()

    def set(self, account_id: str, states: States) -> None:
        for channel, state in zip(CHANNELS, self.others.pop(account_id, ACTIVE), strict=True):
            if state != "active":
                self.inactive[(state, channel)] -= 1
        if states != ACTIVE:
            self.others[account_id] = states
            for channel, state in zip(CHANNELS, states, strict=True):
                if state != "active":
                    self.inactive[(state, channel)] += 1


class AccountCensus:
    def __init__(self, gauge: Gauge) -> None:
        self.gauge = gauge
        self._partitions: dict[int, _Partition] = {}

    def counted(self, partition: int) -> bool:
        return partition in self._partitions

    def count(self, partition: int, rows: Iterable[tuple[str, States]]) -> None:
        """Count a partition from its table: every account row and its states."""
        counted = self._partitions[partition] = _Partition()
        for account_id, states in rows:
            counted.rows += 1
            counted.set(account_id, states)
        self._show()

    def created(self, partition: int, account_ids: Iterable[str]) -> None:
        """New account rows written to a counted partition (active in every channel)."""
        counted = self._partitions.get(partition)
        if counted is not None:
            counted.rows += sum(1 for _ in account_ids)
            self._show()

    def published(self, partition: int, account_id: str, channels: Mapping[str, str]) -> None:
        """A status record of an account on a counted partition: its states now."""
        counted = self._partitions.get(partition)
        if counted is not None:
            counted.set(account_id, tuple(channels.get(name, "active") for name in CHANNELS))
            self._show()

    def forget(self, partitions: Iterable[int]) -> None:
        for partition in partitions:
            self._partitions.pop(partition, None)
        self._show()

    def totals(self) -> Counter[tuple[str, str]]:
        """(state, channel) -> accounts, over the counted partitions."""
        totals: Counter[tuple[str, str]] = Counter()
        for counted in self._partitions.values():
            totals.update(counted.inactive)
            for channel in CHANNELS:
                inactive = sum(n for (_, c), n in counted.inactive.items() if c == channel)
                totals[("active", channel)] += counted.rows - inactive
        return totals

    def _show(self) -> None:
        totals = self.totals()
        for state in SHOWN_STATES:
            for channel in CHANNELS:
                self.gauge.labels(state=state, channel=channel).set(totals[(state, channel)])
