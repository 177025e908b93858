"""Progress bookkeeping behind stall detection (see ``streams.monitoring``).

Kept per agent (today only the guard). An agent is stalled when messages wait for it
and it has made no progress for ``stall_after_s``; an idle agent (nothing waiting) is
never stalled.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("sendguard.monitoring")


@dataclass
class Liveness:
    stall_after_s: float
    started: float = field(default_factory=time.time)
    last_progress: dict[str, float] = field(default_factory=dict)
    lag: dict[str, int] = field(default_factory=dict)
    stalled_agents: set[str] = field(default_factory=set)
    #: next offset each agent will process, per topic partition (what it has *handled*,
    #: not what the consumer prefetched into faust's buffers).
    next_offsets: dict[Any, int] = field(default_factory=dict)
    #: messages waiting per topic, over the partitions this worker is assigned
    lag_by_topic: dict[str, int] = field(default_factory=dict)

    def rebalanced(self) -> None:
        """Partitions were (re)assigned: waiting for that was not a stall."""
        now = time.time()
        self.started = now
        self.last_progress = dict.fromkeys(self.last_progress, now)

    def progressed(self, agent: str, tp: Any = None, offset: int | None = None) -> None:
        self.last_progress[agent] = time.time()
        if tp is not None and offset is not None:
            self.next_offsets[tp] = offset + 1

    @property
    def stalled(self) -> bool:
        return bool(self.stalled_agents)

    @property
    def total_lag(self) -> int:
        return sum(self.lag.values())

    def idle_for(self, agent: str, now: float | None = None) -> float:
        now = time.time() if now is None else now
        return now - self.last_progress.get(agent, self.started)

    def longest_stall(self, now: float | None = None) -> float:
        """Seconds the most stuck agent with work waiting has gone without progress."""
        return max(
            (self.idle_for(agent, now) for agent, waiting in self.lag.items() if waiting > 0),
            default=0.0,
        )

    def update(self, lag: Mapping[str, int], now: float | None = None) -> bool:
        """Record each agent's lag; return whether any agent is stalled."""
        now = time.time() if now is None else now
        self.lag = dict(lag)
        stalled = {
            agent
            for agent, waiting in lag.items()
            if waiting > 0 and self.idle_for(agent, now) > self.stall_after_s
        }
        for agent in stalled - self.stalled_agents:
            log.error(
                "%s stalled: %d messages waiting and no progress for %.0f s",
                agent, lag[agent], self.idle_for(agent, now),
            )  # fmt: skip
        self.stalled_agents = stalled
        return self.stalled
