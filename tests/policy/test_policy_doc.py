"""docs/POLICY.md states the built-in policy's numbers: they must be what the loader reads.

The page's tables are parsed as markdown and compared with ``policy/default.toml`` loaded
through ``policy.load_policy`` (and with the code constants the page lists), both ways:
every number on a table row must be the loaded one, and every setting the loader yields
must have its row. Editing a number on either side without the other fails here.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import re
from pathlib import Path
from typing import Any

import pytest

from policy import Policy, load_policy

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "POLICY.md"
DEFAULTS = ROOT / "policy" / "default.toml"

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_PERCENT = re.compile(r"\((-?\d+(?:\.\d+)?) %\)")
_NONE = "—"

Row = dict[str, str]


@pytest.fixture(scope="module")
def built_in() -> Policy:
    return load_policy(DEFAULTS)


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text(encoding="utf-8")


def tables(text: str) -> list[list[list[str]]]:
    """Every markdown table of ``text``: its rows (header first), each a list of cells."""
    found: list[list[list[str]]] = []
    rows: list[list[str]] = []
    for line in [*text.splitlines(), ""]:
        line = line.strip()
        if line.startswith("|") and line.endswith("|"):
            rows.append([cell.strip() for cell in line[1:-1].split("|")])
        elif rows:
            found.append(rows)
            rows = []
    return found


def table(text: str, first_header: str) -> list[Row]:
    """The body rows of the one table whose first column is ``first_header``, each a
    mapping of column header to cell."""
    matching = [t for t in tables(text) if t[0][0] == first_header]
    assert len(matching) == 1, (
        f"docs/POLICY.md should have exactly one table whose first column is "
        f"{first_header!r}, found {len(matching)}"
    )
    header, separator, *body = matching[0]
    assert all(set(cell) <= set(":-") for cell in separator), f"no separator row: {separator}"
    assert body, f"the {first_header!r} table has no rows"
    for row in body:
        assert len(row) == len(header), f"row {row} does not have the {len(header)} columns"
    return [dict(zip(header, row, strict=True)) for row in body]


def code(cell: str) -> str:
    """A cell written as `code`, without the backticks."""
    assert cell.startswith("`") and cell.endswith("`"), f"expected `code`, got {cell!r}"
    return cell[1:-1]


def number(text: str) -> int | float:
    assert _NUMBER.fullmatch(text), f"expected a plain number, got {text!r}"
    return float(text) if "." in text else int(text)


def stated(cell: str) -> object:
    """The value a defaults-table cell states: none, a "string", or a number."""
    text = cell.strip("`")
    if text == "none":
        return None
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    return number(text)


def resolve(policy: Policy, key: str) -> Any:
    """The loaded value of a dotted policy key (``marketing.suspend.blocklistings``)."""
    first, *rest = key.split(".")
    value: Any = policy.channel(first) if first in policy.channels else policy
    path = rest if first in policy.channels else [first, *rest]
    for part in path:
        if value is None or not hasattr(value, part):
            raise AssertionError(f"docs/POLICY.md names {key!r}, which the policy has not")
        value = getattr(value, part)
    return value


def settings(policy: Policy) -> dict[str, Any]:
    """Every setting of the loaded policy by its dotted key, tables flattened."""
    found: dict[str, Any] = {"version": policy.version, "late_grace_days": policy.late_grace_days}
    for name, channel in policy.channels.items():
        for field in dataclasses.fields(channel):
            value = getattr(channel, field.name)
            if dataclasses.is_dataclass(value):
                for inner in dataclasses.fields(value):
                    found[f"{name}.{field.name}.{inner.name}"] = getattr(value, inner.name)
            else:
                found[f"{name}.{field.name}"] = value
    return found


def same(loaded: object, expected: object) -> bool:
    if expected is None or isinstance(expected, str):
        return loaded == expected
    return (
        isinstance(loaded, int | float)
        and not isinstance(loaded, bool)
        and math.isclose(loaded, expected, rel_tol=0.0, abs_tol=1e-12)  # type: ignore[arg-type]
    )


def test_every_default_on_the_page_is_the_loaded_one(doc: str, built_in: Policy) -> None:
    rows = table(doc, "policy key")
    wrong = []
    for row in rows:
        key = code(row["policy key"])
        expected, loaded = stated(row["default"]), resolve(built_in, key)
        if not same(loaded, expected):
            wrong.append(f"{key}: the page says {row['default']}, default.toml loads {loaded!r}")
    assert not wrong, "docs/POLICY.md disagrees with policy/default.toml:\n" + "\n".join(wrong)


def test_every_loaded_setting_has_a_row(doc: str, built_in: Policy) -> None:
    documented = {code(row["policy key"]) for row in table(doc, "policy key")}
    missing = sorted(set(settings(built_in)) - documented)
    assert not missing, f"settings missing from the defaults table of docs/POLICY.md: {missing}"


def test_the_limits_per_channel_are_the_loaded_ones(doc: str, built_in: Policy) -> None:
    rows = table(doc, "signal")
    columns = [c for c in rows[0] if c != "signal"]
    wrong = []
    for row in rows:
        signal = code(row["signal"])
        for column in columns:
            channel, kind = column.split()
            limits = getattr(built_in.channel(channel), kind)
            cell = row[column]
            if cell == _NONE:
                if hasattr(limits, signal):
                    wrong.append(f"{channel}.{kind}.{signal}: '—' on the page, but it is set")
                continue
            if not hasattr(limits, signal):
                wrong.append(f"{channel}.{kind}.{signal}: on the page, but no such limit")
                continue
            loaded = getattr(limits, signal)
            if not same(loaded, number(cell.split()[0])):
                wrong.append(f"{channel}.{kind}.{signal}: the page says {cell}, loaded {loaded}")
            percent = _PERCENT.search(cell)
            if percent and not math.isclose(loaded * 100, float(percent[1]), abs_tol=1e-9):
                wrong.append(f"{channel}.{kind}.{signal}: {cell} is not {loaded:.4%}")
    limits_named = {
        field.name
        for channel in built_in.channels.values()
        for limits in (channel.suspend, channel.warn)
        for field in dataclasses.fields(limits)
    }
    missing = sorted(limits_named - {code(row["signal"]) for row in rows})
    assert not wrong and not missing, (
        "docs/POLICY.md's limits per channel disagree with policy/default.toml:\n"
        + "\n".join(wrong)
        + (f"\nsignals missing: {missing}" if missing else "")
    )


def test_the_code_constants_on_the_page_are_the_codes(doc: str) -> None:
    wrong = []
    for row in table(doc, "constant"):
        module, _, name = code(row["constant"]).rpartition(".")
        actual = getattr(importlib.import_module(module), name)
        if not same(actual, number(row["value"])):
            wrong.append(f"{module}.{name}: the page says {row['value']}, the code has {actual}")
    assert not wrong, "docs/POLICY.md disagrees with the code:\n" + "\n".join(wrong)


def test_the_parser_reads_what_it_should() -> None:
    """The helpers above, on a page of their own: a wrong number must be told apart."""
    page = "text\n\n| policy key | default |\n|---|---|\n| `late_grace_days` | 8 |\n\nmore\n"
    (row,) = table(page, "policy key")
    assert stated(row["default"]) == 8
    assert not same(7, stated(row["default"]))
    assert stated('`"2026-11-default"`') == "2026-11-default"
    assert stated("none") is None
    assert same(0.1, stated("0.10")) and not same(True, 1)
    with pytest.raises(AssertionError):
        number("1,000")
