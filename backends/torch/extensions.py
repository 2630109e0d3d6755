"""Torch lowering of the extension primitives (:mod:`spikecore.extensions`).

Registered into :data:`spikecore.backends.torch.registry.BUILDERS` when that module is imported.
Each op reproduces the numpy update of :mod:`spikecore.ext_discrete` operation for
operation (float64: bit-identical states), reusing :class:`~.torch_ops.NeuronOp` for the
membrane so the base LIF/CubaLIF/LI update is the backend's one code path:

* refractory neurons: the base step gives a candidate; ``v = where(ref <= 0, cand, v)``,
  ``z = z * (ref <= 0)``, ``ref = where(z, n_ref, ref - (ref > 0))``;
* ALIF: LI membrane, ``z = v > v_threshold + beta * a``, reset, ``a = rho * a + z``
  (surrogate gradient through ``v - b`` when gradients are on);
* RateUnit: LI update of ``x`` (``r = 1``, ``v_leak = 0``), ``y = phi(x)``;
* CondLIF, Izhikevich, MorrisLecar(Graded): the numpy step functions of
  :mod:`spikecore.ext_discrete` transcribed to torch, same evaluation order. With
  gradients on, spikes go through the configured surrogate (``to_torch(surrogate=...)``)
  and resets are arithmetic, as in the LIF op (:func:`.torch_ops.neuron_update`): CondLIF
  ``z = spike(v' - v_threshold)``, ``v = (1 - zr) v' + zr v_reset`` (``subtract``:
  ``v' - zr (v_threshold - v_reset)``); Izhikevich ``z = spike(v2 - v_peak)``,
  ``v = (1 - zr) v2 + zr c``, ``u = u' + zr d``; ``zr = z.detach()`` only with
  ``detach_reset=True`` (the LIF op's rule). Morris-Lecar's spike is the upward crossing
  ``V[t-1] <= thr < V[t]``: ``z = spike(V[t] - thr) * 1[V[t-1] <= thr]``, the indicator a
  constant (no gradient through ``V[t-1]`` there); it has no reset. Forward values are
  those of the no-gradient path bit for bit (``u > 0`` is ``v > thr`` for doubles, and
  ``(1 - z) v + z c`` selects exactly for ``z`` in {0, 1}). The graded Morris-Lecar
  output ``s_inf(V)`` is smooth: plain autograd;
* sources: step ``t`` of :func:`spikecore.ext_discrete.source_stream` (numpy, counter
  based), so a module run in pieces or all at once gives the same stream as every other
  backend. The state is ``(t, y)`` (``y``: the OU value).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ... import extensions as X
from ... import primitives as P
from ...ext_discrete import (
    alif_coefficients,
    cond_lif_coefficients,
    izhikevich_h,
    morris_lecar_h,
    refractory_steps,
    source_stream,
)
from .ops import BuildOptions, NeuronOp, NodeOp, spike_and_reset
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
        z, v_new = spike_and_reset(v_new, self.v_threshold + self.beta * a, self.v_reset,
                                   self.v_threshold - self.v_reset, self.reset_mode,
                                   self.spike, self.detach_reset)
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


class CondLIFOp(NodeOp):
    """CondLIF; state ``(g_exc, g_inh, v)``; input ``[batch, *in_shape]`` whose first half
    is excitatory (:func:`spikecore.ext_discrete.cond_lif_step`)."""

    kind = "stateful"
    spiking = True
    state_names = ("g_exc", "g_inh", "v")

    def __init__(self, name, node, in_shape, out_shape, opts: BuildOptions):
        super().__init__(name, node, in_shape, out_shape, opts)
        co = cond_lif_coefficients(node, opts.semantics, self.out_shape)
        for f in ("a_exc", "a_inh", "h_mem", "r", "v_leak", "e_exc", "e_inh", "v_threshold",
                  "v_reset"):
            self.register_buffer(f, opts.tensor(getattr(co, f)))
        self.exact, self.use_new, self.reset_mode = co.exact, co.use_new, co.reset
        self.spike, self.detach_reset = opts.spike, opts.detach_reset

    def init_state(self, batch):
        z = self._like(batch, self.out_shape)
        return (z, z.clone(), self.v_leak.expand(batch, *self.out_shape).clone())

    def step(self, x, state, co):
        g_exc, g_inh, v = state
        xx = x.reshape(x.shape[0], 2, -1)
        xe = xx[:, 0].reshape(x.shape[0], *self.out_shape)
        xi = xx[:, 1].reshape(x.shape[0], *self.out_shape)
        ge_new = self.a_exc * g_exc + xe
        gi_new = self.a_inh * g_inh + xi
        ge, gi = (ge_new, gi_new) if self.use_new else (g_exc, g_inh)
        if self.exact:
            gt = 1.0 + self.r * ge + self.r * gi
            v_inf = (self.v_leak + self.r * ge * self.e_exc + self.r * gi * self.e_inh) / gt
            v_new = v_inf + (v - v_inf) * torch.exp(-self.h_mem * gt)
        else:
            v_new = v + self.h_mem * ((self.v_leak - v) + self.r * ge * (self.e_exc - v)
                                      + self.r * gi * (self.e_inh - v))
        z, v_new = spike_and_reset(v_new, self.v_threshold, self.v_reset,
                                   self.v_threshold - self.v_reset, self.reset_mode,
                                   self.spike, self.detach_reset)
        return z, (ge_new, gi_new, v_new)


class IzhikevichOp(NodeOp):
    """Izhikevich (2003); state ``(v, u)`` (:func:`spikecore.ext_discrete.izhikevich_step`)."""

    kind = "stateful"
    spiking = True
    state_names = ("v", "u")

    def __init__(self, name, node, in_shape, out_shape, opts: BuildOptions):
        super().__init__(name, node, in_shape, out_shape, opts)
        for f in ("a", "b", "c", "d", "v0", "u0", "v_peak"):
            self.register_buffer(f, opts.tensor(P.param(node, f, self.out_shape)))
        self.h = izhikevich_h(opts.semantics)
        self.spike, self.detach_reset = opts.spike, opts.detach_reset

    def init_state(self, batch):
        shape = (batch, *self.out_shape)
        return (self.v0.expand(*shape).clone(), self.u0.expand(*shape).clone())

    def step(self, x, state, co):
        v, u = state
        hh = 0.5 * self.h

        def f(w):
            return 0.04 * (w * w) + 5.0 * w + 140.0 - u + x

        v1 = v + hh * f(v)
        v2 = v1 + hh * f(v1)
        u_new = u + self.h * (self.a * (self.b * v2 - u))
        if torch.is_grad_enabled():
            z = self.spike(v2 - self.v_peak)
            zr = z.detach() if self.detach_reset else z
            return z, ((1.0 - zr) * v2 + zr * self.c, u_new + zr * self.d)
        fired = v2 > self.v_peak
        return fired.to(v.dtype), (torch.where(fired, self.c, v2),
                                   torch.where(fired, u_new + self.d, u_new))


class MorrisLecarOp(NodeOp):
    """MorrisLecar / MorrisLecarGraded; state ``(v, w)``
    (:func:`spikecore.ext_discrete.morris_lecar_step`)."""

    kind = "stateful"
    state_names = ("v", "w")
    FIELDS = ("c_m", "g_l", "g_ca", "g_k", "v_l", "v_ca", "v_k", "v1", "v2", "v3", "v4", "phi",
              "v0", "w0", "v_threshold", "v_syn", "k_syn", "e_syn")

    def __init__(self, name, node, in_shape, out_shape, opts: BuildOptions):
        super().__init__(name, node, in_shape, out_shape, opts)
        for f in self.FIELDS:
            self.register_buffer("ml_" + f, opts.tensor(P.param(node, f, self.out_shape)))
        self.h = morris_lecar_h(opts.semantics)
        self.exact = opts.semantics.integrator == "exact"
        self.spiking = P.SPECS[type(node)].spiking
        self.conductance = node.input_kind == X.ML_CONDUCTANCE
        self.spike = opts.spike

    def init_state(self, batch):
        shape = (batch, *self.out_shape)
        return (self.ml_v0.expand(*shape).clone(), self.ml_w0.expand(*shape).clone())

    def step(self, x, state, co):
        v, w = state
        h = self.h
        g = None
        if self.conductance:  # stacked (current, conductance): first half is the current
            xx = x.reshape(x.shape[0], 2, -1)
            x = xx[:, 0].reshape(x.shape[0], *self.out_shape)
            g = xx[:, 1].reshape(x.shape[0], *self.out_shape)
        m = 0.5 * (1.0 + torch.tanh((v - self.ml_v1) / self.ml_v2))
        wi = 0.5 * (1.0 + torch.tanh((v - self.ml_v3) / self.ml_v4))
        ch = torch.cosh((v - self.ml_v3) / (2.0 * self.ml_v4))
        if g is not None:
            x = x + g * (self.ml_e_syn - v)
        v_new = v + (h / self.ml_c_m) * (x - self.ml_g_l * (v - self.ml_v_l)
                                         - self.ml_g_ca * m * (v - self.ml_v_ca)
                                         - self.ml_g_k * w * (v - self.ml_v_k))
        if self.exact:
            w_new = wi + (w - wi) * torch.exp(-h * self.ml_phi * ch)
        else:
            w_new = w + h * self.ml_phi * ch * (wi - w)
        if self.spiking and torch.is_grad_enabled():
            below = (v <= self.ml_v_threshold).to(v.dtype).detach()
            y = self.spike(v_new - self.ml_v_threshold) * below
        elif self.spiking:
            y = ((v <= self.ml_v_threshold) & (v_new > self.ml_v_threshold)).to(v.dtype)
        else:
            y = 0.5 * (1.0 + torch.tanh((v_new - self.ml_v_syn) / self.ml_k_syn))
        return y, (v_new, w_new)


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


_NOTE = "the update of spikecore.ext_discrete"
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
    register_builder(_t, Builder(SourceOp, "seeded numpy stream of spikecore.ext_discrete, "
                                 "step by step"))
