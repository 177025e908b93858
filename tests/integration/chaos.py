"""Traffic, ground truth and end-state checks shared by the fault tests.

The ground truth is the pure guard (``policy.guard``, the code the offline replay runs)
fed the same events in event-time order: whatever the worker went through, its published
decisions and its counts must equal it.
"""

from __future__ import annotations

import io
import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from offline.replay import replay
from offline.result import ReplayResult
from policy import load_policy
from policy.guard import Guard, order_key
from policy.store import DictStore
from schemas.parse import parse_event
from tests.integration.http import OPERATOR_TOKEN, call
from tests.integration.traffic import event

PROFILES = {  # per delivery: chance of a hard bounce, unsubscribe, spam report
    "clean": (0.005, 0.005, 0.0),
    "bouncy": (0.08, 0.01, 0.0),
    "unwanted": (0.01, 0.07, 0.0),
    "spammy": (0.005, 0.01, 0.003),
    "mixed": (0.03, 0.03, 0.0005),
}


def month_of_traffic(sends_per_account: int = 1500, seed: int = 11) -> list[dict[str, Any]]:
    """Interleaved traffic of several kinds of account, in event-time order."""
    rng = random.Random(seed)
    accounts = [(f"{name}-{i}", name) for name in PROFILES for i in range(2)]
    events: list[dict[str, Any]] = []
    for n in range(sends_per_account):
        for account, profile in accounts:
            recipient = f"u{n}@{account}.example"
            events.append(event("email.delivery", account, recipient=recipient))
            bounce, unsub, spam = PROFILES[profile]
            if rng.random() < bounce:
                events.append(
                    event("email.bounce", account, recipient=recipient, bounce_type="hard")
                )
            if rng.random() < unsub:
                events.append(event("email.unsubscribe", account, recipient=recipient))
            if rng.random() < spam:
                events.append(event("email.spam-report", account, recipient=recipient))
            if rng.random() < 0.001:
                events.append(
                    event("email.bounce", account, recipient=recipient, bounce_type="soft")
                )
        if n == sends_per_account // 2:
            events.append(event("email.abuse-desk", "mixed-0", complaint_id="c-9"))
    return events


@dataclass
class Truth:
    decisions: dict[str, dict[str, Any]]
    counts: dict[tuple[str, str], dict[str, int]]  # (account, channel) -> this month's counts
    accounts: set[str]


def ground_truth(events: list[dict[str, Any]]) -> Truth:
    now = datetime.now(UTC)
    policy = load_policy()
    guard = Guard(policy, DictStore(), lambda: now)
    parsed = [
        parse_event(e["topic"], {k: v for k, v in e.items() if k != "topic"}, now=now,
                    late_grace_days=policy.late_grace_days)
        for e in events
    ]  # fmt: skip
    decisions: dict[str, dict[str, Any]] = {}
    for item in sorted(parsed, key=order_key):
        step = guard.receive(item)
        for d in step.outcome.decisions:
            decisions[d.decision_id] = comparable(d)
    period = f"{now.year:04d}-{now.month:02d}"
    counts = {}
    accounts = {e.account_id for e in parsed}
    for account in accounts:
        state = guard.store.load_account(account)
        assert state is not None
        for channel, channel_state in state.channels.items():
            c = channel_state.periods.get(period)
            if c is not None:
                counts[(account, channel)] = {
                    "sent": c.sent, "hard_bounces": c.hard_bounces, "soft_bounces": c.soft_bounces,
                    "spam_reports": c.spam_reports, "unsubscribes": c.unsubscribes,
                    "abuse_complaints": c.abuse_complaints,
                }  # fmt: skip
    return Truth(decisions, counts, accounts)


def replayed_decisions(events_file: Path, policy_path: Path) -> tuple[ReplayResult, dict]:
    """``sendguard replay`` of a file under a policy file: its result (with the final
    state) and its decisions by id, in the form :func:`comparable` gives."""
    out = io.BytesIO()
    result = replay(events_file, load_policy(policy_path), progress=False, summary=False,
                    out=out, keep_state=True)  # fmt: skip
    decisions = {
        d["decision_id"]: comparable(d) for d in map(json.loads, out.getvalue().splitlines())
    }
    return result, decisions


def comparable(decision: Any) -> dict[str, Any]:
    """The parts of a decision that must be equal between runs (not ``decided_at``)."""
    d = decision if isinstance(decision, dict) else _as_dict(decision)
    return {k: d[k] for k in ("decision_id", "account_id", "channel", "action", "reason",
                              "period", "evidence", "trigger_event_id", "suspension_type",
                              "policy_version")}  # fmt: skip


def _as_dict(decision: Any) -> dict[str, Any]:
    import msgspec

    return msgspec.to_builtins(decision)


def describe_difference(got: dict[str, Any], want: dict[str, Any]) -> str:
    def short(d: dict[str, Any]) -> str:
        e = d["evidence"]
        return (f"{d['account_id']}/{d['channel']} {d['action']} {d['reason']} "
                f"trigger={d['trigger_event_id']} sent={e['sent']} hb={e['hard_bounces']} "
                f"unsub={e['unsubscribes']} spam={e['spam_reports']}")  # fmt: skip

    lines = [f"published {len(got)}, expected {len(want)}"]
    lines += ["  extra:   " + short(got[k]) for k in sorted(got.keys() - want.keys())][:10]
    lines += ["  missing: " + short(want[k]) for k in sorted(want.keys() - got.keys())][:10]
    lines += [f"  differs: {short(got[k])} vs {short(want[k])}"
              for k in sorted(got.keys() & want.keys()) if got[k] != want[k]][:10]  # fmt: skip
    return "\n".join(lines)


async def assert_matches_truth(pipeline: Any, base_url: str, truth: Truth) -> None:
    raw = await pipeline.raw_decisions()
    published = {d["decision_id"]: comparable(d) for d in raw}
    assert published == truth.decisions, describe_difference(published, truth.decisions)
    suspends = [d for d in published.values() if d["action"] == "suspend"]
    keys = [(d["account_id"], d["channel"], d["period"]) for d in suspends]
    assert len(keys) == len(set(keys)), "an account-channel was suspended twice"
    for account in sorted(truth.accounts):
        reply = await call(base_url, "GET", f"/accounts/{account}", OPERATOR_TOKEN)
        assert reply.status == 200, reply.text
        view = reply.json()["channels"]
        for channel in ("marketing", "crm"):
            expected = truth.counts.get((account, channel))
            got = {k: view[channel]["counts"][k] for k in (expected or {})}
            assert got == (expected or {}), (account, channel)
