"""Named operators: roles, tokens checked against a slow hash, the file read again when
it changes, the deprecated shared token as one admin."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from api.operators import (
    Operator,
    OperatorRegistry,
    OperatorsError,
    add_operator,
    hash_secret,
    remove_operator,
    secret_matches,
)


def test_a_secret_matches_its_hash_only() -> None:
    stored = hash_secret("right")
    assert stored.startswith("scrypt$16384$8$1$")
    assert secret_matches("right", stored) and not secret_matches("wrong", stored)
    assert not secret_matches("right", "scrypt$x$y$z$!$!") and not secret_matches("right", "md5$")


async def test_tokens_name_their_operator_and_role(tmp_path: Path) -> None:
    path = tmp_path / "operators.json"
    alice = add_operator(path, "alice", "decider")
    vera = add_operator(path, "vera", "viewer")
    registry = OperatorRegistry(path)
    assert await registry.authenticate(alice) == Operator("alice", "decider")
    assert await registry.authenticate(vera) == Operator("vera", "viewer")
    assert not Operator("vera", "viewer").may_decide and Operator("alice", "decider").may_decide
    forged = alice[:-4] + ("AAAA" if not alice.endswith("AAAA") else "BBBB")
    assert await registry.authenticate(forged) is None
    assert await registry.authenticate("op_0000000000000000_" + "x" * 43) is None
    assert await registry.authenticate("not-a-token") is None


async def test_a_removed_operator_is_refused_once_the_file_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "operators.json"
    token = add_operator(path, "alice", "admin")
    registry = OperatorRegistry(path)
    assert await registry.authenticate(token) is not None  # and remembered
    remove_operator(path, "alice")
    monkeypatch.setattr("api.operators._RELOAD_CHECK_S", 0.0)
    assert await registry.authenticate(token) is None


async def test_the_deprecated_shared_token_is_one_admin(caplog: pytest.LogCaptureFixture) -> None:
    registry = OperatorRegistry(None, legacy_token="shared")
    assert "deprecated" in caplog.text
    assert await registry.authenticate("shared") == Operator("operator", "admin")
    assert await registry.authenticate("sharee") is None


def test_a_damaged_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "operators.json"
    for text in ("{", '{"operators": [{"name": "a"}]}', '{"operators": 3}'):
        path.write_text(text)
        with pytest.raises(OperatorsError, match="not an operators file"):
            OperatorRegistry(path)
    entry = {"name": "a", "role": "admin", "token_id": "x", "token_hash": "y"}
    path.write_text(json.dumps({"operators": [entry, entry]}))
    with pytest.raises(OperatorsError, match="appears twice"):
        OperatorRegistry(path)
    with pytest.raises(OperatorsError, match="operator name"):
        add_operator(path.with_name("new.json"), "../etc", "admin")
    os.chmod(path, 0)
    if os.geteuid() != 0:
        with pytest.raises(OperatorsError, match="cannot read"):
            OperatorRegistry(path)
