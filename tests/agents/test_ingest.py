"""The guard's record handling, data in and data out, without Faust's worker or a broker.

Records go in as aiokafka ``ConsumerRecord``s; what comes out is read from the outbox
(the records the next flush would publish) and from the store: the worker's own
``TableBatch`` over real RocksDB tables (faust tables, no broker).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiokafka.structs import ConsumerRecord
from prometheus_client import CollectorRegistry

from agents.envelope import PROGRESS, wrap
from agents.ingest import APPENDED_AT, REJECTS_LOGGED_PER_S, Batch, Ingest
from agents.outbox import Outbox
from agents.progress import ProgressReport, source_name
from policy import Policy, load_policy
from schemas.parse import parse_event
from streams.app import create_app
from streams.metrics import Metrics
from streams.partitioning import account_partition
from streams.settings import Settings
from streams.topics import TopicNames
from streams.topics import TopicPartition as TP
from tables import Tables, define_shadow_tables, define_tables
from tables.batch import TableBatch
from tables.checkpoint import Checkpoint
from tables.reads import decision_list
from tables.shadow import ShadowStore
from tests.integration.traffic import bounces, deliveries, event, signals, stamp

NAMES = TopicNames.prefixed("")


class Rig:
    """An ``Ingest`` over real tables, and the offsets of what each partition was fed."""

    def __init__(self, tmp_path: Path, partitions: int, tables: Tables | None = None,
                 shadow: Policy | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:  # fmt: skip
        app = create_app(Settings(data_dir=tmp_path, app_id="ingest"))
        if tables is None:
            tables = define_tables(app, block_cache_bytes=1 << 20, seen_ttl_days=9,
                                   partitions=partitions)  # fmt: skip
        self.tables = tables
        self.store = TableBatch(tables, partitions)
        self.checkpoint = Checkpoint(self.store)
        shadow_lane = None
        if shadow is not None:
            shadow_tables = define_shadow_tables(app, tables, block_cache_bytes=1 << 20,
                                                 seen_ttl_days=9, partitions=partitions)  # fmt: skip
            own = TableBatch(shadow_tables, partitions)
            shadow_lane = (shadow, ShadowStore(own, self.store))
            self.checkpoint = Checkpoint(self.store, own)
        self.outbox = Outbox(lambda topic: partitions)
        self.metrics = Metrics(CollectorRegistry())
        #: next offset per topic partition; a partition fed to its end is caught up
        self.ends: dict[TP, int] = {}
        #: topic partitions still being written to (not idle even when read to the end)
        self.busy: set[TP] = set()
        self.ingest = Ingest(
            policy=load_policy(), store=self.store, outbox=self.outbox, metrics=self.metrics,
            names=NAMES, partitions=partitions, partitions_of=lambda topic: partitions,
            allowance=timedelta(seconds=5), positions=self._positions,
            events_read=lambda p: self.ends.get(TP(NAMES.events, p), 0), reporter="test",
            shadow=shadow_lane, clock=clock, hold_back_above=Settings().hold_back_above,
        )  # fmt: skip
        self.ingest.assigned(TP(NAMES.events, p) for p in range(partitions))

    def _positions(self, tp: TP) -> tuple[int | None, int | None]:
        """(end, delivered): what was fed has all been delivered."""
        end = self.ends.get(tp, 0)
        return (end + 1 if tp in self.busy else end), end

    def feed(self, topic: str, partition: int, values: list[Any],
             headers: list[tuple[str, bytes]] | None = None, key: bytes | None = b"k") -> Batch:  # fmt: skip
        """Deliver ``values`` as one batch of records at the partition's next offsets."""
        tp = TP(topic, partition)
        start = self.ends.get(tp, 0)
        records = [
            ConsumerRecord(topic=topic, partition=partition, offset=start + n,
                           timestamp=1_700_000_000_000 + n, timestamp_type=0, key=key,
                           value=_raw(value), checksum=None, serialized_key_size=1,
                           serialized_value_size=0, headers=headers or [])
            for n, value in enumerate(values)
        ]  # fmt: skip
        self.ends[tp] = start + len(records)
        batch = Batch(partition)
        self.ingest.take(batch, topic, partition, records)
        return batch

    def flush(self) -> None:
        """What the worker's flush does to the store (the records stay queued here)."""
        for partition, accounts in self.checkpoint.commit_locally().items():
            self.ingest.census.created(partition, accounts)

    def out(self, topic: str) -> list[tuple[int, bytes | None, Any, list[Any]]]:
        """(partition, key, decoded value, headers) queued for ``topic``."""
        return [
            (partition, key, _decoded(value), headers)
            for name, partition, key, value, headers in self.outbox.queued()
            if name == topic
        ]

    def sent(self, account: str) -> int:
        state = self.store.load_account(account)
        assert state is not None
        return sum(p.sent for p in state.channels["marketing"].periods.values())


