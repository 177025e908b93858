"""The gate's local state: one RocksDB database (rocksdict) holding every suppression,
every account status that is not plainly active, and the offsets read through.

A batch read from the topics is written as one RocksDB write batch, its offsets in it:
after a crash or a restart the database is exactly as of some read position, and the
gate goes on from there (:meth:`GateStore.offsets`). Nothing of the suppressions lives in
Python objects; RocksDB's memory is its block cache (a setting), two 16 MiB memtables,
and the index and filter blocks, about 1.6 bytes per key.

Key layout (one column family):

- ``s`` + ``<account_id>/<recipient>``: a suppression; the value is its reason.
- ``a`` + ``<account_id>``: an account's status record, as read from the topic.
- ``o`` + ``<topic>`` + NUL + partition (4 bytes): the next offset to read there.
- ``m:fresh``: when the gate last knew itself caught up (float seconds, text).
"""

from __future__ import annotations

import shutil
import struct
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import rocksdict

SUPPRESSION = b"s"
STATUS = b"a"
OFFSET = b"o"
FRESH = b"m:fresh"
_PARTITION = struct.Struct(">I")
_OFFSET = struct.Struct(">q")
MEMTABLE_BYTES = 16 * 1024 * 1024


def _options(cache_mb: int) -> rocksdict.Options:
    table = rocksdict.BlockBasedOptions()
    table.set_block_cache(rocksdict.Cache(cache_mb * 1024 * 1024))
    # Index and filter blocks stay outside the cache, about 1.6 bytes per key. Inside it,
    # random lookups evicted them: each is one block per SST file (megabytes at 10M keys),
    # read and parsed again on the next lookup (760 lookups/s instead of 100k+).
    table.set_bloom_filter(10, False)
    options = rocksdict.Options(raw_mode=True)
    options.create_if_missing(True)
    options.set_block_based_table_factory(table)
    options.set_write_buffer_size(MEMTABLE_BYTES)
    options.set_max_write_buffer_number(2)
    options.set_compression_type(rocksdict.DBCompressionType.lz4())
    options.set_max_open_files(512)
    options.set_keep_log_file_num(2)
    return options


def _open(path: Path, cache_mb: int) -> rocksdict.Rdict:
    # rocksdict applies ``options`` only to the column families it creates: reopened, an
    # existing one falls back to RocksDB's defaults (an 8 MB block cache, no bloom filter)
    # unless its options are named again here (quix-streams #1136).
    options = _options(cache_mb)
    return rocksdict.Rdict(str(path), options=options, column_families={"default": options})


def offset_key(topic: str, partition: int) -> bytes:
    return OFFSET + topic.encode() + b"\x00" + _PARTITION.pack(partition)


class WriteSet:
    """The changes of one batch read from the topics, and where reading got to."""

    def __init__(self) -> None:
        self.batch = rocksdict.WriteBatch(raw_mode=True)
        self.count = 0

    def suppress(self, key: bytes, reason: bytes) -> None:
        self.batch.put(SUPPRESSION + key, reason)
        self.count += 1

    def unsuppress(self, key: bytes) -> None:
        self.batch.delete(SUPPRESSION + key)
        self.count += 1

    def status(self, account_id: bytes, value: bytes | None) -> None:
        if value is None:
            self.batch.delete(STATUS + account_id)
        else:
            self.batch.put(STATUS + account_id, value)
        self.count += 1

    def read_to(self, topic: str, partition: int, offset: int) -> None:
        self.batch.put(offset_key(topic, partition), _OFFSET.pack(offset))


class GateStore:
    """The database at ``path``, opened with a block cache of ``cache_mb`` MiB."""

    def __init__(self, path: Path, cache_mb: int = 64) -> None:
        self.path = path
        self.cache_mb = cache_mb
        path.mkdir(parents=True, exist_ok=True)
        self.db = _open(path, cache_mb)

    def close(self) -> None:
        self.db.close()

    def wipe(self) -> None:
        """Start empty (the topics are read again from their beginning)."""
        self.db.close()
        shutil.rmtree(self.path, ignore_errors=True)
        self.path.mkdir(parents=True, exist_ok=True)
        self.db = _open(self.path, self.cache_mb)

    def write(self, changes: WriteSet) -> None:
        self.db.write(changes.batch)

    def reason(self, key: bytes) -> bytes | None:
        found: bytes | None = self.db.get(SUPPRESSION + key)
        return found

    def reasons(self, keys: Sequence[bytes]) -> list[bytes | None]:
        """Every key's reason in one multi-get."""
        if len(keys) < 2:
            return [self.reason(key) for key in keys]
        found: list[bytes | None] = self.db.get([SUPPRESSION + key for key in keys]) or []
        return found

    def offsets(self) -> dict[tuple[str, int], int]:
        found: dict[tuple[str, int], int] = {}
        for key, value in self._prefixed(OFFSET):
            topic, partition = key[len(OFFSET) : -5], key[-4:]
            found[(topic.decode(), _PARTITION.unpack(partition)[0])] = _OFFSET.unpack(value)[0]
        return found

    def statuses(self) -> Iterator[tuple[bytes, bytes]]:
        for key, value in self._prefixed(STATUS):
            yield key[len(STATUS) :], value

    def fresh_at(self) -> float | None:
        value = self.db.get(FRESH)
        return float(value) if value is not None else None

    def mark_fresh(self, at: float) -> None:
        self.db.put(FRESH, repr(at).encode())

    def estimated_keys(self) -> int:
        return int(self.db.property_int_value("rocksdb.estimate-num-keys") or 0)

    def memory_bytes(self) -> dict[str, int]:
        """RocksDB's own accounting of what it holds in memory."""
        names = {
            "memtables": "rocksdb.cur-size-all-mem-tables",
            "block_cache": "rocksdb.block-cache-usage",
            "readers": "rocksdb.estimate-table-readers-mem",
        }
        return {k: int(self.db.property_int_value(v) or 0) for k, v in names.items()}

    def _prefixed(self, prefix: bytes) -> Iterable[tuple[bytes, bytes]]:
        it = self.db.iter()
        it.seek(prefix)
        while it.valid():
            key = it.key()
            if not key.startswith(prefix):
                break
            yield key, it.value()
            it.next()
