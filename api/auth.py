"""Bearer tokens: one operator token from the environment, account tokens signed with HMAC.

An account token is ``acct_<base64url(account_id)>.<base64url(hmac_sha256(secret, id))>``;
it needs no storage, and any worker holding the secret can check it. Comparisons are
constant-time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass

from streams.settings import Secret

_PREFIX = "acct_"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: Secret, account_id: str) -> str:
    mac = hmac.new(secret.value.encode(), b"account:" + account_id.encode(), hashlib.sha256)
    return _b64(mac.digest())


def mint_account_token(secret: Secret, account_id: str) -> str:
    return f"{_PREFIX}{_b64(account_id.encode())}.{_signature(secret, account_id)}"


@dataclass(frozen=True)
class Principal:
    """Who made a request: an operator, or one account."""

    operator: bool
    account_id: str | None = None

    def may_act_for(self, account_id: str) -> bool:
        return self.operator or self.account_id == account_id


def authenticate(header: str | None, *, operator_token: Secret, secret: Secret) -> Principal | None:
    """The principal of an ``Authorization`` header, or None when it is missing or bad."""
    if not header or not header.startswith("Bearer "):
        return None
    token = header[len("Bearer ") :].strip()
    if not token.isascii():  # aiohttp keeps undecodable header bytes as surrogates
        return None
    if operator_token and hmac.compare_digest(token.encode(), operator_token.value.encode()):
        return Principal(operator=True)
    if not secret or not token.startswith(_PREFIX) or "." not in token:
        return None
    encoded_id, _, signature = token[len(_PREFIX) :].partition(".")
    try:
        account_id = _unb64(encoded_id).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    if hmac.compare_digest(signature.encode(), _signature(secret, account_id).encode()):
        return Principal(operator=False, account_id=account_id)
    return None
