"""Run a real multi-node Apache Kafka cluster (KRaft) on one machine, from the same jars.

Each node is a broker and a controller (:class:`~localkafka.broker.LocalBroker`) with its
own client and controller ports and its own directory under one run directory; all share
``controller.quorum.voters`` and are formatted with the same cluster id. The layout
(cluster id, every node's ports) is kept in ``cluster.properties`` beside them, so a
restarted cluster keeps its data and ``status``/``down`` find the nodes.

The broker's internal topics (consumer offsets, transaction state) are replicated like a
production cluster's: on 3 nodes, replication factor 3 and ``min.isr`` 2.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from localkafka.broker import START_TIMEOUT_S, STOP_TIMEOUT_S, LocalBroker, cluster_id
from localkafka.jars import KafkaSetupError
from localkafka.probe import brokers_known, free_port, port_in_use

#: Each node's heap: three JVMs share a small machine (a single node gets 512 MB).
NODE_HEAP = "384m"
LAYOUT = "cluster.properties"


def internal_replication(nodes: int) -> tuple[int, int]:
    """Replication factor and min ISR of the broker's internal topics on ``nodes`` nodes."""
    factor = min(3, nodes)
    return factor, max(1, factor - 1)


@dataclass
class LocalCluster:
    """``len(ports)`` nodes on ``host``; node N (from 1) answers on ``ports[N-1]``."""

    home: Path
    run_dir: Path
    ports: list[int]
    host: str = "127.0.0.1"
    extra_config: dict[str, str] = field(default_factory=dict)
    heap: str = NODE_HEAP
    nodes: list[LocalBroker] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if len(set(self.ports)) != len(self.ports) or not self.ports:
            raise KafkaSetupError(f"a cluster needs distinct ports, got {self.ports}")
        layout = self._read_layout()
        known = {int(k.split(".")[1]): int(v) for k, v in layout.items()
                 if k.startswith("node.") and k.endswith(".controller.port")}  # fmt: skip
        self.cluster_id = layout.get("cluster.id") or cluster_id()
        self.nodes = self._build([known.get(n) or free_port(self.host) for n in self.node_ids])
        taken = [n for n in self.nodes if port_in_use(self.host, n.controller_port or 0)]
        if taken and not self.running():
            # Taken by another program since the last run: new controller ports (the
            # voters are written into every node's configuration at each start).
            self.nodes = self._build([free_port(self.host) for _ in self.node_ids])

    def _build(self, controllers: list[int]) -> list[LocalBroker]:
        voters = ",".join(f"{n}@{self.host}:{port}"
                          for n, port in zip(self.node_ids, controllers, strict=True))  # fmt: skip
        factor, min_isr = internal_replication(len(self.ports))
        return [
            LocalBroker(
                home=self.home, run_dir=self.run_dir / f"node-{n}", host=self.host, port=port,
                extra_config=self.extra_config, heap=self.heap, node_id=n,
                controller_port=controller, voters=voters, cluster_id=self.cluster_id,
                internal_replication=factor, internal_min_isr=min_isr,
            )
            for n, port, controller in zip(self.node_ids, self.ports, controllers, strict=True)
        ]  # fmt: skip

    @property
    def node_ids(self) -> list[int]:
        return list(range(1, len(self.ports) + 1))

    @property
    def bootstrap(self) -> str:
        """Every node, comma-separated: what ``bootstrap.servers`` takes."""
        return ",".join(node.bootstrap for node in self.nodes)

    def node(self, node_id: int) -> LocalBroker:
        return self.nodes[node_id - 1]

    def running(self) -> list[LocalBroker]:
        """The nodes started from this run directory whose process is alive."""
        return [node for node in self.nodes if node.pid() is not None]

    def formatted(self) -> bool:
        return all(node.formatted() for node in self.nodes)

    def answers(self) -> bool:
        """Every node answers and knows every broker."""
        return all(node.answers() for node in self.nodes) and self.complete()

    def complete(self) -> bool:
        """Every node knows every broker (a client asks any node for the cluster's
        brokers, and a node's metadata can lag the others' for a moment)."""
        return all(brokers_known(self.host, n.port) >= len(self.nodes) for n in self.nodes)

    def start(self, timeout: float = START_TIMEOUT_S, fresh: bool = False) -> float:
        """Start the nodes not running yet (all of them, usually) and wait until every node
        answers and knows every broker. ``fresh=True`` wipes their data first (a
        new cluster id too). Returns the seconds until then."""
        if fresh:
            for node in self.nodes:
                if node.pid() is not None:
                    raise KafkaSetupError(f"a broker started from {node.run_dir} is running")
            (self.run_dir / LAYOUT).unlink(missing_ok=True)
            self.cluster_id = cluster_id()
            for node in self.nodes:
                node.cluster_id = self.cluster_id
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._write_layout()
        launched = [(node, node.launch(fresh=fresh)) for node in self.nodes
                    if node.pid() is None]  # fmt: skip
        if not launched:
            raise KafkaSetupError(f"the cluster started from {self.run_dir} is already running")
        started = min(at for _, at in launched)
        try:
            for node, at in launched:
                node.wait_answering(at, timeout)
            deadline = started + timeout
            while not self.complete():
                if time.monotonic() > deadline:
                    raise KafkaSetupError(
                        f"the Kafka nodes answer but not all {len(self.nodes)} brokers "
                        f"registered within {timeout:.0f} s "
                        f"(logs: {self.run_dir}/node-*/broker.log)"
                    )
                time.sleep(0.2)
        except KafkaSetupError:
            self.stop()
            raise
        return time.monotonic() - started

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM every node at once (one by one, the last ones would wait for a quorum
        that is gone), then SIGKILL any still up after ``timeout``. How many ran."""
        signalled = [(node, pid) for node in self.nodes if (pid := node.terminate()) is not None]
        deadline = time.monotonic() + timeout
        for node, pid in signalled:
            node.reap_after(pid, deadline)
        return len(signalled)

    def _read_layout(self) -> dict[str, str]:
        try:
            text = (self.run_dir / LAYOUT).read_text()
        except OSError:
            return {}
        pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line)
        return {key.strip(): value.strip() for key, value in pairs}

    def _write_layout(self) -> None:
        lines = [f"cluster.id={self.cluster_id}"]
        for node in self.nodes:
            lines.append(f"node.{node.node_id}.port={node.port}")
            lines.append(f"node.{node.node_id}.controller.port={node.controller_port}")
        (self.run_dir / LAYOUT).write_text("\n".join(lines) + "\n")


def cluster_ports(run_dir: Path) -> list[int]:
    """The client ports of the cluster last started from ``run_dir`` (none if none was)."""
    try:
        text = (run_dir / LAYOUT).read_text()
    except OSError:
        return []
    found: dict[int, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition("=")
        parts = key.strip().split(".")
        if len(parts) == 3 and parts[0] == "node" and parts[2] == "port":
            found[int(parts[1])] = int(value)
    return [found[n] for n in sorted(found)]


def default_cluster(home: Path, host: str, ports: list[int]) -> LocalCluster:
    return LocalCluster(home=home, run_dir=home / "cluster", host=host, ports=ports)


__all__ = ["NODE_HEAP", "LocalCluster", "cluster_ports", "default_cluster"]
