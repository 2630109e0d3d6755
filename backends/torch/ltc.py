"""Torch lowering of :class:`spikecore.extensions.ltc.LTCLIF` (differentiable, batched).

Registered into :data:`spikecore.backends.torch.registry.BUILDERS` (the package imports
this module). :class:`LTCOp` runs :func:`spikecore.extensions.ltc.ltc_step` with ``xp=torch``, the
function the numpy reference runs::

    g_m = sigmoid(I @ w_mem_in.T + v @ w_mem_v.T + b_mem)
    rho = sigmoid(I @ w_adp_in.T + a @ w_adp_a.T + b_adp)
    a   = rho * a + (1 - rho) * z                      (z: last step's spike)
    k   = g_m  (euler)  |  1 - exp(-g_m)  (exact)
    v~  = v + k * (v_leak - v + r * I)
    z   = spike(v~ - (v_threshold + beta * a))         (surrogate gradient when training)
    v   = (1 - z) v~ + z v_reset  (to_value)  |  v~ - z (v_threshold - v_reset)  (subtract)

Trainable parameters follow :func:`spikecore.backends.torch.module.to_torch`'s ``trainable``
names: the four gate matrices are ``weight``\\ s, ``b_mem``/``b_adp`` are ``bias``\\ es (so
the default ``trainable=("weight", "bias", ...)`` trains the gates, as in the paper);
``r``, ``v_leak``, ``v_threshold``, ``v_reset`` by their own names; ``beta`` is fixed.
The gates use ``torch.sigmoid`` (:func:`spikecore.xp.sigmoid`: finite gradients where
``exp`` overflows); it and the matrix products round differently from numpy: float64
states equal the numpy contract to rounding, spikes are identical.
"""

from __future__ import annotations

import torch

from ...extensions.ltc import LTC_MATRICES, LTCLIF, LTCCoefficients, LTCState, ltc_coefficients, ltc_step
from .ops import BuildOptions, NodeOp, as_float, surrogate
from .registry import Builder, register_builder

#: Which ``trainable`` name switches each LTCLIF field to an ``nn.Parameter``.
TRAINABLE_AS = {"w_mem_in": "weight", "w_mem_v": "weight", "w_adp_in": "weight",
                "w_adp_a": "weight", "b_mem": "bias", "b_adp": "bias", "r": "r",
                "v_leak": "v_leak", "v_threshold": "v_threshold", "v_reset": "v_reset",
                "beta": "beta"}


class LTCOp(NodeOp):
    """LTCLIF; state ``(v, a, z)``; sends ``z``."""

    kind = "stateful"
    spiking = True
    state_names = ("v", "a", "z")

    def __init__(self, name: str, node: LTCLIF, in_shape, out_shape, opts: BuildOptions):
        super().__init__(name, node, in_shape, out_shape, opts)
        co = ltc_coefficients(node, opts.semantics, self.out_shape)
        for f, as_name in TRAINABLE_AS.items():
            value = getattr(co, f)
            self.add_tensor(f, value.reshape(getattr(node, f).shape) if f in LTC_MATRICES else value,
                      opts, None if f in LTC_MATRICES else self.out_shape, param_name=as_name)
        self.exact = co.exact
        self.reset_mode = co.reset
        self.spike = opts.spike
        self.detach_reset = opts.detach_reset

    def prepare(self) -> LTCCoefficients:
        return LTCCoefficients(**{f: getattr(self, f) for f in TRAINABLE_AS},
                               exact=self.exact, reset=self.reset_mode)

    def init_state(self, batch: int) -> LTCState:
        v = self.v_leak.detach().expand(batch, *self.out_shape).clone()
        return LTCState(v, torch.zeros_like(v), torch.zeros_like(v))

    def step(self, x: torch.Tensor, state: tuple, co: LTCCoefficients
             ) -> tuple[torch.Tensor, LTCState]:
        z, new = ltc_step(torch, co, state, x, surrogate(self.spike), self.detach_reset)
        z = as_float(z, x)
        return z, new._replace(z=z)


register_builder(LTCLIF, Builder(LTCOp, "the update of spikecore.extensions.ltc (sigmoid gates; "
                                 "surrogate gradient; gates train as weight/bias)"))

__all__ = ["LTCOp", "TRAINABLE_AS"]
