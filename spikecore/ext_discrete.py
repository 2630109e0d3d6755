"""The exact discrete updates of the extension primitives, and the seeded streams.

The companion of :mod:`spikecore.discrete` for :mod:`spikecore.extensions`: every
backend takes its coefficients and its random streams from here, and the ``*_step``
functions are the executable form of ``docs/semantics.md`` §7 (numpy, float64). Backends
must reproduce them operation for operation.

Streams: the random numbers of a source node are a pure function of ``(seed, node
name, batch element, step)``: a Philox-4x64 generator keyed by a hash of
``(seed, name, batch element)`` with its counter set to ``[0, t, 0, 0]`` draws step
``t``'s values. The stream is computed once in numpy in the main process and handed to
each backend, so every backend sees the identical stream, whatever the number of steps
or the batch size.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from . import primitives as P
from .discrete import NeuronCoefficients, neuron_coefficients, neuron_step
from .extensions import (
    ALIF,
    IZHIKEVICH_TIME_UNIT,
    ML_CONDUCTANCE,
    MORRIS_LECAR_TIME_UNIT,
    CondLIF,
    Izhikevich,
    MorrisLecar,
    OUSource,
    PoissonSource,
    RateUnit,
    RefractoryCubaLIF,
    RefractoryLIF,
    WhiteNoiseSource,
)
from .semantics import Semantics

REFRACTORY_TYPES = (RefractoryLIF, RefractoryCubaLIF)


# =========================================================== refractory LIF / CubaLIF
def refractory_steps(node: RefractoryLIF | RefractoryCubaLIF, dt: float,
                     shape: tuple[int, ...]) -> np.ndarray:
    """``n = round(t_ref / dt)`` per neuron (float64 holding whole numbers)."""
    return np.round(P.param(node, "t_ref", shape) / float(dt))


def refractory_step(co: NeuronCoefficients, n_ref: np.ndarray, i: np.ndarray,
                    v: np.ndarray, ref: np.ndarray, x: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(i, v, ref, x) -> (z, i, v, ref)``; ``co`` from the base LIF/CubaLIF.

    ``ref`` counts the refractory steps left. Where ``ref > 0`` the membrane keeps its
    value and cannot spike and ``ref`` drops by one; elsewhere the base update runs; a
    spike sets ``ref = n_ref``. The synaptic current always follows its update.
    """
    active = ref <= 0
    z, i_new, v_cand = neuron_step(co, i, v, x)
    z = z & active
    v_new = np.where(active, v_cand, v)
    ref_new = np.where(z, n_ref, ref - (ref > 0))
    return z, i_new, v_new, ref_new


# ====================================================================== ALIF
@dataclass(frozen=True)
class ALIFCoefficients:
    """``membrane``: the LIF's coefficients (from an LI, so without threshold);
    ``rho``: adaptation decay per step; ``beta``, ``v_threshold``, ``v_reset`` arrays."""

    membrane: NeuronCoefficients
    rho: np.ndarray
    beta: np.ndarray
    v_threshold: np.ndarray
    v_reset: np.ndarray
    reset: str

    @property
    def reset_amount(self) -> np.ndarray:
        return self.v_threshold - self.v_reset


def alif_coefficients(node: ALIF, semantics: Semantics, shape: tuple[int, ...]
                      ) -> ALIFCoefficients:
    dt = float(semantics.dt)
    tau_a = P.param(node, "tau_adapt", shape)
    rho = np.exp(-dt / tau_a) if semantics.integrator == "exact" else 1.0 - dt / tau_a
    return ALIFCoefficients(neuron_coefficients(node.base(), semantics, shape), rho,
                            P.param(node, "beta", shape), P.param(node, "v_threshold", shape),
                            P.param(node, "v_reset", shape), semantics.reset)


