"""Liveness of the stream: consumer lag per partition and stall detection.

faust consumers can stall silently (faust-streaming #175). Every few seconds this reads
each assigned partition's lag: the high-water mark minus the next offset an agent will
handle. When messages wait for an agent and it has made no progress for
``stall_after_s``, the worker is stalled: a metric says so and ``/healthz`` fails, so an
orchestrator restarts it.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time

from faust.types import TP

from streams.app import Runtime
from streams.faust_ext import BatchingConsumer, committed_offset, tables_recovered
from streams.lost_events import watch

log = logging.getLogger("sendguard.monitoring")
EXIT_STALLED = 3

LAG_INTERVAL_S = 2.0


def register(rt: Runtime) -> None:
    app, metrics, liveness = rt.app, rt.metrics, rt.liveness
    # Only what the guard consumes: the consumer is also assigned changelog partitions
    # (written by this worker), whose "lag" is not work waiting.
    sources = {rt.topics.events.get_topic_name()} | set(rt.topics.inputs.topics)
    sources |= set(rt.topics.accounts.topics)

    watch(rt.lost)

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]  # see agents.guard
    async def on_assigned(app: object, assigned: object, **kwargs: object) -> None:
        liveness.rebalanced()
        metrics.rebalances.inc()
        watch(rt.lost)  # again, after faust set up logging, before the first fetch

    @app.timer(LAG_INTERVAL_S)
    async def measure_lag() -> None:
        if not tables_recovered(app):
            # Recovering tables is not stalling (/healthz says "recovering" meanwhile).
            liveness.rebalanced()
            return
        consumer: BatchingConsumer = app.consumer  # type: ignore[assignment]
        lag = {"guard": 0}
        by_topic = dict.fromkeys(sources, 0)
        for tp in consumer.assignment():
            if tp.topic not in sources:
                continue
            # Any partition can be revoked between two lines here: each call answers
            # None for one no longer assigned.
            end = consumer.end_offset(tp)
            handled = liveness.next_offsets.get(tp, committed_offset(app, tp))
            if handled is None:
                handled = consumer.positions.get(tp)
            if end is None or handled is None:
                continue
            waiting = max(0, end - handled)
            if waiting and _skipped_to_end(consumer, tp, handled, end):
                waiting = 0
            lag["guard"] += waiting
            by_topic[tp.topic] += waiting
            metrics.consumer_lag.labels(topic=tp.topic, partition=str(tp.partition)).set(waiting)
        liveness.lag_by_topic = by_topic
        metrics.stalled.set(1 if liveness.update(lag) else 0)


def _skipped_to_end(consumer: BatchingConsumer, tp: TP, handled: int, end: int) -> bool:
    """Whether what lies between the last record handled and the partition's end is only
    what the consumer skips (transaction markers, aborted transactions): it has read to
    the end and yielded nothing the guard has not handled."""
    position = consumer.positions.get(tp)
    yielded = consumer.span_ends.get(tp)
    return position is not None and position >= end and (yielded is None or yielded <= handled)


def start_watchdog(rt: Runtime, interval_s: float = 1.0) -> threading.Thread | None:
    exit_after = rt.settings.exit_on_stall_s
    if not exit_after:
        return None

    def watch() -> None:
        while True:
            time.sleep(interval_s)
            stalled_for = rt.liveness.longest_stall()
            if stalled_for >= exit_after:
                message = (
                    f"sendguard: error: stalled for {stalled_for:.0f} s with "
                    f"{rt.liveness.total_lag} messages waiting; exiting (code {EXIT_STALLED}) "
                    "so that a supervisor restarts the worker"
                )
                log.critical(message)
                print(message, file=sys.stderr, flush=True)
                os._exit(EXIT_STALLED)

    thread = threading.Thread(target=watch, name="sendguard-watchdog", daemon=True)
    thread.start()
    return thread
