"""A self-contained HTML report of a replay's suspensions: inline SVG, no script, no CDN.

For every suspended account-channel it charts the month-to-date rates, day by day, of
the three rate signals against the policy's warn and suspend limits, with the day of the
suspension marked and the days before the minimum volume shaded (rates are not judged
there). One panel per signal, each on its own scale: a 0.1 % spam-report limit would be
an invisible line on a chart scaled for 5 % hard bounces.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from offline.daily import DailyCounts, DayPoint
from policy.config import Policy
from schemas.codec import encode
from schemas.types import Decision

if TYPE_CHECKING:
    from offline.result import ReplayResult

_PANELS = (
    ("hard_bounces", "hard_bounce_rate", "hard bounce rate"),
    ("spam_reports", "spam_report_rate", "spam report rate"),
    ("unsubscribes", "unsubscribe_rate", "unsubscribe rate"),
)
_W, _H, _PAD_L, _PAD_R, _PAD_T, _PAD_B = 310, 170, 56, 10, 22, 26
_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin-bottom: 2em; }
td, th { padding: 3px 10px; border-bottom: 1px solid #ddd; text-align: left; }
section { margin-bottom: 2.5em; }
svg text { font: 11px system-ui, sans-serif; fill: #444; }
.legend span { margin-right: 1.5em; }
"""


@dataclass(frozen=True)
class _Entry:
    decision: Decision
    series: list[DayPoint]


def write_report(path: Path, result: ReplayResult, daily: DailyCounts, policy: Policy) -> None:
    entries = []
    seen: set[tuple[str, str]] = set()
    for decision in result.decisions:
        key = (decision.account_id, decision.channel)
        if decision.action == "suspend" and key not in seen:
            seen.add(key)
            entries.append(_Entry(decision, daily.series(*key)))
    entries.sort(key=lambda e: (e.decision.channel, e.decision.account_id))
    path.write_text(_page(result, entries, policy), encoding="utf-8")


def _page(result: ReplayResult, entries: list[_Entry], policy: Policy) -> str:
    rows = "".join(
        f"<tr><td><a href='#{_anchor(e.decision)}'>{escape(e.decision.account_id)}</a></td>"
        f"<td>{e.decision.channel}</td><td>{e.decision.reason}</td>"
        f"<td>{e.decision.suspension_type}</td><td>{e.decision.decided_at:%Y-%m-%d %H:%M}</td>"
        f"<td>{_evidence_text(e.decision)}</td></tr>"
        for e in entries
    )
    sections = "".join(_section(e, policy) for e in entries)
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Sendguard replay: {escape(result.path)}</title><style>{_CSS}</style></head>"
        f"<body><h1>Sendguard replay report</h1><p>File <code>{escape(result.path)}</code>, "
        f"policy <code>{escape(policy.version)}</code>, {result.lines:,} lines, "
        f"{result.accounts:,} accounts, {len(entries)} suspended account-channels. "
        f"Generated {generated}.</p>"
        "<p class='legend'><span style='color:#1f5fbf'>&#9644; month-to-date rate</span>"
        "<span style='color:#c0392b'>- - suspend limit</span>"
        "<span style='color:#d68910'>- - warn limit</span>"
        "<span style='color:#7d3c98'>| suspension</span>"
        "<span style='color:#999'>&#9608; below the minimum volume</span></p>"
        "<table><tr><th>account</th><th>channel</th><th>reason</th><th>type</th>"
        f"<th>decided at (event time)</th><th>evidence</th></tr>{rows}</table>"
        f"{sections}</body></html>\n"
    )


def _anchor(decision: Decision) -> str:
    return escape(f"{decision.account_id}-{decision.channel}", quote=True)


def _evidence_text(decision: Decision) -> str:
    e = decision.evidence
    text = f"sent {e.sent:,}, hard {e.hard_bounces:,}, spam {e.spam_reports:,}, "
    text += f"unsub {e.unsubscribes:,}, abuse {e.abuse_complaints:,}"
    if e.rate is not None and e.limit is not None:
        text += f"; rate {e.rate:.3%} &gt; {e.limit:.3%}"
    return text


