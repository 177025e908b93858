"""The pure parts of ``replay --from-kafka``: the time window, the event-time merge of
partitions, and the framing it shares with a file (no broker here; the broker test is
``tests/integration/test_replay_from_kafka.py``)."""

from __future__ import annotations

import io
import json
import zlib
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from offline.inputs import FileInput
from offline.merge import EventTimeMerge, Record
from offline.progress import Progress
from offline.replay import replay
from offline.simulate import simulate, write_jsonl
from offline.window import TimeWindow
from policy import load_policy
from schemas.errors import InvalidEvent
from schemas.parse import parse_event
from tests.offline.conftest import T0, WriteFile, at, ev

NOV = datetime(2026, 11, 1, tzinfo=UTC)
DEC = datetime(2026, 12, 1, tzinfo=UTC)


def millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


# -- the window ----------------------------------------------------------------------------


def test_window_holds_since_but_not_until() -> None:
    november = TimeWindow(NOV, DEC)
    assert november.holds(NOV)
    assert november.holds(DEC - timedelta(microseconds=1))
    assert not november.holds(DEC)
    assert not november.holds(NOV - timedelta(microseconds=1))
    assert november.holds_stamp(millis(NOV)) and not november.holds_stamp(millis(DEC))
    assert not november.whole


def test_an_open_end_holds_everything_on_its_side() -> None:
    assert TimeWindow(since=NOV).holds(datetime(2999, 1, 1, tzinfo=UTC))
    assert TimeWindow(until=DEC).holds(datetime(1971, 1, 1, tzinfo=UTC))
    assert TimeWindow().whole and TimeWindow().holds_stamp(0)


def test_the_broker_is_asked_from_one_hour_before_since() -> None:
    """Records are stamped when published, after the event; up to the parser's one hour of
    clock skew the other way is allowed, so no event of the window is stamped earlier."""
    assert TimeWindow(since=NOV).seek_millis() == millis(NOV - timedelta(hours=1))
    assert TimeWindow(until=DEC).seek_millis() is None


