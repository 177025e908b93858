"""``python -m bench.scale`` (``./dev bench --scale``): what an event costs as the partitions
and the workers grow.

For each partition count (4, 32, 128 by default) and worker count (1, 2, 4) the bench
creates new topics, produces a simulated month to them (``--accounts 100``: about 236k
events), starts that many workers at once and measures two phases. Every cell reads the
same records; with ``--rounds N`` the whole matrix is run N times, one round after the
other, so that a machine growing slower or faster over the run moves every cell alike:

- **backlog**: from launching the workers until the group has committed every input and
  internal record (start-up, joining and table recovery included, as a user waits for
  them);
- **live**: deliveries at ``--live-per-s`` (and the latency probes of ``bench.latency``)
  for ``--live-seconds``, then until drained again.

Per phase: events handled (the workers' ``sendguard_events_total``), CPU-seconds of the
worker processes per 1,000 of them (``/proc``: on a 2-core machine throughput says little
once there are more workers than cores), and the *internal records* written per event:
records appended to ``sendguard.events`` and ``sendguard.progress`` (forwards, commands
and progress reports). The backlog's CPU is also given *after start*: each worker's
CPU counted from its own ``/healthz`` ready, so without starting the process and opening
and recovering its tables, which are a cost per worker and partition, not per event (a
worker handles no event before it is ready); and from its *first event* (the column
"1st event"), which also leaves out joining the group and seeking and fetching its
partitions, a second or more after ready at 128 partitions. Also the backlog's drain
rate, the live p99 latency and the workers' resident memory. Prints the matrix, writes
it as JSON to ``bench/results/`` and draws it as a PNG (matplotlib, installed by
``./dev bench``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import GroupCoordinatorNotAvailableError

from bench import latency
from bench.measure import percentile, provenance, rss_bytes, wait_drained
from bench.run import BENCH_POLICY, RESULTS, launch_worker, load, month_file, stop, wait_ready
from localkafka.broker import LocalBroker
from localkafka.probe import free_port
from offline.produce import to_kafka
from streams import topics as t
from streams.kafka_admin import end_offsets, topic_partitions
from streams.metrics import scrape_totals
from streams.provision import ensure_topics, wanted_topics
from streams.settings import Settings, default_home

_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Phase:
    events: int
    seconds: float
    cpu_s_per_1k: float
    internal_per_event: float
    #: CPU per event with each worker's CPU counted from its own ``/healthz`` ready: the
    #: cost of an event, without starting a process and opening and recovering its tables
    #: (a cost per worker and partition, not per event; None: not measured)
    after_start_cpu_s_per_1k: float | None = None
    #: the same with each worker's CPU counted from its first event: at 128 partitions a
    #: worker is ready a second or more before it has sought and fetched its partitions
    first_event_cpu_s_per_1k: float | None = None


@dataclass
class Cell:
    partitions: int
    workers: int
    backlog: Phase
    live: Phase
    backlog_per_s: int
    live_p50_s: float
    live_p99_s: float
    rss_mb: list[int]
    #: partition assignments the workers received by the end of the backlog (workers that
    #: start together and join one generation: one each)
    rebalances: int = 0


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time of the processes so far."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / _TICKS


async def internal_records(bootstrap: str, prefix: str) -> int:
    """Records appended so far to the internal topics."""
    names = [prefix + t.EVENTS, prefix + t.PROGRESS]
    return sum((await end_offsets(bootstrap, await topic_partitions(bootstrap, names))).values())


async def handled(ports: list[int], name: str = "sendguard_events_total") -> int:
    """Events the workers handled so far, or another counter (``name``), summed (a worker
    not serving yet counts 0)."""
    total = 0.0
    for port in ports:
        try:
            totals = await asyncio.to_thread(scrape_totals, port, names=[name])
            total += totals.get(name, 0.0)
        except OSError:
            continue
    return int(total)


REBALANCES = "sendguard_rebalances_total"


class Meter:
    """CPU, events handled and internal records of a phase, from its start; and each
    worker's CPU when it first answered ``/healthz`` in the phase (``ready``)."""

    def __init__(self, bootstrap: str, prefix: str, pids: list[int], ports: list[int]) -> None:
        self.bootstrap, self.prefix, self.pids, self.ports = bootstrap, prefix, pids, ports

    async def start(self) -> None:
        self.started = time.monotonic()
        self._firsts: list[asyncio.Future[None]] = []
        self.cpu = cpu_seconds(self.pids)
        self.events = await handled(self.ports)
        self.internal = await internal_records(self.bootstrap, self.prefix)
        self.cpu_at_ready: dict[int, float] = {}
        self.cpu_at_first: dict[int, float] = {}

    async def ready(self, proc: subprocess.Popen[bytes], env: dict[str, str], log: Path) -> None:
        """Wait for the worker's ``/healthz``, then (in the background) for its first
        event, noting its CPU at each."""
        await asyncio.to_thread(wait_ready, proc, env, log)
        self.cpu_at_ready[proc.pid] = cpu_seconds([proc.pid])
        self._firsts.append(asyncio.ensure_future(
            self._first_event(proc.pid, int(env["SENDGUARD_WEB_PORT"]))
        ))  # fmt: skip

    async def _first_event(self, pid: int, port: int, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if await handled([port]) > 0:
                self.cpu_at_first[pid] = cpu_seconds([pid])
                return
            await asyncio.sleep(0.02)

    async def phase(self) -> Phase:
        events = await handled(self.ports) - self.events
        now = cpu_seconds(self.pids)
        cpu = now - self.cpu
        internal = await internal_records(self.bootstrap, self.prefix) - self.internal
        for waiting in self._firsts:
            waiting.cancel()
        after_start = first_event = None
        if len(self.cpu_at_ready) == len(self.pids):
            after_start = round(1000 * (now - sum(self.cpu_at_ready.values())) / max(events, 1), 4)
        if len(self.cpu_at_first) == len(self.pids):
            first_event = round(1000 * (now - sum(self.cpu_at_first.values())) / max(events, 1), 4)
        return Phase(
            events=events,
            seconds=round(time.monotonic() - self.started, 1),
            cpu_s_per_1k=round(1000 * cpu / max(events, 1), 4),
            internal_per_event=round(internal / max(events, 1), 4),
            after_start_cpu_s_per_1k=after_start,
            first_event_cpu_s_per_1k=first_event,
        )


async def cell(
    env: dict[str, str], work: Path, partitions: int, workers: int, args: argparse.Namespace,
    round_: int = 0,
) -> Cell:
    bootstrap, prefix = env["SENDGUARD_KAFKA_BOOTSTRAP"], env["SENDGUARD_TOPIC_PREFIX"]
    group = f"{prefix}p{partitions}w{workers}r{round_}"
    envs = [
        dict(env, SENDGUARD_APP_ID=group, SENDGUARD_WEB_PORT=str(free_port()),
             SENDGUARD_DATA_DIR=str(work / f"{group}-{i}"))
        for i in range(workers)
    ]  # fmt: skip
    await find_coordinator(bootstrap, group)  # so that a new group does not delay a joiner
    logs = [work / f"{group}-{i}.log" for i in range(workers)]
    procs = [launch_worker(e, log) for e, log in zip(envs, logs, strict=True)]
    pids = [p.pid for p in procs]
    ports = [int(e["SENDGUARD_WEB_PORT"]) for e in envs]
    topics = [prefix + name for name in (*t.INPUT_TOPICS, t.ACCOUNTS, t.EVENTS)]
    meter = Meter(bootstrap, prefix, pids, ports)
    try:
        await meter.start()
        await asyncio.gather(*(
            meter.ready(proc, e, log) for proc, e, log in zip(procs, envs, logs, strict=True)
        ))  # fmt: skip
        await wait_drained(bootstrap, group, topics, ports, progress=False)
        backlog = await meter.phase()
        rebalances = await handled(ports, REBALANCES)
        await meter.start()
        probes = await latency.probe(bootstrap, prefix, seconds=args.live_seconds,
                                     background_per_s=args.live_per_s)  # fmt: skip
        await wait_drained(bootstrap, group, topics, ports, progress=False)
        live = await meter.phase()
        rss = [round(rss_bytes(pid) / 2**20) for pid in pids]
    finally:
        stop(procs)
    return Cell(
        partitions=partitions,
        workers=workers,
        backlog=backlog,
        live=live,
        backlog_per_s=round(backlog.events / max(backlog.seconds, 1e-9)),
        live_p50_s=round(percentile(probes.absolute + probes.rate, 0.5), 3),
        live_p99_s=round(percentile(probes.absolute + probes.rate, 0.99), 3),
        rss_mb=rss,
        rebalances=rebalances,
    )


async def find_coordinator(bootstrap: str, group: str, timeout_s: float = 60.0) -> None:
    """Wait until the broker names the group's coordinator (the first ask of a broker
    creates ``__consumer_offsets``): workers started at once then join one generation."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                await admin.find_coordinator(group)
                return
            except GroupCoordinatorNotAvailableError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)
    finally:
        await admin.close()


async def drop_topics(bootstrap: str, settings: Settings) -> None:
    """The partition count's topics, deleted: a single local broker with thousands of
    partitions left over slows every later cell."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        prefix = settings.topic_prefix
        names = [topic.name for topic in wanted_topics(settings) if topic.name in existing]
        names += [n for n in existing if n.startswith(prefix) and n not in names]
        await admin.delete_topics(names)
    finally:
        await admin.close()


async def fresh_topics(
    bootstrap: str, policy: Path, partitions: int, items: list[Any]
) -> tuple[Settings, dict[str, str]]:
    """New topics (a new prefix) holding the month, for one cell: every cell reads the same
    records. A cell that read the topics of the one before would also read its live
    phase's records, so later cells and rounds had more and other work."""
    prefix = f"s{uuid.uuid4().hex[:4]}."
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENDGUARD_")}
    env.update(
        SENDGUARD_KAFKA_BOOTSTRAP=bootstrap, SENDGUARD_TOPIC_PREFIX=prefix,
        SENDGUARD_POLICY=str(policy), SENDGUARD_PARTITIONS=str(partitions),
        SENDGUARD_STANDBY_REPLICAS="0", SENDGUARD_LOG_LEVEL="warning",
        PYTHONPATH=str(Path(__file__).resolve().parents[1]),
    )  # fmt: skip
    settings = Settings.from_env(env)
    await ensure_topics(settings)
    await asyncio.to_thread(to_kafka, items, bootstrap, prefix, progress=None)
    return settings, env


async def main(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="sendguard-scale-"))
    broker = None
    bootstrap = os.environ.get("SENDGUARD_KAFKA_BOOTSTRAP")
    if not bootstrap:
        # Kafka's default group.initial.rebalance.delay.ms (the test brokers set 0): workers
        # started together join the group's first generation together, as in a rollout.
        broker = LocalBroker(home=default_home(), run_dir=work / "broker", port=free_port(),
                             extra_config={"group.initial.rebalance.delay.ms": "3000"})  # fmt: skip
        broker.start()
        bootstrap = broker.bootstrap
    cells: list[Cell] = []
    try:
        items = load(month_file(args.accounts, args.seed))
        policy = work / "policy.toml"
        policy.write_text(BENCH_POLICY)
        for round_ in range(args.rounds):
            for partitions in args.partitions:
                for workers in args.workers:
                    label = f"{partitions} partitions, {workers} worker(s)"
                    if args.rounds > 1:
                        label += f", round {round_ + 1} of {args.rounds}"
                    print(f"{label}: producing {len(items):,} lines ...", flush=True)
                    settings, env = await fresh_topics(bootstrap, policy, partitions, items)
                    found = await cell(env, work, partitions, workers, args, round_)
                    print(f"    {row(found)}", flush=True)
                    cells.append(found)
                    await drop_topics(bootstrap, settings)
    finally:
        if broker is not None:
            broker.stop()
        shutil.rmtree(work, ignore_errors=True)
    return {
        **provenance(),
        "lines": len(items),
        "live_per_s": args.live_per_s,
        "live_seconds": args.live_seconds,
        "rounds": args.rounds,
        #: one per partitions x workers: the median of its rounds, figure by figure
        "cells": [asdict(median_cell(group)) for group in _by_cell(cells)],
        "every_round": [asdict(c) for c in cells] if args.rounds > 1 else [],
    }


