"""The Brian2 backend's registry: primitive type -> :class:`Lowerer`.

A leaf module: it imports nothing of the backend, so every lowering module (NIR
primitives, extensions, LTC, sparse) registers here and the package ``__init__`` imports
them all. Anything not registered is reported by ``Brian2Backend.check``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ...graph import Graph


@dataclass(frozen=True)
class Lowerer:
    """How one primitive type is lowered.

    ``build(lowering, name, node)`` creates the node's group and updates; ``problems(
    graph, name, node, options)`` lists what cannot be lowered (one line each)."""

    build: Callable[[Any, str, Any], None]
    note: str
    problems: Callable[[Graph, str, Any, Mapping[str, Any]], list[str]] | None = None



#: primitive type -> how it is lowered.
BUILDERS: dict[type, Lowerer] = {}

#: spikecore state name -> Brian2 variable (Brian2 reserves ``i``, the neuron index).
STATE_VARS: dict[str, str] = {"v": "v", "i": "isyn"}
#: Brian2 variable -> spikecore state name.
STATE_NAMES: dict[str, str] = {"v": "v", "isyn": "i"}

#: Spiking types whose continuous-mode spikes are pulses of height ``substeps`` for one
#: internal step (area ``dt``): the Linear lowering scales their event weights by
#: ``substeps``. Lowerings with a continuous builder add their types.
PULSE_TYPES: set[type] = set()


def register(node_type: type, lowerer: Lowerer) -> None:
    """Register (or replace) how ``node_type`` is lowered."""
    BUILDERS[node_type] = lowerer


def register_state(name: str, variable: str) -> None:
    """Record the state ``name`` of some primitive as the Brian2 variable ``variable``."""
    STATE_VARS[name] = variable
    STATE_NAMES[variable] = name
