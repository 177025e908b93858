"""The README's metrics table lists exactly the metrics a worker exports, and every
metric the dashboard, the alerts and the runbook use is one of them (no broker: the
worker's registry, built but not served)."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from streams.metrics import Metrics, faust_sensor_metrics, register_process_metrics
from tests.test_alerts import naming_problems

ROOT = Path(__file__).resolve().parents[1]
NAME = re.compile(r"\b(?:sendguard|process)_[a-z0-9_]+\b")


def families() -> dict[str, str]:
    """Each metric the worker's registry exports, as named on the page (a counter with
    its ``_total``), and its type."""
    registry = CollectorRegistry()
    Metrics(registry)
    register_process_metrics(registry)
    return {
        family.name + ("_total" if family.type == "counter" else ""): family.type
        for family in registry.collect()
    }


def exported() -> set[str]:
    """Every sample name the registry can export (a histogram's series included)."""
    names = set()
    for name, kind in families().items():
        names.add(name)
        if kind == "histogram":
            names.update(name + suffix for suffix in ("_bucket", "_count", "_sum"))
    return names


def readme_metrics() -> set[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Metrics\n", 1)[1].split("\n## ", 1)[0]
    return set(NAME.findall(section))


def test_the_readme_lists_every_sendguard_metric_and_no_other() -> None:
    ours = {name for name in families() if name.startswith("sendguard_")}
    listed = {name for name in readme_metrics() if name.startswith("sendguard_")}
    assert not ours - listed, f"exported, not in the README's table: {sorted(ours - listed)}"
    assert not listed - ours, f"in the README's table, not exported: {sorted(listed - ours)}"


#: documents that name metrics a running worker must export
USERS = ("monitoring/grafana-dashboard.json", "monitoring/alerts.yml", "docs/RUNBOOK.md")


def used_metrics() -> dict[str, set[str]]:
    """The metric names each document uses (the README's table included)."""
    used = {doc: set(NAME.findall((ROOT / doc).read_text(encoding="utf-8"))) for doc in USERS}
    used["README.md"] = readme_metrics()
    return used


def test_the_dashboard_the_alerts_and_the_runbook_use_only_exported_metrics() -> None:
    names = exported()
    for document, used in used_metrics().items():
        assert used, document
        assert used <= names, f"{document} uses metrics never exported: {sorted(used - names)}"


def test_the_worker_registry_passes_promtool_check_metrics() -> None:
    """Sendguard's series, the process's and faust's sensor's, whose millisecond histograms
    are served in seconds under names that say so."""
    registry = CollectorRegistry()
    Metrics(registry)
    register_process_metrics(registry)
    sensor = faust_sensor_metrics(registry)
    sensor.events_runtime_latency.observe(12.0)  # faust observes milliseconds
    sensor.producer_send_latency.observe(250.0)
    assert registry.get_sample_value("faust_events_runtime_latency_seconds_sum") == 0.012
    assert registry.get_sample_value("faust_producer_send_latency_seconds_bucket",
                                     {"le": "0.25"}) == 1  # fmt: skip
    assert naming_problems(generate_latest(registry).decode()) == ""
