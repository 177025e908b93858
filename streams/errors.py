"""The errors of the ``streams`` package (the runtime), under one root."""

from __future__ import annotations

from schemas.errors import SendguardError


class StreamsError(SendguardError):
    """Root of the errors of ``streams``: the worker cannot start as configured."""
