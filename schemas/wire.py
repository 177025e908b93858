"""The "wire" structs that input messages are decoded into before ``schemas.parse`` checks
each field. They live apart from the checks because msgspec reads a struct's annotations
at run time, which a module compiled by mypyc (``schemas.parse`` is, see ``setup.py``)
does not keep.
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UNSET


class EventWire(msgspec.Struct):
    """Every field an input event or an event-file line may carry, as decoded JSON."""

    topic: Any = UNSET
    event_id: Any = UNSET
    account_id: Any = UNSET
    occurred_at: Any = UNSET
    channel: Any = UNSET
    campaign_id: Any = UNSET
    recipient: Any = UNSET
    bounce_type: Any = UNSET
    smtp_code: Any = UNSET
    diagnostic: Any = UNSET
    complaint_id: Any = UNSET
    summary: Any = UNSET
    trap_kind: Any = UNSET
    blocklist: Any = UNSET
    listed: Any = UNSET
    ip: Any = UNSET
    domain: Any = UNSET


class AccountWire(msgspec.Struct):
    account_id: Any = UNSET
    tier: Any = UNSET
    primary_contact: Any = UNSET
    csm: Any = UNSET
    review_required: Any = UNSET
