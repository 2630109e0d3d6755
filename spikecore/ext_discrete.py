"""The exact discrete updates of the extension primitives, and the seeded streams.

The companion of :mod:`spikecore.discrete` for :mod:`spikecore.extensions`: every
backend takes its coefficients and its random streams from here. Each ``*_step`` function
is written once over an array namespace ``xp`` (:mod:`spikecore.xp`): with ``xp=numpy`` it
is the executable form of ``docs/semantics.md`` §7 (float64), with ``xp=torch`` the torch
backend's op (``spike_fn``: the surrogate, in training). States are NamedTuples.

Streams: the random numbers of a source node are a pure function of ``(seed, node
name, batch element, step)``: a Philox-4x64 generator keyed by a hash of
``(seed, name, batch element)`` with its counter set to ``[0, t, 0, 0]`` draws step
``t``'s values. The stream is computed once in numpy in the main process and handed to
each backend, so every backend sees the identical stream, whatever the number of steps
or the batch size.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

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
from .xp import SpikeFn, decay, relu, spike_and_reset

REFRACTORY_TYPES = (RefractoryLIF, RefractoryCubaLIF)


# =========================================================== refractory LIF / CubaLIF
def refractory_steps(node: RefractoryLIF | RefractoryCubaLIF, dt: float,
                     shape: tuple[int, ...]) -> np.ndarray:
    """``n = round(t_ref / dt)`` per neuron (float64 holding whole numbers)."""
    return np.round(P.param(node, "t_ref", shape) / float(dt))


class RefractoryState(NamedTuple):
    """RefractoryLIF: membrane, then refractory steps left."""

    v: Any
    ref: Any


class RefractorySynapticState(NamedTuple):
    """RefractoryCubaLIF: synaptic current, membrane, refractory steps left."""

    i: Any
    v: Any
    ref: Any


def refractory_step(xp: Any, co: NeuronCoefficients, n_ref: Any, state: tuple, x: Any,
                    spike_fn: SpikeFn | None = None, detach_reset: bool = False
                    ) -> tuple[Any, RefractoryState | RefractorySynapticState]:
    """``(state, x) -> (z, state)``; ``co`` from the base LIF/CubaLIF, ``state`` the base
    neuron's state followed by ``ref``, the refractory steps left.

    Where ``ref > 0`` the membrane keeps its value and cannot spike and ``ref`` drops by
    one; elsewhere the base update (:func:`~spikecore.discrete.neuron_step`) runs; a spike
    sets ``ref = n_ref``. The synaptic current always follows its update.
    """
    *base, ref = state
    active = ref <= 0
    z, new = neuron_step(xp, co, tuple(base), x, spike_fn, detach_reset)
    z = z * active
    v = xp.where(active, new[-1], base[-1])
    ref_new = xp.where(z != 0, n_ref, xp.where(ref > 0, ref - 1.0, ref))
    if co.has_current:
        return z, RefractorySynapticState(new[0], v, ref_new)
    return z, RefractoryState(v, ref_new)


# ====================================================================== ALIF
@dataclass(frozen=True)
class ALIFCoefficients:
    """``membrane``: the LIF's coefficients (from an LI, so without threshold);
    ``rho``: adaptation decay per step; ``beta``, ``v_threshold``, ``v_reset`` arrays."""

    membrane: NeuronCoefficients
    rho: Any
    beta: Any
    v_threshold: Any
    v_reset: Any
    reset: str

    @property
    def reset_amount(self) -> Any:
        return self.v_threshold - self.v_reset


class ALIFState(NamedTuple):
    v: Any
    a: Any


def alif_coefficients(node: ALIF, semantics: Semantics, shape: tuple[int, ...]
                      ) -> ALIFCoefficients:
    rho = decay(np, float(semantics.dt), P.param(node, "tau_adapt", shape),
                semantics.integrator == "exact")
    return ALIFCoefficients(neuron_coefficients(node.base(), semantics, shape), rho,
                            P.param(node, "beta", shape), P.param(node, "v_threshold", shape),
                            P.param(node, "v_reset", shape), semantics.reset)


def alif_step(xp: Any, co: ALIFCoefficients, state: tuple, x: Any,
              spike_fn: SpikeFn | None = None, detach_reset: bool = False
              ) -> tuple[Any, ALIFState]:
    """``((v, a), x) -> (z, (v, a))``::

        v = a_mem v + k_x x + c
        b = v_threshold + beta * a          (a of the previous step)
        z = v > b
        v = v_reset  (to_value)  |  v - (v_threshold - v_reset)  (subtract)   where z
        a = rho * a + z
    """
    v, a = state
    v_new, _ = neuron_step(xp, co.membrane, (v,), x)
    z, v_new = spike_and_reset(xp, v_new, co.v_threshold + co.beta * a, co.v_reset,
                               co.v_threshold - co.v_reset, co.reset, spike_fn, detach_reset)
    return z, ALIFState(v_new, co.rho * a + z)


# ====================================================================== rate units
@dataclass(frozen=True)
class RateCoefficients:
    """The LI coefficients of the unit's ``x`` (``r = 1``, ``v_leak = 0``) and its output
    nonlinearity ``phi`` (``'tanh'``, ``'relu'`` or ``'power'`` with ``k``, ``n``)."""

    membrane: NeuronCoefficients
    phi: str
    k: Any
    n: Any


class RateState(NamedTuple):
    x: Any


def rate_coefficients(node: RateUnit, semantics: Semantics, shape: tuple[int, ...]
                      ) -> RateCoefficients:
    return RateCoefficients(neuron_coefficients(node.base(), semantics, shape), node.phi,
                            P.param(node, "k", shape), P.param(node, "n", shape))


def phi(xp: Any, co: RateCoefficients, x: Any) -> Any:
    """The unit's output nonlinearity: ``tanh(x)``, ``max(x, 0)`` or ``k max(x, 0)^n``."""
    if co.phi == "tanh":
        return xp.tanh(x)
    if co.phi == "relu":
        return relu(xp, x)
    return co.k * relu(xp, x) ** co.n


