"""The alerting rules are valid and their promtool unit tests pass (each alert firing and
not firing: ``monitoring/alerts.test.yml``). promtool comes from Debian's ``prometheus``
package; ``./dev test`` installs it when it can."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

MONITORING = Path(__file__).resolve().parents[1] / "monitoring"
RUNBOOK = Path(__file__).resolve().parents[1] / "docs" / "RUNBOOK.md"


def promtool(*args: str, given: str | None = None) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("promtool")
    if tool is None:
        pytest.fail("promtool is not on PATH: `apt-get install prometheus` (Debian), "
                    "or put Prometheus' promtool on PATH")  # fmt: skip
    return subprocess.run([tool, *args], cwd=MONITORING, capture_output=True, text=True,
                          input=given, timeout=120, check=False)  # fmt: skip


def naming_problems(exposition: str) -> str:
    """What ``promtool check metrics`` says of a scrape (empty: it follows the naming
    rules)."""
    checked = promtool("check", "metrics", given=exposition)
    return "" if checked.returncode == 0 else checked.stdout + checked.stderr


def test_the_rules_are_valid() -> None:
    checked = promtool("check", "rules", "alerts.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_alert_fires_and_stays_quiet_as_its_tests_say() -> None:
    tested = promtool("test", "rules", "alerts.test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_is_tested_both_ways_and_has_its_runbook_section() -> None:
    rules = (MONITORING / "alerts.yml").read_text(encoding="utf-8")
    tests = (MONITORING / "alerts.test.yml").read_text(encoding="utf-8")
    runbook = RUNBOOK.read_text(encoding="utf-8")
    alerts = re.findall(r"- alert: (\w+)", rules)
    assert alerts
    for alert in alerts:
        cases = re.findall(rf"alertname: {alert}\n\s+exp_alerts:(.*)", tests)
        assert "" in [c.strip() for c in cases], f"{alert}: no firing case"
        assert "[]" in [c.strip() for c in cases], f"{alert}: no quiet case"
        assert f"\n## {alert}\n" in runbook, f"{alert}: no section in docs/RUNBOOK.md"
        assert f'runbook_url: "docs/RUNBOOK.md#{alert.lower()}"' in rules, alert
