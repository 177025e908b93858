"""The gate's errors. It imports nothing of Sendguard (it runs beside an MTA), so it has
its own root, as ``localkafka`` does."""

from __future__ import annotations


class GateError(Exception):
    """Every error the gate raises on purpose."""


class TopicMissing(GateError, RuntimeError):
    """A topic the gate follows does not exist (yet): no worker has created it."""
