"""The worker's HTTP surface: account and appeal calls, health and metrics.

``accounts`` holds the calls of CONTRACT.md, ``auth`` the tokens, ``forwarding`` the
hop to the worker that owns an account, ``operations`` ``/healthz``, ``/metrics`` and
``/status``, ``console`` the operators' HTML pages.
"""

from __future__ import annotations

from api import accounts, operations
from api.console import views as console
from api.operations import PartitionStatus
from streams.app import Runtime


def register(rt: Runtime, partition_status: PartitionStatus = list) -> None:
    """``partition_status``: the guard partitions this worker owns, as ``/status`` shows
    them (``agents.ingest.Ingest.partition_status``)."""
    operations.register(rt, partition_status)
    console.register(rt, accounts.register(rt))
