"""Sendguard's monthly counting and limits, written with quix-streams: a benchmark peer.

Runs in its own virtualenv (``bench/peers/peer_env.py``), never imports Sendguard, and
reads only the policy TOML. The pipeline mirrors Sendguard's two hops:

    7 input topics ──concat (time-aligned)──► validate ──group_by(account_id)──►
        repartition topic ──► guard (stateful, RocksDB) ──► <prefix>peer.decisions

* **Ingest**: the seven ``email.*`` topics are concatenated into one StreamingDataFrame.
  quix aligns concatenated topics by record timestamp per partition number, here the
  append time, so the topics are merged in publishing order (close to event time when
  MTAs publish as things happen; see NO_EVENT_TIME_EXTRACTOR). A value that is not JSON
  never reaches the dataframe (the consumer's ``on_consumer_error`` counts and skips it);
  a value that is JSON but breaks the contract (not an object, a missing or mistyped
  field, a timestamp without offset, outside the late/future window) is counted and
  filtered out (events only too old for ``late_grace_days`` are counted as ``late``).
* **Re-key**: ``group_by("account_id")`` repartitions through a quix-managed topic, so an
  account's events meet in one state partition whatever key or partition a producer used
  (Sendguard does the same through ``sendguard.events``).
* **Guard**: one stateful ``apply`` per event. State per account (quix scopes state to
  the message key): ``acct`` holds both channels' month counters, campaign counters,
  status, issued warnings and blocklistings in force (one row, like Sendguard's); and
  ``seen/<event_id>`` (TTL = grace + 2 days on the record timestamp, like Sendguard's
  seen-events table) de-duplicates MTA retries. The rules are Sendguard's ``policy/rules.py`` and
  ``policy/engine.py`` restated, decision ids included.

It stops by itself once it has consumed ``--expect`` input messages and every valid one
has been through the guard, then prints one JSON line on stdout.

    python bench/peers/quix_guard.py --bootstrap 127.0.0.1:9092 --prefix p. \
        --expect 84553 --state-dir /tmp/quix-state [--policy FILE]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import re
import sys
import time
import tomllib
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import quixstreams
from quixstreams import Application, State
from quixstreams.models.serializers.exceptions import SerializationError

# ---------------------------------------------------------------------------------------
# The contract (CONTRACT.md, "Input topics")

TOPIC_KINDS: dict[str, str] = {
    "email.delivery": "delivery",
    "email.bounce": "bounce",
    "email.unsubscribe": "unsubscribe",
    "email.spam-report": "spam_report",
    "email.abuse-desk": "abuse_complaint",
    "email.spam-trap": "spam_trap",
    "email.blocklist": "blocklist",
}
RECIPIENT_REQUIRED = frozenset({"delivery", "bounce", "unsubscribe", "spam_report"})
CHANNELS = ("marketing", "crm")
BOUNCE_TYPES = ("hard", "soft")  # tuples: `in` must not hash a decoded list
TRAP_KINDS = ("pristine", "recycled", "typo")
MAX_ID_CHARS = 200
MAX_EMAIL_CHARS = 320
FUTURE_TOLERANCE = timedelta(hours=1)
DECISIONS_TOPIC = "peer.decisions"

_CONTROL = "\x00-\x1f\x7f-\x9f"
_CONTROL_RE = re.compile(f"[{_CONTROL}]")
_EMAIL_OK = re.compile(rf"[^@\s{_CONTROL}]+@[^@\s{_CONTROL}]+").fullmatch
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?"
    r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
).fullmatch

# ---------------------------------------------------------------------------------------
# The policy: Sendguard's policy/default.toml, overlaid by a deployment file


REPO = Path(__file__).resolve().parents[2]
DEFAULT_POLICY = REPO / "policy" / "default.toml"


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def load_policy(path: str | None) -> dict[str, Any]:
    """The built-in policy with ``path`` (any subset of its keys) laid over it."""
    with open(DEFAULT_POLICY, "rb") as fh:
        policy = tomllib.load(fh)
    if path:
        with open(path, "rb") as fh:
            policy = _merge(policy, tomllib.load(fh))
    for name in CHANNELS:
        policy[name].setdefault("campaign", None)
    policy["crm"]["campaign"] = None  # crm has no campaigns (default.toml)
    return policy


# ---------------------------------------------------------------------------------------
# Ingest: validation and normalisation (Sendguard's schemas/parse.py, restated)


class Invalid(Exception):
    """The event breaks the contract; ``late`` when only its age does."""

    def __init__(self, reason: str, late: bool = False) -> None:
        super().__init__(reason)
        self.late = late


def _ident(name: str, value: Any) -> str:
    if (
        isinstance(value, str)
        and 0 < len(value) <= MAX_ID_CHARS
        and (value.isprintable() or _CONTROL_RE.search(value) is None)
    ):
        return value
    raise Invalid(name)


def _opt_str(name: str, value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise Invalid(name)


def _email(value: Any) -> str:
    if isinstance(value, str):
        address = value.strip().lower()
        if len(address) <= MAX_EMAIL_CHARS and _EMAIL_OK(address):
            return address
    raise Invalid("recipient")


def _occurred_at(value: Any, now: datetime, grace: timedelta) -> datetime:
    if not isinstance(value, str) or _RFC3339(value) is None:
        raise Invalid("occurred_at")
    if value[-1] == "z":
        value = value[:-1] + "Z"
    try:
        at = datetime.fromisoformat(value).astimezone(UTC)
    except (ValueError, OverflowError):
        raise Invalid("occurred_at") from None
    if at > now + FUTURE_TOLERANCE:
        raise Invalid("occurred_at: more than one hour in the future")
    if at < now - grace:
        raise Invalid("occurred_at: older than the late-event grace", late=True)
    return at


def parse_event(kind: str, value: Any, now: datetime, grace: timedelta) -> dict[str, Any]:
    """The normalised event forwarded to the guard; raises ``Invalid``."""
    if not isinstance(value, dict):
        raise Invalid("not a JSON object")
    event_id = _ident("event_id", value.get("event_id"))
    account_id = _ident("account_id", value.get("account_id"))
    at = _occurred_at(value.get("occurred_at"), now, grace)
    channel = value.get("channel")
    if channel is None:
        channel = "marketing"
    elif channel not in CHANNELS:
        raise Invalid("channel")
    campaign_id = _opt_str("campaign_id", value.get("campaign_id"))
    recipient = value.get("recipient")
    if recipient is not None:
        _email(recipient)
    elif kind in RECIPIENT_REQUIRED:
        raise Invalid("recipient")
    event: dict[str, Any] = {
        "kind": kind,
        "event_id": event_id,
        "account_id": account_id,
        "period": f"{at.year:04d}-{at.month:02d}",
        "channel": channel,
        "campaign_id": campaign_id,
    }
    if kind == "bounce":
        bounce_type = value.get("bounce_type")
        if bounce_type not in BOUNCE_TYPES:
            raise Invalid("bounce_type")
        smtp_code = value.get("smtp_code")
        if smtp_code is not None and (type(smtp_code) is not int):
            raise Invalid("smtp_code")
        _opt_str("diagnostic", value.get("diagnostic"))
        event["bounce_type"] = bounce_type
    elif kind == "abuse_complaint":
        _opt_str("complaint_id", value.get("complaint_id"))
        _opt_str("summary", value.get("summary"))
    elif kind == "spam_trap":
        trap_kind = value.get("trap_kind")
        if trap_kind is not None and trap_kind not in TRAP_KINDS:
            raise Invalid("trap_kind")
    elif kind == "blocklist":
        blocklist = value.get("blocklist")
        listed = value.get("listed")
        if not isinstance(blocklist, str) or not blocklist:
            raise Invalid("blocklist")
        if not isinstance(listed, bool):
            raise Invalid("listed")
        ip = _opt_str("ip", value.get("ip"))
        domain = _opt_str("domain", value.get("domain"))
        event["listed"] = listed
        event["listing"] = f"{blocklist}|{ip or domain or ''}"
    return event


# NO_EVENT_TIME_EXTRACTOR: no timestamp extractor, on purpose. Making ``occurred_at`` the
# record timestamp would make concat's alignment follow event time, but quix carries a
# record's timestamp to every topic it writes (repartition, decisions): a month-old
# occurred_at makes Kafka roll those segments and delete them by retention.ms (7 days),
# possibly before they are read (seen in a test: decisions on old events vanished from
# peer.decisions). With append time, concat aligns the seven topics by when the MTA
# published, close to event time for producers that publish as things happen (the
# simulator publishes in occurred_at order).


# ---------------------------------------------------------------------------------------
# Guard: counting and the rules (Sendguard's policy/engine.py and policy/rules.py)

# Month counters, a list per period: index of each signal.
SENT, HARD, SOFT, SPAM, UNSUB, ABUSE, TRAP = range(7)
_RATES = (
    ("hard_bounce_rate", HARD),
    ("spam_report_rate", SPAM),
    ("unsubscribe_rate", UNSUB),
)
_BLOCKED = frozenset({"suspended", "under_review"})


def _new_channel() -> dict[str, Any]:
    return {
        "state": "active",
        "reason": None,
        "periods": {},  # period -> [sent, hard, soft, spam, unsub, abuse, trap]
        "campaigns": {},  # period -> campaign_id -> [sent, hard, cancelled]
        "cancelled": {},  # period -> campaigns cancelled in it
        "warned": [],  # "period/reason"
        "blocklists": [],  # listings in force: "name|ip-or-domain"
    }


def decision_id(*parts: str | None) -> str:
    text = "\x1f".join("" if part is None else part for part in parts)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _rate_crossed(numerator: int, sent: int, min_sends: int, limit: float) -> float | None:
    if sent <= 0 or sent < min_sends:
        return None
    rate = numerator / sent
    return rate if rate > limit else None


def _at_least(count: int, limit: int) -> bool:
    return limit > 0 and count >= limit


def _evidence(counts: list[int], rate: float | None, limit: float) -> dict[str, Any]:
    return {
        "sent": counts[SENT],
        "hard_bounces": counts[HARD],
        "spam_reports": counts[SPAM],
        "unsubscribes": counts[UNSUB],
        "abuse_complaints": counts[ABUSE],
        "rate": rate,
        "limit": float(limit),
    }


class Guard:
    """Folds one event into an account's state and returns the decisions it tips."""

    def __init__(self, policy: dict[str, Any]) -> None:
        self.policy = policy
        self.version = policy["version"]
        self.grace = timedelta(days=int(policy["late_grace_days"]))
        self.seen_ttl = self.grace + timedelta(days=2)

    def step(self, event: dict[str, Any], acct: dict[str, Any], now: datetime) -> list[dict]:
        name = event["channel"]
        chan_policy = self.policy[name]
        channel = acct.setdefault(name, _new_channel())
        period = event["period"]
        self._prune(channel, period, now)
        counts = channel["periods"].get(period)
        if counts is None:
            counts = channel["periods"][period] = [0, 0, 0, 0, 0, 0, 0]
        self._count(channel, counts, event, chan_policy["campaign"] is not None)
        verdicts = self._evaluate(chan_policy, counts, channel, event)
        decided_at = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        decisions = []
        for action, reason, evidence, suspension_type, campaign_id in verdicts:
            decisions.append({
                "decision_id": decision_id(
                    event["account_id"], name, action, reason, period, campaign_id,
                    "event", event["event_id"],
                ),
                "account_id": event["account_id"],
                "channel": name,
                "action": action,
                "reason": reason,
                "suspension_type": suspension_type,
                "campaign_id": campaign_id,
                "period": period,
                "evidence": evidence,
                "trigger_event_id": event["event_id"],
                "policy_version": self.version,
                "decided_at": decided_at,
            })  # fmt: skip
            self._apply(channel, period, action, reason, campaign_id)
        return decisions

    def _prune(self, channel: dict[str, Any], keep: str, now: datetime) -> None:
        """Drop months no event can still arrive for; never the month being counted."""
        old = now - self.grace
        oldest = f"{old.year:04d}-{old.month:02d}"
        for table in (channel["periods"], channel["campaigns"], channel["cancelled"]):
            for period in [p for p in table if p < oldest and p != keep]:
                del table[period]
        warned = channel["warned"]
        if warned and any(w[:7] < oldest and w[:7] != keep for w in warned):
            channel["warned"] = [w for w in warned if not (w[:7] < oldest and w[:7] != keep)]

    @staticmethod
    def _count(
        channel: dict[str, Any], counts: list[int], event: dict[str, Any], campaigns: bool
    ) -> None:
        kind = event["kind"]
        hard = kind == "bounce" and event["bounce_type"] == "hard"
        if kind == "delivery":
            counts[SENT] += 1
        elif hard:
            counts[HARD] += 1
        elif kind == "bounce":
            counts[SOFT] += 1
        elif kind == "unsubscribe":
            counts[UNSUB] += 1
        elif kind == "spam_report":
            counts[SPAM] += 1
        elif kind == "abuse_complaint":
            counts[ABUSE] += 1
        elif kind == "spam_trap":
            counts[TRAP] += 1
        elif kind == "blocklist":
            listing = event["listing"]
            in_force = channel["blocklists"]
            if event["listed"] and listing not in in_force:
                in_force.append(listing)
            elif not event["listed"] and listing in in_force:
                in_force.remove(listing)
        campaign_id = event["campaign_id"]
        if campaigns and campaign_id is not None and (kind == "delivery" or hard):
            by_campaign = channel["campaigns"].setdefault(event["period"], {})
            campaign = by_campaign.get(campaign_id)
            if campaign is None:
                campaign = by_campaign[campaign_id] = [0, 0, False]
            campaign[1 if hard else 0] += 1

    def _evaluate(
        self,
        policy: dict[str, Any],
        counts: list[int],
        channel: dict[str, Any],
        event: dict[str, Any],
    ) -> list[tuple]:
        if channel["state"] in _BLOCKED:
            return []
        verdicts: list[tuple] = []
        cancel = self._campaign_cancel(policy, channel, event)
        if cancel is not None:
            verdicts.append(cancel)
        suspend = self._suspend(policy, counts, channel, event, cancel is not None)
        if suspend is not None:
            verdicts.append(suspend)
        else:
            verdicts.extend(self._warns(policy, counts, channel, event))
        return verdicts

    @staticmethod
    def _suspend(policy, counts, channel, event, cancelled_now: bool) -> tuple | None:
        limits = policy["suspend"]
        new_listing = event["kind"] == "blocklist" and event["listed"]
        if _at_least(counts[TRAP], limits["spam_trap_hits"]):
            limit = limits["spam_trap_hits"]
            return ("suspend", "spam_trap", _evidence(counts, None, limit), "fraud", None)
        if _at_least(counts[ABUSE], limits["abuse_complaints"]):
            limit = limits["abuse_complaints"]
            evidence = _evidence(counts, None, limit)
            return ("suspend", "abuse_complaint", evidence, "deliverability", None)
        if new_listing and _at_least(len(channel["blocklists"]), limits["blocklistings"]):
            evidence = _evidence(counts, None, limits["blocklistings"])
            return ("suspend", "blocklist", evidence, "deliverability", None)
        for reason, index in _RATES:
            limit = limits[reason]
            rate = _rate_crossed(counts[index], counts[SENT], policy["min_sends"], limit)
            if rate is not None:
                evidence = _evidence(counts, rate, limit)
                return ("suspend", reason, evidence, "deliverability", None)
        campaign = policy["campaign"]
        if campaign is not None:
            cancelled = channel["cancelled"].get(event["period"], 0) + int(cancelled_now)
            if _at_least(cancelled, campaign["cancelled_to_suspend"]):
                evidence = _evidence(counts, None, campaign["cancelled_to_suspend"])
                reason = "repeated_cancelled_campaigns"
                return ("suspend", reason, evidence, "deliverability", None)
        return None

    @staticmethod
    def _warns(policy, counts, channel, event) -> list[tuple]:
        limits = policy["warn"]
        period = event["period"]
        done = channel["warned"]
        verdicts = []
        if (
            event["kind"] == "blocklist"
            and event["listed"]
            and _at_least(len(channel["blocklists"]), limits["blocklistings"])
            and f"{period}/blocklist" not in done
        ):
            evidence = _evidence(counts, None, limits["blocklistings"])
            verdicts.append(("warn", "blocklist", evidence, None, None))
        for reason, index in _RATES:
            limit = limits[reason]
            rate = _rate_crossed(counts[index], counts[SENT], policy["min_sends"], limit)
            if rate is not None and f"{period}/{reason}" not in done:
                verdicts.append(("warn", reason, _evidence(counts, rate, limit), None, None))
        return verdicts

    @staticmethod
    def _campaign_cancel(policy, channel, event) -> tuple | None:
        campaign = policy["campaign"]
        campaign_id = event["campaign_id"]
        if campaign is None or campaign_id is None:
            return None
        counts = channel["campaigns"].get(event["period"], {}).get(campaign_id)
        if counts is None or counts[2]:
            return None
        limit = campaign["hard_bounce_rate"]
        rate = _rate_crossed(counts[1], counts[0], campaign["min_sends"], limit)
        if rate is None:
            return None
        evidence = {
            "sent": counts[0],
            "hard_bounces": counts[1],
            "spam_reports": 0,
            "unsubscribes": 0,
            "abuse_complaints": 0,
            "rate": rate,
            "limit": limit,
        }
        return ("cancel_campaign", "hard_bounce_rate", evidence, None, campaign_id)

    @staticmethod
    def _apply(channel, period: str, action: str, reason: str, campaign_id) -> None:
        if action == "cancel_campaign":
            channel["campaigns"][period][campaign_id][2] = True
            channel["cancelled"][period] = channel["cancelled"].get(period, 0) + 1
        elif action == "warn":
            channel["warned"].append(f"{period}/{reason}")
            if channel["state"] == "active":
                channel["state"], channel["reason"] = "warned", reason
        elif action == "suspend":
            channel["state"], channel["reason"] = "suspended", reason