def _raw(value: Any) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    return json.dumps({k: v for k, v in value.items() if k != "topic"}).encode()


def _decoded(value: bytes | None) -> Any:
    if value is None or value[:1] != b"{":
        return value
    return json.loads(value)


@pytest.fixture
def one(tmp_path: Path) -> Rig:
    """One partition: every account is owned here and every source read directly."""
    return Rig(tmp_path, partitions=1)


def test_a_bad_record_is_dead_lettered_and_the_good_ones_around_it_counted(one: Rig) -> None:
    good = deliveries("acme", 3)
    one.feed("email.delivery", 0, [good[0], b"{not json", good[1], None, good[2]])
    letters = [value for _, _, value, _ in one.out("sendguard.dead-letter")]
    assert [(d["offset"], d["error"][:9], d["raw"]) for d in letters] == [
        (1, "not JSON:", "{not json"),
        (3, "empty mes", ""),
    ]
    assert one.sent("acme") == 3
    assert one.ingest.outcomes == {("email.delivery", "accepted"): 3,
                                   ("email.delivery", "invalid"): 2}  # fmt: skip


def test_a_bounce_rate_over_the_limit_suspends_with_status_and_suppressions(one: Rig) -> None:
    one.feed("email.delivery", 0, deliveries("bad", 1000))
    bounced = bounces("bad", 60)
    one.feed("email.bounce", 0, bounced)
    decisions = [value for _, _, value, _ in one.out("sendguard.decisions")]
    assert [(d["action"], d["reason"], d["evidence"]["hard_bounces"]) for d in decisions] == [
        ("warn", "hard_bounce_rate", 21),  # over the warn limit of 2 %
        ("suspend", "hard_bounce_rate", 51),  # over the suspend limit of 5 %
    ]
    status = [value for _, _, value, _ in one.out("sendguard.account-status")]
    assert status[-1]["channels"]["marketing"]["state"] == "suspended"
    suppressed = {value["recipient"] for _, _, value, _ in one.out("sendguard.suppressions")}
    assert suppressed == {b["recipient"] for b in bounced}
    assert one.store.load_account("bad").channels["marketing"].status.state == "suspended"
    one.flush()
    listed = [json.loads(d) for d in decision_list(one.tables, 1)("bad", 10)]
    assert [(d["action"], d["decision_id"]) for d in listed] == [
        (d["action"], d["decision_id"]) for d in reversed(decisions)
    ]  # newest first, as published
    assert "51 of 1,000" in listed[0]["advice"]
    assert [json.loads(d) for d in decision_list(one.tables, 1)("bad", 1)] == listed[:1]
    assert decision_list(one.tables, 1)("ba", 10) == []  # a prefix of another account


