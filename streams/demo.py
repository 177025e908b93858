"""``./dev run``: the main job on defaults, as a demo.

Starts a local broker (only when none answers at SENDGUARD_KAFKA_BOOTSTRAP) and a worker,
plays a few days of simulated mixed traffic (clean senders, purchased lists, complaints,
spam traps, blocklistings, campaigns gone bad, crm), prints the decisions as they are
made, and shows the metrics URL and an appeal/restore with curl. Runs until Ctrl-C, then
stops the worker and the broker it started.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

from aiokafka import AIOKafkaConsumer

from offline.produce import to_kafka
from offline.simulate import default_start, simulate
from streams.auth import mint_account_token
from streams.kafka_jars import KafkaSetupError
from streams.kafka_local import default_broker
from streams.settings import Secret, Settings, SettingsError

DEMO_SECRET = "demo-signing-secret"
DEMO_OPERATOR = "demo-operator-token"


def wait_ready(port: int, worker: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise SystemExit(f"demo: the worker exited with code {worker.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit("demo: the worker did not become ready")


async def show_decisions(settings: Settings, seconds: float) -> dict[str, str]:
    """Print decisions for a while; return a suspended account per channel."""
    consumer = AIOKafkaConsumer(
        settings.topic("sendguard.decisions"), bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest", enable_auto_commit=False,
    )  # fmt: skip
    await consumer.start()
    suspended: dict[str, str] = {}
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            for messages in (await consumer.getmany(timeout_ms=500)).values():
                for message in messages:
                    d = json.loads(message.value)
                    e = d["evidence"]
                    print(f"  {d['action']:<15} {d['account_id']}/{d['channel']:<9} "
                          f"{d['reason']:<28} sent={e['sent']} hard_bounces={e['hard_bounces']} "
                          f"rate={e['rate']} limit={e['limit']}")  # fmt: skip
                    if d["action"] == "suspend" and d["suspension_type"] == "deliverability":
                        suspended.setdefault(d["channel"], d["account_id"])
    finally:
        await consumer.stop()
    return suspended


class _Stop(Exception):
    """SIGTERM or SIGHUP: stop as on Ctrl-C."""


def _stop_on_signal(signum: int, frame: object) -> None:
    raise _Stop(signal.Signals(signum).name)


def main() -> int:
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _stop_on_signal)
    os.environ.setdefault("SENDGUARD_SECRET", DEMO_SECRET)
    os.environ.setdefault("SENDGUARD_OPERATOR_TOKEN", DEMO_OPERATOR)
    try:
        settings = Settings.from_env()
        broker = default_broker(settings.home, *settings.bootstrap_host_port)
        started_broker = False
        if broker.answers():
            print(f"demo: using the Kafka broker at {broker.bootstrap}")
        else:
            print(f"demo: starting Kafka at {broker.bootstrap} ...")
            print(f"demo: Kafka up in {broker.start():.1f} s")
            started_broker = True
    except (SettingsError, KafkaSetupError) as exc:
        print(f"demo: error: {exc}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, _Stop):
        return 0
    worker = subprocess.Popen([sys.executable, "-m", "streams.cli", "worker"], env=os.environ)
    try:
        wait_ready(settings.web_port, worker)
        print("demo: worker ready; playing 5 days of traffic for 60 accounts ...")
        items = list(simulate(60, seed=7, start=default_start(5), days=5, duplicates=0.005,
                              malformed=0.001))  # fmt: skip
        to_kafka(items, settings.kafka_bootstrap, settings.topic_prefix)
        print("demo: decisions as they are made:")
        suspended = asyncio.run(show_decisions(settings, seconds=45))
        port = settings.web_port
        print(f"\ndemo: metrics  http://127.0.0.1:{port}/metrics")
        print(f"demo: health   http://127.0.0.1:{port}/healthz")
        account = suspended.get("marketing") or suspended.get("crm")
        if account:
            token = mint_account_token(Secret(os.environ["SENDGUARD_SECRET"]), account)
            channel = "marketing" if suspended.get("marketing") == account else "crm"
            print(f"""demo: appeal and restore {account} ({channel}) yourself:
  curl -s -H 'Authorization: Bearer {token}' http://127.0.0.1:{port}/accounts/{account}
  curl -s -X POST -H 'Authorization: Bearer {token}' -H 'Content-Type: application/json' \\
    http://127.0.0.1:{port}/accounts/{account}/appeals -d '{{"channel": "{channel}",
    "opt_out_list_imported": true, "lists_cleaned": true, "contact_source": "sign-up form",
    "emailed_within_last_year": true, "details": "removed the bought list"}}'
  curl -s -X POST -H 'Authorization: Bearer {os.environ["SENDGUARD_OPERATOR_TOKEN"]}' \\
    -H 'Content-Type: application/json' http://127.0.0.1:{port}/appeals/APPEAL_ID/decision \\
    -d '{{"decision": "restore", "note": "verified"}}'
  (a free-tier account's marketing appeal is refused with 403, as POLICY.md says)""")
        print("demo: running; Ctrl-C stops the worker and the broker.")
        return worker.wait()
    except (KeyboardInterrupt, _Stop):
        return 0
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
        if started_broker:
            broker.stop()
            print("demo: Kafka stopped")


if __name__ == "__main__":
    sys.exit(main())
