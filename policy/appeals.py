"""Who may appeal, into which queue (docs/POLICY.md, "Who may appeal, and how"). Pure."""

from __future__ import annotations

from dataclasses import dataclass

from policy.engine import RestoreReason
from schemas.appeals import AppealKind, AppealQueue
from schemas.types import Channel, ChannelStatus, Tier


@dataclass(frozen=True)
class Admission:
    """Whether an appeal is accepted; ``status`` is the HTTP status when it is not."""

    accepted: bool
    status: int = 201
    reason: str = ""
    kind: AppealKind = "appeal"
    queue: AppealQueue = "deliverability"
    notify_account_team: bool = False


def restore_reason(kind: AppealKind) -> RestoreReason:
    """The reason of the restore an approved appeal (or account review) makes."""
    return "review_approved" if kind == "review" else "appeal_approved"


def admit_appeal(tier: Tier, channel: Channel, status: ChannelStatus) -> Admission:
    if status.state == "under_review" and channel == "marketing":
        # An additional account review, not an appeal of a suspension: any tier.
        return Admission(True, kind="review", queue="account-review")
    if status.state != "suspended":
        return Admission(
            False, 409, f"the {channel} channel is {status.state}, not suspended: nothing to appeal"
        )
    if channel == "marketing" and tier == "free":
        return Admission(
            False,
            403,
            "free accounts cannot appeal a marketing suspension: the email tool stays locked, "
            "the account's other tools keep working",
        )
    if status.suspension_type == "fraud":
        queue: AppealQueue = "fraud-review"
    elif channel == "crm":
        queue = "crm"
    else:
        queue = "deliverability"
    return Admission(True, queue=queue, notify_account_team=tier == "legacy")
