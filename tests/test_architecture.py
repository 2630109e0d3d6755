"""The house rules of the layout, checked on the source (docs/architecture.md).

- No import cycle between spikecore modules: registries are leaves; a module that lowers
  or defines primitives registers itself and is imported by its package, never the other
  way round.
- No ``_private`` name of one module used from another (make it public or keep it home).
- Every primitive type runs on Brian2 (the reference) and torch (training).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest
from spikecore.backends import get_backend

from spikecore import primitives as P
from spikecore.graph import cycles_of

REPO = Path(__file__).resolve().parents[1]
SOURCE_ROOTS = {"spikecore": "spikecore", "backends": "spikecore.backends",
                "models": "spikecore.models", "hardware": "spikecore.hardware"}
#: Scripts run by path under another interpreter: not part of the import graph.
STANDALONE = ("spikecore.backends.lava.scripts",)


def _modules() -> dict[str, Path]:
    out = {}
    for folder, pkg in SOURCE_ROOTS.items():
        for py in (REPO / folder).rglob("*.py"):
            rel = py.relative_to(REPO / folder).with_suffix("")
            parts = [*pkg.split("."), *rel.parts]
            if parts[-1] == "__init__":
                parts = parts[:-1]
            name = ".".join(parts)
            if not name.startswith(STANDALONE):
                out[name] = py
    return out


MODULES = _modules()


def _is_package(name: str) -> bool:
    return MODULES.get(name, Path()).name == "__init__.py"


def _resolve(module: str, level: int, target: str | None) -> str:
    """Absolute name of ``from <level dots><target>`` written in ``module``."""
    base = module.split(".") if _is_package(module) else module.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, *(target.split(".") if target else [])])


def _imports(name: str, path: Path) -> list[tuple[str, set[str]]]:
    """Module-level imports of a module: (imported module, names taken from it)."""
    tree = ast.parse(path.read_text())
    found = []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            mod = _resolve(name, node.level, node.module) if node.level else (node.module or "")
            if not mod.startswith("spikecore"):
                continue
            for alias in node.names:
                sub = f"{mod}.{alias.name}"
                if sub in MODULES:
                    found.append((sub, set()))
                else:
                    found.append((mod, {alias.name}))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("spikecore"):
                    found.append((alias.name, set()))
    return found


def _graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for name, path in MODULES.items():
        for target, _ in _imports(name, path):
            if target in MODULES and target != name:
                edges[name].add(target)
    return edges


def test_the_import_graph_has_no_cycles() -> None:
    # The package root re-exports the public API; its submodules import what they need
    # from the modules themselves, so edges into the root are not followed.
    edges = _graph()
    succ = {m: sorted(t for t in edges.get(m, ()) if t != "spikecore") for m in MODULES}
    cycles = cycles_of(succ)
    assert not cycles, "import cycles (a module imports the module that imports it):\n" + \
        "\n".join("  " + " -> ".join(c) for c in cycles)


def test_registries_are_leaves() -> None:
    """A registry imports no module that registers into it."""
    bad = []
    edges = _graph()
    for reg in ("spikecore.backends.brian2.registry", "spikecore.backends.torch.registry",
                "spikecore.backends.lava.registry",
                "spikecore.extensions.base", "spikecore.primitives"):
        writers = {m for m, ts in edges.items() if reg in ts}
        bad += [f"{reg} imports {t}, which imports it" for t in edges.get(reg, ()) if t in writers]
    assert not bad, "\n".join(bad)


def test_no_private_name_is_used_across_modules() -> None:
    bad = []
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text())
        aliases = {}
        for target, names in _imports(name, path):
            for n in names:
                if n.startswith("_") and not n.startswith("__"):
                    bad.append(f"{name} imports {target}.{n}")
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                mod = _resolve(name, node.level, node.module) if node.level else (node.module or "")
                for a in node.names:
                    if f"{mod}.{a.name}" in MODULES:
                        aliases[a.asname or a.name] = f"{mod}.{a.name}"
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in aliases and node.attr.startswith("_")
                    and not node.attr.startswith("__")):
                bad.append(f"{name} uses {aliases[node.value.id]}.{node.attr}")
    assert not bad, "private names used across modules:\n  " + "\n  ".join(sorted(set(bad)))


@pytest.mark.parametrize("backend", ["brian2", "torch"])
def test_every_primitive_runs_on_the_reference_and_training_backends(backend: str) -> None:
    """Brian2 (the reference) and torch (training) lower every registered primitive; a new
    primitive needs both (Lava refuses by name what it cannot express: tests/backends)."""
    supported = set(get_backend(backend).supported())
    missing = sorted(t.__name__ for t in P.SPECS if t.__name__ not in supported)
    assert not missing, f"backend {backend!r} has no lowering for {missing}"
