"""One contract, every store: ``policy.store.GuardStore`` as the guard relies on it.

The same tests run against the in-memory stores (``DictStore``, the replay's
``ReplayStore``) and the worker's ``tables.batch.TableBatch`` on real RocksDB databases
(faust tables, no broker: a flush hands the changelog records to a list). Each store is
also checked across a flush and a reopen, where the worker's state lives on disk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from offline.simulate import simulate
from policy import load_policy
from policy.guard import Guard, Position, order_key
from policy.state import AccountState
from policy.store import DictStore, GuardStore, ReplayStore
from schemas.parse import parse_event
from schemas.types import AccountMeta, Event
from streams.app import create_app
from streams.partitioning import account_partition
from streams.settings import Settings
from tables import define_tables
from tables.batch import TableBatch
from tables.checkpoint import Checkpoint

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


class Harness:
    """A store, and how to make its staged writes durable and read them back afresh."""

    def __init__(self, store: GuardStore, flush: Callable[[GuardStore], None],
                 reopen: Callable[[], GuardStore]) -> None:  # fmt: skip
        self.store = store
        self._flush = flush
        self._reopen = reopen

    def durable(self) -> GuardStore:
        """Flush, then a store that reads only what was flushed."""
        self._flush(self.store)
        self.store = self._reopen()
        return self.store


def _dicts(store: DictStore) -> Harness:
    return Harness(store, lambda _: None, lambda: store)


def _rocksdb(tmp_path: Path) -> Harness:
    app = create_app(Settings(data_dir=tmp_path, app_id="contract"))
    tables = define_tables(app, block_cache_bytes=1 << 20, seen_ttl_days=9, partitions=4)

    def flush(batch: GuardStore) -> None:
        assert isinstance(batch, TableBatch)
        Checkpoint(batch).commit_locally()  # as the worker flushes, with no broker

    return Harness(TableBatch(tables, 4), flush, lambda: TableBatch(tables, 4))


STORES: dict[str, Callable[[Path], Harness]] = {
    "DictStore": lambda _: _dicts(DictStore()),
    "ReplayStore": lambda _: _dicts(ReplayStore(lambda: NOW, timedelta(days=9))),
    "TableBatch on RocksDB": _rocksdb,
}


@pytest.fixture(params=list(STORES))
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    yield STORES[request.param](tmp_path)


class TestGuardStoreContract:
    def test_an_unknown_account_has_nothing(self, harness: Harness) -> None:
        store = harness.store
        assert store.load_account("acme") is None
        assert store.load_meta("acme") is None
        assert store.seen_by("acme", "e-1") is None
        assert store.is_suppressed("acme", "acme/u@x.test") is False

    @pytest.mark.parametrize("flushed", [False, True], ids=["staged", "flushed"])
    def test_what_is_written_is_read_back(self, harness: Harness, flushed: bool) -> None:
        store = harness.store
        store.save_account(AccountState.new("acme"))
        store.mark_seen("acme", "e-1", "email.delivery/0@5")
        store.mark_suppressed("acme", "acme/u@x.test", "hard_bounce")
        meta = AccountMeta(account_id="acme", tier="starter", primary_contact="ops@acme.test")
        store.save_meta(meta)
        if flushed:
            store = harness.durable()
        assert store.load_account("acme") == AccountState.new("acme")
        assert store.seen_by("acme", "e-1") == "email.delivery/0@5"
        assert store.is_suppressed("acme", "acme/u@x.test") is True
        assert store.is_suppressed("acme", "acme/v@x.test") is False
        assert store.load_meta("acme") == meta
        assert store.load_account("other") is None

    @pytest.mark.parametrize("flushed", [False, True], ids=["staged", "flushed"])
    def test_deleted_metadata_is_gone(self, harness: Harness, flushed: bool) -> None:
        harness.store.save_meta(AccountMeta(account_id="acme", tier="starter"))
        harness.durable()
        harness.store.delete_meta("acme")
        harness.store.delete_meta("never-seen")  # deleting nothing is no error
        store = harness.durable() if flushed else harness.store
        assert store.load_meta("acme") is None

    @pytest.mark.parametrize("flushed", [False, True], ids=["staged", "flushed"])
    def test_seen_ids_are_per_account(self, harness: Harness, flushed: bool) -> None:
        """Event ids come from many MTAs: one account's id says nothing of another's,
        also on the same partition (``stark`` shares ``acme``'s of 4)."""
        assert account_partition("acme", 4) == account_partition("stark", 4)
        store = harness.store
        store.mark_seen("acme", "e-1", "email.delivery/0@5")
        if flushed:
            store = harness.durable()
        assert store.seen_by("acme", "e-1") == "email.delivery/0@5"
        assert store.seen_by("stark", "e-1") is None
        store.mark_seen("stark", "e-1", "email.delivery/1@7")
        if flushed:
            store = harness.durable()
        assert store.seen_by("acme", "e-1") == "email.delivery/0@5"
        assert store.seen_by("stark", "e-1") == "email.delivery/1@7"

    def test_a_guard_counts_the_same_event_id_in_two_accounts(self, harness: Harness) -> None:
        guard = Guard(load_policy(), harness.store, lambda: NOW)
        for n, account in enumerate(("acme", "stark")):
            body = {"event_id": "mta-7", "account_id": account, "recipient": "u@x.test",
                    "occurred_at": "2026-11-20T11:00:00Z"}  # fmt: skip
            event = parse_event("email.delivery", body, now=NOW, late_grace_days=7)
            assert guard.receive(event, Position("email.delivery/0", n)).kind == "applied"
            guard.store = harness.durable()
        for account in ("acme", "stark"):
            state = guard.store.load_account(account)
            assert state is not None and state.channels["marketing"].periods["2026-11"].sent == 1

    def test_the_last_save_of_a_flush_wins(self, harness: Harness) -> None:
        row = AccountState.new("acme")
        harness.store.save_account(row)
        row.review_approved = True  # the guard mutates the live row, then saves it again
        harness.store.save_account(row)
        assert harness.durable().load_account("acme") == row

    def test_accounts_do_not_share_rows_or_metadata(self, harness: Harness) -> None:
        for n in range(40):  # enough to land on every partition
            harness.store.save_meta(AccountMeta(account_id=f"a{n}", tier="professional"))
        store = harness.durable()
        assert [store.load_meta(f"a{n}").account_id for n in range(40)] == [  # type: ignore[union-attr]
            f"a{n}" for n in range(40)
        ]

    def test_a_guard_over_the_store_decides_as_over_dicts(self, harness: Harness) -> None:
        """Six simulated days, flushed and reopened every 500 events as the worker
        flushes: the same decisions as the guard over plain dicts."""
        events = _six_days()
        expected = _decide(Guard(load_policy(), DictStore(), lambda: NOW), events, lambda: None)
        guard = Guard(load_policy(), harness.store, lambda: NOW)

        def flush() -> None:
            guard.store = harness.durable()

        assert _decide(guard, events, flush) == expected
        assert any(d[1] == "suspend" for d in expected)  # the run has something to decide


def _six_days() -> list[tuple[Event, Position]]:
    policy = load_policy()
    start = NOW - timedelta(days=6)
    parsed = []
    for offset, item in enumerate(simulate(12, seed=7, start=start, days=6)):
        if not isinstance(item, dict) or not item["topic"].startswith("email."):
            continue
        body = {k: v for k, v in item.items() if k != "topic"}
        event = parse_event(item["topic"], body, now=NOW, late_grace_days=policy.late_grace_days)
        parsed.append((event, Position(f"{item['topic']}/0", offset)))
    return sorted(parsed, key=lambda pair: order_key(pair[0]))


def _decide(guard: Guard, events: list[tuple[Event, Position]],
            flush: Callable[[], None]) -> list[tuple[str, str, str, str | None]]:  # fmt: skip
    decisions = []
    for n, (event, position) in enumerate(events, 1):
        step = guard.receive(event, position)
        decisions += [(d.account_id, d.action, d.channel, d.reason) for d in step.outcome.decisions]
        if n % 500 == 0:
            flush()
    return decisions
