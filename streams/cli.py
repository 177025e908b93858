"""The ``sendguard`` command: broker management, the worker, tokens, replay and simulation.

Every failure the user can cause ends in one clear line on stderr and a non-zero exit
code (2 for bad usage, 1 for everything else), never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from policy import PolicyError
from streams.kafka_jars import KAFKA_VERSION, KafkaSetupError
from streams.kafka_local import default_broker
from streams.provision import ProvisionError
from streams.settings import Settings, SettingsError


class CliError(Exception):
    """A problem to report to the user as one message, with exit code 1."""


def _kafka(args: argparse.Namespace, settings: Settings) -> int:
    broker = default_broker(settings.home, *settings.bootstrap_host_port)
    if args.action == "up":
        if broker.answers():
            owner = "ours" if broker.pid() else "not started by sendguard"
            print(f"kafka: a broker already answers at {broker.bootstrap} ({owner}); using it")
            return 0
        seconds = broker.start()
        print(
            f"kafka: Apache Kafka {KAFKA_VERSION} up at {broker.bootstrap} in {seconds:.1f} s "
            f"(pid {broker.pid()}, log {broker.log_path})"
        )
        return 0
    if args.action == "down":
        if broker.stop():
            print(f"kafka: broker at {broker.bootstrap} stopped")
        else:
            print(f"kafka: no broker started by sendguard is running ({broker.run_dir})")
        return 0
    pid = broker.pid()
    answers = broker.answers()
    state = "up" if answers else "down"
    owner = f"pid {pid}" if pid else "not started by sendguard"
    print(f"kafka: {state} at {broker.bootstrap} ({owner})")
    return 0 if answers else 1


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    from streams.worker import run_worker

    return run_worker(settings)


def _token(args: argparse.Namespace, settings: Settings) -> int:
    from streams.auth import mint_account_token

    if not settings.secret:
        raise CliError("SENDGUARD_SECRET is not set; it is the key that signs account tokens")
    print(mint_account_token(settings.secret, args.account_id))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sendguard", description="Streaming email deliverability guard."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    kafka = sub.add_parser("kafka", help="start, stop or inspect a local Kafka broker")
    kafka.add_argument("action", choices=["up", "down", "status"])
    kafka.set_defaults(run=_kafka)

    worker = sub.add_parser("worker", help="run a Sendguard worker (Faust)")
    worker.set_defaults(run=_worker)

    token = sub.add_parser("token", help="print an account's bearer token")
    token.add_argument("account_id")
    token.set_defaults(run=_token)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        return int(args.run(args, settings))
    except (CliError, SettingsError, KafkaSetupError, ProvisionError, PolicyError) as exc:
        print(f"sendguard: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