@pytest.mark.parametrize(
    ("since", "until", "message"),
    [
        (DEC, NOV, "since must be before until"),
        (NOV, NOV, "since must be before until"),
        (datetime(2026, 11, 1), None, "timezone-aware"),  # noqa: DTZ001 - the point
    ],
)
def test_a_window_that_selects_nothing_or_is_naive_is_refused(
    since: datetime, until: datetime | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        TimeWindow(since, until)


def test_the_window_says_what_it_selects_in_utc() -> None:
    since = datetime(2026, 11, 1, 4, 0, tzinfo=timezone(timedelta(hours=2)))
    assert TimeWindow(since).describe() == "occurred_at in [2026-11-01T02:00:00Z, )"


# -- the merge -----------------------------------------------------------------------------


def record(
    topic: str, partition: int, offset: int, value: dict | str | None, stamp: int = 0
) -> Record:
    raw = None if value is None else (value if isinstance(value, str) else json.dumps(value))
    return Record(topic, partition, offset, stamp, b"acme", None if raw is None else raw.encode())


def merged(partitions: list[list[Record]], window: TimeWindow | None = None) -> list[str]:
    merge = EventTimeMerge(window or TimeWindow())
    return [f"{e.topic}[{e.origin[0]}]@{e.origin[1]}" for e in merge.entries(partitions)]


def test_partitions_merge_by_occurred_at_each_keeping_its_order() -> None:
    deliveries = [record("email.delivery", 0, i, ev("email.delivery", f"d{i}", i * 10))
                  for i in range(4)]  # fmt: skip
    bounces = [record("email.bounce", 0, 0, ev("email.bounce", "b0", 15)),
               record("email.bounce", 0, 1, ev("email.bounce", "b1", 25))]  # fmt: skip
    assert merged([deliveries, bounces]) == [
        "email.delivery[0]@0", "email.delivery[0]@1", "email.bounce[0]@0",
        "email.delivery[0]@2", "email.bounce[0]@1", "email.delivery[0]@3",
    ]  # fmt: skip


def test_equal_times_go_by_partition_order_on_every_pass() -> None:
    first = [record("email.delivery", 0, 0, ev("email.delivery", "a", 5))]
    second = [record("email.delivery", 1, 0, ev("email.delivery", "b", 5))]
    assert merged([first, second]) == ["email.delivery[0]@0", "email.delivery[1]@0"]
    assert merged([second, first]) == ["email.delivery[1]@0", "email.delivery[0]@0"]


def test_a_retry_and_a_broken_record_follow_the_record_before_them() -> None:
    """A retry has its first copy's (earlier) time, a broken record none: both come right
    after their predecessor in the partition, never ahead of it or out of the merge."""
    busy = [record("email.delivery", 0, i, ev("email.delivery", f"d{i}", i)) for i in range(10)]
    sparse = [
        record("email.bounce", 0, 0, ev("email.bounce", "b0", 2.5)),
        record("email.bounce", 0, 1, ev("email.bounce", "b0", 2.5)),  # the retry
        record("email.bounce", 0, 2, "{ broken"),
        record("email.bounce", 0, 3, ev("email.bounce", "b1", 7.5)),
    ]
    order = merged([busy, sparse])
    at_b0 = order.index("email.bounce[0]@0")
    assert order[at_b0 - 1] == "email.delivery[0]@2"
    assert order[at_b0 : at_b0 + 3] == [f"email.bounce[0]@{i}" for i in range(3)]
    assert order[order.index("email.bounce[0]@3") - 1] == "email.delivery[0]@7"
    assert len(order) == 14


def test_an_appeal_record_comes_at_its_decision_or_while_pending_at_its_filing() -> None:
    deliveries = [record("email.delivery", 0, i, ev("email.delivery", f"d{i}", i * 10))
                  for i in range(5)]  # fmt: skip
    trail = [
        record("sendguard.appeals", 0, 0, {"appeal_id": "a1", "status": "pending",
                                           "filed_at": at(15), "decided_at": None}),
        record("sendguard.appeals", 0, 1, {"appeal_id": "a1", "status": "restored",
                                           "filed_at": at(15), "decided_at": at(35)}),
    ]  # fmt: skip
    assert merged([deliveries, trail]) == [
        "email.delivery[0]@0", "email.delivery[0]@1", "sendguard.appeals[0]@0",
        "email.delivery[0]@2", "email.delivery[0]@3", "sendguard.appeals[0]@1",
        "email.delivery[0]@4",
    ]  # fmt: skip


def test_the_window_selects_by_occurred_at_and_broken_records_by_their_stamp() -> None:
    window = TimeWindow(T0 + timedelta(seconds=10), T0 + timedelta(seconds=30))
    inside, outside = millis(T0 + timedelta(seconds=20)), millis(T0 + timedelta(days=3))
    no_offset = ev("email.delivery", "no-offset", 20, occurred_at=at(20).removesuffix("Z"))
    stream = [
        record("email.delivery", 0, 0, ev("email.delivery", "early", 5), stamp=inside),
        record("email.delivery", 0, 1, ev("email.delivery", "in", 10), stamp=outside),
        record("email.delivery", 0, 2, "{ broken in", stamp=inside),
        record("email.delivery", 0, 3, "{ broken out", stamp=outside),
        record("email.delivery", 0, 4, no_offset, stamp=inside),
        record("email.delivery", 0, 5, ev("email.delivery", "late", 30), stamp=inside),
    ]  # fmt: skip
    merge = EventTimeMerge(window)
    kept = [e.origin[1] for e in merge.entries([stream]) if e.origin]
    assert kept == [1, 2, 4]
    assert merge.outside == 3


def test_entries_are_numbered_from_first() -> None:
    stream = [record("email.delivery", 0, i, ev("email.delivery", f"d{i}", i)) for i in range(3)]
    numbers = [e.number for e in EventTimeMerge(TimeWindow()).entries([stream], first=8)]
    assert numbers == [8, 9, 10]


def test_a_simulated_month_split_into_partitions_and_merged_decides_as_its_file(
    tmp_path: Path,
) -> None:
    """The order claim without a broker: split a file as Kafka would (by topic, then by
    account), merge it back, write what comes out, and replay both files."""
    start = datetime(2026, 9, 1, tzinfo=UTC)
    items = list(simulate(12, seed=8, start=start, days=6, duplicates=0.02, malformed=0.005))
    original = tmp_path / "month.jsonl"
    write_jsonl(items, original)
    partitions: dict[tuple[str, int], list[Record]] = {}
    accounts: list[bytes] = []
    for line in original.read_bytes().splitlines():
        text = line.decode()
        topic = next((t for t in ("accounts", "email.delivery", "email.bounce",
                                  "email.unsubscribe", "email.spam-report", "email.abuse-desk",
                                  "email.spam-trap", "email.blocklist")
                      if f'"topic":"{t}"' in text), "email.delivery")  # fmt: skip
        if topic == "accounts":
            accounts.append(line)
            continue
        key = text.split('"account_id":"')[1].split('"')[0] if '"account_id":"' in text else ""
        stream = partitions.setdefault((topic, zlib.crc32(key.encode()) % 3), [])
        stream.append(Record(topic, 0, len(stream), 0, key.encode(), line))
    assert len(partitions) > 6
    entries = EventTimeMerge(TimeWindow()).entries([partitions[k] for k in sorted(partitions)])
    remerged = tmp_path / "merged.jsonl"
    remerged.write_bytes(b"\n".join([*accounts, *(e.raw or b"" for e in entries)]) + b"\n")
    assert sorted(remerged.read_bytes().splitlines()) == sorted(original.read_bytes().splitlines())
    assert remerged.read_bytes() != original.read_bytes()  # the merge had work to do

    def run(path: Path) -> tuple[bytes, tuple[int, ...]]:
        out = io.BytesIO()
        r = replay(path, load_policy(), progress=False, summary=False, out=out)
        return out.getvalue(), (r.accepted, r.duplicates, r.rejected, r.account_records)

    (want, want_counts), (got, got_counts) = run(original), run(remerged)
    assert want and got == want
    assert got_counts == want_counts


# -- framing shared with a file --------------------------------------------------------------


def test_a_broken_line_gets_the_reason_the_worker_gives_its_record(write_file: WriteFile) -> None:
    """A file line is the message without its line end, as Kafka carries it."""
    broken = json.dumps(ev("email.delivery", "d1", 0))[:40]  # cut inside a string
    path = write_file([broken])
    entry = next(FileInput(path).entries())
    assert entry.raw == broken.encode()
    with pytest.raises(InvalidEvent) as by_worker:
        parse_event("email.delivery", broken.encode(), now=T0, late_grace_days=7)
    with pytest.raises(InvalidEvent) as by_file:
        FileInput(path).parse_event(entry, now=T0, late_grace_days=7, late_reference=T0)
    assert by_file.value.reason == by_worker.value.reason


def test_progress_in_records_says_records() -> None:
    err = io.StringIO()
    bar = Progress(2000, err, label="scan", enabled=True, unit="records")
    bar.update(1000)
    bar.close()
    assert "1,000/2,000 records" in err.getvalue() and "2,000/2,000 records" in err.getvalue()
    assert "MB" not in err.getvalue()
