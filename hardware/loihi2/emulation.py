"""Loihi 2 fixed-point arithmetic in torch: bit-exact forward, straight-through backward.

The forward pass re-implements, on float64 tensors holding exact integers, the
bit-accurate models of lava-nc 0.10 (``PyLifModelBitAcc``, ``PyDenseModelBitAcc``)
that Lava states mimic Loihi bit by bit. Per step ``t`` and population (all integers)::

    a_c   = wrap32( shift(W_c @ s_c[t - d_c], weight_exp_c) )   per connection c (Dense)
    a_in  = wrap32( sum_c a_c )                                  (int32 port sum)
    u[t]  = wrap24( wrap32( trunc(u[t-1] * (4095 - du) / 4096) + wrap32(a_in << 6) ) )
    v[t]  = clip24( trunc(v[t-1] * (4096 - dv) / 4096) + u[t] + (bias_mant << bias_exp) )
    z[t]  = v[t] > (vth << 6)            (spiking populations)
    v[t]  = 0 where z[t]

``W_c`` are Lava's effective weights (``clip_weights`` + ``truncate_weights``, 8 bits,
per sign mode); ``shift(x, e)`` is ``x * 2**e`` for ``e > 0`` else ``floor(x / 2**-e)``;
``wrap32`` is int32 overflow (numpy's), ``wrap24`` Lava's single conditional wrap of u
(``x > 2**23 -> x - 2**24``, ``x <= -2**23 -> x + 2**24``), ``clip24`` the saturation of
v to ``±(2**23 - 1)``. Input spikes are ``input != 0`` (Lava's binary Dense).

Time axis: the spikecore contract's. Lava's ``Dense`` delivers one step late; a
connection here delivers after its edge delay ``d_c`` (0 within a feed-forward step), so
a Lava run equals this one shifted by each population's lag (see
:func:`run_lava_reference`, which realigns).

Without gradients the same integers come from a faster form (``Loihi2Module._forward_fused``):
the populations are pipelined (population ``p`` runs ``lag[p]`` iterations behind, so each
iteration reads only spikes of earlier iterations), concatenated into one state vector and
updated by one set of in-place float64 tensor ops per step (exact: every value is an
integer below 2**53 when static bounds rule out int32 overflow; otherwise, or when a cycle
forbids the lags, the population-by-population int64 loop runs).

Backward: every rounding, shift, wrap and clip passes the gradient straight through
(``x + (q(x) - x).detach()``); the spike uses a surrogate of ``(v - vth_eff) / vth_eff``
from :mod:`spikecore.backends.torch.surrogate`. Weights are trainable float parameters in
mantissa units, rounded (straight-through) to Lava's representable values each forward.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...backends.lava import scripts as lava_scripts
from ...backends.torch.surrogate import spike_function
from ...errors import BackendProcessError, SpikecoreError, UnavailableError
from ...graph import Graph
from ...result import Result
from .target import LOIHI2, HardwareTarget, Loihi2Network, quantize

_TWO32 = 2.0 ** 32
_TWO31 = 2.0 ** 31
WORKER = Path(lava_scripts.__file__).with_name("loihi2_reference_worker.py")


# ============================================================ integer ops (straight-through)
def _ste(x: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Value of ``q``, gradient of ``x``."""
    return x + (q - x).detach()


def wrap32(x: torch.Tensor) -> torch.Tensor:
    """Two's-complement int32 overflow of exact integers (identity gradient)."""
    return _ste(x, x - _TWO32 * torch.floor((x + _TWO31) / _TWO32))


def trunc_shift(x: torch.Tensor, bits: int) -> torch.Tensor:
    """``sign(x) * (|x| >> bits)``: division by 2**bits rounded toward zero."""
    y = x / float(2 ** bits)
    return _ste(y, torch.trunc(y))


def shift(x: torch.Tensor, e: int) -> torch.Tensor:
    """``x << e`` (e > 0) or arithmetic ``x >> -e`` (floor), as numpy on int64."""
    if e > 0:
        return x * float(2 ** e)
    y = x / float(2 ** -e)
    return _ste(y, torch.floor(y))


def lava_weights(w: torch.Tensor, bits: int = 8) -> torch.Tensor:
    """Round to integers, then Lava's ``clip_weights`` and ``truncate_weights``
    (``num_weight_bits=8``) under the sign mode ``determine_sign_mode`` picks."""
    r = torch.round(w)
    top = float(2 ** bits)
    if bool((r >= 0).all()):
        q = r.clamp(0.0, top - 1)
    elif bool((r <= 0).all()):
        q = r.clamp(-(top - 1), 0.0)
    else:
        q = torch.floor(r.clamp(-top, top - 1) / 2.0) * 2.0
    return _ste(w, q)


# ============================================================ the module
@dataclass
class Loihi2Trace:
    """What a forward pass recorded, every tensor ``[batch, steps, n]``.

    ``u``, ``v``: integer states (exact integers in float64); ``spikes``: 0/1;
    ``outputs``: Output node -> spikes (spiking source) or v in graph units.
    """

    u: dict[str, torch.Tensor]
    v: dict[str, torch.Tensor]
    spikes: dict[str, torch.Tensor]
    outputs: dict[str, torch.Tensor]
    #: The state after the last step (set by :meth:`Loihi2Module.trace`).
    state: Loihi2State | None = None


@dataclass
class Loihi2State:
    """Where a :class:`Loihi2Module` run stopped, to continue from: ``module(x2, state)``.

    ``u``, ``v``: population -> integer state ``[batch, n]`` (exact integers in float64);
    ``past``: source (Input node or population) of a delayed connection -> what it sent in
    its last ``k`` steps ``[batch, k, n]``, oldest first (``k``: its longest outgoing
    delay; spikes 0/1, Input values as ``input != 0``).
    """

    u: dict[str, torch.Tensor]
    v: dict[str, torch.Tensor]
    past: dict[str, torch.Tensor]


