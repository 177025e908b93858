"""The HTTP API of CONTRACT.md on the worker's web port: accounts and appeals.

Every call needs ``Authorization: Bearer <token>``: 401 when it is missing or bad, 403 when
it belongs to someone who may not make the call. Bodies are size-limited and validated
(422 naming the field). Each request is answered by the worker that owns the account's
partition (``api.forwarding``); writes go through the guard agent (``streams.commands``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import wraps
from typing import Any, get_args

import msgspec
from faust import web as faust_web

from agents.envelope import wrap
from api.appeal_index import AppealIndex
from api.auth import Authenticator, NotYet, Principal
from api.errors import ApiError
from api.forwarding import hop_keys, on_owner
from api.revocations import Revocations, follow
from policy.appeals import Admission, admit_appeal
from policy.engine import period_of
from policy.state import AccountState
from schemas import fields
from schemas.appeals import (
    MAX_BODY_BYTES,
    Appeal,
    AppealForm,
    AppealQueue,
    DecideAppeal,
    FileAppeal,
    InvalidRequest,
    appeal_channel,
    parse_appeal_form,
    parse_operator_decision,
)
from schemas.errors import InvalidEvent
from schemas.limits import MAX_APPEAL_ID_CHARS
from schemas.types import CHANNELS, AccountMeta, Tier
from streams.app import Runtime
from streams.commands import CommandResult
from tables.reads import decision_list, read_only

log = logging.getLogger("sendguard.api")
#: one line per write: the call, its actor and source address, and the answer's status
access = logging.getLogger("sendguard.access")
#: ``GET /accounts/{id}/decisions`` lists at most this many, newest first.
DECISIONS_LISTED = 200
COMMAND_TIMEOUT_S = 15.0

Handler = Callable[..., Awaitable[Any]]


class HttpError(ApiError):
    """A request answered with ``status`` and ``{"error": message}``: the API's one error."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": message, **extra}


def appeal_id_for(account_id: str) -> str:
    """A new appeal id that carries its account, so any worker can route a decision."""
    encoded = base64.urlsafe_b64encode(account_id.encode()).decode().rstrip("=")
    return f"ap-{uuid.uuid4().hex[:16]}-{encoded}"


def account_of_appeal(appeal_id: str) -> str:
    """The account an appeal id carries; 404 for an id no appeal can have. An id the
    guard's command check would refuse (too long, control characters) is refused here:
    its command would be dead-lettered and the caller would wait for no answer."""
    unknown = HttpError(404, f"no appeal {appeal_id[:MAX_APPEAL_ID_CHARS]!r}")
    prefix, _, rest = appeal_id.partition("-")
    _, _, encoded = rest.partition("-")
    if prefix != "ap" or not encoded or len(appeal_id) > MAX_APPEAL_ID_CHARS:
        raise unknown
    try:
        account_id = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
        return fields.ident("account_id", account_id)
    except (binascii.Error, UnicodeDecodeError, ValueError, InvalidEvent):
        raise unknown from None


async def run_command(
    rt: Runtime, account_id: str, command: FileAppeal | DecideAppeal
) -> CommandResult:
    """Queue a command for the guard (on this worker: it owns the account) and wait for
    its answer; 503 if none comes in time."""
    waiting = rt.commands.expect(command.command_id)
    try:
        await rt.topics.events.send(key=account_id.encode(), value=wrap(command))
        return await asyncio.wait_for(waiting, COMMAND_TIMEOUT_S)
    except TimeoutError:
        raise HttpError(503, "the worker did not confirm in time; check the status") from None
    finally:
        rt.commands.forget(command.command_id)


#: ``GET /appeals`` lists at most this many (``count`` says how many there are).
QUEUE_LISTED = 1000
QUEUE_FILTERS: dict[str, tuple[str, ...]] = {
    "queue": get_args(AppealQueue),
    "tier": get_args(Tier),
    "channel": CHANNELS,
}


