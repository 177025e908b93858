"""The Faust app: one instance per worker process, configured from the environment.

``sendguard.worker`` builds the :class:`Runtime` and registers the agents on its app.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

import faust
from prometheus_client import CollectorRegistry

from policy import Policy, load_policy
from streams import topics as t
from streams.commands import CommandBus
from streams.faust_ext import BatchingApp, PromptTableManager
from streams.liveness import Liveness
from streams.lost_events import LostEvents
from streams.metrics import Metrics, register_process_metrics
from streams.provision import Provisioned
from streams.settings import Settings
from tables import Tables, define_shadow_tables, define_tables

log = logging.getLogger("sendguard.app")


@dataclass(frozen=True)
class Topics:
    """The faust topics of the worker's agent and views: what the guard consumes, and
    ``sendguard.events``, which the HTTP views also write commands to. Every name comes
    from ``streams.topics.TopicNames``; the guard writes its outputs with its own
    producer (``agents.outbox``)."""

    inputs: faust.TopicT
    accounts: faust.TopicT
    events: faust.TopicT


def create_app(settings: Settings, replication_factor: int | None = None) -> BatchingApp:
    app = BatchingApp(
        settings.app_id,
        # One URL per broker: faust does not split a comma-separated host list.
        broker=[f"kafka://{host}:{port}" for host, port in settings.bootstrap_addresses],
        store="rocksdb://",
        TableManager=PromptTableManager,
        datadir=str(settings.data_dir),
        autodiscover=False,
        processing_guarantee="at_least_once",
        topic_partitions=settings.partitions,
        # faust's own topics (its assignor's leader topic; the changelogs and outputs are
        # created before, by streams.provision): as replicated as ours, the factor
        # chosen from the cluster (streams.provision.Replication).
        topic_replication_factor=replication_factor or settings.replication_factor or 1,
        table_standby_replicas=settings.table_standby_replicas,
        consumer_auto_offset_reset="earliest",
        key_serializer="raw",
        value_serializer="raw",
        web_host=settings.web_host,
        web_bind=settings.web_host,
        web_port=settings.web_port,
        web_tables_enabled=False,
        web_graph_enabled=False,
        web_stats_enabled=False,
        web_router_enabled=False,
        producer_linger_ms=1,
        # faust's default, said here: a record (an offset commit's changelog, faust's own
        # sends) is acknowledged once min.insync.replicas brokers have it.
        producer_acks=-1,
        broker_commit_interval=1.0,
        # A killed worker leaves the group after this, not after faust's 60 s default,
        # so a restart or a failover resumes within seconds.
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=max(1.0, settings.session_timeout_s / 4),
        # The guard acknowledges a batch only once its held events are counted: waiting
        # for every delivered batch before a rebalance or a stop would wait forever.
        # Unacknowledged batches are read again, so nothing is lost by not waiting.
        stream_wait_empty=False,
        # One item of the guard's stream is a whole record batch (streams.faust_ext).
        stream_buffer_maxsize=64,
        # Per partition and fetch (the response as a whole stays under aiokafka's 50 MB).
        # At 1 MiB a partition of one big sender took many fetch round trips, each
        # waiting for the last to be handled: one worker drained 236k events at 11,700/s
        # on 128 partitions and 21,400/s on 4; at 2 MiB, 24,000/s on both.
        consumer_max_fetch_size=2 * 1024 * 1024,
    )
    names = settings.topic_names
    app.batched_topics = frozenset((*names.inputs, names.accounts, names.events))
    return app


def define_topics(app: faust.App, settings: Settings) -> Topics:
    names = settings.topic_names

    def topic(*named: str, **kw: object) -> faust.TopicT:
        return app.topic(*named, key_type=bytes, value_type=bytes, **kw)  # type: ignore[arg-type]

    return Topics(
        inputs=topic(*names.inputs),
        accounts=topic(names.accounts),
        events=topic(
            names.events, partitions=settings.partitions, config=dict(t.APPEND_ONLY),
            internal=True,
        ),
    )


@dataclass(frozen=True)
class Runtime:
    """Everything agents and views share, built once per process."""

    settings: Settings
    policy: Policy
    app: BatchingApp
    topics: Topics
    tables: Tables
    metrics: Metrics
    commands: CommandBus
    liveness: Liveness
    lost: LostEvents
    shadow: Shadow | None = None
    """The shadow policy and its own tables, when ``SENDGUARD_SHADOW_POLICY`` names one."""
    input_partitions: Mapping[str, int] = field(default_factory=dict)
    """Partition count of each (prefixed) input topic and of the events topic, as
    provisioning found them (empty without a broker: see ``partitions_of``)."""

    def partitions_of(self, topic: str) -> int:
        """How many partitions a topic the guard reads has (``SENDGUARD_PARTITIONS``
        unless provisioning found otherwise)."""
        return self.input_partitions.get(topic, self.settings.partitions)


@dataclass(frozen=True)
class Policies:
    """The live policy, and the shadow's when ``SENDGUARD_SHADOW_POLICY`` names one."""

    live: Policy
    shadow: Policy | None


def load_policies(settings: Settings) -> Policies:
    """Both policy files, read and checked (a bad one fails before anything else)."""
    live = load_policy(settings.policy_path)
    shadow = None
    if settings.shadow_policy_path is not None:
        shadow = load_policy(settings.shadow_policy_path)
        if shadow.version == live.version:
            log.warning("the shadow policy's version %r is the live policy's: their "
                        "decisions cannot be told apart by policy_version",
                        live.version)  # fmt: skip
    return Policies(live, shadow)


@dataclass(frozen=True)
class Shadow:
    """A second policy run over the same events with its own state: its decisions go to
    ``sendguard.shadow-decisions`` and change nothing else."""

    policy: Policy
    tables: Tables


def build_runtime(
    settings: Settings,
    policies: Policies | None = None,
    provisioned: Provisioned | None = None,
    registry: CollectorRegistry | None = None,
) -> Runtime:
    """The worker's runtime: ``policies`` (read from their files if not given), and what
    provisioning the topics found (``streams.provision``; None: nothing, as in a test
    without a broker)."""
    policies = policies or load_policies(settings)
    policy = policies.live
    app = create_app(settings, provisioned.replication.factor if provisioned else None)
    if registry is None:
        registry = CollectorRegistry()
        register_process_metrics(registry)
    metrics = Metrics(registry)
    tables = define_tables(
        app,
        block_cache_bytes=settings.block_cache_bytes,
        seen_ttl_days=policy.seen_id_days,
        partitions=settings.partitions,
    )
    shadow = None
    shadow_policy = policies.shadow
    if shadow_policy is not None:
        shadow = Shadow(
            policy=shadow_policy,
            tables=define_shadow_tables(
                app,
                tables,
                block_cache_bytes=settings.block_cache_bytes,
                seen_ttl_days=policy.seen_id_days,
                partitions=settings.partitions,
            ),
        )
        log.info("shadow policy %s (from %s) runs beside the live policy %s",
                 shadow_policy.version, settings.shadow_policy_path, policy.version)  # fmt: skip
    return Runtime(
        settings=settings,
        policy=policy,
        app=app,
        topics=define_topics(app, settings),
        tables=tables,
        shadow=shadow,
        metrics=metrics,
        commands=CommandBus(),
        liveness=Liveness(stall_after_s=settings.stall_after_s),
        lost=LostEvents(metrics.offset_resets),
        input_partitions=dict(provisioned.partitions) if provisioned else {},
    )
