"""Codecs for the records Sendguard writes itself, and the dead-letter record.

Input from producers goes through ``schemas.parse``; what is read here was written by
``encode``, so msgspec's own typed decoding is enough.
"""

from __future__ import annotations

import re

import msgspec

from schemas.errors import InvalidEvent
from schemas.limits import MAX_DEAD_LETTER_RAW_BYTES
from schemas.types import AccountMeta, DeadLetter, Event

_encoder = msgspec.json.Encoder()
_event_decoder = msgspec.json.Decoder(Event)
_account_decoder = msgspec.json.Decoder(AccountMeta)
_SURROGATE = re.compile("[\ud800-\udfff]")


def encode(obj: msgspec.Struct) -> bytes:
    """JSON for any record of ``schemas.types``.

    A UTC datetime is written as RFC 3339 with ``Z``. Keep every datetime UTC-aware (the
    parsers guarantee it for ``Event``): msgspec writes a naive one without an offset.
    """
    return _encoder.encode(obj)


def decode_event(data: bytes) -> Event:
    """Read an ``Event`` back from the internal ``sendguard.events`` topic."""
    try:
        event = _event_decoder.decode(data)
    except msgspec.DecodeError as exc:  # also ValidationError
        raise InvalidEvent(f"not a sendguard.events record: {exc}") from exc
    if event.occurred_at.tzinfo is None:
        raise InvalidEvent("not a sendguard.events record: occurred_at has no UTC offset")
    return event


def decode_account(data: bytes) -> AccountMeta:
    """Read ``AccountMeta`` stored with ``encode`` back."""
    try:
        return _account_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise InvalidEvent(f"not an account record: {exc}") from exc


def dead_letter(
    source_topic: str,
    partition: int | None,
    offset: int | None,
    error: str,
    raw: bytes | bytearray | memoryview | str | None,
) -> DeadLetter:
    """A ``sendguard.dead-letter`` record: the raw value as text, cut at 64 KiB of UTF-8.

    Bytes that are not UTF-8 (and lone surrogates in a ``str``) become U+FFFD, so the
    record always encodes; the cut never splits a character.
    """
    if raw is None:
        text = ""
    elif isinstance(raw, str):
        text = _SURROGATE.sub("\ufffd", raw)
    else:
        text = bytes(raw).decode("utf-8", errors="replace")
    encoded = text.encode("utf-8")
    if len(encoded) > MAX_DEAD_LETTER_RAW_BYTES:
        # ``encoded`` is valid UTF-8, so "ignore" drops only a character cut in half.
        text = encoded[:MAX_DEAD_LETTER_RAW_BYTES].decode("utf-8", errors="ignore")
    return DeadLetter(
        source_topic=source_topic, partition=partition, offset=offset, error=error, raw=text
    )
