"""A replay of a simulated month of about 200,000 events finishes in reasonable time.

The speed is reported, not asserted beyond a generous bound: machines differ.
"""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from offline.replay import replay
from offline.simulate import simulate, write_jsonl
from policy import Policy


def test_replay_of_200k_events(
    tmp_path: Path, policy: Policy, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "month.jsonl"
    lines = write_jsonl(
        simulate(80, 21, start=datetime(2026, 9, 1, tzinfo=UTC), duplicates=0.005, malformed=0.001),
        path,
    )
    assert lines > 190_000
    started = time.monotonic()
    result = replay(path, policy, progress=False, out=io.BytesIO(), err=io.StringIO())
    seconds = time.monotonic() - started
    assert result.lines == lines
    assert result.accepted + result.duplicates + result.rejected + result.account_records == lines
    assert result.decisions and result.rejected > 0 and result.duplicates > 0
    assert seconds < 120
    with capsys.disabled():
        print(f"\nreplay: {lines:,} lines in {seconds:.1f} s = {lines / seconds:,.0f} events/s")
