"""Reading the two compacted topics' records, which are hostile like any input: a record
that does not decode is skipped and counted, never raised past the gate."""

from __future__ import annotations

import msgspec

from gate.errors import GateError

#: The longest key kept: an account id and an address are far shorter (200 and 320
#: characters); a longer key is not one Sendguard wrote.
MAX_KEY_BYTES = 2048
#: The longest reason kept for a suppression (Sendguard's are ``hard_bounce`` and such).
MAX_REASON_BYTES = 64
#: The longest string kept of a channel's status, and the most channels kept.
MAX_FIELD_CHARS = 256
MAX_CHANNELS = 8


class BadRecord(GateError, ValueError):
    """A record that is not what Sendguard writes on that topic."""


class ChannelStatus(msgspec.Struct, frozen=True):
    """What the gate needs of one channel of an ``sendguard.account-status`` record."""

    state: str = "active"
    reason: str | None = None
    suspension_type: str | None = None
    since: str | None = None


class _StatusRecord(msgspec.Struct):
    channels: dict[str, ChannelStatus] = {}


class _Suppression(msgspec.Struct):
    reason: str = "suppressed"


_STATUS = msgspec.json.Decoder(_StatusRecord)
_SUPPRESSION = msgspec.json.Decoder(_Suppression)


def _cut(text: str | None) -> str | None:
    return text[:MAX_FIELD_CHARS] if text is not None else None


def channels_of(value: bytes) -> dict[str, ChannelStatus]:
    """The channels of a status record that are not plainly active (none: nothing to keep)."""
    try:
        record = _STATUS.decode(value)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise BadRecord(f"not a status record: {exc}") from None
    if len(record.channels) > MAX_CHANNELS:
        raise BadRecord(f"{len(record.channels)} channels (at most {MAX_CHANNELS})")
    kept: dict[str, ChannelStatus] = {}
    for name, status in record.channels.items():
        if status.state == "active" or len(name) > MAX_FIELD_CHARS:
            continue
        kept[name] = ChannelStatus(
            state=status.state[:MAX_FIELD_CHARS], reason=_cut(status.reason),
            suspension_type=_cut(status.suspension_type), since=_cut(status.since),
        )  # fmt: skip
    return kept


def reason_of(value: bytes) -> bytes:
    """The reason of a suppression record."""
    try:
        reason = _SUPPRESSION.decode(value).reason
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise BadRecord(f"not a suppression record: {exc}") from None
    return reason.encode()[:MAX_REASON_BYTES]
