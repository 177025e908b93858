"""A tiny HTTP client for the worker's API in tests."""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from html import unescape
from typing import Any

import aiohttp

from api.forwarding import FORWARDED, hop_keys, sign_hop
from api.tokens import Keyring, mint_account_token
from streams.settings import Secret

#: the deprecated shared operator token: one admin named "operator"
OPERATOR_TOKEN = "operator-test-token"
SECRET = "test-signing-secret-of-32-bytes-or-more"
AUTH_ENV = {"SENDGUARD_OPERATOR_TOKEN": OPERATOR_TOKEN, "SENDGUARD_SECRET": SECRET}


def signed_hop(method: str, path: str, body: bytes = b"") -> dict[str, str]:
    """The header a worker adds to a request it forwards (signed with the test key)."""
    key = hop_keys(Keyring(Secret(SECRET)))[0]
    path, _, query = path.partition("?")
    return {FORWARDED: sign_hop(key, method, f"{path}?{query}", body, time.time())}


def account_token(account_id: str, ttl: timedelta | None = timedelta(days=1)) -> str:
    return mint_account_token(Keyring(Secret(SECRET)), account_id, ttl)[0]


@dataclass
class Reply:
    status: int
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


async def call(
    base: str, method: str, path: str, token: str | None = None, body: Any = None,
    raw: bytes | None = None, headers: dict[str, str] | None = None,
) -> Reply:  # fmt: skip
    headers = dict(headers or {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    if data is not None:
        headers["Content-Type"] = "application/json"
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, f"{base}{path}", headers=headers, data=data) as response,
    ):
        return Reply(response.status, await response.text())


def appeal_form(**overrides: Any) -> dict[str, Any]:
    form = {
        "channel": "marketing",
        "opt_out_list_imported": True,
        "lists_cleaned": True,
        "contact_source": "sign-up form on our site, double opt-in",
        "emailed_within_last_year": True,
        "details": "We removed a purchased list segment and cleaned bounces.",
    }
    form.update(overrides)
    return form


# -- the console, as a browser without JavaScript uses it --------------------------------


@asynccontextmanager
async def browser() -> AsyncIterator[aiohttp.ClientSession]:
    """A client that keeps cookies (for 127.0.0.1 too) and does not follow redirects."""
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as session:
        yield session


async def fetch(
    client: aiohttp.ClientSession, method: str, url: str, form: dict[str, str] | None = None
) -> tuple[int, str, aiohttp.typedefs.LooseHeaders]:
    async with client.request(method, url, data=form, allow_redirects=False) as response:
        return response.status, await response.text(), response.headers


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page[:2000]
    return unescape(found.group(1))


async def log_in(
    client: aiohttp.ClientSession, base: str, token: str, account_id: str
) -> tuple[int, dict[str, str]]:
    """Log in to the console with an operator token, to go to an account's case page."""
    _, page, _ = await fetch(client, "GET", f"{base}/console/login")
    status, _, headers = await fetch(client, "POST", f"{base}/console/login",
                                     {"csrf": csrf_of(page), "token": token,
                                      "next": f"/console/accounts/{account_id}"})  # fmt: skip
    return status, dict(headers)
