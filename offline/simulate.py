"""A synthetic month (or more) of MTA outcome events, for replays, demos and load tests.

The generator is lazy and deterministic for a seed: accounts are planned one by one, then
time advances an hour at a time. Each hour every sending account's sends are drawn and
their later effects (a bounce seconds to minutes after the send, an unsubscribe or spam
report hours to days after) go onto one carry-over heap keyed by time; what is due before
the hour's end is popped in order. Memory is one hour of sends plus the pending effects,
never the whole run.

What it yields, in order of ``occurred_at``:

* one ``accounts`` record per account first (``topic`` set, plus an ignored extra
  ``sim_profile`` naming the account's profile);
* ``email.*`` events as dicts with ``topic`` (the JSON-lines form of CONTRACT.md);
* with ``duplicates``, an event re-emitted a little later (same ``event_id`` and
  ``occurred_at``), so those copies are the only items out of time order;
* with ``malformed``, a broken line (bad JSON, a missing field, a timestamp with no
  offset, ...) as a raw ``str`` without newline, right after an event.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from offline.produce import to_kafka
from offline.profiles import DEFAULT_PROFILES, Profile
from offline.sim_account import DAY, HOUR, SimAccount

__all__ = ["DEFAULT_PROFILES", "Item", "Profile", "simulate", "to_kafka", "write_jsonl"]

#: A dict is an event or account record with ``topic``; a str is a deliberately broken line.
Item = dict[str, Any] | str

_TIERS = (("free", 30), ("starter", 25), ("professional", 20), ("enterprise", 8),
          ("trial", 10), ("legacy", 7))  # fmt: skip
_REVIEW_SHARE = 0.04
_DUPLICATE_DELAY_S = (1.0, 120.0)


def simulate(
    accounts: int,
    seed: int,
    *,
    start: datetime,
    days: int = 30,
    duplicates: float = 0.0,
    malformed: float = 0.0,
    profiles: Sequence[Profile] = DEFAULT_PROFILES,
    prefix: str = "acct",
) -> Iterator[Item]:
    """Yield a run of ``days`` days from ``start`` for ``accounts`` accounts.

    ``duplicates`` and ``malformed`` are probabilities per ``email.*`` event (so roughly
    the share of such lines in the output). The first ``len(profiles)`` accounts get every
    profile once, in a seeded order, so even a small run has one of each; the rest are
    drawn by weight. Accounts are named ``<prefix>-0000`` and up.
    """
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    if accounts < 0 or days < 1:
        raise ValueError("accounts must be >= 0 and days >= 1")
    if not (0.0 <= duplicates < 1.0 and 0.0 <= malformed < 1.0):
        raise ValueError("duplicates and malformed are probabilities in [0, 1)")
    if not profiles:
        raise ValueError("at least one profile is needed")
    return _generate(accounts, seed, start, days, duplicates, malformed, tuple(profiles), prefix)


def _generate(
    accounts: int,
    seed: int,
    start: datetime,
    days: int,
    duplicates: float,
    malformed: float,
    profiles: tuple[Profile, ...],
    prefix: str,
) -> Iterator[Item]:
    origin = start.astimezone(UTC).timestamp()
    end = origin + days * DAY
    width = max(4, len(str(accounts)))
    first_profiles = list(profiles)
    random.Random(f"sendguard-sim/{seed}/profiles").shuffle(first_profiles)
    weights = [p.weight for p in profiles]
    sims: list[SimAccount] = []
    for index in range(accounts):
        rng = random.Random(f"sendguard-sim/{seed}/account/{index}")
        if index < len(first_profiles):
            profile = first_profiles[index]
        else:
            profile = rng.choices(profiles, weights)[0]
        sim = SimAccount(f"{prefix}-{index:0{width}d}", index, profile, rng, origin, days)
        sims.append(sim)
        yield _account_record(sim)

    noise = random.Random(f"sendguard-sim/{seed}/noise")
    heap: list[tuple[float, int, Any]] = []
    order = itertools.count()

    def push(ts: float, item: Any) -> None:
        heapq.heappush(heap, (ts, next(order), item))

    for day in range(days):
        day_start = origin + day * DAY
        active = [sim for sim in sims if sim.begin_day(day, day_start, push)]
        for hour in range(24):
            until = min(day_start + (hour + 1) * HOUR, end)
            for sim in active:
                sim.send(until, push)
            while heap and heap[0][0] < until:
                ts, _, item = heapq.heappop(heap)
                if isinstance(item, _Copy):
                    yield item.event
                    continue
                yield item
                if duplicates and noise.random() < duplicates:
                    push(ts + noise.uniform(*_DUPLICATE_DELAY_S), _Copy(dict(item)))
                if malformed and noise.random() < malformed:
                    yield _broken(item, noise)


class _Copy:
    """A duplicate to re-emit: same event, later in the stream."""

    __slots__ = ("event",)

    def __init__(self, event: dict[str, Any]) -> None:
        self.event = event


def _account_record(sim: SimAccount) -> dict[str, Any]:
    rng = sim.rng
    tier = rng.choices([t for t, _ in _TIERS], [w for _, w in _TIERS])[0]
    record: dict[str, Any] = {
        "topic": "accounts",
        "account_id": sim.account_id,
        "tier": tier,
        "primary_contact": f"owner@{sim.account_id}.example",
        "review_required": sim.profile.reviewable and rng.random() < _REVIEW_SHARE,
        "sim_profile": sim.profile.name,
    }
    if tier in ("enterprise", "legacy"):
        record["csm"] = f"csm{sim.index % 7}@sendguard.example"
    return record


def _broken(event: dict[str, Any], rng: random.Random) -> str:
    """One line that breaks the contract in a way a real producer might."""
    bad = {**event, "event_id": f"{event['event_id']}-bad"}
    kind = rng.randrange(6)
    if kind == 0:
        text = msgspec.json.encode(bad).decode()
        return text[: max(1, len(text) // 2)]
    if kind == 1:
        del bad["account_id"]
    elif kind == 2:
        bad["occurred_at"] = bad["occurred_at"].rstrip("Z")
    elif kind == 3:
        bad["recipient"] = "nobody-at-example.com"
    elif kind == 4:
        bad["channel"] = "sms"
    else:
        return msgspec.json.encode([bad]).decode()
    return msgspec.json.encode(bad).decode()


def write_jsonl(events: Iterable[Item], path: str | Path) -> int:
    """Write items as JSON lines (broken lines as they are); returns the number of lines."""
    encoder = msgspec.json.Encoder()
    count = 0
    with open(path, "wb") as out:
        for item in events:
            if isinstance(item, str):
                out.write(item.encode("utf-8", errors="replace"))
            else:
                out.write(encoder.encode(item))
            out.write(b"\n")
            count += 1
    return count


def default_start(days: int, now: datetime | None = None) -> datetime:
    """Midnight UTC ``days`` days ago: the run ends today, so no event is in the future."""
    today = (now or datetime.now(UTC)).astimezone(UTC)
    midnight = today.replace(hour=0, minute=0, second=0, microsecond=0)
    return datetime.fromtimestamp(midnight.timestamp() - days * DAY, UTC)
