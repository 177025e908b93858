"""``python -m bench.gating``: the default rate rule against Wilson gating, on one month.

Simulates one calendar month with ``sendguard simulate``'s generator (the ``gating`` mix
by default: borderline senders whose true rate is at a limit, a sender just over, bad
lists, a few ordinary accounts), replays the same file under the built-in policy and
under the same policy with ``gating = "wilson"`` on both channels (``offline.replay``,
the code ``sendguard replay`` runs), and prints markdown tables
(:mod:`bench.gating_score`):

1. account-channels suspended for a rate whose whole-month rate ended at or under that
   limit, per profile and reason, as ``false / suspended``;
2. for account-channels whose whole-month rate ended over a limit, the month's sends at
   their suspension (median and p90 over those suspended) and how many were never
   suspended.

The event file is the one ``sendguard simulate --mix MIX --accounts N --seed S --start
START --days D --out FILE`` writes (``--keep-events FILE`` keeps it), so each policy's
decisions can be looked at with ``sendguard replay FILE [--policy wilson.toml]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.gating_score import Score, Tally, false_table, first_suspensions, score, sends_table
from offline.profiles import MIXES
from offline.replay import replay
from offline.simulate import simulate, write_jsonl
from policy import Policy, PolicyError, load_policy

DEFAULT_START = "2026-09-01"


@dataclass
class Study:
    """What the study ran and found: the policies by name, and each one's scores."""

    names: list[str]
    versions: list[str]
    scores: list[dict[str, Score]]
    lines: int
    accounts: int
    seconds: float


def wilson_toml(confidence: float, floor: int) -> str:
    """Overrides of the built-in policy: Wilson gating on both channels."""
    version = f"{load_policy().version}+wilson-{confidence}-{floor}"
    return f'version = "{version}"\n' + "".join(
        f'[{channel}]\ngating = "wilson"\nconfidence = {confidence}\nfloor = {floor}\n'
        for channel in ("marketing", "crm")
    )


def run_study(
    *,
    accounts: int,
    seed: int,
    start: datetime,
    days: int,
    mix: str,
    confidence: float = 0.95,
    floor: int = 50,
    keep_events: Path | None = None,
) -> Study:
    """Simulate, replay under both policies, score. Raises ValueError or PolicyError on
    bad input (a run that leaves its calendar month, an unknown mix, a bad confidence)."""
    end = start + timedelta(days=days)
    if (start.year, start.month) != ((last := end - timedelta(microseconds=1)).year, last.month):
        raise ValueError(f"the study judges one calendar month: {start:%Y-%m-%d} plus "
                         f"{days} days ends in {last:%Y-%m}")  # fmt: skip
    profiles = MIXES.get(mix)
    if profiles is None:
        raise ValueError(f"unknown mix {mix!r}; known: {', '.join(MIXES)}")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sendguard-gating-") as work:
        wilson_path = Path(work) / "wilson.toml"
        wilson_path.write_text(wilson_toml(confidence, floor), encoding="utf-8")
        policies: dict[str, Policy] = {"default": load_policy(), "wilson": load_policy(wilson_path)}
        events = keep_events or Path(work) / "month.jsonl"
        tally = Tally()
        items = simulate(accounts, seed, start=start, days=days, profiles=profiles)
        lines = write_jsonl(tally.watch(items), events)
        _note(f"simulated {lines:,} lines to {events}")
        limits = {name: c.suspend for name, c in policies["default"].channels.items()}
        scores = []
        for name, policy in policies.items():
            with open(os.devnull, "wb") as sink:
                result = replay(events, policy, progress=False, summary=False, out=sink)
            _note(f"replayed under {name} ({policy.version}) in {result.seconds:.0f} s")
            scores.append(score(tally, first_suspensions(result.decisions), limits))
    return Study(list(policies), [p.version for p in policies.values()], scores, lines,
                 len(tally.profiles), time.monotonic() - started)  # fmt: skip


def markdown(study: Study) -> str:
    policies = ", ".join(f"{n} = `{v}`" for n, v in zip(study.names, study.versions, strict=True))
    lines = [
        f"{study.accounts:,} accounts, {study.lines:,} lines; policies: {policies}.",
        "",
        "Suspended for a rate whose whole-month rate ended at or under that limit "
        "(false / suspended for that reason):",
        "",
        *false_table(study.names, study.scores),
        "",
        "Whole-month rate over a limit: the month's sends at suspension (median, p90 of "
        "those suspended), and how many were never suspended:",
        "",
        *sends_table(study.names, study.scores),
    ]
    return "\n".join(lines) + "\n"


def _note(text: str) -> None:
    print(f"gating: {text}", file=sys.stderr, flush=True)


def _start(text: str) -> datetime:
    try:
        start = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--start: not an ISO date or time: {text!r}") from None
    return start if start.tzinfo is not None else start.replace(tzinfo=UTC)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.gating",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--accounts", type=int, default=150)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument(
        "--start",
        default=DEFAULT_START,
        help=f"first day (default {DEFAULT_START}); the run must stay in its calendar month",
    )
    parser.add_argument("--mix", default="gating", help=f"one of {', '.join(MIXES)}")
    parser.add_argument("--confidence", type=float, default=0.95)
    parser.add_argument("--floor", type=int, default=50)
    parser.add_argument(
        "--keep-events",
        type=Path,
        metavar="FILE",
        help="write the simulated month here and keep it",
    )
    args = parser.parse_args(argv)
    try:
        study = run_study(
            accounts=args.accounts, seed=args.seed, start=_start(args.start), days=args.days,
            mix=args.mix, confidence=args.confidence, floor=args.floor,
            keep_events=args.keep_events,
        )  # fmt: skip
    except (ValueError, PolicyError, OSError) as exc:
        print(f"gating: error: {exc}", file=sys.stderr)
        return 1
    print(markdown(study), end="")
    _note(f"{study.seconds:.0f} s on {platform.node()} ({platform.machine()}, "
          f"{os.cpu_count()} cores), Python {platform.python_version()}, "
          f"{datetime.now(UTC):%Y-%m-%d}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
