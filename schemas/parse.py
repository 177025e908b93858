"""Strict parsing of the input topics (docs/CONTRACT.md, "Input topics").

Parsing is on the hot path of every worker. JSON is decoded once by msgspec into a
"wire" struct whose fields are all ``Any``: msgspec skips unknown fields without building
them and leaves every type check to us. Each field is then checked in Python; valid input
takes the cheap path of each check, and only a reject pays for working out a reason a
person can act on. Every reject raises ``InvalidEvent``; the caller dead-letters it.

Fields are checked in a fixed order (``event_id``, ``account_id``, ``occurred_at``,
``channel``, ``campaign_id``, ``recipient``, then the topic's own fields) and the first
broken rule is the reason. ``null`` counts as absent for optional fields. Fields that
belong to another topic (``bounce_type`` on a delivery) are unknown, hence ignored.

Every string an event keeps has a cap (``schemas.limits``), since the account row keeps
some of them (campaign ids, listings) and a row must fit a Kafka record: ids and names
(``event_id``, ``account_id``, ``campaign_id``, ``complaint_id``, ``blocklist``, ``ip``)
at most 200 characters without control characters, ``domain`` at most 253 (no control
characters either), ``recipient`` 320, free text (``diagnostic``, ``summary``) 2,048.
An empty optional name (``"campaign_id": ""``) is kept as it is, as the contract allows.

The codecs for records Sendguard writes itself live in ``schemas.codec`` and are
re-exported here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, TypeVar

import msgspec
from msgspec import UNSET

from schemas import fields as f
from schemas.codec import (
    dead_letter,
    dead_letter_key,
    decode_account,
    decode_event,
    encode,
)
from schemas.errors import InvalidEvent, SchemaError
from schemas.limits import MAX_DEAD_LETTER_RAW_BYTES, MAX_DOMAIN_CHARS, MAX_MESSAGE_BYTES
from schemas.timefmt import TimestampError, parse_rfc3339
from schemas.types import (
    BOUNCE_TYPES,
    CHANNELS,
    RECIPIENT_REQUIRED_KINDS,
    TIERS,
    TOPIC_KINDS,
    TRAP_KINDS,
    AccountMeta,
    Event,
    EventKind,
)
from schemas.wire import AccountWire, EventWire

__all__ = [
    "FUTURE_TOLERANCE",
    "MAX_DEAD_LETTER_RAW_BYTES",
    "MAX_MESSAGE_BYTES",
    "InvalidEvent",
    "SchemaError",
    "check_account",
    "check_event",
    "dead_letter",
    "dead_letter_key",
    "decode_account",
    "decode_event",
    "encode",
    "parse_account",
    "parse_event",
    "parse_event_line",
]

#: How far ahead of the worker's clock an event may be stamped (clock skew).
FUTURE_TOLERANCE = timedelta(hours=1)

Raw = bytes | bytearray | memoryview | str


_Wire = TypeVar("_Wire", EventWire, AccountWire)
_WIRE_DECODERS: dict[type, msgspec.json.Decoder[Any]] = {
    wire: msgspec.json.Decoder(wire) for wire in (EventWire, AccountWire)
}
_PLAIN_DECODER = msgspec.json.Decoder()


def parse_event(
    topic: str,
    raw: Raw | Mapping[str, Any],
    *,
    now: datetime,
    late_grace_days: int,
    late_reference: datetime | None = None,
) -> Event:
    """Validate and normalise one message of an input topic (``email.*``).

    ``now`` (timezone-aware) and ``late_grace_days`` bound ``occurred_at``; both are
    passed in so that replays and tests are deterministic. ``late_reference`` is the time
    the late-event grace counts back from (default ``now``): an offline replay passes its
    event-time clock, so an old file is judged as it was when it was live, while the
    future check stays on the wall clock.
    """
    kind = TOPIC_KINDS.get(topic)
    if kind is None:
        raise InvalidEvent(f"unknown topic {f.show(topic)}")
    wire = _load(raw, EventWire)
    return _event(topic, kind, wire, now, late_grace_days, late_reference)


def parse_event_line(
    line: Raw, *, now: datetime, late_grace_days: int, late_reference: datetime | None = None
) -> Event:
    """Parse one line of a JSON-lines event file: an input event plus its ``topic``.

    ``late_reference`` as in :func:`parse_event`.
    """
    wire = _load(line, EventWire)
    topic = f.required_enum("topic", wire.topic, TOPIC_KINDS)
    return _event(topic, TOPIC_KINDS[topic], wire, now, late_grace_days, late_reference)


def parse_account(raw: Raw | Mapping[str, Any]) -> AccountMeta:
    """Validate one value of the compacted ``accounts`` topic."""
    wire = _load(raw, AccountWire)
    return AccountMeta(
        account_id=f.ident("account_id", wire.account_id),
        tier=f.enum("tier", wire.tier, TIERS, "free"),  # type: ignore[arg-type]
        primary_contact=f.optional_email("primary_contact", wire.primary_contact),
        csm=f.optional_email("csm", wire.csm),
        review_required=f.optional_bool("review_required", wire.review_required, False),
    )


def tombstone_account(key: bytes | None) -> str:
    """The account a tombstone (a null value) on the ``accounts`` topic deletes: its key,
    which must be an account id like any other (it is forwarded and kept as one)."""
    try:
        account_id = key.decode() if key else ""
    except UnicodeDecodeError:
        account_id = ""
    if not account_id:
        raise InvalidEvent("a tombstone (null value) without an account id as its key")
    try:
        return f.ident("account_id", account_id)
    except InvalidEvent as exc:
        raise InvalidEvent(f"a tombstone (null value) whose key is no account id: {exc}") from None


def check_event(event: Event) -> Event:
    """Apply the input rules again to an event read back from ``sendguard.events``.

    Sendguard writes that topic with events it parsed, but anyone can produce to it, so a
    decoded ``Event`` is held to every rule of :func:`parse_event` but the time window (a
    forwarded event was inside it when it was parsed, and may be read much later): the
    topic and its kind, identifiers, a UTC ``occurred_at``, every cap. Returns the event
    as the parser would have made it (a field of another kind dropped, the recipient
    normalised); raises ``InvalidEvent``.
    """
    kind = TOPIC_KINDS.get(event.topic)
    if kind is None:
        raise InvalidEvent(f"topic: unknown topic {f.show(event.topic)}")
    if kind != event.kind:
        raise InvalidEvent(f"kind: {f.show(event.kind)} is not the kind of {event.topic}")
    event_id = f.ident("event_id", event.event_id)
    account_id = f.ident("account_id", event.account_id)
    if event.occurred_at.utcoffset() != timedelta(0):
        raise InvalidEvent("occurred_at: not in UTC")
    wire = EventWire(
        channel=event.channel, campaign_id=event.campaign_id, recipient=event.recipient,
        bounce_type=event.bounce_type, smtp_code=event.smtp_code, diagnostic=event.diagnostic,
        complaint_id=event.complaint_id, summary=event.summary, trap_kind=event.trap_kind,
        blocklist=event.blocklist, listed=event.listed, ip=event.ip, domain=event.domain,
    )  # fmt: skip
    return _build(event.topic, kind, wire, event_id, account_id, event.occurred_at)


def check_account(meta: AccountMeta) -> AccountMeta:
    """Apply the rules of :func:`parse_account` again to metadata read back from
    ``sendguard.events`` (anyone can produce to it); raises ``InvalidEvent``."""
    return parse_account(msgspec.structs.asdict(meta))


def _load(raw: Raw | Mapping[str, Any], wire: type[_Wire]) -> _Wire:
    """Decode a message, within the size limit, that must be a JSON object."""
    if isinstance(raw, (bytes, bytearray, memoryview, str)):
        size = _oversize(raw)
        if size is not None:
            raise InvalidEvent(f"message too large: {size} bytes (limit {MAX_MESSAGE_BYTES})")
        try:
            return _WIRE_DECODERS[wire].decode(raw)  # type: ignore[no-any-return]
        except msgspec.ValidationError as exc:
            raise _not_an_object(raw, exc) from exc
        except (msgspec.DecodeError, ValueError) as exc:
            raise _not_json(raw, exc) from exc
        except RecursionError as exc:  # msgspec recurses on nesting, e.g. [[[[...]]]]
            raise InvalidEvent("not JSON: nested too deeply") from exc
    if isinstance(raw, Mapping):
        try:
            converted: _Wire = msgspec.convert(dict(raw), wire)
            return converted
        except msgspec.ValidationError as exc:  # keys that are not strings
            raise InvalidEvent(f"not a JSON object: {exc}") from exc
    if raw is None:
        raise InvalidEvent("not JSON: no value (a tombstone)")
    raise TypeError(f"expected bytes, str or a mapping, got {type(raw).__name__}")


def _not_json(raw: Raw, exc: msgspec.DecodeError | ValueError) -> InvalidEvent:
    if isinstance(exc, UnicodeDecodeError):  # its position is within one string: omit it
        return InvalidEvent(f"not JSON: invalid UTF-8 in a string ({exc.reason})")
    if not (raw if isinstance(raw, str) else bytes(raw)).strip():
        return InvalidEvent("not JSON: empty message")
    return InvalidEvent(f"not JSON: {exc}")


def _not_an_object(raw: Raw, exc: msgspec.ValidationError) -> InvalidEvent:
    """Tell valid JSON that is not an object from JSON msgspec cannot hold (``1e400``)."""
    try:
        value = _PLAIN_DECODER.decode(raw)
    except (msgspec.DecodeError, ValueError) as plain_exc:
        return _not_json(raw, plain_exc)
    except RecursionError:
        return InvalidEvent("not JSON: nested too deeply")
    if not isinstance(value, dict):
        return InvalidEvent("not a JSON object")
    return InvalidEvent(f"not JSON: {exc}")


def _oversize(raw: Raw) -> int | None:
    """The size in bytes of a message over the limit; ``None`` for one within it."""
    if isinstance(raw, str):
        # A character takes at most 4 bytes of UTF-8: encode only when it could matter.
        if len(raw) * 4 <= MAX_MESSAGE_BYTES:
            return None
        size = len(raw.encode("utf-8", errors="surrogatepass"))
    else:
        size = raw.nbytes if isinstance(raw, memoryview) else len(raw)
    return size if size > MAX_MESSAGE_BYTES else None


def _event(
    topic: str,
    kind: EventKind,
    wire: EventWire,
    now: datetime,
    late_grace_days: int,
    late_reference: datetime | None,
) -> Event:
    event_id = f.ident("event_id", wire.event_id)
    account_id = f.ident("account_id", wire.account_id)
    occurred_at = _occurred_at(wire.occurred_at, now, late_grace_days, late_reference)
    return _build(topic, kind, wire, event_id, account_id, occurred_at)


def _build(
    topic: str,
    kind: EventKind,
    wire: EventWire,
    event_id: str,
    account_id: str,
    occurred_at: datetime,
) -> Event:
    """The event, from its checked identity and time and the rest of its wire fields."""
    # Event is built with explicit keywords in each branch: msgspec's constructor is
    # several times slower with ``**kwargs`` or with more than 15 keywords.
    channel: Any = f.enum("channel", wire.channel, CHANNELS, "marketing")
    campaign_id = f.optional_ident("campaign_id", wire.campaign_id)
    recipient = _recipient(kind, wire.recipient)
    if kind == "bounce":
        return Event(
            topic=topic, kind=kind, event_id=event_id, account_id=account_id,
            occurred_at=occurred_at, channel=channel, campaign_id=campaign_id,
            recipient=recipient,
            bounce_type=f.required_enum("bounce_type", wire.bounce_type, BOUNCE_TYPES),  # type: ignore[arg-type]
            smtp_code=f.optional_int("smtp_code", wire.smtp_code),
            diagnostic=f.optional_text("diagnostic", wire.diagnostic),
        )  # fmt: skip
    if kind == "abuse_complaint":
        return Event(
            topic=topic, kind=kind, event_id=event_id, account_id=account_id,
            occurred_at=occurred_at, channel=channel, campaign_id=campaign_id,
            recipient=recipient,
            complaint_id=f.optional_ident("complaint_id", wire.complaint_id),
            summary=f.optional_text("summary", wire.summary),
        )  # fmt: skip
    if kind == "spam_trap":
        return Event(
            topic=topic, kind=kind, event_id=event_id, account_id=account_id,
            occurred_at=occurred_at, channel=channel, campaign_id=campaign_id,
            recipient=recipient,
            trap_kind=f.optional_enum("trap_kind", wire.trap_kind, TRAP_KINDS),  # type: ignore[arg-type]
        )  # fmt: skip
    if kind == "blocklist":
        return Event(
            topic=topic, kind=kind, event_id=event_id, account_id=account_id,
            occurred_at=occurred_at, channel=channel, campaign_id=campaign_id,
            recipient=recipient,
            blocklist=f.ident("blocklist", wire.blocklist),
            listed=f.required_bool("listed", wire.listed),
            ip=f.optional_ident("ip", wire.ip),
            domain=f.optional_ident("domain", wire.domain, MAX_DOMAIN_CHARS),
        )  # fmt: skip
    return Event(
        topic=topic, kind=kind, event_id=event_id, account_id=account_id,
        occurred_at=occurred_at, channel=channel, campaign_id=campaign_id,
        recipient=recipient,
    )  # fmt: skip


def _recipient(kind: EventKind, value: Any) -> str | None:
    if value is not UNSET and value is not None:
        return f.email("recipient", value)
    if kind not in RECIPIENT_REQUIRED_KINDS:
        return None
    raise f.missing("recipient") if value is UNSET else f.wrong_type("recipient", "a string", value)


@lru_cache(maxsize=16)
def _window(now: datetime, late_grace_days: int) -> tuple[datetime, datetime]:
    """The accepted range of ``occurred_at``. Cached: a worker parses many events per
    clock reading, and building the timedelta costs more than parsing the timestamp."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now - timedelta(days=late_grace_days), now + FUTURE_TOLERANCE


@lru_cache(maxsize=16)
def _grace(late_grace_days: int) -> timedelta:
    return timedelta(days=late_grace_days)


def _occurred_at(
    value: Any, now: datetime, late_grace_days: int, late_reference: datetime | None
) -> datetime:
    oldest, newest = _window(now, late_grace_days)
    if late_reference is not None:
        # Not cached like ``_window``: a replay's event-time clock moves on almost every line.
        if late_reference.tzinfo is None:
            raise ValueError("late_reference must be timezone-aware")
        oldest = late_reference - _grace(late_grace_days)
    if not isinstance(value, str):
        if value is UNSET:
            raise f.missing("occurred_at")
        raise f.wrong_type("occurred_at", "a string", value)
    try:
        at = parse_rfc3339(value)
    except TimestampError as exc:
        raise InvalidEvent(f"occurred_at: {exc}") from exc
    if at > newest:
        raise InvalidEvent("occurred_at: more than one hour in the future")
    if at < oldest:
        raise InvalidEvent(
            f"occurred_at: older than the late-event grace of {late_grace_days} days"
        )
    return at