def test_an_event_waits_for_the_watermark_and_keeps_its_batch_unacknowledged(one: Rig) -> None:
    late_delivery, bounce = deliveries("acme", 1)[0], bounces("acme", 1)[0]
    one.busy.add(TP("email.delivery", 0))  # deliveries still coming: the watermark waits
    batch = one.feed("email.bounce", 0, [bounce])
    assert batch.held == 1 and one.ingest.held() == 1
    assert one.store.load_account("acme") is None
    one.busy.clear()
    one.feed("email.delivery", 0, [late_delivery])
    assert batch.held == 0 and one.ingest.held() == 0
    state = one.store.load_account("acme")
    assert state is not None
    (period,) = state.channels["marketing"].periods.values()
    assert (period.sent, period.hard_bounces) == (1, 1)


def test_an_event_off_its_account_partition_is_forwarded_to_the_owner(tmp_path: Path) -> None:
    rig = Rig(tmp_path, partitions=4)
    account = next(f"acct-{n}" for n in range(100) if account_partition(f"acct-{n}", 4) == 2)
    sent = deliveries(account, 2)
    rig.feed("email.delivery", 0, sent)
    forwarded = rig.out("sendguard.events")
    ((partition, key, value, headers), _) = forwarded
    assert (partition, key) == (2, account.encode())
    assert headers == [(APPENDED_AT, b"1700000000000")]
    assert rig.store.load_account(account) is None  # not counted on partition 0

    # The owner reads them from sendguard.events like any input. The report of the worker
    # reading the other partitions (all caught up) vouches for them: its fence for
    # partition 2 is past both forwards, so it counts once partition 2 has read that far.
    others = {
        source_name(topic, p): (None, True)
        for topic in (*NAMES.inputs, NAMES.accounts) for p in (0, 1, 3)
    }  # fmt: skip
    report = ProgressReport(reporter="another-worker", reported_at=time.time(), sources=others,
                            fences={2: 2})  # fmt: skip
    rig.ingest.offer_report(report)
    assert not rig.ingest.apply_reports()  # partition 2 has read nothing of the topic yet
    rig.feed("sendguard.events", 2, [value], headers)  # as forwarded: tag E, then JSON
    assert rig.ingest.held() == 1 and len(rig.ingest.gate) == 1  # before the fence
    rig.feed("sendguard.events", 2, [forwarded[1][2]], forwarded[1][3])
    assert rig.ingest.held() == 0 and len(rig.ingest.gate) == 0  # read to it: applied
    rig.flush()
    assert rig.sent(account) == 2


def test_a_partition_assigned_later_waits_for_the_fences_already_applied(
    tmp_path: Path,
) -> None:
    """Reports applied before partition 2 was this worker's vouch for forwards it may not
    have read yet: its watermark stays at the beginning until it has read that far."""
    rig = Rig(tmp_path, partitions=4)
    rig.ingest.revoked([TP(NAMES.events, 2)])
    others = {
        source_name(topic, p): (None, True)
        for topic in (*NAMES.inputs, NAMES.accounts) for p in (0, 1, 3)
    }  # fmt: skip
    rig.ingest.offer_report(ProgressReport(reporter="w", reported_at=time.time(),
                                           sources=others, fences={2: 2}))  # fmt: skip
    assert rig.ingest.apply_reports()
    rig.ingest.assigned([TP(NAMES.events, 2)])
    account = next(f"acct-{n}" for n in range(100) if account_partition(f"acct-{n}", 4) == 2)
    rig.feed("email.delivery", 2, deliveries(account, 1))
    assert rig.ingest.watermark(2) == datetime.min.replace(tzinfo=UTC)
    assert rig.ingest.held() == 1
    rig.feed("sendguard.events", 2, [_forwarded(account), _forwarded(account)])
    assert rig.ingest.watermark(2) is None  # read to the fence, every source caught up
    assert rig.ingest.held() == 0


