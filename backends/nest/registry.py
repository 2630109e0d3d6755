"""The NEST backend's registry: primitive type -> :class:`NestRule` (its role in the
plan) and, for stateful types, the function that maps the node onto a NEST model.

A leaf module: it imports nothing of the backend; :mod:`.models` registers the neuron
mappings, :mod:`.lowering` the roles of sources, linear nodes and Outputs (stateless
linear nodes are composed into connections by the shared
:mod:`spikecore.backends.terms`). A type without a rule is refused by ``check``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class NestRule:
    """``role``: "source", "neuron", "linear" or "output"; ``note`` is shown by
    :meth:`NestBackend.supported`."""

    role: str
    note: str


@dataclass
class NestNeuron:
    """One neuron node as a NEST model: per-element parameters in NEST's units (ms for
    times; potentials and currents as numbers in the contract's own units).

    ``in_factor``: what one unit of the contract's input ``x`` adds, per element, to the
    NEST state that receives spikes (``V_m`` for iaf_psc_delta, the synaptic current for
    iaf_psc_exp): every incoming weight and replayed input is multiplied by it.
    ``states``: contract state name -> NEST recordables whose sum is that state.
    """

    model: str
    params: dict[str, np.ndarray]
    in_factor: np.ndarray
    spiking: bool
    states: dict[str, tuple[str, ...]] = field(default_factory=dict)
    rests_above_threshold: bool = False


#: (node name, node, flat graph, node shape) -> (NestNeuron or None, problems).
NeuronMapper = Callable[[str, Any, Any, tuple[int, ...]], tuple[NestNeuron | None, list[str]]]

#: primitive type -> its role and note.
RULES: dict[type, NestRule] = {}
#: stateful primitive type -> how it becomes a NEST model.
NEURON_MAPPERS: dict[type, NeuronMapper] = {}


def register_rule(node_type: type, rule: NestRule) -> None:
    RULES[node_type] = rule


def register_neuron(node_type: type, note: str, mapper: NeuronMapper) -> None:
    RULES[node_type] = NestRule("neuron", note)
    NEURON_MAPPERS[node_type] = mapper