def queue_filters(query: Mapping[str, str]) -> dict[str, str | None]:
    """The queue's filters from a query string; 422 naming the field for an unknown value."""
    found: dict[str, str | None] = {}
    for name, allowed in QUEUE_FILTERS.items():
        value = query.get(name) or None
        if value is not None and value not in allowed:
            raise HttpError(422, f"{name}: unknown value {value[:40]!r} (one of "
                                 f"{', '.join(allowed)})", field=name)  # fmt: skip
        found[name] = value
    return found


def pending_queue(
    index: AppealIndex, query: Mapping[str, str]
) -> tuple[dict[str, str | None], int, list[dict[str, Any]]]:
    """The queue a query asks for: its filters, how many appeals wait, and the oldest
    :data:`QUEUE_LISTED` of them. 422 for an unknown filter value, 503 until the index has
    read the appeals once."""
    filters = queue_filters(query)
    if not index.caught_up:
        raise HttpError(503, "reading the appeals; retry shortly")
    now = datetime.now(UTC)
    found = index.queue(**filters)
    return filters, len(found), [queue_row(a, now) for a in found[:QUEUE_LISTED]]


def queue_row(appeal: Appeal, now: datetime) -> dict[str, Any]:
    return {
        "appeal_id": appeal.appeal_id, "account_id": appeal.account_id,
        "channel": appeal.channel, "kind": appeal.kind, "queue": appeal.queue,
        "tier": appeal.tier, "suspension_reason": appeal.suspension_reason,
        "filed_at": appeal.filed_at.isoformat(),
        "age_s": max(0, int((now - appeal.filed_at).total_seconds())),
    }  # fmt: skip


def admit_filing(body: bytes, tier: Tier, state: AccountState) -> tuple[AppealForm, Admission]:
    """An appeal's checks in their order: the body and its channel (422), then the tier
    and the channel's state (403, 409), and only then the form's answers (422)."""
    channel = appeal_channel(body)
    admission = admit_appeal(tier, channel, state.channel(channel).status)
    if not admission.accepted:
        raise HttpError(admission.status, admission.reason)
    return parse_appeal_form(body), admission


async def read_body(request: Any, limit: int = MAX_BODY_BYTES) -> bytes:
    """The whole body, however many TCP writes or chunks it came in; 413 past ``limit``
    (read no further than one byte past it)."""
    length = request.content_length
    if length is not None and length > limit:
        raise HttpError(413, f"body larger than {limit} bytes")
    parts: list[bytes] = []
    size = 0
    while size <= limit:
        part = await request.content.read(limit + 1 - size)
        if not part:
            break
        parts.append(part)
        size += len(part)
    if size > limit:
        raise HttpError(413, f"body larger than {limit} bytes")
    return b"".join(parts)


def account_view(
    account_id: str, state: AccountState | None, meta: AccountMeta | None, now: datetime
) -> dict:
    """State per channel and this month's counts and rates.

    "This month" is the guard's, not the wall clock's: each channel's counts are those of
    the month it counts its events in (its latest event's month, UTC; ``now``'s for a
    channel with none), the month its status and warnings belong to. After midnight on
    the 1st that is still the old month until the channel's first event of the new one
    arrives (late events of the old month still count in it). The account's ``period``
    is the latest month of its channels' events (``now``'s if none has any)."""
    state = state or AccountState.new(account_id)
    channels = {}
    today = period_of(now)
    for name in CHANNELS:
        channel = state.channel(name)
        period = channel.period or today
        counts = channel.periods.get(period)
        sent = counts.sent if counts else 0

        def rate(n: int, sent: int = sent) -> float | None:
            return round(n / sent, 6) if sent else None

        c = {
            "sent": sent,
            "hard_bounces": counts.hard_bounces if counts else 0,
            "soft_bounces": counts.soft_bounces if counts else 0,
            "spam_reports": counts.spam_reports if counts else 0,
            "unsubscribes": counts.unsubscribes if counts else 0,
            "abuse_complaints": counts.abuse_complaints if counts else 0,
            "spam_trap_hits": counts.spam_trap_hits if counts else 0,
        }
        channels[name] = {
            "period": period,
            "state": channel.status.state,
            "reason": channel.status.reason,
            "suspension_type": channel.status.suspension_type,
            "since": channel.status.since.isoformat() if channel.status.since else None,
            "decided_by": channel.status.decided_by,
            "banner": channel.banner,
            "probation_until": (
                channel.probation_until.isoformat() if channel.probation_until else None
            ),
            "blocklistings_in_force": len(channel.blocklists),
            "counts": c,
            "rates": {
                "hard_bounce_rate": rate(c["hard_bounces"]),
                "spam_report_rate": rate(c["spam_reports"]),
                "unsubscribe_rate": rate(c["unsubscribes"]),
            },
        }
    return {
        "account_id": account_id,
        "tier": meta.tier if meta else "free",
        "review_required": meta.review_required if meta else False,
        "period": max((c.period for c in state.channels.values() if c.period),
                      default=today),
        "channels": channels,
    }


