"""The gating study's yardstick: each account-channel's whole-month rates, read from the
events, against the suspensions a policy made during the month.

A suspension for a rate is *false* when that rate, over the whole month, ended at or
under the limit: the account would have been fine had it been left alone. An
account-channel is *truly over* when any of its whole-month rates ended over its limit;
for those, what matters is how many sends the policy let through before it suspended
them (the ``sent`` of the suspension's evidence), and how many it never suspended.

Pure data in, data out, so each figure can be checked on a hand-made month.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.measure import percentile
from policy.config import SuspendLimits
from schemas.types import Decision

__all__ = [
    "RATE_REASONS",
    "MonthCounts",
    "Score",
    "Suspension",
    "Tally",
    "first_suspensions",
    "score",
]

#: The rate reasons, each with the ``MonthCounts`` field that is its numerator.
RATE_REASONS: dict[str, str] = {
    "hard_bounce_rate": "hard_bounces",
    "spam_report_rate": "spam_reports",
    "unsubscribe_rate": "unsubscribes",
}

#: (account_id, channel)
Key = tuple[str, str]


@dataclass
class MonthCounts:
    """One account-channel's events over the whole month."""

    sent: int = 0
    hard_bounces: int = 0
    spam_reports: int = 0
    unsubscribes: int = 0

    def rate(self, reason: str) -> float:
        """The whole-month rate behind a rate reason (0 with no sends)."""
        return getattr(self, RATE_REASONS[reason]) / self.sent if self.sent else 0.0


@dataclass
class Tally:
    """Whole-month counts per account-channel and each account's simulator profile,
    collected while the simulated items stream past (:meth:`watch`)."""

    counts: dict[Key, MonthCounts] = field(default_factory=dict)
    profiles: dict[str, str] = field(default_factory=dict)

    def watch(self, items: Iterable[Any]) -> Iterator[Any]:
        """Yield ``items`` unchanged, counting each one."""
        for item in items:
            if isinstance(item, dict):
                self.add(item)
            yield item

    def add(self, item: Mapping[str, Any]) -> None:
        topic = item["topic"]
        if topic == "accounts":
            self.profiles[item["account_id"]] = item.get("sim_profile", "?")
            return
        key = (item["account_id"], item.get("channel", "marketing"))
        counts = self.counts.get(key)
        if counts is None:
            counts = self.counts[key] = MonthCounts()
        if topic == "email.delivery":
            counts.sent += 1
        elif topic == "email.bounce" and item.get("bounce_type") == "hard":
            counts.hard_bounces += 1
        elif topic == "email.spam-report":
            counts.spam_reports += 1
        elif topic == "email.unsubscribe":
            counts.unsubscribes += 1

    def profile(self, key: Key) -> str:
        return self.profiles.get(key[0], "?")


@dataclass(frozen=True)
class Suspension:
    """An account-channel's first suspension: why, and on how many sends that month."""

    reason: str
    sent: int


def first_suspensions(decisions: Iterable[Decision]) -> dict[Key, Suspension]:
    found: dict[Key, Suspension] = {}
    for d in decisions:
        if d.action == "suspend":
            found.setdefault((d.account_id, d.channel), Suspension(d.reason, d.evidence.sent))
    return found


@dataclass
class Score:
    """One policy's figures for one group of account-channels (a profile, or all)."""

    account_channels: int = 0
    suspended: Counter[str] = field(default_factory=Counter)
    """Rate reason -> account-channels suspended for it."""
    false: Counter[str] = field(default_factory=Counter)
    """Rate reason -> of those, the ones whose whole-month rate ended at or under the limit."""
    over: int = 0
    """Account-channels with a whole-month rate over its limit."""
    sends_until: list[int] = field(default_factory=list)
    """For those of ``over`` that were suspended: the month's sends at the suspension."""

    @property
    def never_suspended(self) -> int:
        return self.over - len(self.sends_until)

    def sends_at(self, q: float) -> float | None:
        return percentile([float(n) for n in self.sends_until], q) if self.sends_until else None


def truly_over(counts: MonthCounts, limits: SuspendLimits) -> bool:
    return any(counts.rate(reason) > getattr(limits, reason) for reason in RATE_REASONS)


def score(
    tally: Tally,
    suspensions: Mapping[Key, Suspension],
    limits: Mapping[str, SuspendLimits],
) -> dict[str, Score]:
    """Per profile, plus ``"all"``: false suspensions by reason and sends until suspension.

    ``limits`` are the suspend limits per channel, the same for every policy compared.
    """
    scores: dict[str, Score] = {}
    for key, counts in sorted(tally.counts.items()):
        channel_limits = limits[key[1]]
        for group in (tally.profile(key), "all"):
            s = scores.setdefault(group, Score())
            s.account_channels += 1
            suspension = suspensions.get(key)
            if suspension is not None and suspension.reason in RATE_REASONS:
                s.suspended[suspension.reason] += 1
                limit = getattr(channel_limits, suspension.reason)
                if counts.rate(suspension.reason) <= limit:
                    s.false[suspension.reason] += 1
            if truly_over(counts, channel_limits):
                s.over += 1
                if suspension is not None:
                    s.sends_until.append(suspension.sent)
    return scores


_SHORT = {"hard_bounce_rate": "hard bounces", "spam_report_rate": "spam reports",
          "unsubscribe_rate": "unsubscribes"}  # fmt: skip


def _groups(scores: Sequence[Mapping[str, Score]]) -> list[str]:
    names = sorted({name for s in scores for name in s if name != "all"})
    return [*names, "all"]


def false_table(names: Sequence[str], scores: Sequence[Mapping[str, Score]]) -> list[str]:
    """Markdown: per profile and rate reason, ``false / suspended`` under each policy."""
    head = ["profile", "account-channels"]
    head += [f"{_SHORT[r]}: {n}" for r in RATE_REASONS for n in names]
    rows = [_row(head), _row(["---"] * 2 + ["--:"] * (len(head) - 2))]
    for group in _groups(scores):
        first = next(s[group] for s in scores if group in s)
        cells = [_name(group), str(first.account_channels)]
        for reason in RATE_REASONS:
            for s in scores:
                one = s.get(group, Score())
                cells.append(f"{one.false[reason]} / {one.suspended[reason]}")
        rows.append(_row(cells))
    return rows


def sends_table(names: Sequence[str], scores: Sequence[Mapping[str, Score]]) -> list[str]:
    """Markdown: per profile with account-channels truly over, sends until suspension."""
    head = ["profile", "over a limit"]
    for n in names:
        head += [f"{n}: median", f"{n}: p90", f"{n}: never suspended"]
    rows = [_row(head), _row(["---"] + ["--:"] * (len(head) - 1))]
    for group in _groups(scores):
        first = next(s[group] for s in scores if group in s)
        if first.over == 0:
            continue
        cells = [_name(group), str(first.over)]
        for s in scores:
            one = s.get(group, Score())
            cells += [_sends(one.sends_at(0.5)), _sends(one.sends_at(0.9)),
                      str(one.never_suspended)]  # fmt: skip
        rows.append(_row(cells))
    return rows


def _name(group: str) -> str:
    return "**all**" if group == "all" else f"`{group}`"


def _sends(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"
