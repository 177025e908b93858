"""``python -m bench.run``: Sendguard's end-to-end throughput and latency against a real
broker, beside the framework's own ceiling and a quix-streams peer.

Everything reads the same simulated month from the same local broker in the same run, so
the ratios hold even on a noisy shared machine:

1. baselines: a plain aiokafka consumer (raw, then with ``json.loads``), and a bare faust
   agent that only iterates the input, one event per record (faust as it comes) and on
   Sendguard's batched delivery;
2. Sendguard, one worker, then two workers in one group: from launch to every input
   event having its outcome; each run's decisions must equal ``sendguard replay``;
3. the quix-streams peer (``bench/peers/quix_guard.py``, its own virtualenv);
   against it, Sendguard is timed the peer's way too: both from launch to done
   (``*_from_launch``: Sendguard to every input committed, the peer to its exit, which
   commits), and both from the first event to the last (``*_steady``: the peer times
   itself so; Sendguard from its event counters, read every 0.1 s);
4. live latency at half the one-worker rate (``bench.latency``).

Prints its figures and writes them as JSON to bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import io
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
from typing import Any

from aiokafka import AIOKafkaConsumer

from bench import latency
from bench.measure import (
    percentile,
    raw_consume,
    rss_bytes,
    show,
    tree_bytes,
    wait_drained,
)
from localkafka.broker import LocalBroker
from localkafka.probe import free_port
from offline.produce import to_kafka
from offline.replay import replay
from offline.simulate import default_start, simulate, write_jsonl
from policy import load_policy
from streams import topics as t
from streams.kafka_admin import end_offsets, topic_partitions
from streams.provision import ensure_topics
from streams.settings import Settings, default_home

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
# The month is simulated over the last 30 days: the stream must not reject it as late.
BENCH_POLICY = 'version = "bench"\nlate_grace_days = 40\n'
#: The per-record bare agent is slow: its rate is measured over this many records.
BARE_MESSAGE_RECORDS = 200_000
DECISION_KEYS = ("decision_id", "account_id", "channel", "action", "reason", "period",
                 "evidence", "trigger_event_id", "suspension_type")  # fmt: skip


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


def expected_decisions(path: Path, policy: Path) -> dict[str, dict]:
    out = io.BytesIO()
    replay(path, load_policy(policy), progress=False, summary=False, out=out)
    return {d["decision_id"]: comparable(d) for d in map(json.loads, out.getvalue().splitlines())}


def against(one: dict[str, Any], peer: dict[str, Any], name: str) -> dict[str, float]:
    """One worker's rate over the peer's: timed alike, from launch and steady; and as
    earlier runs gave it (ours from launch to committed, the peer's first to last)."""
    ratios = {
        f"sendguard_vs_{name}_from_launch": one["per_s"] / peer["from_launch_per_s"],
        f"sendguard_vs_{name}": one["per_s"] / peer["events_per_s"],
    }
    if one.get("steady_per_s"):
        ratios[f"sendguard_vs_{name}_steady"] = one["steady_per_s"] / peer["events_per_s"]
    return {key: round(ratio, 3) for key, ratio in ratios.items()}


def comparable(decision: dict) -> dict:
    return {k: decision[k] for k in DECISION_KEYS}


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return wait_ready(launch_worker(env, log), env, log)


def launch_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "sendguard.cli", "worker"], env=env,
                                stdout=out, stderr=subprocess.STDOUT)  # fmt: skip


def wait_ready(
    proc: subprocess.Popen[bytes], env: dict[str, str], log: Path
) -> subprocess.Popen[bytes]:
    """``proc``, once its ``/healthz`` answers 200."""
    url = f"http://127.0.0.1:{env['SENDGUARD_WEB_PORT']}/healthz"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"worker exited with {proc.returncode}; see {log}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return proc
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"worker not ready; see {log}")


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()


async def decisions_after(bootstrap: str, topic: str, start: dict[Any, int]) -> list[dict]:
    """The decisions written after ``start`` (end offsets taken before a run)."""
    tps = await topic_partitions(bootstrap, [topic])
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        for tp in tps:
            consumer.seek(tp, start.get(tp, 0))
        found: list[dict] = []
        while any([await consumer.position(tp) < ends[tp] for tp in tps]):
            for messages in (await consumer.getmany(timeout_ms=1000)).values():
                found.extend(json.loads(m.value) for m in messages)
        return found
    finally:
        await consumer.stop()


