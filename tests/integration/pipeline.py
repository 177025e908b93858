"""Talk to a running pipeline the way its users do: produce inputs, read output topics."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from aiokafka.errors import GroupCoordinatorNotAvailableError

from streams import topics as t
from streams.kafka_admin import topic_partitions, uncommitted
from tests.integration.kafka_io import Record, produce, read_all


class Pipeline:
    def __init__(self, bootstrap: str, prefix: str) -> None:
        self.bootstrap = bootstrap
        self.prefix = prefix
        self.group = f"{prefix}sendguard"

    def topic(self, name: str) -> str:
        return f"{self.prefix}{name}"

    async def send(
        self, events: list[dict[str, Any]], key: Callable[[int, dict[str, Any]], bytes | None]
        = lambda n, record: str(record.get("account_id", "")).encode(),
    ) -> int:
        """Produce JSON-lines style records: each dict names its input topic in ``topic``.

        ``key(n, record)`` keys the n-th record; by default by account, as CONTRACT.md asks.
        """
        messages = []
        for n, record in enumerate(events):
            body = {k: v for k, v in record.items() if k != "topic"}
            value = json.dumps(body).encode()
            messages.append((self.topic(record["topic"]), key(n, record), value))
        return await produce(self.bootstrap, messages)

    async def send_raw(self, topic: str, value: bytes | None, key: bytes | None = None) -> None:
        await produce(self.bootstrap, [(self.topic(topic), key, value)])

    async def wait_drained(self, timeout: float = 90.0) -> None:
        """Wait until the worker group has committed every input and internal message.

        Drained twice, a little more than a progress-report interval apart: once ingest
        is caught up it reports so, and the guard releases any events it held for
        event-time order.
        """
        deadline = time.monotonic() + timeout
        confirmed = 0
        while confirmed < 2:
            behind = await self.behind()
            if behind:
                confirmed = 0
                if time.monotonic() > deadline:
                    raise AssertionError(f"worker did not drain within {timeout} s: {behind}")
                await asyncio.sleep(0.3)
            else:
                confirmed += 1
                if confirmed < 2:
                    await asyncio.sleep(0.8)

    async def wait_working(self, timeout: float = 60.0) -> bool:
        """Wait until the group has committed some of its work; False if it did it all."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                behind = await self.behind()
            except GroupCoordinatorNotAvailableError:  # no worker has joined the group yet
                behind = {"group": (0, 1)}
            if not behind:
                return False
            if any(committed > 0 for committed, _ in behind.values()):
                return True
            if time.monotonic() > deadline:
                raise AssertionError(f"the workers committed nothing within {timeout} s")
            await asyncio.sleep(0.2)

    async def behind(self) -> dict[Any, tuple[int, int]]:
        names = [self.topic(n) for n in (*t.INPUT_TOPICS, t.ACCOUNTS, t.EVENTS)]
        partitions = await topic_partitions(self.bootstrap, names)
        if not partitions:  # not created yet, or a restarted broker still loading
            return {"metadata": (0, 1)}
        return dict(await uncommitted(self.bootstrap, self.group, partitions))

    async def read(self, name: str, settle: float = 1.5) -> list[Record]:
        return await read_all(self.bootstrap, [self.topic(name)], settle=settle)

    async def decisions(self) -> list[dict[str, Any]]:
        """Decisions, de-duplicated by decision_id as the contract lets consumers do."""
        unique: dict[str, dict[str, Any]] = {}
        for record in await self.read(t.DECISIONS):
            decision = record.json()
            unique.setdefault(decision["decision_id"], decision)
        return list(unique.values())

    async def raw_decisions(self) -> list[dict[str, Any]]:
        return [r.json() for r in await self.read(t.DECISIONS)]

    async def latest(self, name: str) -> dict[str, Any]:
        """The compacted view of a keyed topic: latest value per key."""
        latest: dict[str, Any] = {}
        for record in await self.read(name):
            assert record.key is not None
            latest[record.key.decode()] = record.json()
        return latest

    async def statuses(self) -> dict[str, Any]:
        return await self.latest(t.ACCOUNT_STATUS)

    async def suppressions(self) -> dict[str, Any]:
        """Every suppression record by key; each account and recipient must come once."""
        found: dict[str, Any] = {}
        for record in await self.read(t.SUPPRESSIONS):
            assert record.key is not None
            key = record.key.decode()
            assert key not in found, f"suppression {key} emitted twice"
            found[key] = record.json()
        return found

    async def dead_letters(self) -> list[dict[str, Any]]:
        return [r.json() for r in await self.read(t.DEAD_LETTER)]
