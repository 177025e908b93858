"""``GET /status``'s broker question when the broker does not answer: the call still
answers, in bounded time, saying why its counts are missing."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from api import operations
from streams.settings import Settings


async def test_a_silent_broker_gives_null_counts_and_why_within_the_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    silent = socket.create_server(("127.0.0.1", 0))  # accepts, never answers
    port = silent.getsockname()[1]
    monkeypatch.setattr(operations, "RECENT_TIMEOUT_S", 1.0)
    rt = SimpleNamespace(settings=Settings(data_dir=tmp_path, kafka_bootstrap=f"127.0.0.1:{port}"))
    started = time.monotonic()
    try:
        found = await operations.last_hour(rt)  # type: ignore[arg-type]
    finally:
        silent.close()
    assert time.monotonic() - started < 5
    assert found == {"decisions": None, "dead_letters": None, "why": "broker: no answer"}
    await asyncio.sleep(0.5)  # what the closed clients leave to finish
    left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert not left, f"the cancelled clients left tasks running: {left}"


async def test_no_broker_at_all_gives_null_counts_and_why(tmp_path: Path) -> None:
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    rt = SimpleNamespace(settings=Settings(data_dir=tmp_path, kafka_bootstrap=f"127.0.0.1:{port}"))
    found = await operations.last_hour(rt)  # type: ignore[arg-type]
    assert found["decisions"] is None and found["dead_letters"] is None
    assert found["why"].startswith("broker: ")
