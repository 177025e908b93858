"""Named operators: who they are, what their role lets them do, and their tokens.

Operators live in a JSON file that ``SENDGUARD_OPERATORS_FILE`` names, written by
``sendguard operator add|remove``: ``{"operators": [{"name", "role", "token_id",
"token_hash", "created_at"}]}``. A token is ``op_<token_id>_<secret>``; the file keeps only
an scrypt hash of the secret, so a copy of the file does not let anyone in. The id finds
the entry without trying every hash.

scrypt is slow on purpose (tens of milliseconds), and the worker's event loop also runs
the guard: a check runs in a thread, one at a time, and a token that passed is
remembered (by its SHA-256) until the file changes, so an operator's calls cost one hash.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, cast

from api.errors import ApiError

log = logging.getLogger("sendguard.operators")

Role = Literal["viewer", "decider", "admin"]
#: each role, and what it may do; a role may do all that the roles before it may
ROLES: dict[str, str] = {
    "viewer": "read every account, its decisions and appeals",
    "decider": "a viewer who also decides appeals (restore or deny)",
    "admin": "a decider who also manages operators and account tokens",
}
#: the name ``SENDGUARD_OPERATOR_TOKEN`` (deprecated) authenticates as
LEGACY_OPERATOR = "operator"
_PREFIX = "op_"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
_TOKEN = re.compile(r"op_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")
# scrypt's cost: n=2**14, r=8 uses 16 MiB and some 30-60 ms of one core.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
_RELOAD_CHECK_S = 1.0
_REMEMBERED = 1024


class OperatorsError(ApiError):
    """The operators file or a request to change it is wrong; the message says how."""


@dataclass(frozen=True)
class Operator:
    name: str
    role: Role

    @property
    def may_decide(self) -> bool:
        """Writes: deciding appeals (and everything an admin does)."""
        return self.role in ("decider", "admin")


@dataclass(frozen=True)
class _Entry:
    operator: Operator
    token_id: str
    token_hash: str
    created_at: str


def hash_secret(secret: str, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else os.urandom(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P)
    encoded = (base64.b64encode(salt).decode(), base64.b64encode(digest).decode())
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${encoded[0]}${encoded[1]}"


def secret_matches(secret: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        found = hashlib.scrypt(secret.encode(), salt=base64.b64decode(salt), n=int(n),
                               r=int(r), p=int(p), dklen=len(expected))  # fmt: skip
    except ValueError:  # a damaged entry (binascii.Error is a ValueError) matches nothing
        return False
    return hmac.compare_digest(found, expected)


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise OperatorsError(
            f"operator name {name!r}: 1-64 characters, letters, digits and . _ @ -, "
            "starting with a letter or digit"
        )
    return name


def check_role(role: str) -> Role:
    if role not in ROLES:
        raise OperatorsError(f"role {role!r}: expected one of {', '.join(ROLES)}")
    return cast(Role, role)


def read_entries(path: Path) -> list[_Entry]:
    """The operators in ``path`` (none if it does not exist)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise OperatorsError(f"{path}: cannot read the operators file: {exc.strerror}") from None
    try:
        listed = json.loads(raw)["operators"]
        entries = [
            _Entry(Operator(check_name(e["name"]), check_role(e["role"])), str(e["token_id"]),
                   str(e["token_hash"]), str(e.get("created_at", "")))
            for e in listed
        ]  # fmt: skip
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise OperatorsError(f"{path}: not an operators file ({exc})") from None
    names = [e.operator.name for e in entries]
    if len(set(names)) != len(names):
        raise OperatorsError(f"{path}: an operator name appears twice")
    return entries


