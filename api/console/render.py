"""The console's HTML, drawn on the server: no script, every value escaped.

Account ids, banners, notes, reasons and evidence come from producers, accounts and
operators; each goes through :func:`esc` (``html.escape`` with quotes) before it reaches
a page, attribute values included.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from api.console.session import Session
from policy.config import ChannelPolicy, Policy
from policy.rules import wilson_lower

#: the rates an account page draws, with the limits that judge them
RATES = ("hard_bounce_rate", "spam_report_rate", "unsubscribe_rate")
_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222}
header{background:#243b53;color:#fff;padding:8px 16px;display:flex;gap:16px;align-items:center}
header a{color:#fff}header form{margin-left:auto}main{padding:16px;max-width:1100px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;
text-align:left;vertical-align:top}.error{background:#fde2e1;border:1px solid #c0392b;
padding:8px;margin:8px 0}.notice{background:#e3f4e1;border:1px solid #2e7d32;padding:8px;
margin:8px 0}.state-suspended{color:#c0392b;font-weight:bold}.state-warned{color:#b9770e}
section{border:1px solid #ddd;padding:8px 12px;margin:12px 0}code{font-size:12px}
.shadow-differs{background:#fff4d6;padding:4px}
"""


def esc(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def page(title: str, body: str, session: Session | None = None) -> str:
    who = ""
    if session is not None:
        who = ('<a href="/console/appeals">Appeals</a><a href="/console/audit">Audit</a>'
               '<a href="/console/shadow">Shadow</a><a href="/console/">Accounts</a>'
               f'<span>{esc(session.name)} ({esc(session.role)})</span>'
               f'<form method="post" action="/console/logout">{csrf_field(session)}'
               '<button type="submit">Log out</button></form>')  # fmt: skip
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{esc(title)} · Sendguard</title><style>{_STYLE}</style></head><body>"
        f'<header><strong>Sendguard console</strong>{who}</header>'
        f"<main>{body}</main></body></html>"
    )


def csrf_field(session: Session) -> str:
    return f'<input type="hidden" name="csrf" value="{esc(session.csrf)}">'


def login_page(csrf: str, error: str | None = None, next_path: str = "") -> str:
    message = f'<p class="error" role="alert">{esc(error)}</p>' if error else ""
    return page("Log in", (
        "<h1>Log in</h1>" + message +
        '<form method="post" action="/console/login">'
        f'<input type="hidden" name="csrf" value="{esc(csrf)}">'
        f'<input type="hidden" name="next" value="{esc(next_path)}">'
        '<label>Operator token <input type="password" name="token" autocomplete="off" '
        'required size="60"></label> <button type="submit">Log in</button></form>'
        "<p>An operator token comes from <code>sendguard operator add NAME --role ROLE</code>."
        "</p>"
    ))  # fmt: skip


def account_path(account_id: str) -> str:
    return "/console/accounts/" + quote(account_id, safe="")


#: the count each rate divides by the month's sends
NUMERATORS = {"hard_bounce_rate": "hard_bounces", "spam_report_rate": "spam_reports",
              "unsubscribe_rate": "unsubscribes"}  # fmt: skip


