"""Answer an account's HTTP request on the worker that owns the account's partition.

Faust's ``table_route`` forwards only the method and headers, not the body, so requests
are forwarded here with their body. A forwarded request carries a signature
(:func:`sign_hop`): HMAC-SHA256 under the cluster key (derived from
``SENDGUARD_SECRET``) of its method, path, body hash and time, valid for
:data:`HOP_VALID_S`. A worker answers a request marked as forwarded only with a valid
signature (else 401), and if it does not own the account (a rebalance in between) it
answers 503 instead of bouncing it on.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from yarl import URL

from api.tokens import Keyring
from streams.app import Runtime

log = logging.getLogger("sendguard.routing")
FORWARDED = "X-Sendguard-Forwarded"
#: a signed hop is accepted this long after (and before, for clock skew) its time
HOP_VALID_S = 30
_PURPOSE = "forwarding"
#: headers of the owner's answer that go back to the caller: a console form's redirect
#: target, and the console pages' caching and framing rules
PASSED_BACK = frozenset({"location", "cache-control", "x-frame-options",
                         "content-security-policy"})  # fmt: skip
_CREDENTIALS = re.compile(r"(?i)(bearer|basic)\s+[^\s'\",}]+|(op_|sga1\.|acct_)[^\s'\",}]+")


def redacted(exc: BaseException) -> str:
    """An error's type and text without credentials: aiohttp's errors can carry the
    request's headers (its ``repr`` does), and with them the caller's token."""
    return f"{type(exc).__name__}: {_CREDENTIALS.sub('<redacted>', str(exc))}"


def _signed_text(method: str, target: str, body: bytes, at: int) -> bytes:
    return f"{method}\n{target}\n{hashlib.sha256(body).hexdigest()}\n{at}".encode()


def sign_hop(key: bytes, method: str, target: str, body: bytes, at: float) -> str:
    """The ``X-Sendguard-Forwarded`` value of a request (``target``: path and query)."""
    stamp = int(at)
    mac = hmac.new(key, _signed_text(method, target, body, stamp), hashlib.sha256).digest()
    return f"{stamp}.{base64.urlsafe_b64encode(mac).decode()}"


def hop_is_genuine(
    keys: list[bytes], header: str, method: str, target: str, body: bytes, now: float
) -> bool:
    stamp, _, mac = header.partition(".")
    if not stamp.isdigit() or len(stamp) > 12 or abs(now - int(stamp)) > HOP_VALID_S:
        return False
    given = f"{stamp}.{mac}".encode("ascii", "replace")
    return any(
        hmac.compare_digest(sign_hop(key, method, target, body, int(stamp)).encode(), given)
        for key in keys
    )


def hop_keys(keyring: Keyring) -> list[bytes]:
    """The cluster keys in force, derived from each signing key, the newest first (none
    without a signing key)."""
    if not keyring:
        return []
    return [keyring.derived(_PURPOSE, key) for key in reversed(keyring.in_force())]


def _target(request: Any) -> str:
    rel = request.rel_url
    return f"{rel.path}?{rel.query_string}"


async def on_owner(
    rt: Runtime,
    keys: list[bytes],
    web: Any,
    request: Any,
    account_id: str,
    handle: Callable[[], Awaitable[Any]],
    body: bytes = b"",
) -> Any:
    forwarded = request.headers.get(FORWARDED)
    if forwarded is not None and not hop_is_genuine(
        keys, forwarded, request.method, _target(request), body, time.time()
    ):
        return web.json({"error": f"{FORWARDED} without a valid signature"}, status=401)
    if rt.app.closing:  # its tables are closing: another worker takes the account
        return web.json({"error": "this worker is stopping; retry shortly"}, status=503)
    try:
        owner = rt.app.router.key_store(rt.tables.accounts.name, account_id.encode())
    except KeyError:
        return web.json({"error": "partitions are being assigned; retry shortly"}, status=503)
    me = rt.app.conf.canonical_url
    if (owner.host, owner.port) == (me.host, me.port):
        return await handle()
    if forwarded is not None:
        return web.json({"error": "account is moving between workers; retry"}, status=503)
    if not keys:
        return web.json({"error": "this worker cannot forward to the account's owner: "
                                  "SENDGUARD_SECRET is unset"}, status=503)  # fmt: skip
    # Not request.url: that parses the caller's Host header, which may be anything.
    rel = request.rel_url
    url = URL.build(scheme="http", host=str(owner.host), port=owner.port,
                    path=rel.path, query=rel.query)  # fmt: skip
    # The console's session cookie travels too: it is signed under a cluster key.
    headers = {
        k: v for k, v in request.headers.items()
        if k.lower() in ("authorization", "content-type", "cookie")
    }  # fmt: skip
    headers[FORWARDED] = sign_hop(keys[0], request.method, _target(request), body, time.time())
    try:
        async with rt.app.http_client.request(
            request.method,
            url,
            headers=headers,
            data=body or None,
            timeout=aiohttp.ClientTimeout(total=30),
            allow_redirects=False,
        ) as response:
            return web.bytes(
                await response.read(),
                content_type=response.content_type,
                status=response.status,
                headers={k: v for k, v in response.headers.items() if k.lower() in PASSED_BACK},
            )
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("forwarding %s %s to %s failed: %s", request.method, request.path, owner,
                    redacted(exc))  # fmt: skip
        return web.json({"error": f"owner worker {owner} unreachable; retry"}, status=503)
