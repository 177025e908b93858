"""Pass 1 of a replay: where each topic's lines are, and when, without holding the input.

The replay's watermark needs, per input topic, the line after which the topic has nothing
left (``finish``). Following the letter of that alone, a *sparse* topic (a spam-trap hit
on day 2 and the next on day 28) would hold the watermark at day 2 until day 28 and so
keep a month of events held in memory. A live worker does not suffer this: a partition it
has caught up on is idle. The file equivalent is to know when a topic's next line is: so
the scan also records each topic's earliest time and its *gaps*, the places where its
next line is more than :data:`GAP` later than anything it delivered before. The replay
announces such a next time as the topic's progress right after the line before the gap.
This only assumes what the watermark assumes anyway (a topic is in time order within the
allowance), and the gaps are bounded by the file's time span, not by its size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from offline.head import event_time
from offline.inputs import FileInput, ReplayInput
from schemas.types import TOPIC_KINDS

#: A topic silent for longer than this (in event time) announces its next line's time.
GAP = timedelta(minutes=5)


@dataclass
class TopicScan:
    last_line: int = 0
    earliest: datetime | None = None
    latest: datetime | None = None


@dataclass
class FileScan:
    """What pass 1 learnt; ``announcements`` maps a line number to (topic, next time).

    "Line" is an entry of the input: a line of a file, a record of the input topics.
    """

    lines: int = 0
    topics: dict[str, TopicScan] = field(default_factory=dict)
    first: datetime | None = None
    last: datetime | None = None
    announcements: dict[int, list[tuple[str, datetime]]] = field(default_factory=dict)

    def finishing(self) -> dict[int, list[str]]:
        """Line number -> topics whose last line it is."""
        by_line: dict[int, list[str]] = {}
        for name, topic in self.topics.items():
            by_line.setdefault(topic.last_line, []).append(name)
        return by_line


def scan(source: ReplayInput | str | Path, progress: Any = None) -> FileScan:
    """Pass 1 over ``source`` (a file's path or an input); ``progress`` (optional) gets
    ``update(amount_read)``."""
    source = FileInput(source) if isinstance(source, (str, Path)) else source
    result = FileScan()
    for entry in source.entries(progress):
        result.lines = entry.number
        name = entry.topic
        if not isinstance(name, str) or name not in TOPIC_KINDS:
            continue
        topic = result.topics.setdefault(name, TopicScan())
        previous, topic.last_line = topic.last_line, entry.number
        at = event_time(entry.occurred_at)
        if at is not None:
            _place(result, name, topic, previous, at)
    return result


def _place(result: FileScan, name: str, topic: TopicScan, previous: int, at: datetime) -> None:
    """Widen the span; record a gap before this line (``previous``: the topic's last line)."""
    if result.first is None or at < result.first:
        result.first = at
    if result.last is None or at > result.last:
        result.last = at
    if topic.earliest is None or at < topic.earliest:
        topic.earliest = at
    if topic.latest is not None and at > topic.latest + GAP:
        result.announcements.setdefault(previous, []).append((name, at))
    if topic.latest is None or at > topic.latest:
        topic.latest = at
