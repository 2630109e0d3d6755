"""Torch lowering of the extension primitives (:mod:`spikecore.extensions`).

Registered into :data:`spikecore.backends.torch.registry.BUILDERS` (the package imports
this module). Each op is a thin stateful wrapper around the step function of
:mod:`spikecore.extensions` that the numpy reference runs: the same function, called
with ``xp=torch`` (float64: bit-identical states), with the coefficients as buffers (or
trainable parameters) and the configured surrogate as ``spike_fn`` while autograd is on.
The membranes of refractory neurons, ALIF and rate units are :class:`~.ops.NeuronOp`'s
coefficients, so the base LIF/CubaLIF/LI update is the backend's one code path.

With gradients on, resets are arithmetic (:func:`spikecore.xp.spike_and_reset`):
``z = spike(v' - threshold)``, ``v = (1 - zr) v' + zr v_reset`` (``subtract``:
``v' - zr (v_threshold - v_reset)``); Izhikevich also ``u = u' + zr d``; ``zr =
z.detach()`` only with ``detach_reset=True``. Morris-Lecar's spike is the upward crossing
``V[t-1] <= thr < V[t]``: ``z = spike(V[t] - thr) * 1[V[t-1] <= thr]``, the indicator a
constant; it has no reset. Forward values are those of the no-gradient path bit for bit
(``u > 0`` is ``v > thr`` for doubles, and ``(1 - z) v + z c`` selects exactly for ``z`` in
{0, 1}). The graded Morris-Lecar output ``s_inf(V)`` is smooth: plain autograd.

Sources give step ``t`` of :func:`spikecore.extensions.source_stream` (numpy, counter
  based), so a module run in pieces or all at once gives the same stream as every other
  backend. The state is ``(t, y)`` (``y``: the OU value).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import torch

from ... import extensions as X
from ... import primitives as P
from ...extensions import (
    ALIFCoefficients,
    ALIFState,
    CondLIFCoefficients,
    CondLIFState,
    IzhikevichCoefficients,
    IzhikevichState,
    MorrisLecarCoefficients,
    MorrisLecarState,
    RateCoefficients,
    RateState,
    RefractoryState,
    RefractorySynapticState,
    alif_coefficients,
    alif_step,
    cond_lif_coefficients,
    cond_lif_step,
    izhikevich_coefficients,
    izhikevich_step,
    morris_lecar_coefficients,
    morris_lecar_step,
    rate_step,
    refractory_step,
    refractory_steps,
    source_stream,
    split_conductance_input,
    split_morris_lecar_input,
)
from .ops import (
    BuildOptions,
    NeuronOp,
    NodeOp,
    arrays_as_buffers,
    as_float,
    register_arrays,
    surrogate,
)
from .registry import Builder, register_builder


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
    """RefractoryLIF / RefractoryCubaLIF: :func:`~spikecore.extensions.refractory_step`;
    state ``(v, ref)`` or ``(i, v, ref)``."""

    kind = "stateful"
    spiking = True

    def __init__(self, name, node, in_shape, out_shape, opts: BuildOptions):
        super().__init__(name, node, in_shape, out_shape, opts)
        self.inner = NeuronOp(name, node.base(), in_shape, out_shape, opts)
        self.state_names = (*self.inner.state_names, "ref")
        self.register_buffer("n_ref", opts.tensor(
            refractory_steps(node, float(opts.semantics.dt), self.out_shape)))
        self.spike, self.detach_reset = opts.spike, opts.detach_reset

    def prepare(self) -> Any:
        return self.inner.prepare()

    def init_state(self, batch):
        base = self.inner.init_state(batch)
        ref = self.inner.zeros_state(batch, self.out_shape)
        if "i" in self.inner.state_names:
            return RefractorySynapticState(*base, ref)
        return RefractoryState(*base, ref)

    def step(self, x, state, co):
        z, new = refractory_step(torch, co, self.n_ref, state, x, surrogate(self.spike),
                                 self.detach_reset)
        return as_float(z, x), new

    def export(self) -> P.NIRNode:
        return _with_base(self.template, self.inner.export())


class ALIFOp(NodeOp):
    """ALIF: :func:`~spikecore.extensions.alif_step`; state ``(v, a)``."""

    kind = "stateful"
    spiking = True
    state_names = ("v", "a")

    def __init__(self, name, node, in_shape, out_shape, opts: BuildOptions):
        super().__init__(name, node, in_shape, out_shape, opts)
        self.inner = NeuronOp(name, node.base(), in_shape, out_shape, opts)
        co = alif_coefficients(node, opts.semantics, self.out_shape)
        self.add_tensor("v_threshold", node.v_threshold, opts, self.out_shape)
        self.add_tensor("v_reset", node.v_reset, opts, self.out_shape)
        self.register_buffer("beta", opts.tensor(co.beta))
        self.register_buffer("rho", opts.tensor(co.rho))
        self.reset_mode = opts.semantics.reset
        self.spike = opts.spike
        self.detach_reset = opts.detach_reset

    def prepare(self) -> ALIFCoefficients:
        return ALIFCoefficients(self.inner.prepare(), self.rho, self.beta, self.v_threshold,
                                self.v_reset, self.reset_mode)

    def init_state(self, batch):
        (v,) = self.inner.init_state(batch)
        return ALIFState(v, torch.zeros_like(v))

    def step(self, x, state, co):
        z, new = alif_step(torch, co, state, x, surrogate(self.spike), self.detach_reset)
        return as_float(z, x), new

    def export(self) -> P.NIRNode:
        return _with_base(super().export(), self.inner.export())


class RateOp(NodeOp):
    """RateUnit: :func:`~spikecore.extensions.rate_step`; state ``(x,)``; output
    ``phi(x)``."""

    kind = "stateful"
    state_names = ("x",)

    def __init__(self, name, node, in_shape, out_shape, opts: BuildOptions):
        super().__init__(name, node, in_shape, out_shape, opts)
        self.inner = NeuronOp(name, node.base(), in_shape, out_shape, opts)
        self.phi = node.phi
        self.register_buffer("x0", opts.tensor(P.param(node, "x0", self.out_shape)))
        self.register_buffer("phi_k", opts.tensor(P.param(node, "k", self.out_shape)))
        self.register_buffer("phi_n", opts.tensor(P.param(node, "n", self.out_shape)))

    def prepare(self) -> RateCoefficients:
        return RateCoefficients(self.inner.prepare(), self.phi, self.phi_k, self.phi_n)

    def init_state(self, batch):
        return RateState(self.x0.expand(batch, *self.out_shape).clone())

    def step(self, x, state, co):
        return rate_step(torch, co, state, x)

    def export(self) -> P.NIRNode:
        return _with_base(self.template, self.inner.export())


class CondLIFOp(NodeOp):
    """CondLIF: :func:`~spikecore.extensions.cond_lif_step`; state ``(g_exc, g_inh,
    v)``; input ``[batch, *in_shape]`` whose first half is excitatory."""

    kind = "stateful"
    spiking = True
    state_names = ("g_exc", "g_inh", "v")

    def __init__(self, name, node, in_shape, out_shape, opts: BuildOptions):
        super().__init__(name, node, in_shape, out_shape, opts)
        self.co = cond_lif_coefficients(node, opts.semantics, self.out_shape)
        register_arrays(self, self.co, opts)
        self.spike, self.detach_reset = opts.spike, opts.detach_reset

    def prepare(self) -> CondLIFCoefficients:
        return arrays_as_buffers(self, self.co)

    def init_state(self, batch):
        z = self.zeros_state(batch, self.out_shape)
        return CondLIFState(z, z.clone(), self.co_v_leak.expand(batch, *self.out_shape).clone())

    def step(self, x, state, co):
        xe, xi = split_conductance_input(x, self.in_shape, self.out_shape)
        z, new = cond_lif_step(torch, co, state, xe, xi, surrogate(self.spike),
                               self.detach_reset)
        return as_float(z, x), new


class IzhikevichOp(NodeOp):
    """Izhikevich (2003): :func:`~spikecore.extensions.izhikevich_step`; state
    ``(v, u)``."""

    kind = "stateful"
    spiking = True
    state_names = ("v", "u")

    def __init__(self, name, node, in_shape, out_shape, opts: BuildOptions):
        super().__init__(name, node, in_shape, out_shape, opts)
        self.co = izhikevich_coefficients(node, opts.semantics, self.out_shape)
        register_arrays(self, self.co, opts)
        for f in ("v0", "u0"):
            self.register_buffer(f, opts.tensor(P.param(node, f, self.out_shape)))
        self.spike, self.detach_reset = opts.spike, opts.detach_reset

    def prepare(self) -> IzhikevichCoefficients:
        return arrays_as_buffers(self, self.co)

    def init_state(self, batch):
        shape = (batch, *self.out_shape)
        return IzhikevichState(self.v0.expand(*shape).clone(), self.u0.expand(*shape).clone())

    def step(self, x, state, co):
        z, new = izhikevich_step(torch, co, state, x, surrogate(self.spike), self.detach_reset)
        return as_float(z, x), new


class MorrisLecarOp(NodeOp):
    """MorrisLecar / MorrisLecarGraded: :func:`~spikecore.extensions.morris_lecar_step`;
    state ``(v, w)``."""

    kind = "stateful"
    state_names = ("v", "w")

    def __init__(self, name, node, in_shape, out_shape, opts: BuildOptions):
        super().__init__(name, node, in_shape, out_shape, opts)
        co = morris_lecar_coefficients(node, opts.semantics, self.out_shape)
        for f, value in co.p.items():
            self.register_buffer("ml_" + f, opts.tensor(value))
        for f in ("v0", "w0"):
            self.register_buffer("ml_" + f, opts.tensor(P.param(node, f, self.out_shape)))
        self.co = co
        self.spiking = co.spiking
        self.node = node
        self.spike = opts.spike

    def prepare(self) -> MorrisLecarCoefficients:
        return replace(self.co, p={f: getattr(self, "ml_" + f) for f in self.co.p})

    def init_state(self, batch):
        shape = (batch, *self.out_shape)
        return MorrisLecarState(self.ml_v0.expand(*shape).clone(),
                                self.ml_w0.expand(*shape).clone())

    def step(self, x, state, co):
        current, g = split_morris_lecar_input(self.node, x, self.in_shape, self.out_shape)
        y, new = morris_lecar_step(torch, co, state, current, g, surrogate(self.spike))
        return as_float(y, x), new


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

    #: Stateless streams (Poisson, white noise) are drawn this many steps at a time: one
    #: call per block instead of one per step (Brunel at full scale: 20 sources of 12,500).
    BLOCK_STEPS = 64
    BLOCK_BYTES = 16 * 2**20

    def _block(self, batch: int, t: int) -> np.ndarray:
        """Step ``t`` of a stateless stream, ``[batch, *shape]``, from a cached block (a
        pure function of the step, so blocks equal the step-by-step values)."""
        cache = getattr(self, "_cache", None)
        if cache is None or cache[0] != batch or not cache[1] <= t < cache[1] + cache[2].shape[1]:
            size = batch * int(np.prod(self.out_shape))
            n = int(max(1, min(self.BLOCK_STEPS, self.BLOCK_BYTES // (8 * size))))
            data, _ = source_stream(self.template, self.node_name, self.sem, batch, t, t + n,
                                    self.out_shape)
            cache = self._cache = (batch, t, data)
        return cache[2][:, t - cache[1]]

    def step(self, x, state, prep):
        t = int(state[0].item())
        if not isinstance(self.template, X.OUSource):
            y = torch.as_tensor(self._block(x.shape[0], t), dtype=self._ref.dtype,
                                device=self._ref.device)
            return y, (state[0] + 1, state[1])
        held = state[1].detach().cpu().numpy() if isinstance(self.template, X.OUSource) else None
        values, after = source_stream(self.template, self.node_name, self.sem, x.shape[0], t,
                                      t + 1, self.out_shape, state=held)
        y = torch.as_tensor(values[:, 0], dtype=self._ref.dtype, device=self._ref.device)
        new = state[1] if after is None else torch.as_tensor(after, device=state[1].device)
        return y, (state[0] + 1, new)


_NOTE = "the update of spikecore.extensions"
for _t in (X.RefractoryLIF, X.RefractoryCubaLIF):
    register_builder(_t, Builder(RefractoryOp, _NOTE + " (refractory counter; v held)"))
register_builder(X.ALIF, Builder(ALIFOp, _NOTE + " (adaptive threshold; surrogate gradient)"))
register_builder(X.RateUnit, Builder(RateOp, _NOTE + " (y = phi(x))"))
register_builder(X.CondLIF, Builder(CondLIFOp, _NOTE + " (conductance jumps, then membrane; "
                                    "surrogate gradient)"))
register_builder(X.Izhikevich, Builder(IzhikevichOp, _NOTE + " (Izhikevich 2003 half-steps; "
                                       "surrogate gradient)"))
register_builder(X.MorrisLecar, Builder(MorrisLecarOp, _NOTE + " (surrogate gradient on the "
                                        "upward crossing)"))
register_builder(X.MorrisLecarGraded, Builder(MorrisLecarOp, _NOTE + " (smooth: autograd)"))
for _t in (X.PoissonSource, X.WhiteNoiseSource, X.OUSource):
    register_builder(_t, Builder(SourceOp, "seeded numpy stream of spikecore.extensions, "
                                 "step by step"))
