"""The value format of the internal ``sendguard.events`` topic.

One topic carries both input events and account metadata, so that an account's metadata
is applied in order with its events, on the same partition as its state. The first byte
says which: ``E`` + event JSON, ``A`` + account JSON.
"""

from __future__ import annotations

from schemas.parse import decode_account, decode_event, encode
from schemas.types import AccountMeta, Event

EVENT = b"E"
ACCOUNT = b"A"


def wrap(record: Event | AccountMeta) -> bytes:
    return (EVENT if isinstance(record, Event) else ACCOUNT) + encode(record)


def unwrap(data: bytes) -> Event | AccountMeta:
    if data[:1] == EVENT:
        return decode_event(data[1:])
    if data[:1] == ACCOUNT:
        return decode_account(data[1:])
    raise ValueError(f"unknown envelope tag {data[:1]!r}")
