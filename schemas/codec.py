"""Codecs for the records Sendguard writes itself, and the dead-letter record.

Input from producers goes through ``schemas.parse``; what is read here was written by
``encode``, so msgspec's own typed decoding is enough.
"""

from __future__ import annotations

import re

import msgspec

from schemas.errors import InvalidEvent
from schemas.limits import (
    MAX_DEAD_LETTER_ERROR_CHARS,
    MAX_DEAD_LETTER_KEY_BYTES,
    MAX_DEAD_LETTER_RAW_BYTES,
)
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
    """A ``sendguard.dead-letter`` record: the raw value as text, cut at 64 KiB of UTF-8,
    and the error cut at 2,048 characters, ending in "…" when cut.

    The error can embed producer text (a reason quotes a field, an internal error its
    exception), so it is bounded like the raw text: the record always fits
    ``MAX_RECORD_BYTES`` (its Kafka key is :func:`dead_letter_key`). Bytes that are not
    UTF-8 (and lone surrogates in a ``str``) become U+FFFD, so the record always encodes;
    the cut never splits a character.
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
    error = clip(_SURROGATE.sub("\ufffd", error), MAX_DEAD_LETTER_ERROR_CHARS)
    return DeadLetter(
        source_topic=source_topic, partition=partition, offset=offset, error=error, raw=text
    )


def dead_letter_key(key: bytes | bytearray | memoryview | None) -> bytes | None:
    """The Kafka key of a dead letter: the rejected record's key, cut to its first 1,024
    bytes.

    Kept rather than dropped: it is usually the account id (at most 200 characters, 800
    bytes, so never cut), by which an operator finds an account's rejects. But a
    producer controls it and may send a key as large as a message (1 MiB), which would
    push the dead letter past the record budget; a cut key may end inside a UTF-8
    character (a key is bytes).
    """
    if key is None:
        return None
    return bytes(key[:MAX_DEAD_LETTER_KEY_BYTES])


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, the last one "…" when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
