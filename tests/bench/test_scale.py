"""``bench.scale``'s median of several rounds of one cell (no broker)."""

from __future__ import annotations

from dataclasses import replace

from bench.scale import Cell, Phase, median_cell


def _cell(cpu: float, first: float | None, per_s: int, rss: list[int]) -> Cell:
    backlog = Phase(events=1000, seconds=1.0, cpu_s_per_1k=cpu, internal_per_event=0.0,
                    after_start_cpu_s_per_1k=cpu, first_event_cpu_s_per_1k=first)  # fmt: skip
    live = Phase(events=10, seconds=2.0, cpu_s_per_1k=cpu * 10, internal_per_event=0.01)
    return Cell(partitions=4, workers=2, backlog=backlog, live=live, backlog_per_s=per_s,
                live_p50_s=0.1, live_p99_s=cpu, rss_mb=rss)  # fmt: skip


def test_each_figure_is_the_median_of_its_rounds() -> None:
    rounds = [_cell(0.030, 0.027, 20_000, [100, 100]), _cell(0.021, None, 22_000, [150, 150]),
              _cell(0.022, 0.020, 9_000, [120, 120])]  # fmt: skip
    found = median_cell(rounds)
    assert (found.partitions, found.workers) == (4, 2)
    assert found.backlog.cpu_s_per_1k == 0.022
    assert found.backlog.first_event_cpu_s_per_1k == 0.0235  # of the two rounds that have it
    assert found.backlog_per_s == 20_000 and isinstance(found.backlog_per_s, int)
    assert found.live.cpu_s_per_1k == 0.22
    assert found.live.first_event_cpu_s_per_1k is None
    assert found.live_p99_s == 0.022
    assert found.rss_mb == [240]  # all workers, as the single-round matrix shows it
    with_rebalances = [replace(r, rebalances=n) for r, n in zip(rounds, (2, 5, 3), strict=True)]
    assert median_cell(with_rebalances).rebalances == 3


def test_one_round_is_itself() -> None:
    only = _cell(0.03, 0.02, 1, [1])
    assert median_cell([only]) is only
