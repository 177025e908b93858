"""Every runtime setting of Sendguard, read from the environment in exactly one place.

Each field declares its variable, its default and its meaning once (``_env``); README.md's
"Configuration" table lists the same, which a test checks. Secrets are wrapped in
:class:`Secret` so they never show up in logs or reprs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import Field, dataclass, field, fields
from pathlib import Path
from typing import Any

from streams.errors import StreamsError
from streams.topics import TopicNames

#: The shortest key accepted: 256 bits, beyond an offline guess from any token it signed.
MIN_SECRET_BYTES = 32
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


def _env(name: str, doc: str, *, minimum: int = 0, **default: Any) -> Any:
    """A setting read from ``SENDGUARD_<name>``: its one declaration (name, rule, meaning).

    ``doc`` is what README.md's "Configuration" table says of it; a test keeps the two
    in step. ``minimum`` applies to integers.
    """
    return field(metadata={"env": f"SENDGUARD_{name}", "doc": doc, "minimum": minimum}, **default)


@dataclass(frozen=True)
class Settings:
    kafka_bootstrap: str = _env("KAFKA_BOOTSTRAP", "host:port of the Kafka broker, or of "
                                "several brokers separated by commas", default="127.0.0.1:9092")
    policy_path: Path | None = _env("POLICY", "a policy TOML file; unset means the built-in "
                                    "policy", default=None)
    shadow_policy_path: Path | None = _env(
        "SHADOW_POLICY",
        "a second policy TOML run beside the live one, with its own state; its decisions go "
        "to sendguard.shadow-decisions and change nothing else; unset means no shadow",
        default=None,
    )
    data_dir: Path = _env("DATA_DIR", "where the worker keeps its RocksDB table state",
                          default=Path("./sendguard-data"))
    web_port: int = _env("WEB_PORT", "the worker's HTTP port (health, metrics, API)",
                         minimum=1, default=6066)
    web_host: str = _env("WEB_HOST", "the address the HTTP server binds to",
                         default="127.0.0.1")
    operator_token: Secret = _env("OPERATOR_TOKEN", "bearer token of operators; unset "
                                  "disables operator calls", default=Secret(""))
    operators_file: Path | None = _env(
        "OPERATORS_FILE",
        "the named operators and their roles (`sendguard operator add` writes it); unset: "
        "only the deprecated SENDGUARD_OPERATOR_TOKEN",
        default=None,
    )
    secret: Secret = _env("SECRET", "key that signs account tokens and forwarded requests, "
                          f"at least {MIN_SECRET_BYTES} bytes; unset disables account calls",
                          default=Secret(""))
    previous_secret: Secret = _env(
        "PREVIOUS_SECRET",
        "the key SENDGUARD_SECRET replaced, still accepted while its tokens age out "
        "(key rotation); unset when there is none",
        default=Secret(""),
    )
    token_ttl_days: int = _env("TOKEN_TTL_DAYS", "how long an account token that `sendguard "
                               "token` issues is valid, in days", minimum=1, default=90)
    home: Path = _env("HOME", "cache for the Kafka jars and the local broker's files",
                      default_factory=default_home)
    app_id: str = _env("APP_ID", "Faust app id, i.e. the consumer group and changelog "
                       "topic prefix", default="sendguard")
    topic_prefix: str = _env("TOPIC_PREFIX", "prefixed to every topic name (tests use a "
                             "unique one)", default="")
    partitions: int = _env("PARTITIONS", "partitions of the topics Sendguard creates",
                           minimum=1, default=4)
    replication_factor: int | None = _env(
        "REPLICATION_FACTOR",
        "replication factor of the topics Sendguard creates; unset: from the cluster, 3 with "
        "3 brokers or more, 1 on a single broker",
        minimum=1, default=None,
    )  # fmt: skip
    min_insync_replicas: int | None = _env(
        "MIN_INSYNC_REPLICAS",
        "min.insync.replicas of the topics Sendguard creates; unset: 2 with replication "
        "factor 3, 1 below",
        minimum=1, default=None,
    )  # fmt: skip
    table_standby_replicas: int = _env("STANDBY_REPLICAS", "standby copies of each table "
                                       "partition on other workers", default=1)
    block_cache_bytes: int = _env("BLOCK_CACHE_BYTES", "RocksDB block cache per table "
                                  "partition", minimum=1024 * 1024, default=4 * 1024 * 1024)
    log_level: str = _env("LOG_LEVEL", "worker log level", default="info")
    session_timeout_s: int = _env("SESSION_TIMEOUT_S", "a silent worker leaves the consumer "
                                  "group after this", minimum=6, default=10)
    stall_after_s: int = _env("STALL_SECONDS", "messages waiting and no progress this long "
                              "= stalled", minimum=1, default=60)
    # Three stall windows: long enough for a broker restart or a long pause to pass.
    exit_on_stall_s: int = _env(
        "EXIT_ON_STALL_S",
        "exit with code 3 after a stall this long (0: never), for a supervisor that "
        "restarts on exit (systemd, a container's restart policy)",
        default=180,
    )
    fault_stall_after: int = _env("FAULT_STALL_AFTER", "chaos testing only: the guard hangs "
                                  "after this many records (0, the default, is off)", default=0)
    reorder_allowance_s: int = _env("REORDER_ALLOWANCE_S", "disorder in event time "
                                    "tolerated inside one input partition", default=5)
    hold_back_above: int = _env(
        "HOLD_BACK_ABOVE",
        "events held for event-time order above which an input partition more than a "
        "minute ahead of its watermark is not fetched until the watermark catches up; a "
        "held event takes about 1.5 KB of memory",
        minimum=1000, default=100_000,
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for spec in fields(cls):
            raw = env.get(spec.metadata["env"])
            if raw not in (None, ""):
                values[spec.name] = _parse(spec, raw)
        settings = cls(**values)
        if settings.log_level not in _LOG_LEVELS:
            raise SettingsError(
                f"SENDGUARD_LOG_LEVEL: expected one of {', '.join(sorted(_LOG_LEVELS))}, "
                f"got {settings.log_level!r}"
            )
        settings.bootstrap_addresses  # noqa: B018 - validates host:port early
        for name, secret in (("SECRET", settings.secret),
                             ("PREVIOUS_SECRET", settings.previous_secret)):  # fmt: skip
            if secret and len(secret.value.encode()) < MIN_SECRET_BYTES:
                raise SettingsError(
                    f"SENDGUARD_{name} is {len(secret.value.encode())} bytes; at least "
                    f"{MIN_SECRET_BYTES} are needed. Make one with: python3 -c 'import "
                    "secrets; print(secrets.token_urlsafe(32))'"
                )
        rf, min_isr = settings.replication_factor, settings.min_insync_replicas
        if rf is not None and min_isr is not None and min_isr > rf:
            raise SettingsError(
                f"SENDGUARD_MIN_INSYNC_REPLICAS ({min_isr}) must not exceed "
                f"SENDGUARD_REPLICATION_FACTOR ({rf}): no write could ever succeed"
            )
        return settings

    @classmethod
    def variables(cls) -> dict[str, str]:
        """Each environment variable and what it sets."""
        return {spec.metadata["env"]: spec.metadata["doc"] for spec in fields(cls)}

    @property
    def faust_log_level(self) -> str:
        return _LOG_LEVELS[self.log_level]

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    @property
    def topic_names(self) -> TopicNames:
        """Every topic Sendguard reads or writes, by role, with the prefix."""
        return TopicNames.prefixed(self.topic_prefix)

    @property
    def bootstrap_addresses(self) -> list[tuple[str, int]]:
        """Each broker of ``SENDGUARD_KAFKA_BOOTSTRAP`` (``host:port``, comma-separated)."""
        entries = [entry.strip() for entry in self.kafka_bootstrap.split(",")]
        several = len(entries) > 1
        found = []
        for entry in entries:
            host, _, port = entry.rpartition(":")
            if not host or not port.isdigit():
                where = f" in {self.kafka_bootstrap!r}" if several else ""
                raise SettingsError(
                    f"SENDGUARD_KAFKA_BOOTSTRAP: expected host:port, got {entry!r}{where} "
                    "(several brokers: host:port,host:port)"
                )
            found.append((host, int(port)))
        return found

    @property
    def bootstrap_host_port(self) -> tuple[str, int]:
        """The first broker of ``SENDGUARD_KAFKA_BOOTSTRAP``."""
        return self.bootstrap_addresses[0]


def _parse(spec: Field[Any], raw: str) -> Any:
    """One variable's text as its field's type (annotations are strings here)."""
    name = spec.metadata["env"]
    if spec.type in ("int", "int | None"):
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(f"{name}: expected an integer, got {raw!r}") from None
        if value < spec.metadata["minimum"]:
            raise SettingsError(f"{name}: must be >= {spec.metadata['minimum']}, got {value}")
        return value
    if spec.type in ("Path", "Path | None"):
        return Path(raw)
    if spec.type == "Secret":
        return Secret(raw)
    if spec.name == "log_level":
        return raw.lower()
    return raw
