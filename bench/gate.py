"""The sender gate at scale: ``python -m bench.gate [--suppressions N]``.

On a private broker (or ``SENDGUARD_KAFKA_BOOTSTRAP``), in one run:

1. produces N suppressions (default 10M: 500 per account) and a few thousand account
   statuses to the two compacted topics;
2. the baseline: a plain aiokafka consumer reading the suppressions to their end;
3. ``sendguard gate serve`` on an empty directory: its catch-up from scratch (records/s,
   from launch and from its first record, against the baseline), then its resident
   memory per suppression;
4. the same service restarted on its directory: seconds to healthy, records read again;
   then checks over HTTP, single and batch (checks/s, p99), and its memory after them;
5. the library in this process on the same directory: single checks and batch checks
   (checks/s, p50/p99 per call).

Prints every figure and writes them as JSON to ``bench/results/gate-<time>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from bench.measure import percentile, provenance, raw_consume, rss_bytes, tree_bytes
from gate import SenderGate
from localkafka.broker import LocalBroker
from localkafka.probe import free_port
from streams.provision import ensure_topics
from streams.settings import Settings, default_home

ROOT = Path(__file__).resolve().parents[1]
PREFIX = "gb."
PER_ACCOUNT = 500
SUSPENDED_ACCOUNTS = 2_000
PROGRESS_EVERY_S = 5.0


class Figures(dict[str, Any]):
    """The figures, each printed as it is measured (a run cut short still says them)."""

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        print(f"    {key}: {value}", flush=True)


def account(n: int) -> str:
    return f"acct-{n // PER_ACCOUNT:07d}"


def recipient(n: int) -> str:
    return f"user{n:09d}@example-{n % 997:03d}.com"


def suppression(n: int) -> tuple[bytes, bytes]:
    body = {
        "account_id": account(n),
        "recipient": recipient(n),
        "reason": ("hard_bounce", "unsubscribe", "spam_report")[n % 3],
        "suppressed_at": "2026-12-01T00:00:00.000000Z",
        "event_id": f"ev-{n:012d}",
    }
    return f"{account(n)}/{recipient(n)}".encode(), json.dumps(body).encode()


def status(n: int) -> tuple[bytes, bytes]:
    channel = {
        "state": "suspended",
        "reason": "hard_bounce_rate",
        "suspension_type": "deliverability",
        "since": "2026-12-01T00:00:00Z",
        "probation_until": None,
        "decided_by": None,
    }
    active = {
        "state": "active",
        "reason": None,
        "suspension_type": None,
        "since": None,
        "probation_until": None,
        "decided_by": None,
    }
    body = {
        "account_id": account(n),
        "channels": {"marketing": channel, "crm": active},
        "updated_at": "2026-12-01T00:00:00Z",
    }
    return account(n).encode(), json.dumps(body).encode()


async def produce(bootstrap: str, topic: str, count: int, make: Any, partitions: int) -> float:
    """``count`` records made by ``make(n)``, in full batches per partition; seconds taken."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks=1, linger_ms=20, max_batch_size=1024 * 1024
    )
    await producer.start()
    started = last = time.monotonic()
    try:
        n = 0
        pending: list[asyncio.Future[Any]] = []
        while n < count:
            partition = (n // 5_000) % partitions
            batch = producer.create_batch()
            while n < count:
                key, value = make(n)
                if batch.append(key=key, value=value, timestamp=None) is None:
                    break
                n += 1
            batch.close()
            pending.append(await producer.send_batch(batch, topic, partition=partition))
            if len(pending) >= 32:
                await asyncio.gather(*pending)
                pending = []
            if time.monotonic() - last > PROGRESS_EVERY_S:
                last = time.monotonic()
                print(
                    f"    produced {n:,} of {count:,} ({n / (last - started):,.0f}/s)", flush=True
                )
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return time.monotonic() - started


class Served:
    """``sendguard gate serve`` as a subprocess."""

    def __init__(self, bootstrap: str, directory: Path, log: Path) -> None:
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("SENDGUARD_")}
        env.update(
            SENDGUARD_KAFKA_BOOTSTRAP=bootstrap,
            SENDGUARD_TOPIC_PREFIX=PREFIX,
            SENDGUARD_GATE_DIR=str(directory),
            SENDGUARD_GATE_PORT=str(self.port),
            PYTHONPATH=str(ROOT),
        )
        self.launched = time.monotonic()
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "sendguard.cli", "gate", "serve"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def figures(self) -> dict[str, float]:
        with urllib.request.urlopen(self.url("/metrics"), timeout=10) as response:
            text = response.read().decode()
        found: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                label = sample.labels.get("outcome") or sample.labels.get("kind") or ""
                found[f"{sample.name}{':' + label if label else ''}"] = sample.value
        return found

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.url("/healthz"), timeout=10) as response:
                return response.status == 200
        except OSError:
            return False

    def wait(self, records: int, timeout: float = 1800) -> tuple[float, float | None]:
        """Until healthy with at least ``records`` read: (seconds from launch, seconds
        from the first record read)."""
        first: float | None = None
        last = time.monotonic()
        while time.monotonic() - self.launched < timeout:
            assert self.proc.poll() is None, "the gate exited"
            try:
                read = self.figures().get("sendguard_gate_records_total:applied", 0.0)
            except OSError:
                read = 0.0
            if read and first is None:
                first = time.monotonic()
            if read >= records and self.healthy():
                done = time.monotonic()
                return done - self.launched, (done - first) if first is not None else None
            if time.monotonic() - last > PROGRESS_EVERY_S:
                last = time.monotonic()
                print(f"    the gate has read {read:,.0f} of {records:,}", flush=True)
            time.sleep(0.05)
        raise TimeoutError("the gate did not catch up")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(60)


