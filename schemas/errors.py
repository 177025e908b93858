"""The errors of the ``schemas`` package, under one root."""

from __future__ import annotations


class SchemaError(Exception):
    """Root of the errors raised by the ``schemas`` package."""


class InvalidEvent(SchemaError):
    """A record that breaks the contract. ``reason`` (also ``str(exc)``) says which rule."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
