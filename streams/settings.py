"""Every runtime setting of Sendguard, read from the environment in exactly one place.

Each field documents its variable and default; README.md's "Configuration" table lists the
same. Secrets are wrapped in :class:`Secret` so they never show up in logs or reprs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from streams.errors import StreamsError

#: Faust's worker --loglevel choices, and the spellings people also use for them.
_LOG_LEVELS = {"debug": "debug", "info": "info", "warn": "warn", "warning": "warn",
               "error": "error", "crit": "crit", "critical": "crit"}  # fmt: skip


class SettingsError(StreamsError, ValueError):
    """An environment variable holds a value Sendguard cannot use."""


@dataclass(frozen=True)
class Secret:
    """A string that prints as ``'***'``."""

    value: str = field(repr=False)

    def __str__(self) -> str:
        return "***" if self.value else ""

    def __bool__(self) -> bool:
        return bool(self.value)


def default_home() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "sendguard"


@dataclass(frozen=True)
class Settings:
    kafka_bootstrap: str = "127.0.0.1:9092"
    """SENDGUARD_KAFKA_BOOTSTRAP: host:port of the Kafka broker."""
    policy_path: Path | None = None
    """SENDGUARD_POLICY: a policy TOML file; unset means the built-in policy."""
    data_dir: Path = Path("./sendguard-data")
    """SENDGUARD_DATA_DIR: where the worker keeps its RocksDB table state."""
    web_port: int = 6066
    """SENDGUARD_WEB_PORT: the worker's HTTP port (health, metrics, API)."""
    web_host: str = "127.0.0.1"
    """SENDGUARD_WEB_HOST: the address the HTTP server binds to."""
    operator_token: Secret = Secret("")
    """SENDGUARD_OPERATOR_TOKEN: bearer token of operators; unset disables operator calls."""
    secret: Secret = Secret("")
    """SENDGUARD_SECRET: key that signs account tokens; unset disables account calls."""
    home: Path = field(default_factory=default_home)
    """SENDGUARD_HOME: cache for the Kafka jars and the local broker's files."""
    app_id: str = "sendguard"
    """SENDGUARD_APP_ID: Faust app id, i.e. the consumer group and changelog topic prefix."""
    topic_prefix: str = ""
    """SENDGUARD_TOPIC_PREFIX: prefixed to every topic name (tests use a unique one)."""
    partitions: int = 4
    """SENDGUARD_PARTITIONS: partitions of the topics Sendguard creates."""
    table_standby_replicas: int = 1
    """SENDGUARD_STANDBY_REPLICAS: standby copies of each table partition on other workers."""
    block_cache_bytes: int = 4 * 1024 * 1024
    """SENDGUARD_BLOCK_CACHE_BYTES: RocksDB block cache per table partition."""
    log_level: str = "info"
    """SENDGUARD_LOG_LEVEL: worker log level."""
    reorder_allowance_s: int = 5
    """SENDGUARD_REORDER_ALLOWANCE_S: disorder tolerated inside one input partition."""
    exit_on_stall_s: int = 180
    """SENDGUARD_EXIT_ON_STALL_S: exit with code 3 after a stall this long (0: never), so
    that a supervisor that restarts on exit (systemd, a container restart policy) acts on
    it: three stall windows, long enough for a broker restart or a long pause to pass."""
    session_timeout_s: int = 10
    """SENDGUARD_SESSION_TIMEOUT_S: a silent worker leaves the consumer group after this."""
    stall_after_s: int = 60
    """SENDGUARD_STALL_SECONDS: messages waiting and no progress this long = stalled."""
    fault_stall_after: int = 0
    """SENDGUARD_FAULT_STALL_AFTER: chaos testing only: the guard hangs after this many
    records, as a stalled faust consumer would (0, the default, is off)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(f"SENDGUARD_{name}")
            return value if value not in (None, "") else None

        def integer(name: str, default: int, minimum: int = 0) -> int:
            raw = get(name)
            if raw is None:
                return default
            try:
                value = int(raw)
            except ValueError:
                raise SettingsError(f"SENDGUARD_{name}: expected an integer, got {raw!r}") from None
            if value < minimum:
                raise SettingsError(f"SENDGUARD_{name}: must be >= {minimum}, got {value}")
            return value

        base = cls()
        policy = get("POLICY")
        settings = cls(
            kafka_bootstrap=get("KAFKA_BOOTSTRAP") or base.kafka_bootstrap,
            policy_path=Path(policy) if policy else None,
            data_dir=Path(get("DATA_DIR") or base.data_dir),
            web_port=integer("WEB_PORT", base.web_port, 1),
            web_host=get("WEB_HOST") or base.web_host,
            operator_token=Secret(get("OPERATOR_TOKEN") or ""),
            secret=Secret(get("SECRET") or ""),
            home=Path(get("HOME") or base.home),
            app_id=get("APP_ID") or base.app_id,
            topic_prefix=get("TOPIC_PREFIX") or "",
            partitions=integer("PARTITIONS", base.partitions, 1),
            table_standby_replicas=integer("STANDBY_REPLICAS", base.table_standby_replicas),
            block_cache_bytes=integer("BLOCK_CACHE_BYTES", base.block_cache_bytes, 1024 * 1024),
            log_level=(get("LOG_LEVEL") or base.log_level).lower(),
            stall_after_s=integer("STALL_SECONDS", base.stall_after_s, 1),
            session_timeout_s=integer("SESSION_TIMEOUT_S", base.session_timeout_s, 6),
            exit_on_stall_s=integer("EXIT_ON_STALL_S", base.exit_on_stall_s),
            fault_stall_after=integer("FAULT_STALL_AFTER", 0),
            reorder_allowance_s=integer("REORDER_ALLOWANCE_S", base.reorder_allowance_s),
        )
        if settings.log_level not in _LOG_LEVELS:
            raise SettingsError(
                f"SENDGUARD_LOG_LEVEL: expected one of {', '.join(sorted(_LOG_LEVELS))}, "
                f"got {settings.log_level!r}"
            )
        settings.bootstrap_host_port  # noqa: B018 - validates host:port early
        return settings

    @property
    def faust_log_level(self) -> str:
        return _LOG_LEVELS[self.log_level]

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    @property
    def bootstrap_host_port(self) -> tuple[str, int]:
        host, _, port = self.kafka_bootstrap.rpartition(":")
        if not host or not port.isdigit():
            raise SettingsError(
                f"SENDGUARD_KAFKA_BOOTSTRAP: expected host:port, got {self.kafka_bootstrap!r}"
            )
        return host, int(port)
