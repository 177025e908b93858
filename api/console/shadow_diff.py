"""Accounts where the live and the shadow policy disagree, gathered from every worker.

Each worker holds the shadow's rows of the partitions it owns. It answers for those
(:func:`local_differences`); the console asks every worker of the group for theirs, with
a signed hop (``api.forwarding``), and shows them together. A worker scans at most
:data:`SCAN_LIMIT` accounts and reports at most :data:`ROWS_PER_WORKER` differences, and
yields to the event loop as it scans, since the guard runs on the same loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp
import msgspec
from yarl import URL

from api.forwarding import FORWARDED, redacted, sign_hop
from policy.state import decode_state
from schemas.types import CHANNELS
from streams.app import Runtime
from streams.faust_ext import OFFSET_KEY, partition_db

log = logging.getLogger("sendguard.console")
INTERNAL_PATH = "/console/shadow/differences"
SCAN_LIMIT = 1_000_000
ROWS_PER_WORKER = 500
_YIELD_EVERY = 2_000


def owned_partitions(rt: Runtime) -> tuple[list[int], list[URL]]:
    """The account partitions this worker owns, and the web URLs of the other workers."""
    name = rt.tables.accounts.name
    me = rt.app.conf.canonical_url
    owned: list[int] = []
    others: list[URL] = []
    for host, topics in rt.app.router.table_metadata(name).items():
        url = URL(host)
        if (url.host, url.port) == (me.host, me.port):
            owned = sorted({p for partitions in topics.values() for p in partitions})
        else:
            others.append(url)
    return owned, others


async def local_differences(rt: Runtime, owned: list[int]) -> list[dict[str, Any]]:
    """The accounts of the ``owned`` partitions where a channel's state or reason differs
    between the live and the shadow policy."""
    shadow = rt.shadow
    if shadow is None:
        return []
    found: list[dict[str, Any]] = []
    scanned = 0
    for partition in owned:
        live_db = partition_db(rt.tables.accounts, partition)
        for key, raw in partition_db(shadow.tables.accounts, partition).items():
            scanned += 1
            if scanned % _YIELD_EVERY == 0:
                await asyncio.sleep(0)
            if scanned > SCAN_LIMIT or len(found) >= ROWS_PER_WORKER:
                return found
            if key == OFFSET_KEY:
                continue
            try:
                shadow_state = decode_state(raw)
                live_raw = live_db.get(key)
                live_state = decode_state(live_raw) if live_raw is not None else None
            except msgspec.MsgspecError:
                continue  # a row that does not decode is left out of the list
            for channel in CHANNELS:
                ours = shadow_state.channel(channel).status
                live = live_state.channel(channel).status if live_state is not None else None
                live_view = (live.state, live.reason) if live else ("active", None)
                if (ours.state, ours.reason) != live_view:
                    found.append({
                        "account_id": shadow_state.account_id, "channel": channel,
                        "live_state": live_view[0], "live_reason": live_view[1],
                        "shadow_state": ours.state, "shadow_reason": ours.reason,
                    })  # fmt: skip
    return found


async def all_differences(rt: Runtime, keys: list[bytes]) -> tuple[list[dict[str, Any]], list[str]]:
    """Every worker's differences, and the workers that did not answer."""
    owned, others = owned_partitions(rt)
    rows = await local_differences(rt, owned)
    missing: list[str] = []
    for url in others:
        if not keys:
            missing.append(f"{url} (SENDGUARD_SECRET is unset: no signed hop)")
            continue
        target = f"{INTERNAL_PATH}?"
        headers = {FORWARDED: sign_hop(keys[0], "GET", target, b"", time.time())}
        try:
            async with rt.app.http_client.get(
                url.with_path(INTERNAL_PATH), headers=headers,
                timeout=aiohttp.ClientTimeout(total=30),
            ) as response:  # fmt: skip
                if response.status != 200:
                    missing.append(f"{url} ({response.status})")
                    continue
                rows += (await response.json())["differences"]
        except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, TypeError) as exc:
            log.warning("asking %s for its shadow differences failed: %s", url, redacted(exc))
            missing.append(f"{url} (unreachable)")
    rows.sort(key=lambda r: (str(r["account_id"]), str(r["channel"])))
    return rows, missing
