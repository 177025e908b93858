"""A tiny HTTP client for the worker's API in tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aiohttp

from api.auth import mint_account_token
from streams.settings import Secret

OPERATOR_TOKEN = "operator-test-token"
SECRET = "test-signing-secret"
AUTH_ENV = {"SENDGUARD_OPERATOR_TOKEN": OPERATOR_TOKEN, "SENDGUARD_SECRET": SECRET}


def account_token(account_id: str) -> str:
    return mint_account_token(Secret(SECRET), account_id)


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
