"""Two policies' limits for one channel side by side, as a small HTML table.

The charts draw only the three rate limits; a comparison can also differ in a count
limit, a campaign limit, how rates are judged (``min_sends`` or Wilson gating) or
probation, so the table names each of those that differs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from html import escape

from offline.chart import PANELS
from policy.config import ChannelPolicy

_RATE_NAMES = tuple(name for _, name, _ in PANELS)


def percent(rate: float) -> str:
    """``5%``, ``0.05%``: as few digits as the limit has (a rate limit of 0 is not off:
    any rate crosses it)."""
    return f"{rate * 100:g}%"


def limits_table(names: Sequence[str], channels: Sequence[ChannelPolicy]) -> str:
    """Each policy's rate limits (``names[i]`` names ``channels[i]``), how each judges
    rates, and any other limit that differs between them (a count, a campaign limit,
    probation)."""
    head = "".join(f"<th>{name} warn</th><th>{name} suspend</th>" for name in names)
    rows = [
        f"<tr><td>{title}</td>"
        + "".join(
            f"<td>{percent(float(getattr(c.warn, name)))}</td>"
            f"<td>{percent(float(getattr(c.suspend, name)))}</td>"
            for c in channels
        )
        + "</tr>"
        for _, name, title in PANELS
    ]
    rows.append(
        "<tr><td>rates judged</td>"
        + "".join(f"<td colspan='2'>{_gating_text(c)}</td>" for c in channels)
        + "</tr>"
    )
    for title, values in _other_limits(channels):
        rows.append(
            f"<tr><td>{escape(title)}</td>"
            + "".join(f"<td colspan='2'>{escape(v)}</td>" for v in values)
            + "</tr>"
        )
    return f"<table class='small'><tr><th>limit</th>{head}</tr>{''.join(rows)}</table>"


def _gating_text(channel: ChannelPolicy) -> str:
    if channel.gating == "wilson":
        return escape(
            f"Wilson lower bound at {channel.confidence * 100:g}% confidence, from "
            f"{channel.floor:,} sends: the limits apply to the lower bound, not the rate drawn"
        )
    return escape(f"the rate itself, from {channel.min_sends:,} sends")


def _other_limits(channels: Sequence[ChannelPolicy]) -> list[tuple[str, list[str]]]:
    """(title, value per policy) for each non-rate limit that differs."""
    found = []
    for group in ("suspend", "warn", "campaign"):
        limits = [getattr(c, group) for c in channels]
        if any(lim is None for lim in limits):
            if len(set(limits)) > 1:
                found.append((group, ["off" if lim is None else "on" for lim in limits]))
            continue
        for f in fields(limits[0]):
            if group != "campaign" and f.name in _RATE_NAMES:
                continue
            values = [getattr(lim, f.name) for lim in limits]
            if len(set(values)) > 1:
                found.append((f"{group} {f.name}", [_limit_text(v) for v in values]))
    probations = [c.probation for c in channels]
    if len(set(probations)) > 1:
        found.append(("probation after a restore", [
            "none" if p is None else f"limits times {p.factor:g} for {p.days} days"
            for p in probations
        ]))  # fmt: skip
    return found


def _limit_text(value: object) -> str:
    """A rate as a percentage; a count, where 0 switches its signal off."""
    if isinstance(value, float):
        return percent(value)
    if isinstance(value, int) and value == 0:
        return "off"
    return str(value)
