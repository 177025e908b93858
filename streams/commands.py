"""Hand a command from an HTTP view to the guard agent, and wait for its result.

Tables may only change inside stream iteration, so views never write: they put a command
on ``sendguard.events`` (keyed by account, so it is ordered with the account's events and
lands on this worker, which owns the partition) and await the agent's answer.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CommandResult:
    status: int
    body: dict[str, Any]


@dataclass
class CommandBus:
    waiting: dict[str, asyncio.Future[CommandResult]] = field(default_factory=dict)

    def expect(self, command_id: str) -> asyncio.Future[CommandResult]:
        future: asyncio.Future[CommandResult] = asyncio.get_running_loop().create_future()
        self.waiting[command_id] = future
        return future

    def resolve(self, command_id: str, result: CommandResult) -> None:
        future = self.waiting.pop(command_id, None)
        if future is not None and not future.done():
            future.set_result(result)

    def forget(self, command_id: str) -> None:
        self.waiting.pop(command_id, None)
