"""The accounts gauge's bookkeeping: a table scan, then rows created and statuses published."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from agents.census import AccountCensus
from streams.metrics import Metrics


def _census() -> AccountCensus:
    return AccountCensus(Metrics(CollectorRegistry()).accounts)


def test_states_follow_the_published_statuses() -> None:
    census = _census()
    census.count(0, [("a", ("active", "active")), ("b", ("warned", "active")),
                     ("c", ("suspended", "suspended"))])  # fmt: skip
    assert +census.totals() == {("active", "marketing"): 1, ("warned", "marketing"): 1,
                                ("suspended", "marketing"): 1, ("active", "crm"): 2,
                                ("suspended", "crm"): 1}  # fmt: skip
    census.published(0, "b", {"marketing": "active", "crm": "active"})  # the warning expired
    census.published(0, "a", {"marketing": "under_review", "crm": "active"})
    census.created(0, ["d"])
    census.published(1, "z", {"marketing": "suspended"})  # a partition not counted here
    assert +census.totals() == {("active", "marketing"): 2, ("under_review", "marketing"): 1,
                                ("suspended", "marketing"): 1, ("active", "crm"): 3,
                                ("suspended", "crm"): 1}  # fmt: skip
    census.forget([0])
    assert +census.totals() == {}
