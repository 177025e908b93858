"""Field checks shared by the parsers: each returns the clean value or raises InvalidEvent.

Each check takes the field's name and its decoded value (``msgspec.UNSET`` when absent,
so that absence and ``null`` can be told apart). Valid input takes a cheap path (a type
test and one C-level string check); only a reject works out which rule failed, in a
reason naming the field: ``<field>: <what is wrong>``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

from msgspec import UNSET

from schemas.errors import InvalidEvent
from schemas.limits import MAX_EMAIL_CHARS, MAX_ID_CHARS, MAX_TEXT_CHARS

_SHOW_CHARS = 40

# C0 controls, DEL and C1 controls.
_CONTROL = "\x00-\x1f\x7f-\x9f"
_CONTROL_RE = re.compile(f"[{_CONTROL}]")
# ``\s`` on str patterns is Unicode whitespace (also U+00A0, U+2028, ...).
_EMAIL_OK = re.compile(rf"[^@\s{_CONTROL}]+@[^@\s{_CONTROL}]+").fullmatch
_BAD_EMAIL_CHAR = re.compile(rf"[\s{_CONTROL}]")


def show(value: str) -> str:
    """``repr`` of a value for a reason, cut so a huge field cannot flood the dead letter."""
    if len(value) > _SHOW_CHARS:
        return repr(value[:_SHOW_CHARS]) + "…"
    return repr(value)


def json_type(value: object) -> str:
    """The JSON name of a decoded value's type, as a producer would think of it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def wrong_type(name: str, expected: str, value: object) -> InvalidEvent:
    return InvalidEvent(f"{name}: expected {expected}, got {json_type(value)}")


def missing(name: str) -> InvalidEvent:
    return InvalidEvent(f"{name}: missing")


def ident(name: str, value: Any, limit: int = MAX_ID_CHARS) -> str:
    """A required identifier or name: a string of 1 to ``limit`` characters, no control
    characters."""
    # ``isprintable`` is a superset test (it also refuses e.g. U+00A0), so a value that
    # fails it is only rejected if it really breaks a rule.
    if isinstance(value, str) and 0 < len(value) <= limit and value.isprintable():
        return value
    if value is UNSET:
        raise missing(name)
    if not isinstance(value, str):
        raise wrong_type(name, "a string", value)
    if not value:
        raise InvalidEvent(f"{name}: empty")
    return _name(name, value, limit)


def optional_ident(name: str, value: Any, limit: int = MAX_ID_CHARS) -> str | None:
    """An optional identifier or name (``campaign_id``, ``ip``, ...): ``null`` counts as
    absent; a string of at most ``limit`` characters without control characters. An
    empty string is kept as it is, as the contract allows it."""
    if isinstance(value, str) and len(value) <= limit and value.isprintable():
        return value
    if value is UNSET or value is None:
        return None
    if not isinstance(value, str):
        raise wrong_type(name, "a string or null", value)
    return _name(name, value, limit)


def _name(name: str, value: str, limit: int) -> str:
    """The slow path of an identifier that failed the fast test: which rule it breaks."""
    if len(value) > limit:
        raise too_long(name, value, limit)
    bad = _CONTROL_RE.search(value)
    if bad is None:
        return value
    raise InvalidEvent(
        f"{name}: control character U+{ord(bad.group()):04X} at position {bad.start()}"
    )


def optional_text(name: str, value: Any, limit: int = MAX_TEXT_CHARS) -> str | None:
    """Optional free text (``diagnostic``, ``summary``): ``null`` counts as absent; at
    most ``limit`` characters, control characters allowed (multi-line SMTP replies)."""
    if isinstance(value, str) and len(value) <= limit:
        return value
    if value is UNSET or value is None:
        return None
    if not isinstance(value, str):
        raise wrong_type(name, "a string or null", value)
    raise too_long(name, value, limit)


def too_long(name: str, value: str, limit: int) -> InvalidEvent:
    return InvalidEvent(f"{name}: longer than {limit} characters ({len(value)})")


def email(name: str, value: Any) -> str:
    """An email address, stripped and lower-cased (addresses compare case-insensitively)."""
    if not isinstance(value, str):
        raise wrong_type(name, "a string", value)
    address = value.strip().lower()
    if len(address) <= MAX_EMAIL_CHARS and _EMAIL_OK(address):
        return address
    if not address:
        raise InvalidEvent(f"{name}: empty")
    if len(address) > MAX_EMAIL_CHARS:
        raise too_long(name, address, MAX_EMAIL_CHARS)
    why = "contains whitespace or a control character"
    if _BAD_EMAIL_CHAR.search(address) is None:
        if address.count("@") != 1:
            why = "expected exactly one '@'"
        else:
            why = "empty local part" if address.startswith("@") else "empty domain"
    raise InvalidEvent(f"{name}: not an email address ({why}): {show(value)}")


def optional_email(name: str, value: Any) -> str | None:
    return None if value is None or value is UNSET else email(name, value)


def enum(name: str, value: Any, allowed: Collection[str], default: str) -> str:
    """A string from ``allowed``; absent or ``null`` gives ``default``."""
    if isinstance(value, str) and value in allowed:
        return value
    if value is UNSET or value is None:
        return default
    raise _bad_enum(name, allowed, value)


def required_enum(name: str, value: Any, allowed: Collection[str]) -> str:
    if isinstance(value, str) and value in allowed:
        return value
    if value is UNSET:
        raise missing(name)
    raise _bad_enum(name, allowed, value)


def optional_enum(name: str, value: Any, allowed: Collection[str]) -> str | None:
    if isinstance(value, str) and value in allowed:
        return value
    if value is UNSET or value is None:
        return None
    raise _bad_enum(name, allowed, value)


def _bad_enum(name: str, allowed: Collection[str], value: Any) -> InvalidEvent:
    if not isinstance(value, str):
        return wrong_type(name, "a string", value)
    return InvalidEvent(
        f"{name}: unknown value {show(value)} (expected one of: {', '.join(allowed)})"
    )


def optional_int(name: str, value: Any) -> int | None:
    """An optional integer. JSON ``true`` is not one, nor is ``550.0``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if value is UNSET or value is None:
        return None
    raise wrong_type(name, "an integer", value)


def required_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value is UNSET:
        raise missing(name)
    raise wrong_type(name, "a boolean", value)


def optional_bool(name: str, value: Any, default: bool) -> bool:
    if isinstance(value, bool):
        return value
    if value is UNSET or value is None:
        return default
    raise wrong_type(name, "a boolean", value)
