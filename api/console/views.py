"""The console's pages: log in and out, the appeals queue and the audit trail, an
account's case and deciding its appeal, and where the shadow policy differs from live.

Every page but the login needs a session (``api.console.session``); without one a GET is
sent to the login and a POST gets 401. Every POST must repeat the session's CSRF token
(403 without it), and deciding needs a decider or an admin (403 for a viewer, whose pages
show no decide buttons). An account's pages are drawn by the worker that owns it
(``api.forwarding``), whichever worker the browser reached.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode

import msgspec
from faust import web as faust_web

from api.accounts import (
    DECISIONS_LISTED,
    QUEUE_FILTERS,
    HttpError,
    Surface,
    access,
    account_of_appeal,
    account_view,
    pending_queue,
    read_body,
    run_command,
    shadow_verdict,
)
from api.console import render
from api.console.session import COOKIE, TTL_S, Session, csrf_matches, issue, read
from api.console.shadow_diff import (
    INTERNAL_PATH,
    all_differences,
    local_differences,
    owned_partitions,
)
from api.forwarding import FORWARDED, hop_is_genuine, on_owner
from schemas import fields
from schemas.appeals import DecideAppeal, InvalidRequest, parse_operator_decision
from schemas.errors import InvalidEvent
from streams.app import Runtime
from tables.reads import appeal_reads, read_only

log = logging.getLogger("sendguard.console")
#: the pre-login cookie that the login form's CSRF token must match (double submit)
LOGIN_COOKIE = "sendguard_login"
#: a console form is a token, a note and a few fields
MAX_FORM_BYTES = 16 * 1024
#: decisions a case page lists, newest first
DECISIONS_SHOWN = 50
#: audit rows the audit page lists, newest first
AUDIT_SHOWN = 500
_PURPOSE = "console-session"

Handler = Callable[..., Awaitable[Any]]


def session_keys(surface: Surface) -> list[bytes]:
    """The keys sessions are signed with: from ``SENDGUARD_SECRET`` (every worker reads
    every session), or made now (sessions of this worker only)."""
    keyring = surface.authenticate.keyring
    if keyring:
        return [keyring.derived(_PURPOSE, key) for key in reversed(keyring.in_force())]
    log.warning("SENDGUARD_SECRET is unset: console sessions hold on this worker only")
    return [secrets.token_bytes(32)]


def _cookie(name: str, value: str, max_age: int) -> str:
    return f"{name}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age}"


def parse_form(body: bytes) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body: each field's first value. 400 for
    one that is not UTF-8 text."""
    try:
        text = body.decode("utf-8")
        found = parse_qs(text, keep_blank_values=True, strict_parsing=False,
                         max_num_fields=32)  # fmt: skip
    except (UnicodeDecodeError, ValueError) as exc:
        raise HttpError(400, f"not a form: {exc}") from None
    return {name: values[0] for name, values in found.items()}


def _safe_next(path: str) -> str:
    """Where to go after the login: a console path of printable ASCII only (no open
    redirect, nothing that could end the ``Location`` header)."""
    printable = all(33 <= ord(c) < 127 for c in path) and "\\" not in path
    if printable and path.startswith("/console/") and len(path) <= 512:
        return path
    return "/console/"


def _tables_open(rt: Runtime) -> None:
    """The shadow list reads this worker's tables, which close as it stops."""
    if rt.app.closing:
        raise HttpError(503, "this worker is stopping; retry shortly")


