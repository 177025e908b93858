"""A backlog that outlives the broker's periodic work, drained by a fresh worker, and the
same backlog drained while the worker is killed again and again: both end exactly where
``sendguard replay`` of the same events ends.

The session's broker checks retention every 2 s (``tests/conftest.py``): a record
stamped in the past, as the internal topic's records once were (1970), is deleted
unread within seconds, and this test then loses events.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from datetime import datetime
from typing import Any

import pytest

from offline.produce import to_kafka
from streams.provision import ensure_topics
from streams.settings import Settings
from tests.integration.backlog import Month, assert_end_state_equals_replay, mixed_keys
from tests.integration.http import AUTH_ENV, OPERATOR_TOKEN, account_token, appeal_form, call
from tests.integration.kafka_io import Record, read_all

pytestmark = pytest.mark.integration

KILLS = 6
RETENTION_CHECKS_S = 8.0


@pytest.fixture
def month(backlog_month: Month) -> Month:
    return backlog_month


async def produce_backlog(worker: Any, pipeline: Any, month: Month) -> None:
    """The topics, then the whole month, before any worker runs."""
    await ensure_topics(Settings.from_env(worker.env))
    await asyncio.to_thread(to_kafka, month.items, pipeline.bootstrap, pipeline.prefix,
                            progress=None, key_of=mixed_keys(0.02))  # fmt: skip


async def test_a_backlog_outlives_retention_checks_and_ends_as_the_replay(
    month: Month, worker_factory: Any, pipeline: Any
) -> None:
    worker = worker_factory(start=False, SENDGUARD_POLICY=str(month.policy_path), **AUTH_ENV)
    started = time.time()
    await produce_backlog(worker, pipeline, month)
    await asyncio.sleep(RETENTION_CHECKS_S)  # a few of the broker's checks, before any read
    worker.start()
    await pipeline.wait_drained(timeout=300)  # also: committed lag 0 on every partition
    app_id = worker.env["SENDGUARD_APP_ID"]
    await assert_end_state_equals_replay(pipeline, month, app_id, once=True)
    letters = await pipeline.dead_letters()
    assert len(letters) == month.rejected
    await appeal_for_a_legacy_account(worker, pipeline)
    await assert_every_record_is_stamped_with_its_time(pipeline, app_id, started, time.time())
    log = worker.log_path.read_text()
    assert "out of range" not in log and "EVENTS LOST" not in log


async def test_kill_9_while_draining_a_backlog_loses_nothing_and_counts_nothing_twice(
    month: Month, worker_factory: Any, pipeline: Any
) -> None:
    """Stopped mid-drain again and again, by SIGKILL and by SIGTERM in turn. A SIGTERM
    lands while flushes are on their way (a draining worker always has one): the worker
    stops cleanly, exit code 0 (faust closes the tables before the agents stop)."""
    worker = worker_factory(start=False, SENDGUARD_POLICY=str(month.policy_path))
    await produce_backlog(worker, pipeline, month)
    rng = random.Random(29)
    worker.start()
    kills = 0
    while kills < KILLS:
        await asyncio.sleep(rng.uniform(0.1, 0.7))  # from ready: a worker drains ~35k/s
        if not await pipeline.behind():
            break
        if kills % 2:
            code = await asyncio.to_thread(worker.stop)
            assert code == 0, worker.log_tail()
        else:
            worker.kill()
        kills += 1
        worker.start()
    assert kills == KILLS, f"the backlog drained after {kills} stops"
    await pipeline.wait_drained(timeout=300)
    await assert_end_state_equals_replay(
        pipeline, month, worker.env["SENDGUARD_APP_ID"], once=False
    )
    log = worker.log_path.read_text()
    assert "a flush failed" not in log and "lock hold" not in log
    print(f"\nkill -9 and SIGTERM: {kills} stops mid-drain, {month.events:,} events, "
          f"{len(month.decisions)} decisions, 0 lost, 0 counted twice")  # fmt: skip


async def appeal_for_a_legacy_account(worker: Any, pipeline: Any) -> None:
    """An appeal and its notification, so that those topics have records to check too."""
    base = worker.url("")
    accounts = {r.json()["account_id"]: r.json() for r in await pipeline.read("accounts")}
    statuses = await pipeline.statuses()
    for account_id, status in statuses.items():
        marketing = status["channels"]["marketing"]
        legacy = accounts.get(account_id, {}).get("tier") == "legacy"
        if legacy and marketing["state"] == "suspended":
            reply = await call(base, "POST", f"/accounts/{account_id}/appeals",
                               account_token(account_id), appeal_form())  # fmt: skip
            assert reply.status == 201, reply.text
            decided = await call(base, "POST", f"/appeals/{reply.json()['appeal_id']}/decision",
                                 OPERATOR_TOKEN, {"decision": "deny", "note": "t"})  # fmt: skip
            assert decided.status == 200, decided.text
            return
    pytest.fail("no suspended legacy account in the month")


#: topic -> the field holding the time a record describes (None: when it was written)
DESCRIBED_BY = {
    "sendguard.decisions": "decided_at",
    "sendguard.account-status": "updated_at",
    "sendguard.suppressions": "suppressed_at",
    "sendguard.notifications": "created_at",
    "sendguard.appeals": None,
    "sendguard.dead-letter": None,
    "sendguard.events": None,
    "sendguard.progress": None,
}


async def assert_every_record_is_stamped_with_its_time(
    pipeline: Any, app_id: str, started: float, ended: float
) -> None:
    """Every record Sendguard wrote carries, in Kafka's epoch milliseconds, the time it
    describes (its own time field, or when it was written), within a minute."""
    changelogs = [f"{app_id}-{table}-changelog"
                  for table in ("accounts", "seen-events", "suppressions", "account-meta",
                                "appeals", "decisions")]  # fmt: skip
    topics = [pipeline.topic(name) for name in DESCRIBED_BY] + changelogs
    records = await read_all(pipeline.bootstrap, topics)
    seen = {r.topic for r in records}
    assert seen == set(topics), f"no records on {set(topics) - seen}"
    for record in records:
        described = _described(record, pipeline.prefix)
        if described is None:
            assert started - 60 <= record.timestamp / 1000 <= ended + 60, record
        else:
            assert abs(record.timestamp / 1000 - described) <= 60, (record, described)


def _described(record: Record, prefix: str) -> float | None:
    name = record.topic[len(prefix) :]
    if name == "sendguard.appeals":
        body = record.json()
        return _epoch(body["decided_at"] or body["filed_at"])
    field = DESCRIBED_BY.get(name)
    if field is None:
        if name == "sendguard.progress" and record.value and record.value[:1] == b"P":
            return float(json.loads(record.value[1:])["reported_at"])
        return None
    return _epoch(record.json()[field])


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
