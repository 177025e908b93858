"""A replay applies the restores found in the appeals audit trail (``sendguard.appeals``
records in the file), so a backtest sees probation after a restore as the worker did."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from policy import load_policy
from tests.offline.conftest import T0, RunReplay, WriteFile, at, deliveries, ev, hard_bounces

PROBATION = 'version = "probation"\n[marketing.probation]\ndays = 14\nfactor = 0.5\n'


def appeal(status: str, seconds: float, account: str = "acme") -> dict[str, Any]:
    """An appeal record as the worker writes it on ``sendguard.appeals``."""
    return {
        "topic": "sendguard.appeals", "appeal_id": f"ap-{status}-1", "account_id": account,
        "channel": "marketing", "kind": "appeal", "queue": "deliverability",
        "tier": "professional", "suspension_reason": "hard_bounce_rate",
        "suspension_type": "deliverability",
        "form": {"channel": "marketing", "opt_out_list_imported": True,
                 "lists_cleaned": True, "contact_source": "sign-up form",
                 "emailed_within_last_year": True, "details": "removed a bought list"},
        "status": status, "filed_at": at(seconds - 60),
        "decided_at": None if status == "pending" else at(seconds),
    }  # fmt: skip


def month(appeals: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Suspended at 5 % in the morning; the appeals; then 3 % more by the afternoon."""
    first = deliveries(1000) + hard_bounces(60)
    later = [ev("email.delivery", f"acme-d2-{i}", 20_000 + i) for i in range(1000)]
    later += [ev("email.bounce", f"acme-b2-{j}", 22_000 + j * 10) for j in range(30)]
    return first + appeals + later


def offences(records: list[dict]) -> list[tuple[str, int | None, Any]]:
    return [(r["action"], r["evidence"]["hard_bounces"], r["evidence"].get("probation_factor"))
            for r in records]  # fmt: skip


def test_an_approved_appeal_restores_and_probation_follows(
    write_file: WriteFile, run_replay: RunReplay, tmp_path: Path
) -> None:
    policy_path = tmp_path / "probation.toml"
    policy_path.write_text(PROBATION)
    path = write_file(month([appeal("restored", 15_000)]))
    replayed = run_replay(path, policy=load_policy(policy_path), keep_state=True)

    assert offences(replayed.records) == [
        ("warn", 21, None), ("suspend", 51, None),
        ("restore", 60, None),  # the evidence: the counts it cleared
        ("warn", 11, 0.5), ("suspend", 26, 0.5),  # 1 % and 2.5 % under probation
    ]  # fmt: skip
    restore = replayed.records[2]
    assert restore["reason"] == "appeal_approved" and restore["decided_at"] == at(15_000)
    assert (replayed.result.appeal_records, replayed.result.restores) == (1, 1)
    assert replayed.result.store is not None
    channel = replayed.result.store.accounts["acme"].channels["marketing"]
    assert channel.probation_until == T0 + timedelta(days=14, seconds=15_000)
    assert "restored a channel" in replayed.stderr


def test_without_probation_the_second_offence_is_only_warned(
    write_file: WriteFile, run_replay: RunReplay
) -> None:
    replayed = run_replay(write_file(month([appeal("restored", 15_000)])))
    assert offences(replayed.records) == [
        ("warn", 21, None), ("suspend", 51, None), ("restore", 60, None), ("warn", 21, None),
    ]  # fmt: skip


def test_pending_and_denied_appeals_restore_nothing(
    write_file: WriteFile, run_replay: RunReplay
) -> None:
    replayed = run_replay(write_file(month([appeal("pending", 15_000),
                                            appeal("denied", 15_100)])))  # fmt: skip
    assert offences(replayed.records) == [("warn", 21, None), ("suspend", 51, None)]
    assert (replayed.result.appeal_records, replayed.result.restores) == (2, 0)


def test_a_broken_appeal_record_is_a_bad_line(write_file: WriteFile, run_replay: RunReplay) -> None:
    broken = {**appeal("restored", 15_000), "channel": "fax"}
    replayed = run_replay(write_file(month([broken])))
    assert replayed.result.rejected == 1
    assert "not an appeal record" in replayed.result.bad_lines[0][1]
    assert [r["action"] for r in replayed.records] == ["warn", "suspend"]
