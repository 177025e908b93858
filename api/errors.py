"""The root of the ``api`` package's errors."""

from __future__ import annotations

from schemas.errors import SendguardError


class ApiError(SendguardError):
    """Root of the errors raised by the ``api`` package."""
