"""Import every module of a backend package, so each lowering module registers itself.

A backend package (``brian2``, ``torch``, ``lava``) keeps its registry in a leaf module;
the modules that lower primitives write into it when imported. The package ``__init__``
calls :func:`import_all` instead of listing them: a new primitive's lowering module is
found by being there. Registration must not depend on import order (each module writes
only its own entries), which is why the order here is simply alphabetical.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def import_all(package: str, path: list[str], skip: tuple[str, ...] = ()) -> list[ModuleType]:
    """Import every module (not subpackage) of ``package`` except ``skip``; returns them."""
    names = sorted(m.name for m in pkgutil.iter_modules(path) if not m.ispkg)
    return [importlib.import_module(f"{package}.{n}") for n in names if n not in skip]
