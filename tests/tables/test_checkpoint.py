"""The flush's owner (``tables.checkpoint``) over real RocksDB tables, without a broker:
the phases' order, the seal between a phase's changelog and its apply, and what it says
of new accounts."""

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


def stage(store: TableBatch, account_id: str) -> None:
    """A step's writes: a seen id, and the account's row."""
    assert store.load_account(account_id) is None
    store.mark_seen(account_id, "e1", "email.delivery/0@7")
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


async def test_a_write_while_a_phase_is_on_its_way_is_refused(
    tables: tuple[Tables, Tables],
) -> None:
    """A write between a phase's changelog and its apply would reach RocksDB without its
    changelog record, and be lost at the next recovery: it raises, in either phase."""
    store = TableBatch(tables[0], PARTITIONS)
    stage(store, "acct-1")
    refused: list[str] = []

    async def send_while_writing() -> Offsets:
        for write in (lambda: store.mark_seen("acct-2", "e2", "email.bounce/0@1"),
                      lambda: store.save_account(AccountState.new("acct-2"))):  # fmt: skip
            with pytest.raises(SealedError) as exc:
                write()
            refused.append(str(exc.value))
        return {}

    await Checkpoint(store).commit(lambda *record: None, send_while_writing)
    assert len(refused) == 4 and "tables phase" in refused[0] and "rows phase" in refused[2]
    assert store.seen_by("acct-2", "e2") is None
    store.mark_seen("acct-2", "e2", "email.bounce/0@1")  # open again once applied
    assert store.seen_by("acct-2", "e2") == "email.bounce/0@1"


def test_a_flush_without_a_broker_makes_the_writes_durable(tables: tuple[Tables, Tables]) -> None:
    store = TableBatch(tables[0], PARTITIONS)
    stage(store, "acct-1")
    assert Checkpoint(store).commit_locally() == {store.partition_of("acct-1"): ["acct-1"]}
    assert not store
    assert TableBatch(tables[0], PARTITIONS).load_account("acct-1") is not None
