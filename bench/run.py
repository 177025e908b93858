"""``python -m bench.run``: Sendguard's end-to-end throughput and latency against a real
broker, beside a plain aiokafka consumer (the ceiling) and a quix-streams peer.

All three read the same simulated month from the same local broker in the same run, so
the ratios hold even on a noisy shared machine. Prints its figures and writes them as
JSON to bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path

from bench import latency
from bench.measure import percentile, raw_consume, rss_bytes, show, tree_bytes, wait_processed
from offline.produce import to_kafka
from offline.simulate import default_start, simulate, write_jsonl
from streams import topics as t
from streams.kafka_local import LocalBroker
from streams.kafka_probe import free_port
from streams.provision import ensure_topics
from streams.settings import Settings, default_home

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
# The month is simulated over the last 30 days: the stream must not reject it as late.
BENCH_POLICY = 'version = "bench"\nlate_grace_days = 40\n'


def month_file(accounts: int, seed: int) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"month-{accounts}-{seed}-{datetime.now(UTC):%Y%m%d}.jsonl"
    if not path.exists():
        print(f"simulating {accounts} accounts (seed {seed}) -> {path.name}")
        write_jsonl(simulate(accounts, seed, start=default_start(30), duplicates=0.002,
                             malformed=0.0005), path)  # fmt: skip
    return path


def load(path: Path) -> list[dict | str]:
    items: list[dict | str] = []
    with path.open() as fh:
        for line in fh:
            try:
                value = json.loads(line)
            except ValueError:
                value = None
            ok = isinstance(value, dict) and isinstance(value.get("topic"), str)
            items.append(value if ok else line.rstrip("\n"))  # broken lines go as text
    return items


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "streams.cli", "worker"], env=env,
                                stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    url = f"http://127.0.0.1:{env['SENDGUARD_WEB_PORT']}/healthz"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"worker exited with {proc.returncode}; see {log}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return proc
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"worker not ready; see {log}")


def run_peer(
    bootstrap: str, prefix: str, expect: int, state_dir: Path, policy: Path
) -> dict | None:
    script = ROOT / "bench" / "peers" / "quix_guard.py"
    if not script.exists():
        return None
    sys.path.insert(0, str(ROOT / "bench" / "peers"))
    from peer_env import ensure_peer_venv  # type: ignore[import-not-found]

    python = ensure_peer_venv(ROOT / "bench" / ".peer-venv")
    result = subprocess.run(
        [str(python), str(script), "--bootstrap", bootstrap, "--prefix", prefix,
         "--expect", str(expect), "--state-dir", str(state_dir), "--policy", str(policy)],
        capture_output=True, text=True, timeout=3600, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        print(result.stderr[-2000:], file=sys.stderr)
        return None
    return json.loads(result.stdout.strip().splitlines()[-1])


async def main(args: argparse.Namespace) -> dict:
    work = Path(tempfile.mkdtemp(prefix="sendguard-bench-"))
    broker = None
    bootstrap = os.environ.get("SENDGUARD_KAFKA_BOOTSTRAP")
    if not bootstrap:
        broker = LocalBroker(home=default_home(), run_dir=work / "broker", port=free_port())
        broker.start()
        bootstrap = broker.bootstrap
    prefix = f"b{uuid.uuid4().hex[:4]}."  # short: quix names repartition topics after all inputs
    try:
        items = load(month_file(args.accounts, args.seed))
        email_events = sum(1 for i in items if not isinstance(i, dict) or i["topic"] != "accounts")
        policy = work / "policy.toml"
        policy.write_text(BENCH_POLICY)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SENDGUARD_")}
        env.update(
            SENDGUARD_KAFKA_BOOTSTRAP=bootstrap, SENDGUARD_TOPIC_PREFIX=prefix,
            SENDGUARD_APP_ID=f"{prefix}sendguard", SENDGUARD_DATA_DIR=str(work / "data"),
            SENDGUARD_WEB_PORT=str(free_port()), SENDGUARD_POLICY=str(policy),
            SENDGUARD_PARTITIONS=str(args.partitions), SENDGUARD_STANDBY_REPLICAS="0",
            SENDGUARD_LOG_LEVEL="warning", PYTHONPATH=str(ROOT),
        )  # fmt: skip
        await ensure_topics(Settings.from_env(env))
        print(f"producing {len(items):,} lines to {bootstrap} ...")
        produced_at = time.monotonic()
        await asyncio.to_thread(to_kafka, items, bootstrap, prefix, progress=None)
        produce_s = time.monotonic() - produced_at

        inputs = [prefix + name for name in (*t.INPUT_TOPICS, t.ACCOUNTS)]
        print("baseline: plain aiokafka consumer ...")
        raw = await raw_consume(bootstrap, inputs)
        parsed = await raw_consume(bootstrap, inputs, parse=True)

        print("sendguard: one worker ...")
        started = time.monotonic()
        worker = start_worker(env, work / "worker.log")
        ready_s = time.monotonic() - started  # drain time below includes work done meanwhile
        drain_s = await wait_processed(int(env["SENDGUARD_WEB_PORT"]), email_events)
        rss = rss_bytes(worker.pid)
        state = tree_bytes(work / "data")
        worker.terminate()  # the peer reads the same month on its own, then latency
        worker.wait(60)
        peer = None
        if not args.skip_peer:
            print("peer: quix-streams ...")
            peer = run_peer(bootstrap, prefix, email_events, work / "peer-state", policy)

        worker = start_worker(env, work / "worker-latency.log")
        print("latency: live traffic ...")
        latencies = await latency.probe(bootstrap, prefix, seconds=args.latency_seconds)

        worker.terminate()
        worker.wait(60)

        accounts = sum(1 for i in items if isinstance(i, dict) and i["topic"] == "accounts")
        # From launching the worker (its start-up included) to the last event's outcome.
        sendguard_rate = email_events / (ready_s + drain_s)
        figures = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cores, "
            f"Python {platform.python_version()}",
            "lines": len(items),
            "accounts": accounts,
            "partitions": args.partitions,
            "produce_per_s": round(len(items) / produce_s),
            "baseline_raw_per_s": round(raw.per_s),
            "baseline_json_per_s": round(parsed.per_s),
            "sendguard_ready_s": round(ready_s, 1),
            "sendguard_drain_s": round(drain_s, 1),
            "sendguard_per_s": round(sendguard_rate),
            "sendguard_vs_raw": round(sendguard_rate / raw.per_s, 4),
            "latency_samples": len(latencies),
            "latency_p50_s": round(percentile(latencies, 0.5), 3),
            "latency_p99_s": round(percentile(latencies, 0.99), 3),
            "worker_rss_mb": round(rss / 2**20),
            "rocksdb_state_mb": round(state / 2**20, 1),
            "state_mb_per_100k_account_months": round(
                state / 2**20 / max(accounts, 1) * 100_000, 1
            ),
            "peer": peer,
        }
        if peer:
            figures["sendguard_vs_peer"] = round(sendguard_rate / peer["events_per_s"], 3)
        return figures
    finally:
        if broker is not None:
            broker.stop()
        shutil.rmtree(work, ignore_errors=True)


def cli() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--accounts", type=int, default=400, help="400 = about 1M events")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    parser.add_argument("--skip-peer", action="store_true")
    args = parser.parse_args()
    figures = asyncio.run(main(args))
    print()
    show(list(figures.items()))
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"bench-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    out.write_text(json.dumps(figures, indent=2))
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    cli()