def _write_entries(path: Path, entries: Iterable[_Entry]) -> None:
    """Replace the file at once (a worker never reads half of it), readable by its owner."""
    body = {"operators": [
        {"name": e.operator.name, "role": e.operator.role, "token_id": e.token_id,
         "token_hash": e.token_hash, "created_at": e.created_at}
        for e in entries
    ]}  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(body, out, indent=2)
            out.write("\n")
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def add_operator(path: Path, name: str, role: str) -> str:
    """Add an operator to the file; the token, which only this call ever shows."""
    operator = Operator(check_name(name), check_role(role))
    entries = read_entries(path)
    if any(e.operator.name == name for e in entries):
        raise OperatorsError(f"operator {name!r} exists; remove it first to issue a new token")
    token_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    created = datetime.now(UTC).isoformat(timespec="seconds")
    entries.append(_Entry(operator, token_id, hash_secret(secret), created))
    _write_entries(path, entries)
    return f"{_PREFIX}{token_id}_{secret}"


def remove_operator(path: Path, name: str) -> None:
    entries = read_entries(path)
    kept = [e for e in entries if e.operator.name != name]
    if len(kept) == len(entries):
        raise OperatorsError(f"no operator {name!r} in {path}")
    _write_entries(path, kept)


def list_operators(path: Path) -> list[tuple[Operator, str]]:
    return [(e.operator, e.created_at) for e in read_entries(path)]


class OperatorRegistry:
    """The operators a worker knows: the file's (read again when it changes) and the
    deprecated shared token, which is one admin named ``operator``."""

    def __init__(self, path: Path | None, legacy_token: str = "") -> None:
        self.path = path
        self.legacy_token = legacy_token
        self._entries: dict[str, _Entry] = {}
        self._stamp: tuple[int, int] | None = None
        self._checked = 0.0
        self._remembered: dict[bytes, Operator] = {}
        self._hashing = asyncio.Lock()
        if legacy_token:
            log.warning("SENDGUARD_OPERATOR_TOKEN is deprecated: it signs in as one admin "
                        "named %r, so the audit trail cannot tell operators apart; create "
                        "named operators with `sendguard operator add NAME --role ROLE`",
                        LEGACY_OPERATOR)  # fmt: skip
        self._reload(force=True)

    def _reload(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.path is None or (not force and now - self._checked < _RELOAD_CHECK_S):
            return
        self._checked = now
        try:
            stat = self.path.stat()
            stamp: tuple[int, int] | None = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp == self._stamp and not force:
            return
        try:
            entries = read_entries(self.path)
        except OperatorsError as exc:
            if force:
                raise
            log.error("%s; keeping the operators read before", exc)
            return
        self._stamp = stamp
        self._entries = {e.token_id: e for e in entries}
        self._remembered.clear()
        log.info("operators: %d from %s", len(entries), self.path)

    async def authenticate(self, token: str) -> Operator | None:
        """The operator a bearer token belongs to, or None (not an operator's token)."""
        if self.legacy_token and hmac.compare_digest(token.encode(), self.legacy_token.encode()):
            return Operator(LEGACY_OPERATOR, "admin")
        found = _TOKEN.fullmatch(token)
        if found is None:
            return None
        self._reload()
        entry = self._entries.get(found.group(1))
        if entry is None:
            return None
        key = hashlib.sha256(token.encode()).digest()
        known = self._remembered.get(key)
        if known is not None:
            return known
        async with self._hashing:
            loop = asyncio.get_running_loop()
            matches = await loop.run_in_executor(
                None, secret_matches, found.group(2), entry.token_hash
            )
        if not matches:
            return None
        if len(self._remembered) >= _REMEMBERED:
            self._remembered.clear()
        self._remembered[key] = entry.operator
        return entry.operator

    def named(self, name: str) -> Operator | None:
        """The operator of that name as the file has it now (None once removed): a
        console session carries a name, and a removed operator's session ends with it."""
        if self.legacy_token and name == LEGACY_OPERATOR:
            return Operator(LEGACY_OPERATOR, "admin")
        self._reload()
        return next((e.operator for e in self._entries.values() if e.operator.name == name), None)

    def is_token(self, token: str) -> bool:
        """Whether a token is shaped like an operator's (to tell 401 from a bad account
        token in messages)."""
        return token.startswith(_PREFIX)
