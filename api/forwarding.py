"""Answer an account's HTTP request on the worker that owns the account's partition.

Faust's ``table_route`` forwards only the method and headers, not the body, so POSTs are
forwarded here with their body. A forwarded request carries a header; a worker that gets
one for an account it does not own (a rebalance in between) answers 503 instead of
bouncing it on.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from yarl import URL

from streams.app import Runtime

log = logging.getLogger("sendguard.routing")
FORWARDED = "X-Sendguard-Forwarded"


async def on_owner(
    rt: Runtime,
    web: Any,
    request: Any,
    account_id: str,
    handle: Callable[[], Awaitable[Any]],
    body: bytes = b"",
) -> Any:
    try:
        owner = rt.app.router.key_store(rt.tables.accounts.name, account_id.encode())
    except KeyError:
        return web.json({"error": "partitions are being assigned; retry shortly"}, status=503)
    me = rt.app.conf.canonical_url
    if (owner.host, owner.port) == (me.host, me.port):
        return await handle()
    if request.headers.get(FORWARDED):
        return web.json({"error": "account is moving between workers; retry"}, status=503)
    # Not request.url: that parses the caller's Host header, which may be anything.
    url = URL.build(scheme="http", host=str(owner.host), port=owner.port,
                    path=request.rel_url.path, query=request.rel_url.query)  # fmt: skip
    headers = {
        k: v for k, v in request.headers.items() if k.lower() in ("authorization", "content-type")
    }
    headers[FORWARDED] = "1"
    try:
        async with rt.app.http_client.request(
            request.method,
            url,
            headers=headers,
            data=body or None,
            timeout=aiohttp.ClientTimeout(total=30),
        ) as response:
            return web.bytes(
                await response.read(),
                content_type=response.content_type,
                status=response.status,
            )
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("forwarding %s %s to %s failed: %r", request.method, request.path, owner, exc)
        return web.json({"error": f"owner worker {owner} unreachable; retry"}, status=503)
