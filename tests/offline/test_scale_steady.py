"""The scale bench's steady part of a phase: start-up and tail left out of the cost."""

from bench.scale import steady


def test_the_steady_part_leaves_out_a_slow_start_and_tail() -> None:
    # 2 s of start-up at 1 CPU-s and no events, then 10,000 events/s at 0.5 CPU-s/s,
    # then a tail of 1 s with 100 events.
    samples = [(0.0, 0.0, 0), (1.0, 1.0, 0), (2.0, 2.0, 0)]
    samples += [(2.0 + i, 2.0 + 0.5 * i, 10_000 * i) for i in range(1, 11)]
    samples += [(13.0, 7.5, 100_100)]
    cpu_ms_per_event, per_s = steady(samples)
    assert cpu_ms_per_event == 0.05
    assert per_s == 10_000


def test_too_few_samples_give_no_figure() -> None:
    assert steady([(0.0, 0.0, 0), (1.0, 1.0, 10)]) is None
    assert steady([(0.0, 0.0, 0), (1.0, 1.0, 0), (2.0, 2.0, 0)]) is None
