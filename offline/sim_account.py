"""One simulated account: its month plan, its sends, and their later effects.

Sends come in *bursts* (a campaign, or a day of workflow mail) of evenly spaced slots with
jitter, so the sends due before any moment can be drawn without drawing the whole burst:
the generator asks each account for "everything up to the end of this hour". Rare signals
(abuse complaints, trap hits, blocklistings) are planned for the whole run up front: there
are a handful per account.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from offline.profiles import Profile

DAY = 86400.0
HOUR = 3600.0
DOMAINS = ("example.com", "example.net", "example.org", "mail.example", "inbox.example")
BLOCKLISTS = ("spamhaus-sbl", "barracuda", "spamcop", "sorbs")
TRAP_KINDS = ("pristine", "recycled", "typo")
_DOUBLE_LISTING = 0.4

Push = Callable[[float, Any], None]


def stamp(ts: float) -> str:
    """RFC 3339 in UTC with milliseconds and ``Z``, as MTAs commonly write it."""
    text = datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


@dataclass
class _Burst:
    start: float
    spacing: float
    count: int
    campaign_id: str | None = None
    bad_from: int | None = None
    bad_rate: float = 0.0
    next_k: int = 0


class SimAccount:
    def __init__(
        self,
        account_id: str,
        index: int,
        profile: Profile,
        rng: random.Random,
        origin: float,
        days: int,
    ) -> None:
        self.account_id = account_id
        self.index = index
        self.profile = profile
        self.rng = rng
        self.origin = origin
        self.days = days
        self.monthly = rng.randint(*profile.monthly_sends)
        self.list_size = max(50, self.monthly)
        self.recipients = 0
        self.seq = 0
        self.bursts: list[_Burst] = []
        self.campaigns: dict[int, list[_Burst]] = {}
        self.signals: dict[int, list[tuple[float, dict[str, Any]]]] = {}
        self._plan_campaigns()
        self._plan_signals()

    def _id(self) -> str:
        self.seq += 1
        return f"{self.account_id}-{self.seq}"

    def _event(self, topic: str, ts: float, **fields: Any) -> dict[str, Any]:
        return {
            "topic": topic,
            "event_id": self._id(),
            "account_id": self.account_id,
            "occurred_at": stamp(ts),
            "channel": self.profile.channel,
            **fields,
        }

    def _plan_campaigns(self) -> None:
        low, high = self.profile.campaigns
        if high <= 0:
            return
        rng, scale = self.rng, self.days / 30
        count = max(1, round(rng.randint(low, high) * scale))
        days = sorted(rng.sample(range(self.days), min(count, self.days)))
        bad = rng.randrange(len(days)) if self.profile.bad_campaign else -1
        for k, day in enumerate(days):
            size = max(20, round(self.monthly * scale / len(days) * rng.uniform(0.7, 1.3)))
            start = self.origin + day * DAY + rng.uniform(8, 16) * HOUR
            burst = _Burst(start, rng.uniform(0.5, 2.5) * HOUR / size, size)
            burst.campaign_id = f"{self.account_id}-c{k + 1}"
            if k == bad:
                burst.bad_from = int(size * rng.uniform(0.3, 0.6))
                burst.bad_rate = rng.uniform(0.2, 0.35)
            self.campaigns.setdefault(day, []).append(burst)

    def _plan_signals(self) -> None:
        p, rng = self.profile, self.rng
        end = self.days * DAY

        def when() -> float:
            return self.origin + rng.uniform(HOUR, end - HOUR)

        def recipient() -> str:
            idx = rng.randrange(self.list_size)
            return f"u{idx}@{DOMAINS[idx % len(DOMAINS)]}"

        planned: list[tuple[float, dict[str, Any]]] = []
        for j in range(rng.randint(*p.abuse_complaints)):
            ts = when()
            planned.append((ts, self._event(
                "email.abuse-desk", ts, recipient=recipient(),
                complaint_id=f"AD-{self.index}-{j + 1}",
                summary="Recipient says they never signed up for this mailing.",
            )))  # fmt: skip
        for j in range(p.trap_hits):
            ts = when()
            trap = f"trap{self.index}-{j}@{DOMAINS[j % len(DOMAINS)]}"
            planned.append((ts, self._event(
                "email.spam-trap", ts, recipient=trap, trap_kind=rng.choice(TRAP_KINDS)
            )))  # fmt: skip
        ip = f"192.0.2.{self.index % 250 + 1}"
        for j in range(rng.randint(*p.blocklist_episodes)):
            listed_at = self.origin + rng.uniform(0, end - DAY / 2)
            episodes = [(listed_at, rng.uniform(0.5, 4) * DAY, BLOCKLISTS[j % len(BLOCKLISTS)])]
            if rng.random() < _DOUBLE_LISTING:
                second = listed_at + rng.uniform(600, 6 * HOUR)
                episodes.append((second, rng.uniform(0.3, 2) * DAY, BLOCKLISTS[(j + 1) % 4]))
            for ts, lasts, name in episodes:
                for at, listed in ((ts, True), (ts + lasts, False)):
                    if at < self.origin + end:
                        event = self._event("email.blocklist", at, blocklist=name, listed=listed)
                        planned.append((at, {**event, "ip": ip}))
        for ts, event in planned:
            self.signals.setdefault(int((ts - self.origin) // DAY), []).append((ts, event))

    def begin_day(self, day: int, day_start: float, push: Push) -> bool:
        """Plan the day's bursts and release its rare signals; True if it sends today."""
        self.bursts = [b for b in self.bursts if b.next_k < b.count]
        for ts, event in self.signals.pop(day, ()):
            push(ts, event)
        if self.profile.campaigns[1] > 0:
            self.bursts.extend(self.campaigns.pop(day, ()))
        else:
            weekday = datetime.fromtimestamp(day_start, UTC).weekday() < 5
            crm = self.profile.channel == "crm"
            factor = (1.3 if crm else 1.2) if weekday else (0.25 if crm else 0.5)
            count = round(self.monthly / 30 * factor * self.rng.uniform(0.75, 1.25))
            if count > 0:
                start = day_start + self.rng.uniform(6.5, 8) * HOUR
                length = self.rng.uniform(9, 11) * HOUR
                self.bursts.append(_Burst(start, length / count, count))
        return bool(self.bursts)

    def send(self, until: float, push: Push) -> None:
        """Draw every send whose slot starts before ``until``, with its effects."""
        for burst in self.bursts:
            while burst.next_k < burst.count and (
                burst.start + burst.next_k * burst.spacing < until
            ):
                self._send(burst, burst.next_k, push)
                burst.next_k += 1

    def _send(self, burst: _Burst, k: int, push: Push) -> None:
        """One delivery, and what follows it: a bounce, or an unsubscribe / spam report."""
        p, rng = self.profile, self.rng
        ts = burst.start + (k + rng.random()) * burst.spacing
        idx = self.recipients % self.list_size
        self.recipients += 1
        extra: dict[str, Any] = {"recipient": f"u{idx}@{DOMAINS[idx % len(DOMAINS)]}"}
        if burst.campaign_id is not None:
            extra["campaign_id"] = burst.campaign_id
        push(ts, self._event("email.delivery", ts, **extra))
        hard = p.hard_bounce
        if burst.bad_from is not None and k >= burst.bad_from:
            hard = burst.bad_rate
        roll = rng.random()
        if roll < hard:
            at = ts + 2 + min(rng.expovariate(1 / 60), 600)
            push(at, self._event("email.bounce", at, bounce_type="hard", smtp_code=550,
                                 diagnostic="5.1.1 user unknown", **extra))  # fmt: skip
        elif roll < hard + p.soft_bounce:
            at = ts + 30 + min(rng.expovariate(1 / 1800), 6 * HOUR)
            push(at, self._event("email.bounce", at, bounce_type="soft", smtp_code=421,
                                 diagnostic="4.7.0 try again later", **extra))  # fmt: skip
        else:
            if rng.random() < p.unsubscribe:
                at = ts + 600 + min(rng.expovariate(1 / (18 * HOUR)), 5 * DAY)
                push(at, self._event("email.unsubscribe", at, **extra))
            if rng.random() < p.spam_report:
                at = ts + 60 + min(rng.expovariate(1 / (8 * HOUR)), 3 * DAY)
                push(at, self._event("email.spam-report", at, **extra))
