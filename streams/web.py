"""HTTP views on the worker's web port: health and Prometheus metrics."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import generate_latest

from streams.app import Runtime


def register(rt: Runtime) -> None:
    app = rt.app

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        recovered = app.tables.recovery.completed.is_set()
        liveness = rt.liveness
        if not recovered:
            ready, why = False, "recovering tables from their changelogs"
        elif liveness.stalled:
            ready, why = (
                False,
                (
                    f"stalled: {liveness.total_lag} messages waiting, no progress for "
                    f"{time.time() - liveness.last_progress:.0f} s"
                ),
            )
        else:
            ready, why = True, "tables recovered and consuming"
        body = {"ready": ready, "why": why, "lag_messages": liveness.total_lag}
        return web.json(body, status=200 if ready else 503)

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        # aiohttp wants the charset apart from the content type; the text is UTF-8.
        return web.bytes(
            generate_latest(rt.metrics.registry), content_type="text/plain; version=0.0.4"
        )