def test_reports_advance_only_the_partitions_that_wait(tmp_path: Path, monkeypatch: Any) -> None:
    """Applying a report looks again at the guard partitions holding events (or holding
    input back), and leaves the others to their next batch: at 128 partitions, advancing
    every one per report refreshed 1,024 sources for nothing."""
    rig = Rig(tmp_path, partitions=4)
    account = next(f"acct-{n}" for n in range(100) if account_partition(f"acct-{n}", 4) == 2)
    for partition in (0, 1, 3):
        rig.feed("email.bounce", partition, [])  # read, with nothing to hold
    rig.feed("email.delivery", 2, deliveries(account, 1))
    assert rig.ingest.held() == 1  # the other partitions are unheard of
    assert sorted(rig.ingest.clocks) == [0, 1, 2, 3]
    advanced: list[int] = []
    advance = rig.ingest._advance  # noqa: SLF001
    monkeypatch.setattr(rig.ingest, "_advance",
                        lambda p, topics: (advanced.append(p), advance(p, topics)))  # fmt: skip
    others = {
        source_name(topic, p): (None, True)
        for topic in (*NAMES.inputs, NAMES.accounts) for p in (0, 1, 3)
    }  # fmt: skip
    rig.ingest.offer_report(ProgressReport(reporter="w", reported_at=time.time(),
                                           sources=others))  # fmt: skip
    assert rig.ingest.apply_reports()
    assert advanced == [2]
    assert rig.ingest.held() == 0
    rig.flush()
    assert rig.sent(account) == 1


def test_an_undecodable_internal_record_is_dead_lettered_and_counted(one: Rig) -> None:
    one.feed("sendguard.events", 0, [b"Zgarbage", _forwarded()])
    ((_, _, letter, _),) = one.out("sendguard.dead-letter")
    assert letter["error"] == "undecodable internal record: unknown envelope tag b'Z'"
    assert one.metrics.registry.get_sample_value("sendguard_undecodable_records_total") == 1
    assert one.sent("acme") == 1


def _forwarded(account: str = "acme") -> bytes:
    """A delivery of ``account`` as forwarded to ``sendguard.events``."""
    body = {k: v for k, v in event("email.delivery", account, recipient="u@x.test").items()
            if k != "topic"}  # fmt: skip
    return wrap(parse_event("email.delivery", body, now=datetime.now(UTC), late_grace_days=7))


def test_hostile_internal_records_are_dead_lettered_and_the_next_one_counted(one: Rig) -> None:
    """Anyone can produce to sendguard.events: a deep nesting, a report whose source is
    not "topic/partition", an event that breaks the input rules, a tombstone of a huge
    account id. Each is dead-lettered and counted, and the worker goes on."""
    report = {"reporter": "w", "reported_at": time.time(), "sources": {"nonsense": [1, False]}}
    huge = msgspec.json.decode(_forwarded()[1:])
    huge["account_id"] = "a" * 1_000_000
    one.feed("sendguard.events", 0, [
        b'E{"x":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        PROGRESS + msgspec.json.encode(report),
        b"E" + msgspec.json.encode(huge),
        b"D" + b"a" * 1_000_000,
        _forwarded(),
    ])  # fmt: skip
    errors = [letter["error"] for _, _, letter, _ in one.out("sendguard.dead-letter")]
    assert errors == [
        "undecodable internal record: nested too deeply",
        "undecodable internal record: sources: not a topic/partition: 'nonsense'",
        "undecodable internal record: account_id: longer than 200 characters (1000000)",
        "undecodable internal record: account_id: longer than 200 characters (1000000)",
    ]
    assert one.metrics.registry.get_sample_value("sendguard_undecodable_records_total") == 4
    assert one.sent("acme") == 1


