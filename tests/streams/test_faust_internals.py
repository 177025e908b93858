"""What ``streams.faust_ext`` assumes of faust's and aiokafka's internals, pinned: an
upgrade that changes one of them fails here, not in a rebalance in production.

``BatchingConsumer.getmany`` mirrors faust's ``Consumer.getmany`` step for step, and the
thread's ``_seek_wait``, ``_seek_to_committed`` and ``_commit`` replace faust's and aiokafka's: the
sources they mirror are pinned by hash. When one changes, read the new source, carry the
change over to ``streams.faust_ext``, and update the hash.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
from pathlib import Path
from typing import Any

import aiokafka
import faust
import pytest
from aiokafka.consumer.group_coordinator import GroupCoordinator
from aiokafka.consumer.subscription_state import Assignment, TopicPartitionState
from faust.tables import TableManager
from faust.transport import consumer as faust_consumer
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from streams.app import create_app
from streams.faust_ext import (
    BatchingConsumerThread,
    PerPartitionOpenFilter,
    PromptTableManager,
    seekable,
)
from streams.settings import Settings

#: The versions these assumptions were proved with (pyproject.toml pins them).
FAUST = "0.15.3"
AIOKAFKA = "0.14.0"


def digest(function: Any) -> str:
    return hashlib.sha256(inspect.getsource(function).encode()).hexdigest()[:16]


def test_the_versions_are_the_ones_proved() -> None:
    assert faust.__version__ == FAUST
    assert aiokafka.__version__ == AIOKAFKA


@pytest.mark.parametrize(
    ("function", "expected"),
    [
        (faust_consumer.Consumer.getmany, "4b168d84882a70d6"),
        (faust_consumer.Consumer.perform_seek, "0e8c130ff4b0afd8"),
        (faust_aiokafka.AIOKafkaConsumerThread._seek_wait, "9d221e816d940467"),  # noqa: SLF001
        (faust_aiokafka.AIOKafkaConsumerThread._commit, "932852ce7a23f658"),  # noqa: SLF001
        (aiokafka.AIOKafkaConsumer.seek_to_committed, "f6cd85c8b70a4ccf"),
        # read for all assigned partitions in one request (faust_ext._committed)
        (aiokafka.AIOKafkaConsumer.committed, "d8706147ab1573ad"),
    ],
    ids=lambda value: getattr(value, "__qualname__", ""),
)
def test_the_sources_mirrored_are_unchanged(function: Any, expected: str) -> None:
    assert digest(function) == expected


def test_the_private_members_used_exist() -> None:
    consumer_source = inspect.getsource(faust_consumer.Consumer)
    for name in ("_wait_next_records", "_buffered_partitions", "_to_message", "_add_gap",
                 "_read_offset", "_committed_offset", "_new_offset"):  # fmt: skip
        assert hasattr(faust_consumer.Consumer, name) or f"self.{name} " in consumer_source, name
    for name in ("_fetch_records", "_create_worker_consumer", "call_thread", "_ensure_consumer"):
        assert hasattr(faust_aiokafka.AIOKafkaConsumerThread, name), name
    assert hasattr(GroupCoordinator, "fetch_committed_offsets")
    # aiokafka's subscription state, read in the consumer's thread (and for end offsets).
    assert {"state_value", "tps"} <= set(dir(Assignment))
    assert {"has_valid_position", "position", "seek"} <= set(dir(TopicPartitionState))
    state_source = inspect.getsource(TopicPartitionState.__init__)
    assert "self.lso" in state_source and "self.highwater" in state_source


@pytest.mark.parametrize("error", [AssertionError(), KeyError("tp")])
def test_the_livelock_check_survives_a_partition_changing_under_it(
    monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    """faust's check reads aiokafka's state of a partition revoked, or not yet positioned,
    meanwhile: aiokafka asserts (``TopicPartitionState.position``). The worker's thread
    skips that partition instead of crashing the consumer."""

    def raising(self: Any, now: float, tp: Any) -> None:
        raise error

    monkeypatch.setattr(faust_aiokafka.AIOKafkaConsumerThread, "verify_event_path", raising)
    thread = object.__new__(BatchingConsumerThread)
    assert thread.verify_event_path(0.0, faust.types.TP("email.delivery", 3)) is None


def test_seeks_skip_revoked_partitions_and_read_a_missing_offset_as_the_beginning() -> None:
    """faust's recovery can ask to seek a standby added by a rebalance after it built its
    offsets (offset None) or a partition revoked since: a joining worker crashed on it."""
    kept, revoked, fresh, unset = (TP("c", n) for n in range(4))
    asked = {kept: 7, revoked: 3, fresh: None, unset: -1}
    assert seekable({kept, fresh, unset}, asked) == {kept: 7, fresh: 0, unset: 0}


def test_the_table_manager_sleeps_no_second_before_registering_the_tables() -> None:
    """``PromptTableManager.on_start`` is faust's without its first line, a one-second
    sleep: a faust whose ``on_start`` differs needs the override looked at again."""
    lines = [line.strip() for line in inspect.getsource(TableManager.on_start).splitlines()]
    body = [line for line in lines if line and not line.startswith(("async def", '"""'))]
    assert body == ["await self.sleep(1.0)", "if not self.should_stop:",
                    "await self._update_channels()", "await self.recovery.start()"]  # fmt: skip


async def test_the_tables_register_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(Settings(data_dir=tmp_path, app_id="prompt"))
    manager = app.tables
    assert isinstance(manager, PromptTableManager)
    done: list[str] = []

    async def sleep(seconds: float) -> None:
        raise AssertionError(f"slept {seconds} s")

    async def update_channels() -> None:
        done.append("channels")

    async def recovery_start() -> None:
        done.append("recovery")

    monkeypatch.setattr(manager, "sleep", sleep)
    monkeypatch.setattr(manager, "_update_channels", update_channels)
    monkeypatch.setattr(manager.recovery, "start", recovery_start)
    await manager.on_start()
    assert done == ["channels", "recovery"]


def test_only_the_line_per_partition_opened_is_dropped_from_the_store_log() -> None:
    from faust.stores import rocksdb

    source = inspect.getsource(rocksdb.Store._try_open_db_for_partition)  # noqa: SLF001
    assert 'f"opening partition {partition} for gen id "' in source  # the line dropped

    def record(message: str) -> logging.LogRecord:
        return logging.LogRecord("faust.stores.rocksdb", logging.INFO, __file__, 1, message,
                                 None, None)  # fmt: skip

    keep = PerPartitionOpenFilter()
    assert not keep.filter(record("opening partition 7 for gen id 2 app id 2"))
    assert keep.filter(record("DB for partition %r is locked! Retry in 1s..."))
    assert keep.filter(record("Closing rocksdb on stop"))

