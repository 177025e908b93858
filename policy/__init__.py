"""Sendguard's protection policy: limits, per-account state and the decision engine.

Pure code: nothing here imports Faust, Kafka clients or the worker's agents, streams and
tables, so the streaming worker and the offline replay run the very same decisions.
"""

from policy.config import (
    CampaignPolicy,
    ChannelPolicy,
    Policy,
    SuspendLimits,
    WarnLimits,
    load_policy,
)
from policy.engine import (
    Outcome,
    RestoreReason,
    account_status,
    apply_event,
    apply_meta,
    apply_restore,
    decision_id,
    period_of,
)
from policy.errors import AccountMismatch, NotSuspended, PolicyError
from policy.rules import SUSPEND_PRECEDENCE, Verdict, evaluate, rate_crossed
from policy.state import (
    AccountState,
    CampaignCounts,
    ChannelState,
    PeriodCounts,
    decode_state,
    encode_state,
)

__all__ = [
    "SUSPEND_PRECEDENCE",
    "AccountMismatch",
    "AccountState",
    "CampaignCounts",
    "CampaignPolicy",
    "ChannelPolicy",
    "ChannelState",
    "NotSuspended",
    "Outcome",
    "PeriodCounts",
    "Policy",
    "PolicyError",
    "RestoreReason",
    "SuspendLimits",
    "Verdict",
    "WarnLimits",
    "account_status",
    "apply_event",
    "apply_meta",
    "apply_restore",
    "decision_id",
    "decode_state",
    "encode_state",
    "evaluate",
    "load_policy",
    "period_of",
    "rate_crossed",
]
