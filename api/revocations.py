"""Revoked account tokens, on the compacted topic ``sendguard.token-revocations``.

``sendguard token revoke`` writes a record keyed ``token:<token_id>`` (that one token) or
``account:<account_id>`` (every token the account had at that moment, tokens of the first
format included), valued ``{"revoked_at": epoch_ms, "by": "..."}``. Every worker reads
the whole topic, outside any consumer group, and then follows it, so a revoked token gets
401 on every worker within a poll (:data:`POLL_MS`). Until a worker has read to the end
once, it answers account calls 503 rather than let a revoked token through.

Anyone who can produce to the topic can write to it: a record that is not one of these
is logged (at most once a minute) and skipped, never raised.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Protocol

import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition

from api.tokens import AccountClaim
from schemas.limits import MAX_ID_CHARS
from streams.kafka_admin import topic_partitions

log = logging.getLogger("sendguard.revocations")
POLL_MS = 500
_RETRY_S = 5.0
_MAX_KEY_BYTES = 16 + 4 * MAX_ID_CHARS
_SKIPPED_LOG_EVERY_S = 60.0


class SkippedRecords:
    """Records of a followed topic that are not what the topic holds (anyone who can
    produce to it can write them): counted, and logged at most once a minute."""

    def __init__(self, logger: logging.Logger, where: str) -> None:
        self.logger = logger
        #: where they were, and what they were not, for the log line
        self.where = where
        self.count = 0
        self._logged = 0.0

    def note(self, exc: Exception) -> None:
        self.count += 1
        now = time.monotonic()
        if now - self._logged >= _SKIPPED_LOG_EVERY_S:
            self._logged = now
            self.logger.warning("skipped a record on %s (%d so far): %s", self.where,
                                self.count, exc)  # fmt: skip


class Revocation(msgspec.Struct, frozen=True):
    revoked_at: int
    by: str = ""


_DECODE = msgspec.json.Decoder(Revocation)
_ENCODE = msgspec.json.Encoder()


def revocation_record(target: str, by: str, now: datetime | None = None) -> tuple[bytes, bytes]:
    """The record that revokes ``target``: a token id (``tok_…``) or an account id."""
    kind = "token" if target.startswith("tok_") else "account"
    at = int((now or datetime.now(UTC)).timestamp() * 1000)
    return f"{kind}:{target}".encode(), _ENCODE.encode(Revocation(revoked_at=at, by=by))


class Revocations:
    """What a worker has read of the topic."""

    def __init__(self) -> None:
        self.tokens: dict[str, int] = {}
        self.accounts: dict[str, int] = {}
        #: the topic was read to its end once: until then nothing can be trusted
        self.caught_up = False
        self._skips = SkippedRecords(log, "the revocations topic that is not a revocation")

    @property
    def skipped(self) -> int:
        return self._skips.count

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        try:
            if key is None or len(key) > _MAX_KEY_BYTES:
                raise ValueError("no key, or one too long")
            kind, _, target = key.decode().partition(":")
            if kind not in ("token", "account") or not target:
                raise ValueError(f"key {key[:80]!r} is not token:ID or account:ID")
            into = self.tokens if kind == "token" else self.accounts
            if value is None:  # a tombstone: taken back
                into.pop(target, None)
                return
            into[target] = max(_DECODE.decode(value).revoked_at, into.get(target, 0))
        except (ValueError, msgspec.DecodeError, RecursionError) as exc:
            self._skips.note(exc)

    def describe(self) -> str:
        return f"{len(self.tokens)} tokens and {len(self.accounts)} accounts revoked"

    def revoked(self, claim: AccountClaim) -> bool:
        if claim.token_id in self.tokens:
            return True
        revoked_at = self.accounts.get(claim.account_id)
        return revoked_at is not None and claim.issued_ms <= revoked_at


class Follower(Protocol):
    """What :func:`follow` feeds: records as they come, and whether it read to the end."""

    caught_up: bool

    def apply(self, key: bytes | None, value: bytes | None) -> None: ...

    def describe(self) -> str: ...


async def follow(bootstrap: str, topic: str, follower: Follower) -> None:
    """Read the whole topic, then follow it, for as long as the worker runs."""
    while True:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                    auto_offset_reset="earliest")  # fmt: skip
        try:
            await consumer.start()
            tps = await topic_partitions(bootstrap, [topic])
            if not tps:
                raise LookupError(f"topic {topic} not found")
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            while True:
                batches = await consumer.getmany(timeout_ms=POLL_MS)
                for records in batches.values():
                    for record in records:
                        follower.apply(record.key, record.value)
                if not follower.caught_up and await _read_to(consumer, ends):
                    follower.caught_up = True
                    log.info("%s read: %s", topic, follower.describe())
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 the broker away: the last list stays in force
            log.warning("reading %s failed (%s: %s); again in %.0f s", topic,
                        type(exc).__name__, exc, _RETRY_S)  # fmt: skip
            await asyncio.sleep(_RETRY_S)
        finally:
            await consumer.stop()


async def _read_to(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return False
    return True


async def publish(bootstrap: str, topic: str, key: bytes, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()