def rate_chart(
    name: str, rate: float | None, sent: int, limits: ChannelPolicy, count: int = 0
) -> str:
    """One rate as a bar against its warn and suspend limits (an SVG); under Wilson
    gating also the lower bound the limits judge (``policy.rules``)."""
    warn, suspend = getattr(limits.warn, name), getattr(limits.suspend, name)
    wilson = limits.gating == "wilson"
    lower = wilson_lower(count, sent, limits.z) if wilson and sent >= limits.floor > 0 else None
    top = max(suspend * 1.5, warn * 1.5, rate or 0.0) or 1.0
    width = 300

    def x(value: float) -> float:
        return round(10 + width * value / top, 1)

    bar = "" if rate is None else (
        f'<rect class="rate" x="10" y="8" width="{x(rate) - 10}" height="14" fill="#4a78a8">'
        f"<title>{esc(name)} {rate:.4%}</title></rect>"
    )  # fmt: skip
    lines = "".join(
        f'<line class="limit" data-limit="{kind}" data-value="{value}" x1="{x(value)}" '
        f'x2="{x(value)}" y1="2" y2="28" stroke="{colour}" stroke-width="2">'
        f"<title>{kind} limit {value:.4%}</title></line>"
        for kind, value, colour in (("warn", warn, "#b9770e"), ("suspend", suspend, "#c0392b"))
    )  # fmt: skip
    needed = limits.floor if wilson else limits.min_sends
    judged = "" if sent >= needed else (
        f'<text x="{10 + width + 4}" y="20" font-size="10">under {needed:,} sent: '
        "not judged</text>"
    )  # fmt: skip
    if lower is not None:
        lines += (
            f'<circle class="lower-bound" data-value="{round(lower, 6)}" cx="{x(lower)}" '
            f'cy="15" r="4" fill="#222"><title>Wilson lower bound {lower:.4%} at '
            f"{limits.confidence:.0%} confidence</title></circle>"
            f'<text x="{10 + width + 4}" y="20" font-size="10">lower bound {lower:.3%}</text>'
        )  # fmt: skip
    return (f'<svg class="rate-chart" data-rate="{esc(name)}" width="{width + 180}" height="34" '
            f'role="img" aria-label="{esc(name)}">'
            f'<line x1="10" x2="{10 + width}" y1="15" y2="15" stroke="#ddd"/>'
            f"{bar}{lines}{judged}</svg>")  # fmt: skip


def _shadow(live: Mapping[str, Any], shadow: Mapping[str, Any] | None, version: str) -> str:
    """The shadow policy's verdict on a channel, marked when it differs from the live one."""
    if shadow is None:
        return ""
    differs = (shadow["state"], shadow["reason"]) != (live["state"], live["reason"])
    verdict = esc(shadow["state"]) + (f" ({esc(shadow['reason'])})" if shadow["reason"] else "")
    mark = ' class="shadow-differs"' if differs else ""
    return (f'<p{mark} data-shadow-state="{esc(shadow["state"])}">Shadow policy '
            f"<code>{esc(version)}</code>: <strong>{verdict}</strong>"
            f"{' — differs from the live policy' if differs else ', as live'}.</p>")  # fmt: skip


def _channel(
    name: str, channel: Mapping[str, Any], limits: ChannelPolicy, shadow: str = ""
) -> str:
    state = channel["state"]
    facts = [
        ("state", f'<span class="state-{esc(state)}">{esc(state)}</span>'),
        ("reason", esc(channel["reason"])),
        ("suspension type", esc(channel["suspension_type"])),
        ("since", esc(channel["since"])),
        ("decided by", esc(channel["decided_by"])),
        ("banner", esc(channel["banner"])),
        ("advice", esc(channel.get("advice"))),
        ("probation until", esc(channel["probation_until"])),
        ("blocklistings in force", esc(", ".join(channel.get("blocklists") or [])
                                       or channel["blocklistings_in_force"])),
        ("month", esc(channel["period"])),
    ]
    rows = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in facts if v)
    counts = channel["counts"]
    count_rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in counts.items())
    rates = channel["rates"]
    charts = "".join(
        f"<tr><th>{esc(rate)}</th><td>"
        f"{'—' if rates[rate] is None else f'{rates[rate]:.4%}'}</td>"
        f"<td>{rate_chart(rate, rates[rate], counts['sent'], limits, counts[NUMERATORS[rate]])}"
        "</td></tr>"
        for rate in RATES
    )  # fmt: skip
    return (f'<section class="channel" data-channel="{esc(name)}"><h2>{esc(name)}</h2>'
            f"<table>{rows}</table>{shadow}<h3>This month</h3><table>{count_rows}</table>"
            "<table><tr><th>rate</th><th>value</th><th>against the limits (minimum "
            f"volume {limits.min_sends:,} sent)</th></tr>{charts}</table></section>")  # fmt: skip


