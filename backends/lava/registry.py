"""The Lava backend's registry: primitive type -> :class:`LavaRule` (its role in the
plan). Stateless linear types are composed into the connections between Lava processes
by the shared :mod:`spikecore.backends.terms` (which holds their builders).

A leaf module: it imports nothing of the backend, so every lowering module registers
here (:mod:`.sparse` SparseLinear) and the package ``__init__`` imports them all. A type
without a rule is reported by ``check``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ... import extensions as X
from ... import primitives as P


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

def register_rule(node_type: type, rule: LavaRule) -> None:
    """Register (or replace) the role of ``node_type`` in the plan."""
    RULES[node_type] = rule
