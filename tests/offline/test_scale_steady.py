"""The scale bench's steady part of a phase: start-up, rebalances and tail left out."""

from bench.scale import Sample, steady


def test_the_steady_part_leaves_out_a_slow_start_a_late_rebalance_and_the_tail() -> None:
    # 2 s of start-up at 1 CPU-s/s and nothing taken; 3 s at 1 CPU-s/s taking 2,000/s while
    # a joiner makes the group rebalance; then 10,000 records/s at 0.5 CPU-s/s; a tail.
    samples = [Sample(0.0, 0.0, 0, 0), Sample(1.0, 1.0, 0, 1), Sample(2.0, 2.0, 0, 1)]
    samples += [Sample(2.0 + i, 2.0 + i, 2_000 * i, 1) for i in range(1, 4)]
    samples += [Sample(5.0 + i, 5.0 + 0.5 * i, 6_000 + 10_000 * i, 3) for i in range(11)]
    samples += [Sample(17.0, 10.5, 106_100, 3)]
    cpu_ms_per_record, per_s = steady(samples)
    assert cpu_ms_per_record == 0.05
    assert per_s == 10_000


def test_too_little_after_the_last_rebalance_gives_no_figure() -> None:
    assert steady([]) is None
    assert steady([Sample(0.0, 0.0, 0, 0), Sample(1.0, 1.0, 10, 0)]) is None
    late = [Sample(float(i), float(i), 1000 * i, 1) for i in range(10)]
    late += [Sample(10.0, 10.0, 10_000, 2), Sample(11.0, 11.0, 10_000, 2)]
    assert steady(late) is None
