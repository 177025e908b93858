"""Records of the appeal workflow: the HTTP bodies, the stored appeal, the commands the
HTTP views hand to the guard, and notifications. No Faust import."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

from schemas import fields as f
from schemas.errors import InvalidEvent, SchemaError
from schemas.limits import MAX_APPEAL_ID_CHARS, MAX_ID_CHARS
from schemas.types import CHANNELS, Channel, SuspensionType, Tier

AppealKind = Literal["appeal", "review"]
AppealQueue = Literal["deliverability", "fraud-review", "account-review", "crm"]
AppealStatus = Literal["pending", "restored", "denied"]
MAX_BODY_BYTES = 64 * 1024
MAX_TEXT = 5000


class InvalidRequest(SchemaError):
    """An HTTP body that breaks the contract; ``field`` names the culprit (422)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class AppealForm(msgspec.Struct, frozen=True, kw_only=True):
    """docs/POLICY.md's appeal form: every confirmation must be true, every text non-empty."""

    channel: Channel
    opt_out_list_imported: bool
    lists_cleaned: bool
    contact_source: str
    emailed_within_last_year: bool
    details: str


class OperatorDecision(msgspec.Struct, frozen=True, kw_only=True):
    decision: Literal["restore", "deny"]
    note: str


class Appeal(msgspec.Struct, kw_only=True):
    """An appeal (or an additional account review) as stored and audited."""

    appeal_id: str
    account_id: str
    channel: Channel
    kind: AppealKind
    queue: AppealQueue
    tier: Tier
    suspension_reason: str | None
    suspension_type: SuspensionType | None
    form: AppealForm
    status: AppealStatus = "pending"
    filed_at: datetime
    decided_at: datetime | None = None
    note: str | None = None
    decided_by: str | None = None
    """The operator who decided it (audit trail)."""


class Notification(msgspec.Struct, frozen=True, kw_only=True):
    """A message for people, on ``sendguard.notifications``."""

    notification_id: str
    account_id: str
    to: list[str]
    subject: str
    body: str
    appeal_id: str
    created_at: datetime


class FileAppeal(msgspec.Struct, frozen=True, kw_only=True, tag="file_appeal"):
    command_id: str
    appeal: Appeal


class DecideAppeal(msgspec.Struct, frozen=True, kw_only=True, tag="decide_appeal"):
    command_id: str
    account_id: str
    appeal_id: str
    decision: Literal["restore", "deny"]
    note: str
    decided_by: str = ""
    """The operator's name (empty in commands written before operators had names)."""


Command = FileAppeal | DecideAppeal


def _object(raw: bytes) -> dict[str, Any]:
    if len(raw) > MAX_BODY_BYTES:
        raise InvalidRequest("body", f"larger than {MAX_BODY_BYTES} bytes")
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise InvalidRequest("body", f"not JSON: {exc}") from None
    except UnicodeDecodeError:
        raise InvalidRequest("body", "not UTF-8") from None
    except RecursionError:
        raise InvalidRequest("body", "nested too deep") from None
    if not isinstance(value, dict):
        raise InvalidRequest("body", "not a JSON object")
    return value


def _confirmed(body: dict[str, Any], field: str) -> bool:
    value = body.get(field)
    if value is None:
        raise InvalidRequest(field, "missing; confirm with true")
    if value is not True:
        raise InvalidRequest(field, "must be true to appeal")
    return True


def _text(body: dict[str, Any], field: str) -> str:
    value = body.get(field)
    if value is None:
        raise InvalidRequest(field, "missing")
    if not isinstance(value, str):
        raise InvalidRequest(field, f"expected a string, got {type(value).__name__}")
    if not value.strip():
        raise InvalidRequest(field, "empty; describe it in a few words")
    if len(value) > MAX_TEXT:
        raise InvalidRequest(field, f"longer than {MAX_TEXT} characters")
    return value.strip()


def appeal_channel(raw: bytes) -> Channel:
    """The channel an appeal body is for (default marketing): what is checked first."""
    return _channel(_object(raw))


