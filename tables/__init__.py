"""Every Faust table of Sendguard: its key, its value and its store options, in one place.

All tables are plain (not windowed: faust's window expiry is wall-clock based and buggy,
faust-streaming #385) and changelog-backed, stored in RocksDB through rocksdict. Values
are raw bytes encoded with msgspec, which is several times faster than faust's codecs.
Every key belongs to one account and lives on that account's partition, the partition
of the input messages that change it, so recovery and standby assignment stay
co-partitioned. The guard writes them in batches (``tables.batch``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import faust
from faust.types import TableT

DAY_S = 86_400
#: An account's decisions are listed for this long: a year and a month, for audits.
DECISIONS_KEPT_DAYS = 400


@dataclass(frozen=True)
class Tables:
    accounts: TableT
    """account_id -> policy.state.AccountState: counters per channel and month, campaign
    counters, status, warns issued, listings in force, last applied source offset."""
    seen: TableT
    """account_id US event_id -> the position (b"topic/partition@offset") that first
    carried the event: dedup of MTA retries, per account (ids come from many MTAs);
    expires after ``policy.Policy.seen_id_days`` (``tables.batch.seen_key``)."""
    suppressions: TableT
    """account_id/recipient -> b"reason": recipients already suppressed (emitted once)."""
    meta: TableT
    """account_id -> schemas.types.AccountMeta from the compacted ``accounts`` topic."""
    appeals: TableT
    """appeal_id -> schemas.appeals.Appeal (the id embeds the account, see api.accounts)."""
    decisions: TableT
    """account_id, decided_at, decision_id -> schemas.types.Decision: each account's
    decisions in time order, for ``GET /accounts/{id}/decisions``; kept 400 days."""

    def all(self) -> tuple[TableT, ...]:
        return (self.accounts, self.seen, self.suppressions, self.meta, self.appeals,
                self.decisions)  # fmt: skip


def _store_options(block_cache_bytes: int, **extra: Any) -> dict[str, Any]:
    """A fresh dict per table: faust's RocksDB store pops keys out of the one it is given."""
    return {
        "driver": "rocksdict",
        "block_cache_size": block_cache_bytes,
        "block_cache_compressed_size": block_cache_bytes // 2,
        # Memtables: one table partition holds up to two of these before they are
        # flushed to disk. faust's defaults (64 MB, three) would let 20 databases hold
        # gigabytes; the guard writes each key once per flush, so small ones suffice.
        "write_buffer_size": 4 * 1024 * 1024,
        "max_write_buffer_number": 2,
        **extra,
    }


@dataclass(frozen=True)
class TableSpec:
    name: str
    help: str
    store_options: dict[str, Any]
    changelog_configs: dict[str, str]


#: Prefixed to the names of the shadow policy's tables (``SENDGUARD_SHADOW_POLICY``).
SHADOW_PREFIX = "shadow-"
#: The tables the shadow policy keeps for itself; it reads the live seen ids and
#: metadata, and keeps no suppressions (``tables.shadow``).
SHADOW_OWN = ("accounts", "decisions")


def table_specs(seen_ttl_days: int) -> list[TableSpec]:
    """Every table, in one list: ``define_tables`` builds them and ``streams.provision``
    creates their changelog topics before the worker starts (a table written before
    faust's metadata knows its brand-new changelog topic crashes the agent with
    ``PartitionsMismatch``)."""
    compacted = {"cleanup.policy": "compact"}
    seen_ttl_s = seen_ttl_days * DAY_S
    return [
        TableSpec("accounts", "per-account guard state", {}, compacted),
        TableSpec(
            "seen-events",
            "event ids already counted",
            # RocksDB drops entries after the TTL at compaction, and the changelog drops
            # its old segments: an id older than the grace can only come back as a late
            # event, which ingest rejects anyway.
            {"ttl": seen_ttl_s},
            {
                "cleanup.policy": "compact,delete",
                "retention.ms": str(seen_ttl_s * 1000),
                "segment.ms": str(DAY_S * 1000),
            },
        ),
        TableSpec("suppressions", "suppressed recipients per account", {}, compacted),
        TableSpec("account-meta", "account metadata from the accounts topic", {}, compacted),
        TableSpec("appeals", "appeals and account reviews", {}, compacted),
        TableSpec(
            "decisions",
            "each account's decisions",
            {"ttl": DECISIONS_KEPT_DAYS * DAY_S},
            {
                "cleanup.policy": "compact,delete",
                "retention.ms": str(DECISIONS_KEPT_DAYS * DAY_S * 1000),
                "segment.ms": str(DAY_S * 1000),
            },
        ),
    ]


def shadow_table_specs(seen_ttl_days: int) -> list[TableSpec]:
    """The shadow policy's own tables."""
    return [TableSpec(SHADOW_PREFIX + s.name, s.help, s.store_options, s.changelog_configs)
            for s in table_specs(seen_ttl_days) if s.name in SHADOW_OWN]  # fmt: skip


def changelog_topic(app_id: str, table: str) -> str:
    """Faust's name for a table's changelog topic."""
    return f"{app_id}-{table}-changelog"


def define_shadow_tables(
    app: faust.App, live: Tables, *, block_cache_bytes: int, seen_ttl_days: int, partitions: int
) -> Tables:
    """The shadow policy's tables: its own account rows and decisions; the others are the
    live tables, which the shadow reads through the live store and never writes."""
    own = {
        spec.name.removeprefix(SHADOW_PREFIX): _table(app, spec, block_cache_bytes, partitions)
        for spec in shadow_table_specs(seen_ttl_days)
    }
    return Tables(accounts=own["accounts"], seen=live.seen, suppressions=live.suppressions,
                  meta=live.meta, appeals=live.appeals, decisions=own["decisions"])  # fmt: skip


def _table(app: faust.App, spec: TableSpec, block_cache_bytes: int, partitions: int) -> TableT:
    return app.Table(
        spec.name,
        # Raw UTF-8 keys, as on sendguard.events: the same key hashes to the same
        # partition, so faust's router finds the worker owning an account.
        key_type=bytes,
        value_type=bytes,
        partitions=partitions,
        help=spec.help,
        options=_store_options(block_cache_bytes, **spec.store_options),
        extra_topic_configs=dict(spec.changelog_configs),
    )


def define_tables(
    app: faust.App, *, block_cache_bytes: int, seen_ttl_days: int, partitions: int
) -> Tables:
    built = {
        spec.name: _table(app, spec, block_cache_bytes, partitions)
        for spec in table_specs(seen_ttl_days)
    }
    return Tables(
        accounts=built["accounts"],
        seen=built["seen-events"],
        suppressions=built["suppressions"],
        meta=built["account-meta"],
        appeals=built["appeals"],
        decisions=built["decisions"],
    )
