"""The sender gate against a real broker (and a real worker): what the worker decides
reaches a running gate within a second; a restarted gate goes on from its stored
offsets; tombstones remove entries, across a restart too; a stale gate answers as
configured, as a library and as ``sendguard gate serve``."""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gate import SenderGate
from localkafka.broker import LocalBroker
from localkafka.probe import free_port
from streams.provision import ensure_topics
from streams.settings import Settings, default_home
from tests.conftest import TEST_BROKER_CONFIG
from tests.integration.pipeline import Pipeline
from tests.integration.test_hostile_input import (
    FUZZ_EXAMPLES,
    bodies,
    framed,
    header_bytes,
    raw_bodies,
    send_raw,
    status_of,
)
from tests.integration.traffic import bounces, deliveries

pytestmark = pytest.mark.integration

STATUS = "sendguard.account-status"
SUPPRESSIONS = "sendguard.suppressions"


def suspended(account_id: str) -> bytes:
    channel = {"state": "suspended", "reason": "spam_trap_hit", "suspension_type":
               "deliverability", "since": "2026-12-01T00:00:00Z"}  # fmt: skip
    active = {"state": "active"}
    return json.dumps({"account_id": account_id,
                       "channels": {"marketing": channel, "crm": active}}).encode()  # fmt: skip


def suppression(account_id: str, recipient: str) -> tuple[bytes, bytes]:
    body = {"account_id": account_id, "recipient": recipient, "reason": "unsubscribe",
            "suppressed_at": "2026-12-01T00:00:00Z", "event_id": "e1"}  # fmt: skip
    return f"{account_id}/{recipient}".encode(), json.dumps(body).encode()


async def topics(bootstrap: str, prefix: str) -> None:
    await ensure_topics(Settings(kafka_bootstrap=bootstrap, topic_prefix=prefix))