def _channel(body: dict[str, Any]) -> Channel:
    channel = body.get("channel", "marketing")
    if channel not in CHANNELS:
        raise InvalidRequest("channel", f"unknown value {channel!r} (expected marketing or crm)")
    return channel  # type: ignore[no-any-return]


def parse_appeal_form(raw: bytes) -> AppealForm:
    body = _object(raw)
    return AppealForm(
        channel=_channel(body),
        opt_out_list_imported=_confirmed(body, "opt_out_list_imported"),
        lists_cleaned=_confirmed(body, "lists_cleaned"),
        contact_source=_text(body, "contact_source"),
        emailed_within_last_year=_confirmed(body, "emailed_within_last_year"),
        details=_text(body, "details"),
    )


def parse_operator_decision(raw: bytes) -> OperatorDecision:
    body = _object(raw)
    decision = body.get("decision")
    if decision is None:
        raise InvalidRequest("decision", "missing; 'restore' or 'deny'")
    if decision not in ("restore", "deny"):
        raise InvalidRequest("decision", f"unknown value {decision!r} (expected restore or deny)")
    note = body.get("note", "")
    if not isinstance(note, str):
        raise InvalidRequest("note", f"expected a string, got {type(note).__name__}")
    if decision == "deny" and not note.strip():
        raise InvalidRequest("note", "empty; a denial must say why")
    if len(note) > MAX_TEXT:
        raise InvalidRequest("note", f"longer than {MAX_TEXT} characters")
    return OperatorDecision(decision=decision, note=note.strip())


_COMMANDS: msgspec.json.Decoder[FileAppeal | DecideAppeal] = msgspec.json.Decoder(Command)
_APPEAL = msgspec.json.Decoder(Appeal)


def decode_command(data: bytes) -> Command:
    return _COMMANDS.decode(data)


def check_command(command: Command) -> Command:
    """A command read from ``sendguard.events``, held to the rules of the HTTP views that
    write it (ids, the form's texts, aware times), since anyone can produce to that
    topic and what a command carries is kept and published. Raises ``InvalidEvent``."""
    f.ident("command_id", command.command_id)
    if isinstance(command, DecideAppeal):
        f.ident("account_id", command.account_id)
        f.ident("appeal_id", command.appeal_id, MAX_APPEAL_ID_CHARS)
        f.optional_text("note", command.note, MAX_TEXT)
        f.optional_text("decided_by", command.decided_by, MAX_ID_CHARS)
        return command
    appeal = command.appeal
    f.ident("appeal.account_id", appeal.account_id)
    f.ident("appeal.appeal_id", appeal.appeal_id, MAX_APPEAL_ID_CHARS)
    f.optional_ident("appeal.suspension_reason", appeal.suspension_reason)
    f.optional_text("appeal.form.contact_source", appeal.form.contact_source, MAX_TEXT)
    f.optional_text("appeal.form.details", appeal.form.details, MAX_TEXT)
    f.optional_text("appeal.note", appeal.note, MAX_TEXT)
    for name, moment in (("filed_at", appeal.filed_at), ("decided_at", appeal.decided_at)):
        if moment is not None and moment.utcoffset() is None:
            raise InvalidEvent(f"appeal.{name}: timestamp has no UTC offset")
    return command


#: Where Sendguard audits appeals; a replay applies the restores it finds there.
APPEALS_TOPIC = "sendguard.appeals"


class AppealOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """The part of an audited appeal (a ``sendguard.appeals`` record) a replay acts on."""

    appeal_id: str
    account_id: str
    channel: Channel
    kind: AppealKind = "appeal"
    status: AppealStatus
    decided_at: datetime | None = None
    decided_by: str | None = None


_OUTCOME = msgspec.json.Decoder(AppealOutcome)


def decode_appeal_outcome(data: bytes) -> AppealOutcome:
    return _OUTCOME.decode(data)


def decode_appeal(data: bytes) -> Appeal:
    return _APPEAL.decode(data)


def pending_key(account_id: str, channel: str) -> bytes:
    """The appeals table's key of an account-channel's pending appeal id. Appeal ids start
    with "ap-": this key cannot be one."""
    return f"pending:{channel}:{account_id}".encode()
