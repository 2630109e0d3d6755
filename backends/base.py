"""What every backend provides, and the registry that maps names to backends."""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from .. import primitives as P
from ..graph import Graph
from ..result import Result

#: node name -> names to record for it: ``"spikes"`` and/or state names (``"v"``, ``"i"``).
RecordPlan = Mapping[str, tuple[str, ...]]


@dataclass(frozen=True)
class Availability:
    """Whether a backend can run here. ``reason`` says why not (or what was found);
    ``fix`` says what to do about it."""

    name: str
    available: bool
    version: str = ""
    reason: str = ""
    fix: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "available": self.available, "version": self.version,
                "reason": self.reason, "fix": self.fix}


def no_lowering(name: str, node: Any, supported: Iterable[str], why: str | None = None) -> str:
    """The line every backend's ``check`` gives for a node whose type it cannot lower:
    the node, its type, why (when the backend knows), and the types it does lower."""
    return (f"{name!r} ({P.type_name(node)}): no lowering" + (f" ({why})" if why else "")
            + "; supported: " + ", ".join(sorted(supported)))


class Backend(Protocol):
    """A simulation engine. Implementations live in one module each."""

    name: str

    def availability(self) -> Availability:
        """Prove availability by running the engine (import, tiny run), never by find_spec."""

    def supported(self) -> dict[str, str]:
        """Primitive type name -> short note (modes, limits), from the builder registry."""

    def check(self, graph: Graph, **options: Any) -> list[str]:
        """Every node/parameter this backend cannot lower, one line each ('' = fine).

        ``graph`` is flat and validated.
        """

    def run(self, graph: Graph, inputs: dict[str, np.ndarray], steps: int,
            record: RecordPlan, **options: Any) -> Result:
        """Simulate ``steps`` steps. ``inputs``: Input name -> float64 ``[batch, steps, *shape]``.

        ``graph`` is flat, validated and checked. Must fill ``Result.outputs`` for every
        Output node, and spikes/traces as asked in ``record``.
        """


#: name -> "module:Class" (modules are imported on first use: engines are slow to import)
BACKENDS: dict[str, str] = {
    "brian2": "spikecore.backends.brian2:Brian2Backend",
    "torch": "spikecore.backends.torch:TorchBackend",
    "lava": "spikecore.backends.lava:LavaBackend",
    "nest": "spikecore.backends.nest:NestBackend",
}

#: Older names still accepted: ``norse`` was the torch backend's name (it runs spikecore's
#: own torch code, not Norse's neurons). Results carry the canonical name.
ALIASES: dict[str, str] = {"norse": "torch"}


def canonical_name(name: str) -> str:
    """The registered name of a backend given by name or alias (unknown names unchanged)."""
    return ALIASES.get(name, name)


_instances: dict[str, Backend] = {}


def get_backend(name: str) -> Backend:
    from ..errors import SpikecoreError, UnavailableError

    name = canonical_name(name)
    if name not in BACKENDS:
        aliases = ", ".join(f"{a} (= {t})" for a, t in sorted(ALIASES.items()))
        raise SpikecoreError(
            f"unknown backend {name!r}; choose one of {', '.join(sorted(BACKENDS))} "
            f"(aliases: {aliases})"
        )
    if name not in _instances:
        module_name, _, cls_name = BACKENDS[name].partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("spikecore"):
                raise UnavailableError(
                    f"backend {name!r} is not implemented in this version of spikecore "
                    f"({module_name} is missing)"
                ) from exc
            raise UnavailableError(
                f"backend {name!r} cannot be imported: {exc}; install spikecore's "
                "dependencies (make test sets them up)"
            ) from exc
        _instances[name] = getattr(module, cls_name)()
    return _instances[name]
