"""The benchmark peers' own virtualenv, kept apart from Sendguard's runtime.

``ensure_peer_venv()`` creates ``bench/.peer-venv`` (gitignored) with the interpreter that
runs it and pip-installs ``bench/peers/requirements.txt`` into it, once: a stamp file holds
the sha256 of the requirements, and the install is repeated only when they change (or the
venv is missing or broken). Returns the venv's python.

    python bench/peers/peer_env.py            # create/refresh, print the python path
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "requirements.txt"
DEFAULT_VENV = HERE.parent / ".peer-venv"
STAMP_NAME = ".requirements.sha256"


def _python_in(venv: Path) -> Path:
    if os.name == "nt":
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


def requirements_hash(requirements: Path = REQUIREMENTS) -> str:
    return hashlib.sha256(requirements.read_bytes()).hexdigest()


def ensure_peer_venv(
    path: str | os.PathLike[str] | None = None,
    *,
    requirements: str | os.PathLike[str] | None = None,
    base_python: str | None = None,
    quiet: bool = True,
) -> str:
    """Create (if needed) the peer venv at ``path`` and install the requirements once.

    ``base_python`` is the interpreter the venv is made from (default: the running one,
    which must be 3.9+ for quixstreams). Raises ``RuntimeError`` with pip's output tail
    when the install fails.
    """
    venv = Path(path) if path is not None else DEFAULT_VENV
    reqs = Path(requirements) if requirements is not None else REQUIREMENTS
    python = _python_in(venv)
    stamp = venv / STAMP_NAME
    wanted = requirements_hash(reqs)
    if python.exists() and stamp.exists() and stamp.read_text().strip() == wanted:
        return str(python)
    if not python.exists():
        _run([base_python or sys.executable, "-m", "venv", str(venv)], "create the venv")
    if stamp.exists():
        stamp.unlink()
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check"]
    if quiet:
        pip.append("-q")
    _run([*pip, "-r", str(reqs)], f"pip install -r {reqs}")
    stamp.write_text(wanted + "\n")
    return str(python)


def _run(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-20:])
        raise RuntimeError(f"peer venv: cannot {what} (exit {proc.returncode}):\n{tail}")


if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else None
    try:
        print(ensure_peer_venv(target, quiet=False))
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        sys.exit(1)
