"""Account tokens: versioned, expiring, signed by a key in force, revocable; hostile
tokens are refused without an exception."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from api.revocations import Revocations, revocation_record
from api.tokens import (
    LEGACY_TOKENS_UNTIL,
    AccountClaim,
    Keyring,
    mint_account_token,
    mint_legacy_token,
    read_account_token,
    token_id_of,
)
from streams.settings import Secret

OLD, NEW = Secret("o" * 32), Secret("n" * 32)
NOW = datetime(2026, 12, 5, 12, tzinfo=UTC)


def test_a_token_is_valid_until_it_expires() -> None:
    token, claim = mint_account_token(Keyring(NEW), "acme", timedelta(days=90), NOW)
    assert read_account_token(Keyring(NEW), token, NOW + timedelta(days=89)) == claim
    assert read_account_token(Keyring(NEW), token, NOW + timedelta(days=90)) == "expired"
    assert claim.token_id.startswith("tok_") and token_id_of(token) == claim.token_id


def test_rotation_signs_with_the_new_key_and_accepts_both() -> None:
    old_token, _ = mint_account_token(Keyring(OLD), "acme", timedelta(days=1), NOW)
    rotated = Keyring(NEW, previous=OLD)
    new_token, _ = mint_account_token(rotated, "acme", timedelta(days=1), NOW)
    assert isinstance(read_account_token(rotated, old_token, NOW), AccountClaim)
    assert isinstance(read_account_token(rotated, new_token, NOW), AccountClaim)
    assert read_account_token(Keyring(OLD), new_token, NOW) == "signed with a key no longer in force"
    assert read_account_token(Keyring(NEW), old_token, NOW) == "signed with a key no longer in force"


def test_a_changed_payload_or_signature_is_refused() -> None:
    token, _ = mint_account_token(Keyring(NEW), "acme", timedelta(days=1), NOW)
    version, kid, _, mac = token.split(".")
    other, _ = mint_account_token(Keyring(NEW), "evil", timedelta(days=1), NOW)
    swapped = ".".join([version, kid, other.split(".")[2], mac])
    assert read_account_token(Keyring(NEW), swapped, NOW) == "bad signature"
    assert read_account_token(Keyring(NEW), token[:-2] + "AA", NOW) == "bad signature"


@pytest.mark.parametrize(
    "token",
    ["", "sga1", "sga1...", "sga1.x.y.z", "a" * 5000, "sga1.é.x.y", "acct_%%%.x", "acct_.",
     "sga1.00000000.!!!.x", "tok\udcff"],
)
def test_hostile_tokens_are_refused_without_raising(token: str) -> None:
    assert isinstance(read_account_token(Keyring(NEW), token, NOW), str)
    assert token_id_of(token) is None


def test_a_validly_signed_payload_that_is_not_a_claim_is_refused() -> None:
    import base64
    import hashlib
    import hmac

    from api.tokens import key_id

    kid = key_id(NEW)
    for body in (b"[]", b'{"a": "", "t": "x", "i": 0, "e": -1}', b"[" * 300 + b"]" * 300):
        payload = base64.urlsafe_b64encode(body).decode().rstrip("=")
        signed = f"sga1.{kid}.{payload}"
        mac = hmac.new(NEW.value.encode(), signed.encode(), hashlib.sha256).digest()
        token = f"{signed}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"
        assert read_account_token(Keyring(NEW), token, NOW) == "bad payload"


def test_first_format_tokens_work_until_the_named_date() -> None:
    legacy = mint_legacy_token(NEW, "acme")
    claim = read_account_token(Keyring(NEW), legacy, LEGACY_TOKENS_UNTIL - timedelta(seconds=1))
    assert isinstance(claim, AccountClaim) and claim.account_id == "acme"
    refused = read_account_token(Keyring(NEW), legacy, LEGACY_TOKENS_UNTIL)
    assert isinstance(refused, str) and "2027-03-01" in refused


def test_revoking_a_token_or_every_token_of_an_account() -> None:
    revocations = Revocations()
    _, claim = mint_account_token(Keyring(NEW), "acme", timedelta(days=1), NOW)
    _, other = mint_account_token(Keyring(NEW), "acme", timedelta(days=1), NOW)
    revocations.apply(*revocation_record(claim.token_id, "alice", NOW))
    assert revocations.revoked(claim) and not revocations.revoked(other)
    legacy = read_account_token(Keyring(NEW), mint_legacy_token(NEW, "acme"), NOW)
    assert isinstance(legacy, AccountClaim) and not revocations.revoked(legacy)
    revocations.apply(*revocation_record("acme", "alice", NOW + timedelta(minutes=1)))
    assert revocations.revoked(other) and revocations.revoked(legacy)
    _, later = mint_account_token(Keyring(NEW), "acme", timedelta(days=1),
                                  NOW + timedelta(minutes=2))  # fmt: skip
    assert not revocations.revoked(later)  # issued after the revocation


@pytest.mark.parametrize(
    ("key", "value"),
    [(None, b"{}"), (b"nothing", b"{}"), (b"token:", b'{"revoked_at": 1}'),
     (b"token:x", b"not json"), (b"token:x", b'{"revoked_at": "soon"}'),
     (b"account:x", b"[" * 2000 + b"]" * 2000), (b"\xff\xfe", b"{}"), (b"token:" + b"x" * 9000, b"{}")],
)
def test_a_record_that_is_not_a_revocation_is_skipped(key: bytes | None, value: bytes) -> None:
    revocations = Revocations()
    revocations.apply(key, value)
    assert revocations.skipped == 1 and not revocations.tokens and not revocations.accounts
