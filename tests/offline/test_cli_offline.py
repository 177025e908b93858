"""``sendguard simulate`` and ``sendguard replay`` end to end, as a user runs them."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(ROOT / ".no-home")}
    return subprocess.run(
        [sys.executable, "-m", "sendguard.cli", *args],
        env=env, capture_output=True, text=True, timeout=300, cwd=cwd,
    )  # fmt: skip


@pytest.fixture(scope="module")
def month_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sim") / "month.jsonl"
    result = run_cli(
        "simulate", "--accounts", "40", "--seed", "7", "--out", str(path),
        "--duplicates", "0.01", "--malformed", "0.002",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"lines written to {path}" in result.stderr
    return path


def test_replay_of_a_simulated_month_prints_json_decisions(
    month_file: Path, tmp_path: Path
) -> None:
    report = tmp_path / "report.html"
    result = run_cli("replay", str(month_file), "--report", str(report))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    decisions = [json.loads(line) for line in result.stdout.splitlines()]
    assert decisions, "a simulated month with bad profiles must produce decisions"
    actions = {(d["action"], d["reason"]) for d in decisions}
    assert ("suspend", "spam_trap") in actions and ("suspend", "abuse_complaint") in actions
    assert any(a == "cancel_campaign" for a, _ in actions)
    assert len({d["decision_id"] for d in decisions}) == len(decisions)
    assert "decisions by action and reason" in result.stderr
    assert "duplicates" in result.stderr and "rejects by reason" in result.stderr
    suspended = {(d["account_id"], d["channel"]) for d in decisions if d["action"] == "suspend"}
    assert report.read_text().count("<svg") == len(suspended)


def test_quiet_replay_prints_decisions_only(month_file: Path) -> None:
    result = run_cli("replay", str(month_file), "--quiet")
    assert result.returncode == 0 and result.stderr == ""
    assert all(json.loads(line)["decision_id"] for line in result.stdout.splitlines())


def test_replay_compare_via_cli(month_file: Path, tmp_path: Path) -> None:
    lenient = tmp_path / "lenient.toml"
    lenient.write_text('version = "lenient"\n[marketing.suspend]\nabuse_complaints = 0\n')
    result = run_cli("replay", str(month_file), "--compare", str(lenient), "--quiet")
    assert result.returncode == 0
    loud = run_cli("replay", str(month_file), "--compare", str(lenient))
    assert "spared under lenient: 1" in loud.stderr
    assert "abuse_complaint" in loud.stderr.split("spared under lenient")[1]


def test_replay_compare_with_report_writes_the_comparison_report(
    month_file: Path, tmp_path: Path
) -> None:
    strict = tmp_path / "strict.toml"
    strict.write_text('version = "strict-bounces"\n[marketing.suspend]\nhard_bounce_rate = 0.03\n')
    report = tmp_path / "compare.html"
    result = run_cli("replay", str(month_file), "--compare", str(strict), "--report", str(report))
    assert result.returncode == 0 and "Traceback" not in result.stderr
    assert f"report: {report}" in result.stderr
    found = re.search(r"every decision that differs: (\d+)", result.stderr)
    assert found is not None and int(found.group(1)) > 0
    html = report.read_text(encoding="utf-8")
    assert "<h1>Sendguard policy comparison</h1>" in html
    assert f"{int(found.group(1)):,} decisions differ" in html
    assert "strict-bounces" in html and html.count("<section id=") >= 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("replay", "/nonexistent/events.jsonl"), "/nonexistent/events.jsonl: no such file"),
        (("replay",), "give an event file, or --from-kafka to read the input topics"),
        (("replay", "x.jsonl", "--from-kafka"), "give an event file or --from-kafka, not both"),
        (("replay", "x.jsonl", "--until", "2026-11-01"),
         "--since and --until select from the input topics: add --from-kafka"),
        (("replay", "--from-kafka", "--since", "soon"), "--since: not an ISO date or time: 'soon'"),
        (("replay", "--from-kafka", "--since", "2026-11-02", "--until", "2026-11-01T12:00"),
         "--since (2026-11-02) must be before --until (2026-11-01T12:00)"),
        (("simulate", "--accounts", "2", "--seed", "1", "--out", "/x.jsonl", "--start", "soon"),
         "--start: not an ISO date or time: 'soon'"),
        (("simulate", "--accounts", "2", "--seed", "1", "--out", "/nonexistent/dir/x.jsonl"),
         "/nonexistent/dir/x.jsonl: cannot write"),
        (("simulate", "--accounts", "2", "--seed", "1", "--out", "/x.jsonl", "--duplicates", "2"),
         "probabilities in [0, 1)"),
        (("simulate", "--accounts", "2", "--seed", "1", "--out", "/x.jsonl", "--mix", "bad"),
         "--mix: unknown mix 'bad'; known: default, gating"),
        (("simulate", "--accounts", "2", "--seed", "1", "--out", "/x.jsonl", "--ordered"),
         "--ordered: only with --kafka"),
    ],
)  # fmt: skip
def test_user_errors_are_one_line_and_exit_1(args: tuple[str, ...], message: str) -> None:
    result = run_cli(*args)
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("sendguard: error: ") and message in result.stderr


def test_bad_policy_file_is_a_clean_error(month_file: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[marketing.suspend]\nhard_bounce_rate = 7\n")
    for args in (("--policy", str(bad)), ("--compare", str(bad))):
        result = run_cli("replay", str(month_file), *args)
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert "is a rate and must be between 0 and 1" in result.stderr


def test_simulate_mix_picks_the_profiles(tmp_path: Path) -> None:
    """``--mix gating`` draws from the gating profiles; ``--mix default`` is the default."""
    files = {}
    for mix in ("gating", "default", None):
        path = tmp_path / f"{mix}.jsonl"
        args = ("simulate", "--accounts", "12", "--seed", "4", "--days", "2",
                "--start", "2026-09-01", "--out", str(path))  # fmt: skip
        result = run_cli(*args, *(("--mix", mix) if mix else ()))
        assert result.returncode == 0, result.stderr
        files[mix] = path.read_bytes()
    profiles = {
        mix: {json.loads(line).get("sim_profile") for line in text.splitlines()} - {None}
        for mix, text in files.items()
    }
    assert {"borderline_bounces", "bad_list", "crm_borderline_bounces"} <= profiles["gating"]
    assert "borderline_bounces" not in profiles["default"] and "spam_trap" in profiles["default"]
    assert files["default"] == files[None]


def test_simulate_needs_a_target() -> None:
    result = run_cli("simulate", "--accounts", "2", "--seed", "1")
    assert (
        result.returncode == 2 and "one of the arguments --out --kafka is required" in result.stderr
    )


def test_unwritable_report_fails_before_replaying(month_file: Path) -> None:
    result = run_cli("replay", str(month_file), "--report", "/nonexistent/dir/r.html")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "sendguard: error: /nonexistent/dir/r.html: cannot write" in result.stderr
    assert result.stdout == ""


def test_replay_into_a_closed_pipe_is_quiet(month_file: Path) -> None:
    cmd = f"{sys.executable} -m sendguard.cli replay --quiet {month_file} | head -1"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(ROOT / ".no-home")}
    result = subprocess.run(cmd, shell=True, env=env, capture_output=True, text=True, timeout=300)
    assert len(result.stdout.splitlines()) == 1
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr
