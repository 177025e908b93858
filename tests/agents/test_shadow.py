"""A shadow policy beside the live one: same events, own state, its decisions only.

Two ``Ingest`` rigs over real RocksDB tables are fed the same records, one with a shadow
policy and one without; everything but ``sendguard.shadow-decisions`` must be the same.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from faust.types import TP

from policy import Policy, load_policy
from tests.agents.test_ingest import Rig
from tests.integration.traffic import bounces, deliveries

SHADOW = 'version = "candidate-1"\n[marketing.suspend]\nhard_bounce_rate = 0.03\n'


def _shadow_policy(tmp_path: Path) -> Policy:
    path = tmp_path / "shadow.toml"
    path.write_text(SHADOW)
    return load_policy(path)


#: Stamped with the wall clock when queued, so they differ between two rigs.
_CLOCK_FIELDS = {"suppressed_at", "updated_at", "decided_at", "since"}


def _without_clock(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_clock(v) for k, v in value.items() if k not in _CLOCK_FIELDS}
    return value


def _live_records(rig: Rig) -> list[Any]:
    return [
        (topic, partition, key, _without_clock(json.loads(value)), headers)
        for topic, partition, key, value, headers in rig.outbox.queued()
        if not topic.endswith("shadow-decisions")
    ]


def _feed_month(rigs: list[Rig]) -> None:
    sent, bounced = deliveries("acme", 1000), bounces("acme", 40)
    for rig in rigs:
        rig.feed("email.delivery", 0, sent)
        rig.feed("email.bounce", 0, bounced)  # 4 %: live warns, the shadow suspends


def test_the_shadow_decides_by_its_policy_and_changes_nothing_live(tmp_path: Path) -> None:
    plain = Rig(tmp_path / "plain", partitions=1)
    shadowed = Rig(tmp_path / "shadowed", partitions=1, shadow=_shadow_policy(tmp_path))
    _feed_month([plain, shadowed])

    live = [(d["action"], d["policy_version"]) for _, _, d, _ in plain.out("sendguard.decisions")]
    assert live == [("warn", "2026-11-default")]
    shadow = [(d["action"], d["reason"], d["policy_version"], d["evidence"]["hard_bounces"])
              for _, _, d, _ in shadowed.out("sendguard.shadow-decisions")]  # fmt: skip
    assert shadow == [("warn", "hard_bounce_rate", "candidate-1", 21),
                      ("suspend", "hard_bounce_rate", "candidate-1", 31)]  # fmt: skip
    # Statuses, suppressions, live decisions: record for record what the plain worker queues.
    records = _live_records(plain)
    assert {topic for topic, *_ in records} == {
        "sendguard.decisions", "sendguard.account-status", "sendguard.suppressions"
    }  # fmt: skip
    assert _live_records(shadowed) == records
    assert not plain.out("sendguard.shadow-decisions")

    shadowed.flush()
    assert shadowed.store.load_account("acme").channels["marketing"].status.state == "warned"
    shadow_store = shadowed.checkpoint.stores[1]
    assert shadow_store.load_account("acme").channels["marketing"].status.state == "suspended"
    def counted(action: str, policy: str) -> float | None:
        return shadowed.metrics.registry.get_sample_value("sendguard_decisions_total", {
            "action": action, "reason": "hard_bounce_rate", "channel": "marketing",
            "policy": policy})  # fmt: skip

    assert (counted("warn", "live"), counted("suspend", "live")) == (1, None)
    assert (counted("warn", "shadow"), counted("suspend", "shadow")) == (1, 1)

def test_a_batch_stays_unacknowledged_until_both_policies_counted_it(tmp_path: Path) -> None:
    rig = Rig(tmp_path, partitions=1, shadow=_shadow_policy(tmp_path))
    rig.busy.add(TP("email.delivery", 0))  # deliveries still coming: the watermark waits
    batch = rig.feed("email.bounce", 0, bounces("acme", 1))
    assert batch.held == 2  # held by the live guard and by the shadow's
    rig.busy.clear()
    rig.feed("email.delivery", 0, deliveries("acme", 1))
    assert batch.held == 0
    for store in rig.checkpoint.stores:
        (period,) = store.load_account("acme").channels["marketing"].periods.values()
        assert (period.sent, period.hard_bounces) == (1, 1)


def test_a_revoked_partition_is_forgotten_by_both_policies(tmp_path: Path) -> None:
    rig = Rig(tmp_path, partitions=1, shadow=_shadow_policy(tmp_path))
    rig.busy.add(TP("email.delivery", 0))
    rig.feed("email.bounce", 0, bounces("acme", 1))
    assert all(lane.waiting for lane in rig.ingest.lanes)
    rig.ingest.forget({0})
    assert not any(lane.waiting or lane.guards for lane in rig.ingest.lanes)


def test_an_upstream_duplicate_is_skipped_by_both_policies(tmp_path: Path) -> None:
    """The shadow reads the live seen ids: a retry of a counted event is not counted."""
    rig = Rig(tmp_path, partitions=1, shadow=_shadow_policy(tmp_path))
    sent = deliveries("acme", 3)
    rig.feed("email.delivery", 0, sent)
    rig.flush()
    rig.feed("email.delivery", 0, [sent[1]])  # an MTA's retry: another message, same id
    for store in rig.checkpoint.stores:
        (period,) = store.load_account("acme").channels["marketing"].periods.values()
        assert period.sent == 3
    assert rig.ingest.outcomes[("email.delivery", "duplicate")] == 1