def _by_cell(cells: list[Cell]) -> list[list[Cell]]:
    groups: dict[tuple[int, int], list[Cell]] = {}
    for found in cells:
        groups.setdefault((found.partitions, found.workers), []).append(found)
    return list(groups.values())


def _median(values: list[Any]) -> Any:
    known = [v for v in values if v is not None]
    if not known:
        return None
    middle = statistics.median(known)
    return type(known[0])(middle) if isinstance(known[0], int) else round(middle, 4)


def median_cell(rounds: list[Cell]) -> Cell:
    """The rounds of one cell as one: each figure the median of its rounds (a single
    cell moves by 20 % between runs on a shared machine)."""
    if len(rounds) == 1:
        return rounds[0]

    def phase(pick: str) -> Phase:
        found = [getattr(r, pick) for r in rounds]
        return Phase(**{f.name: _median([getattr(p, f.name) for p in found])
                        for f in fields(Phase)})  # fmt: skip

    first = rounds[0]
    return Cell(
        partitions=first.partitions, workers=first.workers,
        backlog=phase("backlog"), live=phase("live"),
        backlog_per_s=_median([r.backlog_per_s for r in rounds]),
        live_p50_s=_median([r.live_p50_s for r in rounds]),
        live_p99_s=_median([r.live_p99_s for r in rounds]),
        rss_mb=[_median([sum(r.rss_mb) for r in rounds])],
        rebalances=_median([r.rebalances for r in rounds]),
    )  # fmt: skip


