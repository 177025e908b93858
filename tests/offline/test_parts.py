"""The replay's parts: the parser's late reference, pass 1, the seen-id TTL, reason groups,
and the layering rule (``offline`` imports without Faust or Kafka clients)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from offline.replay import replay
from offline.scan import GAP, scan
from offline.summary import reason_group
from policy import load_policy
from policy.store import ReplayStore
from schemas.parse import InvalidEvent, parse_event, parse_event_line
from tests.offline.conftest import T0, WriteFile, at, ev

ROOT = Path(__file__).resolve().parents[2]
WALL = datetime(2026, 11, 20, tzinfo=UTC)


def test_late_reference_moves_only_the_late_check() -> None:
    line = json.dumps(ev("email.delivery", "e1", 0))  # T0, 46 days before WALL
    with pytest.raises(InvalidEvent, match="older than the late-event grace of 7 days"):
        parse_event_line(line, now=WALL, late_grace_days=7)
    event = parse_event_line(
        line, now=WALL, late_grace_days=7, late_reference=T0 + timedelta(days=7)
    )
    assert event.occurred_at == T0
    with pytest.raises(InvalidEvent, match="older than the late-event grace"):
        parse_event_line(
            line, now=WALL, late_grace_days=7, late_reference=T0 + timedelta(days=7, seconds=1)
        )
    future = json.dumps(ev("email.delivery", "e2", 0, occurred_at="2026-11-20T02:00:00Z"))
    with pytest.raises(InvalidEvent, match="more than one hour in the future"):
        parse_event_line(
            future, now=WALL, late_grace_days=7, late_reference=WALL + timedelta(days=30)
        )
    raw = {k: v for k, v in json.loads(line).items() if k != "topic"}
    assert (
        parse_event("email.delivery", raw, now=WALL, late_grace_days=7, late_reference=T0).event_id
        == "e1"
    )


def test_scan_finds_last_lines_span_and_gaps(write_file: WriteFile) -> None:
    gap = GAP.total_seconds()
    path = write_file([
        ev("email.spam-trap", "t1", 0),
        ev("email.delivery", "d1", 10),
        "not json",
        ev("email.delivery", "d2", 20),
        ev("email.spam-trap", "t2", 30 + gap),
        {"topic": "accounts", "account_id": "acme"},
        ev("email.delivery", "d3", 40, occurred_at="yesterday"),
    ])  # fmt: skip
    found = scan(path)
    assert found.lines == 7
    assert {name: t.last_line for name, t in found.topics.items()} == {
        "email.spam-trap": 5, "email.delivery": 7,
    }  # fmt: skip
    assert found.topics["email.delivery"].earliest == T0 + timedelta(seconds=10)
    assert (found.first, found.last) == (T0, T0 + timedelta(seconds=30 + gap))
    # After line 1 the trap topic is known to be silent until its next hit.
    assert found.announcements == {1: [("email.spam-trap", T0 + timedelta(seconds=30 + gap))]}


def test_seen_ids_expire_after_grace_plus_two_days_of_event_time() -> None:
    now = [T0]
    store = ReplayStore(lambda: now[0], timedelta(days=9))
    store.mark_seen("acct", "old", "replay")
    now[0] = T0 + timedelta(days=9)
    store.mark_seen("acct", "newer", "replay")
    assert store.seen_by("acct", "old") == "replay"
    now[0] = T0 + timedelta(days=10, hours=1)
    store.mark_seen("acct", "latest", "replay")
    assert store.seen_by("acct", "old") is None
    assert store.seen_by("acct", "newer") == store.seen_by("acct", "latest") == "replay"


@pytest.mark.parametrize(
    ("reason", "group"),
    [
        ("occurred_at: timestamp has no UTC offset", "occurred_at: timestamp has no UTC offset"),
        ("not JSON: JSON is malformed: invalid character (byte 87)", "not JSON: JSON is malformed"),
        ("recipient: not an email address (expected exactly one '@'): 'x'", "recipient: not an email address"),
        ("channel: unknown value 'sms' (expected one of: marketing, crm)", "channel: unknown value"),
        ("event_id: expected a string, got int", "event_id: expected a string, got int"),
        ("not a JSON object", "not a JSON object"),
    ],
)  # fmt: skip
def test_reject_reasons_group_by_field_and_rule(reason: str, group: str) -> None:
    assert reason_group(reason) == group


def test_offline_imports_with_faust_and_kafka_blocked() -> None:
    probe = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("faust", "aiokafka", "mode", "agents", "tables"):
            raise ImportError(f"layering: {name} must not be imported here")
sys.meta_path.insert(0, Block())
import offline.replay, offline.simulate, offline.report
import offline.kafka_input, offline.kafka_reader, offline.merge, offline.window
print("ok")
"""
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_times_in_fixtures_are_utc() -> None:
    assert at(0) == "2026-10-05T08:00:00Z"


def test_progress_bar_only_when_forced_or_on_a_terminal(write_file: WriteFile) -> None:
    path = write_file([ev("email.delivery", f"d{i}", i) for i in range(10)])
    err = io.StringIO()
    replay(path, load_policy(), out=io.BytesIO(), err=err, summary=False)
    assert err.getvalue() == ""  # allowed, but stderr is not a terminal
    replay(path, load_policy(), out=io.BytesIO(), err=err, summary=False, force_progress=True)
    assert "scan    [" in err.getvalue() and "replay  [" in err.getvalue()
    assert "100%" in err.getvalue()
