"""streams.local_state: the changelog offsets faust recorded in each table database."""

from __future__ import annotations

from pathlib import Path

import rocksdict

from streams.faust_ext import OFFSET_KEY
from streams.local_state import persisted_offsets, tables_dir


def write_offset(path: Path, offset: int, ttl: bool) -> None:
    access = rocksdict.AccessType.with_ttl(3600) if ttl else rocksdict.AccessType.read_write()
    db = rocksdict.Rdict(str(path), options=rocksdict.Options(raw_mode=True), access_type=access)
    db.put(OFFSET_KEY, str(offset).encode())
    db.close()


def test_offsets_are_read_from_plain_and_ttl_databases(tmp_path: Path) -> None:
    root = tables_dir(tmp_path)
    root.mkdir(parents=True)
    # A TTL database appends a 4-byte write time to every value; digits in it must not
    # be read as part of the offset.
    for offset in (48515, 7, 123456789):
        write_offset(root / "seen-events-0.db", offset, ttl=True)
        write_offset(root / "accounts-1.db", offset + 1, ttl=False)
        found = persisted_offsets(tmp_path, ttl_tables={"seen-events"})
        assert found == {("seen-events", 0): offset, ("accounts", 1): offset + 1}


def test_no_state_no_offsets(tmp_path: Path) -> None:
    assert persisted_offsets(tmp_path, ttl_tables=set()) == {}
