"""A month of simulated traffic as a backlog, its replay, and the checks that the worker's
end state equals the replay's: decisions, statuses, suppressions and every count."""

from __future__ import annotations

import io
import json
import random
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from offline.replay import replay
from offline.simulate import simulate, write_jsonl
from policy import load_policy
from policy.state import decode_state
from policy.store import DictStore
from tests.integration.chaos import comparable, describe_difference
from tests.integration.kafka_io import read_all

#: The stream judges lateness by the wall clock: a grace that covers the simulated month
#: keeps every event in play, as the replay's event clock does.
POLICY = 'version = "backlog"\nlate_grace_days = 40\n'


@dataclass
class Month:
    items: list[dict[str, Any] | str]
    events: int
    policy_path: Path
    decisions: dict[str, dict[str, Any]]
    store: DictStore
    rejected: int


def simulate_month(tmp: Path, accounts: int, seed: int) -> Month:
    policy_path = tmp / "policy.toml"
    policy_path.write_text(POLICY)
    start = (datetime.now(UTC) - timedelta(days=30)).replace(minute=0, second=0, microsecond=0)
    items = list(simulate(accounts, seed, start=start, days=30, duplicates=0.003,
                          malformed=0.0005))  # fmt: skip
    path = tmp / "month.jsonl"
    write_jsonl(items, path)
    out = io.BytesIO()
    result = replay(path, load_policy(policy_path), progress=False, summary=False, out=out,
                    keep_state=True)  # fmt: skip
    assert result.store is not None
    decisions = {
        d["decision_id"]: comparable(d) for d in map(json.loads, out.getvalue().splitlines())
    }
    events = sum(1 for i in items if not (isinstance(i, dict) and i["topic"] == "accounts"))
    return Month(items, events, policy_path, decisions, result.store, result.rejected)


def mixed_keys(share: float, seed: int = 3) -> Any:
    """Key most messages by account, as the contract asks, and ``share`` of them otherwise
    (half by a random key, half without key): the answers must not change."""
    rng = random.Random(seed)

    def key_of(item: Any, by_account: bytes | None) -> bytes | None:
        draw = rng.random()
        if draw >= share:
            return by_account
        return None if draw < share / 2 else f"k{zlib.crc32(str(item).encode())}".encode()

    return key_of


async def assert_end_state_equals_replay(
    pipeline: Any, month: Month, app_id: str, once: bool
) -> None:
    """Decisions, statuses, suppressions and every account row's counts equal the replay.

    ``once``: no crash happened, so every decision and suppression was published once.
    """
    raw = await pipeline.raw_decisions()
    published = {d["decision_id"]: comparable(d) for d in raw}
    assert published == month.decisions, describe_difference(published, month.decisions)
    if once:
        assert len(raw) == len(published), "a decision was published twice"
    suspends = [(d["account_id"], d["channel"], d["period"])
                for d in published.values() if d["action"] == "suspend"]  # fmt: skip
    assert len(suspends) == len(set(suspends)), "an account-channel was suspended twice"

    records = await pipeline.read("sendguard.suppressions")
    keys = [r.key.decode() for r in records if r.key is not None]
    if once:
        assert len(keys) == len(set(keys)), "a recipient was suppressed twice"
    got = {r.key.decode(): r.json()["reason"] for r in records if r.key is not None}
    assert got == month.store.suppressed

    rows = {}
    for record in await read_all(pipeline.bootstrap, [f"{app_id}-accounts-changelog"]):
        assert record.key is not None and record.value is not None
        rows[record.key.decode()] = decode_state(record.value)
    want = month.store.accounts
    assert rows.keys() == want.keys()
    for account_id, row in rows.items():
        for name, channel in want[account_id].channels.items():
            mine = row.channels[name]
            assert mine.periods == channel.periods, (account_id, name, mine.periods,
                                                     channel.periods)  # fmt: skip
            assert mine.campaign_counts == channel.campaign_counts, (account_id, name)
            assert mine.status.state == channel.status.state, (account_id, name)

    statuses = await pipeline.statuses()
    for account_id, row in want.items():
        states = {name: c.status.state for name, c in row.channels.items()}
        if set(states.values()) != {"active"}:
            published_states = {n: c["state"] for n, c in statuses[account_id]["channels"].items()}
            assert published_states == states, account_id