def shadow_verdict(state: AccountState | None, policy_version: str) -> dict[str, Any]:
    """What the shadow policy would have each channel be, for operators."""
    channels = {}
    for name in CHANNELS:
        status = None if state is None else state.channel(name).status
        channels[name] = {
            "state": status.state if status else "active",
            "reason": status.reason if status else None,
            "suspension_type": status.suspension_type if status else None,
            "since": status.since.isoformat() if status and status.since else None,
        }
    return {"policy_version": policy_version, "channels": channels}


@dataclass(frozen=True)
class Surface:
    """What the account calls set up, for the console's pages to share."""

    authenticate: Authenticator
    #: the cluster keys of forwarded requests (``api.forwarding``)
    keys: list[bytes]
    read: Callable[[str], tuple[AccountState | None, AccountMeta | None]]
    newest_decisions: Callable[[str, int], list[bytes]]
    appeals: AppealIndex


def register(rt: Runtime) -> Surface:
    app = rt.app
    revocations = Revocations()
    authenticate = Authenticator(rt.settings, revocations)
    keys = hop_keys(authenticate.keyring)

    @app.task
    async def follow_revocations() -> None:
        await follow(rt.settings.kafka_bootstrap, rt.settings.topic_names.token_revocations,
                     revocations)  # fmt: skip

    index = AppealIndex()

    @app.task
    async def follow_appeals() -> None:
        await follow(rt.settings.kafka_bootstrap, rt.settings.topic_names.appeals, index)

    read = read_only(rt.tables, rt.settings.partitions)
    shadow = rt.shadow
    read_shadow = None if shadow is None else read_only(shadow.tables, rt.settings.partitions)
    newest_decisions = decision_list(rt.tables, rt.settings.partitions)

    async def principal(request: Any) -> Principal:
        try:
            found = await authenticate(request.headers.get("Authorization"))
        except NotYet:
            raise HttpError(503, "reading the token revocations; retry shortly") from None
        if isinstance(found, str):
            raise HttpError(401, found)
        request["principal"] = found
        return found

    def guarded(handler: Handler) -> Handler:
        @wraps(handler)
        async def run(view: Any, request: Any, **kwargs: Any) -> Any:
            try:
                response = await handler(view, request, **kwargs)
            except HttpError as exc:
                response = view.json(exc.body, status=exc.status)
            except InvalidRequest as exc:
                response = view.json({"error": str(exc), "field": exc.field}, status=422)
            except Exception:
                log.exception("%s %s failed", request.method, request.path)
                response = view.json({"error": "internal error; see the worker log"}, status=500)
            if request.method != "GET":
                who = request.get("principal")
                access.info("%s %s by %s from %s: %d", request.method, request.path,
                            who.name if who else "nobody (unauthenticated)",
                            request.remote, response.status)  # fmt: skip
            return response

        return run

    @app.page("/accounts/{account_id}")
    class AccountPage(faust_web.View):
        @guarded
        async def get(self, request: Any, account_id: str) -> Any:
            who = await principal(request)
            if not who.may_act_for(account_id):
                raise HttpError(403, "this token belongs to another account")

            async def answer() -> Any:
                view = account_view(account_id, *read(account_id), datetime.now(UTC))
                if who.operator and shadow is not None and read_shadow is not None:
                    state, _ = read_shadow(account_id)
                    view["policy_version"] = rt.policy.version
                    view["shadow"] = shadow_verdict(state, shadow.policy.version)
                return self.json(view)

            return await on_owner(rt, keys, self, request, account_id, answer)

    @app.page("/accounts/{account_id}/decisions")
    class DecisionsPage(faust_web.View):
        @guarded
        async def get(self, request: Any, account_id: str) -> Any:
            """The account's decisions with their evidence and advice, newest first."""
            if not (await principal(request)).may_act_for(account_id):
                raise HttpError(403, "this token belongs to another account")

            async def answer() -> Any:
                records = b",".join(newest_decisions(account_id, DECISIONS_LISTED))
                body = b'{"account_id":' + msgspec.json.encode(account_id)
                return self.bytes(body + b',"decisions":[' + records + b"]}",
                                  content_type="application/json")  # fmt: skip

            return await on_owner(rt, keys, self, request, account_id, answer)

    @app.page("/accounts/{account_id}/appeals")
    class AppealsPage(faust_web.View):
        @guarded
        async def post(self, request: Any, account_id: str) -> Any:
            who = await principal(request)
            if who.operator:
                raise HttpError(403, "appeals are filed by the account itself")
            if who.account_id != account_id:
                raise HttpError(403, "this token belongs to another account")
            body = await read_body(request)
            appeal_channel(body)  # a body that is not an appeal at all: 422 at once

            async def answer() -> Any:
                state, meta = read(account_id)
                state = state or AccountState.new(account_id)
                form, admission = admit_filing(body, meta.tier if meta else "free", state)
                status = state.channel(form.channel).status
                appeal = Appeal(
                    appeal_id=appeal_id_for(account_id),
                    account_id=account_id,
                    channel=form.channel,
                    kind=admission.kind,
                    queue=admission.queue,
                    tier=meta.tier if meta else "free",
                    suspension_reason=status.reason,
                    suspension_type=status.suspension_type,
                    form=form,
                    filed_at=datetime.now(UTC),
                )
                command = FileAppeal(command_id=uuid.uuid4().hex, appeal=appeal)
                result = await run_command(rt, account_id, command)
                return self.json(result.body, status=result.status)

            return await on_owner(rt, keys, self, request, account_id, answer, body)

    @app.page("/appeals/{appeal_id}/decision")
    class DecisionPage(faust_web.View):
        @guarded
        async def post(self, request: Any, appeal_id: str) -> Any:
            who = await principal(request)
            if who.operator is None:
                raise HttpError(403, "only operators decide appeals")
            if not who.operator.may_decide:
                raise HttpError(403, f"operator {who.operator.name} is a "
                                     f"{who.operator.role}: deciding needs a decider or admin")
            account_id = account_of_appeal(appeal_id)
            body = await read_body(request)
            decision = parse_operator_decision(body)

            async def answer() -> Any:
                command = DecideAppeal(
                    command_id=uuid.uuid4().hex,
                    account_id=account_id,
                    appeal_id=appeal_id,
                    decision=decision.decision,
                    note=decision.note,
                    decided_by=who.name,
                )
                result = await run_command(rt, account_id, command)
                return self.json(result.body, status=result.status)

            return await on_owner(rt, keys, self, request, account_id, answer, body)

    @app.page("/appeals")
    class QueuePage(faust_web.View):
        @guarded
        async def get(self, request: Any) -> Any:
            """Pending appeals of every account, oldest first, from any worker."""
            who = await principal(request)
            if who.operator is None:
                raise HttpError(403, "the appeals queue is for operators")
            filters, count, rows = pending_queue(index, request.query)
            return self.json({"count": count, "filters": filters, "appeals": rows})

    return Surface(authenticate, keys, read, newest_decisions, index)
