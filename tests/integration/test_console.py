"""The operator console over HTTP, on a real worker and broker: a login turns an operator
token into a session cookie; the case page shows what ``GET /accounts/{id}`` says, with
the account's words escaped; a decision needs a CSRF token, a note and a decider's role;
a late second decision is answered with who decided first."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from tests.integration.console import SCRIPT, suspended_with_an_appeal
from tests.integration.http import (
    account_token,
    browser,
    call,
    csrf_of,
    fetch,
    log_in,
)

pytestmark = pytest.mark.integration

T = TypeVar("T")


async def until(get: Callable[[], Awaitable[T]], ok: Callable[[T], bool], seconds: float = 15) -> T:
    """The first answer of ``get`` that is ``ok`` (every worker reads the appeals topic a
    moment after the write)."""
    for _ in range(int(seconds / 0.2)):
        found = await get()
        if ok(found):
            return found
        await asyncio.sleep(0.2)
    raise AssertionError(f"not so within {seconds} s: {found!r:.500}")


async def test_login_case_page_and_decisions(worker_factory, pipeline, tmp_path) -> None:
    given = await suspended_with_an_appeal(worker_factory, pipeline, tmp_path)
    worker, base, alice, vera, appeal_id = (given.worker, given.base, given.alice, given.vera,
                                            given.appeal_id)  # fmt: skip
    queue = await until(lambda: call(base, "GET", "/appeals?queue=deliverability", vera),
                        lambda r: r.status == 200 and r.json()["count"] == 1)  # fmt: skip
    row = queue.json()["appeals"][0]
    assert (row["appeal_id"], row["account_id"], row["tier"]) == (appeal_id, "acme", "starter")
    assert (await call(base, "GET", "/appeals?queue=crm", vera)).json()["count"] == 0
    assert (await call(base, "GET", "/appeals", account_token("acme"))).status == 403
    unknown = await call(base, "GET", "/appeals?tier=gold", vera)
    assert unknown.status == 422 and unknown.json()["field"] == "tier", unknown.text
    case = f"{base}/console/accounts/acme"
    decide = f"{base}/console/appeals/{appeal_id}/decision"

    async with browser() as client:
        status, _, headers = await fetch(client, "GET", case)
        assert status == 303 and headers["Location"].startswith("/console/login?next=")
        assert (await log_in(client, base, "op_0000000000000000_" + "x" * 43, "acme"))[0] == 401
        status, headers = await log_in(client, base, alice, "acme")
        assert status == 303 and headers["Location"] == "/console/accounts/acme"
        cookie = headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Max-Age=" in cookie
        assert alice not in cookie

        status, page, _ = await fetch(client, "GET", case)
        assert status == 200, page
        view = (await call(base, "GET", "/accounts/acme", vera)).json()
        marketing = view["channels"]["marketing"]
        section = page[page.index('data-channel="marketing"'):]
        assert f"<th>abuse_complaints</th><td>{marketing['counts']['abuse_complaints']}</td>" \
            in section
        assert f'<span class="state-suspended">{marketing["state"]}</span>' in section
        assert 'data-limit="suspend" data-value="0.05"' in section
        assert SCRIPT not in page and "&lt;script&gt;" in page
        assert "alice (decider)" in page
        assert '<p class="shadow-differs" data-shadow-state="active">Shadow policy ' \
               "<code>lenient</code>" in section
        status, listed, _ = await fetch(client, "GET", f"{base}/console/shadow")
        assert status == 200 and '<span id="count">1</span>' in listed, listed
        assert "<td>marketing</td><td>suspended</td><td>abuse_complaint</td><td>active</td>" \
            in listed

        csrf = csrf_of(page)
        status, listed, _ = await fetch(client, "GET", f"{base}/console/appeals?queue=deliverability")
        assert status == 200 and f'data-appeal="{appeal_id}"' in listed, listed
        assert '<span id="count">1</span>' in listed and 'value="deliverability" selected' in listed
        _, other_queue, _ = await fetch(client, "GET", f"{base}/console/appeals?queue=crm")
        assert '<span id="count">0</span>' in other_queue and appeal_id not in other_queue
        no_note = {"csrf": csrf, "decision": "deny", "note": " "}
        status, page, _ = await fetch(client, "POST", decide, no_note)
        assert status == 422 and "a note is required" in page, page
        status, page, _ = await fetch(client, "POST", decide, {"decision": "restore", "note": "x"})
        assert status == 403 and "CSRF" in page

        async with browser() as viewer:
            assert (await log_in(viewer, base, vera, "acme"))[0] == 303
            status, page, _ = await fetch(viewer, "GET", case)
            assert status == 200 and "/decision" not in page and "vera (viewer)" in page
            status, page, _ = await fetch(viewer, "POST", decide,
                                          {"csrf": csrf_of(page), "decision": "restore",
                                           "note": "looks fine"})  # fmt: skip
            assert status == 403 and "viewer" in page

        restore = {"csrf": csrf, "decision": "restore", "note": "list cleaned"}
        status, _, headers = await fetch(client, "POST", decide, restore)
        assert status == 303 and headers["Location"] == "/console/accounts/acme?decided=restore"
        status, page, _ = await fetch(client, "GET", f"{base}{headers['Location']}")
        assert "Appeal decided: restore." in page
        assert '<span class="state-active">active</span>' in page
        assert "<th>probation until</th>" in page and "<th>decided by</th><td>alice</td>" in page

        audit = await until(lambda: fetch(client, "GET", f"{base}/console/audit"),
                            lambda r: "<td>restored</td>" in r[1])  # fmt: skip
        assert "<td>alice</td><td>restored</td>" in audit[1] and "list cleaned" in audit[1]
        assert "<td>account:acme</td><td>filed</td>" in audit[1]

        status, page, _ = await fetch(client, "POST", decide, restore)  # a stale second tab
        assert status == 409 and "Already decided by alice at " in page, page

        status, _, headers = await fetch(client, "POST", f"{base}/console/logout",
                                         {"csrf": restore["csrf"]})  # fmt: skip
        assert status == 303 and "Max-Age=0" in headers["Set-Cookie"]
        assert (await fetch(client, "GET", case))[0] == 303

    log = worker.log_path.read_text()
    assert f"POST /console/appeals/{appeal_id}/decision by alice from 127.0.0.1: 303" in log
    assert f"POST /console/appeals/{appeal_id}/decision by vera from 127.0.0.1: 403" in log
    assert alice not in log and vera not in log
