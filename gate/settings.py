"""The settings of ``sendguard gate serve``, read from the environment in one place.

The gate runs beside an MTA, apart from the workers, and imports nothing of theirs: it
reads the two variables it shares with them (the broker and the topic prefix) itself.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from gate.errors import GateError


class GateSettingsError(GateError, ValueError):
    """An environment variable holds a value the gate cannot use."""


def _default_dir() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "sendguard" / "gate"


def _env(name: str, doc: str, *, minimum: float | None = None, **default: Any) -> Any:
    return field(metadata={"env": f"SENDGUARD_{name}", "doc": doc, "minimum": minimum},
                 **default)  # fmt: skip


@dataclass(frozen=True)
class GateSettings:
    kafka_bootstrap: str = _env("KAFKA_BOOTSTRAP", "host:port of the Kafka broker, or of "
                                "several brokers separated by commas", default="127.0.0.1:9092")
    topic_prefix: str = _env("TOPIC_PREFIX", "prefixed to every topic name", default="")
    gate_dir: Path = _env("GATE_DIR", "where the gate keeps its RocksDB database (default: "
                          "~/.cache/sendguard/gate)", default_factory=_default_dir)
    gate_cache_mb: int = _env("GATE_CACHE_MB", "the gate's RocksDB block cache, in MiB",
                              minimum=8, default=64)
    gate_stale_after_s: float = _env("GATE_STALE_AFTER_S", "the gate's view is stale when it "
                                     "last read the topics to their end longer ago than this",
                                     minimum=1, default=30.0)  # fmt: skip
    gate_fail: str = _env("GATE_FAIL", "what a stale gate answers: open (as usual, marked "
                          "stale) or closed (refuse every message)", default="open")
    gate_host: str = _env("GATE_HOST", "the address `sendguard gate serve` binds to",
                          default="127.0.0.1")
    gate_port: int = _env("GATE_PORT", "the port `sendguard gate serve` listens on",
                          minimum=1, default=6070)
    gate_token: str = _env("GATE_TOKEN", "bearer token callers of `sendguard gate serve` "
                           "send; required when it binds beyond loopback", default="",
                           repr=False)  # fmt: skip
    gate_max_batch: int = _env("GATE_MAX_BATCH", "the most recipients one batch check may "
                               "name", minimum=1, default=1000)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GateSettings:
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for spec in fields(cls):
            raw = env.get(spec.metadata["env"])
            if raw not in (None, ""):
                values[spec.name] = _parse(spec, raw)
        settings = cls(**values)
        if settings.gate_fail not in ("open", "closed"):
            raise GateSettingsError(
                f"SENDGUARD_GATE_FAIL: expected open or closed, got {settings.gate_fail!r}"
            )
        if not settings.gate_token and not _loopback(settings.gate_host):
            raise GateSettingsError(
                f"SENDGUARD_GATE_HOST is {settings.gate_host}, beyond loopback: set "
                "SENDGUARD_GATE_TOKEN too, and send it as 'Authorization: Bearer <token>'"
            )
        return settings

    @classmethod
    def variables(cls) -> dict[str, str]:
        """Each environment variable and what it sets."""
        return {spec.metadata["env"]: spec.metadata["doc"] for spec in fields(cls)}


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _parse(spec: Any, raw: str) -> Any:
    name, kind, minimum = spec.metadata["env"], spec.type, spec.metadata["minimum"]
    if kind in ("int", "float"):
        try:
            value: float = int(raw) if kind == "int" else float(raw)
        except ValueError:
            raise GateSettingsError(f"{name}: expected a number, got {raw!r}") from None
        if minimum is not None and not value >= minimum:
            raise GateSettingsError(f"{name}: expected at least {minimum}, got {raw!r}")
        return value
    if kind == "Path":
        return Path(raw).expanduser()
    return raw
