"""The guard's state store over the Faust tables, written once per flush.

Reads go straight to the RocksDB database of the key's partition (every key of an
account lives on the account's partition). Writes are staged in memory, so a step sees
the steps before it, and become durable together at the guard's flush:

1. :meth:`TableBatch.freeze` takes everything staged so far (the account rows encoded as
   they are then) into the flush; later writes are staged for the next flush, so the
   guard goes on working while a flush waits for the broker.
2. :meth:`TableBatch.seal` hands a phase of the frozen writes out as changelog records
   (every table but ``accounts`` first, the account rows last: ``tables.checkpoint`` owns
   the order and says why).
3. Once the broker has them, :meth:`TableBatch.apply` writes one RocksDB write batch per
   table partition and records the changelog offset faust's recovery starts from.

A read looks at the staged writes, then the frozen ones, then RocksDB.

Each key is written once per flush however often it changed, and account rows stay
decoded between flushes (a bounded cache), which is where batching pays.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import rocksdict
from faust.types import TP

from policy.state import AccountState, decode_state, encode_state
from schemas.parse import decode_account, encode
from schemas.types import CHANNELS, AccountMeta, Decision
from streams.errors import StreamsError
from streams.faust_ext import OFFSET_KEY, mark_persisted, partition_db
from streams.partitioning import account_partition
from tables import Tables

#: Decoded account rows kept between flushes.
ROW_CACHE = 8192


class _Status(msgspec.Struct):
    state: str = "active"


class _Channel(msgspec.Struct):
    status: _Status = msgspec.field(default_factory=_Status)


class _Row(msgspec.Struct):
    """The part of an account row the census reads (decoding only it is several times
    faster than the whole row)."""

    channels: dict[str, _Channel] = msgspec.field(default_factory=dict)


_STATES = msgspec.json.Decoder(_Row)

#: add(topic, partition, key, value): where the changelog records go.
AddRecord = Callable[[str, int, bytes, bytes | None], None]
#: (topic, partition) -> the offset of the last record the broker took there
Offsets = dict[tuple[str, int], int]


class Phase(enum.Enum):
    """A flush's phases, in their order (``tables.checkpoint``)."""

    TABLES = "tables"
    ROWS = "rows"


class SealedError(StreamsError, RuntimeError):
    """A flush's phases out of order, or a second flush while one is on its way (a bug)."""


