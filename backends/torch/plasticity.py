"""Torch lowering of the plastic connections of :mod:`spikecore.extensions.plasticity`
(STDPLinear, VogelsLinear, HebbianLinear).

Registered into :data:`.registry.BUILDERS` (the package imports this module).
:class:`STDPOp` runs :func:`spikecore.extensions.plasticity.stdp_step` with ``xp=torch``,
the function the numpy reference runs; the weights are state (``[batch, n_out, n_in]``),
not parameters: plasticity, not gradient training, changes them.
"""

from __future__ import annotations

from typing import Any

import torch

from ...extensions.plasticity import (
    COEFFICIENT_RULES,
    PlasticLinear,
    STDPState,
    plastic_coefficients,
    stdp_initial_state,
    stdp_step,
)
from .ops import BuildOptions, NodeOp
from .registry import Builder, register_builder


class STDPOp(NodeOp):
    """STDPLinear, VogelsLinear, HebbianLinear; state ``(w, r1, r2, o1, o2)``; sends
    ``y = W p``."""

    kind = "stateful"
    state_names = ("w", "r1", "r2", "o1", "o2")

    def __init__(self, name: str, node: PlasticLinear, in_shape, out_shape, opts: BuildOptions):
        super().__init__(name, node, in_shape, out_shape, opts)
        self.co = plastic_coefficients(node, opts.semantics)
        self.register_buffer("_ref", opts.tensor(0.0))  # dtype and device of the state

    def init_state(self, batch: int) -> STDPState:
        return stdp_initial_state(torch, self.template, batch, self._ref)

    def step(self, x: torch.Tensor, state: tuple, prep: Any) -> tuple[torch.Tensor, STDPState]:
        return stdp_step(torch, self.co, state, x)


for _t in COEFFICIENT_RULES:
    register_builder(_t, Builder(STDPOp, "the update of spikecore.extensions.plasticity "
                                 "(weights as state [batch, n_out, n_in]; no gradient "
                                 "through the rule)"))

__all__ = ["STDPOp"]