def alif_step(co: ALIFCoefficients, v: np.ndarray, a: np.ndarray, x: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(v, a, x) -> (z, v, a)``::

        v = a_mem v + k_x x + c
        b = v_threshold + beta * a          (a of the previous step)
        z = v > b
        v = v_reset  (to_value)  |  v - (v_threshold - v_reset)  (subtract)   where z
        a = rho * a + z
    """
    _, _, v_new = neuron_step(co.membrane, v, v, x)
    b = co.v_threshold + co.beta * a
    z = v_new > b
    if co.reset == "to_value":
        v_new = np.where(z, co.v_reset, v_new)
    else:
        v_new = np.where(z, v_new - co.reset_amount, v_new)
    return z, v_new, co.rho * a + z


# ====================================================================== rate units
def rate_coefficients(node: RateUnit, semantics: Semantics, shape: tuple[int, ...]
                      ) -> NeuronCoefficients:
    """The LI coefficients with ``r = 1``, ``v_leak = 0`` (``c`` is then 0)."""
    return neuron_coefficients(node.base(), semantics, shape)


def phi(node: RateUnit, x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The unit's output nonlinearity."""
    if node.phi == "tanh":
        return np.tanh(x)
    if node.phi == "relu":
        return np.maximum(x, 0.0)
    return P.param(node, "k", shape) * np.maximum(x, 0.0) ** P.param(node, "n", shape)


def rate_step(node: RateUnit, co: NeuronCoefficients, x: np.ndarray, inp: np.ndarray,
              shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """``(x, input) -> (y, x)``: ``x = a_mem x + k_x input + c``; ``y = phi(x)``."""
    _, _, x_new = neuron_step(co, x, x, inp)
    return phi(node, x_new, shape), x_new


# ====================================================================== CondLIF
@dataclass(frozen=True)
class CondLIFCoefficients:
    """Per-neuron float64 numbers of the CondLIF update (see :func:`cond_lif_step`).

    ``a_exc``, ``a_inh``: conductance decay per step; ``h_mem = dt / tau_mem``;
    ``exact``: the membrane is integrated exactly for the step's conductances;
    ``use_new``: the membrane sees this step's conductances (``current_first``)."""

    a_exc: np.ndarray
    a_inh: np.ndarray
    h_mem: np.ndarray
    r: np.ndarray
    v_leak: np.ndarray
    e_exc: np.ndarray
    e_inh: np.ndarray
    v_threshold: np.ndarray
    v_reset: np.ndarray
    exact: bool
    use_new: bool
    reset: str


def cond_lif_coefficients(node: CondLIF, semantics: Semantics, shape: tuple[int, ...]
                          ) -> CondLIFCoefficients:
    dt = float(semantics.dt)
    par = lambda f: P.param(node, f, shape)  # noqa: E731
    exact = semantics.integrator == "exact"
    decay = (lambda tau: np.exp(-dt / tau)) if exact else (lambda tau: 1.0 - dt / tau)
    return CondLIFCoefficients(decay(par("tau_exc")), decay(par("tau_inh")),
                               dt / par("tau_mem"), par("r"), par("v_leak"), par("e_exc"),
                               par("e_inh"), par("v_threshold"), par("v_reset"), exact,
                               semantics.update_order == "current_first", semantics.reset)


def split_conductance_input(x: np.ndarray, in_shape: tuple[int, ...], shape: tuple[int, ...]
                            ) -> tuple[np.ndarray, np.ndarray]:
    """``x`` ``[..., *in_shape]`` (``in_shape`` = ``(2, *shape)`` or ``(2 * size,)``) ->
    (excitatory, inhibitory) increments, each ``[..., *shape]``: the first half is
    excitatory."""
    lead = x.shape[:x.ndim - len(in_shape)]
    flat = x.reshape(*lead, 2, int(np.prod(shape)))
    return flat[..., 0, :].reshape(*lead, *shape), flat[..., 1, :].reshape(*lead, *shape)


def cond_lif_step(co: CondLIFCoefficients, g_exc: np.ndarray, g_inh: np.ndarray,
                  v: np.ndarray, x_exc: np.ndarray, x_inh: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(g_exc, g_inh, v, x_exc, x_inh) -> (z, g_exc, g_inh, v)``::

        g_exc' = a_exc g_exc + x_exc ;  g_inh' = a_inh g_inh + x_inh
        ge, gi = (g_exc', g_inh') if current_first else (g_exc, g_inh)
        euler:  v' = v + h_mem * ((v_leak - v) + r ge (e_exc - v) + r gi (e_inh - v))
        exact:  G = 1 + r ge + r gi ;  v_inf = (v_leak + r ge e_exc + r gi e_inh) / G
                v' = v_inf + (v - v_inf) * exp(-h_mem G)
        z = v' > v_threshold ; reset as LIF
    """
    ge_new = co.a_exc * g_exc + x_exc
    gi_new = co.a_inh * g_inh + x_inh
    ge, gi = (ge_new, gi_new) if co.use_new else (g_exc, g_inh)
    if co.exact:
        G = 1.0 + co.r * ge + co.r * gi
        v_inf = (co.v_leak + co.r * ge * co.e_exc + co.r * gi * co.e_inh) / G
        v_new = v_inf + (v - v_inf) * np.exp(-co.h_mem * G)
    else:
        v_new = v + co.h_mem * ((co.v_leak - v) + co.r * ge * (co.e_exc - v)
                                + co.r * gi * (co.e_inh - v))
    z = v_new > co.v_threshold
    if co.reset == "to_value":
        v_new = np.where(z, co.v_reset, v_new)
    else:
        v_new = np.where(z, v_new - (co.v_threshold - co.v_reset), v_new)
    return z, ge_new, gi_new, v_new


# ====================================================================== Izhikevich
def izhikevich_h(semantics: Semantics) -> float:
    """The step in the model's time unit (ms)."""
    return float(semantics.dt) / IZHIKEVICH_TIME_UNIT


def izhikevich_step(node: Izhikevich, h: float, v: np.ndarray, u: np.ndarray, x: np.ndarray,
                    shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(v, u, I) -> (z, v, u)``, Izhikevich (2003)'s scheme with ``h = dt / 1 ms``::

        f(w) = ((((0.04 (w w)) + 5 w) + 140) - u) + I      (this evaluation order)
        v1 = v  + (h/2) f(v)
        v2 = v1 + (h/2) f(v1)
        u' = u + h (a (b v2 - u))
        z = v2 > v_peak ;  where z: v2 = c, u' = u' + d
    """
    par = lambda f: P.param(node, f, shape)  # noqa: E731
    hh = 0.5 * h

    def f(w: np.ndarray) -> np.ndarray:
        return 0.04 * (w * w) + 5.0 * w + 140.0 - u + x

    v1 = v + hh * f(v)
    v2 = v1 + hh * f(v1)
    u_new = u + h * (par("a") * (par("b") * v2 - u))
    z = v2 > par("v_peak")
    return z, np.where(z, par("c"), v2), np.where(z, u_new + par("d"), u_new)


# ====================================================================== Morris-Lecar
def morris_lecar_h(semantics: Semantics) -> float:
    """The step in the model's time unit (ms)."""
    return float(semantics.dt) / MORRIS_LECAR_TIME_UNIT


def split_morris_lecar_input(node: MorrisLecar, x: np.ndarray, in_shape: tuple[int, ...],
                             shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray | None]:
    """``x`` ``[..., *in_shape]`` -> ``(I, g)``: ``g`` is ``None`` for
    ``input_kind='current'``; otherwise the first half of ``x`` is the current ``I``, the
    second the conductance ``g`` (as :func:`split_conductance_input`)."""
    if node.input_kind != ML_CONDUCTANCE:
        return x, None
    return split_conductance_input(x, in_shape, shape)


def morris_lecar_step(node: MorrisLecar, semantics: Semantics, v: np.ndarray, w: np.ndarray,
                      x: np.ndarray, shape: tuple[int, ...], g: np.ndarray | None = None
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(V, w, I[, g]) -> (z, y, V, w)``, ``h = dt / 1 ms``, everything from ``V[t-1]``::

        m   = (1 + tanh((V - v1) / v2)) / 2
        wi  = (1 + tanh((V - v3) / v4)) / 2
        ch  = cosh((V - v3) / (2 v4))                        (= 1 / tau_w)
        I   = I + g (e_syn - V)          (only with a conductance input g; this order)
        V'  = V + (h / c_m) * (I - g_l (V - v_l) - g_ca m (V - v_ca) - g_k w (V - v_k))
        euler: w' = w + h phi ch (wi - w)
        exact: w' = wi + (w - wi) exp(-h phi ch)             (w is linear for fixed V)
        z = V <= v_threshold < V'  (upward crossing);  y = z, or for the graded neuron
        y = (1 + tanh((V' - v_syn) / k_syn)) / 2
    """
    par = lambda f: P.param(node, f, shape)  # noqa: E731
    h = morris_lecar_h(semantics)
    m = 0.5 * (1.0 + np.tanh((v - par("v1")) / par("v2")))
    wi = 0.5 * (1.0 + np.tanh((v - par("v3")) / par("v4")))
    ch = np.cosh((v - par("v3")) / (2.0 * par("v4")))
    if g is not None:
        x = x + g * (par("e_syn") - v)
    v_new = v + (h / par("c_m")) * (x - par("g_l") * (v - par("v_l"))
                                     - par("g_ca") * m * (v - par("v_ca"))
                                     - par("g_k") * w * (v - par("v_k")))
    if semantics.integrator == "exact":
        w_new = wi + (w - wi) * np.exp(-h * par("phi") * ch)
    else:
        w_new = w + h * par("phi") * ch * (wi - w)
    thr = par("v_threshold")
    z = (v <= thr) & (v_new > thr)
    if P.SPECS[type(node)].spiking:
        y = z.astype(np.float64)
    else:
        y = 0.5 * (1.0 + np.tanh((v_new - par("v_syn")) / par("k_syn")))
    return z, y, v_new, w_new


# ====================================================================== streams
def philox_key(seed: int, name: str, batch_index: int) -> np.ndarray:
    """The 128-bit Philox key of one (seed, node name, batch element) stream."""
    digest = hashlib.sha256(f"spikecore/{int(seed)}/{name}/{int(batch_index)}".encode()).digest()
    return np.frombuffer(digest[:16], dtype=np.uint64).copy()


def _draws(seed: int, name: str, batch: int, t0: int, t1: int, size: int, kind: str
           ) -> np.ndarray:
    """``[batch, t1 - t0, size]`` uniform [0, 1) or standard normal draws."""
    out = np.empty((batch, t1 - t0, size))
    for b in range(batch):
        key = philox_key(seed, name, b)
        for t in range(t0, t1):
            gen = np.random.Generator(np.random.Philox(key=key, counter=[0, t, 0, 0]))
            out[b, t - t0] = gen.random(size) if kind == "uniform" else gen.standard_normal(size)
    return out


def source_initial_state(node: object, batch: int, shape: tuple[int, ...]) -> np.ndarray | None:
    """State carried between blocks of a stream (the OU value), ``None`` if stateless."""
    if isinstance(node, OUSource):
        return np.broadcast_to(P.param(node, "mean", shape), (batch, *shape)).copy()
    return None


def source_stream(node: object, name: str, semantics: Semantics, batch: int, t0: int, t1: int,
                  shape: tuple[int, ...] | None = None, state: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray | None]:
    """Steps ``t0 .. t1-1`` of a source's output, ``[batch, t1 - t0, *shape]`` float64,
    and the state after them (pass it back for the next block; ``None`` at ``t0 = 0``
    means the initial state). Blocks concatenate to the stream computed in one call."""
    if shape is None:
        shape = P.SPECS[type(node)].output_shape(node, None)
    size = int(np.prod(shape))
    dt = float(semantics.dt)
    if isinstance(node, PoissonSource):
        u = _draws(node.seed, name, batch, t0, t1, size, "uniform")
        p = P.param(node, "rate", shape).ravel() * dt
        return (u < p).astype(np.float64).reshape(batch, t1 - t0, *shape), None
    xi = _draws(node.seed, name, batch, t0, t1, size, "normal").reshape(batch, t1 - t0, *shape)
    mean, sigma = P.param(node, "mean", shape), P.param(node, "sigma", shape)
    if isinstance(node, WhiteNoiseSource):
        return mean + (sigma / np.sqrt(dt)) * xi, None
    if not isinstance(node, OUSource):
        raise TypeError(f"{type(node).__name__} is not a source primitive")
    tau = P.param(node, "tau", shape)
    y = source_initial_state(node, batch, shape) if state is None else np.array(state)
    out = np.empty_like(xi)
    if semantics.integrator == "exact":
        a = np.exp(-dt / tau)
        s = sigma * np.sqrt(1.0 - a * a)
        for k in range(t1 - t0):
            y = mean + a * (y - mean) + s * xi[:, k]
            out[:, k] = y
    else:
        h = dt / tau
        s = sigma * np.sqrt(2.0 * h)
        for k in range(t1 - t0):
            y = y + h * (mean - y) + s * xi[:, k]
            out[:, k] = y
    return out, y


def graph_streams(graph, batch: int, steps: int) -> dict[str, np.ndarray]:
    """Every source node of the flat ``graph``: name -> ``[batch, steps, *shape]``."""
    shapes = graph.shapes()
    out = {}
    for n, node in graph.nodes.items():
        if type(node) in SOURCE_TYPES:
            out[n] = source_stream(node, n, graph.semantics, batch, 0, steps, shapes[n])[0]
    return out


SOURCE_TYPES = (PoissonSource, WhiteNoiseSource, OUSource)
