"""The sender gate: what a sending service asks before every message.

It follows ``sendguard.account-status`` and ``sendguard.suppressions`` (both compacted) from
the beginning and answers "may this account send on this channel to this recipient?"
from memory. Needs only aiokafka; no Faust.

    async with SenderGate("127.0.0.1:9092") as gate:
        await gate.wait_caught_up()
        answer = gate.check("acme", "marketing", "Ann@Example.com")
        if not answer.allowed:
            print("blocked:", answer.reason)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

log = logging.getLogger("sendguard.gate")

STATUS_TOPIC = "sendguard.account-status"
SUPPRESSIONS_TOPIC = "sendguard.suppressions"


@dataclass(frozen=True)
class GateAnswer:
    allowed: bool
    reason: str


class SenderGate:
    def __init__(self, bootstrap: str, topic_prefix: str = "") -> None:
        self.bootstrap = bootstrap
        self.topics = [f"{topic_prefix}{STATUS_TOPIC}", f"{topic_prefix}{SUPPRESSIONS_TOPIC}"]
        self._status: dict[str, dict[str, Any]] = {}
        self._suppressed: dict[str, str] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._positions: dict[TopicPartition, int] = {}

    async def __aenter__(self) -> SenderGate:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        await self.stop()

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await self._consumer.start()
        partitions = [
            TopicPartition(topic, p)
            for topic in self.topics
            for p in sorted(await self._partitions(topic))
        ]
        self._consumer.assign(partitions)
        await self._consumer.seek_to_beginning(*partitions)
        self._task = asyncio.create_task(self._follow(), name="sendguard-gate")

    async def _partitions(self, topic: str) -> set[int]:
        assert self._consumer is not None
        for _ in range(50):
            parts = self._consumer.partitions_for_topic(topic)
            if parts:
                return parts
            # aiokafka's consumer has no public metadata refresh; its client has one.
            await self._consumer._client.force_metadata_update()  # noqa: SLF001
            await asyncio.sleep(0.1)
        raise RuntimeError(f"topic {topic} does not exist; is a Sendguard worker running?")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()

    async def wait_caught_up(self, timeout: float = 30.0) -> None:
        """Wait until everything already on both topics has been read."""
        assert self._consumer is not None
        ends = await self._consumer.end_offsets(list(self._consumer.assignment()))
        deadline = time.monotonic() + timeout
        while any(self._positions.get(tp, 0) < end for tp, end in ends.items()):
            if time.monotonic() > deadline:
                raise TimeoutError("sender gate did not catch up")
            await asyncio.sleep(0.05)

    async def _follow(self) -> None:
        assert self._consumer is not None
        while True:
            batches = await self._consumer.getmany(timeout_ms=500)
            for tp, messages in batches.items():
                for message in messages:
                    self._apply(tp.topic, message.key, message.value)
                    self._positions[tp] = message.offset + 1

    def _apply(self, topic: str, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            return
        name = key.decode("utf-8", "replace")
        try:
            record = json.loads(value) if value is not None else None
        except ValueError:
            log.warning("skipping undecodable record on %s", topic)
            return
        if topic == self.topics[0]:
            if record is None:
                self._status.pop(name, None)
            else:
                self._status[name] = record.get("channels", {})
        elif record is None:
            self._suppressed.pop(name, None)
        else:
            self._suppressed[name] = record.get("reason", "suppressed")

    def check(self, account_id: str, channel: str, recipient: str) -> GateAnswer:
        status = self._status.get(account_id, {}).get(channel)
        if status is not None and status.get("state") == "suspended":
            kind = status.get("suspension_type") or "deliverability"
            since = status.get("since")
            return GateAnswer(
                False, f"{channel} suspended ({kind}: {status.get('reason')}) since {since}"
            )
        if status is not None and status.get("state") == "under_review":
            return GateAnswer(False, f"{channel} is under review until an operator approves it")
        reason = self._suppressed.get(f"{account_id}/{recipient.strip().lower()}")
        if reason is not None:
            return GateAnswer(False, f"recipient suppressed ({reason})")
        if status is not None and status.get("state") == "warned":
            return GateAnswer(True, f"allowed, but {channel} is warned ({status.get('reason')})")
        return GateAnswer(True, "allowed")
