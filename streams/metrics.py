"""Sendguard's Prometheus metrics, built on an injected registry (tests pass a fresh one).

Names carry their unit, counters end in ``_total`` (prometheus-client adds the suffix).
"""

from __future__ import annotations

import urllib.parse
import urllib.request
from collections.abc import Sequence
from typing import Any

from faust.sensors.prometheus import MS_LATENCY_BUCKETS, FaustMetrics
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.parser import text_string_to_metric_families


def scrape_totals(
    port: int, host: str = "127.0.0.1", names: Sequence[str] = ()
) -> dict[str, float]:
    """A worker's ``/metrics`` (only the samples ``names``, if given), each sample name
    summed over its labels (for the demo and the benchmark, which read a running worker
    from outside)."""
    query = "?" + urllib.parse.urlencode([("name[]", name) for name in names]) if names else ""
    with urllib.request.urlopen(f"http://{host}:{port}/metrics{query}", timeout=5) as reply:
        text = reply.read().decode()
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
    return totals


#: faust's sensor histograms, which it observes in milliseconds under names without a unit
#: (one ends in ``_ms``), each served here as ``<prefix>_<field>_seconds``, with its help
_FAUST_MS_HISTOGRAMS = {
    "events_runtime_latency": "Events runtime",
    "producer_send_latency": "Producer send latency",
    "producer_error_send_latency": "Producer error send latency",
    "assign_latency": "Assignment latency",
    "rebalance_done_consumer_latency": "Consumer replying that rebalance is done",
    "rebalance_done_latency": "Rebalance finished latency",
    "http_latency": "Web request latency",
    "consumer_commit_latency": "Consumer commit latency",
}


class _InSeconds:
    """A histogram in seconds that faust's sensor observes in milliseconds."""

    def __init__(self, histogram: Histogram) -> None:
        self.histogram = histogram

    def observe(self, milliseconds: float) -> None:
        self.histogram.observe(milliseconds / 1000)


def faust_sensor_metrics(registry: CollectorRegistry, prefix: str = "faust") -> FaustMetrics:
    """Faust's own sensor series on ``registry``, its millisecond histograms in seconds and
    named for it (``faust_producer_send_latency_seconds``: ``promtool check metrics``
    refuses faust's ``faust_events_runtime_ms``)."""
    metrics = FaustMetrics.create(registry, prefix)
    buckets = [bound / 1000 for bound in MS_LATENCY_BUCKETS]
    renamed: dict[str, Any] = {}
    for field, documentation in _FAUST_MS_HISTOGRAMS.items():
        registry.unregister(getattr(metrics, field))
        name = f"{prefix}_{field}_seconds"
        renamed[field] = _InSeconds(
            Histogram(name, documentation, registry=registry, buckets=buckets)
        )
    return metrics._replace(**renamed)


def register_process_metrics(registry: CollectorRegistry) -> None:
    """The process's own series (``process_start_time_seconds``, CPU, memory, open
    files): a start time that keeps changing is a crash loop (``monitoring/alerts.yml``)."""
    ProcessCollector(registry=registry)


class Metrics:
    def __init__(self, registry: CollectorRegistry, prefix: str = "sendguard") -> None:
        self.registry = registry
        self.events = Counter(
            f"{prefix}_events",
            "Input events by source topic and outcome (accepted, duplicate, invalid, late).",
            ["topic", "outcome"],
            registry=registry,
        )
        self.decisions = Counter(
            f"{prefix}_decisions",
            "Decisions emitted, by action, reason, channel and policy (live, or the shadow "
            "policy's, which act on nothing).",
            ["action", "reason", "channel", "policy"],
            registry=registry,
        )
        self.suppressions = Counter(
            f"{prefix}_suppressions",
            "Recipients newly suppressed, by reason.",
            ["reason"],
            registry=registry,
        )
        self.accounts = Gauge(
            f"{prefix}_accounts",
            "Accounts in each state, on the partitions this worker owns (from its table).",
            ["state", "channel"],
            registry=registry,
        )
        self.decision_latency = Histogram(
            f"{prefix}_event_to_decision_seconds",
            "Time from an event being appended to its input topic to its decision being sent.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=registry,
        )
        self.consumer_lag = Gauge(
            f"{prefix}_consumer_lag_messages",
            "Messages between the committed position and the end of each assigned partition.",
            ["topic", "partition"],
            registry=registry,
        )
        self.last_progress = Gauge(
            f"{prefix}_last_progress_timestamp_seconds",
            "Unix time at which the guard last finished processing a message.",
            registry=registry,
        )
        self.stalled = Gauge(
            f"{prefix}_stalled",
            "1 while messages wait and no agent has made progress for SENDGUARD_STALL_SECONDS.",
            registry=registry,
        )
        self.held_events = Gauge(
            f"{prefix}_held_events",
            "Events received and waiting for the event-time watermark before they count.",
            registry=registry,
        )
        self.undecodable = Counter(
            f"{prefix}_undecodable_records",
            "Records of sendguard.events that could not be decoded (dead-lettered).",
            registry=registry,
        )
        self.unaddressed_notifications = Counter(
            f"{prefix}_unaddressed_notifications",
            "Notifications for an account team that has no primary contact on record "
            "(legacy appeals); an operator must reach the account another way.",
            registry=registry,
        )
        self.offset_resets = Counter(
            f"{prefix}_offset_resets",
            "Times the consumer's position was reset because it fell out of a partition's "
            "log (records deleted unread: events lost).",
            ["topic", "partition"],
            registry=registry,
        )
        self.rebalances = Counter(
            f"{prefix}_rebalances",
            "Partition assignments this worker received: one per rebalance of its group, "
            "its first assignment included. Each costs a pause, re-reading what was not "
            "committed, and holding again what was held.",
            registry=registry,
        )
        self.rewinds = Counter(
            f"{prefix}_consumer_rewinds",
            "Times the guard sent the consumer back to the next offset it expected on a "
            "partition, because the consumer had skipped records (a batch dropped in a "
            "rebalance, or a hole in the log), or had records it never delivered.",
            ["topic"],
            registry=registry,
        )
        self.watermark_delay = Gauge(
            f"{prefix}_watermark_delay_seconds",
            "Wall-clock now minus the lowest partition watermark (0 when nothing holds it).",
            registry=registry,
        )
        self.unverified = Counter(
            f"{prefix}_unverified_batches",
            "Batches taken without knowing where the consumer started reading, so that a "
            "batch dropped before them could not be seen (each is also an ERROR).",
            ["topic"],
            registry=registry,
        )
        self.oversized = Counter(
            f"{prefix}_oversized_records",
            "Records over the byte budget of one Kafka record, by the topic they were for: "
            "not published; a dead letter names each (a bug: every record is bounded).",
            ["topic"],
            registry=registry,
        )
        self.processed = Counter(
            f"{prefix}_guard_messages",
            "Records of the input topics and sendguard.events processed by the guard.",
            registry=registry,
        )