def rate_step(xp: Any, co: RateCoefficients, state: tuple, inp: Any
              ) -> tuple[Any, RateState]:
    """``((x,), input) -> (y, (x,))``: ``x = a_mem x + k_x input + c``; ``y = phi(x)``."""
    x_new, _ = neuron_step(xp, co.membrane, tuple(state), inp)
    return phi(xp, co, x_new), RateState(x_new)


# ====================================================================== CondLIF
@dataclass(frozen=True)
class CondLIFCoefficients:
    """Per-neuron numbers of the CondLIF update (see :func:`cond_lif_step`).

    ``a_exc``, ``a_inh``: conductance decay per step; ``h_mem = dt / tau_mem``;
    ``exact``: the membrane is integrated exactly for the step's conductances;
    ``use_new``: the membrane sees this step's conductances (``current_first``)."""

    a_exc: Any
    a_inh: Any
    h_mem: Any
    r: Any
    v_leak: Any
    e_exc: Any
    e_inh: Any
    v_threshold: Any
    v_reset: Any
    exact: bool
    use_new: bool
    reset: str


class CondLIFState(NamedTuple):
    g_exc: Any
    g_inh: Any
    v: Any


def cond_lif_coefficients(node: CondLIF, semantics: Semantics, shape: tuple[int, ...]
                          ) -> CondLIFCoefficients:
    dt = float(semantics.dt)
    par = lambda f: P.param(node, f, shape)  # noqa: E731
    exact = semantics.integrator == "exact"
    return CondLIFCoefficients(decay(np, dt, par("tau_exc"), exact),
                               decay(np, dt, par("tau_inh"), exact),
                               dt / par("tau_mem"), par("r"), par("v_leak"), par("e_exc"),
                               par("e_inh"), par("v_threshold"), par("v_reset"), exact,
                               semantics.update_order == "current_first", semantics.reset)


def split_conductance_input(x: Any, in_shape: tuple[int, ...], shape: tuple[int, ...]
                            ) -> tuple[Any, Any]:
    """``x`` ``[..., *in_shape]`` (``in_shape`` = ``(2, *shape)`` or ``(2 * size,)``) ->
    (first half, second half), each ``[..., *shape]`` (numpy or torch): for CondLIF the
    excitatory and inhibitory increments."""
    lead = tuple(x.shape[:x.ndim - len(in_shape)])
    flat = x.reshape(*lead, 2, int(np.prod(shape)))
    return flat[..., 0, :].reshape(*lead, *shape), flat[..., 1, :].reshape(*lead, *shape)