# ---------------------------------------------------------------------------------------
# The application


class Run:
    """Counters for the stop condition and the report."""

    def __init__(self, expect: int, repartition: bool = True) -> None:
        self.expect = expect
        self.repartition = repartition
        self.inputs = 0  # input messages consumed (good or bad)
        self.malformed = 0  # not JSON: skipped by the consumer's error callback
        self.invalid = 0  # JSON that breaks the contract: filtered out
        self.late = 0  # valid but older than late_grace_days (wall clock): filtered out
        self.guarded = 0  # valid events through the guard (repartition topic)
        self.duplicates = 0
        self.decisions = 0
        self.first: float | None = None
        self.last: float | None = None
        self.cpu_first = 0.0
        self.cpu_last = 0.0
        self.app: Application | None = None

    def tick(self) -> None:
        now = time.perf_counter()
        cpu = time.process_time()
        if self.first is None:
            self.first, self.cpu_first = now, cpu
        self.last, self.cpu_last = now, cpu
        if self.done():
            self.app.stop()

    def done(self) -> bool:
        if not self.repartition:  # the guard ran inside the input message's processing
            return self.inputs >= self.expect
        forwarded = self.inputs - self.malformed - self.invalid - self.late
        return self.inputs >= self.expect and self.guarded >= forwarded