def _appeal(appeal: Mapping[str, Any], session: Session, error: str | None) -> str:
    appeal_id = appeal["appeal_id"]
    facts = "".join(
        f"<tr><th>{esc(k)}</th><td>{esc(appeal.get(k))}</td></tr>"
        for k in ("channel", "kind", "queue", "tier", "status", "filed_at",
                  "suspension_reason", "decided_by", "decided_at", "note")
        if appeal.get(k) is not None
    )  # fmt: skip
    form = json.dumps(appeal.get("form"), ensure_ascii=False, indent=1)
    decide = ""
    if appeal.get("status") == "pending" and session.operator.may_decide:
        message = f'<p class="error" role="alert">{esc(error)}</p>' if error else ""
        decide = (
            f'{message}<form method="post" class="decide" '
            f'action="/console/appeals/{quote(appeal_id, safe="")}/decision">'
            f"{csrf_field(session)}"
            '<label>Note (required) <textarea name="note" rows="2" cols="60"></textarea></label>'
            '<button type="submit" name="decision" value="restore">Restore</button> '
            '<button type="submit" name="decision" value="deny">Deny</button></form>'
        )  # fmt: skip
    return (f'<section class="appeal" data-appeal="{esc(appeal_id)}"><h3>Appeal '
            f"<code>{esc(appeal_id)}</code></h3><table>{facts}</table>"
            f"<details><summary>The account's answers</summary><pre>{esc(form)}</pre>"
            f"</details>{decide}</section>")  # fmt: skip


def _decision(d: Mapping[str, Any]) -> str:
    evidence = json.dumps(d.get("evidence"), ensure_ascii=False, sort_keys=True)
    return ("<tr>" + "".join(f"<td>{esc(d.get(k))}</td>" for k in
            ("decided_at", "action", "channel", "reason", "decided_by")) +
            f"<td><code>{esc(evidence)}</code></td></tr>")  # fmt: skip


def case_page(
    view: Mapping[str, Any],
    appeals: Iterable[Mapping[str, Any]],
    decisions: Iterable[Mapping[str, Any]],
    policy: Policy,
    session: Session,
    error: str | None = None,
    notice: str | None = None,
    trail: Iterable[Any] = (),
) -> str:
    account_id = view["account_id"]
    head = (f"<h1>Account <code>{esc(account_id)}</code></h1>"
            f"<p>Tier <strong>{esc(view['tier'])}</strong>, month {esc(view['period'])}"
            f"{', review required' if view.get('review_required') else ''}."
            + "".join(f" {esc(k.capitalize() if k != 'CSM' else k)}: {esc(v)}."
                      for k, v in (view.get("contacts") or {}).items() if v)
            + "</p>")  # fmt: skip
    banners = (f'<p class="notice" role="status">{esc(notice)}</p>' if notice else "")
    appeal_html = "".join(_appeal(a, session, error) for a in appeals)
    if error and not appeal_html:
        banners += f'<p class="error" role="alert">{esc(error)}</p>'
    verdicts = view.get("shadow")
    channels = "".join(
        _channel(name, channel, policy.channel(name), _shadow(
            channel, verdicts["channels"][name] if verdicts else None,
            verdicts["policy_version"] if verdicts else "",
        ))
        for name, channel in view["channels"].items()
    )  # fmt: skip
    rows = "".join(_decision(d) for d in decisions)
    history = ("<section><h2>Decisions, newest first</h2><table><tr><th>at</th><th>action</th>"
               "<th>channel</th><th>reason</th><th>decided by</th><th>evidence</th></tr>"
               f"{rows}</table></section>")  # fmt: skip
    appeals_section = (f"<section><h2>Appeals</h2>{appeal_html}</section>" if appeal_html
                       else "<p>No appeal waits for this account.</p>")  # fmt: skip
    audit = f"<section><h2>Audit trail</h2>{audit_table(trail)}</section>"
    return page(f"Account {account_id}",
                head + banners + appeals_section + channels + history + audit, session)  # fmt: skip


def _select(name: str, options: Iterable[str], chosen: str | None) -> str:
    items = "".join(
        f'<option value="{esc(o)}"{" selected" if o == chosen else ""}>{esc(o) or "any"}</option>'
        for o in ("", *options)
    )
    return f'<label>{esc(name)} <select name="{esc(name)}">{items}</select></label> '


