"""The CLI reports user mistakes in one line with exit code 1, never a traceback."""

from __future__ import annotations

import http.server
import socket
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from api.tokens import AccountClaim, Keyring, read_account_token
from localkafka.probe import free_port
from sendguard.status import Status, render
from streams.settings import Secret, Settings, SettingsError

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(ROOT / ".no-home")}
    return subprocess.run(
        [sys.executable, "-m", "sendguard.cli", *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_clean_error(result: subprocess.CompletedProcess[str], message: str) -> None:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("sendguard: error: ")
    assert message in result.stderr


def test_bad_bootstrap_is_a_clear_error() -> None:
    assert_clean_error(
        run_cli("kafka", "status", SENDGUARD_KAFKA_BOOTSTRAP="nonsense"),
        "SENDGUARD_KAFKA_BOOTSTRAP: expected host:port, got 'nonsense'",
    )


def test_bad_policy_file_fails_before_touching_kafka(tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text('version = "x"\n[marketing.suspend]\nhard_bounce_rate = 7\n')
    assert_clean_error(
        run_cli("worker", SENDGUARD_POLICY=str(policy)),
        "'marketing.suspend.hard_bounce_rate' is a rate and must be between 0 and 1",
    )


def test_replay_from_a_broker_that_does_not_answer_is_a_clear_error() -> None:
    result = run_cli("replay", "--from-kafka", SENDGUARD_KAFKA_BOOTSTRAP=f"127.0.0.1:{free_port()}")
    assert_clean_error(result, "cannot reach Kafka at 127.0.0.1:")
    assert len(result.stderr.splitlines()) == 1 and result.stdout == ""


def test_token_needs_a_secret() -> None:
    assert_clean_error(run_cli("token", "acme"), "SENDGUARD_SECRET is not set")


STRONG = "k" * 32


def test_token_command_prints_a_token_the_api_accepts() -> None:
    result = run_cli("token", "acme", "--ttl", "7", SENDGUARD_SECRET=STRONG)
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    claim = read_account_token(Keyring(Secret(STRONG)), token, datetime.now(UTC))
    assert isinstance(claim, AccountClaim) and claim.account_id == "acme", claim
    assert claim.expires_ms is not None
    days = (claim.expires_ms - claim.issued_ms) / 86_400_000
    assert days == 7 and claim.token_id in result.stderr
    later = datetime.now(UTC) + timedelta(days=8)
    assert read_account_token(Keyring(Secret(STRONG)), token, later) == "expired"


def test_a_weak_secret_is_refused_with_how_to_make_one() -> None:
    result = run_cli("token", "acme", SENDGUARD_SECRET="change-me")
    assert_clean_error(result, "SENDGUARD_SECRET is 9 bytes; at least 32 are needed")
    assert "secrets.token_urlsafe(32)" in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert_clean_error(run_cli("worker", SENDGUARD_SECRET="change-me"), "at least 32")


def test_operator_add_prints_the_token_once_and_keeps_only_a_hash(tmp_path: Path) -> None:
    path = tmp_path / "operators.json"
    added = run_cli("operator", "add", "alice", "--role", "decider",
                    SENDGUARD_OPERATORS_FILE=str(path))  # fmt: skip
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip()
    assert token.startswith("op_") and token not in path.read_text()
    assert token[len("op_") + 17 :] not in path.read_text()  # the secret part
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    again = run_cli("operator", "add", "alice", "--role", "viewer",
                    SENDGUARD_OPERATORS_FILE=str(path))  # fmt: skip
    assert_clean_error(again, "operator 'alice' exists")
    bad = run_cli("operator", "add", "bob", "--role", "root", SENDGUARD_OPERATORS_FILE=str(path))
    assert_clean_error(bad, "role 'root': expected one of viewer, decider, admin")
    listed = run_cli("operator", "list", SENDGUARD_OPERATORS_FILE=str(path))
    assert listed.stdout.startswith("alice\tdecider\t")
    assert run_cli("operator", "remove", "alice", SENDGUARD_OPERATORS_FILE=str(path)).returncode == 0
    assert run_cli("operator", "list", SENDGUARD_OPERATORS_FILE=str(path)).stdout == ""
    assert_clean_error(run_cli("operator", "list"), "SENDGUARD_OPERATORS_FILE is not set")


def test_unknown_command_is_a_usage_error() -> None:
    result = run_cli("frobnicate")
    assert result.returncode == 2 and "invalid choice" in result.stderr


def test_kafka_up_refuses_a_port_taken_by_something_else(tmp_path: Path) -> None:
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        result = run_cli(
            "kafka", "up",
            SENDGUARD_KAFKA_BOOTSTRAP=f"127.0.0.1:{port}", SENDGUARD_HOME=str(tmp_path),
        )  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
    assert_clean_error(result, f"port 127.0.0.1:{port} is already taken by another program")


def test_kafka_status_of_nothing_is_down(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run_cli(
        "kafka", "status", SENDGUARD_KAFKA_BOOTSTRAP=f"127.0.0.1:{port}",
        SENDGUARD_HOME=str(tmp_path),
    )  # fmt: skip
    assert result.returncode == 1 and "down" in result.stdout


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SENDGUARD_WEB_PORT": "abc"}, "SENDGUARD_WEB_PORT: expected an integer, got 'abc'"),
        ({"SENDGUARD_PARTITIONS": "0"}, "SENDGUARD_PARTITIONS: must be >= 1, got 0"),
    ],
)
def test_settings_reject_bad_values(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_settings_defaults_and_secrets_do_not_print() -> None:
    hush = "hush" * 8
    settings = Settings.from_env({"SENDGUARD_SECRET": hush, "SENDGUARD_TOPIC_PREFIX": "p."})
    assert settings.kafka_bootstrap == "127.0.0.1:9092" and settings.web_port == 6066
    assert settings.topic("sendguard.decisions") == "p.sendguard.decisions"
    assert "hush" not in repr(settings) and str(settings.secret) == "***"


def test_kafka_up_brokers_must_match_a_listed_bootstrap(tmp_path: Path) -> None:
    listed = f"127.0.0.1:{free_port()},127.0.0.1:{free_port()}"
    result = run_cli("kafka", "up", "--brokers", "3", SENDGUARD_KAFKA_BOOTSTRAP=listed,
                     SENDGUARD_HOME=str(tmp_path))  # fmt: skip
    assert_clean_error(result, f"--brokers 3 but SENDGUARD_KAFKA_BOOTSTRAP lists 2 brokers ({listed})")
    result = run_cli("kafka", "up", "--brokers", "0", SENDGUARD_HOME=str(tmp_path))
    assert_clean_error(result, "--brokers must be at least 1, got 0")


def test_kafka_status_of_a_listed_cluster_counts_its_nodes(tmp_path: Path) -> None:
    listed = f"127.0.0.1:{free_port()},127.0.0.1:{free_port()},127.0.0.1:{free_port()}"
    result = run_cli("kafka", "status", SENDGUARD_KAFKA_BOOTSTRAP=listed,
                     SENDGUARD_HOME=str(tmp_path))  # fmt: skip
    assert result.returncode == 1, result
    assert "node 3 down" in result.stdout and f"0 of 3 nodes up ({listed})" in result.stdout


def test_status_of_no_worker_is_a_clear_error() -> None:
    port = free_port()
    result = run_cli("status", SENDGUARD_WEB_PORT=str(port))
    assert_clean_error(result, f"no worker answers at http://127.0.0.1:{port}/status")
    assert_clean_error(run_cli("status", "--url", "127.0.0.1:1"), "expected http://host:port")


def test_status_of_something_else_than_a_worker_is_a_clear_error(tmp_path: Path) -> None:
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        result = run_cli("status", "--url", f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
    assert_clean_error(result, "answered 404")


def test_status_shows_the_partitions_furthest_behind_first() -> None:
    partitions = [
        {"partition": p, "watermark": None, "watermark_age_s": float(p), "held_events": p,
         "waits_for": f"email.bounce/{p}"}
        for p in range(12)
    ]  # fmt: skip
    partitions[3]["watermark_age_s"] = None  # not read to the fences yet: first
    status = {
        "app_id": "sendguard", "ready": False, "why": "recovering tables from their changelogs",
        "policy": {"live": "2026.1", "shadow": None},
        "lag_messages": {"email.bounce": 40, "email.delivery": 0}, "held_events": 66,
        "partitions": partitions, "last_hour": {"decisions": 7, "dead_letters": 1},
    }  # fmt: skip
    text = render(msgspec.convert(status, Status), "http://127.0.0.1:6066")
    lines = text.splitlines()
    assert lines[0] == ("worker sendguard at http://127.0.0.1:6066: NOT READY (recovering "
                        "tables from their changelogs)")  # fmt: skip
    assert "policy: 2026.1 (shadow: none)" in lines
    assert "lag: 40 messages waiting on this worker's partitions" in lines
    assert "guard partitions: 12 with events, 66 events held" in lines
    rows = [line.split() for line in lines if line.split()[:1] and line.split()[0].isdigit()]
    assert [row[0] for row in rows] == ["3", "11", "10", "9", "8", "7", "6", "5", "4", "2"]
    assert rows[0][1:3] == ["at", "start"]
    assert "  ... and 2 more partitions" in lines
    assert lines[-1] == "last hour, all workers: 7 decisions, 1 dead letters"


@pytest.mark.parametrize(
    "answer",
    [
        '{"ready": true, "partitions": [1]}',
        '{"ready": true, "lag_messages": {"email.bounce": "many"}}',
        '{"ready": true, "lag_messages": [1, 2]}',
        '{"ready": true, "partitions": [{"partition": 0}]}',
        '{"ready": true, "last_hour": {"decisions": "x", "dead_letters": 1}}',
        '{"ready": true, "policy": "2026.1"}',
    ],
)
def test_status_of_a_malformed_answer_is_a_clear_error(tmp_path: Path, answer: str) -> None:
    """A service at --url that answers JSON with "ready", but not a worker's status."""
    (tmp_path / "status").write_text(answer)

    def handler(*args: object, **kwargs: object) -> http.server.SimpleHTTPRequestHandler:
        return http.server.SimpleHTTPRequestHandler(*args, directory=str(tmp_path), **kwargs)  # type: ignore[arg-type]

    server = http.server.HTTPServer(("127.0.0.1", 0), handler)  # type: ignore[arg-type]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        result = run_cli("status", "--url", f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
    assert_clean_error(result, "did not answer a worker's status")
