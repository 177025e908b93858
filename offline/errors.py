"""The errors of the ``offline`` package, under one root."""

from __future__ import annotations

from schemas.errors import SendguardError


class OfflineError(SendguardError):
    """Root of the errors of ``offline``: a problem the user can fix (a file, a broker)."""


class ReplayInputError(OfflineError):
    """The replay's input file cannot be read."""


class ReportError(OfflineError):
    """The HTML report cannot be written."""


class ProduceError(OfflineError):
    """Producing simulated events to Kafka failed."""