def bare_faust(bootstrap: str, topics: list[str], expect: int, mode: str) -> dict:
    command = [sys.executable, "-m", "bench.bare_faust", "--bootstrap", bootstrap,
               "--topics", ",".join(topics), "--expect", str(expect), "--mode", mode,
               "--web-port", str(free_port())]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=1800,
                            cwd=ROOT, check=False)  # fmt: skip
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"bare faust agent ({mode}) failed:\n{result.stderr[-2000:]}")
    return json.loads(lines[-1])


def run_peer(
    bootstrap: str, prefix: str, expect: int, state_dir: Path, policy: Path,
    repartition: bool = True,
) -> dict | None:  # fmt: skip
    """The quix-streams peer over the month: with its ``group_by`` hop (the same answers
    whatever the key, as Sendguard's), or trusting the producers' keys."""
    script = ROOT / "bench" / "peers" / "quix_guard.py"
    sys.path.insert(0, str(ROOT / "bench" / "peers"))
    from peer_env import ensure_peer_venv  # type: ignore[import-not-found]

    python = ensure_peer_venv(ROOT / "bench" / ".peer-venv")
    launched = time.monotonic()
    result = subprocess.run(
        [str(python), str(script), "--bootstrap", bootstrap, "--prefix", prefix,
         "--expect", str(expect), "--state-dir", str(state_dir), "--policy", str(policy),
         *([] if repartition else ["--no-repartition"])],
        capture_output=True, text=True, timeout=3600, check=False,
    )  # fmt: skip
    from_launch_s = time.monotonic() - launched
    if result.returncode != 0:
        print(result.stderr[-2000:], file=sys.stderr)
        return None
    figures: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    figures["from_launch_s"] = round(from_launch_s, 2)
    figures["from_launch_per_s"] = round(figures["messages"] / from_launch_s, 1)
    return figures