def build(args: argparse.Namespace, run: Run) -> Application:
    policy = load_policy(args.policy)
    guard = Guard(policy)
    grace = guard.grace
    prefix = args.prefix
    input_names = {prefix + name: kind for name, kind in TOPIC_KINDS.items()}
    log = logging.getLogger("quix_guard")

    def on_consumer_error(exc: Exception, message: Any, logger: Any) -> bool:
        # A value that is not JSON: the JSON deserializer raised. Count it, skip it.
        if isinstance(exc, SerializationError) and message is not None:
            run.malformed += 1
            run.inputs += 1
            run.tick()
            return True
        return False

    def on_message_processed(topic: str, partition: int, offset: int) -> None:
        if topic in input_names:
            run.inputs += 1
        else:
            run.guarded += 1
        run.tick()

    app = Application(
        broker_address=args.bootstrap,
        consumer_group=args.group or f"quix-peer-{uuid.uuid4().hex[:12]}",
        auto_offset_reset="earliest",
        state_dir=args.state_dir,
        on_consumer_error=on_consumer_error,
        on_message_processed=on_message_processed,
        loglevel=args.log_level,
        consumer_poll_timeout=args.poll_timeout,
        max_partition_buffer_size=args.buffer_size,
    )
    run.app = app

    frames = []
    for name, kind in input_names.items():
        # Record timestamps stay the broker's (append time): see NO_EVENT_TIME_EXTRACTOR.
        topic = app.topic(name, value_deserializer="json", key_deserializer="bytes")

        def validate(value: Any, kind: str = kind) -> dict[str, Any] | None:
            try:
                return parse_event(kind, value, datetime.now(UTC), grace)
            except Exception as exc:  # noqa: BLE001 Invalid, or a bug: skip it, never stop the stream
                if isinstance(exc, Invalid) and exc.late:
                    run.late += 1
                else:
                    run.invalid += 1
                log.debug("invalid %s event: %r", kind, exc)
                return None

        frames.append(app.dataframe(topic).apply(validate))
    sdf = frames[0]
    for other in frames[1:]:
        sdf = sdf.concat(other)
    sdf = sdf.filter(lambda event: event is not None)
    if args.repartition:
        sdf = sdf.group_by("account_id", name="account")

    seen_ttl = guard.seen_ttl

    def step(event: dict[str, Any], state: State) -> list[dict[str, Any]]:
        run.guarded += not run.repartition
        seen = "seen/" + event["event_id"]
        if state.exists(seen):
            run.duplicates += 1
            return []
        state.set(seen, 1, ttl=seen_ttl)
        acct = state.get("acct") or {}
        decisions = guard.step(event, acct, datetime.now(UTC))
        state.set("acct", acct)
        run.decisions += len(decisions)
        return decisions

    decisions_topic = app.topic(
        prefix + DECISIONS_TOPIC, key_serializer="str", value_serializer="json"
    )
    sdf = sdf.apply(step, stateful=True, expand=True)
    sdf.to_topic(decisions_topic, key=lambda decision: decision["account_id"])
    return app


