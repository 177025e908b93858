"""RFC 3339 timestamps, parsed strictly and normalised to UTC.

``datetime.fromisoformat`` alone is too lenient for the contract: it takes ISO 8601 forms
RFC 3339 forbids (no seconds, basic format, week dates) and returns a naive datetime when
the offset is missing. So the text is first matched against the RFC 3339 grammar, and only
then handed to ``fromisoformat`` (fast, in C) for the calendar checks.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from schemas.errors import SchemaError

#: RFC 3339 ``date-time``. ``T``/``Z`` may be lower case (RFC 3339 section 5.6) and a space
#: may separate date and time (its note on readability).
_DATE_TIME = r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?"
_OFFSET = r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
_RFC3339 = re.compile(_DATE_TIME + _OFFSET)
_NO_OFFSET = re.compile(_DATE_TIME)
_SHOW_CHARS = 40


class TimestampError(SchemaError, ValueError):
    """A text that is not an RFC 3339 timestamp with offset; ``str(exc)`` says why."""


def parse_rfc3339(text: str) -> datetime:
    """Parse an RFC 3339 timestamp with offset into a timezone-aware UTC datetime.

    Fractional seconds beyond microseconds are truncated. A leap second (``:60``) is
    rejected, as Python cannot represent it.
    """
    if _RFC3339.fullmatch(text) is None:
        if _NO_OFFSET.fullmatch(text) is not None:
            raise TimestampError("timestamp has no UTC offset")
        shown = repr(text[:_SHOW_CHARS]) + ("…" if len(text) > _SHOW_CHARS else "")
        raise TimestampError(
            f"not an RFC 3339 timestamp (expected e.g. 2026-11-03T10:15:00Z), got {shown}"
        )
    if text[-1] == "z":  # fromisoformat knows only "Z"
        text = text[:-1] + "Z"
    try:
        return datetime.fromisoformat(text).astimezone(UTC)
    except OverflowError as exc:  # e.g. 9999-12-31T23:00:00-05:00 is in year 10000 UTC
        raise TimestampError("out of range once converted to UTC") from exc
    except ValueError as exc:  # month 13, 30 February, hour 24, leap second ...
        raise TimestampError(f"invalid date or time: {exc}") from exc
