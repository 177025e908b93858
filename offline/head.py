"""What a replay reads of every line or record before parsing it in full: its topic and
its time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from msgspec import UNSET

from schemas.timefmt import TimestampError, parse_rfc3339


class Head(msgspec.Struct):
    """``topic`` and ``occurred_at``; msgspec skips the rest of the line unparsed."""

    topic: Any = UNSET
    occurred_at: Any = UNSET


_HEAD = msgspec.json.Decoder(Head)


def head(raw: bytes) -> Head | None:
    """The ``topic`` and raw ``occurred_at`` of a line, or None if it is not a JSON object."""
    try:
        return _HEAD.decode(raw)
    except (msgspec.DecodeError, ValueError):
        return None


def event_time(value: Any) -> datetime | None:
    """A decoded ``occurred_at`` as a time, or None if it is not an RFC 3339 timestamp."""
    if not isinstance(value, str):
        return None
    try:
        return parse_rfc3339(value)
    except TimestampError:
        return None


class _AppealHead(msgspec.Struct):
    decided_at: Any = UNSET
    filed_at: Any = UNSET


_APPEAL_HEAD = msgspec.json.Decoder(_AppealHead)


def appeal_time(raw: bytes) -> datetime | None:
    """When a ``sendguard.appeals`` record happened: its decision, or its filing while
    pending; None if it says neither."""
    try:
        wire = _APPEAL_HEAD.decode(raw)
    except (msgspec.DecodeError, ValueError):
        return None
    return event_time(wire.decided_at) or event_time(wire.filed_at)
