"""The replay's summary tables (stderr) and the policy comparison.

Plain aligned text, readable in a terminal and in a CI log. Reject reasons are grouped by
their field and rule (``occurred_at: timestamp has no UTC offset``), without the values
that make each line's reason unique.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from schemas.types import CHANNELS, Decision

if TYPE_CHECKING:
    from offline.result import ReplayResult

_STATES = ("active", "warned", "suspended", "under_review")
_TAIL_CHARS = 48
_TAIL_CUT = re.compile(r"\s*[(:'\"]")


def reason_group(reason: str) -> str:
    """``field: rule`` without the offending value: what to count rejects by."""
    prefix, colon, tail = reason.partition(":")
    if not colon:
        return reason[:_TAIL_CHARS]
    tail = tail.strip()
    cut = _TAIL_CUT.search(tail)
    if cut is not None and cut.start() > 0:
        tail = tail[: cut.start()]
    if len(tail) > _TAIL_CHARS:
        tail = tail[:_TAIL_CHARS].rstrip() + "…"
    return f"{prefix}: {tail}" if tail else prefix


@dataclass(frozen=True)
class Suspended:
    account_id: str
    channel: str
    reason: str
    period: str


@dataclass
class Comparison:
    """Account-channels one policy suspends and the other does not."""

    base_version: str
    other_version: str
    newly_suspended: list[Suspended] = field(default_factory=list)
    """Suspended under the other policy only (with the other policy's reason)."""
    spared: list[Suspended] = field(default_factory=list)
    """Suspended under the base policy only (with the base policy's reason)."""


def _first_suspensions(decisions: Iterable[Decision]) -> dict[tuple[str, str], Suspended]:
    found: dict[tuple[str, str], Suspended] = {}
    for d in decisions:
        if d.action == "suspend":
            key = (d.account_id, d.channel)
            found.setdefault(key, Suspended(d.account_id, d.channel, d.reason, d.period))
    return found


def compare(
    base_version: str,
    base: Sequence[Decision],
    other_version: str,
    other: Sequence[Decision],
) -> Comparison:
    ours, theirs = _first_suspensions(base), _first_suspensions(other)
    order = sorted(set(ours) | set(theirs), key=lambda k: (CHANNELS.index(k[1]), k[0]))
    result = Comparison(base_version, other_version)
    for key in order:
        if key in theirs and key not in ours:
            result.newly_suspended.append(theirs[key])
        elif key in ours and key not in theirs:
            result.spared.append(ours[key])
    return result


def _table(rows: Sequence[Sequence[object]], indent: str = "  ") -> list[str]:
    if not rows:
        return []
    texts = [[f"{c:,}" if isinstance(c, int) else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in texts) for i in range(len(texts[0]))]
    lines = []
    for row in texts:
        cells = [
            cell.rjust(w) if cell[:1].isdigit() else cell.ljust(w)
            for cell, w in zip(row, widths, strict=True)
        ]
        lines.append((indent + "  ".join(cells)).rstrip())
    return lines


def format_comparison(c: Comparison) -> list[str]:
    lines = [f"compare: {c.base_version} (decisions above) vs {c.other_version}"]
    for title, rows in (
        (f"newly suspended under {c.other_version}", c.newly_suspended),
        (f"spared under {c.other_version}", c.spared),
    ):
        lines.append(f"  {title}: {len(rows)}")
        table = [("channel", "account", "reason", "period")]
        table += [(s.channel, s.account_id, s.reason, s.period) for s in rows]
        if rows:
            lines += _table(table, indent="    ")
    return lines


def format_summary(r: ReplayResult) -> str:
    span = ""
    if r.first is not None and r.last is not None:
        span = f", events {r.first:%Y-%m-%d %H:%M} .. {r.last:%Y-%m-%d %H:%M} UTC"
    read = r.accepted + r.duplicates + r.rejected
    events = ("", read, r.accepted, r.duplicates, r.rejected, r.account_records)
    lines = [
        f"replay: {r.path} under policy {r.policy_version}{span}",
        f"  {r.lines:,} lines in {r.seconds:.1f} s ({r.events_per_second:,.0f} lines/s)",
        "",
        *_table(
            [("events", "read", "accepted", "duplicates", "rejected", "account records"), events]
        ),
        f"  accounts: {r.accounts:,}",
    ]
    if len(r.bad_lines) < r.rejected:
        lines.append(f"  (first {len(r.bad_lines)} bad lines shown above; "
                     f"{r.rejected - len(r.bad_lines):,} more)")  # fmt: skip
    lines += ["", "decisions by action and reason"]
    rows = sorted(r.by_action_reason.items(), key=lambda kv: (kv[0][0], -kv[1], kv[0][1]))
    lines += _table([(a, why, n) for (a, why), n in rows]) or ["  (none)"]
    lines += ["", "rejects by reason"]
    rejects = sorted(r.rejects_by_reason.items(), key=lambda kv: (-kv[1], kv[0]))
    lines += _table([(why, n) for why, n in rejects]) or ["  (none)"]
    lines += ["", "final state per channel"]
    table: list[tuple[object, ...]] = [("channel", *_STATES)]
    for channel in CHANNELS:
        counts = r.states.get(channel)
        if counts:
            table.append((channel, *(counts.get(s, 0) for s in _STATES)))
    lines += _table(table)
    if r.comparison is not None:
        lines += ["", *format_comparison(r.comparison)]
    if r.report_path is not None:
        lines += ["", f"report: {r.report_path}"]
    return "\n".join(lines) + "\n"
