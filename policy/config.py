"""The policy as one frozen, typed object, loaded from TOML (docs/CONTRACT.md, "Policy file").

The built-in ``default.toml`` is complete; a deployment file only overrides the keys it
sets. Both go through the same validation, so a typo in either fails loudly at start-up
with the dotted key named, instead of silently disabling a protection.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from statistics import NormalDist
from types import MappingProxyType
from typing import Any

from policy.errors import PolicyError
from policy.state import MAX_LISTINGS

log = logging.getLogger("sendguard.policy")

__all__ = [
    "CampaignPolicy",
    "ChannelPolicy",
    "Policy",
    "SuspendLimits",
    "WarnLimits",
    "load_policy",
]


@dataclass(frozen=True)
class SuspendLimits:
    """Where a channel is suspended. Rates are fractions; a count limit of 0 is off."""

    hard_bounce_rate: float
    spam_report_rate: float
    unsubscribe_rate: float
    abuse_complaints: int
    spam_trap_hits: int
    blocklistings: int


@dataclass(frozen=True)
class WarnLimits:
    """Where a channel is warned, before any suspension."""

    hard_bounce_rate: float
    spam_report_rate: float
    unsubscribe_rate: float
    blocklistings: int


@dataclass(frozen=True)
class CampaignPolicy:
    """When a single marketing campaign is cancelled, and how many cancels suspend."""

    min_sends: int
    hard_bounce_rate: float
    cancelled_to_suspend: int


GATINGS = ("min_sends", "wilson")


@dataclass(frozen=True)
class Probation:
    """After a restore, for ``days`` (event time), every limit times ``factor``."""

    days: int
    factor: float


@dataclass(frozen=True)
class ChannelPolicy:
    min_sends: int
    suspend: SuspendLimits
    warn: WarnLimits
    campaign: CampaignPolicy | None = None
    gating: str = "min_sends"
    """How a rate limit is judged: ``min_sends``, the rate itself once the month's sends
    reach ``min_sends`` (the contract's rule); ``wilson``, the Wilson score lower bound of
    the rate at ``confidence``, once the sends reach ``floor``."""
    confidence: float = 0.95
    floor: int = 50
    probation: Probation | None = None

    @functools.cached_property
    def on_probation(self) -> ChannelPolicy:
        """These limits times the probation factor: rates scaled; a count limit scaled
        and rounded up, never below 1 (0 stays off). Itself without probation."""
        if self.probation is None:
            return self
        factor = self.probation.factor

        def scaled(limits: Any) -> Any:
            return dataclasses.replace(limits, **{
                name: value * factor if isinstance(value, float)
                else (max(1, math.ceil(value * factor)) if value > 0 else 0)
                for name, value in dataclasses.asdict(limits).items()
            })  # fmt: skip

        return dataclasses.replace(self, suspend=scaled(self.suspend), warn=scaled(self.warn))

    @functools.cached_property
    def z(self) -> float:
        """The one-sided normal quantile of ``confidence``: P(true rate >= bound)."""
        return NormalDist().inv_cdf(self.confidence)


#: Days an event id is remembered past the late-event grace (``Policy.seen_id_days``).
SEEN_ID_EXTRA_DAYS = 2


@dataclass(frozen=True)
class Policy:
    version: str
    late_grace_days: int
    channels: Mapping[str, ChannelPolicy]

    @property
    def seen_id_days(self) -> int:
        """How long an event id is remembered as counted: the late-event grace and two
        days more. An id older than that can only come back as a late event, which is
        rejected anyway; the margin covers an event accepted just inside the grace and
        counted a little later (the worker's seen-events table and the replay's store)."""
        return self.late_grace_days + SEEN_ID_EXTRA_DAYS

    def channel(self, name: str) -> ChannelPolicy:
        try:
            return self.channels[name]
        except KeyError:
            raise PolicyError(f"policy has no channel {name!r}") from None


_RATE, _COUNT, _TEXT = "rate", "count", "text"
_GATING, _CONFIDENCE = "gating", "confidence"
_SUSPEND = {
    "hard_bounce_rate": _RATE,
    "spam_report_rate": _RATE,
    "unsubscribe_rate": _RATE,
    "abuse_complaints": _COUNT,
    "spam_trap_hits": _COUNT,
    "blocklistings": _COUNT,
}
_WARN = {
    "hard_bounce_rate": _RATE,
    "spam_report_rate": _RATE,
    "unsubscribe_rate": _RATE,
    "blocklistings": _COUNT,
}
_CAMPAIGN = {"min_sends": _COUNT, "hard_bounce_rate": _RATE, "cancelled_to_suspend": _COUNT}
_CRM = {"min_sends": _COUNT, "suspend": _SUSPEND, "warn": _WARN, "gating": _GATING,
        "confidence": _CONFIDENCE, "floor": _COUNT,
        "probation": {"days": _COUNT, "factor": _RATE}}  # fmt: skip
_SCHEMA: dict[str, Any] = {
    "version": _TEXT,
    "late_grace_days": _COUNT,
    "marketing": {**_CRM, "campaign": _CAMPAIGN},
    "crm": _CRM,
}


def load_policy(path: str | Path | None = None) -> Policy:
    """Load the built-in policy, or a file of overrides on top of it.

    Raises :class:`PolicyError` naming the file and the key for an unreadable or
    unparsable file, an unknown key, a wrong type, a rate outside [0, 1] or a negative count.
    """
    if path is None:
        return _builtin_policy()
    source = str(path)
    try:
        with open(path, "rb") as fh:
            overrides = tomllib.load(fh)
    except OSError as exc:
        raise PolicyError(f"{source}: cannot read policy file: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{source}: not valid TOML: {exc}") from exc
    _validate(overrides, _SCHEMA, "", source)
    merged = _merge(_builtin_table(), overrides)
    if "version" not in overrides and merged != _builtin_table():
        merged["version"] = derived_version(merged)
        log.warning("%s names no version: its limits differ from the built-in policy's, "
                    "so its decisions carry the version %s, derived from its content",
                    source, merged["version"])  # fmt: skip
    return _build(merged)


def derived_version(table: Mapping[str, Any]) -> str:
    """``<built-in version>+<12 hex digits>``, a digest of the effective limits.

    Two policies get the same derived version only if every limit is the same, so a
    decision's ``policy_version`` always tells which limits it was made under.
    """
    limits = _normal({key: value for key, value in table.items() if key != "version"})
    canonical = json.dumps(limits, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:12]
    return f"{_builtin_table()['version']}+{digest}"


@functools.cache
def _builtin_table() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("default.toml").read_text(encoding="utf-8")
    table = tomllib.loads(text)
    _validate(table, _SCHEMA, "", "built-in default.toml")
    return table


@functools.cache
def _builtin_policy() -> Policy:
    return _build(_builtin_table())


def _validate(
    table: Mapping[str, Any], schema: Mapping[str, Any], prefix: str, source: str
) -> None:
    for key, value in table.items():
        name = f"{prefix}{key}"
        kind = schema.get(key)
        if kind is None:
            raise PolicyError(f"{source}: unknown policy key {name!r}")
        if isinstance(kind, Mapping):
            if not isinstance(value, dict):
                raise PolicyError(f"{source}: policy key {name!r} must be a table")
            _validate(value, kind, f"{name}.", source)
        else:
            _check_value(value, kind, name, source)


def _check_value(value: Any, kind: str, name: str, source: str) -> None:
    if kind == _GATING:
        if value not in GATINGS:
            raise PolicyError(f"{source}: policy key {name!r} must be one of "
                              f"{', '.join(GATINGS)}, got {value!r}")  # fmt: skip
        return
    if kind == _CONFIDENCE:
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0.5 <= value < 1:
            raise PolicyError(f"{source}: policy key {name!r} must be a fraction in [0.5, 1), "
                              f"got {value!r}")  # fmt: skip
        return
    if kind == _TEXT:
        if not isinstance(value, str) or not value.strip():
            raise PolicyError(f"{source}: policy key {name!r} must be a non-empty string")
        return
    # TOML booleans are Python ints; a ``true`` rate or count is always a mistake.
    if kind == _COUNT:
        if isinstance(value, bool) or not isinstance(value, int):
            raise PolicyError(f"{source}: policy key {name!r} must be a whole number")
        if value < 0:
            raise PolicyError(f"{source}: policy key {name!r} must not be negative, got {value}")
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PolicyError(f"{source}: policy key {name!r} must be a number (a fraction)")
    if not 0.0 <= value <= 1.0:
        raise PolicyError(
            f"{source}: policy key {name!r} is a rate and must be between 0 and 1, got {value}"
        )


def _merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Overlay ``overrides`` on ``base`` without mutating either (``base`` is cached)."""
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merged[key] = _merge(base[key], value)
        else:
            merged[key] = value
    return merged


def _build(table: Mapping[str, Any]) -> Policy:
    channels: dict[str, ChannelPolicy] = {}
    for name in ("marketing", "crm"):
        raw = table[name]
        for limits in ("suspend", "warn"):
            if raw[limits]["blocklistings"] > MAX_LISTINGS:
                raise PolicyError(
                    f"policy key '{name}.{limits}.blocklistings' must be at most "
                    f"{MAX_LISTINGS} (the listings in force a channel keeps), got "
                    f"{raw[limits]['blocklistings']}"
                )
        campaign = raw.get("campaign")
        channels[name] = ChannelPolicy(
            min_sends=raw["min_sends"],
            suspend=SuspendLimits(**_floats(raw["suspend"])),
            warn=WarnLimits(**_floats(raw["warn"])),
            campaign=CampaignPolicy(**_floats(campaign)) if campaign is not None else None,
            gating=raw.get("gating", "min_sends"),
            confidence=float(raw.get("confidence", 0.95)),
            floor=raw.get("floor", 50),
            probation=_probation(raw.get("probation"), name),
        )
    return Policy(
        version=table["version"],
        late_grace_days=table["late_grace_days"],
        channels=MappingProxyType(channels),
    )


def _probation(table: Mapping[str, Any] | None, channel: str) -> Probation | None:
    if table is None:
        return None
    if set(table) != {"days", "factor"}:
        raise PolicyError(f"policy table '{channel}.probation' needs both days and factor")
    return Probation(days=table["days"], factor=float(table["factor"]))


def _normal(table: Mapping[str, Any]) -> dict[str, Any]:
    """``table`` with every rate a float, at any depth (``0`` and ``0.0`` are one limit)."""
    return {
        key: _normal(value) if isinstance(value, Mapping)
        else float(value) if key.endswith("_rate") else value
        for key, value in table.items()
    }  # fmt: skip


def _floats(table: Mapping[str, Any]) -> dict[str, Any]:
    """Rates written as ``0`` or ``1`` in TOML are ints; store every rate as a float."""
    return {k: float(v) if k.endswith("_rate") else v for k, v in table.items()}
