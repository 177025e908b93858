"""The worker's HTTP surface: account and appeal calls, health and metrics.

``accounts`` holds the calls of CONTRACT.md, ``auth`` the tokens, ``forwarding`` the
hop to the worker that owns an account, ``operations`` ``/healthz`` and ``/metrics``.
"""

from __future__ import annotations

from api import accounts, operations
from streams.app import Runtime


def register(rt: Runtime) -> None:
    operations.register(rt)
    accounts.register(rt)
