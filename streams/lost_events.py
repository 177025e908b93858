"""Never lose events silently: notice when the consumer's position is reset past records.

When a committed or fetch position falls below the start of a partition's log (the
broker's retention or a ``DeleteRecords`` removed records nobody read), aiokafka logs
``Fetch offset N is out of range for partition TP, resetting offset`` at INFO and jumps
to the log start: the records in between are lost to Sendguard. aiokafka offers no hook
for it, so this filter watches that log line (from aiokafka's consumer thread), says it
as an error, counts it in ``sendguard_offset_resets_total`` and fails ``/healthz`` for the
life of the process.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass, field

from prometheus_client import Counter

FETCHER_LOGGER = "aiokafka.consumer.fetcher"
_OUT_OF_RANGE = re.compile(
    r"Fetch offset (?P<offset>-?\d+) is out of range for partition "
    r"TopicPartition\(topic='(?P<topic>[^']*)', partition=(?P<partition>\d+)\)"
)
log = logging.getLogger("sendguard.lost")


@dataclass
class LostEvents:
    """Offset resets seen by this process (thread-safe: aiokafka runs in its own thread)."""

    metric: Counter
    resets: list[tuple[str, int, int]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def saw(self, message: str) -> bool:
        found = _OUT_OF_RANGE.search(message)
        if found is None:
            return False
        topic, partition = found["topic"], int(found["partition"])
        offset = int(found["offset"])
        with self._lock:
            if (topic, partition, offset) in self.resets:
                return True  # the same reset, seen by another fetch in flight
            self.resets.append((topic, partition, offset))
        self.metric.labels(topic=topic, partition=str(partition)).inc()
        log.error(
            "EVENTS LOST: the position %d of %s[%d] is no longer in the log (records were "
            "deleted unread, e.g. by retention) and the consumer skipped to the log start; "
            "replay the missing range from its source, and give the topic a longer "
            "retention than the longest expected backlog", offset, topic, partition,
        )  # fmt: skip
        return True

    @property
    def happened(self) -> bool:
        with self._lock:
            return bool(self.resets)

    def describe(self) -> str:
        with self._lock:
            topic, partition, offset = self.resets[-1]
            return (
                f"events lost: {len(self.resets)} offset reset(s), the last at {topic}"
                f"[{partition}] offset {offset} (records deleted unread)"
            )


class _Filter(logging.Filter):
    def __init__(self, lost: LostEvents, logger: logging.Logger) -> None:
        super().__init__()
        self.lost = lost
        self.logger = logger

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.INFO and self.lost.saw(record.getMessage()):
            return False  # said above, as an error
        # What the logging configuration lets through (this logger's own level is ours).
        parent = self.logger.parent
        return parent is None or record.levelno >= parent.getEffectiveLevel()


def watch(lost: LostEvents) -> None:
    """Hook into aiokafka's fetcher log: its reset message is INFO, so the logger lets
    INFO through to this filter, which passes on only what the configuration would.
    Call it again after anything that may reconfigure logging (idempotent)."""
    logger = logging.getLogger(FETCHER_LOGGER)
    if not any(isinstance(f, _Filter) for f in logger.filters):
        logger.addFilter(_Filter(lost, logger))
    logger.setLevel(logging.INFO)
