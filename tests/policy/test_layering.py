"""``policy`` and ``schemas`` must import with Faust, Kafka clients and the worker absent.

The streaming worker and the offline replay share this code; if it ever reached up into
Faust or the agents, the replay would need a broker stack and the layers would blur.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
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


def test_policy_imports_with_faust_and_kafka_blocked() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE.format(forbidden=FORBIDDEN)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_blocker_really_blocks() -> None:
    """The probe would pass vacuously if its finder did not fire; prove it does."""
    probe = _PROBE.replace("import policy\n", "import policy\nimport faust\n", 1)
    result = subprocess.run(
        [sys.executable, "-c", probe.format(forbidden=FORBIDDEN)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "layering: faust must not be imported here" in result.stderr


def test_no_forbidden_import_anywhere_in_policy_source() -> None:
    """Catches imports inside functions too, which an import-time probe would miss."""
    offenders = []
    for path in sorted((ROOT / "policy").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []


def test_localkafka_imports_nothing_of_sendguard() -> None:
    """The local broker is a tool beside Sendguard, not part of it."""
    ours = {"agents", "gate", "offline", "policy", "schemas", "streams", "tables"}
    for path in sorted((ROOT / "localkafka").glob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module]
            else:
                continue
            leaked = [n for n in names if n.split(".")[0] in ours]
            assert not leaked, f"{path.name} imports {leaked}"
