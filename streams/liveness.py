"""Progress bookkeeping behind stall detection (see ``streams.monitoring``)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

log = logging.getLogger("sendguard.monitoring")


@dataclass
class Liveness:
    stall_after_s: float
    last_progress: float = field(default_factory=time.time)
    total_lag: int = 0
    stalled: bool = False

    def progressed(self) -> None:
        self.last_progress = time.time()

    def update(self, total_lag: int, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        self.total_lag = total_lag
        was = self.stalled
        self.stalled = total_lag > 0 and now - self.last_progress > self.stall_after_s
        if self.stalled and not was:
            log.error(
                "stalled: %d messages waiting and no progress for %.0f s",
                total_lag, now - self.last_progress,
            )  # fmt: skip
        return self.stalled
