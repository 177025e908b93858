"""``./dev run``: the main job on defaults, as a demo.

Starts a local broker (only when none answers at SENDGUARD_KAFKA_BOOTSTRAP; it keeps its
data between runs) and a worker (its log goes to a file), plays five days of simulated
mixed traffic for 60 new accounts (clean senders, purchased lists, complaints, spam traps,
blocklistings, campaigns gone bad, crm), prints each decision with the evidence that
matters for its reason, then the accounts by state, the metrics and health links and an
appeal/restore with curl. Runs until Ctrl-C, SIGTERM or SIGHUP, then stops the worker and
the broker it started. Run it again and again: each run plays new accounts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from api.operators import add_operator
from api.tokens import Keyring, mint_account_token
from localkafka.broker import LocalBroker, default_broker
from localkafka.jars import KafkaSetupError
from offline.produce import to_kafka
from offline.simulate import default_start, simulate
from schemas.errors import SendguardError
from streams.kafka_admin import end_offsets, topic_partitions
from streams.metrics import scrape_totals
from streams.settings import Settings

DEMO_OPERATOR = "demo-admin"
ACCOUNTS = 60
DAYS = 5
#: Longest wait for the worker to judge the played traffic.
JUDGE_TIMEOUT_S = 120.0


class _Stop(Exception):
    """SIGTERM or SIGHUP: stop as on Ctrl-C."""


def _stop_on_signal(signum: int, frame: object) -> None:
    raise _Stop(signal.Signals(signum).name)


def say(text: str) -> None:
    print(f"demo: {text}", flush=True)


def evidence_text(decision: dict[str, Any]) -> str:
    """The figures that matter for the decision's reason."""
    e, reason = decision["evidence"], decision["reason"]
    rate = e.get("rate")
    if decision["action"] == "cancel_campaign":
        return (f"campaign {decision['campaign_id']}: {e['hard_bounces']} hard bounces / "
                f"{e['sent']} sent = {rate:.1%} > {e['limit']:.0%}")  # fmt: skip
    if reason in ("hard_bounce_rate", "spam_report_rate", "unsubscribe_rate"):
        field = {"hard_bounce_rate": "hard_bounces", "spam_report_rate": "spam_reports",
                 "unsubscribe_rate": "unsubscribes"}[reason]  # fmt: skip
        return (f"{e[field]} {field.replace('_', ' ')} / {e['sent']} sent = {rate:.2%} "
                f"> {e['limit']:.2%}")  # fmt: skip
    if reason == "abuse_complaint":
        return f"{e['abuse_complaints']} abuse-desk complaint(s) (limit {e['limit']:.0f})"
    if reason == "spam_trap":
        return "spam-trap hit (a fraud signal)"
    if reason == "blocklist":
        return f"{e['limit']:.0f} blocklisting(s) in force at once"
    if reason == "repeated_cancelled_campaigns":
        return f"{e['limit']:.0f} campaigns cancelled this month"
    return reason


def wait_ready(port: int, worker: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
            raise SystemExit(f"demo: the worker exited with code {worker.returncode}; "
                             f"the end of {log}:\n{tail}")  # fmt: skip
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"demo: the worker did not become ready in {timeout:.0f} s; see {log}")


async def decisions_end(settings: Settings) -> dict[TopicPartition, int]:
    """The end offsets of the decisions topic (the worker created it before it was ready)."""
    topic = settings.topic("sendguard.decisions")
    tps = await topic_partitions(settings.kafka_bootstrap, [topic])
    if not tps:
        raise SystemExit(f"demo: the topic {topic} is not on the broker")
    return await end_offsets(settings.kafka_bootstrap, tps)


