"""A self-contained HTML report of a replay's suspensions: inline SVG, no script, no CDN.

For every suspended account-channel it charts the month-to-date rates, day by day, of
the three rate signals against the policy's warn and suspend limits, with the day of the
suspension marked and the days before the minimum volume shaded (rates are not judged
there). With ``--compare`` the report is :mod:`offline.compare_report` instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from offline.chart import PANELS, RATE_COLOUR, SHADE_COLOUR, Limit, Marker, rate_chart
from offline.daily import DailyCounts, DayPoint
from offline.page import anchor, evidence_text, generated, legend, page, swatch
from policy.config import ChannelPolicy, Policy
from schemas.codec import encode
from schemas.types import Decision

if TYPE_CHECKING:
    from offline.result import ReplayResult

SUSPEND_COLOUR, WARN_COLOUR, SUSPENSION_COLOUR = "#c0392b", "#d68910", "#7d3c98"


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


def judged_from(channel: ChannelPolicy) -> int:
    """The month's sends from which this channel's rates can act (min_sends or floor)."""
    return channel.floor if channel.gating == "wilson" else channel.min_sends


def _page(result: ReplayResult, entries: list[_Entry], policy: Policy) -> str:
    rows = "".join(
        f"<tr><td><a href='#{_anchor(e.decision)}'>{escape(e.decision.account_id)}</a></td>"
        f"<td>{e.decision.channel}</td><td>{e.decision.reason}</td>"
        f"<td>{e.decision.suspension_type}</td><td>{e.decision.decided_at:%Y-%m-%d %H:%M}</td>"
        f"<td>{evidence_text(e.decision)}</td></tr>"
        for e in entries
    )
    sections = "".join(_section(e, policy) for e in entries)
    body = (
        f"<h1>Sendguard replay report</h1><p>Input <code>{escape(result.path)}</code>, "
        f"policy <code>{escape(policy.version)}</code>, {result.lines:,} {result.unit}, "
        f"{result.accounts:,} accounts, {len(entries)} suspended account-channels. "
        f"Generated {generated()}.</p>"
        + legend(
            [
                (swatch(RATE_COLOUR), "month-to-date rate"),
                (swatch(SUSPEND_COLOUR, "dashed"), "suspend limit"),
                (swatch(WARN_COLOUR, "dashed"), "warn limit"),
                (swatch(SUSPENSION_COLOUR), "suspension"),
                (swatch(SHADE_COLOUR, width=8), "below the minimum volume"),
            ]
        )
        + "<table><tr><th>account</th><th>channel</th><th>reason</th><th>type</th>"
        f"<th>decided at (event time)</th><th>evidence</th></tr>{rows}</table>{sections}"
    )
    return page(f"Sendguard replay: {result.path}", body)


def _anchor(decision: Decision) -> str:
    return anchor(decision.account_id, decision.channel)


def _section(entry: _Entry, policy: Policy) -> str:
    d = entry.decision
    channel = policy.channel(d.channel)
    limits = {
        name: [
            Limit(float(getattr(channel.suspend, name)), SUSPEND_COLOUR, "5,4", "suspend limit"),
            Limit(float(getattr(channel.warn, name)), WARN_COLOUR, "5,4", "warn limit"),
        ]
        for _, name, _ in PANELS
    }
    day = d.decided_at.date()
    marker = Marker(day, f"suspended {day}", SUSPENSION_COLOUR)
    chart = rate_chart(entry.series, limits, [marker], judged_from(channel))
    record = escape(encode(d).decode(), quote=False)
    return (
        f"<section id='{_anchor(d)}'><h2>{escape(d.account_id)} · {d.channel}: "
        f"suspended for {d.reason} on {d.decided_at:%Y-%m-%d}</h2>{chart}"
        f"<details><summary>decision record</summary><pre>{record}</pre></details></section>"
    )
