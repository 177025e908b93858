"""The flush of the guard's stores: one owner, two phases, in a fixed order.

A flush makes every write staged since the last one durable (``tables.batch``). It
freezes them first, all stores at once, before it waits for anything: the guard goes on
staging writes for the next flush meanwhile. Then, in two phases:

1. :attr:`Phase.TABLES`: every table but the account rows (seen ids, suppressions,
   metadata, decisions) goes to its changelog with the records the steps published;
   once the broker has them all, each table partition gets one RocksDB write batch.
2. :attr:`Phase.ROWS`: then the account rows, the same way. The rows are the commit
   point: a row reaches the changelog only after the seen ids of its events, which is
   what lets ``policy.guard`` recognise a message it must count again after a crash.

A write made while a flush is on its way waits for the next flush: it reaches neither
this flush's changelog nor RocksDB, so nothing reaches RocksDB without its changelog
record. The worker sends through its outbox and producer; a test without a broker sends nowhere
(:meth:`Checkpoint.commit_locally`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from tables.batch import AddRecord, Offsets, Phase, TableBatch

#: Publish what was added and wait for the broker: the last offset per topic partition.
Send = Callable[[], Awaitable[Offsets]]


class Checkpoint:
    """The flush of the live store and the shadow's own (if any), in step."""

    def __init__(self, live: TableBatch, *others: TableBatch) -> None:
        self.stores = (live, *others)

    async def commit(self, add: AddRecord, send: Send) -> dict[int, list[str]]:
        """Flush every store, phase by phase: ``add`` takes each changelog record and
        ``send`` publishes them (with whatever else was added). Returns the live store's
        accounts whose rows are new, by partition (for the census)."""
        created: dict[int, list[str]] = {}
        for store in self.stores:
            store.freeze()
        for phase in Phase:
            for store in self.stores:
                store.seal(phase, add)
            offsets = await send()
            made = [store.apply(phase, offsets) for store in self.stores]
            if phase is Phase.ROWS:
                created = made[0]
        return created

    def commit_locally(self) -> dict[int, list[str]]:
        """A flush with no broker: the changelog records go nowhere (tests, tools)."""

        async def nothing_sent() -> Offsets:
            return {}

        return asyncio.run(self.commit(lambda *record: None, nothing_sent))