class TableBatch:
    def __init__(self, tables: Tables, partitions: int) -> None:
        self.tables = tables
        self.partitions = partitions
        self._by_name = {table.name: table for table in tables.all()}
        self._rows: OrderedDict[str, AccountState] = OrderedDict()
        self._dirty_rows: dict[str, AccountState] = {}
        #: table name -> key -> (partition, value or None to delete)
        self._writes: dict[str, dict[bytes, tuple[int, bytes | None]]] = {}
        #: the same, taken by the flush on its way (``freeze``), until applied
        self._frozen: dict[str, dict[bytes, tuple[int, bytes | None]]] = {}
        #: the frozen rows that are new, by partition
        self._frozen_new: dict[int, list[str]] = {}
        self._dbs: dict[tuple[str, int], Any] = {}
        #: accounts looked up and found in no row yet: written, they are new rows
        self._new_rows: set[str] = set()
        #: the phase whose changelog was handed out and is not applied yet
        self._sealed: Phase | None = None

    def _db(self, table: Any, partition: int) -> Any:
        found = self._dbs.get((table.name, partition))
        if found is None:
            found = self._dbs[(table.name, partition)] = partition_db(table, partition)
        return found

    def rebalanced(self) -> None:
        """faust may have closed or reopened partition databases."""
        self._dbs.clear()

    def partition_of(self, account_id: str) -> int:
        return account_partition(account_id, self.partitions)

    # Generic access, by table and partition.

    def get(self, table: Any, partition: int, key: bytes) -> bytes | None:
        staged = self._writes.get(table.name, {}).get(key)
        if staged is None and self._frozen:
            staged = self._frozen.get(table.name, {}).get(key)
        if staged is not None:
            return staged[1]
        value: bytes | None = self._db(table, partition).get(key)
        return value

    def put(self, table: Any, partition: int, key: bytes, value: bytes | None) -> None:
        self._writes.setdefault(table.name, {})[key] = (partition, value)

    # policy.store.GuardStore

    def load_account(self, account_id: str) -> AccountState | None:
        row = self._rows.get(account_id)
        if row is not None:
            self._rows.move_to_end(account_id)
            return row
        raw = self.get(self.tables.accounts, self.partition_of(account_id), account_id.encode())
        if raw is None:
            if account_id not in self._dirty_rows:
                self._new_rows.add(account_id)
            return None
        row = decode_state(raw)
        self._remember(row)
        return row

    def save_account(self, state: AccountState) -> None:
        self._dirty_rows[state.account_id] = state
        self._remember(state)

    def seen_by(self, account_id: str, event_id: str) -> str | None:
        raw = self.get(self.tables.seen, self.partition_of(account_id),
                       seen_key(account_id, event_id))  # fmt: skip
        return raw.decode() if raw is not None else None

    def mark_seen(self, account_id: str, event_id: str, position: str) -> None:
        self.put(self.tables.seen, self.partition_of(account_id), seen_key(account_id, event_id),
                 position.encode())  # fmt: skip

    def is_suppressed(self, account_id: str, key: str) -> bool:
        table = self.tables.suppressions
        return self.get(table, self.partition_of(account_id), key.encode()) is not None

    def mark_suppressed(self, account_id: str, key: str, reason: str) -> None:
        self.put(self.tables.suppressions, self.partition_of(account_id), key.encode(),
                 reason.encode())  # fmt: skip

    def load_meta(self, account_id: str) -> AccountMeta | None:
        raw = self.get(self.tables.meta, self.partition_of(account_id), account_id.encode())
        return decode_account(raw) if raw is not None else None

    def save_meta(self, meta: AccountMeta) -> None:
        self.put(self.tables.meta, self.partition_of(meta.account_id), meta.account_id.encode(),
                 encode(meta))  # fmt: skip

    def delete_meta(self, account_id: str) -> None:
        self.put(self.tables.meta, self.partition_of(account_id), account_id.encode(), None)

    def record_decision(self, decision: Decision, value: bytes) -> None:
        """Keep a published decision (``value``: its encoded record) for the account's
        decision list."""
        self.put(self.tables.decisions, self.partition_of(decision.account_id),
                 decision_key(decision), value)  # fmt: skip

    # The flush.

    def __bool__(self) -> bool:
        return bool(self._dirty_rows or self._writes)

    def freeze(self) -> None:
        """Take everything staged so far into the flush that starts now: the account rows
        are encoded as they are now, and writes from here on wait for the next flush."""
        if self._frozen or self._sealed is not None:
            raise SealedError("a flush is already on its way")
        rows: dict[bytes, tuple[int, bytes | None]] = {}
        new: dict[int, list[str]] = {}
        for account_id, state in self._dirty_rows.items():
            partition = self.partition_of(account_id)
            rows[account_id.encode()] = (partition, encode_state(state))
            if account_id in self._new_rows:
                self._new_rows.discard(account_id)
                new.setdefault(partition, []).append(account_id)
        self._dirty_rows = {}
        self._frozen, self._writes = self._writes, {}
        if rows:
            self._frozen[self.tables.accounts.name] = rows
        self._frozen_new = new

    def _phase_tables(self, phase: Phase) -> list[str]:
        accounts = self.tables.accounts.name
        return [name for name in self._frozen if (name == accounts) == (phase is Phase.ROWS)]

    def seal(self, phase: Phase, add: AddRecord) -> None:
        """Hand the frozen writes of a phase (the account rows, or the rest) to ``add`` as
        changelog records."""
        if self._sealed is not None:
            raise SealedError(f"the {self._sealed.value} phase is not applied yet")
        self._sealed = phase
        for name in self._phase_tables(phase):
            topic = self._by_name[name].changelog_topic.get_topic_name()
            for key, (partition, value) in self._frozen[name].items():
                add(topic, partition, key, value)

    def apply(self, phase: Phase, offsets: Offsets) -> dict[int, list[str]]:
        """Write the phase's frozen changes to RocksDB, now that the changelog has them,
        and remember how far each changelog partition is applied.

        Returns, for the rows phase, the accounts whose rows were new, by partition."""
        if self._sealed is not phase:
            raise SealedError(f"the {phase.value} phase applied, but not handed out")
        self._sealed = None
        for name in self._phase_tables(phase):
            table = self._by_name[name]
            topic = table.changelog_topic.get_topic_name()
            batches: dict[int, rocksdict.WriteBatch] = {}
            for key, (partition, value) in self._frozen.pop(name).items():
                batch = batches.get(partition)
                if batch is None:
                    batch = batches[partition] = rocksdict.WriteBatch(raw_mode=True)
                if value is None:
                    batch.delete(key)
                else:
                    batch.put(key, value)
            for partition, batch in batches.items():
                self._db(table, partition).write(batch)
                offset = offsets.get((topic, partition))
                if offset is not None:
                    mark_persisted(table, TP(topic, partition), offset)
        if phase is not Phase.ROWS:
            return {}
        created, self._frozen_new = self._frozen_new, {}
        return created

    def account_states(self, partition: int) -> Iterator[tuple[str, tuple[str, ...]]]:
        """Each account row of a partition, flushed, with its state in each channel."""
        for key, value in self._db(self.tables.accounts, partition).items():
            if key != OFFSET_KEY:
                channels = _STATES.decode(value).channels
                yield key.decode(), tuple(
                    channels[name].status.state if name in channels else "active"
                    for name in CHANNELS
                )

    def forget(self, belongs: Callable[[int], bool]) -> None:
        """Drop cached rows and staged writes of partitions this worker no longer owns."""
        for account_id in [a for a in self._rows if belongs(self.partition_of(a))]:
            del self._rows[account_id]
        for account_id in [a for a in self._dirty_rows if belongs(self.partition_of(a))]:
            del self._dirty_rows[account_id]
        self._new_rows = {a for a in self._new_rows if not belongs(self.partition_of(a))}
        for writes in (*self._writes.values(), *self._frozen.values()):
            for key in [k for k, (p, _) in writes.items() if belongs(p)]:
                del writes[key]
        self.rebalanced()

    def _remember(self, row: AccountState) -> None:
        self._rows[row.account_id] = row
        self._rows.move_to_end(row.account_id)
        while len(self._rows) > ROW_CACHE:
            oldest, _ = next(iter(self._rows.items()))
            if oldest in self._dirty_rows:
                break  # written at the next flush; trimmed after it
            del self._rows[oldest]


def seen_key(account_id: str, event_id: str) -> bytes:
    """``<account_id> US <event_id>``: event ids come from many MTAs, so an id is unique
    only within its account. Neither part can hold the separator (ids have no control
    characters), so no two pairs share a key."""
    return f"{account_id}\x1f{event_id}".encode()


def decision_key(decision: Decision) -> bytes:
    """``<account_id> US <decided_at, µs, 20 digits> US <decision_id>``: an account's
    decisions sort together, oldest first."""
    micros = int(decision.decided_at.timestamp() * 1_000_000)
    return f"{decision.account_id}\x1f{micros:020d}\x1f{decision.decision_id}".encode()