def _section(entry: _Entry, policy: Policy) -> str:
    d = entry.decision
    channel = policy.channel(d.channel)
    panels = []
    for i, (signal, limit_name, title) in enumerate(_PANELS):
        suspend = float(getattr(channel.suspend, limit_name))
        warn = float(getattr(channel.warn, limit_name))
        panels.append(
            f"<g transform='translate({i * (_W + 20)},0)'>"
            f"{_panel(entry.series, signal, title, suspend, warn, channel.min_sends, d)}</g>"
        )
    width = 3 * _W + 40
    record = escape(encode(d).decode(), quote=False)
    return (
        f"<section id='{_anchor(d)}'><h2>{escape(d.account_id)} · {d.channel}: "
        f"suspended for {d.reason} on {d.decided_at:%Y-%m-%d}</h2>"
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{_H}' "
        f"viewBox='0 0 {width} {_H}' role='img'>{''.join(panels)}</svg>"
        f"<details><summary>decision record</summary><pre>{record}</pre></details></section>"
    )


def _panel(
    series: list[DayPoint],
    signal: str,
    title: str,
    suspend: float,
    warn: float,
    min_sends: int,
    decision: Decision,
) -> str:
    left, right, top, bottom = _PAD_L, _W - _PAD_R, _PAD_T, _H - _PAD_B
    parts = [f"<text x='{left}' y='14'>{title}</text>"]
    rates = [p.rate(signal) for p in series]
    peak = max([r for r in rates if r is not None] + [suspend, warn, 1e-6]) * 1.15
    n = max(len(series) - 1, 1)

    def x(i: int) -> float:
        return left + (right - left) * i / n

    def y(rate: float) -> float:
        return bottom - (bottom - top) * rate / peak

    for i, point in enumerate(series):
        if point.day.day == 1 and i > 0:
            parts.append(
                f"<line x1='{x(i):.1f}' y1='{top}' x2='{x(i):.1f}' y2='{bottom}' "
                f"stroke='#aaa' stroke-dasharray='2,3'><title>{point.day:%B}: counts restart"
                "</title></line>"
            )
        if point.sent < min_sends:
            half = (right - left) / n / 2
            parts.append(
                f"<rect x='{max(left, x(i) - half):.1f}' y='{top}' "
                f"width='{min(2 * half, right - left):.1f}' height='{bottom - top}' fill='#eee'/>"
            )
    parts.append(
        f"<line x1='{left}' y1='{bottom}' x2='{right}' y2='{bottom}' stroke='#888'/>"
        f"<line x1='{left}' y1='{top}' x2='{left}' y2='{bottom}' stroke='#888'/>"
        f"<text x='{left - 4}' y='{bottom}' text-anchor='end'>0</text>"
        f"<text x='{left - 4}' y='{top + 8}' text-anchor='end'>{peak:.2%}</text>"
    )
    for limit, colour in ((suspend, "#c0392b"), (warn, "#d68910")):
        if limit > 0:
            parts.append(
                f"<line x1='{left}' y1='{y(limit):.1f}' x2='{right}' y2='{y(limit):.1f}' "
                f"stroke='{colour}' stroke-dasharray='5,4'/>"
            )
    points = " ".join(f"{x(i):.1f},{y(r):.1f}" for i, r in enumerate(rates) if r is not None)
    if points:
        parts.append(f"<polyline points='{points}' fill='none' stroke='#1f5fbf' stroke-width='2'/>")
    if series:
        parts.append(
            f"<text x='{left}' y='{_H - 8}'>{series[0].day:%m-%d}</text>"
            f"<text x='{right}' y='{_H - 8}' text-anchor='end'>{series[-1].day:%m-%d}</text>"
        )
        day = decision.decided_at.date()
        index = (day - series[0].day).days
        if 0 <= index < len(series):
            parts.append(
                f"<line x1='{x(index):.1f}' y1='{top}' x2='{x(index):.1f}' y2='{bottom}' "
                f"stroke='#7d3c98' stroke-width='2'><title>suspended {day}</title></line>"
            )
    return "".join(parts)
