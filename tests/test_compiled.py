"""Which build of the per-event code runs. ``./dev test`` runs the suite on the modules
setup.py compiles with mypyc, then their tests again on a pure-Python copy, and says which
it expects in ``SENDGUARD_EXPECT_COMPILED``; this test fails when the other one ran."""

from __future__ import annotations

import ast
import importlib
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXPECT = os.environ.get("SENDGUARD_EXPECT_COMPILED")


def compiled_modules() -> list[str]:
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "COMPILED":
            paths = ast.literal_eval(node.value)
            return [p.removesuffix(".py").replace("/", ".") for p in paths]
    raise AssertionError("setup.py has no COMPILED list")


@pytest.mark.skipif(EXPECT is None, reason="./dev test says which build it expects")
@pytest.mark.parametrize("name", compiled_modules())
def test_the_expected_build_runs(name: str) -> None:
    path = str(importlib.import_module(name).__file__)
    assert path.endswith(".so") == (EXPECT == "1"), path
    assert path.startswith(str(ROOT)), path
