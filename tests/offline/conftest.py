"""Fixtures of the offline tests: event-file builders and a replay runner (data in, data out)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from offline.replay import ReplayResult, replay
from policy import Policy, load_policy

T0 = datetime(2026, 10, 5, 8, 0, tzinfo=UTC)


def at(seconds: float) -> str:
    """RFC 3339 time ``seconds`` after T0 (a fixed day in the past)."""
    return (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def ev(topic: str, event_id: str, seconds: float, account: str = "acme", **fields: Any) -> dict:
    """One JSON-lines record; delivery/bounce/unsubscribe/spam-report get a recipient."""
    body: dict[str, Any] = {
        "topic": topic, "event_id": event_id, "account_id": account, "occurred_at": at(seconds),
    }  # fmt: skip
    if topic in ("email.delivery", "email.bounce", "email.unsubscribe", "email.spam-report"):
        body["recipient"] = f"u{event_id}@example.com"
    if topic == "email.bounce":
        body["bounce_type"] = "hard"
    body.update(fields)
    return body


def deliveries(n: int, account: str = "acme", start: float = 0.0, step: float = 1.0) -> list[dict]:
    return [ev("email.delivery", f"{account}-d{i}", start + i * step, account) for i in range(n)]


def hard_bounces(n: int, account: str = "acme", start: float = 5000.0) -> list[dict]:
    return [ev("email.bounce", f"{account}-b{j + 1}", start + j * 10, account) for j in range(n)]


@dataclass
class Replayed:
    result: ReplayResult
    stdout: bytes
    stderr: str

    @property
    def records(self) -> list[dict]:
        """The decisions as written on stdout, parsed back."""
        return [json.loads(line) for line in self.stdout.splitlines()]


WriteFile = Callable[..., Path]
RunReplay = Callable[..., Replayed]


@pytest.fixture
def write_file(tmp_path: Path) -> WriteFile:
    """Write records (dicts as JSON, strings as they are) to a fresh JSON-lines file."""
    names = iter(range(1_000_000))

    def write(records: Iterable[dict | str], name: str | None = None) -> Path:
        path = tmp_path / (name or f"events-{next(names)}.jsonl")
        with path.open("w", encoding="utf-8") as fh:
            for record in records:
                fh.write((record if isinstance(record, str) else json.dumps(record)) + "\n")
        return path

    return write


@pytest.fixture
def policy() -> Policy:
    return load_policy()


@pytest.fixture
def run_replay(policy: Policy) -> RunReplay:
    """Replay a file with the built-in policy unless told otherwise; capture both streams."""

    def run(path: Path, **options: Any) -> Replayed:
        out, err = io.BytesIO(), io.StringIO()
        options.setdefault("progress", False)
        result = replay(path, options.pop("policy", policy), out=out, err=err, **options)
        return Replayed(result, out.getvalue(), err.getvalue())

    return run


def without_time(records: list[dict]) -> list[dict]:
    """Decisions minus ``decided_at``, which follows the file's event-time clock."""
    return [{k: v for k, v in r.items() if k != "decided_at"} for r in records]