HEADER = ("partitions workers | backlog/s  CPU-ms/event  started  1st event  internal/event | "
          "live CPU-ms/event  internal/event  p50/p99 s | RSS MB  rebalances")  # fmt: skip


def row(c: Cell) -> str:
    started = c.backlog.after_start_cpu_s_per_1k
    first = c.backlog.first_event_cpu_s_per_1k
    return (f"{c.partitions:>10} {c.workers:>7} | {c.backlog_per_s:>9,}  "
            f"{c.backlog.cpu_s_per_1k:>12.3f}  {started or float('nan'):>7.3f}  "
            f"{first or float('nan'):>9.3f}  "
            f"{c.backlog.internal_per_event:>14.4f} | "
            f"{c.live.cpu_s_per_1k:>17.3f}  {c.live.internal_per_event:>14.4f}  "
            f"{c.live_p50_s:.2f}/{c.live_p99_s:.2f} | {sum(c.rss_mb):>6}  "
            f"{c.rebalances:>10}")  # fmt: skip


def draw(figures: dict[str, Any], out: Path) -> None:
    """Three panels over the partition count, a line per worker count: CPU per event in
    the backlog and live, and internal records per event live (the 0.05 target drawn)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = figures["cells"]
    panels = [
        (
            "backlog CPU-ms per event (after start)",
            lambda c: c["backlog"]["after_start_cpu_s_per_1k"] or c["backlog"]["cpu_s_per_1k"],
            None,
        ),
        ("live CPU-ms per event", lambda c: c["live"]["cpu_s_per_1k"], None),
        ("internal records per event (live)", lambda c: c["live"]["internal_per_event"], 0.05),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(13, 4))
    for ax, (title, value, target) in zip(axes, panels, strict=True):
        for workers in sorted({c["workers"] for c in cells}):
            mine = sorted((c for c in cells if c["workers"] == workers),
                          key=lambda c: c["partitions"])  # fmt: skip
            ax.plot([c["partitions"] for c in mine], [value(c) for c in mine], marker="o",
                    label=f"{workers} worker{'s' if workers > 1 else ''}")  # fmt: skip
        if target is not None:
            ax.axhline(target, color="grey", linestyle="--", label="target")
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted({c["partitions"] for c in cells}))
        ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.set_xlabel("partitions")
        ax.set_title(title)
        ax.set_ylim(bottom=0)
        ax.legend()
    fig.suptitle(f"Sendguard scale-out, {figures['date'][:10]}, {figures['commit']}")
    fig.tight_layout()
    fig.savefig(out, dpi=100)


def cli() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--partitions", type=int, nargs="+", default=[4, 32, 128])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--accounts", type=int, default=100, help="100 = about 236k events")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--live-per-s", type=int, default=500)
    parser.add_argument("--live-seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=1,
                        help="runs of each cell; the matrix shows each figure's median")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    figures = asyncio.run(main(args))
    print()
    print(HEADER)
    for found in figures["cells"]:
        print(row(Cell(**{**found, "backlog": Phase(**found["backlog"]),
                          "live": Phase(**found["live"])})))  # fmt: skip
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = f"{datetime.now(UTC):%Y%m%dT%H%M%S}"
    out = RESULTS / f"scale-{stamp}.json"
    out.write_text(json.dumps(figures, indent=2))
    print(f"\nwritten to {out}")
    try:
        chart = RESULTS / f"scale-{stamp}.png"
        draw(figures, chart)
        print(f"drawn to {chart}")
    except ImportError:
        print("no chart: matplotlib is missing (./dev bench --scale installs it)")


if __name__ == "__main__":
    cli()
