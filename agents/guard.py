"""Guard: fold each account's events into its state, publish decisions, status, suppressions.

Runs with ``concurrency=1`` (faust-streaming #606: higher values can commit past an
unprocessed message) under at-least-once delivery; ``policy.guard`` makes a replayed
message harmless. Records of a step are published and acknowledged by the broker before
the step's state is written, so a crash can repeat a record (same id) but never lose one.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from agents.appeals import AppealDesk
from agents.envelope import unwrap
from agents.publish import Publisher
from policy.guard import Guard, Position
from schemas.appeals import DecideAppeal, FileAppeal
from schemas.types import AccountMeta
from streams.app import Runtime
from streams.commands import CommandResult
from tables.store import TableStore

log = logging.getLogger("sendguard.guard")


def _now() -> datetime:
    return datetime.now(UTC)


def register(rt: Runtime) -> Guard:
    guard = Guard(rt.policy, TableStore(rt.tables), _now)
    publisher = Publisher(rt)
    desk = AppealDesk(rt, guard, publisher)
    metrics = rt.metrics

    async def handle_command(command: FileAppeal | DecideAppeal, position: Position) -> None:
        try:
            if isinstance(command, FileAppeal):
                result = await desk.file(command)
            else:
                result = await desk.decide(command, position)
        except Exception:
            log.exception("command %s failed", command.command_id)
            result = CommandResult(500, {"error": "internal error; see the worker log"})
        rt.commands.resolve(command.command_id, result)

    async def process(stream: Any) -> None:
        async for event in stream.events():
            message = event.message
            position = Position(message.partition, message.offset)
            try:
                record = unwrap(message.value)
            except Exception:
                log.exception("undecodable record on %s@%s skipped", message.topic, message.offset)
                continue
            if isinstance(record, AccountMeta):
                step = guard.step_meta(record)
            elif isinstance(record, FileAppeal | DecideAppeal):
                await handle_command(record, position)
                rt.liveness.progressed()
                continue
            else:
                step = guard.step(record, position)
                if step.kind != "replayed":
                    outcome = "accepted" if step.kind == "applied" else "duplicate"
                    metrics.events.labels(topic=record.topic, outcome=outcome).inc()
            await publisher.step(step, message.timestamp / 1000 if message.timestamp else None)
            guard.commit(step)
            metrics.processed.inc()
            metrics.last_progress.set(time.time())
            rt.liveness.progressed()

    rt.app.agent(rt.topics.events, name="sendguard.guard", concurrency=1)(process)
    return guard
