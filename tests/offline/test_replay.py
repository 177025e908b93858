"""Replay of hand-written files: exact decisions, event-time order, bad lines, duplicates."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from offline.errors import ReplayInputError
from offline.replay import MAX_BAD_LINES_SHOWN
from policy.advice import advice
from schemas.types import Evidence
from tests.offline.conftest import (
    RunReplay,
    WriteFile,
    at,
    deliveries,
    ev,
    hard_bounces,
    without_time,
)

BOUNCE_MONTH = deliveries(1000) + hard_bounces(60)


def expected_bounce_decisions() -> list[dict]:
    def evidence(hard: int, rate: float, limit: float) -> dict:
        return {"sent": 1000, "hard_bounces": hard, "spam_reports": 0, "unsubscribes": 0,
                "abuse_complaints": 0, "rate": rate, "limit": limit}  # fmt: skip

    common = {"account_id": "acme", "channel": "marketing", "reason": "hard_bounce_rate",
              "campaign_id": None, "period": "2026-10", "policy_version": "2026-11-default",
              "decided_by": None}  # fmt: skip
    def banner(action: str, hard: int, rate: float, limit: float) -> str | None:
        return advice(action, "hard_bounce_rate",  # type: ignore[arg-type]
                      Evidence(**evidence(hard, rate, limit)), "marketing")  # fmt: skip

    return [
        {**common, "action": "warn", "suspension_type": None,
         "evidence": evidence(21, 0.021, 0.02), "trigger_event_id": "acme-b21",
         "advice": banner("warn", 21, 0.021, 0.02)},
        {**common, "action": "suspend", "suspension_type": "deliverability",
         "evidence": evidence(51, 0.051, 0.05), "trigger_event_id": "acme-b51",
         "advice": banner("suspend", 51, 0.051, 0.05)},
    ]  # fmt: skip


def test_1000_deliveries_and_60_hard_bounces_warn_at_21_and_suspend_at_51(
    write_file: WriteFile, run_replay: RunReplay
) -> None:
    replayed = run_replay(write_file(BOUNCE_MONTH))
    records = replayed.records
    assert [{k: r[k] for k in expected_bounce_decisions()[0]} for r in records] == (
        expected_bounce_decisions()
    )
    # The guard's clock is the event-time clock: bounce 51 is counted once the watermark
    # (latest bounce - 10 s) passes it, i.e. on bounce 52, ten seconds later.
    assert records[1]["decided_at"] == at(5000 + 51 * 10)
    assert all(len(r["decision_id"]) == 32 for r in records)
    result = replayed.result
    assert (result.lines, result.accepted, result.duplicates, result.rejected) == (1060, 1060, 0, 0)
    assert result.accounts == 1
    assert result.states["marketing"]["suspended"] == 1
    assert dict(result.by_action_reason) == {("warn", "hard_bounce_rate"): 1,
                                             ("suspend", "hard_bounce_rate"): 1}  # fmt: skip


def test_bounces_written_before_their_deliveries_decide_as_the_sorted_file(
    write_file: WriteFile, run_replay: RunReplay
) -> None:
    sorted_run = run_replay(write_file(BOUNCE_MONTH))
    bounces_first = run_replay(write_file(hard_bounces(60) + deliveries(1000)))
    assert without_time(bounces_first.records) == without_time(sorted_run.records)
    assert bounces_first.records[1]["evidence"]["sent"] == 1000


def test_topics_interleaved_out_of_order_still_decide_as_sorted(
    write_file: WriteFile, run_replay: RunReplay
) -> None:
    """Each topic in time order, but the file alternates them in blocks of 100 lines."""
    sends, bounces = deliveries(1000), hard_bounces(60)
    mixed: list[dict] = []
    for i in range(10):
        mixed += bounces[i * 6 : (i + 1) * 6] + sends[i * 100 : (i + 1) * 100]
    replayed = run_replay(write_file(mixed))
    assert without_time(replayed.records) == without_time(
        run_replay(write_file(BOUNCE_MONTH)).records
    )


def test_bad_lines_are_reported_with_their_number_and_skipped(
    write_file: WriteFile, run_replay: RunReplay
) -> None:
    no_offset = ev("email.delivery", "x1", 0)
    no_offset["occurred_at"] = "2026-10-05T08:00:00"
    no_account = ev("email.delivery", "x2", 0)
    del no_account["account_id"]
    lines: list[dict | str] = [
        BOUNCE_MONTH[0],
        no_offset,
        "this is not json",
        "",
        no_account,
        ev("email.nope", "x3", 0),
        *BOUNCE_MONTH[1:],
    ]
    replayed = run_replay(write_file(lines))
    err = replayed.stderr
    assert "line 2: occurred_at: timestamp has no UTC offset\n" in err
    assert "line 3: not JSON: " in err
    assert "line 4:" not in err  # a blank line is not an event
    assert "line 5: account_id: missing\n" in err
    assert "line 6: topic: unknown value 'email.nope'" in err
    result = replayed.result
    assert (result.rejected, result.accepted) == (4, 1060)
    assert result.rejects_by_reason["occurred_at: timestamp has no UTC offset"] == 1
    assert result.rejects_by_reason["account_id: missing"] == 1
    assert without_time(replayed.records) == without_time(expected_with_ids(replayed.records))


def expected_with_ids(records: list[dict]) -> list[dict]:
    """The expected bounce decisions, completed with the ids the run produced."""
    want = expected_bounce_decisions()
    for w, r in zip(want, records, strict=True):
        w["decision_id"] = r["decision_id"]
    return want


def test_only_the_first_bad_lines_are_printed_then_a_count(
    write_file: WriteFile, run_replay: RunReplay
) -> None:
    replayed = run_replay(write_file(["{"] * (MAX_BAD_LINES_SHOWN + 5) + deliveries(3)))
    shown = [line for line in replayed.stderr.splitlines() if line.startswith("line ")]
    assert len(shown) == MAX_BAD_LINES_SHOWN
    assert shown[0].startswith("line 1: not JSON")
    assert "5 more" in replayed.stderr
    assert replayed.result.rejected == MAX_BAD_LINES_SHOWN + 5


def test_a_repeated_event_id_is_counted_once(write_file: WriteFile, run_replay: RunReplay) -> None:
    """20 bounces in 1000 is 2.0 %, not over the warn limit; counted twice it would be 4 %."""
    bounces = hard_bounces(20)
    retried = [
        b for bounce in bounces for b in (bounce, {**bounce, "occurred_at": bounce["occurred_at"]})
    ]
    replayed = run_replay(write_file(deliveries(1000) + retried))
    assert replayed.records == []
    assert (replayed.result.accepted, replayed.result.duplicates) == (1020, 20)


def test_the_same_event_id_in_two_accounts_is_two_events(
    write_file: WriteFile, run_replay: RunReplay
) -> None:
    """Event ids come from many MTAs: an id another account used is no duplicate."""

    def month(account: str) -> list[dict]:
        events = deliveries(1000, account) + hard_bounces(60, account)
        return [{**e, "event_id": e["event_id"].removeprefix(f"{account}-")} for e in events]

    replayed = run_replay(write_file(month("acme") + month("globex")))
    assert (replayed.result.accepted, replayed.result.duplicates) == (2120, 0)
    assert sorted((r["account_id"], r["action"], r["evidence"]["hard_bounces"])
                  for r in replayed.records) == [
        ("acme", "suspend", 51), ("acme", "warn", 21),
        ("globex", "suspend", 51), ("globex", "warn", 21),
    ]  # fmt: skip


def test_old_file_is_judged_by_event_time_late_and_future_lines_rejected(
    write_file: WriteFile, run_replay: RunReplay
) -> None:
    future = (datetime.now(UTC) + timedelta(hours=2)).isoformat().replace("+00:00", "Z")
    lines = [
        *deliveries(5),  # October 2026: long before the wall clock, accepted
        ev("email.delivery", "late", -8 * 86400),  # 8 days before the clock: beyond the grace
        ev("email.delivery", "in-grace", -6 * 86400),  # 6 days: accepted
        ev("email.delivery", "future", 0, occurred_at=future),
    ]
    replayed = run_replay(write_file(lines))
    assert replayed.result.accepted == 6
    assert "line 6: occurred_at: older than the late-event grace of 7 days" in replayed.stderr
    assert "line 8: occurred_at: more than one hour in the future" in replayed.stderr


def test_a_sparse_topic_does_not_hold_decisions_until_its_next_line(
    write_file: WriteFile, run_replay: RunReplay
) -> None:
    """Spam-trap hits at t=0 and three days later: the suspension is still decided on time."""
    lines = [
        ev("email.spam-trap", "trap-1", 0, account="other"),
        *BOUNCE_MONTH,
        ev("email.spam-trap", "trap-2", 3 * 86400, account="other"),
    ]
    records = run_replay(write_file(lines)).records
    acme = [r for r in records if r["account_id"] == "acme"]
    assert acme[1]["action"] == "suspend"
    assert acme[1]["decided_at"] == at(5000 + 51 * 10)
    other = [r for r in records if r["account_id"] == "other"]
    assert [(r["action"], r["reason"], r["suspension_type"]) for r in other] == [
        ("suspend", "spam_trap", "fraud")
    ]


def test_account_records_apply_review_and_bad_ones_are_rejected(
    write_file: WriteFile, run_replay: RunReplay
) -> None:
    lines = [
        {"topic": "accounts", "account_id": "acme", "tier": "starter", "review_required": True},
        {"topic": "accounts", "account_id": "beta", "tier": "gold"},
        *BOUNCE_MONTH,
    ]
    replayed = run_replay(write_file(lines))
    assert replayed.records == []  # under review: nothing more to decide for marketing
    assert replayed.result.states["marketing"]["under_review"] == 1
    assert replayed.result.account_records == 1
    assert "line 2: tier: unknown value 'gold'" in replayed.stderr


def test_summary_names_counts_reasons_and_states(
    write_file: WriteFile, run_replay: RunReplay
) -> None:
    err = run_replay(write_file(["nope", *BOUNCE_MONTH])).stderr
    assert "decisions by action and reason" in err
    assert "suspend  hard_bounce_rate  1" in err
    assert "not JSON: JSON is malformed  1" in err
    assert "marketing       0       0          1             0" in err


def test_decisions_are_the_exact_contract_records(
    write_file: WriteFile, run_replay: RunReplay
) -> None:
    """CONTRACT.md's fields in its order, then the fields Sendguard adds (``advice``,
    ``decided_by``)."""
    record = run_replay(write_file(BOUNCE_MONTH)).records[0]
    assert list(record) == [
        "decision_id", "account_id", "channel", "action", "reason", "suspension_type",
        "campaign_id", "period", "evidence", "trigger_event_id", "policy_version", "decided_at",
        "advice", "decided_by",
    ]  # fmt: skip


def test_same_file_twice_gives_the_same_output(
    write_file: WriteFile, run_replay: RunReplay
) -> None:
    path = write_file(BOUNCE_MONTH)
    assert run_replay(path).stdout == run_replay(path).stdout


def test_a_missing_file_is_a_typed_error(run_replay: RunReplay, tmp_path) -> None:
    with pytest.raises(ReplayInputError, match="cannot read"):
        run_replay(tmp_path / "absent.jsonl")


def test_stdout_lines_are_json(write_file: WriteFile, run_replay: RunReplay) -> None:
    for line in run_replay(write_file(BOUNCE_MONTH)).stdout.splitlines():
        assert json.loads(line)["policy_version"] == "2026-11-default"
