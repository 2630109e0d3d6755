"""The Lava backend's registry: primitive type -> :class:`LavaRule` (its role in the
plan) and, for stateless linear types, the builder that composes it into the terms of
the connections between Lava processes.

A leaf module: it imports nothing of the backend, so every lowering module registers
here (:mod:`.lowering` its linear builders, :mod:`.sparse` SparseLinear) and the package
``__init__`` imports them all. A type without a rule is reported by ``check``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ... import extensions as X
from ... import primitives as P

#: (source, delay in steps) -> matrix mapping the source's output to a node's elements.
Terms = dict[tuple[str, int], np.ndarray]

#: (node, incoming terms, output size) -> output terms.
LinearBuilder = Callable[[Any, Terms, int], Terms]


@dataclass(frozen=True)
class LavaRule:
    """How a primitive type is lowered: ``role`` is "input", "neuron", "linear" or
    "output"; ``note`` is shown by :meth:`LavaBackend.supported`."""

    role: str
    note: str


#: primitive type -> how it is lowered (its role in the plan and a note).
RULES: dict[type, LavaRule] = {
    P.Input: LavaRule("input", "RingBuffer with graded (float) messages"),
    P.Output: LavaRule("output", "read from the recorded sources in numpy"),
    P.Affine: LavaRule("linear", "folded into Dense/Sparse weights; bias from a constant source"),
    P.Linear: LavaRule("linear", "folded into Dense/Sparse weights"),
    P.Scale: LavaRule("linear", "folded into weights"),
    P.Flatten: LavaRule("linear", "identity on the flat element order"),
    P.Delay: LavaRule("linear", "folded into DelayDense/DelaySparse delays"),
    P.LIF: LavaRule("neuron", "LIF (du=1); reset to_value only"),
    P.CubaLIF: LavaRule("neuron", "LIF; euler + current_first only; reset to_value only"),
    P.IF: LavaRule("neuron", "LIF with dv=0, du=1; reset to_value only"),
    P.LI: LavaRule("neuron", "LIF with an infinite threshold (no spikes)"),
    P.I: LavaRule("neuron", "LIF with dv=0 and an infinite threshold"),
    P.CubaLI: LavaRule("neuron", "LIF with an infinite threshold; euler + current_first"),
    P.Threshold: LavaRule("neuron", "LIF with du=dv=1 (floating_pt only)"),
    X.RefractoryLIF: LavaRule("neuron", "LIFRefractory (du=1); reset to_value only; "
                              "floating_pt only"),
    X.RefractoryCubaLIF: LavaRule("neuron", "LIFRefractory; euler + current_first only; "
                                  "reset to_value only; floating_pt only"),
    X.PoissonSource: LavaRule("input", "RingBuffer playing the seeded stream computed in "
                              "the main process"),
    X.WhiteNoiseSource: LavaRule("input", "RingBuffer playing the seeded stream computed "
                                 "in the main process (floating_pt only)"),
    X.OUSource: LavaRule("input", "RingBuffer playing the seeded stream computed in the "
                         "main process (floating_pt only)"),
}

#: stateless ("linear") type -> its builder. Delay is registered with a stand-in; its
#: per-element delays need dt and are applied by the lowering.
LINEAR_BUILDERS: dict[type, LinearBuilder] = {}


def register_rule(node_type: type, rule: LavaRule) -> None:
    """Register (or replace) the role of ``node_type`` in the plan."""
    RULES[node_type] = rule


def register_linear(node_type: type, fn: LinearBuilder) -> None:
    """Register (or replace) how the stateless ``node_type`` composes incoming terms."""
    LINEAR_BUILDERS[node_type] = fn