def test_an_internal_record_that_fails_to_apply_is_dead_lettered_and_counted(
    one: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever goes wrong with one record of sendguard.events (here: a bug applying
    metadata) is dead-lettered as an internal error; the records after it are counted."""

    def broken(*args: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(one.ingest, "_meta", broken)
    one.feed("sendguard.events", 0, [b"Dacme", _forwarded()])
    ((_, _, letter, _),) = one.out("sendguard.dead-letter")
    assert letter["error"] == "internal error: RuntimeError: a bug"
    assert letter["raw"] == "Dacme"
    assert one.metrics.registry.get_sample_value("sendguard_undecodable_records_total") == 1
    assert one.sent("acme") == 1


@pytest.mark.parametrize("appended", [None, b"soon", b"9" * 5000])
def test_a_forward_with_a_bad_append_time_header_is_counted(one: Rig, appended: Any) -> None:
    one.feed("sendguard.events", 0, [_forwarded()], headers=[(APPENDED_AT, appended)])
    assert one.out("sendguard.dead-letter") == []
    assert one.sent("acme") == 1


def test_a_dead_letter_keeps_the_first_kib_of_a_huge_key(one: Rig) -> None:
    one.feed("email.delivery", 0, [b"{not json"], key=b"k" * 1_000_000)
    ((_, key, letter, _),) = one.out("sendguard.dead-letter")
    assert key == b"k" * 1024
    assert letter["error"].startswith("not JSON:")


def test_a_tombstone_on_accounts_deletes_the_accounts_metadata(one: Rig) -> None:
    one.feed("accounts", 0, [{"account_id": "acme", "tier": "enterprise"}], key=b"acme")
    meta = one.store.load_meta("acme")
    assert meta is not None and meta.tier == "enterprise"
    one.feed("accounts", 0, [None], key=b"acme")
    assert one.store.load_meta("acme") is None  # the defaults of an account never seen
    assert one.out("sendguard.dead-letter") == []


def test_a_tombstone_without_a_key_is_dead_lettered(one: Rig) -> None:
    one.feed("accounts", 0, [None], key=None)
    ((_, _, letter, _),) = one.out("sendguard.dead-letter")
    assert letter["error"] == "a tombstone (null value) without an account id as its key"


def test_a_tombstone_whose_key_is_no_account_id_is_dead_lettered(one: Rig) -> None:
    one.feed("accounts", 0, [None], key=b"a" * 1_000_000)
    ((_, key, letter, _),) = one.out("sendguard.dead-letter")
    assert letter["error"] == ("a tombstone (null value) whose key is no account id: "
                               "account_id: longer than 200 characters (1000000)")  # fmt: skip
    assert key == b"a" * 1024
    assert one.out("sendguard.events") == []


def test_a_tombstone_off_its_partition_is_forwarded_and_deletes_there(tmp_path: Path) -> None:
    rig = Rig(tmp_path, partitions=4)
    account = next(f"acct-{n}" for n in range(100) if account_partition(f"acct-{n}", 4) == 1)
    rig.feed("accounts", 1, [{"account_id": account, "tier": "starter"}], key=account.encode())
    rig.feed("accounts", 3, [None], key=account.encode())
    ((partition, _, value, _),) = rig.out("sendguard.events")
    assert (partition, value) == (1, b"D" + account.encode())
    rig.feed("sendguard.events", 1, [value])
    assert rig.store.load_meta(account) is None


def test_the_accounts_gauge_counts_the_table_also_after_a_restart(tmp_path: Path) -> None:
    def gauge(rig: Rig) -> dict[tuple[str, str], float]:
        return {
            (s.labels["state"], s.labels["channel"]): s.value
            for family in rig.metrics.registry.collect() if family.name == "sendguard_accounts"
            for s in family.samples if s.value
        }  # fmt: skip

    first = Rig(tmp_path, partitions=1)
    first.feed("email.delivery", 0, deliveries("calm", 3) + deliveries("noisy", 1000)
               + deliveries("bad", 1))  # fmt: skip
    first.feed("email.bounce", 0, bounces("noisy", 21))
    first.feed("email.abuse-desk", 0, [event("email.abuse-desk", "bad", complaint_id="c")])
    first.flush()
    expected = {("active", "marketing"): 1, ("warned", "marketing"): 1,
                ("suspended", "marketing"): 1, ("active", "crm"): 3}  # fmt: skip
    assert gauge(first) == expected

    restarted = Rig(tmp_path, partitions=1, tables=first.tables)  # a new process, same table
    restarted.feed("email.delivery", 0, deliveries("newcomer", 1))
    restarted.flush()
    assert gauge(restarted) == {**expected, ("active", "marketing"): 2, ("active", "crm"): 4}
    restarted.ingest.forget({0})  # the partition was revoked: its accounts are another's
    assert gauge(restarted) == {}


@pytest.mark.parametrize(("budget", "held_back"), [(50_000, False), (2, True)])
def test_a_partition_far_ahead_is_held_back_only_past_the_held_budget(
    tmp_path: Path, budget: int, held_back: bool
) -> None:
    """Input far ahead of the watermark is left out of the fetches only while the worker
    holds more than ``hold_back_above`` events: below it, holding back only slows a drain."""
    rig = Rig(tmp_path, partitions=1)
    rig.ingest.hold_back_above = budget
    rig.busy.add(TP("email.delivery", 0))  # deliveries still coming: the watermark waits
    start = datetime.now(UTC) - timedelta(hours=2)
    rig.feed("email.delivery", 0, deliveries("acme", 2, occurred_at=stamp(start)))
    later = stamp(start + timedelta(minutes=30))
    rig.feed("email.unsubscribe", 0, signals("email.unsubscribe", "acme", 2, occurred_at=later))
    assert rig.ingest.held() == 4
    assert (TP("email.unsubscribe", 0) in rig.ingest.held_back) is held_back


def test_an_event_stamped_ahead_neither_waits_nor_holds_its_partition_back(one: Rig) -> None:
    """An event stamped up to an hour ahead (the contract allows it: clock skew) while the
    watermark waits on a busy source: counted on arrival, so its batch is not pinned, and
    its partition is not taken for one running far ahead of the watermark."""
    one.busy.add(TP("email.delivery", 0))  # deliveries still coming: the watermark waits
    one.feed("email.delivery", 0, deliveries("acme", 2))
    ahead = event("email.unsubscribe", "acme", recipient="a@x.example",
                  occurred_at=stamp(datetime.now(UTC) + timedelta(minutes=50)))  # fmt: skip
    batch = one.feed("email.unsubscribe", 0, [ahead])
    assert batch.held == 0 and one.ingest.held() == 2  # the deliveries wait, as they should
    unsubscribes = TP("email.unsubscribe", 0)
    assert unsubscribes not in one.ingest.held_back
    after = one.feed("email.unsubscribe", 0, signals("email.unsubscribe", "acme", 1))
    assert after.held == 1  # an ordinary event waits for the deliveries, as it should
    assert unsubscribes not in one.ingest.held_back
    assert one.ingest.outcomes[("email.unsubscribe", "ahead_counted")] == 1
    state = one.store.load_account("acme")
    assert state is not None
    assert sum(p.unsubscribes for p in state.channels["marketing"].periods.values()) == 1


def test_a_flood_of_rejects_logs_a_bounded_number_of_lines_and_dead_letters_all(
    one: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="sendguard.guard")
    one.feed("email.delivery", 0, [b"{not json"] * 500)
    lines = [r for r in caplog.records if r.getMessage().startswith("rejected")]
    assert len(one.out("sendguard.dead-letter")) == 500
    assert 1 <= len(lines) <= 2 * REJECTS_LOGGED_PER_S


def test_a_batch_is_judged_by_the_other_sources_as_they_are_now(one: Rig) -> None:
    """All caught up, then deliveries arrive and, before they are taken, a bounce batch:
    the bounces wait for them, not for a watermark computed before they arrived."""
    first, later = deliveries("acme", 2)
    one.feed("email.delivery", 0, [first])
    assert one.ingest.held() == 0 and one.sent("acme") == 1
    one.busy.add(TP("email.delivery", 0))  # the next deliveries are in Kafka, not yet taken
    batch = one.feed("email.bounce", 0, bounces("acme", 1))
    assert batch.held == 1
    one.busy.clear()
    one.feed("email.delivery", 0, [later])
    assert batch.held == 0 and one.sent("acme") == 2


def test_the_wall_clock_is_the_one_ingest_is_given(tmp_path: Path) -> None:
    """The late-event window follows the injected clock: a rig whose clock says January
    2030 rejects as late a delivery stamped eight days before and accepts one stamped the
    day before (the real clock would take both for stamps from the future)."""
    then = datetime(2030, 1, 20, 12, tzinfo=UTC)
    rig = Rig(tmp_path, partitions=1, clock=lambda: then)
    old, fresh = deliveries("acme", 2)
    old["occurred_at"] = stamp(then - timedelta(days=8))
    fresh["occurred_at"] = stamp(then - timedelta(days=1))
    rig.feed("email.delivery", 0, [old, fresh])
    assert rig.ingest.outcomes == {("email.delivery", "late"): 1,
                                   ("email.delivery", "accepted"): 1}  # fmt: skip


def test_the_wall_clock_is_read_once_per_batch_for_forwards_and_rejects(
    tmp_path: Path,
) -> None:
    """199 events forwarded and one rejected read the clock once for the batch: what
    they write carries that batch's time. (The guards read it per step: decisions keep
    the order they were made in.)"""
    reads: list[datetime] = []
    at = [datetime.now(UTC)]

    def clock() -> datetime:
        reads.append(at[0])
        return at[0]

    rig = Rig(tmp_path, partitions=2, clock=clock)
    theirs = next(a for a in (f"acct-{n}" for n in range(20)) if account_partition(a, 2) == 1)
    reads.clear()
    rig.feed("email.delivery", 0, [*deliveries(theirs, 199), b"not json"])
    assert len(reads) == 1
    at[0] += timedelta(minutes=5)
    rig.feed("email.delivery", 0, [b"still not json"])
    assert len(reads) == 2
    pending = rig.outbox._pending  # noqa: SLF001 (queued() leaves the timestamps out)
    stamps = {(topic, ts) for (topic, _), queued in pending.items()
              for _, _, ts, _, _ in queued.records}  # fmt: skip
    assert {ts for topic, ts in stamps if topic == NAMES.events} == {
        int(reads[0].timestamp() * 1000)
    }
    assert {ts for topic, ts in stamps if topic == NAMES.dead_letter} == {
        int(reads[0].timestamp() * 1000),
        int(reads[1].timestamp() * 1000),
    }


def test_the_partition_status_shows_the_watermark_its_age_and_what_it_waits_for(
    tmp_path: Path,
) -> None:
    now = datetime.now(UTC)
    rig = Rig(tmp_path, partitions=1, clock=lambda: now)
    assert rig.ingest.partition_status() == []  # a partition shows once it has taken events
    rig.busy.add(TP("email.bounce", 0))  # bounces still coming: the watermark waits
    rig.feed("email.bounce", 0, bounces("acme", 2))  # a first event alone is not trusted
    rig.feed("email.delivery", 0, deliveries("acme", 1))
    (status,) = rig.ingest.partition_status()
    bounced = datetime.fromisoformat(bounces("acme", 2)[1]["occurred_at"])
    assert status["waits_for"] == "email.bounce/0"
    assert status["held_events"] == 3 == rig.ingest.held()
    watermark = datetime.fromisoformat(status["watermark"])
    assert bounced - timedelta(seconds=6) < watermark < bounced
    assert status["watermark_age_s"] == round((now - watermark).total_seconds(), 1)
