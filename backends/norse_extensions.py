"""Torch lowering of the extension primitives (:mod:`spikecore.extensions`).

Registered into :data:`spikecore.backends.norse_.BUILDERS` when that module is imported.
Each op reproduces the numpy update of :mod:`spikecore.ext_discrete` operation for
operation (float64: bit-identical states), reusing :class:`~.norse_.NeuronOp` for the
membrane so the base LIF/CubaLIF/LI update is the backend's one code path:

* refractory neurons: the base step gives a candidate; ``v = where(ref <= 0, cand, v)``,
  ``z = z * (ref <= 0)``, ``ref = where(z, n_ref, ref - (ref > 0))``;
* ALIF: LI membrane, ``z = v > v_threshold + beta * a``, reset, ``a = rho * a + z``
  (surrogate gradient through ``v - b`` when gradients are on);
* RateUnit: LI update of ``x`` (``r = 1``, ``v_leak = 0``), ``y = phi(x)``;
* sources: step ``t`` of :func:`spikecore.ext_discrete.source_stream` (numpy, counter
  based), so a module run in pieces or all at once gives the same stream as every other
  backend. The state is ``(t, y)`` (``y``: the OU value).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .. import extensions as X
from .. import primitives as P
from ..ext_discrete import alif_coefficients, refractory_steps, source_stream
from .norse_ import Builder, BuildOptions, NeuronOp, NodeOp, register_builder


def _with_base(template: Any, base: P.NIRNode) -> Any:
    """``template`` with the fields it shares with ``base`` taken from ``base``."""
    fields = template.fields()
    for k in list(fields):
        if k in ("t_ref", "tau_adapt", "beta", "x0", "phi", "k", "n"):
            continue
        if hasattr(base, k):
            fields[k] = getattr(base, k)
    return type(template)(**fields, metadata=dict(template.metadata))


class RefractoryOp(NodeOp):
    """RefractoryLIF / RefractoryCubaLIF; state ``(v, ref)`` or ``(i, v, ref)``."""

    kind = "stateful"
    spiking = True

    def __init__(self, name, node, in_shape, out_shape, opts: BuildOptions):
        super().__init__(name, node, in_shape, out_shape, opts)
        self.inner = NeuronOp(name, node.base(), in_shape, out_shape, opts)
        self.state_names = self.inner.state_names
        self.register_buffer("n_ref", opts.tensor(
            refractory_steps(node, float(opts.semantics.dt), self.out_shape)))

    def prepare(self) -> Any:
        return self.inner.prepare()

    def init_state(self, batch):
        return (*self.inner.init_state(batch), self.inner._like(batch, self.out_shape))

    def step(self, x, state, co):
        *inner, ref = state
        z, new = self.inner.step(x, tuple(inner), co)
        active = ref <= 0
        v = torch.where(active, new[-1], inner[-1])
        z = z * active.to(z.dtype)
        ref_new = torch.where(z > 0.5, self.n_ref.expand_as(ref), ref - (ref > 0).to(ref.dtype))
        return z, (*new[:-1], v, ref_new)

    def export(self) -> P.NIRNode:
        return _with_base(self.template, self.inner.export())


class ALIFOp(NodeOp):
    """ALIF; state ``(v, a)``."""

    kind = "stateful"
    spiking = True
    state_names = ("v", "a")

    def __init__(self, name, node, in_shape, out_shape, opts: BuildOptions):
        super().__init__(name, node, in_shape, out_shape, opts)
        self.inner = NeuronOp(name, node.base(), in_shape, out_shape, opts)
        co = alif_coefficients(node, opts.semantics, self.out_shape)
        self._add("v_threshold", node.v_threshold, opts, self.out_shape)
        self._add("v_reset", node.v_reset, opts, self.out_shape)
        self.register_buffer("beta", opts.tensor(co.beta))
        self.register_buffer("rho", opts.tensor(co.rho))
        self.reset_mode = opts.semantics.reset
        self.spike = opts.spike
        self.detach_reset = opts.detach_reset

    def prepare(self) -> Any:
        return self.inner.prepare()

    def init_state(self, batch):
        (v,) = self.inner.init_state(batch)
        return (v, torch.zeros_like(v))

    def step(self, x, state, co):
        v, a = state
        v_new, _ = self.inner.step(x, (v,), co)
        b = self.v_threshold + self.beta * a
        if torch.is_grad_enabled():
            z = self.spike(v_new - b)
            zr = z.detach() if self.detach_reset else z
            if self.reset_mode == "to_value":
                v_new = (1.0 - zr) * v_new + zr * self.v_reset
            else:
                v_new = v_new - zr * (self.v_threshold - self.v_reset)
        else:
            fired = v_new > b
            z = fired.to(v_new.dtype)
            if self.reset_mode == "to_value":
                v_new = torch.where(fired, self.v_reset, v_new)
            else:
                v_new = v_new - z * (self.v_threshold - self.v_reset)
        return z, (v_new, self.rho * a + z)

    def export(self) -> P.NIRNode:
        return _with_base(super().export(), self.inner.export())


class RateOp(NodeOp):
    """RateUnit; state ``(x,)``; output ``phi(x)``."""

    kind = "stateful"
    state_names = ("x",)

    def __init__(self, name, node, in_shape, out_shape, opts: BuildOptions):
        super().__init__(name, node, in_shape, out_shape, opts)
        self.inner = NeuronOp(name, node.base(), in_shape, out_shape, opts)
        self.phi = node.phi
        self.register_buffer("x0", opts.tensor(P.param(node, "x0", self.out_shape)))
        self.register_buffer("phi_k", opts.tensor(P.param(node, "k", self.out_shape)))
        self.register_buffer("phi_n", opts.tensor(P.param(node, "n", self.out_shape)))

    def prepare(self) -> Any:
        return self.inner.prepare()

    def init_state(self, batch):
        return (self.x0.expand(batch, *self.out_shape).clone(),)

    def step(self, x, state, co):
        x_new, _ = self.inner.step(x, state, co)
        if self.phi == "tanh":
            y = torch.tanh(x_new)
        elif self.phi == "relu":
            y = torch.clamp(x_new, min=0.0)
        else:
            y = self.phi_k * torch.clamp(x_new, min=0.0) ** self.phi_n
        return y, (x_new,)

    def export(self) -> P.NIRNode:
        return _with_base(self.template, self.inner.export())


class SourceOp(NodeOp):
    """PoissonSource, WhiteNoiseSource, OUSource: the seeded stream, step by step."""

    kind = "stateful"

    def __init__(self, name, node, in_shape, out_shape, opts: BuildOptions):
        super().__init__(name, node, in_shape, out_shape, opts)
        self.spiking = P.SPECS[type(node)].spiking
        self.sem = opts.semantics
        self.register_buffer("_ref", opts.tensor(0.0))

    def init_state(self, batch):
        y = np.zeros((batch, *self.out_shape))
        if isinstance(self.template, X.OUSource):
            y = y + P.param(self.template, "mean", self.out_shape)
        return (torch.zeros(1, dtype=torch.float64, device=self._ref.device),
                torch.as_tensor(y, dtype=torch.float64, device=self._ref.device))

    def step(self, x, state, prep):
        t = int(state[0].item())
        held = state[1].detach().cpu().numpy() if isinstance(self.template, X.OUSource) else None
        values, after = source_stream(self.template, self.node_name, self.sem, x.shape[0], t,
                                      t + 1, self.out_shape, state=held)
        y = torch.as_tensor(values[:, 0], dtype=self._ref.dtype, device=self._ref.device)
        new = state[1] if after is None else torch.as_tensor(after, device=state[1].device)
        return y, (state[0] + 1, new)


_NOTE = "the update of spikecore.ext_discrete"
for _t in (X.RefractoryLIF, X.RefractoryCubaLIF):
    register_builder(_t, Builder(RefractoryOp, _NOTE + " (refractory counter; v held)"))
register_builder(X.ALIF, Builder(ALIFOp, _NOTE + " (adaptive threshold; surrogate gradient)"))
register_builder(X.RateUnit, Builder(RateOp, _NOTE + " (y = phi(x))"))
for _t in (X.PoissonSource, X.WhiteNoiseSource, X.OUSource):
    register_builder(_t, Builder(SourceOp, "seeded numpy stream of spikecore.ext_discrete, "
                                 "step by step"))
