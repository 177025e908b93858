"""Run ``sendguard worker`` as a real subprocess for integration tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from localkafka.probe import free_port


@dataclass
class WorkerProcess:
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = field(default=0)

    @property
    def port(self) -> int:
        return int(self.env["SENDGUARD_WEB_PORT"])

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self, timeout: float = 90.0, ready: bool = True) -> WorkerProcess:
        """Start the worker and wait until /healthz says ready (unless ``ready=False``)."""
        self.starts += 1
        log = self.log_path.open("ab")
        log.write(f"\n===== start #{self.starts} =====\n".encode())
        log.flush()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sendguard.cli", "worker"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        if ready:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"worker exited with {self.proc.returncode}\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(self.url("/healthz"), timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.3)
        raise AssertionError(f"worker not ready after {timeout} s\n{self.log_tail()}")

    def stop(self, timeout: float = 30.0) -> int | None:
        """Graceful stop (SIGTERM, as an orchestrator does); SIGKILL if it hangs."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def worker_env(bootstrap: str, prefix: str, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENDGUARD_")}
    env.update(
        SENDGUARD_KAFKA_BOOTSTRAP=bootstrap,
        SENDGUARD_TOPIC_PREFIX=prefix,
        SENDGUARD_APP_ID=f"{prefix}sendguard",
        SENDGUARD_DATA_DIR=str(data_dir),
        SENDGUARD_WEB_PORT=str(free_port()),
        SENDGUARD_PARTITIONS="2",
        SENDGUARD_STANDBY_REPLICAS="0",
        # The broker's minimum: a killed worker leaves the group sooner, so tests that
        # kill or stop workers wait less for the rebalance.
        SENDGUARD_SESSION_TIMEOUT_S="6",
        PYTHONPATH=str(Path(__file__).resolve().parents[2]),
    )
    env.update(extra)
    return env
