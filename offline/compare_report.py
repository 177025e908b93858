"""The HTML report of a policy comparison: ``replay --compare OTHER --report OUT.html``.

A summary of the decisions that differ (by action and kind), then one section per
account-channel whose decisions differ under the two policies in action, reason or time.
Each section charts the month-to-date rates against both policies' warn and suspend
limits (the policies told apart by the dash of their lines), marks every decision of
both (a letter per action in the policy's own row, and a line through the plot; the
decisions both make at the same time faint), and lists the two decision lists side by
side, each decision beside its counterpart under the other policy.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from offline.chart import PANELS, RATE_COLOUR, SHADE_COLOUR, Limit, Marker, rate_chart
from offline.daily import DailyCounts
from offline.limits_table import limits_table, percent
from offline.page import anchor, generated, judged_text, legend, page, swatch
from offline.report import SUSPEND_COLOUR, WARN_COLOUR, judged_from
from offline.summary import Comparison, Pair, either, is_difference, paired
from policy.config import Policy
from schemas.types import Decision

if TYPE_CHECKING:
    from offline.result import ReplayResult

_KINDS = ("base only", "other only", "at another time")
#: action -> (letter in the marker row, colour)
_ACTIONS = {
    "warn": ("W", WARN_COLOUR),
    "suspend": ("S", SUSPEND_COLOUR),
    "restore": ("R", "#1e8449"),
    "cancel_campaign": ("C", "#7d3c98"),
}
_RATE_NAMES = tuple(name for _, name, _ in PANELS)


@dataclass(frozen=True)
class _Side:
    """One of the two policies, as the report names and draws it."""

    name: str
    policy: Policy
    dash: str
    """Its limit lines and decision lines (SVG dash array; "" is solid)."""
    css_style: str
    """The same in the legend (CSS border style)."""

    @property
    def title(self) -> str:
        return f"{self.name} {self.policy.version}"


def write_comparison_report(
    path: Path,
    result: ReplayResult,
    daily: DailyCounts,
    base: Policy,
    other: Policy,
    other_decisions: Sequence[Decision],
) -> None:
    """``result`` is the base policy's replay, with its ``comparison`` against ``other``,
    whose decisions are ``other_decisions``."""
    if result.comparison is None:
        raise ValueError("a comparison report needs the replay's comparison")
    sides = (_Side("base", base, "6,3", "dashed"), _Side("other", other, "2,2", "dotted"))
    groups: dict[tuple[str, str], list[Pair]] = {}
    for pair in paired(result.decisions, other_decisions):
        d = either(pair)
        groups.setdefault((d.account_id, d.channel), []).append(pair)
    keys = sorted(
        (key for key, pairs in groups.items() if any(is_difference(p) for p in pairs)),
        key=lambda key: (key[1], key[0]),
    )
    sections = "".join(_section(key, groups[key], daily, sides) for key in keys)
    body = _summary(result, result.comparison, sides, keys, groups) + sections
    path.write_text(page(f"Sendguard policy comparison: {result.path}", body), encoding="utf-8")


def _summary(
    result: ReplayResult,
    comparison: Comparison,
    sides: tuple[_Side, _Side],
    keys: list[tuple[str, str]],
    groups: dict[tuple[str, str], list[Pair]],
) -> str:
    counts = comparison.counts()
    actions = sorted({action for action, _ in counts})
    count_rows = "".join(
        f"<tr><td>{escape(action)}</td>"
        + "".join(f"<td class='num'>{counts[(action, kind)]:,}</td>" for kind in _KINDS)
        + f"<td class='num'>{sum(counts[(action, kind)] for kind in _KINDS):,}</td></tr>"
        for action in actions
    )
    base, other = sides
    index_rows = "".join(_index_row(key, groups[key]) for key in keys)
    return (
        "<h1>Sendguard policy comparison</h1>"
        f"<p>Input <code>{escape(result.path)}</code>, {result.lines:,} {result.unit}, "
        f"{result.accounts:,} accounts. Policies: <b>base</b> "
        f"<code>{escape(base.policy.version)}</code> (the replay's policy) and "
        f"<b>other</b> <code>{escape(other.policy.version)}</code> (<code>--compare</code>). "
        f"{len(comparison.differences):,} decisions differ, on {len(keys):,} "
        f"account-channels; {len(comparison.newly_suspended):,} newly suspended under "
        f"other, {len(comparison.spared):,} spared. Generated {generated()}.</p>"
        "<table><tr><th>action</th>"
        + "".join(f"<th>{kind}</th>" for kind in _KINDS)
        + f"<th>differing decisions</th></tr>{count_rows}</table>"
        + _legend(sides)
        + "<table><tr><th>account</th><th>channel</th><th>differing decisions</th>"
        f"<th>what differs</th></tr>{index_rows}</table>"
    )


def _legend(sides: tuple[_Side, _Side]) -> str:
    items = [(swatch(RATE_COLOUR), "month-to-date rate (the same events under both)")]
    for side in sides:
        items += [
            (swatch(SUSPEND_COLOUR, side.css_style), f"{side.name} suspend limit"),
            (swatch(WARN_COLOUR, side.css_style), f"{side.name} warn limit"),
        ]
    marks = [
        (f"<b style='color:{colour}'>{letter}</b>", action.replace("_", " "))
        for action, (letter, colour) in _ACTIONS.items()
    ]
    marks.append(("<span style='opacity:0.4'>faint</span>", "made by both at the same time"))
    marks.append((swatch(SHADE_COLOUR, width=8), "below both policies' minimum volume"))
    return (
        legend(items)
        + legend(marks)
        + "<p class='note'>Decisions are marked in their policy's row above each chart "
        "(base above other) and by a line through it, dashed for base and dotted for "
        "other like their limits. Where both policies' limits are equal their lines "
        "coincide.</p>"
    )


def _index_row(key: tuple[str, str], pairs: list[Pair]) -> str:
    account, channel = key
    differing = Counter(_what_differs(p) for p in pairs if is_difference(p))
    what = "; ".join(f"{text} ({n})" if n > 1 else text for text, n in differing.items())
    return (
        f"<tr><td><a href='#{anchor(account, channel)}'>{escape(account)}</a></td>"
        f"<td>{escape(channel)}</td><td class='num'>{differing.total():,}</td>"
        f"<td>{escape(what)}</td></tr>"
    )


def _what_differs(pair: Pair) -> str:
    d = either(pair)
    return f"{d.action} {d.reason}: {_kind(pair)}"


def _kind(pair: Pair) -> str:
    base, other = pair
    if base is None:
        return "other only"
    if other is None:
        return "base only"
    return "at another time" if base.decided_at != other.decided_at else "same"


def _section(
    key: tuple[str, str],
    pairs: list[Pair],
    daily: DailyCounts,
    sides: tuple[_Side, _Side],
) -> str:
    account, channel = key
    channels = [side.policy.channel(channel) for side in sides]
    limits = {
        name: [
            Limit(value, colour, side.dash, f"{side.title}: {which} limit {percent(value)}")
            for side, policy in zip(sides, channels, strict=True)
            for which, value, colour in (
                ("suspend", float(getattr(policy.suspend, name)), SUSPEND_COLOUR),
                ("warn", float(getattr(policy.warn, name)), WARN_COLOUR),
            )
        ]
        for name in _RATE_NAMES
    }
    markers = [
        _marker(decision, row, side, faint=not is_difference(pair))
        for pair in pairs
        for row, (side, decision) in enumerate(zip(sides, pair, strict=True))
        if decision is not None
    ]
    chart = rate_chart(
        daily.series(account, channel),
        limits,
        markers,
        min(judged_from(c) for c in channels),
        row_labels=[side.name for side in sides],
    )
    differing = sum(1 for p in pairs if is_difference(p))
    table = limits_table([side.name for side in sides], channels)
    return (
        f"<section id='{anchor(account, channel)}'><h2>{escape(account)} · "
        f"{escape(channel)}: {differing} of its decisions differ</h2>"
        f"{table}{chart}{_decisions_table(sides, pairs)}</section>"
    )


def _marker(decision: Decision, row: int, side: _Side, faint: bool) -> Marker:
    letter, colour = _ACTIONS.get(decision.action, ("?", "#444"))
    label = f"{side.title}: {_decision_text(decision)}"
    return Marker(
        decision.decided_at.date(), label, colour,
        symbol=letter, row=row, dash=side.dash, width=1.5, faint=faint,
    )  # fmt: skip


def _decision_text(d: Decision) -> str:
    """``suspend hard_bounce_rate 2026-10-05 09:13`` plus campaign and what was judged."""
    text = f"{d.action} {d.reason} {d.decided_at:%Y-%m-%d %H:%M}"
    if d.campaign_id is not None:
        text += f" campaign {d.campaign_id}"
    judged = judged_text(d.evidence)
    return f"{text} ({judged})" if judged else text


def _decisions_table(sides: tuple[_Side, _Side], pairs: list[Pair]) -> str:
    head = "".join(f"<th>{escape(side.title)}</th>" for side in sides)
    rows = []
    for pair in pairs:
        d = either(pair)
        kind = _kind(pair)
        cells = "".join(
            "<td>-</td>" if x is None else f"<td>{escape(_when_text(x))}</td>" for x in pair
        )
        rows.append(
            f"<tr class='{'same' if kind == 'same' else 'differs'}'><td>{escape(d.action)}</td>"
            f"<td>{escape(d.reason)}</td><td>{escape(d.campaign_id or '')}</td>"
            f"{cells}<td>{kind}</td></tr>"
        )
    return (
        "<table class='small'><tr><th>action</th><th>reason</th><th>campaign</th>"
        f"{head}<th></th></tr>{''.join(rows)}</table>"
    )


def _when_text(d: Decision) -> str:
    judged = judged_text(d.evidence)
    return f"{d.decided_at:%Y-%m-%d %H:%M}" + (f" ({judged})" if judged else "")
