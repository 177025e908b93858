"""Compiles the per-event code of ``policy/`` and ``schemas/`` with mypyc when it can.

It needs a C compiler (gcc or clang); without one the install stops with the compiler's
error. ``SENDGUARD_PURE_PYTHON=1`` installs pure Python instead: the same modules, the
same behaviour, about a sixth more CPU per event (BENCHMARKS.md). Modules that define
msgspec structs stay pure: msgspec reads their annotations at run time.
"""

from __future__ import annotations

import os

from setuptools import setup

COMPILED = [
    "policy/engine.py",
    "policy/guard.py",
    "policy/held.py",
    "policy/ordering.py",
    "policy/rules.py",
    "schemas/fields.py",
    "schemas/parse.py",
    "schemas/timefmt.py",
]


def extensions() -> list:
    if os.environ.get("SENDGUARD_PURE_PYTHON", "") not in ("", "0"):
        return []
    from mypyc.build import mypycify

    return mypycify(COMPILED, opt_level="3")


setup(ext_modules=extensions())
