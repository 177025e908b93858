from __future__ import annotations

from streams.liveness import Liveness


def test_stalled_only_when_work_waits_and_nothing_moves() -> None:
    liveness = Liveness(stall_after_s=60, last_progress=1000.0)
    assert not liveness.update(total_lag=0, now=5000.0)  # idle is not stalled
    assert not liveness.update(total_lag=10, now=1059.0)  # behind, but recent progress
    assert liveness.update(total_lag=10, now=1061.0)
    liveness.last_progress = 1061.0
    assert not liveness.update(total_lag=10, now=1062.0)
