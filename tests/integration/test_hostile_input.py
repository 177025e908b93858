"""Hostile input against the real worker: every reject reaches dead-letter with a reason,
the worker neither crashes nor stalls, the good events around are still counted, and the
HTTP API never answers 500."""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from aiokafka.errors import MessageSizeTooLargeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from schemas.limits import TOPIC_MAX_MESSAGE_BYTES
from tests.integration.http import AUTH_ENV, OPERATOR_TOKEN, account_token, call
from tests.integration.traffic import bounces, deliveries, event, next_time

pytestmark = pytest.mark.integration

#: A record batch of one record costs 61 bytes of batch header and, for a key of 6 bytes
#: and a value near 1 MiB, 17 bytes of record framing: the largest value the broker
#: accepts (Kafka's default ``message.max.bytes``) on a topic of the test broker.
LARGEST_VALUE = TOPIC_MAX_MESSAGE_BYTES - 61 - 17


def largest_message(good: dict) -> bytes:
    """A bounce whose ``diagnostic`` pads it to exactly ``LARGEST_VALUE`` bytes."""
    base = json.dumps({**good, "diagnostic": ""}).encode()
    message = json.dumps({**good, "diagnostic": "p" * (LARGEST_VALUE - len(base))}).encode()
    assert len(message) == LARGEST_VALUE
    return message


def hostile_messages(seed: int = 1) -> list[bytes]:
    rng = random.Random(seed)
    good = {"event_id": "h", "account_id": "victim", "occurred_at": next_time(),
            "recipient": "x@y.example", "bounce_type": "hard"}  # fmt: skip
    messages = [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400))) for _ in range(40)]
    messages += [
        b"\xff\xfe\xfd invalid utf-8",
        b'{"event_id": "\xc3\x28"}',
        json.dumps({**good, "event_id": "x" * 100_000}).encode(),
        b"[" * 50_000 + b"]" * 50_000,
        b'{"a":' * 20_000 + b"1" + b"}" * 20_000,
        json.dumps({**good, "account_id": ["not", "a", "string"]}).encode(),
        json.dumps({**good, "listed": "yes", "bounce_type": 7}).encode(),
        json.dumps({**good, "event_id": "nul\x00inside"}).encode(),
        json.dumps({**good, "account_id": "nul\x00inside"}).encode(),
        json.dumps({**good, "occurred_at": "9999-12-31T23:59:59Z"}).encode(),
        json.dumps({**good, "occurred_at": "0001-01-01T00:00:00+14:00"}).encode(),
        largest_message(good),  # the largest the broker accepts, near 1 MiB
        b"null", b"true", b"1e400", b"\"just a string\"", b"",
    ]  # fmt: skip
    return messages


async def test_hostile_messages_are_dead_lettered_and_good_events_counted(
    worker_factory, pipeline
) -> None:
    worker_factory()
    with pytest.raises(MessageSizeTooLargeError):  # LARGEST_VALUE really is the largest
        await pipeline.send_raw("email.bounce", b" " * (LARGEST_VALUE + 1), key=b"victim")
    await pipeline.send(deliveries("victim", 1000))
    hostile = hostile_messages()
    good = bounces("victim", 60)
    for i, raw in enumerate(hostile):
        await pipeline.send_raw("email.bounce", raw, key=b"victim")
        if i < len(good):
            await pipeline.send([good[i]])
    await pipeline.send(good[len(hostile) :])
    await pipeline.wait_drained(timeout=120)

    letters = await pipeline.dead_letters()
    assert len(letters) == len(hostile)
    for letter in letters:
        assert letter["error"] and letter["source_topic"] == "email.bounce"
        assert len(letter["raw"].encode()) <= 64 * 1024
    assert not [d for d in letters if d["error"].startswith("internal error")]
    largest = [d for d in letters if d["error"].startswith("diagnostic: longer than 2048")]
    assert len(largest) == 1 and len(largest[0]["raw"]) == 64 * 1024
    suspend = [d for d in await pipeline.decisions() if d["action"] == "suspend"]
    assert len(suspend) == 1 and suspend[0]["evidence"]["hard_bounces"] == 51


HUGE = 300 * 1024


