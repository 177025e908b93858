"""/metrics counts what happened, under Prometheus' naming rules."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.traffic import bounces, deliveries, event
from tests.test_alerts import naming_problems
from tests.test_metric_docs import used_metrics

pytestmark = pytest.mark.integration


def exposed(text: str) -> set[str]:
    """Every metric name in a scrape: sample names, and families without samples yet
    (a labelled counter nothing has counted), counters with their ``_total``."""
    names = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name + ("_total" if family.type == "counter" else ""))
        names.update(sample.name for sample in family.samples)
    return names


def samples(text: str) -> dict[tuple[str, tuple], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def test_metrics_match_the_events_sent(worker_factory, pipeline) -> None:
    worker = worker_factory()
    sends, bad = deliveries("metered", 1000), bounces("metered", 60)
    await pipeline.send(sends)
    await pipeline.wait_drained()
    await pipeline.send(bad + bad[:5])  # 5 duplicates
    await pipeline.send_raw("email.bounce", b"garbage", b"metered")
    old = event("email.bounce", "metered", recipient="o@x.example", bounce_type="hard",
                occurred_at="2020-01-01T00:00:00Z")  # fmt: skip
    await pipeline.send([old])
    await pipeline.wait_drained()
    deadline = time.monotonic() + 15
    while True:  # the lag gauge is refreshed every couple of seconds
        async with aiohttp.ClientSession() as session, session.get(worker.url("/metrics")) as r:
            assert r.status == 200
            scrape = await r.text()
            metrics = samples(scrape)
        lag = {k: v for k, v in metrics.items() if k[0] == "sendguard_consumer_lag_messages"}
        if lag or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)

    def value(name: str, **labels: str) -> float:
        return metrics.get((name, tuple(sorted(labels.items()))), 0.0)

    events = "sendguard_events_total"
    assert value(events, topic="email.delivery", outcome="accepted") == 1000
    assert value(events, topic="email.bounce", outcome="accepted") == 60
    assert value(events, topic="email.bounce", outcome="duplicate") == 5
    assert value(events, topic="email.bounce", outcome="invalid") == 1
    assert value(events, topic="email.bounce", outcome="late") == 1
    decisions = "sendguard_decisions_total"
    assert value(decisions, action="warn", reason="hard_bounce_rate", channel="marketing",
                 policy="live") == 1
    assert value(decisions, action="suspend", reason="hard_bounce_rate", channel="marketing",
                 policy="live") == 1
    assert value("sendguard_suppressions_total", reason="hard_bounce") == 60
    assert value("sendguard_accounts", state="suspended", channel="marketing") == 1
    assert value("sendguard_accounts", state="active", channel="crm") == 1
    assert value("sendguard_event_to_decision_seconds_count") == 2
    assert value("sendguard_stalled") == 0
    assert any(name.startswith("faust_") for name, _ in metrics)
    lagging_topics = {dict(labels)["topic"] for _, labels in lag}
    assert f"{pipeline.prefix}email.bounce" in lagging_topics
    assert not any("changelog" in topic for topic in lagging_topics)
    assert all(v == 0 for v in lag.values())  # drained
    assert naming_problems(scrape) == ""  # promtool check metrics
    only = {"sendguard_events_total", "sendguard_held_events"}
    query = "&".join(f"name[]={name}" for name in sorted(only))
    url = worker.url(f"/metrics?{query}")
    async with aiohttp.ClientSession() as session, session.get(url) as r:
        assert r.status == 200
        restricted = samples(await r.text())
    assert {name for name, _ in restricted} == only
    assert restricted == {k: v for k, v in metrics.items() if k[0] in only}
    # What an SRE asks first, from the same worker: GET /status and `sendguard status`.
    async with aiohttp.ClientSession() as session, session.get(worker.url("/status")) as r:
        assert r.status == 200
        status = await r.json()
    live_decisions = sum(v for (name, labels), v in metrics.items()
                         if name == decisions and dict(labels)["policy"] == "live")  # fmt: skip
    dead_letters = value(events, topic="email.bounce", outcome="invalid") + value(
        events, topic="email.bounce", outcome="late"
    )
    assert status["ready"] is True
    assert status["last_hour"] == {"decisions": live_decisions, "dead_letters": dead_letters}
    assert status["held_events"] == 0
    assert set(status["lag_messages"].values()) == {0}
    assert status["partitions"] and all(p["held_events"] == 0 for p in status["partitions"])
    shown = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "sendguard.cli", "status", "--url",
                         f"http://127.0.0.1:{worker.port}"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert ": ready (tables recovered and consuming)" in shown.stdout.splitlines()[0]
    assert (f"last hour, all workers: {int(live_decisions)} decisions, {int(dead_letters)} dead "
            "letters") in shown.stdout  # fmt: skip
    # Every metric the dashboard, the alerts, the runbook and the README name is served.
    names = exposed(scrape)
    for document, used in used_metrics().items():
        assert used <= names, f"{document}: not in a real worker's scrape: {used - names}"


async def test_a_stalled_guard_fails_healthz_and_shows_in_metrics(worker_factory, pipeline) -> None:
    worker = worker_factory(SENDGUARD_FAULT_STALL_AFTER="20", SENDGUARD_STALL_SECONDS="3")
    await pipeline.send(deliveries("stuck", 300))
    deadline = time.monotonic() + 30
    while True:
        async with aiohttp.ClientSession() as session:
            async with session.get(worker.url("/healthz")) as r:
                status, health = r.status, await r.json()
            async with session.get(worker.url("/metrics")) as r:
                metrics = samples(await r.text())
        if status == 503:
            break
        assert time.monotonic() < deadline, f"never reported the stall: {health}"
        await asyncio.sleep(0.5)
    assert health["ready"] is False
    assert health["why"].startswith("stalled: guard has")
    assert health["lag_messages"] > 0
    assert metrics[("sendguard_stalled", ())] == 1
    worker.kill()  # as an orchestrator would; a hung agent also delays a graceful stop
