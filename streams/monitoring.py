"""Liveness of the stream: consumer lag per partition and stall detection.

faust consumers can stall silently (faust-streaming #175). Every few seconds this reads
each assigned partition's lag; when messages are waiting and no agent has made progress
for ``stall_after_s``, the worker is stalled: a metric says so and ``/healthz`` fails, so
an orchestrator restarts it.
"""

from __future__ import annotations

from streams.app import Runtime

LAG_INTERVAL_S = 2.0


def register(rt: Runtime) -> None:
    app, metrics, liveness = rt.app, rt.metrics, rt.liveness
    # Only what the agents consume: the consumer is also assigned changelog partitions
    # (written by this worker), whose "lag" is not work waiting.
    sources = {rt.topics.events.get_topic_name()} | set(rt.topics.inputs.topics)
    sources |= set(rt.topics.accounts.topics)

    @app.timer(LAG_INTERVAL_S)
    async def measure_lag() -> None:
        consumer = app.consumer
        total = 0
        for tp in consumer.assignment():
            if tp.topic not in sources:
                continue
            highwater = consumer.highwater(tp)
            position = await consumer.position(tp)
            if highwater is None or position is None:
                continue
            lag = max(0, highwater - position)
            total += lag
            metrics.consumer_lag.labels(topic=tp.topic, partition=str(tp.partition)).set(lag)
        metrics.stalled.set(1 if liveness.update(total) else 0)