async def drained(pipeline, worker, timeout: float = 120.0) -> None:
    """``pipeline.wait_drained``, but failing at once, with the log, if the worker exits."""
    waiting = asyncio.ensure_future(pipeline.wait_drained(timeout))
    while not waiting.done():
        if worker.proc.poll() is not None:
            waiting.cancel()
            raise AssertionError(f"the worker exited ({worker.proc.returncode}):\n"
                                 + worker.log_tail())  # fmt: skip
        await asyncio.sleep(0.5)
    await waiting


async def test_huge_strings_and_hostile_internal_records_do_not_stop_the_worker(
    worker_factory, pipeline
) -> None:
    """(a) Events whose campaign_id, blocklist, ip or domain is a 300 KB string (the row
    keeps campaign ids and listings: a few of them once made it larger than Kafka's
    record limit, and the worker crash-looped) among good events of the same account;
    (b) records produced straight to the internal topics: a deep nesting and a progress
    report whose source is not "topic/partition" (each once crashed the guard). All are
    dead-lettered, the worker stays up, and the good events are counted exactly."""
    worker = worker_factory(**AUTH_ENV)
    await pipeline.send(deliveries("victim", 1000))
    # Counted first: topics read to their end are counted in arrival order (README,
    # "Event-time order"), and the suspension's evidence is checked below.
    await drained(pipeline, worker)
    hostile = [
        event("email.delivery", "victim", recipient="h1@x.example", campaign_id="c" * HUGE),
        event("email.bounce", "victim", recipient="h2@x.example", bounce_type="hard",
              campaign_id="d" * HUGE),
        event("email.blocklist", "victim", blocklist="b" * HUGE, listed=True),
        event("email.blocklist", "victim", blocklist="spamhaus", listed=True, ip="i" * HUGE),
        event("email.blocklist", "victim", blocklist="spamhaus", listed=True, domain="n" * HUGE),
    ]  # fmt: skip
    good = bounces("victim", 60)
    for n, bad in enumerate(hostile):
        await pipeline.send([good[n], bad])
    await pipeline.send(good[len(hostile) : 30])
    # (b), on the account's partition of sendguard.events (keyed by it, as forwards are)
    report = {"reporter": "intruder", "reported_at": time.time(),
              "sources": {"not a source": [1, False]}}  # fmt: skip
    nested = b'E{"x":' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    for raw in (nested, b"P" + json.dumps(report).encode()):
        await pipeline.send_raw("sendguard.events", raw, key=b"victim")
    # and to sendguard.progress, which every worker reads whole
    for raw in (b"P" + nested[1:], b"P" + json.dumps({**report, "fences": {"0": -1}}).encode()):
        await pipeline.send_raw("sendguard.progress", raw)
    await pipeline.send(good[30:])
    await drained(pipeline, worker)

    assert worker.proc is not None and worker.proc.poll() is None, worker.log_tail()
    letters = await pipeline.dead_letters()
    assert sorted((d["source_topic"], d["error"]) for d in letters) == sorted([
        ("email.delivery", f"campaign_id: longer than 200 characters ({HUGE})"),
        ("email.bounce", f"campaign_id: longer than 200 characters ({HUGE})"),
        ("email.blocklist", f"blocklist: longer than 200 characters ({HUGE})"),
        ("email.blocklist", f"ip: longer than 200 characters ({HUGE})"),
        ("email.blocklist", f"domain: longer than 253 characters ({HUGE})"),
        ("sendguard.events", "undecodable internal record: nested too deeply"),
        ("sendguard.events",
         "undecodable internal record: sources: not a topic/partition: 'not a source'"),
        ("sendguard.progress", "undecodable internal record: nested too deeply"),
        ("sendguard.progress",
         "undecodable internal record: sources: not a topic/partition: 'not a source'"),
    ])  # fmt: skip
    account = await call(worker.url(""), "GET", "/accounts/victim", OPERATOR_TOKEN)
    counts = account.json()["channels"]["marketing"]["counts"]
    assert (counts["sent"], counts["hard_bounces"]) == (1000, 60)
    assert account.json()["channels"]["marketing"]["blocklistings_in_force"] == 0
    suspend = [d for d in await pipeline.decisions() if d["action"] == "suspend"]
    assert [(d["reason"], d["evidence"]["hard_bounces"]) for d in suspend] == [
        ("hard_bounce_rate", 51)
    ]
    with urllib.request.urlopen(worker.url("/metrics"), timeout=10) as response:
        text = response.read().decode()
    undecodable = [sample.value for family in text_string_to_metric_families(text)
                   for sample in family.samples
                   if sample.name == "sendguard_undecodable_records_total"]  # fmt: skip
    assert undecodable == [4.0]