def register(rt: Runtime, surface: Surface) -> None:
    app = rt.app
    keys = session_keys(surface)
    operators = surface.authenticate.operators
    pending_appeals, appeal_by_id = appeal_reads(rt.tables, rt.settings.partitions)
    read_shadow = None if rt.shadow is None else read_only(rt.shadow.tables,
                                                           rt.settings.partitions)  # fmt: skip

    def current(request: Any) -> Session | None:
        """The request's session, with the operator's role as the file has it now."""
        found = read(keys, request.cookies.get(COOKIE), time.time())
        if found is None:
            return None
        operator = operators.named(found.name)
        if operator is None:
            return None
        return Session(operator.name, operator.role, found.expires, found.csrf)

    def html(view: Any, text: str, status: int = 200,
             headers: dict[str, str] | None = None) -> Any:  # fmt: skip
        return view.html(text, status=status, headers={
            "Cache-Control": "no-store", "X-Frame-Options": "DENY",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                                       "form-action 'self'; frame-ancestors 'none'",
            **(headers or {}),
        })  # fmt: skip

    def redirect(view: Any, to: str, cookie: str | None = None) -> Any:
        headers = {"Location": to}
        if cookie is not None:
            headers["Set-Cookie"] = cookie
        return html(view, "", 303, headers)

    def to_login(view: Any, request: Any) -> Any:
        """To the login, and back here after it (the query, filters included, kept)."""
        return redirect(view, "/console/login?" + urlencode({"next": str(request.rel_url)}))

    def problem(view: Any, status: int, message: str, session: Session | None) -> Any:
        body = f'<p class="error" role="alert">{render.esc(message)}</p>'
        return html(view, render.page("Error", body, session), status)

    def guarded(handler: Handler) -> Handler:
        async def run(view: Any, request: Any, **kwargs: Any) -> Any:
            try:
                response = await handler(view, request, **kwargs)
            except HttpError as exc:
                response = problem(view, exc.status, exc.body["error"], None)
            except Exception:
                log.exception("%s %s failed", request.method, request.path)
                response = problem(view, 500, "internal error; see the worker log", None)
            if request.method != "GET":
                who = current(request)
                access.info("%s %s by %s from %s: %d", request.method, request.path,
                            who.name if who else "nobody (no session)", request.remote,
                            response.status)  # fmt: skip
            return response

        return run

    def signed_in(handler: Handler) -> Handler:
        """A page for an operator with a session, given to ``handler`` after the request;
        anyone else goes to the login, and back here after it."""

        async def run(view: Any, request: Any, **kwargs: Any) -> Any:
            session = current(request)
            if session is None:
                return to_login(view, request)
            return await handler(view, request, session, **kwargs)

        return run

    def case(view: Any, account_id: str, session: Session, status: int = 200,
             error: str | None = None, notice: str | None = None) -> Any:  # fmt: skip
        """The account's case page, drawn here (on its owner)."""
        state, meta = surface.read(account_id)
        account = account_view(account_id, state, meta, datetime.now(UTC))
        newest = surface.newest_decisions(account_id, min(DECISIONS_SHOWN, DECISIONS_LISTED))
        decisions = [msgspec.json.decode(raw) for raw in newest]
        appeals = [msgspec.to_builtins(a) for a in pending_appeals(account_id)]
        account["contacts"] = {"primary contact": meta.primary_contact if meta else None,
                               "CSM": meta.csm if meta else None}  # fmt: skip
        for name, channel in account["channels"].items():
            if state is not None:
                channel["blocklists"] = list(state.channel(name).blocklists)
            advised = (d["advice"] for d in decisions
                       if d.get("channel") == name and d.get("advice"))  # fmt: skip
            channel["advice"] = next(advised, None)
        if read_shadow is not None and rt.shadow is not None:
            account["policy_version"] = rt.policy.version
            account["shadow"] = shadow_verdict(read_shadow(account_id)[0],
                                               rt.shadow.policy.version)  # fmt: skip
        text = render.case_page(account, appeals, decisions, rt.policy, session, error, notice,
                                surface.appeals.trail(account_id))  # fmt: skip
        return html(view, text, status)

    @app.page("/console/")
    class Home(faust_web.View):
        @guarded
        @signed_in
        async def get(self, request: Any, session: Session) -> Any:
            wanted = request.query.get("account", "").strip()
            if wanted:
                try:
                    fields.ident("account_id", wanted)
                except InvalidEvent as exc:
                    raise HttpError(422, str(exc)) from None
                return redirect(self, render.account_path(wanted))
            body = ('<h1>Find an account</h1><form method="get" action="/console/">'
                    '<input name="account" required size="40"> <button>Open</button>'
                    "</form>")  # fmt: skip
            return html(self, render.page("Console", body, session))

    @app.page("/console/appeals")
    class Queue(faust_web.View):
        @guarded
        @signed_in
        async def get(self, request: Any, session: Session) -> Any:
            filters, count, rows = pending_queue(surface.appeals, request.query)
            text = render.queue_page(rows, count, filters, QUEUE_FILTERS, session)
            return html(self, text)

    @app.page("/console/audit")
    class Audit(faust_web.View):
        @guarded
        @signed_in
        async def get(self, request: Any, session: Session) -> Any:
            rows = list(itertools.islice(surface.appeals.trail(), AUDIT_SHOWN))
            body = ("<h1>Audit trail</h1><p>Appeals filed and decided, newest first (the "
                    f"latest {AUDIT_SHOWN}).</p>{render.audit_table(rows)}")  # fmt: skip
            return html(self, render.page("Audit trail", body, session))

    @app.page("/console/shadow")
    class ShadowList(faust_web.View):
        @guarded
        @signed_in
        async def get(self, request: Any, session: Session) -> Any:
            if rt.shadow is None:
                body = ("<h1>Shadow policy</h1><p>No shadow policy runs on this worker "
                        "(<code>SENDGUARD_SHADOW_POLICY</code>).</p>")  # fmt: skip
                return html(self, render.page("Shadow policy", body, session))
            _tables_open(rt)
            rows, missing = await all_differences(rt, surface.keys)
            text = render.shadow_page(rows, missing, rt.policy.version,
                                      rt.shadow.policy.version, session)  # fmt: skip
            return html(self, text)

    @app.page(INTERNAL_PATH)
    class ShadowDifferences(faust_web.View):
        @guarded
        async def get(self, request: Any) -> Any:
            """This worker's differences, for another worker's ``/console/shadow``."""
            header = request.headers.get(FORWARDED)
            if header is None or not hop_is_genuine(surface.keys, header, "GET",
                                                     f"{INTERNAL_PATH}?", b"", time.time()):
                raise HttpError(401, f"{FORWARDED} without a valid signature")  # fmt: skip
            _tables_open(rt)
            owned, _ = owned_partitions(rt)
            return self.json({"differences": await local_differences(rt, owned)})

    @app.page("/console/login")
    class Login(faust_web.View):
        @guarded
        async def get(self, request: Any) -> Any:
            token = secrets.token_urlsafe(24)
            text = render.login_page(token, next_path=_safe_next(request.query.get("next", "")))
            return html(self, text, headers={"Set-Cookie": _cookie(LOGIN_COOKIE, token, 3600)})

        @guarded
        async def post(self, request: Any) -> Any:
            form = parse_form(await read_body(request, MAX_FORM_BYTES))
            again = secrets.token_urlsafe(24)
            next_path = _safe_next(form.get("next", ""))

            def refused(status: int, why: str) -> Any:
                return html(self, render.login_page(again, why, next_path), status,
                            {"Set-Cookie": _cookie(LOGIN_COOKIE, again, 3600)})  # fmt: skip

            expected = request.cookies.get(LOGIN_COOKIE, "")
            given = form.get("csrf", "")
            if not expected or not secrets.compare_digest(expected.encode(), given.encode()):
                return refused(403, "The form expired; log in again.")
            token = form.get("token", "").strip()
            operator = await operators.authenticate(token) if token.isascii() else None
            if operator is None:
                return refused(401, "That is not an operator token.")
            value, session = issue(keys, operator, time.time())
            log.info("console: %s (%s) logged in from %s", session.name, session.role,
                     request.remote)  # fmt: skip
            return redirect(self, next_path, _cookie(COOKIE, value, TTL_S))

    @app.page("/console/logout")
    class Logout(faust_web.View):
        @guarded
        async def post(self, request: Any) -> Any:
            session = current(request)
            form = parse_form(await read_body(request, MAX_FORM_BYTES))
            if session is not None and not csrf_matches(session, form.get("csrf")):
                return problem(self, 403, "missing or wrong CSRF token", session)
            return redirect(self, "/console/login", _cookie(COOKIE, "", 0))

    @app.page("/console/accounts/{account_id}")
    class Case(faust_web.View):
        @guarded
        @signed_in
        async def get(self, request: Any, session: Session, account_id: str) -> Any:
            try:
                fields.ident("account_id", account_id)
            except InvalidEvent as exc:
                raise HttpError(422, str(exc)) from None
            decided = request.query.get("decided")
            notice = f"Appeal decided: {decided}." if decided in ("restore", "deny") else None

            async def answer() -> Any:
                return case(self, account_id, session, notice=notice)

            return await on_owner(rt, surface.keys, self, request, account_id, answer)

    @app.page("/console/appeals/{appeal_id}/decision")
    class Decide(faust_web.View):
        @guarded
        async def post(self, request: Any, appeal_id: str) -> Any:
            session = current(request)
            if session is None:
                return problem(self, 401, "log in first", None)
            body = await read_body(request, MAX_FORM_BYTES)
            form = parse_form(body)
            if not csrf_matches(session, form.get("csrf")):
                return problem(self, 403, "missing or wrong CSRF token", session)
            if not session.operator.may_decide:
                return problem(self, 403, f"{session.name} is a {session.role}: deciding "
                                          "needs a decider or admin", session)  # fmt: skip
            account_id = account_of_appeal(appeal_id)

            async def answer() -> Any:
                note = form.get("note", "").strip()
                try:
                    if not note:
                        raise InvalidRequest("note", "a note is required")
                    decision = parse_operator_decision(msgspec.json.encode(
                        {"decision": form.get("decision"), "note": note}
                    ))  # fmt: skip
                except InvalidRequest as exc:
                    return case(self, account_id, session, 422, f"{exc.field}: {exc}")
                command = DecideAppeal(
                    command_id=uuid.uuid4().hex, account_id=account_id, appeal_id=appeal_id,
                    decision=decision.decision, note=decision.note, decided_by=session.name,
                )  # fmt: skip
                result = await run_command(rt, account_id, command)
                if result.status == 200:
                    query = urlencode({"decided": decision.decision})
                    return redirect(self, f"{render.account_path(account_id)}?{query}")
                error = str(result.body.get("error", "refused"))
                earlier = appeal_by_id(account_id, appeal_id)
                if earlier is not None and earlier.decided_by:
                    at = f"{earlier.decided_at:%Y-%m-%d %H:%M:%S} UTC"
                    error = f"Already decided by {earlier.decided_by} at {at} ({earlier.status})."
                return case(self, account_id, session, result.status, error)

            return await on_owner(rt, surface.keys, self, request, account_id, answer, body)