def probes(count: int, total: int, seed: int) -> list[tuple[str, str]]:
    """(account, recipient) pairs: half suppressed, half not."""
    rng = random.Random(seed)
    found = []
    for _ in range(count):
        n = rng.randrange(total)
        found.append((account(n), recipient(n) if rng.random() < 0.5 else f"fresh{n}@example.com"))
    return found


async def http_checks(
    served: Served, pairs: list[tuple[str, str]], batch: int, clients: int
) -> dict[str, float]:
    """Checks over HTTP from ``clients`` concurrent connections: checks/s, p50/p99 s."""
    latencies: list[float] = []
    queue = list(range(0, len(pairs), batch))

    async def client(session: aiohttp.ClientSession) -> None:
        while queue:
            start = queue.pop()
            chunk = pairs[start : start + batch]
            began = time.perf_counter()
            if batch == 1:
                account_id, address = chunk[0]
                params = {"account_id": account_id, "channel": "crm", "recipient": address}
                async with session.get(served.url("/check"), params=params) as reply:
                    assert reply.status == 200, await reply.text()
                    await reply.read()
            else:
                body = {
                    "account_id": chunk[0][0],
                    "channel": "crm",
                    "recipients": [address for _, address in chunk],
                }
                async with session.post(served.url("/check/batch"), json=body) as reply:
                    assert reply.status == 200, await reply.text()
                    await reply.read()
            latencies.append(time.perf_counter() - began)

    began = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(client(session) for _ in range(clients)))
    took = time.perf_counter() - began
    return {
        "checks_per_s": round(len(pairs) / took),
        "p50_ms": round(percentile(latencies, 0.5) * 1000, 3),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 3),
        "batch": batch,
        "clients": clients,
    }