#: Examples per run of each HTTP fuzz: modest in ``./dev test``; a nightly-sized run sets
#: more (README, "Tests").
FUZZ_EXAMPLES = int(os.environ.get("SENDGUARD_FUZZ_EXAMPLES", "250"))
paths = st.one_of(
    st.builds(lambda a: f"/accounts/{a}", st.text(min_size=1, max_size=40)),
    st.builds(lambda a: f"/accounts/{a}/appeals", st.text(min_size=1, max_size=40)),
    st.builds(lambda a: f"/appeals/{a}/decision", st.text(min_size=1, max_size=60)),
    st.sampled_from(["/healthz", "/metrics", "/", "/table", "/accounts", "/accounts//appeals"]),
)
bodies = st.one_of(
    st.none(),
    st.binary(max_size=300),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=25), inner, max_size=6)
        ),
        max_leaves=12,
    ).map(lambda v: json.dumps(v).encode()),
)
tokens = st.one_of(
    st.none(), st.just(OPERATOR_TOKEN), st.just(account_token("fuzzed")),
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60),
)  # fmt: skip


def status_of(request: urllib.request.Request) -> int:
    """The status a worker answers ``request`` with (redirects followed)."""
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def test_http_api_never_answers_500(worker_factory) -> None:
    worker = worker_factory(**AUTH_ENV)
    seen: set[int] = set()

    @settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(["GET", "POST", "PUT", "DELETE"]), paths, bodies, tokens)
    def call(method: str, path: str, body: bytes | None, token: str | None) -> None:
        url = worker.url(urllib.parse.quote(path, safe="/"))
        request = urllib.request.Request(url, data=body, method=method)
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        status = status_of(request)
        seen.add(status)
        assert status < 500 or status == 503, (method, path, body, status)

    call()
    assert {401, 404} <= seen


header_bytes = st.binary(max_size=80).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
deep_json = st.integers(min_value=1, max_value=5000).map(lambda n: b"[" * n + b"]" * n)
raw_bodies = st.one_of(
    st.binary(max_size=2000), deep_json, bodies.filter(lambda b: b is not None),
    st.builds(lambda n: json.dumps({"decision": "deny", "note": "x" * n}).encode(),
              st.integers(min_value=0, max_value=140_000)),
)  # fmt: skip


def framed(head: list[bytes], body: bytes, framing: str, rng: random.Random) -> list[bytes]:
    """The body's writes, framed as ``framing`` says (its header added to ``head``):
    ``length`` whole, ``split`` in two writes, ``chunked`` in up to four chunks."""
    if framing == "chunked":
        head.append(b"Transfer-Encoding: chunked")
        cuts = sorted({rng.randrange(len(body) + 1) for _ in range(rng.randrange(4))})
        pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
        return [*(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in pieces if p), b"0\r\n\r\n"]
    head.append(f"Content-Length: {len(body)}".encode())
    cut = rng.randrange(len(body) + 1) if framing == "split" else len(body)
    return [body[:cut], body[cut:]]


