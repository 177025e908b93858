"""Who a request comes from: a named operator (``api.operators``) or one account
(``api.tokens``), by its ``Authorization: Bearer`` token."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from api.errors import ApiError
from api.operators import Operator, OperatorRegistry
from api.revocations import Revocations
from api.tokens import Keyring, read_account_token
from streams.settings import Settings


@dataclass(frozen=True)
class Principal:
    """An operator, or one account."""

    operator: Operator | None = None
    account_id: str | None = None

    @property
    def name(self) -> str:
        """Who to name in the log and the audit trail."""
        return self.operator.name if self.operator else f"account:{self.account_id}"

    def may_act_for(self, account_id: str) -> bool:
        return self.operator is not None or self.account_id == account_id


class NotYet(ApiError):
    """Account tokens cannot be checked yet: the revocations are still being read."""


class Authenticator:
    def __init__(
        self,
        settings: Settings,
        revocations: Revocations,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.keyring = Keyring.of(settings)
        self.operators = OperatorRegistry(settings.operators_file, settings.operator_token.value)
        self.revocations = revocations
        self.clock = clock

    async def __call__(self, header: str | None) -> Principal | str:
        """The principal of an ``Authorization`` header, or why there is none (a short
        text for the 401). Raises :class:`NotYet` for an account token checked before
        the revocations are read."""
        if not header or not header.startswith("Bearer "):
            return "missing bearer token"
        token = header[len("Bearer ") :].strip()
        if not token.isascii():  # aiohttp keeps undecodable header bytes as surrogates
            return "invalid bearer token"
        operator = await self.operators.authenticate(token)  # named, or the shared one
        if operator is not None:
            return Principal(operator=operator)
        if self.operators.is_token(token) or not self.keyring:
            return "invalid bearer token"
        claim = read_account_token(self.keyring, token, self.clock())
        if isinstance(claim, str):
            return f"invalid bearer token ({claim})"
        if not self.revocations.caught_up:
            raise NotYet
        if self.revocations.revoked(claim):
            return "invalid bearer token (revoked)"
        return Principal(account_id=claim.account_id)
