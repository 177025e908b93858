from __future__ import annotations

from streams.liveness import Liveness


def test_stalled_only_when_work_waits_and_nothing_moves() -> None:
    liveness = Liveness(stall_after_s=60, started=1000.0)
    assert not liveness.update({"guard": 0}, now=5000.0)  # idle is not stalled
    assert not liveness.update({"guard": 10}, now=1059.0)  # behind, but recently started
    assert liveness.update({"guard": 10}, now=1061.0)
    assert liveness.stalled_agents == {"guard"}
    liveness.last_progress["guard"] = 1061.0
    assert not liveness.update({"guard": 10}, now=1062.0)


def test_one_agent_moving_does_not_hide_another_that_is_stuck() -> None:
    liveness = Liveness(stall_after_s=60, started=0.0)
    liveness.last_progress["ingest"] = 1000.0
    assert liveness.update({"ingest": 5, "guard": 7}, now=1001.0)
    assert liveness.stalled_agents == {"guard"} and liveness.total_lag == 12
