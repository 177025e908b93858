"""``sendguard gate serve``'s routes and settings, over a gate answering from a stored
database (no broker: its view is stale, and it fails open, marking answers stale)."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gate import SenderGate
from gate.service import GateService
from gate.settings import GateSettings, GateSettingsError
from gate.store import GateStore, WriteSet

TOKEN = "gate-test-token"


def stored(path: Path) -> None:
    store = GateStore(path, cache_mb=8)
    changes = WriteSet()
    changes.suppress(b"acme/ann@example.com", b"unsubscribe")
    changes.status(b"bad", json.dumps({"channels": {"marketing": {
        "state": "suspended", "reason": "spam_trap_hit", "suspension_type": "fraud",
        "since": "2026-12-01T00:00:00Z"}}}).encode())  # fmt: skip
    store.write(changes)
    store.close()


async def serving(tmp_path: Path, **env: str) -> AsyncIterator[TestClient]:
    stored(tmp_path / "gate")
    gate = SenderGate("127.0.0.1:1", path=tmp_path / "gate", stale_after_s=30)
    gate.open_store()
    service = GateService(gate, GateSettings.from_env(env))
    service.started = True
    async with TestClient(TestServer(service.app())) as client:
        yield client
    await gate.stop()


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient]:
    async for found in serving(tmp_path):
        yield found


@pytest.fixture
async def guarded(tmp_path: Path) -> AsyncIterator[TestClient]:
    async for found in serving(tmp_path, SENDGUARD_GATE_TOKEN=TOKEN):
        yield found


async def test_a_check_answers_from_the_store(client: TestClient) -> None:
    reply = await client.get("/check", params={"account_id": "acme", "channel": "crm",
                                               "recipient": " Ann@Example.com"})  # fmt: skip
    assert reply.status == 200
    body = await reply.json()
    assert body == {"allowed": False, "reason": "recipient suppressed (unsubscribe)", "stale": True}
    reply = await client.get("/check", params={"account_id": "bad", "channel": "marketing",
                                               "recipient": "x@example.com"})  # fmt: skip
    assert (await reply.json())["reason"].startswith("marketing suspended (fraud: spam_trap_hit)")


async def test_a_batch_check_answers_in_order(client: TestClient) -> None:
    recipients = ["bob@example.com", "ANN@example.com", "carl@example.com"]
    reply = await client.post("/check/batch", json={"account_id": "acme", "channel": "crm",
                                                    "recipients": recipients})  # fmt: skip
    assert reply.status == 200
    results = (await reply.json())["results"]
    assert [(r["recipient"], r["allowed"]) for r in results] == [
        ("bob@example.com", True), ("ANN@example.com", False), ("carl@example.com", True)]
    assert all(r["stale"] for r in results)


@pytest.mark.parametrize(("query", "status", "says"), [
    ({}, 422, "account_id: required"),
    ({"account_id": "a", "channel": "crm"}, 422, "recipient: required"),
    ({"account_id": "a", "channel": "crm", "recipient": " "}, 422, "recipient: required"),
    ({"account_id": "a" * 201, "channel": "crm", "recipient": "r"}, 422, "at most 200"),
    ({"account_id": "a", "channel": "c" * 65, "recipient": "r"}, 422, "channel: at most 64"),
    ({"account_id": "a", "channel": "crm", "recipient": "r" * 321}, 422, "at most 320"),
])  # fmt: skip
async def test_a_bad_check_says_what_is_wrong(
    client: TestClient, query: dict[str, str], status: int, says: str
) -> None:
    reply = await client.get("/check", params=query)
    assert reply.status == status
    assert says in (await reply.json())["error"]


@pytest.mark.parametrize(("body", "content_type", "status", "says"), [
    (b"{}", "text/plain", 415, "application/json"),
    (b"{not json", "application/json", 400, "not JSON"),
    (b'{"account_id": "a", "channel": "crm"}', "application/json", 422, "recipients"),
    (b'{"account_id": "a", "channel": "crm", "recipients": [1]}', "application/json", 422, "str"),
    (b'{"account_id": "a", "channel": "crm", "recipients": [], "x": 1}', "application/json", 422, "x"),
    (json.dumps({"account_id": "a", "channel": "crm", "recipients": ["r"] * 1001}).encode(),
     "application/json", 422, "at most 1000"),
    (json.dumps({"account_id": "a", "channel": "crm", "recipients": ["r", ""]}).encode(),
     "application/json", 422, "recipients[1]: required"),
    (b"[" * (1024 * 1024 + 1), "application/json", 413, ""),
])  # fmt: skip
async def test_a_bad_batch_says_what_is_wrong(
    client: TestClient, body: bytes, content_type: str, status: int, says: str
) -> None:
    reply = await client.post("/check/batch", data=io.BytesIO(body),
                              headers={"Content-Type": content_type})  # fmt: skip
    assert reply.status == status
    assert says in (await reply.json())["error"]


async def test_unknown_paths_and_methods_get_json_errors(client: TestClient) -> None:
    assert (await client.get("/nope")).status == 404
    reply = await client.post("/check")
    assert reply.status == 405 and "error" in await reply.json()


async def test_healthz_and_metrics(client: TestClient) -> None:
    reply = await client.get("/healthz")
    assert reply.status == 503  # no broker: never read the topics to their end
    assert (await reply.json())["status"] == "stale"
    await client.get("/check", params={"account_id": "acme", "channel": "crm", "recipient": "a@b"})
    text = await (await client.get("/metrics")).text()
    assert "sendguard_gate_staleness_seconds " in text
    assert 'sendguard_gate_checks_total{answer="allowed"} 1.0' in text


async def test_a_token_guards_the_checks(guarded: TestClient) -> None:
    query = {"account_id": "acme", "channel": "crm", "recipient": "a@b"}
    assert (await guarded.get("/check", params=query)).status == 401
    wrong = {"Authorization": "Bearer nope"}
    assert (await guarded.get("/check", params=query, headers=wrong)).status == 401
    right = {"Authorization": f"Bearer {TOKEN}"}
    assert (await guarded.get("/check", params=query, headers=right)).status == 200
    assert (await guarded.get("/healthz")).status == 503  # open to probes


def test_settings_refuse_what_cannot_work() -> None:
    assert GateSettings.from_env({}).gate_port == 6070
    with pytest.raises(GateSettingsError, match="SENDGUARD_GATE_TOKEN"):
        GateSettings.from_env({"SENDGUARD_GATE_HOST": "0.0.0.0"})
    assert GateSettings.from_env({"SENDGUARD_GATE_HOST": "::1"}).gate_host == "::1"
    assert GateSettings.from_env({"SENDGUARD_GATE_HOST": "0.0.0.0", "SENDGUARD_GATE_TOKEN": "t"})
    with pytest.raises(GateSettingsError, match="open or closed"):
        GateSettings.from_env({"SENDGUARD_GATE_FAIL": "maybe"})
    with pytest.raises(GateSettingsError, match="expected a number"):
        GateSettings.from_env({"SENDGUARD_GATE_PORT": "http"})
    with pytest.raises(GateSettingsError, match="at least 1"):
        GateSettings.from_env({"SENDGUARD_GATE_STALE_AFTER_S": "nan"})
    assert "gate-test" not in repr(GateSettings.from_env({"SENDGUARD_GATE_TOKEN": TOKEN}))
