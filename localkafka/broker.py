"""Run a real single-node Apache Kafka broker (KRaft, broker+controller) on 127.0.0.1.

Used by ``sendguard kafka up|down|status``, by the demo and by the test suite, so there is
one way to get a broker on a machine without Docker. Like any real broker it keeps its
data between runs: the data directory is formatted once, with a new cluster id, and
reused after that (a worker's RocksDB state outlives a broker restart only if the
broker's changelog topics do). ``fresh=True`` wipes it and starts an empty cluster.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from localkafka.jars import KAFKA_VERSION, KafkaSetupError, ensure_jars, require_tool
from localkafka.probe import broker_answers, free_port, port_in_use

HEAP = "512m"
START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 20.0

_SERVER_PROPERTIES = """\
process.roles=broker,controller
node.id={node_id}
controller.quorum.voters={voters}
listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}
advertised.listeners=PLAINTEXT://{host}:{port}
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={data_dir}
num.partitions=1
offsets.topic.replication.factor={internal_replication}
offsets.topic.num.partitions=1
transaction.state.log.replication.factor={internal_replication}
transaction.state.log.min.isr={internal_min_isr}
transaction.state.log.num.partitions=1
group.initial.rebalance.delay.ms=0
log.cleaner.dedupe.buffer.size=16777216
auto.create.topics.enable=true
"""


def cluster_id() -> str:
    """22 characters of URL-safe base64; it may start with '-', hence ``--cluster-id=``."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class LocalBroker:
    """A broker whose files (pid, config, data, log) live in ``run_dir``."""

    home: Path
    run_dir: Path
    host: str = "127.0.0.1"
    port: int = 9092
    #: extra ``server.properties`` lines (the tests shorten the retention check period)
    extra_config: dict[str, str] = field(default_factory=dict)
    heap: str = HEAP
    #: A node of a cluster (``localkafka.cluster``) is given its id, its controller port,
    #: the quorum's voters, the cluster id to format with, and the replication of the
    #: broker's internal topics; a single node leaves them at these defaults.
    node_id: int = 1
    controller_port: int | None = None
    voters: str | None = None
    cluster_id: str | None = None
    internal_replication: int = 1
    internal_min_isr: int = 1
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.run_dir / "broker.log"

    @property
    def pid_path(self) -> Path:
        return self.run_dir / "broker.pid"

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_path.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if pid_alive(pid) else None

    def answers(self) -> bool:
        return broker_answers(self.host, self.port)

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no broker log)"
        return "\n".join(text.splitlines()[-lines:])

    def _fail(self, message: str) -> KafkaSetupError:
        return KafkaSetupError(f"{message}\n--- tail of {self.log_path} ---\n{self.log_tail()}")

    @property
    def data_dir(self) -> Path:
        return self.run_dir / "data"

    def formatted(self) -> bool:
        return (self.data_dir / "meta.properties").exists()

    def start(self, timeout: float = START_TIMEOUT_S, fresh: bool = False) -> float:
        """Start the broker on its data directory and wait until it answers.

        The data directory is formatted the first time only; ``fresh=True`` wipes it
        first. Returns the seconds from launching the JVM to the broker answering.
        """
        started = self.launch(fresh=fresh)
        return self.wait_answering(started, timeout)

    def launch(self, fresh: bool = False) -> float:
        """Configure, format if new, and launch the JVM without waiting for it; return
        the ``time.monotonic()`` of the launch. (A cluster's nodes are all launched before
        any is waited for: none answers before a quorum of controllers is up.)"""
        java = require_tool("java", "to run the Kafka broker (Java 17 or newer)")
        if self.pid() is not None:
            raise KafkaSetupError(f"a broker started from {self.run_dir} is already running")
        if port_in_use(self.host, self.port):
            raise KafkaSetupError(
                f"port {self.host}:{self.port} is already taken by another program; stop it "
                "or choose another port with SENDGUARD_KAFKA_BOOTSTRAP"
            )
        lib = ensure_jars(self.home)
        classpath = f"{lib}/*"
        config = self.run_dir / "server.properties"
        if fresh and self.data_dir.exists():
            shutil.rmtree(self.data_dir)
        self._configure(config)
        if not self.formatted():
            self._format(java, classpath, config)
        started = time.monotonic()
        with self.log_path.open("ab") as log:
            proc = subprocess.Popen(
                [
                    java,
                    f"-Xmx{self.heap}",
                    f"-Xms{self.heap}",
                    "-XX:+UseG1GC",
                    "-XX:MaxGCPauseMillis=20",
                    f"-Dkafka.logs.dir={self.run_dir / 'logs'}",
                    "-cp",
                    classpath,
                    "kafka.Kafka",
                    str(config),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self._proc = proc
        self.pid_path.write_text(str(proc.pid))
        return started

    def wait_answering(self, started: float, timeout: float = START_TIMEOUT_S) -> float:
        """Wait until the launched broker answers; the seconds since ``started``."""
        proc = self._proc
        assert proc is not None, "launch() first"
        deadline = started + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self.pid_path.unlink(missing_ok=True)
                raise self._fail(f"the Kafka broker exited with code {proc.returncode}")
            if self.answers():
                return time.monotonic() - started
            time.sleep(0.2)
        self.stop()
        raise self._fail(f"the Kafka broker did not answer within {timeout:.0f} s")

    def _configure(self, config: Path) -> None:
        """Write the broker's configuration, keeping the controller port of an earlier one."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        controller_port = self.controller_port
        if controller_port is None and config.exists():
            voters = r"^controller\.quorum\.voters=1@[^:]+:(\d+)$"
            found = re.search(voters, config.read_text(), re.M)
            if found and not port_in_use(self.host, int(found.group(1))):
                controller_port = int(found.group(1))
        extra = "".join(f"{key}={value}\n" for key, value in self.extra_config.items())
        controller_port = controller_port or free_port(self.host)
        config.write_text(
            _SERVER_PROPERTIES.format(
                host=self.host,
                port=self.port,
                controller_port=controller_port,
                node_id=self.node_id,
                voters=self.voters or f"1@{self.host}:{controller_port}",
                internal_replication=self.internal_replication,
                internal_min_isr=self.internal_min_isr,
                data_dir=self.data_dir,
            )
            + extra
        )

    def _format(self, java: str, classpath: str, config: Path) -> None:
        """Format an empty data directory with a new cluster id."""
        fmt = subprocess.run(
            [java, "-cp", classpath, "kafka.tools.StorageTool", "format",
             f"--cluster-id={self.cluster_id or cluster_id()}", "-c", str(config)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if fmt.returncode != 0:
            self.log_path.write_text(fmt.stdout + fmt.stderr)
            raise self._fail("formatting the Kafka data directory failed")

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> bool:
        """SIGTERM (the broker's clean shutdown hook), then SIGKILL. False if none ran."""
        pid = self.terminate()
        if pid is None:
            return False
        self.reap_after(pid, time.monotonic() + timeout)
        return True

    def terminate(self) -> int | None:
        """Send SIGTERM without waiting; the pid signalled, or None if none ran."""
        pid = self.pid()
        if pid is None:
            self.pid_path.unlink(missing_ok=True)
            return None
        os.kill(pid, signal.SIGTERM)
        return pid

    def reap_after(self, pid: int, deadline: float) -> None:
        """Wait for a terminated broker until ``deadline``, then SIGKILL it."""
        while pid_alive(pid) and time.monotonic() < deadline:
            reap(pid)
            time.sleep(0.1)
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
        self._gone(pid)

    def kill(self) -> bool:
        """SIGKILL at once, as a crash would (no shutdown hook). False if none ran."""
        pid = self.pid()
        if pid is None:
            return False
        os.kill(pid, signal.SIGKILL)
        self._gone(pid)
        return True

    def _gone(self, pid: int) -> None:
        while pid_alive(pid):
            reap(pid)
            time.sleep(0.05)
        self.pid_path.unlink(missing_ok=True)
        if self._proc is not None:
            self._proc.wait()
            self._proc = None


def reap(pid: int) -> None:
    """Collect the exit status if the broker is our child, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def default_broker(home: Path, host: str, port: int) -> LocalBroker:
    return LocalBroker(home=home, run_dir=home / "broker", host=host, port=port)


__all__ = ["KAFKA_VERSION", "KafkaSetupError", "LocalBroker", "cluster_id", "default_broker"]
