"""Faust agents: thin movers between topics, tables and ``policy``."""

from __future__ import annotations

from agents import guard, ingest
from streams.app import Runtime


def register(rt: Runtime) -> None:
    ingest.register(rt)
    guard.register(rt)
