"""Liquid time-constant spiking neuron (LTC-SNN) as a spikecore extension primitive.

Yin, Corradi & Bohté, "Accurate online training of dynamical spiking neural networks
through Forward Propagation Through Time", Nature Machine Intelligence 5 (2023). Their
LTC-SNN layer computes, every step, the membrane's integration rate and the adaptation's
decay with sigmoid gates over the layer's synaptic input and the neuron's own state, so
the time constants change from step to step ("liquid").

:class:`LTCLIF` is the node, :func:`ltc_step` its exact discrete update, written once over
an array namespace: with numpy (float64) the executable form of ``docs/semantics.md`` §7
"LTCLIF", with torch the backend's op.
The node registers itself (:func:`.base.register_extension`): its spec in
:data:`spikecore.primitives.SPECS`, its type name for spikecore files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from .. import primitives as P
from ..semantics import Semantics
from ..xp import SpikeFn, sigmoid, spike_and_reset
from .base import Extension, register_extension

#: The gate matrices, each ``(n, n)``: (membrane gate: input, own v), (adaptation gate:
#: input, own a).
LTC_MATRICES = ("w_mem_in", "w_mem_v", "w_adp_in", "w_adp_a")
#: The per-neuron vectors, each ``(n,)`` or a scalar.
LTC_VECTORS = ("b_mem", "b_adp", "r", "v_leak", "v_threshold", "v_reset", "beta")


@dataclass(eq=False)
class LTCLIF(Extension):
    """Liquid time-constant LIF with an adaptive threshold (the LTC-SNN neuron).

    ``n`` neurons (the shape of ``b_mem``), input ``I`` of shape ``(n,)`` (the synaptic
    current the graph delivers, e.g. ``W_in x`` plus a recurrent ``W_rec z`` with delay 1).
    States ``v`` (starts at ``v_leak``), ``a`` (starts at 0) and ``z`` (the last step's
    spike, starts at 0). Per step ``t``, in the paper's order::

        g_m      = sigmoid(w_mem_in @ I[t] + w_mem_v @ v[t-1] + b_mem)   # in (0, 1)
        rho      = sigmoid(w_adp_in @ I[t] + w_adp_a @ a[t-1] + b_adp)   # in (0, 1)
        a[t]     = rho * a[t-1] + (1 - rho) * z[t-1]
        theta[t] = v_threshold + beta * a[t]
        k        = g_m                      (integrator 'euler': the paper's update)
                 = 1 - exp(-g_m)            (integrator 'exact')
        v~       = v[t-1] + k * (v_leak - v[t-1] + r * I[t])
        z[t]     = v~ > theta[t]
        v[t]     = v_reset where z[t] else v~                  (reset 'to_value')
                 = v~ - z[t] * (v_threshold - v_reset)          (reset 'subtract')

    ``sigmoid(u) = 1 / (1 + exp(-u))``. The gates are per-step quantities, as in the
    paper: the update depends on ``dt`` only through the integrator choice, not through
    ``dt``'s value. Read continuously, the membrane time constant in step ``t`` is
    ``tau_m(t) = dt / g_m`` (under 'euler', ``g_m = dt / tau_m`` is the Euler rate;
    under 'exact', ``1 - exp(-g_m)`` is the exact decay over the step of
    ``tau_m dv/dt = v_leak - v + r I`` for ``tau_m = dt / g_m`` held fixed), and the
    adaptation time constant is ``tau_adp(t) = -dt / ln(rho)``.

    The paper's neuron: ``r = 1``, ``v_leak = 0``, ``v_threshold = 0.1`` (the baseline
    ``b_j0``), ``beta = 1.8``, hard reset to ``v_reset = 0`` (``reset='to_value'``), Euler.
    The spike output ``z`` is what the node sends; the reset does not depend on ``beta``
    (``subtract`` removes ``v_threshold - v_reset``, as for :class:`~.extensions.ALIF`).
    """

    w_mem_in: np.ndarray
    w_mem_v: np.ndarray
    b_mem: np.ndarray
    w_adp_in: np.ndarray
    w_adp_a: np.ndarray
    b_adp: np.ndarray
    r: np.ndarray = 1.0
    v_leak: np.ndarray = 0.0
    v_threshold: np.ndarray = 0.1
    v_reset: np.ndarray = 0.0
    beta: np.ndarray = 1.8
    shape_param = "b_mem"
    array_fields = (*LTC_MATRICES, *LTC_VECTORS)

    @property
    def n(self) -> int:
        """Number of neurons."""
        return int(np.size(self.b_mem))


def _check_ltc(name: str, node: Any, dt: float | None) -> list[str]:
    """Matrices ``(n, n)``, vectors ``(n,)`` or scalars, ``b_mem`` one-dimensional."""
    out = []
    shape = np.shape(node.b_mem)
    if len(shape) > 1:
        out.append(f"node {name!r} (LTCLIF): 'b_mem' has shape {shape}; expected (n,): the "
                   "neurons of an LTCLIF form a vector (gates are n x n matrices)")
        return out
    n = int(np.prod(shape)) if shape else 1
    for f in LTC_MATRICES:
        s = np.shape(getattr(node, f))
        if s != (n, n):
            out.append(f"node {name!r} (LTCLIF): {f!r} has shape {s}; expected ({n}, {n}) "
                       f"for {n} neuron(s) (n from 'b_mem'): give an n x n matrix (zeros "
                       "to switch the term off)")
    for f in LTC_VECTORS:
        s = np.shape(getattr(node, f))
        if s not in ((), (1,), (n,)):
            out.append(f"node {name!r} (LTCLIF): {f!r} has shape {s}; expected ({n},) or a "
                       "scalar")
    return out


register_extension(LTCLIF, P.PrimitiveSpec(
    "stateful", P.same_as("b_mem"), states=("v", "a", "z"), spiking=True,
    array_params=(*LTC_MATRICES, *LTC_VECTORS),
    notes="liquid time-constant LIF: sigmoid gates set the per-step rates (Yin et al. 2023)",
    extra={"check": _check_ltc, "matrices": LTC_MATRICES}))


# ====================================================================== the update
@dataclass(frozen=True)
class LTCCoefficients:
    """The node's parameters as float64 arrays (vectors broadcast to ``(n,)``) and the
    semantics' choices: ``exact`` (integrator) and ``reset``."""

    w_mem_in: np.ndarray
    w_mem_v: np.ndarray
    b_mem: np.ndarray
    w_adp_in: np.ndarray
    w_adp_a: np.ndarray
    b_adp: np.ndarray
    r: np.ndarray
    v_leak: np.ndarray
    v_threshold: np.ndarray
    v_reset: np.ndarray
    beta: np.ndarray
    exact: bool
    reset: str

    @property
    def reset_amount(self) -> np.ndarray:
        return self.v_threshold - self.v_reset


