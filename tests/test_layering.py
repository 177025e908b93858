"""The layers: each package imports only those below it, and ``policy`` and ``schemas``
import with Faust, Kafka clients and the worker absent.

The streaming worker and the offline replay share the policy; if it ever reached up into
Faust or the agents, the replay would need a broker stack and the layers would blur.
Agents never import the HTTP surface or the commands, so they can be run on their own.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = ("faust", "aiokafka", "mode", "agents", "streams", "tables")

_PROBE = textwrap.dedent(
    """
    import sys

    FORBIDDEN = {forbidden!r}

    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in FORBIDDEN:
                raise ImportError(f"layering: {{name}} must not be imported here")
            return None

    sys.meta_path.insert(0, Block())
    import policy
    import schemas.types
    from policy import config, engine, errors, rules, state

    assert policy.load_policy().version
    leaked = sorted(m for m in sys.modules if m.split(".")[0] in FORBIDDEN)
    assert not leaked, leaked
    print("ok")
    """
)


def _probe(source: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", source.format(forbidden=FORBIDDEN)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_policy_imports_with_faust_and_kafka_blocked() -> None:
    result = _probe(_PROBE)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_blocker_really_blocks() -> None:
    """The probe would pass vacuously if its finder did not fire; prove it does."""
    result = _probe(_PROBE.replace("import policy\n", "import policy\nimport faust\n", 1))
    assert result.returncode != 0
    assert "layering: faust must not be imported here" in result.stderr


def test_no_faust_or_kafka_import_anywhere_in_policy_or_schemas_source() -> None:
    """Catches imports inside functions too, which an import-time probe would miss."""
    offenders = [
        f"{path.parent.name}/{path.name}: {name}"
        for package in ("policy", "schemas")
        for path in sorted((ROOT / package).glob("*.py"))
        for name in _imports(path)
        if name.split(".")[0] in FORBIDDEN
    ]
    assert offenders == []


#: The guard's parts that run without faust: everything but its shell (``agents.guard``).
#: They may use the runtime's modules (``streams``, ``tables``), never faust or Kafka
#: clients themselves, so their tests need no fakes of faust's types.
FAUST_FREE_AGENTS = ("ingest", "outputs", "progress", "ordering", "census", "appeals",
                     "continuity", "envelope", "outbox")  # fmt: skip


def test_the_agents_parts_but_the_shell_import_no_faust() -> None:
    offenders = [
        f"agents/{name}.py: {imported}"
        for name in FAUST_FREE_AGENTS
        for imported in _imports(ROOT / "agents" / f"{name}.py")
        if imported.split(".")[0] in ("faust", "mode")
    ]
    assert offenders == []


#: Each package may import only the packages listed for it (and third-party libraries).
#: Read bottom-up, this is the pipeline: the contract, the rules, the runtime the agents
#: share, the agents, the HTTP surface, the commands. Tools beside it stand alone.
MAY_IMPORT: dict[str, set[str]] = {
    "schemas": set(),
    "policy": {"schemas"},
    "offline": {"schemas", "policy"},
    "streams": {"schemas", "policy", "tables"},
    "tables": {"schemas", "policy", "streams"},
    "agents": {"schemas", "policy", "tables", "streams"},
    "api": {"schemas", "policy", "tables", "streams", "agents"},
    "sendguard": {"schemas", "policy", "tables", "streams", "agents", "api", "offline",
                  "localkafka", "gate"},
    "gate": set(),
    "localkafka": set(),
}


def _imports(path: Path) -> list[str]:
    """Every absolute import in a module, those inside functions included."""
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
    return names


def test_every_package_imports_only_the_layers_below_it() -> None:
    offenders = []
    for package, allowed in MAY_IMPORT.items():
        for path in sorted((ROOT / package).glob("*.py")):
            for name in _imports(path):
                top = name.split(".")[0]
                if top in MAY_IMPORT and top != package and top not in allowed:
                    offenders.append(f"{package}/{path.name} imports {name}")
    assert offenders == []


def test_the_layer_rules_cover_every_package() -> None:
    """A new package must be placed in a layer, or it would escape the rule above."""
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "bench"}
    assert packages == set(MAY_IMPORT)


def test_the_layer_check_sees_an_import_inside_a_function(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from api.auth import mint_account_token\n")
    assert _imports(module) == ["api.auth"]
