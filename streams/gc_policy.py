"""How a worker's garbage collector runs.

CPython's defaults (a young collection every 700 net allocations of tracked objects, a
full one every 100 middle ones, and each full one walking every tracked object) are
made for small heaps. A worker's heap is large from the start (faust, aiokafka, mode and
their imports) and grows while it holds events and caches rows, so full collections got
both frequent and slow: one worker draining a month of 236k events spent 2.6 s of CPU in
29 full collections, about a quarter of its drain (BENCHMARKS.md, 2026-12-06). faust also
collects in full at every rebalance, once per table (``Store.revoke_partitions``).

:func:`tune` collects once and freezes what start-up left (the imports' objects then never
take part in a collection again), and collects the young generation less often. Objects
kept in cycles are still collected: at most every ``OLD_THRESHOLD`` x ``MIDDLE_THRESHOLD``
x ``YOUNG_THRESHOLD`` net allocations (about every 25 s of a busy worker).
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000
MIDDLE_THRESHOLD = 20
OLD_THRESHOLD = 10


def tune() -> None:
    """Call once, when the worker is built and before it starts working."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD)