async def show_decisions(
    settings: Settings, start: dict[TopicPartition, int], expected_events: int
) -> list[dict[str, Any]]:
    """Print this run's decisions until the worker has judged every event played."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap,
                                enable_auto_commit=False)  # fmt: skip
    await consumer.start()
    consumer.assign(list(start))
    for tp, offset in start.items():
        consumer.seek(tp, offset)
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + JUDGE_TIMEOUT_S
    quiet_since = None
    try:
        while time.monotonic() < deadline:
            for messages in (await consumer.getmany(timeout_ms=500)).values():
                for message in messages:
                    d = json.loads(message.value)
                    seen.append(d)
                    print(f"  {d['action']:<15} {d['account_id']}/{d['channel']:<9} "
                          f"{d['reason']:<28} {evidence_text(d)}", flush=True)  # fmt: skip
            totals = await asyncio.to_thread(scrape_totals, settings.web_port)
            judged = totals.get("sendguard_events_total", 0) >= expected_events
            if judged and totals.get("sendguard_held_events", 0) == 0:
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since > 2.0:  # the last decisions arrive
                    break
    finally:
        await consumer.stop()
    return seen


def summary(decisions: list[dict[str, Any]], accounts: int) -> None:
    """Accounts by state per channel, from this run's decisions (all start active)."""
    final: dict[tuple[str, str], str] = {}
    for d in decisions:
        key = (d["account_id"], d["channel"])
        if d["action"] in ("warn", "suspend") and final.get(key) != "suspended":
            final[key] = "suspended" if d["action"] == "suspend" else "warned"
    for channel in ("marketing", "crm"):
        states = Counter(state for (_, c), state in final.items() if c == channel)
        active = accounts - sum(states.values())
        say(f"  {channel:<9} active {active}, warned {states['warned']}, "
            f"suspended {states['suspended']}")  # fmt: skip


def curl_help(settings: Settings, operator_token: str, decisions: list[dict[str, Any]]) -> None:
    port = settings.web_port
    suspended = [
        d for d in decisions
        if d["action"] == "suspend" and d["suspension_type"] == "deliverability"
    ]  # fmt: skip
    say(f"metrics  http://127.0.0.1:{port}/metrics")
    say(f"health   http://127.0.0.1:{port}/healthz")
    say(f"status   .venv/bin/sendguard status --url http://127.0.0.1:{port}")
    say(f"console  http://127.0.0.1:{port}/console/login (log in with the operator token above)")
    say("dashboard: docker compose -f docker-compose.kafka.yml --profile monitoring up, then "
        "Grafana at http://127.0.0.1:3000 (monitoring/grafana-dashboard.json; where Docker runs)")
    if not suspended:
        return
    account, channel = suspended[0]["account_id"], suspended[0]["channel"]
    say(f"case     http://127.0.0.1:{port}/console/accounts/{account}")
    ttl = timedelta(days=settings.token_ttl_days)
    token, _ = mint_account_token(Keyring.of(settings), account, ttl)
    print(f"""demo: appeal and restore {account} ({channel}) yourself:
  curl -s -H 'Authorization: Bearer {token}' http://127.0.0.1:{port}/accounts/{account}
  curl -s -X POST -H 'Authorization: Bearer {token}' -H 'Content-Type: application/json' \\
    http://127.0.0.1:{port}/accounts/{account}/appeals -d '{{"channel": "{channel}",
    "opt_out_list_imported": true, "lists_cleaned": true, "contact_source": "sign-up form",
    "emailed_within_last_year": true, "details": "removed the bought list"}}'
  curl -s -X POST -H 'Authorization: Bearer {operator_token}' \\
    -H 'Content-Type: application/json' http://127.0.0.1:{port}/appeals/APPEAL_ID/decision \\
    -d '{{"decision": "restore", "note": "verified"}}'
  (a free-tier account's marketing appeal is refused with 403, as POLICY.md says)""",
          flush=True)  # fmt: skip


def demo_operator(settings: Settings, env: dict[str, str]) -> str:
    """A new admin for this run, in an operators file of the demo's own (unless the user
    named one), and the signing key: both printed, as a user would be given them."""
    path = settings.operators_file
    if path is None:
        path = settings.data_dir / "demo-operators.json"
        path.unlink(missing_ok=True)
        env["SENDGUARD_OPERATORS_FILE"] = str(path)
    name = f"{DEMO_OPERATOR}-{datetime.now(UTC):%m%d%H%M%S}"
    token = add_operator(path, name, "admin")
    say(f"SENDGUARD_SECRET of this run: {settings.secret.value}")
    say(f"operator {name} (admin) in {path}; its token: {token}")
    return token