async def sendguard(
    workers: int,
    env: dict[str, str],
    work: Path,
    events: int,
    expected: dict[str, dict],
    run: str = "",
) -> dict[str, Any]:
    """Run ``workers`` workers in one new group (named after ``run`` too) over the month;
    time, memory, correctness."""
    group = f"{env['SENDGUARD_TOPIC_PREFIX']}sg{workers}w{run}"
    topic = env["SENDGUARD_TOPIC_PREFIX"] + t.DECISIONS
    bootstrap = env["SENDGUARD_KAFKA_BOOTSTRAP"]
    before = await end_offsets(bootstrap, await topic_partitions(bootstrap, [topic]))
    envs = [
        dict(
            env,
            SENDGUARD_APP_ID=group,
            SENDGUARD_WEB_PORT=str(free_port()),
            SENDGUARD_DATA_DIR=str(work / f"{group}-{i}"),
        )
        for i in range(workers)
    ]
    started = time.monotonic()
    procs = [start_worker(e, work / f"{group}-{i}.log") for i, e in enumerate(envs)]
    ready_s = time.monotonic() - started
    prefix = env["SENDGUARD_TOPIC_PREFIX"]
    topics = [prefix + name for name in (*t.INPUT_TOPICS, t.ACCOUNTS, t.EVENTS)]
    ports = [int(e["SENDGUARD_WEB_PORT"]) for e in envs]
    drain = await wait_drained(env["SENDGUARD_KAFKA_BOOTSTRAP"], group, topics, ports,
                               events=events)  # fmt: skip
    # With more workers, the first drains while the next start: no steady figure.
    steady = drain.steady_per_s(events) if workers == 1 else None
    figures: dict[str, Any] = {
        "seconds": round(ready_s + drain.committed_s, 1),
        "per_s": round(events / (ready_s + drain.committed_s)),
        "steady_per_s": round(steady) if steady is not None else None,
        # Where the time from launch went: to /healthz, to the first event, to the last.
        "ready_s": round(ready_s, 2),
        "first_event_s": round(ready_s + drain.first_event_s, 2) if drain.first_event_s else None,
        "last_event_s": round(ready_s + drain.all_events_s, 2) if drain.all_events_s else None,
        "rss_mb": [round(rss_bytes(p.pid) / 2**20) for p in procs],
        "state_mb": round(sum(tree_bytes(Path(e["SENDGUARD_DATA_DIR"])) for e in envs) / 2**20, 1),
    }
    stop(procs)
    published = await decisions_after(env["SENDGUARD_KAFKA_BOOTSTRAP"], topic, before)
    got = {d["decision_id"]: comparable(d) for d in published}
    figures["decisions"] = len(got)
    figures["equals_replay"] = got == expected
    if got != expected:
        print(f"  !! {workers} worker(s): {len(got.keys() - expected.keys())} extra, "
              f"{len(expected.keys() - got.keys())} missing decisions vs the replay")  # fmt: skip
    figures["env"] = envs[0]
    return figures


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
        path = month_file(args.accounts, args.seed)
        items = load(path)
        email_events = sum(1 for i in items if not isinstance(i, dict) or i["topic"] != "accounts")
        policy = work / "policy.toml"
        policy.write_text(BENCH_POLICY)
        print("replay (the expected decisions) ...")
        expected = expected_decisions(path, policy)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SENDGUARD_")}
        env.update(
            SENDGUARD_KAFKA_BOOTSTRAP=bootstrap, SENDGUARD_TOPIC_PREFIX=prefix,
            SENDGUARD_POLICY=str(policy), SENDGUARD_PARTITIONS=str(args.partitions),
            SENDGUARD_STANDBY_REPLICAS="0", SENDGUARD_LOG_LEVEL="warning", PYTHONPATH=str(ROOT),
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
        print("baseline: bare faust agent, one event per record ...")
        bare_message = bare_faust(bootstrap, inputs, min(BARE_MESSAGE_RECORDS, len(items)),
                                  "message")  # fmt: skip
        print("baseline: bare faust agent, batched delivery ...")
        bare_batch = bare_faust(bootstrap, inputs, len(items), "batch")

        print("sendguard: one worker ...")
        one = await sendguard(1, env, work, email_events, expected)
        print("sendguard: two workers ...")
        two = await sendguard(2, env, work, email_events, expected)
        peer = peer_keyed = None
        if not args.skip_peer:
            print("peer: quix-streams, group_by account_id ...")
            peer = run_peer(bootstrap, prefix, email_events, work / "peer-state", policy)
            print("peer: quix-streams, --no-repartition (trusting the producers' keys) ...")
            peer_keyed = run_peer(bootstrap, prefix, email_events, work / "peer-keyed-state",
                                  policy, repartition=False)  # fmt: skip

        print(f"latency: live traffic at half of {one['per_s']:,} events/s ...")
        latency_env = one.pop("env")
        two.pop("env")
        worker = start_worker(latency_env, work / "latency.log")
        probes = await latency.probe(bootstrap, prefix, seconds=args.latency_seconds,
                                     background_per_s=one["per_s"] // 2)  # fmt: skip
        stop([worker])

        accounts = sum(1 for i in items if isinstance(i, dict) and i["topic"] == "accounts")
        figures: dict[str, Any] = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cores, "
            f"Python {platform.python_version()}",
            "lines": len(items),
            "events": email_events,
            "accounts": accounts,
            "partitions": args.partitions,
            "produce_per_s": round(len(items) / produce_s),
            "baseline_raw_per_s": round(raw.per_s),
            "baseline_json_per_s": round(parsed.per_s),
            "bare_faust_per_record_per_s": bare_message["per_s"],
            "bare_faust_batched_per_s": bare_batch["per_s"],
            "sendguard_1_worker": one,
            "sendguard_2_workers": two,
            "sendguard_vs_bare_faust": round(one["per_s"] / bare_message["per_s"], 2),
            "sendguard_vs_bare_faust_batched": round(one["per_s"] / bare_batch["per_s"], 3),
            "latency_background_per_s": round(probes.background_per_s),
            "latency_absolute_samples": len(probes.absolute),
            "latency_absolute_p50_s": round(percentile(probes.absolute, 0.5), 3),
            "latency_absolute_p99_s": round(percentile(probes.absolute, 0.99), 3),
            "latency_rate_samples": len(probes.rate),
            "latency_rate_p50_s": round(percentile(probes.rate, 0.5), 3),
            "latency_rate_p99_s": round(percentile(probes.rate, 0.99), 3),
            "state_kb_per_account_month": round(one["state_mb"] * 1024 / max(accounts, 1), 1),
            "peer": peer,
            "peer_no_repartition": peer_keyed,
        }
        for name, found in (("peer", peer), ("peer_no_repartition", peer_keyed)):
            if found:
                figures.update(against(one, found, name))
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
    parser.add_argument("--latency-seconds", type=float, default=30.0)
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
