"""The flush's owner (``tables.checkpoint``) over real RocksDB tables, without a broker:
the phases' order, writes made while a flush is on its way, and what it says of new
accounts."""

from __future__ import annotations

from pathlib import Path

import pytest

from policy.state import AccountState
from streams.app import create_app
from streams.settings import Settings
from tables import Tables, define_shadow_tables, define_tables
from tables.batch import Offsets, SealedError, TableBatch
from tables.checkpoint import Checkpoint

PARTITIONS = 2


@pytest.fixture
def tables(tmp_path: Path) -> tuple[Tables, Tables]:
    app = create_app(Settings(data_dir=tmp_path, app_id="checkpoint"))
    live = define_tables(app, block_cache_bytes=1 << 20, seen_ttl_days=9, partitions=PARTITIONS)
    shadow = define_shadow_tables(app, live, block_cache_bytes=1 << 20, seen_ttl_days=9,
                                  partitions=PARTITIONS)  # fmt: skip
    return live, shadow


async def nothing_sent() -> Offsets:
    return {}


def stage(store: TableBatch, account_id: str, event_id: str = "e1") -> None:
    """A step's writes: a seen id, and the account's row."""
    assert store.load_account(account_id) is None
    store.mark_seen(account_id, event_id, "email.delivery/0@7")
    store.save_account(AccountState.new(account_id))


async def test_the_rows_go_out_only_after_everything_else_is_sent(
    tables: tuple[Tables, Tables],
) -> None:
    live, shadow = tables
    store, own = TableBatch(live, PARTITIONS), TableBatch(shadow, PARTITIONS)
    stage(store, "acct-1")
    own.save_account(AccountState.new("acct-1"))
    added: list[str] = []
    sends: list[list[str]] = []

    async def send() -> Offsets:
        sends.append(list(added))
        added.clear()
        return {}

    created = await Checkpoint(store, own).commit(lambda topic, *rest: added.append(topic), send)
    accounts = f"{live.accounts.changelog_topic.get_topic_name()}"
    shadow_accounts = f"{shadow.accounts.changelog_topic.get_topic_name()}"
    assert len(sends) == 2
    first, second = sends
    assert first and accounts not in first and shadow_accounts not in first  # seen ids
    assert sorted(second) == sorted([accounts, shadow_accounts])  # then the rows, both
    # The live store's new accounts only (the census counts the live ones).
    assert created == {store.partition_of("acct-1"): ["acct-1"]}
    again = TableBatch(live, PARTITIONS)
    assert again.load_account("acct-1") is not None
    assert again.seen_by("acct-1", "e1") == "email.delivery/0@7"


async def test_writes_while_a_flush_is_on_its_way_wait_for_the_next_flush(
    tables: tuple[Tables, Tables],
) -> None:
    """The guard goes on working while a flush waits for the broker: what it writes then
    is read back at once, but reaches neither that flush's changelog nor RocksDB (which
    would hold it without its changelog record); the next flush takes it."""
    live = tables[0]
    store = TableBatch(live, PARTITIONS)
    stage(store, "acct-1")
    added: list[tuple[str, bytes]] = []
    seen_during: list[object] = []

    async def send_while_writing() -> Offsets:
        if seen_during:
            return {}  # the rows phase
        stage(store, "acct-2", "e2")
        seen_during.extend([store.seen_by("acct-2", "e2"), store.seen_by("acct-1", "e1"),
                            store.load_account("acct-1") is not None])  # fmt: skip
        return {}

    created = await Checkpoint(store).commit(
        lambda topic, partition, key, value: added.append((topic, key)), send_while_writing
    )
    assert seen_during == ["email.delivery/0@7", "email.delivery/0@7", True]
    assert created == {store.partition_of("acct-1"): ["acct-1"]}
    assert [key for _, key in added if b"acct-2" in key] == []
    assert store  # acct-2 staged for the next flush
    fresh = TableBatch(live, PARTITIONS)  # reads RocksDB only
    assert fresh.seen_by("acct-2", "e2") is None and fresh.load_account("acct-2") is None
    assert fresh.load_account("acct-1") is not None

    again = await Checkpoint(store).commit(lambda *record: None, nothing_sent)
    assert again == {store.partition_of("acct-2"): ["acct-2"]}
    assert TableBatch(live, PARTITIONS).seen_by("acct-2", "e2") == "email.delivery/0@7"


async def test_a_frozen_row_evicted_from_the_cache_is_read_from_the_flush(
    tables: tuple[Tables, Tables], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row frozen into a flush is no longer dirty, so the row cache may drop it before
    the flush applies it: reading it again must find the frozen row, not RocksDB's older
    one (nor none, which would count the account as new twice)."""
    monkeypatch.setattr("tables.batch.ROW_CACHE", 1)
    store = TableBatch(tables[0], PARTITIONS)
    stage(store, "acct-1")
    loaded: list[object] = []

    async def send() -> Offsets:
        if not loaded:
            stage(store, "acct-2", "e2")  # evicts acct-1 from the cache
        loaded.append(store.load_account("acct-1"))  # in either phase
        return {}

    created = await Checkpoint(store).commit(lambda *record: None, send)
    assert loaded[0] is not None and loaded[1] is not None
    assert created == {store.partition_of("acct-1"): ["acct-1"]}
    again = await Checkpoint(store).commit(lambda *record: None, nothing_sent)
    assert again == {store.partition_of("acct-2"): ["acct-2"]}


async def test_a_second_flush_while_one_is_on_its_way_is_refused(
    tables: tuple[Tables, Tables],
) -> None:
    store = TableBatch(tables[0], PARTITIONS)
    stage(store, "acct-1")
    refused: list[str] = []

    async def send_and_flush_again() -> Offsets:
        with pytest.raises(SealedError) as exc:
            store.freeze()
        refused.append(str(exc.value))
        return {}

    await Checkpoint(store).commit(lambda *record: None, send_and_flush_again)
    assert refused == ["a flush is already on its way"] * 2


def test_a_flush_without_a_broker_makes_the_writes_durable(tables: tuple[Tables, Tables]) -> None:
    store = TableBatch(tables[0], PARTITIONS)
    stage(store, "acct-1")
    assert Checkpoint(store).commit_locally() == {store.partition_of("acct-1"): ["acct-1"]}
    assert not store
    assert TableBatch(tables[0], PARTITIONS).load_account("acct-1") is not None
