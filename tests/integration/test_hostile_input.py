"""Hostile input against the real worker: every reject reaches dead-letter with a reason,
the worker neither crashes nor stalls, the good events around are still counted, and the
HTTP API never answers 500."""

from __future__ import annotations

import json
import random
import urllib.error
import urllib.parse
import urllib.request

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.http import AUTH_ENV, OPERATOR_TOKEN, account_token
from tests.integration.traffic import bounces, deliveries, next_time

pytestmark = pytest.mark.integration


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
        json.dumps({**good, "padding": "p" * (5 * 1024 * 1024)}).encode(),  # a 5 MB message
        b"null", b"true", b"1e400", b"\"just a string\"", b"",
    ]  # fmt: skip
    return messages


async def test_hostile_messages_are_dead_lettered_and_good_events_counted(
    worker_factory, pipeline
) -> None:
    worker_factory()
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
    suspend = [d for d in await pipeline.decisions() if d["action"] == "suspend"]
    assert len(suspend) == 1 and suspend[0]["evidence"]["hard_bounces"] == 51


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


def test_http_api_never_answers_500(worker_factory) -> None:
    worker = worker_factory(**AUTH_ENV)
    seen: set[int] = set()

    @settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(["GET", "POST", "PUT", "DELETE"]), paths, bodies, tokens)
    def call(method: str, path: str, body: bytes | None, token: str | None) -> None:
        url = worker.url(urllib.parse.quote(path, safe="/"))
        request = urllib.request.Request(url, data=body, method=method)
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=20) as response:
                status = response.status
        except urllib.error.HTTPError as error:
            status = error.code
        seen.add(status)
        assert status < 500 or status == 503, (method, path, body, status)

    call()
    assert {401, 404} <= seen
