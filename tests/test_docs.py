"""docs/CONTRACT.md and the README name what the code has, both ways: every topic (and no
topic the code lacks), every HTTP route (and no route the code does not serve), every
setting, every ``sendguard`` command and option. No broker: the routes come from the
worker's app, built and registered but never started."""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path

from faust.web.drivers.aiohttp import Web as AiohttpWeb

import api
from sendguard.cli import build_parser
from streams.app import build_runtime
from streams.settings import Settings
from streams.topics import TopicNames
from tables import changelog_topic, shadow_table_specs, table_specs

CONTRACT = Path(__file__).resolve().parents[1] / "docs" / "CONTRACT.md"
#: faust serves HEAD on every page by itself; the contract lists the methods Sendguard defines.
IMPLICIT_METHODS = frozenset({"HEAD"})
#: a row of the HTTP table: ``| `GET /accounts/{account_id}` | ...``
TABLE_ROUTE = re.compile(r"^\| `(GET|POST|PUT|PATCH|DELETE) (/[^`]*)`", re.MULTILINE)
PLACEHOLDER = re.compile(r"\{[^}]*\}")

Route = tuple[str, str]


def contract() -> str:
    return CONTRACT.read_text(encoding="utf-8")


def section(title: str) -> str:
    """The text of the contract's ``## <title>…`` section, up to the next ``## ``."""
    for part in contract().split("\n## ")[1:]:
        heading, _, body = part.partition("\n")
        if heading.startswith(title):
            return body
    raise AssertionError(f"{CONTRACT} has no '## {title}' section")


def route(method: str, path: str) -> Route:
    """A route with its placeholders unnamed: ``{id}`` and ``{account_id}`` are one."""
    return method, PLACEHOLDER.sub("{}", path)


def topics() -> list[str]:
    """Every topic of ``TopicNames``, without a prefix."""
    names = TopicNames.prefixed("")
    found: list[str] = []
    for field in fields(names):
        value = getattr(names, field.name)
        found.extend(value.values() if isinstance(value, Mapping) else [value])
    return found


def served_routes(data_dir: Path) -> set[Route]:
    """(method, path) of every route the worker's web server has, as ``sendguard worker``
    registers them, without starting anything."""
    rt = build_runtime(Settings(data_dir=data_dir))
    api.register(rt)
    web = rt.app.web
    assert isinstance(web, AiohttpWeb), f"the worker's web driver is {type(web).__name__}"
    return {
        route(r.method, r.resource.canonical)
        for r in web.web_app.router.routes()
        if r.method not in IMPLICIT_METHODS and r.resource is not None
    }


def documented_routes() -> set[Route]:
    return {route(method, path) for method, path in TABLE_ROUTE.findall(section("HTTP"))}


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    # argparse has no public list of a parser's subcommands.
    actions = parser._actions  # noqa: SLF001
    (sub,) = [a for a in actions if isinstance(a, argparse._SubParsersAction)]  # noqa: SLF001
    return dict(sub.choices)


def test_every_topic_is_named() -> None:
    text = contract()
    missing = [name for name in topics() if f"`{name}`" not in text]
    assert not missing, f"topics of TopicNames missing from {CONTRACT.name}: {missing}"


def test_every_changelog_topic_is_named() -> None:
    text = contract()
    specs = table_specs(9) + shadow_table_specs(9)
    missing = [name for spec in specs
               if (name := changelog_topic("<app id>", spec.name)) not in text]  # fmt: skip
    assert not missing, f"changelog topics missing from {CONTRACT.name}: {missing}"


def test_the_http_table_lists_exactly_the_routes_served(tmp_path: Path) -> None:
    served, documented = served_routes(tmp_path), documented_routes()
    assert served, "no route found on the worker's app: has registration moved?"
    assert not served - documented, f"served but not in {CONTRACT.name}: {served - documented}"
    assert not documented - served, f"in {CONTRACT.name} but not served: {documented - served}"


def test_every_subcommand_is_in_the_commands_section() -> None:
    commands = section("Commands")
    missing = [name for name in subcommands() if f"`sendguard {name}" not in commands]
    assert not missing, f"subcommands missing from the Commands section: {missing}"


def test_every_action_and_option_is_in_the_commands_section() -> None:
    commands = section("Commands")
    missing: list[str] = []
    for name, parser in subcommands().items():
        for action in parser._actions:  # noqa: SLF001 (as in subcommands())
            for option in action.option_strings:
                if option not in ("-h", "--help") and option not in commands:
                    missing.append(f"sendguard {name} {option}")
            if action.dest == "action" and action.choices:
                missing += [f"sendguard {name} {choice}" for choice in action.choices
                            if f"`sendguard {name} {choice}" not in commands]  # fmt: skip
    assert not missing, f"missing from the Commands section: {missing}"


#: a topic name as the docs write it: the inputs, ``accounts`` and Sendguard's own
DOC_TOPIC = re.compile(r"`((?:email|sendguard)\.[a-z-]+|accounts)`")
README = CONTRACT.parents[1] / "README.md"


def readme_section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    return text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_the_readme_topics_table_lists_exactly_the_topics_of_the_code() -> None:
    table = "\n".join(line for line in readme_section("Topics").splitlines()
                      if line.startswith("| `"))  # fmt: skip
    documented, named = set(DOC_TOPIC.findall(table)), set(topics())
    assert not named - documented, f"topics missing from the README's table: {named - documented}"
    assert not documented - named, f"in the README's table, not in the code: {documented - named}"


def test_every_topic_the_contract_names_exists() -> None:
    unknown = set(DOC_TOPIC.findall(contract())) - set(topics())
    assert not unknown, f"topics in {CONTRACT.name} that the code does not have: {unknown}"


def test_the_environment_section_lists_exactly_the_settings() -> None:
    documented = set(re.findall(r"`(SENDGUARD_[A-Z_]+)`", section("Commands")))
    variables = set(Settings.variables())
    assert not variables - documented, f"settings missing from {CONTRACT.name}: {variables - documented}"
    assert not documented - variables, f"in {CONTRACT.name}, not a setting: {documented - variables}"


ROOT = CONTRACT.parents[1]
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")
#: a file of the repository named in backticks, e.g. `monitoring/alerts.yml`
REPO_PATH = re.compile(r"`((?:docs|monitoring|bench|policy|schemas|streams|agents|tables|api|"
                       r"sendguard|offline|localkafka|gate|tests)/[A-Za-z0-9_./-]+)`")  # fmt: skip


def test_every_file_the_docs_name_is_in_the_repository() -> None:
    """A fresh clone holds every document and file the README and the docs point to."""
    missing = []
    for page in [ROOT / "README.md", ROOT / "BENCHMARKS.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = page.read_text(encoding="utf-8")
        for target in MARKDOWN_LINK.findall(text):
            path = target.split("#", 1)[0]
            if path and "://" not in path and not (page.parent / path).exists():
                missing.append(f"{page.name}: link {target}")
        for path in REPO_PATH.findall(text):
            if "results/" not in path and not (ROOT / path.rstrip("/.")).exists():
                missing.append(f"{page.name}: `{path}`")
    assert not missing, f"named but not in the repository: {missing}"
