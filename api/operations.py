"""HTTP views on the worker's web port: health, Prometheus metrics and the status an SRE
asks for first (``sendguard status``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from aiokafka.errors import KafkaError
from prometheus_client import generate_latest

from streams.app import Runtime
from streams.faust_ext import tables_recovered
from streams.kafka_admin import appended_since

#: each guard partition this worker owns: watermark, its age, what it waits for, held events
PartitionStatus = Callable[[], list[dict[str, Any]]]

#: how long ``GET /status`` waits for the broker's answer on the last hour's records
RECENT_TIMEOUT_S = 10.0


def health(rt: Runtime) -> tuple[bool, str]:
    if not tables_recovered(rt.app):
        return False, "recovering tables from their changelogs"
    if rt.lost.happened:
        return False, rt.lost.describe()
    liveness = rt.liveness
    if liveness.stalled:
        agent = sorted(liveness.stalled_agents)[0]
        return False, (
            f"stalled: {agent} has {liveness.lag.get(agent, 0)} messages waiting and no "
            f"progress for {liveness.idle_for(agent):.0f} s"
        )
    return True, "tables recovered and consuming"


async def last_hour(rt: Runtime) -> dict[str, Any]:
    """Decisions and dead letters appended in the last hour (the whole topic, whichever
    worker wrote them), or why the broker could not say."""
    names = rt.settings.topic_names
    topics = [names.decisions, names.dead_letter]
    since_ms = int((time.time() - 3600) * 1000)
    try:
        asked = appended_since(rt.settings.kafka_bootstrap, topics, since_ms)
        counts = await asyncio.wait_for(asked, RECENT_TIMEOUT_S)
    except (TimeoutError, KafkaError, OSError) as exc:
        why = "no answer" if isinstance(exc, TimeoutError) else repr(exc)
        return {"decisions": None, "dead_letters": None, "why": f"broker: {why}"}
    return {"decisions": counts[names.decisions], "dead_letters": counts[names.dead_letter]}


async def worker_status(rt: Runtime, partition_status: PartitionStatus) -> dict[str, Any]:
    """What ``GET /status`` answers: this worker's health, policies, lag, guard partitions
    (watermark age, held events), and the cluster's decisions and dead letters of the last
    hour."""
    ready, why = health(rt)
    partitions = partition_status()
    return {
        "app_id": rt.settings.app_id,
        "ready": ready,
        "why": why,
        "policy": {
            "live": rt.policy.version,
            "shadow": rt.shadow.policy.version if rt.shadow is not None else None,
        },
        "lag_messages": dict(sorted(rt.liveness.lag_by_topic.items())),
        "held_events": sum(p["held_events"] for p in partitions),
        "partitions": partitions,
        "last_hour": await last_hour(rt),
    }


def register(rt: Runtime, partition_status: PartitionStatus) -> None:
    app = rt.app

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        ready, why = health(rt)
        body = {"ready": ready, "why": why, "lag_messages": rt.liveness.total_lag}
        return web.json(body, status=200 if ready else 503)

    @app.page("/status")
    async def status(web: Any, request: Any) -> Any:
        return web.json(await worker_status(rt, partition_status))

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        # ``?name[]=…`` (repeatable) serves only those samples, as prometheus_client's own
        # exposition does: a reader polling a counter or two need not render every
        # partition's series (at 128 partitions, 4 % of a worker's time at 10 reads/s).
        names = request.query.getall("name[]", [])
        registry = rt.metrics.registry
        # aiohttp wants the charset apart from the content type; the text is UTF-8.
        return web.bytes(
            generate_latest(registry.restricted_registry(names) if names else registry),
            content_type="text/plain; version=0.0.4",
        )