async def library_checks(
    gate: SenderGate, pairs: list[tuple[str, str]], batch: int
) -> dict[str, float]:
    """Checks in this process: checks/s, and p50/p99 per call. The checks are plain calls;
    every 1,000 the loop gets a turn (the gate's consumer runs on it), outside the clock."""
    latencies: list[float] = []
    clock = time.perf_counter
    calls = [(chunk[0][0], [address for _, address in chunk])
             for chunk in (pairs[n : n + batch] for n in range(0, len(pairs), batch))]  # fmt: skip
    took = 0.0
    for first in range(0, len(calls), 1000):
        began = clock()
        for account_id, addresses in calls[first : first + 1000]:
            start = clock()
            if batch == 1:
                gate.check(account_id, "crm", addresses[0])
            else:
                gate.check_many(account_id, "crm", addresses)
            latencies.append(clock() - start)
        took += clock() - began
        await asyncio.sleep(0)
    return {
        "checks_per_s": round(len(pairs) / took),
        "p50_ms": round(percentile(latencies, 0.5) * 1000, 4),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 4),
        "batch": batch,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="sendguard-gatebench-"))
    broker = None
    bootstrap = os.environ.get("SENDGUARD_KAFKA_BOOTSTRAP")
    figures = Figures(suppressions=args.suppressions)
    try:
        if not bootstrap:
            broker = LocalBroker(home=default_home(), run_dir=work / "broker", port=free_port())
            broker.start()
            bootstrap = broker.bootstrap
        settings = Settings(kafka_bootstrap=bootstrap, topic_prefix=PREFIX)
        await ensure_topics(settings)
        names = settings.topic_names
        print(
            f"producing {args.suppressions:,} suppressions and {SUSPENDED_ACCOUNTS:,} statuses ...",
            flush=True,
        )
        took = await produce(
            bootstrap, names.suppressions, args.suppressions, suppression, settings.partitions
        )
        await produce(
            bootstrap,
            names.account_status,
            SUSPENDED_ACCOUNTS,
            lambda n: status(n * PER_ACCOUNT),
            settings.partitions,
        )
        figures["produced_per_s"] = round(args.suppressions / took)
        total = args.suppressions + SUSPENDED_ACCOUNTS

        print("baseline: a plain aiokafka consumer reads the suppressions ...", flush=True)
        raw = await raw_consume(bootstrap, [names.suppressions])
        figures["baseline_raw_read_per_s"] = round(raw.per_s)

        print("sendguard gate serve, from scratch ...", flush=True)
        directory, log = work / "gate", work / "gate.log"
        served = Served(bootstrap, directory, log)
        from_launch, from_first = served.wait(total)
        figures["catch_up_s_from_launch"] = round(from_launch, 2)
        figures["catch_up_per_s_from_launch"] = round(total / from_launch)
        figures["catch_up_per_s_from_first_record"] = (
            round(total / from_first) if from_first else None
        )
        figures["catch_up_vs_baseline"] = round(total / from_launch / raw.per_s, 3)
        figures["rss_mb_after_catch_up"] = round(rss_bytes(served.proc.pid) / 2**20, 1)
        figures["rocksdb_after_catch_up"] = {
            k: v for k, v in served.figures().items() if "rocksdb" in k
        }
        served.stop()
        figures["store_mb_on_disk"] = round(tree_bytes(directory) / 2**20, 1)

        print("restarted on its directory ...", flush=True)
        served = Served(bootstrap, directory, log)
        restart_s, _ = served.wait(0)
        figures["restart_to_healthy_s"] = round(restart_s, 2)
        figures["restart_records_read_again"] = served.figures().get(
            "sendguard_gate_records_total:applied"
        )
        figures["rss_mb_restarted"] = round(rss_bytes(served.proc.pid) / 2**20, 1)
        pairs = probes(args.checks, args.suppressions, seed=1)
        figures["http_single"] = await http_checks(
            served, pairs[: args.checks // 4], 1, args.clients
        )
        figures["http_batch"] = await http_checks(served, pairs, args.batch, args.clients)
        rss = rss_bytes(served.proc.pid)
        figures["rss_mb_after_checks"] = round(rss / 2**20, 1)
        figures["rss_bytes_per_suppression"] = round(rss / args.suppressions, 1)
        figures["rocksdb_after_checks"] = {
            k: v for k, v in served.figures().items() if "rocksdb" in k
        }
        served.stop()

        print("the library in this process ...", flush=True)
        async with SenderGate(bootstrap, PREFIX, path=directory) as gate:
            await gate.wait_caught_up()
            await library_checks(gate, pairs[:10_000], 1)  # warm up
            figures["library_single"] = await library_checks(gate, pairs, 1)
            figures["library_batch"] = await library_checks(gate, pairs, args.batch)
            figures["library_stale"] = gate.is_stale()
    finally:
        if broker is not None:
            broker.stop()
        shutil.rmtree(work, ignore_errors=True)
    return {
        **provenance(),
        **figures,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.gate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--suppressions", type=int, default=10_000_000)
    parser.add_argument("--checks", type=int, default=400_000, help="checks per measurement")
    parser.add_argument("--batch", type=int, default=100, help="recipients per batch check")
    parser.add_argument("--clients", type=int, default=8, help="concurrent HTTP connections")
    args = parser.parse_args()
    if args.suppressions < PER_ACCOUNT * 4:
        parser.error(f"--suppressions: at least {PER_ACCOUNT * 4}")
    figures = asyncio.run(run(args))
    out = ROOT / "bench" / "results" / f"gate-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
