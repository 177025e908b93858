"""HTTP views on the worker's web port: health and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from prometheus_client import generate_latest

from streams.app import Runtime
from streams.faust_ext import tables_recovered


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


def register(rt: Runtime) -> None:
    app = rt.app

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        ready, why = health(rt)
        body = {"ready": ready, "why": why, "lag_messages": rt.liveness.total_lag}
        return web.json(body, status=200 if ready else 503)

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        # aiohttp wants the charset apart from the content type; the text is UTF-8.
        return web.bytes(
            generate_latest(rt.metrics.registry), content_type="text/plain; version=0.0.4"
        )
