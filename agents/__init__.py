"""Faust agents: thin movers between topics, tables and ``policy``."""

from __future__ import annotations

from agents import guard
from streams.app import Runtime


def register(rt: Runtime) -> guard.GuardAgent:
    return guard.register(rt)
