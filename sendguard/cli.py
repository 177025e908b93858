"""The ``sendguard`` command: broker management, the worker, tokens, replay and simulation.

Every failure the user can cause ends in one clear line on stderr and a non-zero exit
code (2 for bad usage, 1 for everything else), never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from localkafka.broker import default_broker
from localkafka.cluster import LocalCluster, cluster_ports, default_cluster
from localkafka.jars import KAFKA_VERSION, KafkaSetupError
from schemas.errors import SendguardError
from streams.settings import Settings

if TYPE_CHECKING:
    from offline.window import TimeWindow


class CliError(SendguardError):
    """A problem to report to the user as one message, with exit code 1."""


def _kafka(args: argparse.Namespace, settings: Settings) -> int:
    addresses = settings.bootstrap_addresses
    brokers = args.brokers if args.brokers is not None else len(addresses)
    if brokers < 1:
        raise CliError(f"--brokers must be at least 1, got {brokers}")
    if args.action == "up":
        if brokers > 1:
            return _cluster_up(args, settings, brokers)
    elif _our_cluster(settings).running() or len(addresses) > 1:
        return _cluster_down(settings) if args.action == "down" else _cluster_status(settings)
    broker = default_broker(settings.home, *settings.bootstrap_host_port)
    if args.action == "up":
        if broker.answers():
            owner = "ours" if broker.pid() else "not started by sendguard"
            print(f"kafka: a broker already answers at {broker.bootstrap} ({owner}); using it")
            return 0
        reused = broker.formatted() and not args.fresh
        seconds = broker.start(fresh=args.fresh)
        data = f"data kept in {broker.data_dir}" if reused else f"new cluster in {broker.data_dir}"
        print(
            f"kafka: Apache Kafka {KAFKA_VERSION} up at {broker.bootstrap} in {seconds:.1f} s "
            f"(pid {broker.pid()}, {data}, log {broker.log_path})"
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


def _our_cluster(settings: Settings, brokers: int | None = None) -> LocalCluster:
    """The cluster of ``sendguard kafka up --brokers N``: its nodes on the ports of
    SENDGUARD_KAFKA_BOOTSTRAP when it lists them all, else on consecutive ports from its
    first; status and down find the ports of the last start in its run directory."""
    addresses = settings.bootstrap_addresses
    host, port = addresses[0]
    run_dir = settings.home / "cluster"
    if brokers is None:
        ports = cluster_ports(run_dir) or [p for _, p in addresses]
    elif len(addresses) == 1:
        ports = list(range(port, port + brokers))
    elif len(addresses) == brokers:
        if len({h for h, _ in addresses}) != 1:
            raise CliError("a local cluster runs on one host: SENDGUARD_KAFKA_BOOTSTRAP "
                           f"names several ({settings.kafka_bootstrap})")  # fmt: skip
        ports = [p for _, p in addresses]
    else:
        raise CliError(
            f"--brokers {brokers} but SENDGUARD_KAFKA_BOOTSTRAP lists {len(addresses)} "
            f"brokers ({settings.kafka_bootstrap}): list {brokers}, or only the first"
        )
    return default_cluster(settings.home, host, ports)


def _cluster_up(args: argparse.Namespace, settings: Settings, brokers: int) -> int:
    cluster = _our_cluster(settings, brokers)
    if cluster.answers():
        owner = "ours" if cluster.running() else "not started by sendguard"
        print(f"kafka: a {brokers}-node cluster already answers at {cluster.bootstrap} "
              f"({owner}); using it")  # fmt: skip
        return 0
    reused = cluster.formatted() and not args.fresh
    seconds = cluster.start(fresh=args.fresh)
    data = "data kept" if reused else "new cluster"
    print(
        f"kafka: Apache Kafka {KAFKA_VERSION}, {brokers} nodes up in {seconds:.1f} s "
        f"({data} in {cluster.run_dir}, logs node-*/broker.log)\n"
        f"kafka: export SENDGUARD_KAFKA_BOOTSTRAP={cluster.bootstrap}"
    )
    return 0


def _cluster_status(settings: Settings) -> int:
    cluster = _our_cluster(settings)
    up = 0
    for node in cluster.nodes:
        pid = node.pid()
        answers = node.answers()
        up += answers
        owner = f"pid {pid}" if pid else "not started by sendguard"
        print(f"kafka: node {node.node_id} {'up' if answers else 'down'} at {node.bootstrap} "
              f"({owner})")  # fmt: skip
    print(f"kafka: {up} of {len(cluster.nodes)} nodes up ({cluster.bootstrap})")
    return 0 if up == len(cluster.nodes) else 1


def _cluster_down(settings: Settings) -> int:
    cluster = _our_cluster(settings)
    stopped = cluster.stop()
    if stopped:
        print(f"kafka: {stopped} node(s) of the cluster at {cluster.bootstrap} stopped")
    else:
        print(f"kafka: no cluster node started by sendguard is running ({cluster.run_dir})")
    return 0


def _status(args: argparse.Namespace, settings: Settings) -> int:
    from sendguard.status import fetch_status, render

    host = "127.0.0.1" if settings.web_host in ("0.0.0.0", "") else settings.web_host
    url = args.url or f"http://{host}:{settings.web_port}"
    status, answer = fetch_status(url)
    print(json.dumps(json.loads(answer), indent=2) if args.json else render(status, url))
    return 0 if status.ready else 1


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    from sendguard.worker import run_worker

    return run_worker(settings)


def _gate(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio
    import logging

    from gate.service import serve
    from gate.settings import GateSettings, GateSettingsError

    try:
        gate_settings = GateSettings.from_env()
    except GateSettingsError as exc:
        raise CliError(str(exc)) from None
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] [%(levelname)s] %(message)s")
    try:
        asyncio.run(serve(gate_settings))
    except OSError as exc:  # the port is taken, or the address is not this host's
        raise CliError(f"cannot listen on {gate_settings.gate_host}:{gate_settings.gate_port}: "
                       f"{exc.strerror or exc}") from None  # fmt: skip
    return 0


def _token(args: argparse.Namespace, settings: Settings) -> int:
    words = args.words
    if len(words) == 2 and words[0] == "revoke":
        return _revoke(words[1], settings)
    if len(words) != 1:
        raise CliError("usage: sendguard token ACCOUNT_ID [--ttl DAYS] | sendguard token "
                       "revoke ACCOUNT_ID|TOKEN_ID|TOKEN")  # fmt: skip
    from api.tokens import Keyring, mint_account_token
    from schemas.fields import ident

    if not settings.secret:
        raise CliError("SENDGUARD_SECRET is not set; it is the key that signs account tokens")
    account_id = ident("account_id", words[0])
    days = settings.token_ttl_days if args.ttl is None else args.ttl
    if days < 1:
        raise CliError(f"--ttl must be at least 1 day, got {days}")
    token, claim = mint_account_token(Keyring.of(settings), account_id, timedelta(days=days))
    expires = datetime.fromtimestamp((claim.expires_ms or 0) / 1000, UTC)
    print(f"sendguard: token {claim.token_id} for {account_id}, valid until "
          f"{expires:%Y-%m-%d %H:%M} UTC", file=sys.stderr)  # fmt: skip
    print(token)
    return 0


def _revoke(target: str, settings: Settings) -> int:
    import asyncio

    from api.revocations import publish, revocation_record
    from api.tokens import token_id_of
    from streams.provision import ensure_topics

    target = token_id_of(target) or target
    if target.startswith(("op_", "acct_")):
        raise CliError("operator tokens are revoked with `sendguard operator remove NAME`; "
                       "first-format account tokens by revoking their account")  # fmt: skip
    key, value = revocation_record(target, by=f"cli:{os.environ.get('USER', 'unknown')}")
    asyncio.run(ensure_topics(settings))
    topic = settings.topic_names.token_revocations
    asyncio.run(publish(settings.kafka_bootstrap, topic, key, value))
    what = "token" if key.startswith(b"token:") else "every token issued so far to account"
    print(f"sendguard: revoked {what} {target} (on {topic})")
    return 0


def _operator(args: argparse.Namespace, settings: Settings) -> int:
    from api.operators import ROLES, add_operator, list_operators, remove_operator

    path = settings.operators_file
    if path is None:
        raise CliError("SENDGUARD_OPERATORS_FILE is not set; it names the operators file")
    if args.action == "add":
        if not args.name or not args.role:
            raise CliError("usage: sendguard operator add NAME --role ROLE")
        token = add_operator(path, args.name, args.role)
        print(f"sendguard: operator {args.name} ({args.role}) added to {path}; this is the "
              "only time its token is shown", file=sys.stderr)  # fmt: skip
        print(token)
    elif args.action == "remove":
        if not args.name:
            raise CliError("usage: sendguard operator remove NAME")
        remove_operator(path, args.name)
        print(f"sendguard: operator {args.name} removed; its token no longer works")
    else:
        for operator, created in list_operators(path):
            print(f"{operator.name}\t{operator.role}\t{created}\t{ROLES[operator.role]}")
    return 0


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    from offline.inputs import FileInput
    from offline.kafka_input import KafkaInput
    from offline.replay import replay
    from policy import load_policy

    source: FileInput | KafkaInput
    if args.from_kafka:
        if args.file is not None:
            raise CliError(f"give an event file or --from-kafka, not both ({args.file!r})")
        source = KafkaInput(
            settings.kafka_bootstrap, settings.topic_prefix, _window(args.since, args.until)
        )
    else:
        if args.file is None:
            raise CliError("give an event file, or --from-kafka to read the input topics")
        if args.since is not None or args.until is not None:
            raise CliError("--since and --until select from the input topics: add --from-kafka")
        if not Path(args.file).is_file():
            raise CliError(f"{args.file}: no such file")
        source = FileInput(args.file)
    if args.allowance_seconds < 0:
        raise CliError("--allowance-seconds must not be negative")
    policy = load_policy(args.policy or settings.policy_path)
    other = load_policy(args.compare) if args.compare else None
    try:
        with source:  # connects to Kafka, for --from-kafka
            replay(
                source,
                policy,
                allowance=timedelta(seconds=args.allowance_seconds),
                progress=not args.quiet,
                force_progress=args.progress,
                summary=not args.quiet,
                compare_policy=other,
                report_path=args.report,
            )
    except BrokenPipeError:
        # Whoever read stdout went away (``| head``): stop quietly, as cat would.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def _iso_time(text: str, option: str) -> datetime:
    """An ISO date or time from the command line; UTC when it has no offset."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise CliError(f"{option}: not an ISO date or time: {text!r}") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _window(since: str | None, until: str | None) -> TimeWindow:
    from offline.window import TimeWindow

    start = None if since is None else _iso_time(since, "--since")
    end = None if until is None else _iso_time(until, "--until")
    if start is not None and end is not None and start >= end:
        raise CliError(f"--since ({since}) must be before --until ({until})")
    return TimeWindow(start, end)