def play(
    settings: Settings, operator_token: str, worker: subprocess.Popen[bytes], accounts: int,
    days: int,
) -> int:  # fmt: skip
    run = datetime.now(UTC).strftime("%m%d%H%M%S")
    items = list(simulate(accounts, seed=int(run), start=default_start(days), days=days,
                          duplicates=0.005, malformed=0.001, prefix=f"demo{run}"))  # fmt: skip
    events = sum(1 for i in items if not (isinstance(i, dict) and i["topic"] == "accounts"))
    start = asyncio.run(decisions_end(settings))
    say(f"playing {days} days of traffic for {accounts} new accounts (demo{run}-*): "
        f"{len(items):,} messages ...")  # fmt: skip
    # The worker reads as this writes: in order per account, it decides as the replay.
    to_kafka(items, settings.kafka_bootstrap, settings.topic_prefix, progress=None, ordered=True)
    say("decisions, as the worker makes them:")
    decisions = asyncio.run(show_decisions(settings, start, events))
    say(f"{len(decisions)} decisions for {accounts} accounts; accounts by state:")
    summary(decisions, accounts)
    curl_help(settings, operator_token, decisions)
    say("running; Ctrl-C stops the worker and the broker this run started.")
    return worker.wait()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="./dev run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=ACCOUNTS,
                        help=f"accounts to simulate (default {ACCOUNTS})")  # fmt: skip
    parser.add_argument("--days", type=int, default=DAYS,
                        help=f"days of their traffic to play (default {DAYS})")  # fmt: skip
    args = parser.parse_args(argv)
    if args.accounts < 1 or not 1 <= args.days <= 31:
        parser.error("--accounts must be at least 1 and --days between 1 and 31")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _stop_on_signal)
    # A random key of this run's, unless the user set one; the worker gets the same.
    env = {"SENDGUARD_SECRET": secrets.token_urlsafe(32)}
    env.update({name: value for name, value in os.environ.items() if value})
    broker: LocalBroker | None = None
    worker: subprocess.Popen[bytes] | None = None
    try:
        settings = Settings.from_env(env)
        local = default_broker(settings.home, *settings.bootstrap_host_port)
        if local.answers():
            say(f"using the Kafka broker at {local.bootstrap}")
        elif len(settings.bootstrap_addresses) > 1:
            # The demo starts a single node only; a cluster is `sendguard kafka up --brokers N`.
            raise KafkaSetupError(f"no broker answers at {local.bootstrap} (the first of "
                                  f"{settings.kafka_bootstrap}): start the cluster first, "
                                  "with `sendguard kafka up --brokers N`")  # fmt: skip
        else:
            kept = "its data kept from the last run" if local.formatted() else "a new cluster"
            say(f"starting Kafka at {local.bootstrap} ({kept}) ...")
            broker = local
            say(f"Kafka up in {broker.start():.1f} s")
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        operator_token = demo_operator(settings, env)
        log = settings.data_dir / "worker.log"
        with log.open("ab") as out:
            command = [sys.executable, "-m", "sendguard.cli", "worker"]
            worker = subprocess.Popen(command, env=env, stdout=out, stderr=out)
        say(f"worker starting (pid {worker.pid}); its log: {log}")
        wait_ready(settings.web_port, worker, log, timeout=180)
        return play(settings, operator_token, worker, args.accounts, args.days)
    except (SendguardError, KafkaSetupError) as exc:
        print(f"demo: error: {exc}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, _Stop):
        return 0
    finally:
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
        if broker is not None:
            broker.stop()
            say("Kafka stopped (its data stays for the next run)")


if __name__ == "__main__":
    sys.exit(main())
