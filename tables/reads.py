"""What the HTTP views read: an account's row, metadata and decisions as last flushed,
straight from the RocksDB databases (the guard's staged writes are its own until its
flush: ``tables.batch``)."""

from __future__ import annotations

from collections.abc import Callable

from policy.state import AccountState, decode_state
from schemas.appeals import Appeal, decode_appeal, pending_key
from schemas.parse import decode_account
from schemas.types import CHANNELS, AccountMeta
from streams.faust_ext import partition_db
from streams.partitioning import account_partition
from tables import Tables


def decision_list(tables: Tables, partitions: int) -> Callable[[str, int], list[bytes]]:
    """What the HTTP view reads: an account's newest decisions as last flushed."""

    def newest(account_id: str, limit: int) -> list[bytes]:
        prefix = f"{account_id}\x1f".encode()
        db = partition_db(tables.decisions, account_partition(account_id, partitions))
        found: list[bytes] = []
        for key, value in db.items(backwards=True, from_key=prefix + b"\xff"):
            if not key.startswith(prefix) or len(found) >= limit:
                break
            found.append(value)
        return found

    return newest


def read_only(
    tables: Tables, partitions: int
) -> Callable[[str], tuple[AccountState | None, AccountMeta | None]]:
    """What the HTTP views read: an account's row and metadata as last flushed."""

    def read(account_id: str) -> tuple[AccountState | None, AccountMeta | None]:
        partition = account_partition(account_id, partitions)
        key = account_id.encode()
        row = partition_db(tables.accounts, partition).get(key)
        meta = partition_db(tables.meta, partition).get(key)
        return (
            decode_state(row) if row is not None else None,
            decode_account(meta) if meta is not None else None,
        )

    return read


def appeal_reads(
    tables: Tables, partitions: int
) -> tuple[Callable[[str], list[Appeal]], Callable[[str, str], Appeal | None]]:
    """What the console reads: an account's pending appeals (one per channel at most), and
    one appeal by its id, as last flushed."""

    def one(account_id: str, appeal_id: str) -> Appeal | None:
        db = partition_db(tables.appeals, account_partition(account_id, partitions))
        raw = db.get(appeal_id.encode())
        return decode_appeal(raw) if raw is not None else None

    def pending(account_id: str) -> list[Appeal]:
        db = partition_db(tables.appeals, account_partition(account_id, partitions))
        found = []
        for channel in CHANNELS:
            appeal_id = db.get(pending_key(account_id, channel))
            appeal = one(account_id, appeal_id.decode()) if appeal_id is not None else None
            if appeal is not None and appeal.status == "pending":
                found.append(appeal)
        return found

    return pending, one
