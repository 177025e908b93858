"""Inline SVG charts of one account-channel's month-to-date rates, for the HTML reports.

One panel per rate signal, each on its own scale: a 0.1 % spam-report limit would be an
invisible line on a chart scaled for 5 % hard bounces. Each panel draws the rate day by
day, the limit lines it is given, the days below the volume where rates are judged
(shaded), the month boundaries, and the decisions as markers: a line through the plot
and, where the chart has marker rows, a letter in its row above the plot, so two
policies' decisions on one day stay apart.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from html import escape

from offline.daily import DayPoint

#: (counter of :class:`DayPoint`, limit name in the policy, panel title)
PANELS = (
    ("hard_bounces", "hard_bounce_rate", "hard bounce rate"),
    ("spam_reports", "spam_report_rate", "spam report rate"),
    ("unsubscribes", "unsubscribe_rate", "unsubscribe rate"),
)
RATE_COLOUR = "#1f5fbf"
SHADE_COLOUR = "#eee"
_W, _H, _PAD_L, _PAD_R, _PAD_T, _PAD_B = 310, 170, 56, 10, 22, 26
_ROW_H, _GAP, _SAME_DAY_SHIFT = 13, 20, 12


@dataclass(frozen=True)
class Limit:
    """A horizontal limit line; ``label`` is its tooltip."""

    value: float
    colour: str
    dash: str
    label: str


@dataclass(frozen=True)
class Marker:
    """A decision on ``day``: a line through the plot, and ``symbol`` in marker row
    ``row`` when the chart has rows. ``label`` is the tooltip of both."""

    day: date
    label: str
    colour: str
    symbol: str = ""
    row: int = 0
    dash: str = ""
    width: float = 2.0
    faint: bool = False


def rate_chart(
    series: Sequence[DayPoint],
    limits: Mapping[str, Sequence[Limit]],
    markers: Sequence[Marker],
    judged_from: int,
    row_labels: Sequence[str] = (),
) -> str:
    """The three panels side by side as one ``<svg>``.

    ``limits`` maps a limit name (``hard_bounce_rate``...) to its lines; a limit of 0 is
    off and not drawn. Days with fewer than ``judged_from`` sends are shaded.
    ``row_labels`` names the marker rows above the plots (none: markers are lines only).
    """
    rows_height = _ROW_H * len(row_labels) + (4 if row_labels else 0)
    top, height = _PAD_T + rows_height, _H + rows_height
    panels = []
    for i, (signal, name, title) in enumerate(PANELS):
        drawn = _panel(series, signal, title, limits.get(name, ()), markers, judged_from,
                       row_labels, top, height)  # fmt: skip
        panels.append(f"<g transform='translate({i * (_W + _GAP)},0)'>{drawn}</g>")
    width = len(PANELS) * _W + (len(PANELS) - 1) * _GAP
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}' role='img'>{''.join(panels)}</svg>"
    )


def _panel(
    series: Sequence[DayPoint],
    signal: str,
    title: str,
    limits: Sequence[Limit],
    markers: Sequence[Marker],
    judged_from: int,
    row_labels: Sequence[str],
    top: int,
    height: int,
) -> str:
    left, right, bottom = _PAD_L, _W - _PAD_R, height - _PAD_B
    parts = [f"<text x='{left}' y='14'>{title}</text>"]
    rates = [p.rate(signal) for p in series]
    drawn = [limit for limit in limits if limit.value > 0]
    peak = max([r for r in rates if r is not None] + [lim.value for lim in drawn] + [1e-6])
    peak *= 1.15
    n = max(len(series) - 1, 1)
    half_day = (right - left) / n / 2

    def x(i: int) -> float:
        return left + (right - left) * i / n

    def y(rate: float) -> float:
        return bottom - (bottom - top) * rate / peak

    for first, last in _runs([p.sent < judged_from for p in series]):
        x0, x1 = max(left, x(first) - half_day), min(right, x(last) + half_day)
        parts.append(
            f"<rect x='{x0:.1f}' y='{top}' width='{x1 - x0:.1f}' height='{bottom - top}' "
            f"fill='{SHADE_COLOUR}'/>"
        )
    for i, point in enumerate(series):
        if point.day.day == 1 and i > 0:
            parts.append(
                f"<line x1='{x(i):.1f}' y1='{top}' x2='{x(i):.1f}' y2='{bottom}' "
                f"stroke='#aaa' stroke-dasharray='2,3'><title>{point.day:%B}: counts restart"
                "</title></line>"
            )
    parts.append(
        f"<line x1='{left}' y1='{bottom}' x2='{right}' y2='{bottom}' stroke='#888'/>"
        f"<line x1='{left}' y1='{top}' x2='{left}' y2='{bottom}' stroke='#888'/>"
        f"<text x='{left - 4}' y='{bottom}' text-anchor='end'>0</text>"
        f"<text x='{left - 4}' y='{top + 8}' text-anchor='end'>{peak:.2%}</text>"
    )
    for limit in drawn:
        parts.append(
            f"<line x1='{left}' y1='{y(limit.value):.1f}' x2='{right}' y2='{y(limit.value):.1f}' "
            f"stroke='{limit.colour}' stroke-dasharray='{limit.dash}' stroke-width='1.5'>"
            f"<title>{escape(limit.label)}</title></line>"
        )
    points = " ".join(f"{x(i):.1f},{y(r):.1f}" for i, r in enumerate(rates) if r is not None)
    if points:
        parts.append(
            f"<polyline points='{points}' fill='none' stroke='{RATE_COLOUR}' stroke-width='2'/>"
        )
    for row, label in enumerate(row_labels):
        parts.append(f"<text x='{left - 4}' y='{_row_y(row)}' text-anchor='end'>{label}</text>")
    if series:
        parts.append(
            f"<text x='{left}' y='{height - 8}'>{series[0].day:%m-%d}</text>"
            f"<text x='{right}' y='{height - 8}' text-anchor='end'>{series[-1].day:%m-%d}</text>"
        )
        parts += _markers(series[0].day, len(series), markers, x, top, bottom, bool(row_labels))
    return "".join(parts)


def _markers(
    first: date,
    days: int,
    markers: Sequence[Marker],
    x: Callable[[int], float],
    top: int,
    bottom: int,
    rows: bool,
) -> list[str]:
    parts = []
    taken: Counter[tuple[int, int]] = Counter()
    for marker in markers:
        index = (marker.day - first).days
        if not 0 <= index < days:
            continue
        at = x(index)
        opacity = " opacity='0.4'" if marker.faint else ""
        dash = f" stroke-dasharray='{marker.dash}'" if marker.dash else ""
        mark = (
            f"<line x1='{at:.1f}' y1='{top}' x2='{at:.1f}' y2='{bottom}' "
            f"stroke='{marker.colour}' stroke-width='{marker.width}'{dash}/>"
        )
        if rows and marker.symbol:
            shift = taken[(marker.row, index)] * _SAME_DAY_SHIFT
            taken[(marker.row, index)] += 1
            mark += (
                f"<text x='{max(at, _PAD_L + 6) + shift:.1f}' y='{_row_y(marker.row)}' "
                "text-anchor='middle' "
                f"font-weight='bold' style='fill:{marker.colour}'>{marker.symbol}</text>"
            )
        parts.append(f"<g{opacity}><title>{escape(marker.label)}</title>{mark}</g>")
    return parts


def _row_y(row: int) -> int:
    return _PAD_T + _ROW_H * row + 10


def _runs(flags: Sequence[bool]) -> list[tuple[int, int]]:
    """(first, last) index of every run of True: one shaded box per run, not per day."""
    runs: list[tuple[int, int]] = []
    start: int | None = None
    for i, flag in enumerate([*flags, False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            runs.append((start, i - 1))
            start = None
    return runs
