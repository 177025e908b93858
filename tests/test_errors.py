"""Every error Sendguard raises on purpose is a ``SendguardError``, one root per package.

The CLI catches that root (and the local broker's own) and prints one line; a class
outside the tree would end in a traceback instead.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

from schemas.errors import SendguardError
from tests.test_layering import MAY_IMPORT

ROOT = Path(__file__).resolve().parents[1]
#: Not errors for the user: a signal turned into an exception inside the demo.
CONTROL_FLOW = {"sendguard.demo._Stop"}
#: The local broker and the sender gate import nothing of Sendguard: each has its own root.
OWN_ROOTS = {"localkafka.jars.KafkaSetupError", "gate.errors.GateError"}


def _error_classes() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for package in MAY_IMPORT:
        for info in pkgutil.iter_modules([str(ROOT / package)]):
            module = importlib.import_module(f"{package}.{info.name}")
            for name, obj in vars(module).items():
                if (inspect.isclass(obj) and issubclass(obj, BaseException)
                        and obj.__module__ == module.__name__):
                    found[f"{module.__name__}.{name}"] = obj
    return found


def test_every_error_class_is_under_the_root() -> None:
    errors = _error_classes()
    assert "policy.errors.NotSuspended" in errors  # the walk found the packages' modules
    roots = (SendguardError, *(errors[name] for name in OWN_ROOTS))
    stray = sorted(
        name for name, cls in errors.items()
        if not issubclass(cls, roots) and name not in CONTROL_FLOW
    )  # fmt: skip
    assert stray == []


@pytest.mark.parametrize("package", ["schemas", "policy", "offline", "streams", "api"])
def test_each_package_has_one_root(package: str) -> None:
    """Within a package, every error descends from one class that is directly under the root."""
    ours = [
        cls for name, cls in _error_classes().items()
        if name.startswith(f"{package}.") and cls is not SendguardError
    ]  # fmt: skip
    roots = {cls for cls in ours if SendguardError in cls.__bases__}
    assert len(roots) == 1, roots
    (root,) = roots
    assert all(issubclass(cls, root) for cls in ours)
