"""The HTTP surface against what a careless or hostile client sends, on a real worker:
bodies in pieces, oversized chunked bodies, deep or undecodable JSON, odd header bytes.
Each answers with the right 4xx, never 500, and the worker goes on."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.integration.http import AUTH_ENV, OPERATOR_TOKEN, account_token, appeal_form, call
from tests.integration.traffic import event

pytestmark = pytest.mark.integration

NO_SUCH_APPEAL = "/appeals/ap-0000000000000000-YWNtZQ/decision"  # an appeal of "acme"


async def raw_request(port: int, head: bytes, *parts: bytes, pause: float = 0.2) -> int:
    """Send a request as ``head`` then ``parts``, each its own TCP write ``pause`` apart;
    the status of the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head)
        await writer.drain()
        for part in parts:
            await asyncio.sleep(pause)
            writer.write(part)
            await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 30)
    finally:
        writer.close()
    return int(status_line.split()[1])


def head(method: str, path: str, headers: dict[str, str], extra: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close",
             *(f"{k}: {v}" for k, v in headers.items())]  # fmt: skip
    return ("\r\n".join(lines) + "\r\n").encode() + extra + b"\r\n"


def chunked(body: bytes, size: int = 16 * 1024) -> list[bytes]:
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    return [f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in pieces] + [b"0\r\n\r\n"]


async def test_bodies_and_headers_a_client_can_send_never_get_500(worker_factory) -> None:
    worker = worker_factory(**AUTH_ENV)
    port = worker.port
    auth = {"Authorization": f"Bearer {OPERATOR_TOKEN}", "Content-Type": "application/json"}
    body = json.dumps({"decision": "deny", "note": "not this time"}).encode()
    half = len(body) // 2

    # A body in two TCP writes is read whole: the decision is parsed, the appeal unknown.
    sized = head("POST", NO_SUCH_APPEAL, {**auth, "Content-Length": str(len(body))})
    assert await raw_request(port, sized, body[:half], body[half:]) == 404
    # The same body chunked, in pieces: read whole too.
    chunks = head("POST", NO_SUCH_APPEAL, {**auth, "Transfer-Encoding": "chunked"})
    assert await raw_request(port, chunks, *chunked(body, half)) == 404
    # 120 KB chunked (no Content-Length to refuse it by): too large, not "bad JSON".
    big = json.dumps({"decision": "deny", "note": "x" * 120_000}).encode()
    assert await raw_request(port, chunks, *chunked(big), pause=0.01) == 413

    base = worker.url("")
    deep = b"[" * 1000 + b"]" * 1000
    for bad in (deep, b'{"decision": "deny", "note": "\xff\xfe"}', b"\xff" * 10):
        reply = await call(base, "POST", NO_SUCH_APPEAL, OPERATOR_TOKEN, raw=bad)
        assert reply.status == 422, (bad[:20], reply.status, reply.text)
        assert reply.json()["field"] == "body"

    # Bytes that are not ASCII in Authorization: 401 to the unauthenticated caller.
    latin = head("GET", "/accounts/acme", {}, b"Authorization: Bearer caf\xe9\xff\r\n")
    assert await raw_request(port, latin) == 401
    # An absurd Host header changes nothing for the account's own worker.
    odd_host = head("GET", "/accounts/acme", {"Authorization": f"Bearer {OPERATOR_TOKEN}"})
    odd_host = odd_host.replace(b"Host: 127.0.0.1", b"Host: 127.0.0.1:99999999")
    assert await raw_request(port, odd_host) == 200

    # /metrics?name[]= filters by whatever names come: bytes that are no UTF-8, control
    # characters, markup, a long name, a thousand names. Unknown names serve nothing
    # (200); a request line past aiohttp's limit is refused before any handler.
    for query in ("name[]=%FF%FE", "name[]=%00%0A", "name[]=%3Cscript%3E", "name[]=" + "x" * 7000,
                  "&".join(["name[]=sendguard_held_events"] * 200)):  # fmt: skip
        reply = await call(base, "GET", f"/metrics?{query}")
        assert reply.status == 200, (query[:30], reply.status)
        assert "sendguard_events_total" not in reply.text
    assert await raw_request(port, head("GET", "/metrics?name[]=" + "x" * 9000, {})) in (400, 414)
    assert "sendguard_events_total" in (await call(base, "GET", "/metrics")).text

    assert (await call(base, "GET", "/healthz")).status == 200  # and it goes on


async def test_one_pending_appeal_per_account_and_channel(worker_factory, pipeline) -> None:
    """A suspended account cannot file appeal after appeal (each mails its team): the
    second gets 409 with the pending one's id, until an operator decides it."""
    worker = worker_factory(**AUTH_ENV)
    base = worker.url("")
    await pipeline.send([
        {"topic": "accounts", "account_id": "acme", "tier": "legacy",
         "primary_contact": "owner@acme.example", "csm": "csm@example.com"},
        event("email.abuse-desk", "acme", complaint_id="c1"),
        event("email.abuse-desk", "acme", channel="crm", complaint_id="c2"),
    ])  # fmt: skip
    await pipeline.wait_drained()
    token = account_token("acme")
    first = await call(base, "POST", "/accounts/acme/appeals", token, appeal_form())
    assert first.status == 201, first.text
    pending = first.json()["appeal_id"]
    again = await call(base, "POST", "/accounts/acme/appeals", token, appeal_form())
    assert again.status == 409, again.text
    assert again.json()["pending_appeal_id"] == pending
    crm = await call(base, "POST", "/accounts/acme/appeals", token, appeal_form(channel="crm"))
    assert crm.status == 201, crm.text  # the other channel has its own
    denied = await call(base, "POST", f"/appeals/{pending}/decision", OPERATOR_TOKEN,
                        {"decision": "deny", "note": "evidence missing"})  # fmt: skip
    assert denied.status == 200, denied.text
    after = await call(base, "POST", "/accounts/acme/appeals", token, appeal_form())
    assert after.status == 201, after.text
    notified = await pipeline.read("sendguard.notifications")
    assert len(notified) == 3, notified  # one per appeal filed, none for the refused one
