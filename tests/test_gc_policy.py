"""The worker's garbage-collector settings (``streams.gc_policy``)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from streams import gc_policy


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_tune_freezes_what_start_up_left_and_collects_less_often(restored_gc: None) -> None:
    left_from_start = [[n] for n in range(1000)]  # tracked objects alive at the call
    gc_policy.tune()
    assert gc.get_freeze_count() >= len(left_from_start)
    assert gc.get_threshold() == (gc_policy.YOUNG_THRESHOLD, gc_policy.MIDDLE_THRESHOLD,
                                  gc_policy.OLD_THRESHOLD)  # fmt: skip
    assert gc.get_count()[0] < 100  # the collection before the freeze emptied the young

