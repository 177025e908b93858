"""Which partition holds an account: Kafka's default partitioner over its UTF-8 id.

Producers key input messages by ``account_id`` (CONTRACT.md). A message that sits on the
partition the Java client and aiokafka would choose for that key is handled where it
arrives: the guard's state for the account is co-partitioned with it. Any other message
(keyed otherwise, without key, or placed by another partitioner) is forwarded to that
partition of ``sendguard.events`` first, so the answers do not depend on the key.
"""

from __future__ import annotations

from functools import lru_cache

from aiokafka.partitioner import murmur2


@lru_cache(maxsize=1 << 16)
def _hash(key: bytes) -> int:
    return murmur2(key) & 0x7FFFFFFF


def partition_for(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2) gives ``key``."""
    return _hash(key) % partitions


@lru_cache(maxsize=1 << 16)
def _account_hash(account_id: str) -> int:
    return _hash(account_id.encode())


def account_partition(account_id: str, partitions: int) -> int:
    """Cached by the id itself: the guard asks several times per event."""
    return _account_hash(account_id) % partitions