def cond_lif_step(xp: Any, co: CondLIFCoefficients, state: tuple, x_exc: Any, x_inh: Any,
                  spike_fn: SpikeFn | None = None, detach_reset: bool = False
                  ) -> tuple[Any, CondLIFState]:
    """``((g_exc, g_inh, v), x_exc, x_inh) -> (z, (g_exc, g_inh, v))``::

        g_exc' = a_exc g_exc + x_exc ;  g_inh' = a_inh g_inh + x_inh
        ge, gi = (g_exc', g_inh') if current_first else (g_exc, g_inh)
        euler:  v' = v + h_mem * ((v_leak - v) + r ge (e_exc - v) + r gi (e_inh - v))
        exact:  G = 1 + r ge + r gi ;  v_inf = (v_leak + r ge e_exc + r gi e_inh) / G
                v' = v_inf + (v - v_inf) * exp(-h_mem G)
        z = v' > v_threshold ; reset as LIF
    """
    g_exc, g_inh, v = state
    ge_new = co.a_exc * g_exc + x_exc
    gi_new = co.a_inh * g_inh + x_inh
    ge, gi = (ge_new, gi_new) if co.use_new else (g_exc, g_inh)
    if co.exact:
        G = 1.0 + co.r * ge + co.r * gi
        v_inf = (co.v_leak + co.r * ge * co.e_exc + co.r * gi * co.e_inh) / G
        v_new = v_inf + (v - v_inf) * xp.exp(-co.h_mem * G)
    else:
        v_new = v + co.h_mem * ((co.v_leak - v) + co.r * ge * (co.e_exc - v)
                                + co.r * gi * (co.e_inh - v))
    z, v_new = spike_and_reset(xp, v_new, co.v_threshold, co.v_reset,
                               co.v_threshold - co.v_reset, co.reset, spike_fn, detach_reset)
    return z, CondLIFState(ge_new, gi_new, v_new)


# ====================================================================== Izhikevich
def izhikevich_h(semantics: Semantics) -> float:
    """The step in the model's time unit (ms)."""
    return float(semantics.dt) / IZHIKEVICH_TIME_UNIT


@dataclass(frozen=True)
class IzhikevichCoefficients:
    """``h = dt / 1 ms`` and the model's per-neuron ``a, b, c, d, v_peak``."""

    h: float
    a: Any
    b: Any
    c: Any
    d: Any
    v_peak: Any


class IzhikevichState(NamedTuple):
    v: Any
    u: Any


def izhikevich_coefficients(node: Izhikevich, semantics: Semantics, shape: tuple[int, ...]
                            ) -> IzhikevichCoefficients:
    return IzhikevichCoefficients(izhikevich_h(semantics),
                                  *(P.param(node, f, shape) for f in ("a", "b", "c", "d",
                                                                     "v_peak")))


def izhikevich_step(xp: Any, co: IzhikevichCoefficients, state: tuple, x: Any,
                    spike_fn: SpikeFn | None = None, detach_reset: bool = False
                    ) -> tuple[Any, IzhikevichState]:
    """``((v, u), I) -> (z, (v, u))``, Izhikevich (2003)'s scheme with ``h = dt / 1 ms``::

        f(w) = ((((0.04 (w w)) + 5 w) + 140) - u) + I      (this evaluation order)
        v1 = v  + (h/2) f(v)
        v2 = v1 + (h/2) f(v1)
        u' = u + h (a (b v2 - u))
        z = v2 > v_peak ;  where z: v2 = c, u' = u' + d

    With ``spike_fn`` the reset is arithmetic, ``v = (1 - zr) v2 + zr c``,
    ``u = u' + zr d`` (the same values for ``zr`` in {0, 1}).
    """
    v, u = state
    hh = 0.5 * co.h

    def f(w: Any) -> Any:
        return 0.04 * (w * w) + 5.0 * w + 140.0 - u + x

    v1 = v + hh * f(v)
    v2 = v1 + hh * f(v1)
    u_new = u + co.h * (co.a * (co.b * v2 - u))
    if spike_fn is None:
        z = v2 > co.v_peak
        return z, IzhikevichState(xp.where(z, co.c, v2), xp.where(z, u_new + co.d, u_new))
    z = spike_fn(v2 - co.v_peak)
    zr = z.detach() if detach_reset else z
    return z, IzhikevichState((1.0 - zr) * v2 + zr * co.c, u_new + zr * co.d)


# ====================================================================== Morris-Lecar
def morris_lecar_h(semantics: Semantics) -> float:
    """The step in the model's time unit (ms)."""
    return float(semantics.dt) / MORRIS_LECAR_TIME_UNIT


