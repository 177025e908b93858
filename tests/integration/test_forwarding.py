"""Two workers: a call to the one that does not own the account reaches the owner, body
and all, on every endpoint of the API."""

from __future__ import annotations

import asyncio
import re

import pytest

from api.forwarding import FORWARDED
from streams.partitioning import account_partition
from tests.integration.console import LENIENT_SHADOW
from tests.integration.http import (
    AUTH_ENV,
    OPERATOR_TOKEN,
    account_token,
    appeal_form,
    browser,
    call,
    csrf_of,
    fetch,
    log_in,
    signed_hop,
)
from tests.integration.traffic import event

pytestmark = pytest.mark.integration


async def owns(base: str, account_id: str) -> bool:
    """Whether the worker at ``base`` owns the account: a request marked as forwarded is
    answered only by the owner (another answers 503 rather than forward it again)."""
    path = f"/accounts/{account_id}"
    reply = await call(base, "GET", path, OPERATOR_TOKEN, headers=signed_hop("GET", path))
    assert reply.status in (200, 503), reply.text
    return reply.status == 200


async def restore_in_the_console(base: str, account_id: str, appeal_id: str) -> None:
    """Through the worker that does not own the account: its case page is drawn by the
    owner (the suspension shows), and the decision's redirect comes back."""
    async with browser() as client:
        assert (await log_in(client, base, OPERATOR_TOKEN, account_id))[0] == 303
        status, page, _ = await fetch(client, "GET", f"{base}/console/accounts/{account_id}")
        assert status == 200 and '<span class="state-suspended">' in page, page
        status, _, headers = await fetch(
            client, "POST", f"{base}/console/appeals/{appeal_id}/decision",
            {"csrf": csrf_of(page), "decision": "restore", "note": "cleaned up"},
        )  # fmt: skip
        assert status == 303, headers
        assert headers["Location"] == f"/console/accounts/{account_id}?decided=restore"


async def shadow_list_from_every_worker(base: str, accounts: list[str]) -> None:
    """The console's list of live-shadow differences holds every worker's accounts."""
    async with browser() as client:
        assert (await log_in(client, base, OPERATOR_TOKEN, accounts[0]))[0] == 303
        status, page, _ = await fetch(client, "GET", f"{base}/console/shadow")
    assert status == 200 and "Not every worker answered" not in page, page
    listed = re.findall(r'<tr class="differs"><td><a href="[^"]+">([^<]+)</a></td>'
                        r"<td>marketing</td><td>suspended</td>", page)  # fmt: skip
    assert sorted(listed) == sorted(accounts), page


async def test_calls_to_the_other_worker_reach_the_owner(
    worker_factory, pipeline, tmp_path
) -> None:
    shadow = tmp_path / "shadow.toml"
    shadow.write_text(LENIENT_SHADOW)
    env = dict(AUTH_ENV, SENDGUARD_SHADOW_POLICY=str(shadow))
    first, second = worker_factory("w1", **env), worker_factory("w2", **env)
    accounts = [next(f"acct-{n}" for n in range(1000) if account_partition(f"acct-{n}", 4) == p)
                for p in range(4)]  # fmt: skip
    await pipeline.send(
        [{"topic": "accounts", "account_id": a, "tier": "starter"} for a in accounts]
        + [event("email.abuse-desk", a, complaint_id="c1") for a in accounts]
    )
    await pipeline.wait_drained()
    bases = [first.url(""), second.url("")]
    for _ in range(100):  # until the group has settled: each account has one owner
        owners = [[await owns(base, a) for base in bases] for a in accounts]
        if all(sorted(o) == [False, True] for o in owners):
            break
        await asyncio.sleep(0.3)
    else:
        raise AssertionError(f"no single owner per account: {owners}")
    assert {o.index(True) for o in owners} == {0, 1}  # both workers own some accounts
    await shadow_list_from_every_worker(bases[0], accounts)

    for account, owner in zip(accounts, owners, strict=True):
        other = bases[owner.index(False)]
        token = account_token(account)
        view = await call(other, "GET", f"/accounts/{account}", token)
        assert view.status == 200, view.text
        assert view.json()["channels"]["marketing"]["state"] == "suspended"
        filed = await call(other, "POST", f"/accounts/{account}/appeals", token, appeal_form())
        assert filed.status == 201, filed.text  # the form travelled with the request
        if account == accounts[0]:
            await restore_in_the_console(other, account, filed.json()["appeal_id"])
        else:
            decision = await call(other, "POST", f"/appeals/{filed.json()['appeal_id']}/decision",
                                  OPERATOR_TOKEN, {"decision": "restore", "note": "cleaned up"})  # fmt: skip
            assert decision.status == 200, decision.text
            assert decision.json()["status"] == "restored"
            assert decision.json()["note"] == "cleaned up"
        after = await call(other, "GET", f"/accounts/{account}", token)
        assert after.json()["channels"]["marketing"]["state"] == "active", after.text
        # The hop never parses the caller's Host header.
        odd = await call(other, "GET", f"/accounts/{account}", token,
                         headers={"Host": "127.0.0.1:99999999"})  # fmt: skip
        assert odd.status == 200, odd.text

    # A request marked as forwarded is answered only with a valid signature.
    path = f"/accounts/{accounts[0]}"
    for base in bases:
        for header in ({FORWARDED: "1"}, signed_hop("GET", path + "x")):
            unsigned = await call(base, "GET", path, OPERATOR_TOKEN, headers=header)
            assert unsigned.status == 401, unsigned.text
