"""Settings: each variable declared once, read with its type, and documented in README.md."""

from __future__ import annotations

import re
from dataclasses import MISSING, fields
from pathlib import Path

import pytest

from streams.settings import Secret, Settings, SettingsError

README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_rows() -> dict[str, str]:
    """variable -> its default cell, from the README's "Configuration" table."""
    section = README.read_text(encoding="utf-8").split("## Configuration", 1)[1]
    section = section.split("\n#", 1)[0]
    return dict(re.findall(r"^\| `(SENDGUARD_[A-Z_]+)` \| ([^|]+) \|", section, re.MULTILINE))


def test_readme_table_lists_every_setting_in_order() -> None:
    assert list(_readme_rows()) == list(Settings.variables())


def test_readme_table_shows_each_plain_default() -> None:
    rows = _readme_rows()
    for spec in fields(Settings):
        default = spec.default
        if default is MISSING or default is None or isinstance(default, Secret) or default == "":
            continue  # shown in words (unset, empty, built-in, the cache directory)
        shown = f"./{default}" if isinstance(default, Path) else default
        assert f"`{shown}`" in rows[spec.metadata["env"]], spec.name


def test_every_variable_is_read_with_its_type() -> None:
    env = {
        "SENDGUARD_KAFKA_BOOTSTRAP": "kafka-1.internal:19092,kafka-2.internal:19092",
        "SENDGUARD_POLICY": "/etc/sendguard/policy.toml",
        "SENDGUARD_SHADOW_POLICY": "/etc/sendguard/candidate.toml",
        "SENDGUARD_DATA_DIR": "/var/lib/sendguard",
        "SENDGUARD_WEB_PORT": "7000",
        "SENDGUARD_WEB_HOST": "0.0.0.0",
        "SENDGUARD_OPERATOR_TOKEN": "op",
        "SENDGUARD_OPERATORS_FILE": "/etc/sendguard/operators.json",
        "SENDGUARD_SECRET": "sign" * 8,
        "SENDGUARD_PREVIOUS_SECRET": "old!" * 8,
        "SENDGUARD_TOKEN_TTL_DAYS": "30",
        "SENDGUARD_HOME": "/tmp/sg-home",
        "SENDGUARD_APP_ID": "sg-test",
        "SENDGUARD_TOPIC_PREFIX": "t1.",
        "SENDGUARD_PARTITIONS": "8",
        "SENDGUARD_REPLICATION_FACTOR": "3",
        "SENDGUARD_MIN_INSYNC_REPLICAS": "2",
        "SENDGUARD_STANDBY_REPLICAS": "0",
        "SENDGUARD_BLOCK_CACHE_BYTES": "8388608",
        "SENDGUARD_LOG_LEVEL": "WARNING",
        "SENDGUARD_REORDER_ALLOWANCE_S": "2",
        "SENDGUARD_HOLD_BACK_ABOVE": "250000",
        "SENDGUARD_EXIT_ON_STALL_S": "0",
        "SENDGUARD_SESSION_TIMEOUT_S": "30",
        "SENDGUARD_STALL_SECONDS": "5",
        "SENDGUARD_FAULT_STALL_AFTER": "100",
    }
    assert set(env) == set(Settings.variables())
    settings = Settings.from_env(env)
    assert settings == Settings(
        kafka_bootstrap="kafka-1.internal:19092,kafka-2.internal:19092",
        policy_path=Path("/etc/sendguard/policy.toml"),
        shadow_policy_path=Path("/etc/sendguard/candidate.toml"),
        data_dir=Path("/var/lib/sendguard"),
        web_port=7000,
        web_host="0.0.0.0",
        operator_token=Secret("op"),
        operators_file=Path("/etc/sendguard/operators.json"),
        secret=Secret("sign" * 8),
        previous_secret=Secret("old!" * 8),
        token_ttl_days=30,
        home=Path("/tmp/sg-home"),
        app_id="sg-test",
        topic_prefix="t1.",
        partitions=8,
        replication_factor=3,
        min_insync_replicas=2,
        table_standby_replicas=0,
        block_cache_bytes=8388608,
        log_level="warning",
        reorder_allowance_s=2,
        hold_back_above=250_000,
        exit_on_stall_s=0,
        session_timeout_s=30,
        stall_after_s=5,
        fault_stall_after=100,
    )
    assert settings.faust_log_level == "warn"
    assert settings.bootstrap_addresses == [("kafka-1.internal", 19092), ("kafka-2.internal", 19092)]


def test_empty_variables_keep_the_defaults() -> None:
    assert Settings.from_env({name: "" for name in Settings.variables()}) == Settings()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SENDGUARD_PARTITIONS", "0", "SENDGUARD_PARTITIONS: must be >= 1, got 0"),
        ("SENDGUARD_SESSION_TIMEOUT_S", "5", "must be >= 6"),
        ("SENDGUARD_WEB_PORT", "http", "SENDGUARD_WEB_PORT: expected an integer, got 'http'"),
        ("SENDGUARD_LOG_LEVEL", "loud", "SENDGUARD_LOG_LEVEL: expected one of"),
        ("SENDGUARD_KAFKA_BOOTSTRAP", "localhost", "expected host:port"),
        ("SENDGUARD_KAFKA_BOOTSTRAP", "a:9092,b", "expected host:port, got 'b' in 'a:9092,b'"),
        ("SENDGUARD_REPLICATION_FACTOR", "0", "SENDGUARD_REPLICATION_FACTOR: must be >= 1"),
        ("SENDGUARD_MIN_INSYNC_REPLICAS", "x", "SENDGUARD_MIN_INSYNC_REPLICAS: expected an integer"),
    ],
)
def test_bad_values_name_their_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(message)):
        Settings.from_env({name: value})


def test_a_bootstrap_list_is_read_as_its_brokers() -> None:
    settings = Settings.from_env({"SENDGUARD_KAFKA_BOOTSTRAP": "127.0.0.1:9092, 127.0.0.1:9093"})
    assert settings.bootstrap_addresses == [("127.0.0.1", 9092), ("127.0.0.1", 9093)]
    assert settings.bootstrap_host_port == ("127.0.0.1", 9092)


def test_min_insync_replicas_above_the_replication_factor_is_refused() -> None:
    env = {"SENDGUARD_REPLICATION_FACTOR": "2", "SENDGUARD_MIN_INSYNC_REPLICAS": "3"}
    with pytest.raises(SettingsError, match=re.escape(
        "SENDGUARD_MIN_INSYNC_REPLICAS (3) must not exceed SENDGUARD_REPLICATION_FACTOR (2)"
    )):  # fmt: skip
        Settings.from_env(env)
