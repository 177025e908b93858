"""The root of Sendguard's errors, and the errors of the ``schemas`` package under it.

:class:`SendguardError` lives here, in the bottom layer, so that every package can put its
own root under it. The CLI catches it and prints one line; anything else is a bug and
keeps its traceback. (``localkafka``, a tool beside Sendguard, has its own root.)
"""

from __future__ import annotations


class SendguardError(Exception):
    """Root of every error Sendguard raises on purpose: something a user can act on."""


class SchemaError(SendguardError):
    """Root of the errors raised by the ``schemas`` package."""


class InvalidEvent(SchemaError):
    """A record that breaks the contract. ``reason`` (also ``str(exc)``) says which rule."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
