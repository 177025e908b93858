"""Console sessions: a signed cookie instead of the operator's token.

The login form takes an operator token once (``api.operators``) and answers with a
cookie holding the operator's name, role, expiry and a CSRF token, signed with HMAC-SHA256
under a key derived from ``SENDGUARD_SECRET`` (so any worker the browser reaches can read
it), or under a key made at start when the secret is unset (a session then holds on that
worker only). The cookie is ``HttpOnly`` and ``SameSite=Strict``; every form repeats the
CSRF token, compared in constant time. The token itself is never stored.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

from api.operators import ROLES, Operator, Role

COOKIE = "sendguard_session"
#: a session lasts this long from login (a working day)
TTL_S = 8 * 3600
#: cookies longer than this are not read at all (a real one is about 250 bytes)
MAX_COOKIE_CHARS = 1024


@dataclass(frozen=True)
class Session:
    name: str
    role: Role
    expires: int
    csrf: str

    @property
    def operator(self) -> Operator:
        return Operator(self.name, self.role)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, payload: str) -> str:
    return _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())


def issue(keys: list[bytes], operator: Operator, now: float) -> tuple[str, Session]:
    """A new session for ``operator`` and its cookie value, signed with the newest key."""
    session = Session(operator.name, operator.role, int(now) + TTL_S, secrets.token_urlsafe(24))
    payload = _b64(json.dumps(
        {"n": session.name, "r": session.role, "e": session.expires, "c": session.csrf},
        separators=(",", ":"),
    ).encode())  # fmt: skip
    return f"{payload}.{_mac(keys[0], payload)}", session


def read(keys: list[bytes], value: str | None, now: float) -> Session | None:
    """The session a cookie value holds, or None: absent, too long, forged, malformed or
    expired. Never raises: the value comes from the browser."""
    if not value or len(value) > MAX_COOKIE_CHARS or not value.isascii():
        return None
    payload, _, mac = value.partition(".")
    if not any(hmac.compare_digest(_mac(key, payload), mac) for key in keys):
        return None
    try:
        fields = json.loads(_unb64(payload))
        name, role, expires, csrf = fields["n"], fields["r"], fields["e"], fields["c"]
    except (binascii.Error, ValueError, TypeError, KeyError):
        return None
    if not (isinstance(name, str) and role in ROLES and isinstance(expires, int)
            and isinstance(csrf, str)):  # fmt: skip
        return None
    if expires <= now:
        return None
    return Session(name, role, expires, csrf)


def csrf_matches(session: Session, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(session.csrf.encode(), given.encode())