def end_offsets_total(bootstrap: str, prefix: str) -> int:
    """Messages on the input topics now (high - low watermarks): the default --expect."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "quix-peer-probe"})
    try:
        metadata = consumer.list_topics(timeout=10)
        total = 0
        for name in TOPIC_KINDS:
            found = metadata.topics.get(prefix + name)
            if found is None or found.error is not None:
                continue
            for partition in found.partitions:
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(prefix + name, partition), timeout=10
                )
                total += high - low
        return total
    finally:
        consumer.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True, help="Kafka host:port")
    parser.add_argument("--prefix", default="", help="topic prefix (SENDGUARD_TOPIC_PREFIX)")
    parser.add_argument(
        "--expect", type=int, default=None,
        help="input messages to process, then stop (default: all on the topics at start)",
    )  # fmt: skip
    parser.add_argument("--state-dir", required=True, help="quix RocksDB state directory")
    parser.add_argument(
        "--policy", default=os.environ.get("SENDGUARD_POLICY") or None,
        help="policy TOML laid over policy/default.toml (default: SENDGUARD_POLICY)",
    )  # fmt: skip
    parser.add_argument("--group", default=None, help="consumer group (default: unique)")
    parser.add_argument(
        "--idle-timeout", type=float, default=60.0,
        help="give up after this many seconds without a message (0: never)",
    )  # fmt: skip
    parser.add_argument(
        "--poll-timeout", type=float, default=0.1,
        help="quix consumer_poll_timeout in seconds (quix's default is 1.0; with concat "
        "and group_by each drained partition buffer then stalls up to 1 s: ~4k events/s)",
    )  # fmt: skip
    parser.add_argument(
        "--buffer-size", type=int, default=10000,
        help="quix max_partition_buffer_size (quix default 10000)",
    )  # fmt: skip
    parser.add_argument(
        "--no-repartition", dest="repartition", action="store_false",
        help="trust producers to key by account_id: no group_by hop (faster, "
        "but an event keyed otherwise lands in another account's state partition)",
    )  # fmt: skip
    parser.add_argument("--log-level", default="WARNING", help="quixstreams log level")
    args = parser.parse_args(argv)

    expect = args.expect
    if expect is None:
        expect = end_offsets_total(args.bootstrap, args.prefix)
    run = Run(expect, args.repartition)
    app = build(args, run)
    started = time.perf_counter()
    if expect > 0:
        app.run(timeout=args.idle_timeout, collect=False)
    wall = time.perf_counter() - started
    seconds = (run.last - run.first) if run.first is not None else 0.0
    complete = run.done()
    report = {
        "peer": "quixstreams",
        "version": quixstreams.__version__,
        "messages": run.inputs,
        "seconds": round(seconds, 3),
        "cpu_seconds": round(run.cpu_last - run.cpu_first, 3),
        "events_per_s": round(run.inputs / seconds, 1) if seconds > 0 else None,
        "decisions": run.decisions,
        "malformed": run.malformed + run.invalid,
        "not_json": run.malformed,
        "invalid": run.invalid,
        "late": run.late,
        "duplicates": run.duplicates,
        "guarded": run.guarded,
        "expected": expect,
        "complete": complete,
        "wall_seconds": round(wall, 3),
    }
    print(json.dumps(report), flush=True)
    return 0 if complete else 2


if __name__ == "__main__":
    sys.exit(main())