#: Per-neuron parameters of MorrisLecar / MorrisLecarGraded used by the update.
ML_FIELDS = ("c_m", "g_l", "g_ca", "g_k", "v_l", "v_ca", "v_k", "v1", "v2", "v3", "v4", "phi",
             "v_threshold", "v_syn", "k_syn", "e_syn")


@dataclass(frozen=True)
class MorrisLecarCoefficients:
    """``h = dt / 1 ms``, ``exact`` (w integrated exactly for fixed V), ``spiking``
    (MorrisLecar sends spikes, MorrisLecarGraded ``s_inf(V)``) and the fields of
    :data:`ML_FIELDS` as per-neuron arrays in ``p``."""

    h: float
    exact: bool
    spiking: bool
    p: Mapping[str, Any]


class MorrisLecarState(NamedTuple):
    v: Any
    w: Any


def morris_lecar_coefficients(node: MorrisLecar, semantics: Semantics,
                              shape: tuple[int, ...]) -> MorrisLecarCoefficients:
    return MorrisLecarCoefficients(morris_lecar_h(semantics), semantics.integrator == "exact",
                                   P.SPECS[type(node)].spiking,
                                   {f: P.param(node, f, shape) for f in ML_FIELDS})


def split_morris_lecar_input(node: MorrisLecar, x: Any, in_shape: tuple[int, ...],
                             shape: tuple[int, ...]) -> tuple[Any, Any | None]:
    """``x`` ``[..., *in_shape]`` -> ``(I, g)``: ``g`` is ``None`` for
    ``input_kind='current'``; otherwise the first half of ``x`` is the current ``I``, the
    second the conductance ``g`` (as :func:`split_conductance_input`)."""
    if node.input_kind != ML_CONDUCTANCE:
        return x, None
    return split_conductance_input(x, in_shape, shape)


def morris_lecar_step(xp: Any, co: MorrisLecarCoefficients, state: tuple, x: Any,
                      g: Any | None = None, spike_fn: SpikeFn | None = None
                      ) -> tuple[Any, MorrisLecarState]:
    """``((V, w), I[, g]) -> (y, (V, w))``, ``h = dt / 1 ms``, everything from ``V[t-1]``::

        m   = (1 + tanh((V - v1) / v2)) / 2
        wi  = (1 + tanh((V - v3) / v4)) / 2
        ch  = cosh((V - v3) / (2 v4))                        (= 1 / tau_w)
        I   = I + g (e_syn - V)          (only with a conductance input g; this order)
        V'  = V + (h / c_m) * (I - g_l (V - v_l) - g_ca m (V - v_ca) - g_k w (V - v_k))
        euler: w' = w + h phi ch (wi - w)
        exact: w' = wi + (w - wi) exp(-h phi ch)             (w is linear for fixed V)
        y = z = V <= v_threshold < V'  (upward crossing; MorrisLecar), or
        y = (1 + tanh((V' - v_syn) / k_syn)) / 2             (MorrisLecarGraded)

    With ``spike_fn``: ``z = spike_fn(V' - v_threshold) * [V <= v_threshold]`` (the
    indicator carries no gradient). There is no reset.
    """
    p = co.p
    v, w = state
    h = co.h
    m = 0.5 * (1.0 + xp.tanh((v - p["v1"]) / p["v2"]))
    wi = 0.5 * (1.0 + xp.tanh((v - p["v3"]) / p["v4"]))
    ch = xp.cosh((v - p["v3"]) / (2.0 * p["v4"]))
    if g is not None:
        x = x + g * (p["e_syn"] - v)
    v_new = v + (h / p["c_m"]) * (x - p["g_l"] * (v - p["v_l"])
                                  - p["g_ca"] * m * (v - p["v_ca"])
                                  - p["g_k"] * w * (v - p["v_k"]))
    if co.exact:
        w_new = wi + (w - wi) * xp.exp(-h * p["phi"] * ch)
    else:
        w_new = w + h * p["phi"] * ch * (wi - w)
    thr = p["v_threshold"]
    if not co.spiking:
        y = 0.5 * (1.0 + xp.tanh((v_new - p["v_syn"]) / p["k_syn"]))
    elif spike_fn is None:
        y = (v <= thr) & (v_new > thr)
    else:
        y = spike_fn(v_new - thr) * (v <= thr)
    return y, MorrisLecarState(v_new, w_new)


def upward_crossing(v_old: Any, v_new: Any, threshold: Any) -> Any:
    """``v_old <= threshold < v_new``: the Morris-Lecar spike (for either neuron kind)."""
    return (v_old <= threshold) & (v_new > threshold)


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
