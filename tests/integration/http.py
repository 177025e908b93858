"""A tiny HTTP client for the worker's API in tests."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import timedelta
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
