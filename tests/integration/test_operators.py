"""Named operators and account tokens with a lifecycle, on a real worker and broker: roles
decide who may write, every restore names its operator, a revoked or expired account
token is refused within seconds."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from api.operators import add_operator
from api.tokens import token_id_of
from tests.integration.http import SECRET, account_token, appeal_form, call
from tests.integration.traffic import event
from tests.integration.worker import worker_env

pytestmark = pytest.mark.integration


async def test_roles_and_the_actor_on_every_record(worker_factory, pipeline, tmp_path) -> None:
    operators = tmp_path / "operators.json"
    alice = add_operator(operators, "alice", "decider")
    vera = add_operator(operators, "vera", "viewer")
    worker = worker_factory(SENDGUARD_OPERATORS_FILE=str(operators), SENDGUARD_SECRET=SECRET)
    base = worker.url("")
    await pipeline.send([{"topic": "accounts", "account_id": "acme", "tier": "starter"},
                         event("email.abuse-desk", "acme", complaint_id="c1")])  # fmt: skip
    await pipeline.wait_drained()

    assert (await call(base, "GET", "/accounts/acme", vera)).status == 200
    filed = await call(base, "POST", "/accounts/acme/appeals", account_token("acme"), appeal_form())
    assert filed.status == 201, filed.text
    decide = f"/appeals/{filed.json()['appeal_id']}/decision"
    restore = {"decision": "restore", "note": "list cleaned"}
    by_viewer = await call(base, "POST", decide, vera, restore)
    assert by_viewer.status == 403 and "viewer" in by_viewer.text, by_viewer.text
    decided = await call(base, "POST", decide, alice, restore)
    assert decided.status == 200, decided.text
    assert decided.json()["decided_by"] == "alice"

    view = (await call(base, "GET", "/accounts/acme", vera)).json()
    assert view["channels"]["marketing"]["decided_by"] == "alice"
    restores = [d for d in await pipeline.decisions() if d["action"] == "restore"]
    assert [d["decided_by"] for d in restores] == ["alice"], restores
    audit = [json.loads(r.value) for r in await pipeline.read("sendguard.appeals")]
    assert [a["decided_by"] for a in audit] == [None, "alice"], audit

    log = worker.log_path.read_text()
    assert f"POST {decide} by vera from 127.0.0.1: 403" in log
    assert f"POST {decide} by alice from 127.0.0.1: 200" in log
    assert "POST /accounts/acme/appeals by account:acme from 127.0.0.1: 201" in log
    assert alice not in log and alice[len("op_") + 17 :] not in log  # its secret part


def revoke(target: str, bootstrap: str, prefix: str, tmp_path: Path) -> None:
    env = worker_env(bootstrap, prefix, tmp_path)
    done = subprocess.run([sys.executable, "-m", "sendguard.cli", "token", "revoke", target],
                          env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr


async def refused_within(base: str, token: str, seconds: float) -> float:
    """How long until ``token`` gets 401 (fails after ``seconds``)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while loop.time() - start < seconds:
        reply = await call(base, "GET", "/accounts/acme", token)
        if reply.status == 401:
            return loop.time() - start
        assert reply.status == 200, reply.text
        await asyncio.sleep(0.2)
    raise AssertionError(f"still accepted after {seconds} s")


async def test_revoked_and_expired_tokens_get_401(
    worker_factory, kafka_bootstrap, topic_prefix, tmp_path
) -> None:
    worker = worker_factory(SENDGUARD_SECRET=SECRET)
    base = worker.url("")
    one, other = account_token("acme"), account_token("acme")
    for _ in range(50):  # 503 until the worker has read the revocations once
        first = await call(base, "GET", "/accounts/acme", one)
        if first.status != 503:
            break
        await asyncio.sleep(0.2)
    assert first.status == 200, first.text
    assert (await call(base, "GET", "/accounts/acme", other)).status == 200

    token_id = token_id_of(one)
    assert token_id is not None
    revoke(token_id, kafka_bootstrap, topic_prefix, tmp_path)
    await refused_within(base, one, 10)
    assert (await call(base, "GET", "/accounts/acme", other)).status == 200  # only that one

    revoke("acme", kafka_bootstrap, topic_prefix, tmp_path)  # every token acme has now
    await refused_within(base, other, 10)
    await asyncio.sleep(0.01)
    fresh = account_token("acme")
    assert (await call(base, "GET", "/accounts/acme", fresh)).status == 200

    brief = account_token("acme", ttl=timedelta(seconds=1))
    await asyncio.sleep(1.1)
    expired = await call(base, "GET", "/accounts/acme", brief)
    assert expired.status == 401 and "expired" in expired.text
