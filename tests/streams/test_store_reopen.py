"""A table partition's database keeps the options its table asks for when it is opened
again (after every restart), not only when faust creates it."""

from __future__ import annotations

from pathlib import Path

import pytest
from faust.stores.rocksdb import RocksDBOptions

from streams.faust_ext import keep_store_options_on_reopen
from tables import _store_options

CACHE = 24 * 1024 * 1024


@pytest.mark.parametrize("ttl", [None, 3600])
def test_a_reopened_table_database_keeps_its_cache_and_bloom_filter(tmp_path: Path, ttl: int | None) -> None:
    keep_store_options_on_reopen()
    for _ in range(2):
        options = _store_options(CACHE, **({"ttl": ttl} if ttl else {}))
        options.pop("driver")
        db = RocksDBOptions(**options, use_rocksdict=True).open(tmp_path / "db")
        db.put(b"k", b"v")
        assert db.property_int_value("rocksdb.block-cache-capacity") == CACHE
        db.close()
    latest = max((tmp_path / "db").glob("OPTIONS-*"))
    policy = [line.strip() for line in latest.read_text().splitlines() if "filter_policy=" in line]
    assert policy and "bloomfilter" in policy[0], policy