async def test_a_suspension_and_a_suppression_reach_a_running_gate_within_a_second(
    worker_factory: Any, pipeline: Pipeline, kafka_bootstrap: str, topic_prefix: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    worker_factory()
    await pipeline.send(deliveries("sender", 1000))
    await pipeline.wait_drained()
    async with SenderGate(kafka_bootstrap, topic_prefix, path=tmp_path / "gate") as gate:
        await gate.wait_caught_up()
        assert gate.check("sender", "marketing", "r1@sender.example").allowed
        started = time.monotonic()
        await pipeline.send(bounces("sender", 51))
        seen: dict[str, float] = {}
        while len(seen) < 2:
            assert time.monotonic() - started < 30, f"the gate saw only {seen}"
            if "status" not in seen and not gate.check("sender", "marketing", "n@x.example").allowed:
                seen["status"] = time.time()
            if "suppression" not in seen and not gate.check("sender", "crm", "r3@sender.example").allowed:
                seen["suppression"] = time.time()
            await asyncio.sleep(0.005)
        answer = gate.check("sender", "marketing", "new@x.example")
        assert "suspended (deliverability: hard_bounce_rate)" in answer.reason
        assert gate.check("sender", "crm", "new@x.example").allowed
        crm = gate.check("sender", "crm", "R3@Sender.Example")
        assert not crm.allowed and crm.reason == "recipient suppressed (hard_bounce)"
        assert gate.check("other", "marketing", "r3@sender.example").allowed
        batch = gate.check_many("sender", "crm", ["new@x.example", " R3@sender.example"])
        assert [a.allowed for a in batch] == [True, False]
    # From the moment the worker published each record (its timestamp) to the gate's answer.
    status = [r for r in await pipeline.read(STATUS) if r.key == b"sender"][-1]
    suppressed = next(r for r in await pipeline.read(SUPPRESSIONS)
                      if r.key == b"sender/r3@sender.example")
    delays = {"status": seen["status"] - status.timestamp / 1000,
              "suppression": seen["suppression"] - suppressed.timestamp / 1000}  # fmt: skip
    print(f"\ngate: published to answered in {delays['status']:.3f} s (status), "
          f"{delays['suppression']:.3f} s (suppression)")
    assert all(delay < 1.0 for delay in delays.values()), delays


async def test_a_restarted_gate_resumes_and_tombstones_remove_entries(
    pipeline: Pipeline, kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    await topics(kafka_bootstrap, topic_prefix)
    key, value = suppression("acme", "ann@example.com")
    for n in range(200):
        other_key, other_value = suppression("acme", f"r{n}@example.com")
        await pipeline.send_raw(SUPPRESSIONS, other_value, other_key)
    await pipeline.send_raw(SUPPRESSIONS, value, key)
    await pipeline.send_raw(STATUS, suspended("bad"), b"bad")
    await pipeline.send_raw(SUPPRESSIONS, b"not json", b"acme/junk@example.com")  # hostile
    await pipeline.send_raw(STATUS, b"[1]", b"junk")
    path = tmp_path / "gate"
    async with SenderGate(kafka_bootstrap, topic_prefix, path=path) as gate:
        await gate.wait_caught_up()
        assert (gate.counters.records, gate.counters.skipped) == (204, 2)
        assert gate.check("acme", "crm", "junk@example.com").allowed
        assert not gate.check("acme", "crm", "ann@example.com").allowed
        assert not gate.check("bad", "marketing", "x@example.com").allowed
        await pipeline.send_raw(SUPPRESSIONS, None, key)  # tombstones, the gate running
        await pipeline.send_raw(STATUS, None, b"bad")
        await gate.wait_caught_up()
        assert gate.check("acme", "crm", "ann@example.com").allowed
        assert gate.check("bad", "marketing", "x@example.com").allowed
        await pipeline.send_raw(SUPPRESSIONS, value, key)  # back again before the restart
        await pipeline.send_raw(STATUS, suspended("bad"), b"bad")
        await gate.wait_caught_up()
        assert not gate.check("acme", "crm", "ann@example.com").allowed

    # Restarted: nothing read again, the state as stored.
    async with SenderGate(kafka_bootstrap, topic_prefix, path=path) as gate:
        await gate.wait_caught_up()
        assert gate.counters.records == 0 and gate.counters.rebuilds == 0
        assert not gate.check("acme", "crm", "ann@example.com").allowed
        assert not gate.check("bad", "marketing", "x@example.com").allowed
        assert not gate.check("acme", "crm", "r7@example.com").allowed

    # The tombstones come while the gate is down, between the write and the restart.
    await pipeline.send_raw(SUPPRESSIONS, None, key)
    await pipeline.send_raw(STATUS, None, b"bad")
    async with SenderGate(kafka_bootstrap, topic_prefix, path=path) as gate:
        await gate.wait_caught_up()
        assert gate.counters.records == 2
        assert gate.check("acme", "crm", "ann@example.com").allowed
        assert gate.check("bad", "marketing", "x@example.com").allowed
        assert not gate.check("acme", "crm", "r7@example.com").allowed


class GateProcess:
    """``sendguard gate serve`` as a subprocess."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env, self.log_path = env, log_path
        self.port = int(env["SENDGUARD_GATE_PORT"])
        log = log_path.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "sendguard.cli", "gate", "serve"],
                                     env=env, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)  # fmt: skip
        log.close()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path: str, token: str | None = None) -> tuple[int, Any]:
        request = urllib.request.Request(self.url(path))
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def wait_healthy(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log_path.read_text()
            try:
                if self.get("/healthz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"gate not healthy\n{self.log_path.read_text()}")

    def stop(self) -> int:
        self.proc.terminate()
        return self.proc.wait(30)


def gate_env(bootstrap: str, prefix: str, data: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENDGUARD_")}
    env.update(SENDGUARD_KAFKA_BOOTSTRAP=bootstrap, SENDGUARD_TOPIC_PREFIX=prefix,
               SENDGUARD_GATE_DIR=str(data), SENDGUARD_GATE_PORT=str(free_port()),
               PYTHONPATH=str(Path(__file__).resolve().parents[2]), **extra)  # fmt: skip
    return env


@pytest.fixture
def private_broker(tmp_path: Path) -> Iterator[LocalBroker]:
    broker = LocalBroker(home=default_home(), run_dir=tmp_path / "broker", port=free_port(),
                         extra_config=TEST_BROKER_CONFIG)  # fmt: skip
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


async def test_a_stale_gate_answers_as_configured(private_broker: LocalBroker, tmp_path: Path) -> None:
    bootstrap, prefix = private_broker.bootstrap, "stale."
    await topics(bootstrap, prefix)
    pipeline = Pipeline(bootstrap, prefix)
    key, value = suppression("acme", "ann@example.com")
    await pipeline.send_raw(SUPPRESSIONS, value, key)
    served = GateProcess(gate_env(bootstrap, prefix, tmp_path / "served",
                                  SENDGUARD_GATE_STALE_AFTER_S="2", SENDGUARD_GATE_FAIL="closed"),
                         tmp_path / "gate.log")  # fmt: skip
    try:
        async with (
            SenderGate(bootstrap, prefix, stale_after_s=2, fail="open") as open_gate,
            SenderGate(bootstrap, prefix, stale_after_s=2, fail="closed") as closed_gate,
        ):
            await open_gate.wait_caught_up()
            await closed_gate.wait_caught_up()
            await asyncio.to_thread(served.wait_healthy)
            query = "/check?account_id=acme&channel=crm&recipient=bob@example.com"
            status, body = served.get(query)
            assert (status, body["allowed"], body["stale"]) == (200, True, False), body
            assert not open_gate.is_stale() and open_gate.check("acme", "crm", "bob@x.example").allowed

            private_broker.stop()
            await asyncio.sleep(3.5)
            assert open_gate.is_stale() and closed_gate.is_stale()
            answer = open_gate.check("acme", "crm", "bob@x.example")
            assert answer.allowed and answer.stale and "s old" in answer.reason
            assert not open_gate.check("acme", "crm", "ann@example.com").allowed  # still known
            refused = closed_gate.check("acme", "crm", "bob@x.example")
            assert not refused.allowed and refused.stale and "fails closed" in refused.reason
            health, report = served.get("/healthz")
            assert health == 503 and report["status"] == "stale", report
            status, body = served.get(query)
            assert (status, body["allowed"], body["stale"]) == (200, False, True), body

            private_broker.start()  # back: fresh again within seconds
            deadline = time.monotonic() + 60
            while (open_gate.is_stale() or closed_gate.is_stale()
                   or served.get("/healthz")[0] != 200):  # fmt: skip
                assert time.monotonic() < deadline, "the gate stayed stale"
                await asyncio.sleep(0.2)
            assert closed_gate.check("acme", "crm", "bob@x.example").allowed
    finally:
        assert served.stop() == 0, (tmp_path / "gate.log").read_text()


GATE_TOKEN = "gate-fuzz-token"
text = st.text(max_size=40)
gate_queries = st.builds(
    lambda a, c, r: urllib.parse.urlencode({k: v for k, v in (("account_id", a), ("channel", c),
                                                              ("recipient", r)) if v is not None}),
    st.one_of(st.none(), text, st.just("acme"), st.text(min_size=190, max_size=260)),
    st.one_of(st.none(), text, st.sampled_from(["crm", "marketing"])),
    st.one_of(st.none(), text, st.just("ann@example.com"), st.text(min_size=300, max_size=400)),
)  # fmt: skip
batch_bodies = st.one_of(
    bodies,
    st.builds(lambda a, c, rs: json.dumps({"account_id": a, "channel": c, "recipients": rs}).encode(),
              st.one_of(text, st.integers()), st.one_of(text, st.none()),
              st.one_of(st.lists(text, max_size=20), st.lists(st.integers(), max_size=3), text)),
    st.builds(lambda n: json.dumps({"account_id": "acme", "channel": "crm",
                                    "recipients": ["r@x"] * n}).encode(),
              st.integers(min_value=0, max_value=1500)),
)  # fmt: skip
gate_paths = st.one_of(
    st.builds(lambda q: f"/check?{q}", gate_queries),
    st.builds(lambda q: f"/check?{q}", st.text(max_size=60)),
    st.sampled_from(["/check/batch", "/healthz", "/metrics", "/", "/check/", "/check/batch/x"]),
    st.builds(lambda p: f"/{p}", st.text(max_size=30)),
)
gate_tokens = st.one_of(st.none(), st.just(GATE_TOKEN),
                        st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40))


def test_gate_serve_never_answers_500(kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> None:
    asyncio.run(topics(kafka_bootstrap, topic_prefix))
    served = GateProcess(gate_env(kafka_bootstrap, topic_prefix, tmp_path / "gate",
                                  SENDGUARD_GATE_TOKEN=GATE_TOKEN), tmp_path / "gate.log")  # fmt: skip
    try:
        served.wait_healthy()
        seen: set[int] = set()

        @settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
        @given(st.sampled_from(["GET", "POST", "PUT"]), gate_paths, batch_bodies, gate_tokens,
               st.sampled_from(["application/json", "text/plain"]))  # fmt: skip
        def call(method: str, path: str, body: bytes | None, token: str | None, kind: str) -> None:
            url = served.url(urllib.parse.quote(path, safe="/?=&"))
            request = urllib.request.Request(url, data=body, method=method)
            request.add_header("Content-Type", kind)
            if token is not None:
                request.add_header("Authorization", f"Bearer {token}")
            status = status_of(request)
            seen.add(status)
            assert status < 500, (method, path, body, status)

        call()

        @settings(max_examples=FUZZ_EXAMPLES // 2, deadline=None, suppress_health_check=list(HealthCheck))
        @given(raw_bodies, st.sampled_from(["length", "split", "chunked"]), st.randoms(use_true_random=False),
               st.one_of(st.just(f"Bearer {GATE_TOKEN}".encode()), header_bytes))  # fmt: skip
        def raw(body: bytes, framing: str, rng: random.Random, auth: bytes) -> None:
            head = [b"POST /check/batch HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close",
                    b"Content-Type: application/json", b"Authorization: " + auth]  # fmt: skip
            parts = framed(head, body, framing, rng)
            status = send_raw(served.port, b"\r\n".join(head) + b"\r\n\r\n", parts)
            seen.add(status)
            assert status < 500, (framing, body[:60], status)

        raw()
        assert {401, 404, 422} <= seen, seen
        query = "/check?account_id=acme&channel=crm&recipient=ann@example.com"
        assert served.get(query, GATE_TOKEN)[0] == 200  # and it still answers
        assert served.proc.poll() is None
        assert "Traceback" not in (tmp_path / "gate.log").read_text()  # a bad request: one line
    finally:
        assert served.stop() == 0, (tmp_path / "gate.log").read_text()