def ltc_coefficients(node: LTCLIF, semantics: Semantics, shape: tuple[int, ...]
                     ) -> LTCCoefficients:
    """Coefficients of :func:`ltc_step` for ``node`` under ``semantics``."""
    n = int(np.prod(shape))
    mats = {f: np.asarray(getattr(node, f), dtype=np.float64).reshape(n, n)
            for f in LTC_MATRICES}
    vecs = {f: P.param(node, f, shape) for f in LTC_VECTORS}
    return LTCCoefficients(**mats, **vecs, exact=semantics.integrator == "exact",
                           reset=semantics.reset)


def ltc_initial_state(co: LTCCoefficients, batch: int) -> LTCState:
    """``(v, a, z)`` at the start: ``v = v_leak``, ``a = 0``, ``z = 0``, each ``[batch, n]``."""
    v = np.broadcast_to(co.v_leak, (batch, *co.v_leak.shape)).copy()
    return LTCState(v, np.zeros_like(v), np.zeros_like(v))


class LTCState(NamedTuple):
    """Membrane, adaptation, and the last step's spike."""

    v: Any
    a: Any
    z: Any


def ltc_gates(xp: Any, co: LTCCoefficients, v: Any, a: Any, x: Any) -> tuple[Any, Any]:
    """The step's gates ``(g_m, rho)`` from the input ``I`` and last step's ``v``, ``a``::

        g_m = sigmoid(I @ w_mem_in.T + v @ w_mem_v.T + b_mem)
        rho = sigmoid(I @ w_adp_in.T + a @ w_adp_a.T + b_adp)

    (``g_m`` also serves analysis: the effective ``tau_m = dt / g_m``)."""
    g_m = sigmoid(xp, x @ co.w_mem_in.T + v @ co.w_mem_v.T + co.b_mem)
    rho = sigmoid(xp, x @ co.w_adp_in.T + a @ co.w_adp_a.T + co.b_adp)
    return g_m, rho


def ltc_step(xp: Any, co: LTCCoefficients, state: tuple, x: Any,
             spike_fn: SpikeFn | None = None, detach_reset: bool = False
             ) -> tuple[Any, LTCState]:
    """One step: ``((v, a, z), I) -> (z_new, (v, a, z_new))``, all ``[..., n]``.

    Exactly :class:`LTCLIF`'s update::

        g_m, rho = ltc_gates(I, v, a)
        a   = rho * a + (1 - rho) * z
        k   = g_m | 1 - exp(-g_m) ;  v~ = v + k * (v_leak - v + r * I)
        z   = v~ > v_threshold + beta * a ;  reset (:func:`spikecore.xp.spike_and_reset`)
    """
    v, a, z = state
    g_m, rho = ltc_gates(xp, co, v, a, x)
    a_new = rho * a + (1.0 - rho) * z
    theta = co.v_threshold + co.beta * a_new
    k = 1.0 - xp.exp(-g_m) if co.exact else g_m
    v_new = v + k * (co.v_leak - v + co.r * x)
    fired, v_new = spike_and_reset(xp, v_new, theta, co.v_reset, co.v_threshold - co.v_reset,
                                   co.reset, spike_fn, detach_reset)
    return fired, LTCState(v_new, a_new, fired)


__all__ = ["LTCCoefficients", "LTCLIF", "LTCState", "LTC_MATRICES", "LTC_VECTORS",
           "ltc_coefficients", "ltc_gates", "ltc_initial_state", "ltc_step"]
