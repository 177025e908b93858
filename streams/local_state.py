"""Check the worker's local table state against the broker before faust recovers it.

faust keeps, in each table partition's RocksDB, the changelog offset it has applied up to.
State built against another broker (the local one formatted afresh, or another cluster)
is ahead of this broker's changelog, and faust's recovery stops the worker with a
``ConsistencyError`` traceback. Before the worker starts, this module:

- remembers which cluster the state was built on (``cluster.id`` in the data directory);
  state from another cluster is rebuilt from this cluster's changelog topics, and says so
  (the committed input offsets live on the broker too, so input and state start over
  together: nothing is counted twice or lost);
- on the same cluster, a state ahead of its changelog means the broker lost changelog
  records: the worker stops with one line saying so and what to do.
"""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

import rocksdict
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streams.errors import StreamsError
from streams.faust_ext import OFFSET_KEY
from tables import changelog_topic

log = logging.getLogger("sendguard.state")
CLUSTER_MARKER = "cluster.id"
#: faust's key for the applied changelog offset in each partition database
_DB_NAME = re.compile(r"^(?P<table>.+)-(?P<partition>\d+)\.db$")


class LocalStateError(StreamsError):
    """The local table state cannot be used with this broker."""


def tables_dir(data_dir: Path) -> Path:
    return data_dir / "v1" / "tables"


def persisted_offsets(data_dir: Path, ttl_tables: set[str]) -> dict[tuple[str, int], int]:
    """(table, partition) -> the changelog offset its database says it applied.

    RocksDB's TTL databases (``ttl_tables``) append a 4-byte write time to every value."""
    found: dict[tuple[str, int], int] = {}
    root = tables_dir(data_dir)
    if not root.is_dir():
        return found
    for path in sorted(root.iterdir()):
        name = _DB_NAME.match(path.name)
        if name is None or not path.is_dir():
            continue
        db = rocksdict.Rdict(
            str(path),
            options=rocksdict.Options(raw_mode=True),
            access_type=rocksdict.AccessType.read_only(),
        )
        try:
            raw = db.get(OFFSET_KEY)
        finally:
            db.close()
        if not isinstance(raw, bytes):
            continue
        if name["table"] in ttl_tables:
            raw = raw[:-4]
        found[(name["table"], int(name["partition"]))] = int(raw)
    return found


async def reconcile(data_dir: Path, app_id: str, bootstrap: str, ttl_tables: set[str]) -> None:
    """Make the local state fit this broker, or raise :class:`LocalStateError`."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        cluster_id = str((await admin.describe_cluster())["cluster_id"])
    finally:
        await admin.close()
    marker = data_dir / CLUSTER_MARKER
    built_on = marker.read_text().strip() if marker.exists() else None
    offsets = persisted_offsets(data_dir, ttl_tables)
    if offsets and built_on is not None and built_on != cluster_id:
        log.warning(
            "the table state in %s was built on another Kafka cluster (%s; this one is %s): "
            "rebuilding it from this cluster's changelog topics", data_dir, built_on, cluster_id,
        )  # fmt: skip
        shutil.rmtree(tables_dir(data_dir))
    elif offsets:
        ahead = await _ahead_of_changelog(offsets, app_id, bootstrap)
        if ahead:
            (table, partition), (offset, end) = next(iter(sorted(ahead.items())))
            raise LocalStateError(
                f"the table state in {data_dir} is ahead of the broker's changelog "
                f"({table} partition {partition} applied offset {offset}, the changelog "
                f"ends at {end - 1}): this broker lost changelog records or is not the one "
                f"the state was built on. Delete {data_dir} to rebuild the state from "
                "what the broker has, or point SENDGUARD_KAFKA_BOOTSTRAP at the right broker"
            )
    data_dir.mkdir(parents=True, exist_ok=True)
    marker.write_text(cluster_id + "\n")


async def _ahead_of_changelog(
    offsets: dict[tuple[str, int], int], app_id: str, bootstrap: str
) -> dict[tuple[str, int], tuple[int, int]]:
    tps = {key: TopicPartition(changelog_topic(app_id, key[0]), key[1]) for key in offsets}
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(list(tps.values()))
    finally:
        await consumer.stop()
    return {key: (offsets[key], ends[tp]) for key, tp in tps.items() if offsets[key] >= ends[tp]}
