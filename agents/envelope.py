"""The value format of the internal ``sendguard.events`` topic.

One topic carries input events, account metadata and operator commands, so that all of an
account's inputs are applied in one order, on the partition that holds its state. The
first byte says which: ``E`` + event, ``A`` + account metadata, ``C`` + command (JSON),
``P`` + a progress report of the input partitions (``agents.progress``; not per account),
``D`` + the UTF-8 id of an account whose metadata a tombstone deleted.

Sendguard writes the topic, but anyone who can produce to the input topics can usually
produce to it too, so what :func:`unwrap` reads is held to the same rules as an input:
every record is checked field by field (``schemas.parse.check_event`` and friends), and
any other value, however malformed, large or deeply nested, is one
:class:`UndecodableRecord`, which the guard dead-letters.
"""

from __future__ import annotations

import msgspec

from agents.progress import ProgressReport, check_report
from schemas import fields as f
from schemas.appeals import DecideAppeal, FileAppeal, check_command, decode_command
from schemas.codec import clip
from schemas.errors import SchemaError, SendguardError
from schemas.limits import MAX_DEAD_LETTER_ERROR_CHARS
from schemas.parse import check_account, check_event, decode_account, decode_event, encode
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
    """The record a value of ``sendguard.events`` holds, checked; anything else raises
    :class:`UndecodableRecord` (and nothing else), whatever the bytes."""
    if data is None:
        raise UndecodableRecord("no value (a tombstone)")
    try:
        return _read(data[:1], data[1:])
    except UndecodableRecord:
        raise
    except RecursionError as exc:  # msgspec recurses on nesting, even of unknown fields
        raise UndecodableRecord("nested too deeply") from exc
    except (SchemaError, msgspec.DecodeError, ValueError) as exc:  # UnicodeDecodeError too
        raise UndecodableRecord(_reason(str(exc))) from exc
    except Exception as exc:  # anyone can write the topic: nothing else may escape
        raise UndecodableRecord(_reason(f"{type(exc).__name__}: {exc}")) from exc


def _read(tag: bytes, body: bytes) -> Record:
    if tag == EVENT:
        return check_event(decode_event(body))
    if tag == ACCOUNT:
        return check_account(decode_account(body))
    if tag == COMMAND:
        return check_command(decode_command(body))
    if tag == PROGRESS:
        return check_report(_PROGRESS.decode(body))
    if tag == DELETED:
        return MetaDeleted(f.ident("account_id", body.decode()))
    raise UndecodableRecord(f"unknown envelope tag {tag!r}")


def _reason(text: str) -> str:
    """An error's text, cut: it may quote what a producer wrote."""
    return clip(text, MAX_DEAD_LETTER_ERROR_CHARS)