def _start_time(text: str | None, days: int) -> datetime:
    from offline.simulate import default_start

    if text is None:
        return default_start(days)
    return _iso_time(text, "--start")


def _simulate(args: argparse.Namespace, settings: Settings) -> int:
    from offline.profiles import MIXES
    from offline.simulate import simulate, to_kafka, write_jsonl

    profiles = MIXES.get(args.mix)
    if profiles is None:
        raise CliError(f"--mix: unknown mix {args.mix!r}; known: {', '.join(MIXES)}")
    if args.ordered and args.out is not None:
        raise CliError("--ordered: only with --kafka (a file keeps the order anyway)")
    start = _start_time(args.start, args.days)
    try:
        events = simulate(
            args.accounts, args.seed, start=start, days=args.days,
            duplicates=args.duplicates, malformed=args.malformed, profiles=profiles,
        )  # fmt: skip
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    if args.out is not None:
        try:
            lines = write_jsonl(events, args.out)
        except OSError as exc:
            raise CliError(f"{args.out}: cannot write: {exc.strerror or exc}") from exc
        print(f"simulate: {lines:,} lines written to {args.out}", file=sys.stderr)
        return 0
    import asyncio

    from streams.provision import ensure_topics

    asyncio.run(ensure_topics(settings))
    counts = to_kafka(events, settings.kafka_bootstrap, settings.topic_prefix,
                      ordered=args.ordered)  # fmt: skip
    for topic, count in sorted(counts.items()):
        print(f"{settings.topic(topic)}\t{count}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    settings = "\n".join(f"  {name:<30} {doc}" for name, doc in Settings.variables().items())
    parser = argparse.ArgumentParser(
        prog="sendguard",
        description="Streaming email deliverability guard.",
        epilog=f"settings, from the environment:\n{settings}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    kafka = sub.add_parser("kafka", help="start, stop or inspect a local Kafka broker")
    kafka.add_argument("action", choices=["up", "down", "status"])
    kafka.add_argument(
        "--fresh", action="store_true",
        help="up: delete the broker's data first and start an empty cluster (topics, "
        "offsets and table changelogs are gone; delete the workers' SENDGUARD_DATA_DIR too)",
    )  # fmt: skip
    kafka.add_argument(
        "--brokers", type=int, metavar="N",
        help="up: start an N-node cluster (each node broker and controller) on the ports of "
        "SENDGUARD_KAFKA_BOOTSTRAP, or consecutive ports from its first (default: 1, or as "
        "many as it lists)",
    )  # fmt: skip
    kafka.set_defaults(run=_kafka)

    worker = sub.add_parser("worker", help="run a Sendguard worker (Faust)")
    worker.set_defaults(run=_worker)

    status = sub.add_parser(
        "status",
        help="a running worker's health, lag, watermarks, held events, last hour's "
        "decisions and dead letters, and policy versions (exit 1 when not ready)",
    )
    status.add_argument(
        "--url", help="the worker's HTTP address (default: http://SENDGUARD_WEB_HOST:"
        "SENDGUARD_WEB_PORT)",
    )  # fmt: skip
    status.add_argument("--json", action="store_true", help="the worker's answer as JSON")
    status.set_defaults(run=_status)

    gate = sub.add_parser(
        "gate",
        help="serve: run the sender gate as an HTTP service for an MTA (SENDGUARD_GATE_*)",
    )
    gate.add_argument("action", choices=["serve"])
    gate.set_defaults(run=_gate)

    token = sub.add_parser(
        "token",
        help="print a new bearer token for an account, or revoke tokens",
        usage="sendguard token ACCOUNT_ID [--ttl DAYS] | sendguard token revoke "
        "ACCOUNT_ID|TOKEN_ID|TOKEN",
    )
    token.add_argument("words", nargs="+", metavar="ACCOUNT_ID | revoke TARGET")
    token.add_argument(
        "--ttl", type=int, metavar="DAYS",
        help="days the token is valid (default: SENDGUARD_TOKEN_TTL_DAYS, 90)",
    )  # fmt: skip
    token.set_defaults(run=_token)

    operator = sub.add_parser(
        "operator", help="add, remove or list the named operators (SENDGUARD_OPERATORS_FILE)"
    )
    operator.add_argument("action", choices=["add", "remove", "list"])
    operator.add_argument("name", nargs="?", help="the operator's name (add, remove)")
    operator.add_argument(
        "--role", help="add: viewer (reads), decider (also decides appeals) or admin"
    )
    operator.set_defaults(run=_operator)

    replay = sub.add_parser(
        "replay",
        help="run the policy over a JSON-lines event file or the input topics, print decisions",
    )
    replay.add_argument(
        "file", nargs="?", help="JSON lines: one input event plus its 'topic' per line"
    )
    replay.add_argument(
        "--from-kafka", action="store_true",
        help="read the input topics at SENDGUARD_KAFKA_BOOTSTRAP (SENDGUARD_TOPIC_PREFIX) "
        "instead of a file; no consumer group, nothing committed",
    )  # fmt: skip
    replay.add_argument(
        "--since", metavar="ISO",
        help="with --from-kafka: events that occurred at or after this date or time "
        "(UTC if no offset)",
    )  # fmt: skip
    replay.add_argument(
        "--until", metavar="ISO",
        help="with --from-kafka: events that occurred before this date or time (UTC if no offset)",
    )  # fmt: skip
    replay.add_argument("--policy", help="policy TOML (default: SENDGUARD_POLICY or built-in)")
    replay.add_argument("--compare", metavar="POLICY", help="also run this policy and compare")
    replay.add_argument(
        "--report", metavar="OUT.html",
        help="write an HTML report: suspended accounts, or with --compare the accounts that differ",
    )  # fmt: skip
    replay.add_argument(
        "--allowance-seconds", type=float, default=10.0, metavar="N",
        help="disorder tolerated within a topic before an event counts as late (default 10)",
    )  # fmt: skip
    replay.add_argument(
        "--quiet", action="store_true", help="decisions only: no progress, no summary"
    )
    replay.add_argument("--progress", action="store_true", help="progress bar even when not a TTY")
    replay.set_defaults(run=_replay)

    simulate = sub.add_parser("simulate", help="generate synthetic MTA events")
    simulate.add_argument("--accounts", type=int, required=True)
    simulate.add_argument("--seed", type=int, required=True)
    simulate.add_argument("--days", type=int, default=30)
    simulate.add_argument("--start", help="ISO date or time (UTC if no offset); default: DAYS ago")
    simulate.add_argument("--duplicates", type=float, default=0.0, help="share re-sent (0-1)")
    simulate.add_argument("--malformed", type=float, default=0.0, help="share of broken lines")
    simulate.add_argument(
        "--mix", default="default", metavar="NAME",
        help="the accounts' profiles: default (a realistic month) or gating (borderline "
        "senders and bad lists, for the gating study)",
    )  # fmt: skip
    target = simulate.add_mutually_exclusive_group(required=True)
    target.add_argument("--out", metavar="FILE", help="write JSON lines to FILE")
    target.add_argument(
        "--kafka", action="store_true",
        help="produce to the input topics at SENDGUARD_KAFKA_BOOTSTRAP (SENDGUARD_TOPIC_PREFIX)",
    )  # fmt: skip
    simulate.add_argument(
        "--ordered", action="store_true",
        help="with --kafka: write each account's events in event-time order across topics, "
        "for a worker that reads while they are written to decide as the replay (slower)",
    )  # fmt: skip
    simulate.set_defaults(run=_simulate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        return int(args.run(args, settings))
    except (SendguardError, KafkaSetupError) as exc:
        print(f"sendguard: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
