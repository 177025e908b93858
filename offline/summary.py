"""The replay's summary tables (stderr) and the policy comparison.

Plain aligned text, readable in a terminal and in a CI log. Reject reasons are grouped by
their field and rule (``occurred_at: timestamp has no UTC offset``), without the values
that make each line's reason unique.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from schemas.types import CHANNELS, Decision

if TYPE_CHECKING:
    from offline.result import ReplayResult

_STATES = ("active", "warned", "suspended", "under_review")
#: The comparison prints this many differing decisions, then a count.
MAX_DIFFERENCES_SHOWN = 50
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


@dataclass(frozen=True)
class Difference:
    """One decision the two policies do not share, or share at different times.

    ``base_at`` / ``other_at`` are when each policy decided it (None: that policy never
    did); for a decision both made, they differ.
    """

    account_id: str
    channel: str
    action: str
    reason: str
    campaign_id: str | None
    base_at: datetime | None
    other_at: datetime | None

    @property
    def kind(self) -> str:
        if self.other_at is None:
            return "base only"
        return "other only" if self.base_at is None else "at another time"


@dataclass
class Comparison:
    """How two policies' decisions over the same events differ."""

    base_version: str
    other_version: str
    newly_suspended: list[Suspended] = field(default_factory=list)
    """Suspended under the other policy only (with the other policy's reason)."""
    spared: list[Suspended] = field(default_factory=list)
    """Suspended under the base policy only (with the base policy's reason)."""
    differences: list[Difference] = field(default_factory=list)
    """Every warn, suspend, cancel and restore that differs, in time order."""

    def counts(self) -> Counter[tuple[str, str]]:
        """(action, kind of difference) -> how many."""
        return Counter((d.action, d.kind) for d in self.differences)


def _first_suspensions(decisions: Iterable[Decision]) -> dict[tuple[str, str], Suspended]:
    found: dict[tuple[str, str], Suspended] = {}
    for d in decisions:
        if d.action == "suspend":
            key = (d.account_id, d.channel)
            found.setdefault(key, Suspended(d.account_id, d.channel, d.reason, d.period))
    return found


#: (account, channel, action, reason, campaign): what a decision is, whenever it was made.
_What = tuple[str, str, str, str, str | None]
#: A decision of either policy beside its counterpart under the other (None: none).
Pair = tuple[Decision | None, Decision | None]


def _numbered(decisions: Iterable[Decision]) -> dict[tuple[_What, int], Decision]:
    """Each decision keyed by what it is and which time of its kind it is: the 2nd warn
    of an account-channel for a reason matches the other policy's 2nd."""
    seen: Counter[_What] = Counter()
    found: dict[tuple[_What, int], Decision] = {}
    for d in decisions:
        what = (d.account_id, d.channel, d.action, d.reason, d.campaign_id)
        seen[what] += 1
        found[(what, seen[what])] = d
    return found


def _at(decision: Decision | None) -> datetime | None:
    return None if decision is None else decision.decided_at


def either(pair: Pair) -> Decision:
    """The pair's decision (the base policy's where both made it): what was decided."""
    d = pair[0] or pair[1]
    assert d is not None  # a pair holds at least one decision
    return d


def _pair_order(pair: Pair) -> tuple[datetime, str, str, str, str, str]:
    first = min(d.decided_at for d in pair if d is not None)
    d = either(pair)
    return first, d.account_id, d.channel, d.action, d.reason, d.campaign_id or ""


def paired(base: Sequence[Decision], other: Sequence[Decision]) -> list[Pair]:
    """Every decision of either policy beside the other's decision of the same kind and
    number (or None), in time order; a pair whose times differ is a :class:`Difference`."""
    ours, theirs = _numbered(base), _numbered(other)
    pairs = [(ours.get(key), theirs.get(key)) for key in ours.keys() | theirs.keys()]
    return sorted(pairs, key=_pair_order)


def is_difference(pair: Pair) -> bool:
    return _at(pair[0]) != _at(pair[1])


def differences(base: Sequence[Decision], other: Sequence[Decision]) -> list[Difference]:
    found = []
    for pair in paired(base, other):
        if is_difference(pair):
            d = either(pair)
            found.append(Difference(d.account_id, d.channel, d.action, d.reason,
                                    d.campaign_id, _at(pair[0]), _at(pair[1])))  # fmt: skip
    return found


def compare(
    base_version: str,
    base: Sequence[Decision],
    other_version: str,
    other: Sequence[Decision],
) -> Comparison:
    """``base`` and ``other``: every decision of each policy, in the order made."""
    ours, theirs = _first_suspensions(base), _first_suspensions(other)
    order = sorted(set(ours) | set(theirs), key=lambda k: (CHANNELS.index(k[1]), k[0]))
    result = Comparison(base_version, other_version)
    for key in order:
        if key in theirs and key not in ours:
            result.newly_suspended.append(theirs[key])
        elif key in ours and key not in theirs:
            result.spared.append(ours[key])
    result.differences = differences(base, other)
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
    counts = c.counts()
    lines.append(f"  every decision that differs: {len(c.differences)}")
    if counts:
        by_kind = [(a, k, n) for (a, k), n in sorted(counts.items())]
        lines += _table([("action", "kind", "decisions"), *by_kind], indent="    ")

    def when(at: datetime | None) -> str:
        return "-" if at is None else f"{at:%Y-%m-%d %H:%M:%S}"

    shown = c.differences[:MAX_DIFFERENCES_SHOWN]
    if shown:
        lines.append(f"  decisions ({c.base_version} vs {c.other_version}, event time):")
        lines += _table([("channel", "account", "action", "reason", "campaign", "base", "other")]
                        + [(d.channel, d.account_id, d.action, d.reason, d.campaign_id or "",
                            when(d.base_at), when(d.other_at)) for d in shown],
                        indent="    ")  # fmt: skip
    if len(c.differences) > len(shown):
        lines.append(f"    ({len(c.differences) - len(shown):,} more)")
    return lines


def format_summary(r: ReplayResult) -> str:
    span = ""
    if r.first is not None and r.last is not None:
        span = f", events {r.first:%Y-%m-%d %H:%M} .. {r.last:%Y-%m-%d %H:%M} UTC"
    read = r.accepted + r.duplicates + r.rejected
    events = ("", read, r.accepted, r.duplicates, r.rejected, r.account_records)
    lines = [
        f"replay: {r.path} under policy {r.policy_version}{span}",
        *(f"  {note}" for note in r.notes),
        f"  {r.lines:,} {r.unit} in {r.seconds:.1f} s ({r.events_per_second:,.0f} {r.unit}/s)",
        "",
        *_table(
            [("events", "read", "accepted", "duplicates", "rejected", "account records"), events]
        ),
        f"  accounts: {r.accounts:,}",
    ]
    if r.appeal_records:
        lines.append(f"  appeal records: {r.appeal_records:,}, of which {r.restores:,} "
                     "restored a channel")  # fmt: skip
    if len(r.bad_lines) < r.rejected:
        lines.append(f"  (first {len(r.bad_lines)} bad {r.unit} shown above; "
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
