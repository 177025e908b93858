"""A one-line progress bar on stderr, by bytes (a file) or records (the input topics) read,
with no third-party dependency.

Drawn only on a terminal (or when forced), at most ten times a second, so piping a
replay's stderr to a file does not fill it with carriage returns.
"""

from __future__ import annotations

import time
from typing import Literal, TextIO

#: What ``done`` and ``total`` count.
Unit = Literal["bytes", "records"]

_WIDTH = 28
_EVERY_S = 0.1


class Progress:
    def __init__(
        self, total: int, stream: TextIO, *, label: str, enabled: bool, unit: Unit = "bytes"
    ) -> None:
        self.total = max(total, 1)
        self.stream = stream
        self.label = label
        self.enabled = enabled
        self.unit = unit
        self.started = time.monotonic()
        self._drawn_at = 0.0
        self._shown = False
        self._done = 0

    @classmethod
    def auto(
        cls,
        total: int,
        stream: TextIO,
        *,
        label: str,
        allowed: bool,
        force: bool,
        unit: Unit = "bytes",
    ) -> Progress:
        """Enabled when forced, or when allowed and ``stream`` is a terminal."""
        tty = bool(getattr(stream, "isatty", lambda: False)())
        return cls(total, stream, label=label, enabled=force or (allowed and tty), unit=unit)

    def update(self, done: int) -> None:
        self._done = done
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._drawn_at >= _EVERY_S:
            self._drawn_at = now
            self._draw()

    def note(self, text: str) -> None:
        """Print a line above the bar without garbling either."""
        if self._shown:
            self.stream.write("\r\x1b[K")
        self.stream.write(text + "\n")
        if self._shown:
            self._draw()

    def close(self) -> None:
        """Draw the finished bar (also for a file too small to have drawn one yet)."""
        if self.enabled:
            self._done = self.total
            self._draw()
            self.stream.write("\n")
            self.stream.flush()
            self._shown = False

    def _draw(self) -> None:
        share = min(self._done / self.total, 1.0)
        filled = int(share * _WIDTH)
        elapsed = max(time.monotonic() - self.started, 1e-9)
        bar = "#" * filled + "." * (_WIDTH - filled)
        if self.unit == "records":
            amount = f"{self._done:,}/{self.total:,} records  {self._done / elapsed:,.0f}/s"
        else:
            speed = self._done / elapsed / 1e6
            amount = f"{self._done / 1e6:,.1f}/{self.total / 1e6:,.1f} MB  {speed:,.1f} MB/s"
        self.stream.write(f"\r{self.label:<7} [{bar}] {share:4.0%} {amount}")
        self.stream.flush()
        self._shown = True