def send_raw(port: int, request: bytes, parts: list[bytes]) -> int:
    """Write the request head, then each part as its own TCP write; the answer's status
    (400 if the server closed without one, which is how aiohttp refuses a bad request)."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as conn:
        try:
            conn.sendall(request)
            for part in parts:
                time.sleep(0.002)
                conn.sendall(part)
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered (and closed) before the whole body was sent: read the answer
        try:
            answer = conn.makefile("rb").readline()
        except ConnectionResetError:
            answer = b""
    return int(answer.split()[1]) if answer.startswith(b"HTTP/") else 400


def test_http_api_never_answers_500_to_raw_requests(worker_factory) -> None:
    """Bodies in several TCP writes or chunked, deep JSON, and header bytes that are not
    ASCII (Authorization, Host, the forwarding mark), sent as raw HTTP/1.1."""
    worker = worker_factory(**AUTH_ENV)
    seen: set[int] = set()

    @settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        st.sampled_from(["GET", "POST"]), paths, raw_bodies,
        st.sampled_from(["length", "split", "chunked"]), st.randoms(use_true_random=False),
        st.one_of(tokens.map(lambda t: None if t is None else f"Bearer {t}".encode()),
                  header_bytes),
        st.one_of(st.none(), header_bytes), st.one_of(st.none(), header_bytes),
    )  # fmt: skip
    def call(method: str, path: str, body: bytes, framing: str, rng: random.Random,
             auth: bytes | None, host: bytes | None, forwarded: bytes | None) -> None:  # fmt: skip
        target = urllib.parse.quote(path, safe="/").encode()
        head = [method.encode() + b" " + target + b" HTTP/1.1",
                b"Host: " + (host if host is not None else b"127.0.0.1"),
                b"Connection: close", b"Content-Type: application/json"]  # fmt: skip
        if auth is not None:
            head.append(b"Authorization: " + auth)
        if forwarded is not None:
            head.append(b"X-Sendguard-Forwarded: " + forwarded)
        parts = framed(head, body, framing, rng)
        status = send_raw(worker.port, b"\r\n".join(head) + b"\r\n\r\n", parts)
        seen.add(status)
        assert status < 500 or status == 503, (method, path, framing, body[:60], status)

    call()
    assert {401} <= seen
    assert worker.proc.poll() is None


console_paths = st.one_of(
    st.builds(lambda a: f"/console/accounts/{a}", st.text(min_size=1, max_size=40)),
    st.builds(lambda a: f"/console/appeals/{a}/decision", st.text(min_size=1, max_size=60)),
    st.just("/console/appeals/ap-0000000000000000-YWNtZQ/decision"),  # an appeal of "acme"
    st.builds(lambda q: f"/console/login?next={q}", st.text(max_size=60)),
    st.builds(lambda q: f"/console/?account={q}", st.text(max_size=60)),
    st.builds(lambda q: f"/console/appeals?{q}", st.text(max_size=60)),
    st.builds(lambda q: f"/appeals?{q}", st.text(max_size=60)),
    st.sampled_from(["/console/", "/console/login", "/console/logout", "/console",
                     "/console/audit", "/console/appeals?queue=crm&tier=free&channel=crm"]),
)


def test_console_never_answers_500(worker_factory) -> None:
    """The console's pages with any cookie (none, junk, a genuine session), any form body
    (bytes, or fields with and without the session's CSRF token) and any path."""
    from api.console.session import COOKIE, issue
    from api.operators import Operator
    from api.tokens import Keyring
    from streams.settings import Secret
    from tests.integration.http import SECRET

    worker = worker_factory(**AUTH_ENV)
    keyring = Keyring(Secret(SECRET))
    genuine, session = issue([keyring.derived("console-session")], Operator("operator", "admin"),
                             time.time())  # fmt: skip
    forms = st.one_of(
        st.none(), st.binary(max_size=400),
        st.dictionaries(st.sampled_from(["csrf", "decision", "note", "token", "next", "x"]),
                        st.one_of(st.text(max_size=80), st.just(session.csrf),
                                  st.sampled_from(["restore", "deny"])),
                        max_size=5).map(lambda d: urllib.parse.urlencode(d).encode()),
    )  # fmt: skip
    cookies = st.one_of(st.none(), st.just(genuine),
                        st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=90))  # fmt: skip
    seen: set[int] = set()

    @settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(["GET", "POST"]), console_paths, forms, cookies)
    def call(method: str, path: str, body: bytes | None, cookie: str | None) -> None:
        target, _, query = path.partition("?")
        url = worker.url(urllib.parse.quote(target, safe="/")
                         + ("?" + urllib.parse.quote(query, safe="=&") if query else ""))  # fmt: skip
        request = urllib.request.Request(url, data=body if method == "POST" else None,
                                         method=method)  # fmt: skip
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
        if cookie is not None:
            request.add_header("Cookie", f"{COOKIE}={cookie}")
        status = status_of(request)
        seen.add(status)
        assert status < 500 or status == 503, (method, path, body, cookie, status)

    call()
    assert {200, 403} <= seen, seen
    assert worker.proc.poll() is None
