"""The exceptions of the policy package, all rooted at :class:`PolicyError`.

One root lets the worker and the CLI catch "the policy said no" without also swallowing
programming errors, while the subclasses keep the HTTP layer able to map each to a status.
"""

from __future__ import annotations

from schemas.errors import SendguardError


class PolicyError(SendguardError):
    """Root of every error raised by ``policy``: a bad policy file or a refused transition."""


class NotSuspended(PolicyError):
    """A restore was asked for an account-channel that is neither suspended nor under review."""


class AccountMismatch(PolicyError):
    """An event or metadata record was applied to the state of a different account."""
