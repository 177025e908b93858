"""What a replay did: the numbers behind its summary, its decisions and its comparison."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from offline.summary import Comparison
from policy.store import DictStore
from schemas.types import Decision

__all__ = ["ReplayResult"]


@dataclass
class ReplayResult:
    """What a replay did; the same numbers the summary on stderr shows."""

    path: str
    """What was replayed: a file's path, or the input topics and their time window."""
    policy_version: str
    unit: str = "lines"
    """What ``lines`` counts: lines of a file, or records of the input topics."""
    notes: list[str] = field(default_factory=list)
    """What the input says of its reading (records outside the window, topics missing)."""
    lines: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    account_records: int = 0
    appeal_records: int = 0
    restores: int = 0
    """Approved appeals from the file that restored a channel under the (base) policy."""
    accounts: int = 0
    decisions: list[Decision] = field(default_factory=list)
    by_action_reason: Counter[tuple[str, str]] = field(default_factory=Counter)
    rejects_by_reason: Counter[str] = field(default_factory=Counter)
    bad_lines: list[tuple[str, str]] = field(default_factory=list)
    """(where, reason) of the first bad lines: ``line 12``, ``email.bounce[2]@1234``."""
    states: dict[str, Counter[str]] = field(default_factory=dict)
    first: datetime | None = None
    last: datetime | None = None
    seconds: float = 0.0
    comparison: Comparison | None = None
    report_path: Path | None = None
    store: DictStore | None = None
    """The guard's final state (rows, suppressions, seen ids), when asked for."""

    @property
    def events_per_second(self) -> float:
        return self.lines / self.seconds if self.seconds > 0 else 0.0
