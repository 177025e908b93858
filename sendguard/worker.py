"""``sendguard worker``: build the runtime from the environment and run Faust's worker."""

from __future__ import annotations

import asyncio
import logging
from typing import NoReturn

from faust.sensors.prometheus import PrometheusMonitor

import agents
import api
from streams import gc_policy, monitoring
from streams.app import build_runtime, load_policies
from streams.faust_ext import faust_main, keep_store_options_on_reopen, quiet_per_partition_logs
from streams.local_state import reconcile
from streams.metrics import faust_sensor_metrics
from streams.provision import ensure_topics
from streams.settings import Settings
from tables import shadow_table_specs, table_specs

log = logging.getLogger("sendguard.worker")


def run_worker(settings: Settings) -> NoReturn:
    policies = load_policies(settings)  # first: a bad file fails before Kafka
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    provisioned = asyncio.run(ensure_topics(settings, policies.live))
    rt = build_runtime(settings, policies, provisioned)

    @rt.app.task
    async def say_replication() -> None:
        """Once, when faust has set up logging (it has not before its worker starts)."""
        log.info("topics: %s", provisioned.replication.why)

    # The shadow's too, also when it is off now: its databases may be left from before.
    specs = table_specs(rt.policy.seen_id_days) + shadow_table_specs(rt.policy.seen_id_days)
    ttl_tables = {spec.name for spec in specs if "ttl" in spec.store_options}
    asyncio.run(reconcile(settings.data_dir, settings.app_id, settings.kafka_bootstrap, ttl_tables))
    guard = agents.register(rt)
    # Faust's own sensor (messages in/out, table operations, send latency) on our registry.
    rt.app.monitor = PrometheusMonitor(metrics=faust_sensor_metrics(rt.metrics.registry))
    api.register(rt, guard.ingest.partition_status)
    monitoring.register(rt)
    monitoring.start_watchdog(rt)
    gc_policy.tune()
    quiet_per_partition_logs()
    keep_store_options_on_reopen()
    loop = ["--loop", "uvloop"] if _has_uvloop() else []
    faust_main(rt.app, [
        *loop,
        "worker",
        "--loglevel",
        settings.faust_log_level,
        "--web-port",
        str(settings.web_port),
        "--web-host",
        settings.web_host,
        "--web-bind",
        settings.web_host,
    ])  # fmt: skip


def _has_uvloop() -> bool:
    """uvloop (a faster asyncio loop, which faust supports) when installed."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True
