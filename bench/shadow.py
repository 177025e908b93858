"""``python -m bench.shadow``: what a shadow policy costs one worker.

One simulated month on a local broker; one worker reads it all, in a new consumer group
each time, alternately without and with ``SENDGUARD_SHADOW_POLICY`` (a candidate with
Wilson gating and stricter limits). Each run's live decisions must equal
``sendguard replay`` under the live policy, and the shadow's under the candidate. The
figure is the ratio of the two throughputs within each pair of runs (the machine is
shared: absolute rates move, ratios in one run much less).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import tempfile
import uuid
from pathlib import Path
from typing import Any

from bench.measure import show
from bench.run import (
    BENCH_POLICY,
    comparable,
    decisions_after,
    expected_decisions,
    load,
    month_file,
    sendguard,
)
from localkafka.broker import LocalBroker
from localkafka.probe import free_port
from offline.produce import to_kafka
from streams import topics as t
from streams.kafka_admin import end_offsets, topic_partitions
from streams.provision import ensure_topics
from streams.settings import Settings, default_home

ROOT = Path(__file__).resolve().parents[1]
CANDIDATE = BENCH_POLICY.replace('"bench"', '"bench-candidate"') + """
[marketing]
gating = "wilson"
[marketing.suspend]
hard_bounce_rate = 0.04
"""


async def _shadow_decisions(bootstrap: str, topic: str, before: dict[Any, int]) -> dict:
    return {d["decision_id"]: comparable(d) for d in await decisions_after(bootstrap, topic,
                                                                             before)}  # fmt: skip


async def main(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="sendguard-bench-shadow-"))
    broker = LocalBroker(home=default_home(), run_dir=work / "broker", port=free_port())
    broker.start()
    prefix = f"s{uuid.uuid4().hex[:4]}."
    try:
        path = month_file(args.accounts, args.seed)
        items = load(path)
        events = sum(1 for i in items if not isinstance(i, dict) or i["topic"] != "accounts")
        live, candidate = work / "live.toml", work / "candidate.toml"
        live.write_text(BENCH_POLICY)
        candidate.write_text(CANDIDATE)
        print("replay under both policies (the expected decisions) ...")
        expected = expected_decisions(path, live)
        expected_shadow = expected_decisions(path, candidate)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SENDGUARD_")}
        env.update(
            SENDGUARD_KAFKA_BOOTSTRAP=broker.bootstrap, SENDGUARD_TOPIC_PREFIX=prefix,
            SENDGUARD_POLICY=str(live), SENDGUARD_PARTITIONS=str(args.partitions),
            SENDGUARD_STANDBY_REPLICAS="0", SENDGUARD_LOG_LEVEL="warning", PYTHONPATH=str(ROOT),
        )  # fmt: skip
        shadow_env = dict(env, SENDGUARD_SHADOW_POLICY=str(candidate))
        await ensure_topics(Settings.from_env(shadow_env))
        print(f"producing {len(items):,} lines ...")
        await asyncio.to_thread(to_kafka, items, broker.bootstrap, prefix, progress=None)
        shadow_topic = prefix + t.SHADOW_DECISIONS
        tps = await topic_partitions(broker.bootstrap, [shadow_topic])
        pairs: list[tuple[int, int]] = []
        shadow_equal = True
        for round_ in range(args.rounds):
            print(f"round {round_ + 1}: one worker without a shadow ...")
            plain = await sendguard(1, env, work, events, expected, run=f"p{round_}")
            print(f"round {round_ + 1}: one worker with a shadow ...")
            before = await end_offsets(broker.bootstrap, tps)
            shadowed = await sendguard(1, shadow_env, work, events, expected, run=f"s{round_}")
            got = await _shadow_decisions(broker.bootstrap, shadow_topic, before)
            shadow_equal &= got == expected_shadow
            if not (plain["equals_replay"] and shadowed["equals_replay"] and got ==
                    expected_shadow):  # fmt: skip
                print("  !! decisions differ from the replay")
            pairs.append((plain["per_s"], shadowed["per_s"]))
            print(f"  {plain['per_s']:,} events/s without, {shadowed['per_s']:,} with "
                  f"({shadowed['per_s'] / plain['per_s']:.2f}); RSS {plain['rss_mb']} / "
                  f"{shadowed['rss_mb']} MB, state {plain['state_mb']} / "
                  f"{shadowed['state_mb']} MB")  # fmt: skip
        ratios = [with_ / without for without, with_ in pairs]
        return {
            "events": events,
            "rounds": args.rounds,
            "without_shadow_per_s": [a for a, _ in pairs],
            "with_shadow_per_s": [b for _, b in pairs],
            "ratio_with_over_without": [round(r, 3) for r in ratios],
            "median_ratio": round(statistics.median(ratios), 3),
            "live_decisions": len(expected),
            "shadow_decisions": len(expected_shadow),
            "shadow_equals_replay": shadow_equal,
        }
    finally:
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)


def cli() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.shadow", description=__doc__)
    parser.add_argument("--accounts", type=int, default=100, help="100 = about 250k events")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    figures = asyncio.run(main(parser.parse_args()))
    print()
    show(list(figures.items()))


if __name__ == "__main__":
    cli()
