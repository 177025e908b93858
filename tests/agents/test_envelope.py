"""Records on ``sendguard.events``: what ``wrap`` writes ``unwrap`` reads; anything else is
one error the guard dead-letters, never a crash of the agent."""

from __future__ import annotations

import pytest

from agents.envelope import MetaDeleted, UndecodableRecord, unwrap, wrap
from schemas.types import AccountMeta


@pytest.mark.parametrize(
    "record",
    [
        AccountMeta(account_id="acme", tier="starter", primary_contact="ops@acme.test"),
        MetaDeleted("acmé"),
    ],
)
def test_wrap_then_unwrap_round_trips(record: AccountMeta | MetaDeleted) -> None:
    assert unwrap(wrap(record)) == record


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (None, "no value"),
        (b"", "unknown envelope tag"),
        (b"Z{}", "unknown envelope tag"),
        (b"E{not json", "JSON is malformed"),
        (b'A{"account_id": 7}', "Expected `str`"),
        (b"P[]", "Expected `object`"),
        (b"D\xff", "can't decode"),
    ],
)
def test_anything_else_is_an_undecodable_record(data: bytes | None, reason: str) -> None:
    with pytest.raises(UndecodableRecord, match=reason):
        unwrap(data)