def _age(seconds: int) -> str:
    days, rest = divmod(seconds, 86_400)
    return f"{days} d {rest // 3600} h" if days else f"{rest // 3600} h {rest % 3600 // 60} min"


def queue_page(
    rows: Sequence[Mapping[str, Any]], count: int, filters: Mapping[str, str | None],
    choices: Mapping[str, Iterable[str]], session: Session,
) -> str:  # fmt: skip
    """The pending appeals, oldest first; the filters are a GET form, so in the URL."""
    form = ('<form method="get" action="/console/appeals">'
            + "".join(_select(n, choices[n], filters.get(n)) for n in choices)
            + '<button type="submit">Filter</button></form>')  # fmt: skip
    body = "".join(
        f'<tr data-appeal="{esc(r["appeal_id"])}"><td>{esc(_age(r["age_s"]))}</td>'
        f"<td>{esc(r['filed_at'])}</td>"
        f'<td><a href="{esc(account_path(r["account_id"]))}">{esc(r["account_id"])}</a></td>'
        + "".join(f"<td>{esc(r[k])}</td>" for k in ("tier", "channel", "queue", "kind",
                                                   "suspension_reason"))
        + "</tr>"
        for r in rows
    )  # fmt: skip
    table = ("<table><tr><th>waiting</th><th>filed</th><th>account</th><th>tier</th>"
             "<th>channel</th><th>queue</th><th>kind</th><th>suspended for</th></tr>"
             f"{body}</table>")  # fmt: skip
    shown = "" if len(rows) == count else f" (the oldest {len(rows)} shown)"
    return page("Appeals", f'<h1>Pending appeals</h1>{form}<p class="count">'
                f'<span id="count">{count}</span> pending{shown}.</p>{table}', session)  # fmt: skip


def audit_table(rows: Iterable[Any]) -> str:
    """Audit rows (``api.appeal_index.AuditRow``), newest first."""
    body = "".join(
        f'<tr class="audit"><td>{esc(r.at.isoformat())}</td><td>{esc(r.actor)}</td>'
        f"<td>{esc(r.action)}</td>"
        f'<td><a href="{esc(account_path(r.account_id))}">{esc(r.account_id)}</a></td>'
        f"<td>{esc(r.channel)}</td><td><code>{esc(r.appeal_id)}</code></td>"
        f"<td>{esc(r.note)}</td></tr>"
        for r in rows
    )
    return ("<table><tr><th>at</th><th>actor</th><th>action</th><th>account</th>"
            f"<th>channel</th><th>appeal</th><th>note</th></tr>{body}</table>")  # fmt: skip


def shadow_page(
    rows: Sequence[Mapping[str, Any]], missing: Sequence[str], live_version: str,
    shadow_version: str, session: Session,
) -> str:  # fmt: skip
    """The accounts where the shadow policy's verdict differs from the live one."""
    body = "".join(
        f'<tr class="differs"><td><a href="{esc(account_path(r["account_id"]))}">'
        f'{esc(r["account_id"])}</a></td>'
        + "".join(f"<td>{esc(r[k])}</td>" for k in ("channel", "live_state", "live_reason",
                                                   "shadow_state", "shadow_reason"))
        + "</tr>"
        for r in rows
    )  # fmt: skip
    gaps = "".join(f"<li>{esc(m)}</li>" for m in missing)
    warning = (f'<div class="error" role="alert">Not every worker answered; these are '
               f"missing:<ul>{gaps}</ul></div>" if missing else "")  # fmt: skip
    return page("Shadow policy", (
        f"<h1>Live and shadow differ</h1><p>Live policy <code>{esc(live_version)}</code>, "
        f"shadow <code>{esc(shadow_version)}</code>: <span id=\"count\">{len(rows)}</span> "
        f"account channels differ.</p>{warning}<table><tr><th>account</th><th>channel</th>"
        "<th>live</th><th>live reason</th><th>shadow</th><th>shadow reason</th></tr>"
        f"{body}</table>"
    ), session)  # fmt: skip
