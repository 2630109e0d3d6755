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


#: primitive type -> its lowering in ``mode='continuous'`` where that differs from the
#: discrete one (NIR neurons switch mode inside their one builder instead).
CONTINUOUS: dict[type, Lowerer] = {}

#: type name -> why it has no continuous-mode lowering (stated by :func:`discrete_only`).
CONTINUOUS_REFUSALS: dict[str, str] = {}


def register(node_type: type, lowerer: Lowerer) -> None:
    """Register (or replace) how ``node_type`` is lowered."""
    BUILDERS[node_type] = lowerer


def register_continuous(node_type: type, lowerer: Lowerer, spiking: bool) -> None:
    """Register the continuous-mode lowering of ``node_type``; ``spiking`` types send spikes
    as pulses of area ``dt`` (see :data:`PULSE_TYPES`)."""
    CONTINUOUS[node_type] = lowerer
    if spiking:
        PULSE_TYPES.add(node_type)


def lowerer_for(node_type: type, mode: str) -> Lowerer | None:
    """The lowering of ``node_type`` in ``mode`` (``None``: not lowerable at all)."""
    if mode == "continuous" and node_type in CONTINUOUS:
        return CONTINUOUS[node_type]
    return BUILDERS.get(node_type)


def note_of(node_type: type) -> str:
    """The support note of ``node_type``: its lowering, and its continuous one if separate."""
    note = BUILDERS[node_type].note
    if node_type in CONTINUOUS:
        note += f"; continuous: {CONTINUOUS[node_type].note}"
    return note


def discrete_only(graph: Graph, name: str, node: Any, options: Mapping[str, Any]
                  ) -> list[str]:
    """``problems`` hook of a lowering without a continuous form: refuses
    ``mode='continuous'`` with the reason in :data:`CONTINUOUS_REFUSALS`."""
    if options.get("mode", "discrete") == "continuous" and type(node) not in CONTINUOUS:
        tn = type(node).__name__
        why = CONTINUOUS_REFUSALS.get(tn, "no continuous-time lowering yet")
        return [f"{name!r} ({tn}): runs in mode='discrete' only ({why})"]
    return []


def register_state(name: str, variable: str) -> None:
    """Record the state ``name`` of some primitive as the Brian2 variable ``variable``."""
    STATE_VARS[name] = variable
    STATE_NAMES[variable] = name
