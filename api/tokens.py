"""Account tokens: signed by a key in force, with an expiry and an id to revoke them by.

A token is ``sga1.<kid>.<payload>.<mac>``:

- ``kid``: the key that signed it, 8 hex digits of a hash of the key, so two keys can be
  in force at once (``SENDGUARD_SECRET`` signs, ``SENDGUARD_PREVIOUS_SECRET`` is still
  accepted while tokens signed with it age out);
- ``payload``: base64url of ``{"a": account_id, "t": token_id, "i": issued_ms,
  "e": expires_ms}``;
- ``mac``: base64url of HMAC-SHA256(key, ``"sga1." + kid + "." + payload``).

Any worker holding the keys checks a token without storage; revocations
(``api.revocations``) are the one thing a worker must have read. Tokens of the first
format, ``acct_<id>.<mac>`` with no expiry, are accepted until
:data:`LEGACY_TOKENS_UNTIL`, as if issued at the epoch (revoking the account revokes
them). Comparisons are constant-time; nothing here raises on a hostile token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import msgspec

from schemas.limits import MAX_ID_CHARS
from streams.settings import Secret, Settings

VERSION = "sga1"
#: Tokens of the first format (``acct_…``) stop working at this moment.
LEGACY_TOKENS_UNTIL = datetime(2027, 3, 1, tzinfo=UTC)
_LEGACY_PREFIX = "acct_"
#: longer than any token this module mints (a 200-character account id included)
MAX_TOKEN_CHARS = 1024


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_id(secret: Secret) -> str:
    return hashlib.sha256(b"sendguard key id:" + secret.value.encode()).hexdigest()[:8]


class _Payload(msgspec.Struct, frozen=True):
    a: str
    t: str
    i: int
    e: int


_ENCODE = msgspec.json.Encoder()
_DECODE = msgspec.json.Decoder(_Payload)


@dataclass(frozen=True)
class AccountClaim:
    """What a valid account token says: whose it is, its id, when it was issued and
    ends (epoch ms)."""

    account_id: str
    token_id: str
    issued_ms: int
    expires_ms: int | None


class Keyring:
    """The keys in force: the one that signs, and the one before it (optional)."""

    def __init__(self, current: Secret, previous: Secret | None = None) -> None:
        self.current = current
        self._keys = {key_id(k): k for k in (previous, current) if k}

    @classmethod
    def of(cls, settings: Settings) -> Keyring:
        """The keys the settings put in force."""
        return cls(settings.secret, settings.previous_secret)

    def __bool__(self) -> bool:
        return bool(self.current)

    def key(self, kid: str) -> Secret | None:
        return self._keys.get(kid)

    def in_force(self) -> list[Secret]:
        return list(self._keys.values())

    def derived(self, purpose: str, key: Secret | None = None) -> bytes:
        """A key for another use (``purpose``), from the signing key or ``key``."""
        base = (key or self.current).value.encode()
        return hmac.new(base, b"sendguard derived key:" + purpose.encode(), hashlib.sha256).digest()


def _mac(key: Secret, signed: str) -> str:
    return _b64(hmac.new(key.value.encode(), signed.encode(), hashlib.sha256).digest())


def mint_account_token(
    keyring: Keyring, account_id: str, ttl: timedelta | None, now: datetime | None = None
) -> tuple[str, AccountClaim]:
    """A new token for an account (``ttl`` None: it never expires), and its claim."""
    if not keyring:
        raise ValueError("no signing key: set SENDGUARD_SECRET")
    issued = now or datetime.now(UTC)
    issued_ms = int(issued.timestamp() * 1000)
    expires_ms = None if ttl is None else issued_ms + int(ttl.total_seconds() * 1000)
    claim = AccountClaim(account_id, f"tok_{secrets.token_hex(8)}", issued_ms, expires_ms)
    never = -1 if expires_ms is None else expires_ms
    payload = _b64(_ENCODE.encode(_Payload(account_id, claim.token_id, issued_ms, never)))
    kid = key_id(keyring.current)
    signed = f"{VERSION}.{kid}.{payload}"
    return f"{signed}.{_mac(keyring.current, signed)}", claim


def mint_legacy_token(secret: Secret, account_id: str) -> str:
    """A token of the first format (tests of the migration only)."""
    return f"{_LEGACY_PREFIX}{_b64(account_id.encode())}.{_legacy_mac(secret, account_id)}"


def _legacy_mac(secret: Secret, account_id: str) -> str:
    mac = hmac.new(secret.value.encode(), b"account:" + account_id.encode(), hashlib.sha256)
    return _b64(mac.digest())


def read_account_token(keyring: Keyring, token: str, now: datetime) -> AccountClaim | str:
    """The claim of a genuine, unexpired token, or why it is not one (a short text)."""
    if len(token) > MAX_TOKEN_CHARS or not token.isascii():
        return "not a token"
    if token.startswith(_LEGACY_PREFIX):
        return _read_legacy(keyring, token, now)
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != VERSION:
        return "not a token"
    _, kid, payload, mac = parts
    key = keyring.key(kid)
    if key is None:
        return "signed with a key no longer in force"
    if not hmac.compare_digest(mac.encode(), _mac(key, f"{VERSION}.{kid}.{payload}").encode()):
        return "bad signature"
    try:
        fields = _DECODE.decode(_unb64(payload))
    except (binascii.Error, ValueError, msgspec.DecodeError):
        return "bad payload"
    if not 0 < len(fields.a) <= MAX_ID_CHARS:
        return "bad payload"
    expires = None if fields.e < 0 else fields.e
    if expires is not None and now.timestamp() * 1000 >= expires:
        return "expired"
    return AccountClaim(fields.a, fields.t, fields.i, expires)


def _read_legacy(keyring: Keyring, token: str, now: datetime) -> AccountClaim | str:
    if now >= LEGACY_TOKENS_UNTIL:
        return (f"a token of the first format, accepted until {LEGACY_TOKENS_UNTIL:%Y-%m-%d}; "
                "ask for a new one")  # fmt: skip
    encoded_id, _, mac = token[len(_LEGACY_PREFIX):].partition(".")
    try:
        account_id = _unb64(encoded_id).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return "not a token"
    for key in keyring.in_force():
        if hmac.compare_digest(mac.encode(), _legacy_mac(key, account_id).encode()):
            return AccountClaim(account_id, "legacy", 0, None)
    return "bad signature"


def token_id_of(token: str) -> str | None:
    """The id a token carries, read without checking it (for ``sendguard token revoke``)."""
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != VERSION:
        return None
    try:
        return _DECODE.decode(_unb64(parts[2])).t
    except (binascii.Error, ValueError, msgspec.DecodeError):
        return None
