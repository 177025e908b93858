"""HTTP views on the worker's web port: health and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from prometheus_client import generate_latest

from streams.app import Runtime


def register(rt: Runtime) -> None:
    app = rt.app

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        ready = app.tables.recovery.completed.is_set() if app.tables else False
        body = {"ready": ready, "why": "tables recovered" if ready else "recovering tables"}
        return web.json(body, status=200 if ready else 503)

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        # aiohttp wants the charset apart from the content type; the text is UTF-8.
        return web.bytes(
            generate_latest(rt.metrics.registry), content_type="text/plain; version=0.0.4"
        )
