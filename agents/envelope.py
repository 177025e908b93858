"""The value format of the internal ``sendguard.events`` topic.

One topic carries input events, account metadata and operator commands, so that all of an
account's inputs are applied in one order, on the partition that holds its state. The
first byte says which: ``E`` + event, ``A`` + account metadata, ``C`` + command (JSON),
``P`` + a progress report of the input partitions (``agents.progress``; not per account).
"""

from __future__ import annotations

import msgspec

from agents.progress import ProgressReport
from schemas.appeals import DecideAppeal, FileAppeal, decode_command
from schemas.errors import SchemaError, SendguardError
from schemas.parse import decode_account, decode_event, encode
from schemas.types import AccountMeta, Event


class MetaDeleted(msgspec.Struct, frozen=True):
    """A tombstone of ``accounts`` forwarded to the account's partition."""

    account_id: str


Record = Event | AccountMeta | MetaDeleted | FileAppeal | DecideAppeal | ProgressReport

EVENT = b"E"
ACCOUNT = b"A"
COMMAND = b"C"
PROGRESS = b"P"
DELETED = b"D"
_PROGRESS = msgspec.json.Decoder(ProgressReport)


def wrap(record: Event | AccountMeta | MetaDeleted | FileAppeal | DecideAppeal) -> bytes:
    if isinstance(record, Event):
        tag = EVENT
    elif isinstance(record, AccountMeta):
        tag = ACCOUNT
    elif isinstance(record, MetaDeleted):
        return DELETED + record.account_id.encode()
    else:
        tag = COMMAND
    return tag + encode(record)


class UndecodableRecord(SendguardError):
    """A record on ``sendguard.events`` that is not one this module wrote."""


def unwrap(data: bytes | None) -> Record:
    if data is None:
        raise UndecodableRecord("no value (a tombstone)")
    tag, body = data[:1], data[1:]
    try:
        if tag == EVENT:
            return decode_event(body)
        if tag == ACCOUNT:
            return decode_account(body)
        if tag == COMMAND:
            return decode_command(body)
        if tag == PROGRESS:
            return _PROGRESS.decode(body)
        if tag == DELETED:
            return MetaDeleted(body.decode())
    except (SchemaError, msgspec.DecodeError, ValueError) as exc:  # UnicodeDecodeError too
        raise UndecodableRecord(str(exc)) from exc
    raise UndecodableRecord(f"unknown envelope tag {tag!r}")
