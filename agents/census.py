"""``sendguard_accounts``: the accounts in each state, on the partitions this worker owns.

Counted from the accounts table, not from what this process happened to publish: a
guard partition is counted once, by a scan of its table partition when the worker first
handles it (after faust recovered the table), and then kept up to date by the rows the
guard creates and the statuses it publishes. A revoked partition's counts are removed.
Only accounts not active in both channels are remembered one by one; the rest are a count.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from prometheus_client import Gauge

from schemas.types import CHANNELS

#: (marketing state, crm state) of an account, in ``CHANNELS`` order.
States = tuple[str, ...]
ACTIVE: States = tuple("active" for _ in CHANNELS)


class AccountCensus:
    def __init__(self, gauge: Gauge) -> None:
        self.gauge = gauge
        #: partition -> accounts rows counted there
        self._rows: dict[int, int] = {}
        #: partition -> account -> states, for accounts not active in every channel
        self._others: dict[int, dict[str, States]] = {}

    def counted(self, partition: int) -> bool:
        return partition in self._rows

    def count(self, partition: int, rows: Iterable[tuple[str, States]]) -> None:
        """Count a partition from its table: every account row and its states."""
        total, others = 0, {}
        for account_id, states in rows:
            total += 1
            if states != ACTIVE:
                others[account_id] = states
        self._rows[partition], self._others[partition] = total, others
        self._show()

    def created(self, partition: int, account_ids: Iterable[str]) -> None:
        """New account rows written to a counted partition (active in every channel)."""
        if partition in self._rows:
            self._rows[partition] += sum(1 for _ in account_ids)
            self._show()

    def published(self, partition: int, account_id: str, channels: Mapping[str, str]) -> None:
        """A status record of an account on a counted partition: its states now."""
        others = self._others.get(partition)
        if others is None:
            return
        states = tuple(channels.get(name, "active") for name in CHANNELS)
        if states == ACTIVE:
            others.pop(account_id, None)
        else:
            others[account_id] = states
        self._show()

    def forget(self, partitions: Iterable[int]) -> None:
        for partition in partitions:
            self._rows.pop(partition, None)
            self._others.pop(partition, None)
        self._show()

    def totals(self) -> Counter[tuple[str, str]]:
        """(state, channel) -> accounts, over the counted partitions."""
        totals: Counter[tuple[str, str]] = Counter()
        for partition, rows in self._rows.items():
            others = self._others[partition]
            for index, channel in enumerate(CHANNELS):
                totals[("active", channel)] += rows
                for states in others.values():
                    if states[index] != "active":
                        totals[("active", channel)] -= 1
                        totals[(states[index], channel)] += 1
        return totals

    def _show(self) -> None:
        totals = self.totals()
        for state in ("active", "warned", "suspended", "under_review"):
            for channel in CHANNELS:
                self.gauge.labels(state=state, channel=channel).set(totals[(state, channel)])