class Loihi2Module(torch.nn.Module):
    """A :class:`~spikecore.hardware.loihi2.Loihi2Network` as a torch module.

    Args:
        network: the integer network (``quantize(graph)[1].network``).
        surrogate: spike pseudo-derivative (see :mod:`spikecore.backends.torch.surrogate`),
            applied to ``(v - vth_eff) / vth_eff``.
        surrogate_scale: its steepness (default per surrogate).
        train_weights: weights as trainable parameters (else buffers).
        target: the hardware constants.
        fused: without gradients, run all populations in one pipelined step when the
            network allows (see :meth:`fused_reason`); ``False`` forces the
            population-by-population loop. Both give the same bits.

    ``forward(x, state=None, steps=None)`` is called as the float module
    (:class:`~spikecore.backends.torch.SpikecoreModule`): ``x`` is a tensor ``[batch, steps,
    *shape]`` (one Input node) or a dict Input name -> tensor; it returns ``(out, state)``,
    ``out`` the Output node's ``[batch, steps, *shape]`` tensor (a dict by Output name when
    there are several) and ``state`` a :class:`Loihi2State` that ``module(x2, state)``
    continues from. :meth:`trace` returns every population's u, v and spikes.
    """

    def __init__(self, network: Loihi2Network, *, surrogate: str = "superspike",
                 surrogate_scale: float | None = None, train_weights: bool = True,
                 target: HardwareTarget = LOIHI2, fused: bool = True):
        super().__init__()
        self.network = network
        self.fused = fused
        self.target = target
        self.spike = spike_function(surrogate, surrogate_scale)
        self.weights = torch.nn.ParameterList()
        for c in network.connections:
            w = torch.tensor(np.asarray(c.weights, dtype=np.float64))
            self.weights.append(torch.nn.Parameter(w, requires_grad=train_weights))
        self._pop: dict[str, dict[str, Any]] = {}
        for name, p in network.neurons.items():
            self._pop[name] = {
                "u_fac": float(target.decay_unity - p.du - target.du_offset),
                "v_fac": float(target.decay_unity - p.dv - target.dv_offset),
                "bias": torch.tensor(p.bias_mant.astype(np.float64)
                                      * 2.0 ** p.bias_exp.astype(np.float64)),
                "vth": float(p.vth * 2 ** target.vth_shift),
                "v0": torch.tensor(p.v_init.astype(np.float64)),
                "u0": torch.tensor(p.u_init.astype(np.float64)),
                "spiking": p.spiking,
            }
        self._incoming = {n: [k for k, c in enumerate(network.connections) if c.target == n]
                          for n in network.neurons}

    def _inputs(self, inputs: torch.Tensor | Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        names = list(self.network.inputs)
        if isinstance(inputs, Mapping):
            missing = sorted(set(names) - set(inputs))
            if missing:
                raise SpikecoreError(f"inputs missing for Input node(s) {missing}; give a "
                                     f"dict with keys {names}")
            given = dict(inputs)
        else:
            if len(names) != 1:
                raise SpikecoreError(f"the network has Input nodes {names}: give a dict "
                                     "name -> tensor [batch, steps, *shape]")
            given = {names[0]: inputs}
        out = {}
        for n in names:
            x = torch.as_tensor(given[n])
            if x.dim() < 3:
                raise SpikecoreError(f"input {n!r}: expected [batch, steps, *shape], got "
                                     f"shape {tuple(x.shape)}")
            out[n] = (x.reshape(x.shape[0], x.shape[1], -1) != 0).to(torch.float64)
        return out

    def forward(self, x: torch.Tensor | Mapping[str, torch.Tensor],
                state: Loihi2State | None = None, steps: int | None = None
                ) -> tuple[torch.Tensor | dict[str, torch.Tensor], Loihi2State]:
        """``(out, state)``, as the float module: ``out`` the Output node's ``[batch, steps,
        *shape]`` (a dict by Output name when there are several); ``state`` continues."""
        tr = self.trace(x, steps, state)
        net = self.network
        out = {}
        for o, y in tr.outputs.items():
            shape = tuple(net.neurons[net.outputs[o]].shape)
            out[o] = y.reshape(*y.shape[:2], *shape)
        if len(out) == 1:
            return next(iter(out.values())), tr.state
        return out, tr.state

    def trace(self, inputs: torch.Tensor | Mapping[str, torch.Tensor], steps: int | None = None,
              state: Loihi2State | None = None) -> Loihi2Trace:
        """Run and record every population: a :class:`Loihi2Trace` (``[batch, steps, n]``
        tensors) whose ``state`` continues (``trace(x2, state=tr.state)``)."""
        x = self._inputs(inputs)
        batch = next(iter(x.values())).shape[0]
        steps = int(steps if steps is not None else next(iter(x.values())).shape[1])
        if state is not None:
            self._check_state(state, batch)
        needs_grad = torch.is_grad_enabled() and any(w.requires_grad for w in self.weights)
        if not needs_grad:
            tr = self._forward_int(x, steps, state)
        else:
            tr = self._forward_ste(x, steps, state)
        tr.state = self._next_state(x, steps, tr, state)
        return tr

    def _delays(self) -> dict[str, int]:
        """Source -> its longest outgoing delay (> 0 only): the history a state keeps."""
        k: dict[str, int] = {}
        for c in self.network.connections:
            if c.delay_steps > 0:
                k[c.source] = max(k.get(c.source, 0), c.delay_steps)
        return k

    def _check_state(self, state: Loihi2State, batch: int) -> None:
        if not isinstance(state, Loihi2State):
            raise SpikecoreError(f"state: expected the Loihi2State a previous call returned, "
                                 f"got {type(state).__name__}")
        for n in self.network.neurons:
            if n not in state.u or n not in state.v or tuple(state.u[n].shape) != (
                    batch, self.network.neurons[n].n):
                raise SpikecoreError(f"state does not fit this module at batch {batch} "
                                     f"(population {n!r}); pass the state of a run of this "
                                     "module with the same batch size")

    def _next_state(self, x: dict[str, torch.Tensor], steps: int, tr: Loihi2Trace,
                    state: Loihi2State | None) -> Loihi2State:
        net = self.network
        batch = next(iter(x.values())).shape[0]
        f64 = torch.float64
        if steps > 0:
            u = {n: tr.u[n][:, -1] for n in net.neurons}
            v = {n: tr.v[n][:, -1] for n in net.neurons}
        elif state is not None:
            u, v = dict(state.u), dict(state.v)
        else:
            u = {n: p["u0"].expand(batch, -1).clone() for n, p in self._pop.items()}
            v = {n: p["v0"].expand(batch, -1).clone() for n, p in self._pop.items()}
        past = {}
        for src, k in self._delays().items():
            if src in x:
                seq = x[src][:, :steps]
                if seq.shape[1] < steps:
                    seq = torch.cat([seq, seq.new_zeros(batch, steps - seq.shape[1],
                                                        seq.shape[2])], 1)
            elif src in tr.spikes:
                seq = tr.spikes[src]
            else:
                seq = torch.zeros(batch, steps, net.neurons[src].n, dtype=f64)
            old = state.past[src] if state is not None else \
                torch.zeros(batch, k, seq.shape[2], dtype=f64)
            past[src] = torch.cat([old, seq], 1)[:, -k:]
        return Loihi2State(u, v, past)

    def _forward_ste(self, x: dict[str, torch.Tensor], steps: int,
                     state: Loihi2State | None = None) -> Loihi2Trace:
        """float64 tensors holding exact integers; straight-through gradients."""
        net, tg = self.network, self.target
        batch = next(iter(x.values())).shape[0]
        w_eff = [lava_weights(w, tg.weight_bits) for w in self.weights]
        if state is None:
            u = {n: p["u0"].expand(batch, -1).clone() for n, p in self._pop.items()}
            v = {n: p["v0"].expand(batch, -1).clone() for n, p in self._pop.items()}
        else:
            u, v = dict(state.u), dict(state.v)
        past = state.past if state is not None else {}
        hist: dict[str, list[torch.Tensor]] = {n: [] for n in net.neurons}
        rec_u: dict[str, list[torch.Tensor]] = {n: [] for n in net.neurons}
        rec_v: dict[str, list[torch.Tensor]] = {n: [] for n in net.neurons}
        uv_max = float(tg.uv_max)
        zeros = {n: torch.zeros(batch, net.neurons[n].n, dtype=torch.float64)
                 for n in net.neurons}

        def source_at(name: str, t: int) -> torch.Tensor | None:
            if t < 0:
                old = past.get(name)
                return None if old is None or old.shape[1] + t < 0 else old[:, old.shape[1] + t]
            if name in x:
                return x[name][:, t] if t < x[name].shape[1] else None
            return hist[name][t]

        for t in range(steps):
            for name in net.order:
                p = self._pop[name]
                a_in = zeros[name]
                for k in self._incoming[name]:
                    c = net.connections[k]
                    s = source_at(c.source, t - c.delay_steps)
                    if s is None:
                        continue
                    acc = wrap32(shift(s @ w_eff[k].T, c.weight_exp))
                    a_in = wrap32(a_in + acc)
                du = trunc_shift(u[name] * p["u_fac"], tg.decay_shift)
                un = wrap32(du + wrap32(a_in * float(2 ** tg.act_shift)))
                wrapped = torch.where(un > uv_max, un - 2 * uv_max,
                                      torch.where(un <= -uv_max, un + 2 * uv_max, un))
                un = _ste(un, wrapped)
                dv = trunc_shift(v[name] * p["v_fac"], tg.decay_shift)
                vn = dv + un + p["bias"]
                vn = _ste(vn, vn.clamp(-(uv_max - 1), uv_max - 1))
                if p["spiking"]:
                    z = self.spike((vn - p["vth"]) / p["vth"])
                    vn = vn * (1.0 - z)
                else:
                    z = zeros[name]
                u[name], v[name] = un, vn
                hist[name].append(z)
                rec_u[name].append(un)
                rec_v[name].append(vn)
        stack = lambda seq: torch.stack(seq, dim=1)  # noqa: E731
        spikes = {n: stack(hist[n]) for n in net.neurons if net.neurons[n].spiking}
        vs = {n: stack(rec_v[n]) for n in net.neurons}
        outputs = {}
        for o, src in net.outputs.items():
            p = net.neurons[src]
            outputs[o] = spikes[src] if p.spiking else vs[src] / p.scale + p.v_offset
        return Loihi2Trace({n: stack(rec_u[n]) for n in net.neurons}, vs, spikes, outputs)


    # ------------------------------------------------------------ no-gradient paths
    def _int_weights(self) -> list[torch.Tensor]:
        """Lava's effective weights of every connection, transposed to ``(in, out)``."""
        with torch.no_grad():
            return [lava_weights(w.detach(), self.target.weight_bits).T.contiguous()
                    for w in self.weights]

    def _overflow_proofs(self, w_t: list[torch.Tensor]
                         ) -> dict[str, tuple[list[bool], bool, bool]]:
        """Static bounds that prove when an overflow wrap cannot trigger (skipping it then
        changes no bit). Per population: (per incoming connection, in ``_incoming`` order:
        may its int32 wrap trigger; may the port sum's int32 wrap; may u's 24-bit wrap)."""
        net, tg = self.network, self.target
        half32, uv_max, unity, act = 1 << 31, tg.uv_max, tg.decay_unity, 1 << tg.act_shift
        out = {}
        for name in net.order:
            p = self._pop[name]
            wraps, bound = [], 0
            for k in self._incoming[name]:
                c, w = net.connections[k], w_t[k]
                peak = int(max(w.clamp(min=0).sum(0).max(), (-w.clamp(max=0)).sum(0).max()))
                peak = peak << c.weight_exp if c.weight_exp > 0 else peak >> -c.weight_exp
                wraps.append(peak >= half32)
                bound += peak + 1                   # +1: floor of a negative sum
            u_fac = int(p["u_fac"])
            wrap_in = bound >= half32 or bound * act + uv_max >= half32
            wrap_u = wrap_in or bound * act > (uv_max - 1) * (unity - u_fac) // unity \
                or bool((p["u0"].abs() > uv_max - 1).any())
            out[name] = (wraps, wrap_in, wrap_u)
        return out

    def _pipeline_lags(self) -> dict[str, int] | None:
        """Lag per population for the pipelined step: in iteration ``i`` population ``p``
        computes its step ``i - lag[p]``, and every connection must read spikes of an
        earlier iteration: ``lag[target] >= lag[source] + 1 - delay`` (smallest such lags,
        by longest-path relaxation). None when a cycle has fewer delay steps than
        connections (then no lags exist)."""
        net = self.network
        lag = dict.fromkeys(net.neurons, 0)
        conns = [c for c in net.connections if c.source in net.neurons]
        for _ in range(len(lag) + 1):
            changed = False
            for c in conns:
                need = lag[c.source] + 1 - c.delay_steps
                if lag[c.target] < need:
                    lag[c.target], changed = need, True
            if not changed:
                return lag
        return None

    def fused_reason(self) -> str | None:
        """Why the no-gradient forward falls back to the population-by-population loop
        (None: it runs the fused pipelined step). Both give the same bits."""
        if not self.fused:
            return "disabled (fused=False)"
        if self._pipeline_lags() is None:
            return "a recurrent cycle has fewer delay steps than connections"
        proofs = self._overflow_proofs(self._int_weights())
        risky = [n for n, (wraps, wrap_in, _) in proofs.items() if wrap_in or any(wraps)]
        if risky:
            return f"int32 overflow of the synaptic input cannot be ruled out in {risky}"
        return None

    def _forward_int(self, x: dict[str, torch.Tensor], steps: int,
                     state: Loihi2State | None = None) -> Loihi2Trace:
        """No gradients: the fused pipelined step when :meth:`fused_reason` allows (and the
        run starts from the initial state), else the population-by-population int64 loop."""
        w_t = self._int_weights()
        proofs = self._overflow_proofs(w_t)
        lags = self._pipeline_lags() if self.fused and state is None else None
        if lags is not None and not any(wrap_in or any(wraps)
                                        for wraps, wrap_in, _ in proofs.values()):
            return self._forward_fused(x, steps, w_t, proofs, lags)
        return self._forward_loop(x, steps, w_t, proofs, state)

    def _forward_fused(self, x: dict[str, torch.Tensor], steps: int, w_t: list[torch.Tensor],
                       proofs: dict[str, tuple[list[bool], bool, bool]],
                       lags: dict[str, int]) -> Loihi2Trace:
        """All populations in one state vector, one set of tensor ops per iteration.

        Pipelining by :meth:`_pipeline_lags` removes the within-step order: iteration ``i``
        reads only spikes of earlier iterations, so it updates every population at once.
        Requires that no int32 wrap can trigger (proved by :meth:`_overflow_proofs`); then
        every value is an integer below 2**53 in magnitude and float64 arithmetic is exact:
        weights carry ``2**weight_exp * 2**act_shift`` (``weight_exp >= 0``) or
        ``2**weight_exp`` with the floor and ``<< act_shift`` applied after the product
        (``weight_exp < 0``); the decays are ``trunc(u * f / 4096)``. The Input nodes' drive
        is one matrix product per chunk of iterations.

        Global row ``g`` holds iteration ``g - 1`` (row 0: the initial state), i.e. step
        ``g - 1 - lag[p]`` of population ``p``. Rows live in a small ring (``hist`` rows
        of history, then a chunk) that stays in cache; each finished chunk is copied to
        the ``[batch, steps, n]`` outputs.

        Phases: the state layout (:meth:`_fused_layout`), the grouping of the connections
        (:func:`_fused_connections`), the ring and its block products
        (:func:`_fused_products`), then per chunk: the Input drive
        (:func:`_fused_input_drive`), the row updates (:func:`_fused_rows`) and the copy to
        the outputs (:func:`_fused_copy_out`).
        """
        net, tg = self.network, self.target
        f64 = torch.float64
        batch = next(iter(x.values())).shape[0]
        lay = self._fused_layout(lags, proofs)
        rows = steps + lay.l_max + 1
        act = float(2 ** tg.act_shift)
        drives, blocks = _fused_connections(net, x, steps, w_t, lags, lay.off, act)
        hist = max([bl[0][0] for bl in blocks] + [1])
        # ~1 MB of ring per chunk (cache-sized), at least the history it must carry.
        chunk = max(hist, 16, min(256, (1 << 20) // (24 * batch * max(lay.n_tot, 1))))
        ring = hist + chunk
        out_u = {n: torch.empty(batch, steps, net.neurons[n].n, dtype=f64) for n in net.neurons}
        out_v = {n: torch.empty(batch, steps, net.neurons[n].n, dtype=f64) for n in net.neurons}
        out_z = {n: torch.empty(batch, steps, net.neurons[n].n, dtype=f64) for n in net.neurons
                 if net.neurons[n].spiking}
        with torch.inference_mode():
            U = torch.zeros(ring, batch, lay.n_tot, dtype=f64)
            V = torch.zeros(ring, batch, lay.n_tot, dtype=f64)
            Z = torch.zeros(ring, batch, lay.n_tot, dtype=f64)
            U[hist - 1], V[hist - 1] = lay.u0, lay.v0           # global row 0
            products = _fused_products(net, blocks, w_t, lay.off, U, Z, batch, act)
            step = _FusedStep(U.unbind(0), V.unbind(0), Z.unbind(0), products,
                              torch.empty(batch, lay.n_tot, dtype=f64), act,
                              float(tg.decay_unity), float(tg.uv_max))
            g0 = 1
            while g0 < rows:
                n_c = min(chunk, rows - g0)
                U[hist:hist + n_c].zero_()
                _fused_input_drive(U, drives, g0, n_c, hist, act)
                _fused_rows(step, lay, hist, hist + n_c, g0 - hist)
                _fused_copy_out((U, V, Z), (out_u, out_v, out_z), lay, lags, g0, n_c, hist,
                                steps)
                if g0 + n_c < rows:                     # carry the history rows
                    for buf in (U, V, Z):
                        buf[:hist] = buf[n_c:n_c + hist]
                g0 += n_c
        return Loihi2Trace(out_u, out_v, out_z, self._outputs(out_z, out_v))

    def _fused_layout(self, lags: dict[str, int],
                      proofs: dict[str, tuple[list[bool], bool, bool]]) -> _FusedLayout:
        """The fused state vector: populations concatenated in lag order, and their
        per-element constants."""
        net, f64 = self.network, torch.float64
        pops = sorted(net.neurons, key=lambda n: lags[n])
        off, n_tot = {}, 0
        for n in pops:
            off[n] = (n_tot, n_tot + net.neurons[n].n)
            n_tot += net.neurons[n].n
        l_max = max(lags.values(), default=0)
        per = lambda f: torch.cat([f(n) for n in pops]) if pops else torch.zeros(0, dtype=f64)  # noqa: E731
        full = lambda n, val: torch.full((net.neurons[n].n,), float(val), dtype=f64)  # noqa: E731
        fu = per(lambda n: full(n, self._pop[n]["u_fac"]))
        fv = per(lambda n: full(n, self._pop[n]["v_fac"]))
        vth = per(lambda n: full(n, self._pop[n]["vth"] if self._pop[n]["spiking"]
                                 else float("inf")))
        bias = per(lambda n: self._pop[n]["bias"])
        u0, v0 = per(lambda n: self._pop[n]["u0"]), per(lambda n: self._pop[n]["v0"])
        # Populations not started yet (step < 0) in the first l_max iterations: the
        # suffix (lag-sorted) from this offset is held at the initial state.
        hold = {g: next((off[n][0] for n in pops if lags[n] >= g), n_tot)
                for g in range(1, l_max + 1)}
        return _FusedLayout(pops, off, n_tot, l_max, fu, fv, vth, bias, u0, v0,
                            wrap_u=any(w for _, _, w in proofs.values()),
                            has_bias=bool(bias.any()), hold=hold)

    def _outputs(self, spikes: dict[str, torch.Tensor],
                 vs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = {}
        for o, src in self.network.outputs.items():
            p = self.network.neurons[src]
            out[o] = spikes[src] if p.spiking else vs[src] / p.scale + p.v_offset
        return out

    def _forward_loop(self, x: dict[str, torch.Tensor], steps: int, w_t: list[torch.Tensor],
                      proofs: dict[str, tuple[list[bool], bool, bool]],
                      state: Loihi2State | None = None) -> Loihi2Trace:
        """Population by population in ``net.order`` on int64 tensors (matrix products in
        float64: BLAS, exact as |sums| < 2**53), with every int32 wrap the proofs cannot
        rule out. The connections are prepared by :meth:`_loop_populations`; the synaptic
        input of a step is :func:`_loop_synaptic_input`."""
        net, tg = self.network, self.target
        batch = next(iter(x.values())).shape[0]
        mask32, half32 = (1 << 32) - 1, 1 << 31
        uv_max, two_uv = tg.uv_max, 2 * tg.uv_max
        unity, act = tg.decay_unity, 1 << tg.act_shift
        past = state.past if state is not None else {}
        pops = self._loop_populations(x, steps, w_t, proofs, batch, past)
        if state is None:
            u0 = {n: p["u0"].expand(batch, -1) for n, p in self._pop.items()}
            v0 = {n: p["v0"].expand(batch, -1) for n, p in self._pop.items()}
        else:
            u0, v0 = state.u, state.v
        u = {n: u0[n].to(torch.int64).clone() for n in self._pop}
        v = {n: v0[n].to(torch.int64).clone() for n in self._pop}
        zero = {n: torch.zeros(batch, net.neurons[n].n, dtype=torch.float64) for n in net.neurons}
        # A population's spikes, after the ones of the state's history (``off[n]`` rows).
        hist: dict[str, list[torch.Tensor]] = {
            n: list(past[n].unbind(1)) if n in past else [] for n in net.neurons}
        off = {n: len(hist[n]) for n in net.neurons}
        rec_u: dict[str, list[torch.Tensor]] = {n: [] for n in net.neurons}
        rec_v: dict[str, list[torch.Tensor]] = {n: [] for n in net.neurons}
        for t in range(steps):
            for name, conns, u_fac, v_fac, bias, vth, spiking, wrap_in, wrap_u in pops:
                a_in = _loop_synaptic_input(conns, hist, t, wrap_in)
                un = torch.div(u[name] * u_fac, unity, rounding_mode="trunc")
                if a_in is not None:
                    if wrap_in:
                        un = un + ((a_in * act + half32) & mask32) - half32
                        un = ((un + half32) & mask32) - half32
                    else:
                        un = un + a_in * act
                if wrap_u:
                    un = un - two_uv * (un > uv_max) + two_uv * (un <= -uv_max)
                vn = torch.div(v[name] * v_fac, unity, rounding_mode="trunc") + un + bias
                vn = vn.clamp_(-(uv_max - 1), uv_max - 1)
                if spiking:
                    z = vn > vth
                    vn = vn.masked_fill_(z, 0)
                    z = z.to(torch.float64)
                else:
                    z = zero[name]
                u[name], v[name] = un, vn
                hist[name].append(z)
                rec_u[name].append(un)
                rec_v[name].append(vn)
        f64 = lambda seq: torch.stack(seq, dim=1).to(torch.float64)  # noqa: E731
        spikes = {n: f64(hist[n][off[n]:]) for n in net.neurons if net.neurons[n].spiking}
        vs = {n: f64(rec_v[n]) for n in net.neurons}
        return Loihi2Trace({n: f64(rec_u[n]) for n in net.neurons}, vs, spikes,
                           self._outputs(spikes, vs))

    def _loop_populations(self, x: dict[str, torch.Tensor], steps: int,
                          w_t: list[torch.Tensor],
                          proofs: dict[str, tuple[list[bool], bool, bool]], batch: int,
                          past: Mapping[str, torch.Tensor] | None = None) -> list[tuple]:
        """Per population in ``net.order``: (name, connections, u factor, v factor, bias,
        vth, spiking, may the port sum wrap, may u wrap). A connection is (source or None,
        delay less the source's rows of history in ``past``, weights or, for an Input
        source, the products of all steps with the delay applied (the first steps from
        ``past``), weight exponent, may its int32 wrap trigger)."""
        past = past or {}
        net = self.network
        pops = []
        for name in net.order:
            p = self._pop[name]
            wraps, wrap_in, wrap_u = proofs[name]
            conns = []
            for k, wrap_c in zip(self._incoming[name], wraps, strict=True):
                c, w = net.connections[k], w_t[k]
                if c.source in x:
                    # Input spikes are known: all steps' products at once, delay applied.
                    xs = x[c.source]
                    full = torch.zeros(batch, steps, w.shape[1], dtype=torch.int64)
                    n_t = max(0, min(steps - c.delay_steps, xs.shape[1]))
                    if n_t:
                        full[:, c.delay_steps:c.delay_steps + n_t] = \
                            (xs[:, :n_t] @ w).to(torch.int64)
                    old = past.get(c.source)
                    if old is not None and c.delay_steps:
                        d = min(c.delay_steps, steps)
                        full[:, :d] = (old[:, old.shape[1] - c.delay_steps:][:, :d] @ w
                                       ).to(torch.int64)
                    conns.append((None, 0, full, c.weight_exp, wrap_c))
                else:
                    k = past[c.source].shape[1] if c.source in past else 0
                    conns.append((c.source, c.delay_steps - k, w, c.weight_exp, wrap_c))
            pops.append((name, conns, int(p["u_fac"]), int(p["v_fac"]),
                         p["bias"].to(torch.int64), int(p["vth"]), p["spiking"], wrap_in, wrap_u))
        return pops


# ============================================================ fused step (no gradients)
@dataclass
class _FusedLayout:
    """The state vector of the fused step: populations ``pops`` (lag-sorted) at ``off[p]
    = (start, stop)``, ``n_tot`` elements, and the per-element constants."""

    pops: list[str]
    off: dict[str, tuple[int, int]]
    n_tot: int
    l_max: int                   # the largest lag
    fu: torch.Tensor             # u decay factor 4096 - du - du_offset
    fv: torch.Tensor             # v decay factor
    vth: torch.Tensor            # vth << vth_shift (inf for non-spiking populations)
    bias: torch.Tensor           # bias_mant << bias_exp
    u0: torch.Tensor
    v0: torch.Tensor
    wrap_u: bool                 # may u's 24-bit wrap trigger anywhere
    has_bias: bool
    hold: dict[int, int]         # iteration g <= l_max -> first element not started yet


#: An Input connection of the fused step: (spikes, weights * scale, weight exponent, global
#: row of its source step 0, number of valid source steps, target slice).
_Drive = tuple[torch.Tensor, torch.Tensor, int, int, int, tuple[int, int]]
#: A block of recurrent connections: [(age in rows, exponent if negative else 0),
#: connection indices, target populations].
_Block = list[Any]
#: A block's product in the ring: (age, source spike rows, target u rows, weights, buffer
#: for the floor of a negative exponent or None).
_Product = tuple[int, tuple[torch.Tensor, ...], tuple[torch.Tensor, ...], torch.Tensor,
                 torch.Tensor | None]


@dataclass
class _FusedStep:
    """What the row updates of the fused step work on: the ring's rows (views), the block
    products, a scratch buffer and the integer constants as floats."""

    Us: tuple[torch.Tensor, ...]
    Vs: tuple[torch.Tensor, ...]
    Zs: tuple[torch.Tensor, ...]
    products: list[_Product]
    tmp_u: torch.Tensor
    act: float
    unity: float
    uv_max: float


def _fused_connections(net: Loihi2Network, x: dict[str, torch.Tensor], steps: int,
                       w_t: list[torch.Tensor], lags: dict[str, int],
                       off: dict[str, tuple[int, int]], act: float
                       ) -> tuple[list[_Drive], list[_Block]]:
    """Input connections as drives (spikes, weights * scale, exponent, first row offset,
    valid source steps, target slice). Recurrent ones: blocks per (age, exponent if
    negative else merged); a negative exponent floors each connection's own sum, so such
    a block holds connections with disjoint targets only."""
    drives: list[_Drive] = []
    blocks: list[_Block] = []
    for k, c in enumerate(net.connections):
        e = c.weight_exp
        if c.source in x:
            xs = x[c.source]
            n_src = max(0, min(steps - c.delay_steps, xs.shape[1]))
            w = w_t[k] * (act * 2.0 ** e if e >= 0 else 2.0 ** e)
            drives.append((xs, w, e, c.delay_steps + lags[c.target] + 1, n_src,
                           off[c.target]))
            continue
        key = (lags[c.target] - lags[c.source] + c.delay_steps, min(e, 0))
        blk = next((bl for bl in blocks if bl[0] == key
                    and (e >= 0 or c.target not in bl[2])), None)
        if blk is None:
            blk = [key, [], set()]
            blocks.append(blk)
        blk[1].append(k)
        blk[2].add(c.target)
    return drives, blocks


def _fused_products(net: Loihi2Network, blocks: list[_Block], w_t: list[torch.Tensor],
                    off: dict[str, tuple[int, int]], U: torch.Tensor, Z: torch.Tensor,
                    batch: int, act: float) -> list[_Product]:
    """Each block as one weight matrix over the bounding box of its sources and targets,
    with the views of the ring rows it reads (spikes) and writes (u)."""
    f64 = torch.float64
    products: list[_Product] = []
    for (age, e), ks, _ in blocks:
        conns = [net.connections[k] for k in ks]
        r0 = min(off[c.source][0] for c in conns)
        r1 = max(off[c.source][1] for c in conns)
        c0 = min(off[c.target][0] for c in conns)
        c1 = max(off[c.target][1] for c in conns)
        w = torch.zeros(r1 - r0, c1 - c0, dtype=f64)
        for k, c in zip(ks, conns, strict=True):
            (sa, sb), (ta, tb) = off[c.source], off[c.target]
            scale = act * 2.0 ** c.weight_exp if e == 0 else 2.0 ** c.weight_exp
            w[sa - r0:sb - r0, ta - c0:tb - c0] += w_t[k] * scale
        tmp = torch.empty(batch, c1 - c0, dtype=f64) if e < 0 else None
        products.append((age, Z[:, :, r0:r1].unbind(0), U[:, :, c0:c1].unbind(0), w, tmp))
    return products


def _fused_input_drive(U: torch.Tensor, drives: list[_Drive], g0: int, n_c: int, hist: int,
                       act: float) -> None:
    """Add the Input nodes' drive of the chunk (global rows ``g0 .. g0 + n_c - 1``, ring
    rows from ``hist``) to ``U``: one matrix product per connection."""
    for xs, w, e, first, n_src, (a, b) in drives:
        s0 = g0 - first                    # source step of ring row `hist`
        s_lo, s_hi = max(s0, 0), min(s0 + n_c, n_src)
        if s_lo < s_hi:
            acc = xs[:, s_lo:s_hi] @ w
            if e < 0:
                acc = acc.floor_().mul_(act)
            U[hist + s_lo - s0:hist + s_hi - s0, :, a:b] += acc.transpose(0, 1)


def _fused_rows(st: _FusedStep, lay: _FusedLayout, r_lo: int, r_hi: int, g_shift: int) -> None:
    """Update ring rows ``r_lo .. r_hi - 1`` (global row ``r + g_shift``) in place: u's
    decay and recurrent input (its Input drive is already in), the wrap, v, the
    threshold and the reset; populations not started yet are held at rest."""
    Us, Vs, Zs, products, tmp_u = st.Us, st.Vs, st.Zs, st.products, st.tmp_u
    act, unity, uv_max = st.act, st.unity, st.uv_max
    fu, fv, vth, bias, u0, v0 = lay.fu, lay.fv, lay.vth, lay.bias, lay.u0, lay.v0
    wrap_u, has_bias, hold, l_max = lay.wrap_u, lay.has_bias, lay.hold, lay.l_max
    lo, hi = -(uv_max - 1), uv_max - 1
    for r in range(r_lo, r_hi):
        u, v, z = Us[r], Vs[r], Zs[r]
        # (torch's float64 trunc_ is slow; div with rounding_mode is not)
        torch.mul(Us[r - 1], fu, out=tmp_u)
        u.add_(torch.div(tmp_u, unity, rounding_mode="trunc", out=tmp_u))
        for age, src, dst, w, tmp in products:
            if tmp is None:
                dst[r].addmm_(src[r - age], w)
            else:
                torch.mm(src[r - age], w, out=tmp)
                dst[r].add_(tmp.floor_(), alpha=act)
        if wrap_u:  # Lava's single wrap; a value wrapped down stays > -uv_max
            u.add_(torch.gt(u, uv_max, out=tmp_u), alpha=-2 * uv_max)
            u.add_(torch.le(u, -uv_max, out=tmp_u), alpha=2 * uv_max)
        torch.mul(Vs[r - 1], fv, out=v)
        torch.div(v, unity, rounding_mode="trunc", out=v).add_(u)
        if has_bias:
            v.add_(bias)
        v.clamp_(lo, hi)
        torch.gt(v, vth, out=z)
        v.addcmul_(v, z, value=-1.0)        # v - v*z: 0 where it spiked
        g = r + g_shift
        if g <= l_max:
            s = hold[g]
            u[:, s:], v[:, s:], z[:, s:] = u0[s:], v0[s:], 0.0


def _fused_copy_out(bufs: tuple[torch.Tensor, ...], outs: tuple[dict[str, torch.Tensor], ...],
                    lay: _FusedLayout, lags: dict[str, int], g0: int, n_c: int, hist: int,
                    steps: int) -> None:
    """Copy the chunk's rows of each population (its steps ``t0 .. t1 - 1``) from the ring
    buffers ``bufs`` to the ``[batch, steps, n]`` outputs ``outs`` (same order)."""
    for n in lay.pops:
        t0, t1 = max(g0 - 1 - lags[n], 0), min(g0 + n_c - 1 - lags[n], steps)
        if t0 < t1:
            q = hist + t0 + lags[n] + 1 - g0
            a, b = lay.off[n]
            for buf, out in zip(bufs, outs, strict=True):
                if n in out:
                    out[n][:, t0:t1] = buf[q:q + t1 - t0, :, a:b].transpose(0, 1)


# ============================================================ population loop (no gradients)
def _loop_synaptic_input(conns: list[tuple], hist: dict[str, list[torch.Tensor]], t: int,
                         wrap_in: bool) -> torch.Tensor | None:
    """The int64 port sum ``a_in`` of one population in step ``t`` (None: no connection
    delivered anything): each connection's product shifted by its exponent, with the
    int32 wraps the proofs could not rule out."""
    mask32, half32 = (1 << 32) - 1, 1 << 31
    a_in = None
    for src, d, w, e, wrap_c in conns:
        if src is None:
            acc = w[:, t]
        else:
            ts = t - d
            if ts < 0:
                continue
            acc = (hist[src][ts] @ w).to(torch.int64)
        if e:
            acc = acc << e if e > 0 else acc >> -e
        if wrap_c:
            acc = ((acc + half32) & mask32) - half32
        if a_in is None:
            a_in = acc
        elif wrap_in:
            a_in = ((a_in + acc + half32) & mask32) - half32
        else:
            a_in = a_in + acc
    return a_in


def loihi2_module(graph_or_network: Graph | Loihi2Network, *, target: HardwareTarget = LOIHI2,
                  **options: Any) -> Loihi2Module:
    """``to_torch(graph, arithmetic="loihi2")``: quantise (if given a graph) and wrap.

    ``options`` go to :class:`Loihi2Module` (``surrogate``, ``surrogate_scale``,
    ``train_weights``).
    """
    if isinstance(graph_or_network, Graph):
        _, report = quantize(graph_or_network, target)
        network = report.network
    elif isinstance(graph_or_network, Loihi2Network):
        network = graph_or_network
    else:
        raise SpikecoreError(f"loihi2_module: expected a spikecore Graph or a Loihi2Network, "
                             f"got {type(graph_or_network).__name__}")
    return Loihi2Module(network, target=target, **options)


def run(graph_or_network: Graph | Loihi2Network, inputs: Mapping[str, np.ndarray],
        steps: int | None = None) -> Result:
    """Simulate without gradients; a :class:`Result` in graph units.

    Traces: ``v`` of every population in graph units (``V / scale + v_offset``);
    ``info["int"]``: node -> {"u", "v"} integer arrays ``[batch, steps, n]`` (u has no
    graph-unit form here: its gain lives in the weights).
    """
    module = loihi2_module(graph_or_network, train_weights=False)
    net = module.network
    t0 = time.perf_counter()
    with torch.no_grad():
        tr = module.trace({k: torch.as_tensor(np.asarray(v)) for k, v in inputs.items()}, steps)
    wall = time.perf_counter() - t0
    res = Result(dt=net.dt, backend="loihi2_torch", wall_time=wall)
    for n, p in net.neurons.items():
        shape = tuple(tr.v[n].shape[:2]) + tuple(p.shape)
        if p.spiking:
            res.spikes[n] = tr.spikes[n].numpy().astype(bool).reshape(shape)
        res.traces[n] = {"v": p.to_float(tr.v[n].numpy()).reshape(shape)}
    res.info["int"] = {n: {"u": tr.u[n].numpy().astype(np.int64),
                           "v": tr.v[n].numpy().astype(np.int64)} for n in net.neurons}
    for o, out in tr.outputs.items():
        res.outputs[o] = out.numpy()
    return res


# ============================================================ Lava reference (sidecar)
def lava_lags(network: Loihi2Network) -> dict[str, int]:
    """Steps by which each population runs late in Lava (one per Dense on the longest
    delay-0 path from an input; inputs have lag 0).

    Raises :class:`SpikecoreError` when a connection's delay cannot be expressed by plain
    ``Dense`` lags (it must equal ``1 + lag(source) - lag(target)``).
    """
    lag = {n: 0 for n in network.inputs}
    for name in network.order:
        srcs = [lag[c.source] + 1 for c in network.connections
                if c.target == name and c.delay_steps == 0]
        lag[name] = max(srcs, default=1)
    bad = [f"{c.source!r} -> {c.target!r}: delay {c.delay_steps}, Lava gives "
           f"{1 + lag[c.source] - lag[c.target]}" for c in network.connections
           if c.delay_steps != 1 + lag[c.source] - lag[c.target]]
    if bad:
        raise SpikecoreError(
            "the Lava reference runs plain Dense connections only (one step each); "
            "connections whose delay does not match: " + "; ".join(bad))
    return {n: lag[n] for n in network.neurons}


def write_reference_job(network: Loihi2Network, inputs: Mapping[str, np.ndarray],
                        steps: int, path: str) -> dict[str, int]:
    """Write the worker's input file (batch 0 of ``inputs``); returns the lags."""
    lags = lava_lags(network)
    total = steps + max(lags.values(), default=0)
    names = list(network.inputs)
    pops = list(network.neurons)
    job: dict[str, Any] = {"steps": total, "n_inputs": len(names), "n_pops": len(pops),
                           "n_conns": len(network.connections)}
    for j, n in enumerate(names):
        x = np.asarray(inputs[n])[0].reshape(np.asarray(inputs[n]).shape[1], -1) != 0
        pad = np.zeros((total, x.shape[1]), dtype=np.int64)
        pad[:min(steps, x.shape[0])] = x[:steps]
        job[f"input{j}"] = pad.T.copy()
    for k, n in enumerate(pops):
        p = network.neurons[n]
        job.update({f"pop{k}_du": p.du, f"pop{k}_dv": p.dv, f"pop{k}_vth": p.vth,
                    f"pop{k}_bias_mant": p.bias_mant, f"pop{k}_bias_exp": p.bias_exp,
                    f"pop{k}_v_init": p.v_init, f"pop{k}_u_init": p.u_init,
                    f"pop{k}_lag": lags[n]})
    for c, conn in enumerate(network.connections):
        is_input = conn.source in network.inputs
        job.update({f"conn{c}_src_kind": 0 if is_input else 1,
                    f"conn{c}_src": (names if is_input else pops).index(conn.source),
                    f"conn{c}_dst": pops.index(conn.target),
                    f"conn{c}_weights": np.asarray(conn.weights, dtype=np.int64),
                    f"conn{c}_weight_exp": conn.weight_exp})
    np.savez(path, **job)
    return lags


def run_lava_reference(network: Loihi2Network, inputs: Mapping[str, np.ndarray], steps: int,
                       python: str | None = None, timeout: float = 600.0) -> dict[str, Any]:
    """Run ``network`` in Lava's bit-accurate models (``fixed_pt``) in the sidecar.

    Returns ``{"u": {pop: int [steps, n]}, "v": ..., "spikes": ..., "wall_time": s,
    "total_time": s}`` realigned to the contract's time axis (batch 0 of ``inputs``).
    Raises :class:`UnavailableError` when no Lava interpreter exists (reason and fix),
    :class:`BackendProcessError` when the worker fails (command and stderr tail).
    """
    from ...backends.lava.process import run_guarded
    from ...backends.lava.sidecar import locate

    if python is None:
        rt = locate()
        if not rt.available:
            raise UnavailableError(f"Lava is unavailable: {rt.reason}; fix: {rt.fix}")
        python = rt.python or sys.executable
    with tempfile.TemporaryDirectory(prefix="spikecore-loihi2-") as tmp:
        job_in, job_out = os.path.join(tmp, "in.npz"), os.path.join(tmp, "out.npz")
        lags = write_reference_job(network, inputs, steps, job_in)
        cmd = [python, str(WORKER), job_in, job_out]
        t0 = time.perf_counter()
        try:
            code, _, err = run_guarded(cmd, timeout=timeout)
        except TimeoutError as exc:
            raise BackendProcessError(f"Lava reference run timed out after {timeout} s", cmd,
                                      str(exc)[-2000:]) from None
        total = time.perf_counter() - t0
        if code != 0 or not os.path.exists(job_out):
            raise BackendProcessError(f"Lava reference worker failed (exit code {code})", cmd,
                                      err[-2000:])
        d = dict(np.load(job_out))
    out: dict[str, Any] = {"u": {}, "v": {}, "spikes": {}, "lags": lags,
                           "wall_time": float(d["wall_time"]), "total_time": total}
    for k, n in enumerate(network.neurons):
        lag = lags[n]
        for key, name in (("u", "u"), ("v", "v"), ("spikes", "s")):
            out[key][n] = d[f"pop{k}_{name}"][lag:lag + steps]
    return out


__all__ = ["Loihi2Module", "Loihi2State", "Loihi2Trace", "lava_lags", "lava_weights", "loihi2_module", "run",
           "run_lava_reference", "shift", "trunc_shift", "wrap32", "write_reference_job"]
