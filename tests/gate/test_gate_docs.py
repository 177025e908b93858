"""The README's "Sender gate" section and the contract list exactly the gate's settings,
metrics and calls."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client import generate_latest

from gate import SenderGate
from gate.service import GateService
from gate.settings import GateSettings
from tests.test_alerts import naming_problems

ROOT = Path(__file__).resolve().parents[2]


def readme_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return text.split("\n## Sender gate\n", 1)[1].split("\n## ", 1)[0]


def contract_section() -> str:
    text = (ROOT / "docs" / "CONTRACT.md").read_text(encoding="utf-8")
    return text.split("\n## Sender gate service\n", 1)[1].split("\n## ", 1)[0]


def scrape(tmp_path: Path) -> tuple[set[str], str]:
    """The names the gate's registry exports (a counter with its ``_total``), and a scrape."""
    gate = SenderGate("127.0.0.1:1", path=tmp_path)
    gate.open_store()
    try:
        service = GateService(gate, GateSettings())
        names = {family.name + ("_total" if family.type == "counter" else "")
                 for family in service.registry.collect()}  # fmt: skip
        return names, generate_latest(service.registry).decode()
    finally:
        gate.store.close()


def test_the_readme_lists_every_gate_setting_and_metric(tmp_path: Path) -> None:
    section = readme_section()
    for text in (section, contract_section()):
        named = set(re.findall(r"`(SENDGUARD_[A-Z_]+)`", text))
        assert named == set(GateSettings.variables()), named ^ set(GateSettings.variables())
    names, text = scrape(tmp_path)
    listed = set(re.findall(r"`(sendguard_gate_[a-z_]+)", section))
    assert listed == names, listed ^ names
    assert not naming_problems(text)


def test_the_contract_names_every_route() -> None:
    section = contract_section()
    for route in ("GET /check", "POST /check/batch", "GET /healthz", "GET /metrics"):
        assert f"`{route}" in section, route
