"""Guard: fold each account's events into its state, publish decisions, status, suppressions.

Runs with ``concurrency=1`` (faust-streaming #606: higher values can commit past an
unprocessed message) under at-least-once delivery; ``policy.guard`` makes a replayed
message harmless. Records of a step are published and acknowledged by the broker before
the step's state is written, so a crash can repeat a record (same id) but never lose one.

Events are counted in event-time order: each partition keeps a watermark fed by ingest's
progress reports (``agents.ordering``), and held events are released as it moves on.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from agents.appeals import AppealDesk
from agents.envelope import unwrap
from agents.ordering import Ordering, PartitionOrder, expected_sources
from agents.progress import ProgressReport
from agents.publish import Publisher
from policy.guard import Guard, Position, Step
from schemas.appeals import DecideAppeal, FileAppeal
from schemas.types import AccountMeta, Event
from streams.app import Runtime
from streams.commands import CommandResult
from tables.store import TableStore

log = logging.getLogger("sendguard.guard")
EXIT_AGENT_FAILED = 4


def _now() -> datetime:
    return datetime.now(UTC)


def register(rt: Runtime) -> Guard:
    guard = Guard(rt.policy, TableStore(rt.tables), _now)
    publisher = Publisher(rt)
    desk = AppealDesk(rt, guard, publisher)
    metrics = rt.metrics
    events_topic = rt.topics.events.get_topic_name()
    input_topics = sorted(rt.topics.inputs.topics) + sorted(rt.topics.accounts.topics)
    ordering = Ordering(
        timedelta(seconds=rt.settings.reorder_allowance_s),
        lambda: expected_sources(rt.input_partitions, input_topics),
    )

    def order_for(partition: int) -> PartitionOrder:
        """This partition's ordering state, rebuilt from the held table on first use."""
        order = ordering.get(partition)
        if order is not None:
            return order
        order = ordering.create(partition)
        for key in list(rt.tables.held.keys()):
            account_id = key.decode()
            tp = rt.app.producer.key_partition(events_topic, key)
            if tp.partition != partition:
                continue
            earliest = guard.earliest_held(account_id)
            if earliest is not None:
                order.track(account_id, earliest)
        log.info("partition %d: %d accounts hold events", partition, len(order.held))
        return order

    def remember_held(order: PartitionOrder, step: Step) -> None:
        if step.to_hold is None and not step.released:
            return  # nothing held changed
        account_id = step.state.account_id
        was_held = account_id in order.held
        earliest = guard.earliest_held(account_id)
        order.track(account_id, earliest)
        if earliest is not None and not was_held:
            rt.tables.held[account_id.encode()] = b""
        elif earliest is None and was_held:
            del rt.tables.held[account_id.encode()]
        metrics.held_accounts.set(sum(len(o.held) for o in ordering.partitions.values()))

    async def finish(step: Step, source_timestamp: float | None = None) -> None:
        await publisher.step(step, source_timestamp)
        guard.commit(step)

    async def release_due(order: PartitionOrder) -> None:
        watermark = order.marks.current()
        for account_id in order.due(watermark):
            step = guard.release(account_id, watermark)
            if step.counted or step.released:
                await finish(step)
            remember_held(order, step)

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

    async def handle_event(record: Event, position: Position, message: Any) -> None:
        order = order_for(position.partition)
        step = guard.step(record, position, order.marks.current())
        if step.kind != "replayed":
            outcome = "accepted" if step.kind == "applied" else "duplicate"
            metrics.events.labels(topic=record.topic, outcome=outcome).inc()
        await finish(step, message.timestamp / 1000 if message.timestamp else None)
        if step.kind == "applied":
            remember_held(order, step)

    async def process(stream: Any) -> None:
        try:
            await consume(stream)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            # A crashed faust agent leaves a worker that looks alive but does nothing.
            # Nothing is lost by exiting (offsets are committed only after processing):
            # exit so that a supervisor restarts the worker from its committed offsets.
            log.critical("guard agent failed; exiting so the worker restarts", exc_info=exc)
            os._exit(EXIT_AGENT_FAILED)

    async def consume(stream: Any) -> None:
        handled = 0
        async for event in stream.events():
            handled += 1
            if handled == rt.settings.fault_stall_after:
                log.warning("SENDGUARD_FAULT_STALL_AFTER reached: the guard hangs now")
                await asyncio.Event().wait()
            message = event.message
            position = Position(message.partition, message.offset)
            try:
                record = unwrap(message.value)
            except Exception:
                log.exception("undecodable record on %s@%s skipped", message.topic, message.offset)
                continue
            if isinstance(record, Event):
                await handle_event(record, position, message)
            elif isinstance(record, ProgressReport):
                order = order_for(position.partition)
                order.apply_report(record)
                await release_due(order)
                watermark = order.marks.current()
                delay = 0.0 if watermark is None else max(0.0, time.time() - watermark.timestamp())
                metrics.watermark_delay.set(delay)
            elif isinstance(record, AccountMeta):
                await finish(guard.step_meta(record))
            else:
                await handle_command(record, position)
            metrics.processed.inc()
            metrics.last_progress.set(time.time())
            rt.liveness.progressed("guard", message.tp, message.offset)

    @rt.app.on_partitions_revoked.connect
    async def on_revoked(app: Any, revoked: set[Any], **kwargs: Any) -> None:
        ordering.forget(tp.partition for tp in revoked if tp.topic == events_topic)

    rt.app.agent(rt.topics.events, name="sendguard.guard", concurrency=1)(process)
    return guard
