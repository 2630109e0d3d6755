"""Extension primitives: what NIR 1.0 cannot say, kept apart so plain NIR stays plain.

Each extension is a dataclass node (like NIR's own) registered in
:data:`spikecore.primitives.SPECS`. Their exact discrete updates are in
:mod:`spikecore.ext_discrete` and ``docs/semantics.md`` §7; every backend lowers them
through those functions.

==================  =====================================================================
node                meaning
==================  =====================================================================
RefractoryLIF       LIF that, after a spike, holds ``v`` and ignores input for
                    ``n = round(t_ref / dt)`` steps
RefractoryCubaLIF   CubaLIF with the same refractory period (the synaptic current keeps
                    filtering its input; only the membrane is held)
ALIF                adaptive-threshold LIF (e-prop, Bellec et al. 2020): threshold
                    ``v_threshold + beta * a``, ``a`` decays with ``tau_adapt``, +1 per spike
LTCLIF              liquid time-constant LIF (LTC-SNN, Yin et al. 2023): sigmoid gates over
                    input and state set the per-step membrane rate and adaptation decay
                    (:mod:`spikecore.ltc`)
PoissonSource       seeded Bernoulli spike trains, probability ``rate * dt`` per step
WhiteNoiseSource    seeded white-noise current ``mean + sigma * xi / sqrt(dt)``
OUSource            seeded Ornstein-Uhlenbeck current (mean, stationary std ``sigma``, ``tau``)
RateUnit            rate unit ``tau dx/dt = -x + input``, output ``phi(x)``
CondLIF             LIF with excitatory and inhibitory conductances (reversal potentials);
                    input ``(2, *shape)``: row 0 excitatory, row 1 inhibitory increments
Izhikevich          Izhikevich (2003) neuron (a, b, c, d; mV and ms as in the paper)
MorrisLecar         Morris-Lecar neuron (mV, ms, uA/cm^2); spikes at upward crossings
MorrisLecarGraded   the same neuron sending the graded synaptic activation ``s_inf(V)``
SparseLinear        ``y = W x`` with ``W`` in CSR form (:mod:`spikecore.sparse`)
==================  =====================================================================

**Files.** In a spikecore NIR file an extension node is not a NIR node (``nir.read``
knows no such type): it is stored under the graph's metadata key
:data:`EXTENSIONS_KEY` as a group per node (``type`` plus one dataset per field), and
the full edge list with delays is kept in the spikecore JSON metadata. ``nir.read``
reads such a file as the plain part of the graph plus metadata; spikecore restores the
graph exactly. ``to_nir(graph, plain=True)`` refuses extension nodes, naming them
(except those whose spec has a ``plain`` decomposition: SparseLinear -> dense Linear).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import nir
import numpy as np

from . import primitives as P

#: Graph metadata key holding the extension nodes of a spikecore NIR file.
EXTENSIONS_KEY = "spikecore_extensions"
#: Output nonlinearities of :class:`RateUnit`.
PHIS = ("tanh", "relu", "power")
_SKIP = ("input_type", "output_type", "metadata")


def _arr(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


class _Extension(nir.NIRNode):
    """Common behaviour: array fields become float64 arrays; ``input_type`` and
    ``output_type`` follow the shape parameter, as in NIR's own nodes."""

    shape_param = ""
    array_fields: tuple[str, ...] = ()
    #: fields stored as int64 arrays in files (sparse index arrays)
    int_fields: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for f in self.array_fields:
            setattr(self, f, _arr(getattr(self, f)))
        shape = np.array(np.shape(getattr(self, self.shape_param)) or (1,))
        self.input_type = {"input": shape}
        self.output_type = {"output": shape}

    def fields(self) -> dict[str, Any]:
        """Every constructor field except NIR's bookkeeping (types, metadata)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.name not in _SKIP}


# ---------------------------------------------------------------------- neurons
@dataclass(eq=False)
class RefractoryLIF(_Extension):
    """LIF with an absolute refractory period.

    ``tau dv/dt = (v_leak - v) + r x`` between spikes (the LIF update of
    :mod:`spikecore.discrete`). After a spike in step ``t`` (reset applied), for the
    ``n = round(t_ref / dt)`` steps ``t+1 .. t+n`` the membrane is held at its
    post-reset value (``v_reset`` under ``reset='to_value'``), its input is discarded
    and it cannot spike. ``t_ref`` (seconds, >= 0) must be a whole number of steps.
    """

    tau: np.ndarray
    r: np.ndarray
    v_leak: np.ndarray
    v_threshold: np.ndarray
    v_reset: np.ndarray
    t_ref: np.ndarray
    shape_param = "tau"
    array_fields = ("tau", "r", "v_leak", "v_threshold", "v_reset", "t_ref")

    def base(self) -> nir.LIF:
        """The plain LIF this neuron follows between refractory periods."""
        return nir.LIF(tau=self.tau, r=self.r, v_leak=self.v_leak,
                       v_threshold=self.v_threshold, v_reset=self.v_reset)


@dataclass(eq=False)
class RefractoryCubaLIF(_Extension):
    """CubaLIF with an absolute refractory period.

    The synaptic current ``i`` follows its update every step (it keeps filtering the
    input, as in Lava's ``LIFRefractory``); the membrane is held at its post-reset value
    for ``n = round(t_ref / dt)`` steps after a spike and cannot spike then.
    """

    tau_syn: np.ndarray
    tau_mem: np.ndarray
    r: np.ndarray
    v_leak: np.ndarray
    v_threshold: np.ndarray
    v_reset: np.ndarray
    w_in: np.ndarray
    t_ref: np.ndarray
    shape_param = "tau_mem"
    array_fields = ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset", "w_in",
                    "t_ref")

    def base(self) -> nir.CubaLIF:
        return nir.CubaLIF(tau_syn=self.tau_syn, tau_mem=self.tau_mem, r=self.r,
                           v_leak=self.v_leak, v_threshold=self.v_threshold,
                           v_reset=self.v_reset, w_in=self.w_in)


@dataclass(eq=False)
class ALIF(_Extension):
    """Adaptive-threshold LIF (the ALIF of e-prop, Bellec et al. 2020).

    ``v`` follows the LIF update; the threshold in step ``t`` is
    ``b[t] = v_threshold + beta * a[t-1]``; ``z[t] = v[t] > b[t]``; the reset is the
    LIF's (``subtract`` removes ``v_threshold - v_reset``, the baseline, as in e-prop);
    then ``a[t] = rho * a[t-1] + z[t]`` with ``rho = exp(-dt/tau_adapt)`` (exact) or
    ``1 - dt/tau_adapt`` (Euler). ``a`` starts at 0.
    """

    tau: np.ndarray
    r: np.ndarray
    v_leak: np.ndarray
    v_threshold: np.ndarray
    v_reset: np.ndarray
    tau_adapt: np.ndarray
    beta: np.ndarray
    shape_param = "tau"
    array_fields = ("tau", "r", "v_leak", "v_threshold", "v_reset", "tau_adapt", "beta")

    def base(self) -> nir.LI:
        """The membrane without threshold (same coefficients as the LIF's)."""
        return nir.LI(tau=self.tau, r=self.r, v_leak=self.v_leak)


@dataclass(eq=False)
class RateUnit(_Extension):
    """Rate unit ``tau dx/dt = -x + input``; output ``y = phi(x)``.

    ``phi``: ``"tanh"``, ``"relu"`` (``max(x, 0)``) or ``"power"``
    (``k * max(x, 0) ** n``). ``x`` starts at ``x0``. The discrete update of ``x`` is
    the LI update with ``r = 1``, ``v_leak = 0``. Recurrent coupling ``J phi(x)`` is
    built in the graph: a ``Linear(J)`` from the unit back to itself with delay 1.
    """

    tau: np.ndarray
    x0: np.ndarray
    phi: str = "tanh"
    k: np.ndarray = 1.0
    n: np.ndarray = 1.0
    shape_param = "tau"
    array_fields = ("tau", "x0", "k", "n")

    def base(self) -> nir.LI:
        shape = np.shape(self.tau)
        return nir.LI(tau=self.tau, r=np.ones(shape), v_leak=np.zeros(shape))


@dataclass(eq=False)
class CondLIF(_Extension):
    """LIF with conductance-based excitatory and inhibitory synapses.

    ``tau_mem dv/dt = (v_leak - v) + r g_exc (e_exc - v) + r g_inh (e_inh - v)``,
    ``tau_exc dg_exc/dt = -g_exc``, ``tau_inh dg_inh/dt = -g_inh``; an input is a jump
    of conductance. The input has shape ``(2, *shape)`` (or the same numbers flat,
    ``(2 * size,)``): element ``[0, j]`` is the excitatory, ``[1, j]`` the inhibitory
    conductance increment of neuron ``j`` (a ``Linear`` with ``2 * n`` rows: the first
    ``n`` excitatory, the last ``n`` inhibitory). ``r`` converts conductance to the
    leak's units (``1/g_leak``). Exact discrete update: ``docs/semantics.md`` §7.
    """

    tau_mem: np.ndarray
    r: np.ndarray
    v_leak: np.ndarray
    v_threshold: np.ndarray
    v_reset: np.ndarray
    tau_exc: np.ndarray
    tau_inh: np.ndarray
    e_exc: np.ndarray
    e_inh: np.ndarray
    shape_param = "tau_mem"
    array_fields = ("tau_mem", "r", "v_leak", "v_threshold", "v_reset", "tau_exc", "tau_inh",
                    "e_exc", "e_inh")

    def __post_init__(self) -> None:
        super().__post_init__()
        shape = np.array(np.shape(self.tau_mem) or (1,))
        self.input_type = {"input": np.array([2, *shape])}


#: Izhikevich's equations are written in milliseconds: ``h = dt / IZHIKEVICH_TIME_UNIT``.
IZHIKEVICH_TIME_UNIT = 1e-3


@dataclass(eq=False)
class Izhikevich(_Extension):
    """Izhikevich (2003) neuron, in the paper's units (v in mV, t in ms, I in mV/ms)::

        dv/dt = 0.04 v^2 + 5 v + 140 - u + I,   du/dt = a (b v - u)
        if v > v_peak: v <- c, u <- u + d

    ``I`` is the node's input (held for the step). The discrete update is the paper's own
    scheme (two Euler half-steps for ``v``, then one Euler step for ``u`` with the new
    ``v``), with ``h = dt / 1 ms``; see ``docs/semantics.md`` §7.
    """

    a: np.ndarray
    b: np.ndarray
    c: np.ndarray
    d: np.ndarray
    v0: np.ndarray
    u0: np.ndarray
    v_peak: np.ndarray = 30.0
    shape_param = "a"
    array_fields = ("a", "b", "c", "d", "v0", "u0", "v_peak")


#: Morris-Lecar parameter sets (mV, ms, uF/cm^2, mS/cm^2) of Rinzel & Ermentrout,
#: "Analysis of neural excitability and oscillations", in Koch & Segev (eds.), Methods in
#: Neuronal Modeling, 2nd ed., MIT Press 1998, ch. 7, Appendix A: type II = its Figs. 1-3
#: (Hopf), type I = its Figs. 4-6 (saddle-node on invariant circle), which change only
#: g_ca, v3, v4 and phi; the same numbers are Ermentrout & Terman, Mathematical
#: Foundations of Neuroscience, 2010, Table 3.1 ("Hopf", "SNLC"). Checked against
#: Ermentrout's XPP file for that chapter ("par1-3 v3=2,v4=30,phi=.04,gca=4.4",
#: "par4-6 v3=12,v4=17.4,phi=.06666667,gca=4"; common c=20, gl=2, gk=8, vl=-60, vca=120,
#: vk=-84, v1=-1.2, v2=18) and the Brain Dynamics Toolbox's Table 3.1 presets (SNLC phi
#: printed as 0.067). phi = 1/15 is the XPP file's .06666667.
MORRIS_LECAR_TYPE_II = dict(c_m=20.0, g_l=2.0, g_ca=4.4, g_k=8.0, v_l=-60.0, v_ca=120.0,
                            v_k=-84.0, v1=-1.2, v2=18.0, v3=2.0, v4=30.0, phi=0.04)
MORRIS_LECAR_TYPE_I = dict(MORRIS_LECAR_TYPE_II, g_ca=4.0, v3=12.0, v4=17.4, phi=1.0 / 15.0)
#: Morris-Lecar's equations are written in milliseconds: ``h = dt / MORRIS_LECAR_TIME_UNIT``.
MORRIS_LECAR_TIME_UNIT = 1e-3
#: ``MorrisLecar.input_kind`` values: a current; a (current, conductance) stacked input.
ML_CURRENT, ML_CONDUCTANCE = "current", "current+conductance"
ML_INPUT_KINDS = (ML_CURRENT, ML_CONDUCTANCE)


@dataclass(eq=False)
class MorrisLecar(_Extension):
    """Morris-Lecar neuron (mV, ms, uA/cm^2; Rinzel & Ermentrout 1998)::

        c_m dV/dt = I - g_l (V - v_l) - g_ca m_inf(V) (V - v_ca) - g_k w (V - v_k)
        dw/dt     = phi (w_inf(V) - w) / tau_w(V)
        m_inf = (1 + tanh((V - v1)/v2))/2,  w_inf = (1 + tanh((V - v3)/v4))/2,
        tau_w = 1 / cosh((V - v3)/(2 v4))

    ``I``: the node's input. No reset: a spike is an upward crossing of ``v_threshold``
    (``V[t-1] <= v_threshold < V[t]``). Parameter sets: :data:`MORRIS_LECAR_TYPE_I`,
    :data:`MORRIS_LECAR_TYPE_II`. Discrete update: ``docs/semantics.md`` §7.

    ``input_kind``: ``"current"`` (default; input of the neuron's shape, ``I`` in
    uA/cm^2) or ``"current+conductance"``: a stacked input ``(2, *shape)`` (or ``(2 n,)``)
    whose row 0 is a current ``I`` and row 1 a synaptic conductance ``g`` (mS/cm^2)
    with reversal potential ``e_syn`` (mV, per neuron), so the input term is
    ``I + g (e_syn - V)`` (``V`` of the start of the step, as every term of the update).
    """

    c_m: np.ndarray
    g_l: np.ndarray
    g_ca: np.ndarray
    g_k: np.ndarray
    v_l: np.ndarray
    v_ca: np.ndarray
    v_k: np.ndarray
    v1: np.ndarray
    v2: np.ndarray
    v3: np.ndarray
    v4: np.ndarray
    phi: np.ndarray
    v0: np.ndarray
    w0: np.ndarray
    v_threshold: np.ndarray = 0.0
    v_syn: np.ndarray = 0.0
    k_syn: np.ndarray = 5.0
    e_syn: np.ndarray = 0.0
    input_kind: str = "current"
    shape_param = "v0"
    array_fields = ("c_m", "g_l", "g_ca", "g_k", "v_l", "v_ca", "v_k", "v1", "v2", "v3", "v4",
                    "phi", "v0", "w0", "v_threshold", "v_syn", "k_syn", "e_syn")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.input_kind == ML_CONDUCTANCE:
            shape = np.array(np.shape(self.v0) or (1,))
            self.input_type = {"input": np.array([2, *shape])}

    @classmethod
    def of_type(cls, kind: str, n: int, v0: float = -60.0, w0: float = 0.0,
                **overrides: Any) -> MorrisLecar:
        """``n`` neurons with the named parameter set (``"I"`` or ``"II"``)."""
        sets = {"I": MORRIS_LECAR_TYPE_I, "II": MORRIS_LECAR_TYPE_II}
        if kind not in sets:
            raise ValueError(f"Morris-Lecar type {kind!r}: expected 'I' or 'II'")
        p = {**sets[kind], **overrides}
        full = lambda v: v if isinstance(v, str) else np.broadcast_to(_arr(v), (n,)).copy()  # noqa: E731
        return cls(**{k: full(v) for k, v in p.items()}, v0=full(v0), w0=full(w0))


@dataclass(eq=False)
class MorrisLecarGraded(MorrisLecar):
    """A :class:`MorrisLecar` neuron whose output is the graded synaptic activation
    ``s_inf(V) = (1 + tanh((V - v_syn) / k_syn)) / 2`` instead of spikes (graded
    transmission, as in ML network models); ``V`` and ``w`` follow the same update."""


# ---------------------------------------------------------------------- sources
@dataclass(eq=False)
class PoissonSource(_Extension):
    """Seeded spike trains: ``z[t] = u[t] < rate * dt`` with ``u`` uniform in [0, 1)
    (Bernoulli per step, ``rate`` in Hz, ``rate * dt <= 1``). Receives no input."""

    rate: np.ndarray
    seed: int = 0
    shape_param = "rate"
    array_fields = ("rate",)


@dataclass(eq=False)
class WhiteNoiseSource(_Extension):
    """Seeded white-noise current held for each step: ``y[t] = mean + sigma * xi[t] /
    sqrt(dt)``, ``xi`` standard normal. Its integral over a step has variance
    ``sigma^2 dt`` (``sigma``: noise intensity, current x sqrt(second))."""

    mean: np.ndarray
    sigma: np.ndarray
    seed: int = 0
    shape_param = "mean"
    array_fields = ("mean", "sigma")


@dataclass(eq=False)
class OUSource(_Extension):
    """Seeded Ornstein-Uhlenbeck current ``tau dy = (mean - y) dt + sigma sqrt(2 tau) dW``
    (stationary mean ``mean``, std ``sigma``), starting at ``y = mean``. Exact:
    ``y[t] = mean + a (y[t-1] - mean) + sigma sqrt(1 - a^2) xi[t]``, ``a = exp(-dt/tau)``;
    Euler: ``y[t] = y[t-1] + dt/tau (mean - y[t-1]) + sigma sqrt(2 dt / tau) xi[t]``."""

    mean: np.ndarray
    sigma: np.ndarray
    tau: np.ndarray
    seed: int = 0
    shape_param = "mean"
    array_fields = ("mean", "sigma", "tau")


NEURON_EXTENSIONS = (RefractoryLIF, RefractoryCubaLIF, ALIF, RateUnit, CondLIF, Izhikevich,
                     MorrisLecar, MorrisLecarGraded)
SOURCE_EXTENSIONS = (PoissonSource, WhiteNoiseSource, OUSource)
EXTENSION_TYPES: dict[str, type] = {t.__name__: t for t in (*NEURON_EXTENSIONS,
                                                             *SOURCE_EXTENSIONS)}


def is_extension(node: object) -> bool:
    return type(node).__name__ in EXTENSION_TYPES and type(node) in EXTENSION_TYPES.values()


# ---------------------------------------------------------------------- validation
def _whole_steps(name: str, node: Any, field: str, dt: float | None) -> list[str]:
    v = _arr(getattr(node, field))
    if not np.all(np.isfinite(v)):
        return []  # reported as non-finite by the generic check
    tn = type(node).__name__
    if np.any(v < 0):
        return [f"node {name!r} ({tn}): {field!r} has negative value(s) (min {v.min():g}); "
                "expected seconds >= 0"]
    if dt is not None and not np.allclose(v / dt, np.round(v / dt), rtol=0, atol=1e-6):
        return [f"node {name!r} ({tn}): {field}={v.ravel()[:3]} s is not a whole number of "
                f"steps of dt={dt:g} s; choose {field} as a multiple of dt"]
    return []


def _seed_problems(name: str, node: Any) -> list[str]:
    s = node.seed
    if isinstance(s, (bool, np.bool_)) or not isinstance(s, (int, np.integer)) or s < 0:
        return [f"node {name!r} ({type(node).__name__}): seed={s!r}; expected an integer "
                ">= 0 (the stream is a function of the seed and the node's name)"]
    return []


def _nonneg(name: str, node: Any, field: str) -> list[str]:
    v = _arr(getattr(node, field))
    if np.all(np.isfinite(v)) and np.any(v < 0):
        return [f"node {name!r} ({type(node).__name__}): {field!r} has negative value(s) "
                f"(min {v.min():g}); expected >= 0"]
    return []


def _check_refractory(name: str, node: Any, dt: float | None) -> list[str]:
    return _whole_steps(name, node, "t_ref", dt)


def _check_alif(name: str, node: Any, dt: float | None) -> list[str]:
    return []


def _check_rate(name: str, node: Any, dt: float | None) -> list[str]:
    out = []
    if node.phi not in PHIS:
        out.append(f"node {name!r} (RateUnit): phi={node.phi!r}; expected one of "
                   + ", ".join(map(repr, PHIS)))
    elif node.phi == "power":
        out += _nonneg(name, node, "n")
    return out


def _check_poisson(name: str, node: Any, dt: float | None) -> list[str]:
    out = _seed_problems(name, node) + _nonneg(name, node, "rate")
    r = _arr(node.rate)
    if dt is not None and np.all(np.isfinite(r)) and np.any(r * dt > 1):
        out.append(f"node {name!r} (PoissonSource): rate * dt = {float(np.max(r) * dt):g} > 1; "
                   "at most one spike per step: lower the rate or dt")
    return out


def _check_noise(name: str, node: Any, dt: float | None) -> list[str]:
    return _seed_problems(name, node) + _nonneg(name, node, "sigma")


def _check_ml(name: str, node: Any, dt: float | None) -> list[str]:
    out = []
    for f in ("c_m", "phi"):
        v = _arr(getattr(node, f))
        if np.all(np.isfinite(v)) and np.any(v <= 0):
            out.append(f"node {name!r} ({type(node).__name__}): {f!r} has value(s) <= 0 "
                       f"(min {v.min():g}); expected > 0")
    for f in ("v2", "v4", "k_syn"):
        if np.any(_arr(getattr(node, f)) == 0):
            out.append(f"node {name!r} ({type(node).__name__}): {f!r} has zero value(s); "
                       "it divides a voltage (a tanh slope): expected nonzero")
    if node.input_kind not in ML_INPUT_KINDS:
        out.append(f"node {name!r} ({type(node).__name__}): input_kind={node.input_kind!r}; "
                   "expected one of " + ", ".join(map(repr, ML_INPUT_KINDS)))
    return out


def _ml_shape(node: Any, in_shape: P.Shape | None) -> P.Shape:
    """Output: the shape of ``v0``; input: that shape (``input_kind='current'``) or
    ``(2, *shape)`` / ``(2 * size,)`` (``'current+conductance'``: current, conductance)."""
    shape = tuple(np.shape(node.v0)) or (1,)
    if in_shape is None:
        return shape
    if getattr(node, "input_kind", ML_CURRENT) != ML_CONDUCTANCE:
        if tuple(in_shape) != shape:
            raise P.ShapeError(f"input shape {tuple(in_shape)} != shape of 'v0' {shape} "
                               "(input_kind='current')")
    elif tuple(in_shape) not in ((2, *shape), (2 * int(np.prod(shape)),)):
        raise P.ShapeError(f"input shape {tuple(in_shape)}: a Morris-Lecar neuron of shape "
                           f"{shape} with input_kind={ML_CONDUCTANCE!r} takes {(2, *shape)} or "
                           f"{(2 * int(np.prod(shape)),)} (first half current, second half "
                           "conductance)")
    return shape


def _cond_shape(node: Any, in_shape: P.Shape | None) -> P.Shape:
    """Output: the shape of ``tau_mem``; input: ``(2, *shape)`` or ``(2 * size,)``."""
    shape = tuple(np.shape(node.tau_mem)) or (1,)
    if in_shape is not None and tuple(in_shape) not in ((2, *shape), (2 * int(np.prod(shape)),)):
        raise P.ShapeError(f"input shape {tuple(in_shape)}: a CondLIF of shape {shape} takes "
                           f"{(2, *shape)} or {(2 * int(np.prod(shape)),)} (first half "
                           "excitatory, second half inhibitory conductance increments)")
    return shape


_NEURON = ("r", "v_leak", "v_threshold", "v_reset")
_S = P._same_as
P.register(RefractoryLIF, P.PrimitiveSpec(
    "stateful", _S("tau"), states=("v",), spiking=True, time_constants=("tau",),
    array_params=("tau", *_NEURON, "t_ref"), notes="LIF + refractory steps round(t_ref/dt)",
    extra={"check": _check_refractory}))
P.register(RefractoryCubaLIF, P.PrimitiveSpec(
    "stateful", _S("tau_mem"), states=("i", "v"), spiking=True,
    time_constants=("tau_syn", "tau_mem"),
    array_params=("tau_syn", "tau_mem", *_NEURON, "w_in", "t_ref"),
    notes="CubaLIF + refractory steps round(t_ref/dt)", extra={"check": _check_refractory}))
P.register(ALIF, P.PrimitiveSpec(
    "stateful", _S("tau"), states=("v", "a"), spiking=True, time_constants=("tau", "tau_adapt"),
    array_params=("tau", *_NEURON, "tau_adapt", "beta"),
    notes="adaptive threshold v_threshold + beta*a", extra={"check": _check_alif}))
P.register(RateUnit, P.PrimitiveSpec(
    "stateful", _S("tau"), states=("x",), time_constants=("tau",),
    array_params=("tau", "x0", "k", "n"), notes="tau dx/dt = -x + input; y = phi(x)",
    extra={"check": _check_rate}))
P.register(CondLIF, P.PrimitiveSpec(
    "stateful", _cond_shape, states=("g_exc", "g_inh", "v"), spiking=True,
    time_constants=("tau_mem", "tau_exc", "tau_inh"),
    array_params=("tau_mem", *_NEURON, "tau_exc", "tau_inh", "e_exc", "e_inh"),
    notes="conductance-based LIF; input (2, n): excitatory, inhibitory"))
P.register(Izhikevich, P.PrimitiveSpec(
    "stateful", _S("a"), states=("v", "u"), spiking=True,
    array_params=("a", "b", "c", "d", "v0", "u0", "v_peak"),
    notes="Izhikevich 2003 (mV, ms; two half-steps for v)"))
_ML_PARAMS = ("c_m", "g_l", "g_ca", "g_k", "v_l", "v_ca", "v_k", "v1", "v2", "v3", "v4", "phi",
              "v0", "w0", "v_threshold", "v_syn", "k_syn", "e_syn")
P.register(MorrisLecar, P.PrimitiveSpec(
    "stateful", _ml_shape, states=("v", "w"), spiking=True, array_params=_ML_PARAMS,
    notes="Morris-Lecar (mV, ms); spike = upward crossing of v_threshold",
    extra={"check": _check_ml}))
P.register(MorrisLecarGraded, P.PrimitiveSpec(
    "stateful", _ml_shape, states=("v", "w"), array_params=_ML_PARAMS,
    notes="Morris-Lecar (mV, ms); graded output s_inf(V)", extra={"check": _check_ml}))
P.register(PoissonSource, P.PrimitiveSpec(
    "source", _S("rate"), spiking=True, array_params=("rate",),
    notes="seeded Bernoulli(rate*dt) per step", extra={"check": _check_poisson}))
P.register(WhiteNoiseSource, P.PrimitiveSpec(
    "source", _S("mean"), array_params=("mean", "sigma"),
    notes="seeded white noise mean + sigma*xi/sqrt(dt)", extra={"check": _check_noise}))
P.register(OUSource, P.PrimitiveSpec(
    "source", _S("mean"), time_constants=("tau",), array_params=("mean", "sigma", "tau"),
    notes="seeded Ornstein-Uhlenbeck current", extra={"check": _check_noise}))


def extra_problems(name: str, node: Any, dt: float | None) -> list[str]:
    """The type's own checks (whole-step refractory periods, seeds, rate * dt <= 1...)."""
    spec = P.spec_of(node)
    hook: Callable | None = spec.extra.get("check") if spec is not None else None
    return hook(name, node, dt) if hook is not None else []


# ---------------------------------------------------------------------- file records
def to_record(node: Any) -> dict[str, Any]:
    """The node as a metadata group: ``type`` plus one value per field (arrays stay
    float64 arrays, so the file holds them bit for bit)."""
    rec: dict[str, Any] = {"type": type(node).__name__}
    scalars = []
    for k, v in node.fields().items():
        if isinstance(v, str):
            rec[k] = v
        elif isinstance(v, (bool, int, np.integer)) and k == "seed":
            rec[k] = np.int64(v)
        elif k in type(node).int_fields:
            rec[k] = np.asarray(v, dtype=np.int64)
        else:
            rec[k] = np.asarray(v, dtype=np.float64)
            if rec[k].ndim == 0:
                # nir.write compresses datasets and HDF5 cannot compress a scalar: store
                # it with shape (1,) and note it, so the read restores shape ().
                rec[k] = rec[k].reshape(1)
                scalars.append(k)
    if scalars:
        rec["scalar_fields"] = ",".join(scalars)
    if node.metadata:
        rec["node_metadata"] = dict(node.metadata)
    return rec


def _text(x: Any) -> Any:
    if isinstance(x, bytes):
        return x.decode("utf8")
    if isinstance(x, np.ndarray) and x.shape == () and x.dtype.kind in "OSU":
        return _text(x.item())
    return x


def from_record(rec: Mapping[str, Any], where: str) -> Any:
    """Inverse of :func:`to_record`; raises ``ValueError`` naming what is wrong."""
    t = _text(rec.get("type"))
    cls = EXTENSION_TYPES.get(t) if isinstance(t, str) else None
    if cls is None:
        raise ValueError(f"extension node {where!r} has type {t!r}; spikecore knows "
                         + ", ".join(sorted(EXTENSION_TYPES)))
    kwargs: dict[str, Any] = {}
    scalars = str(_text(rec.get("scalar_fields", ""))).split(",")
    for f in dataclasses.fields(cls):
        if f.name in _SKIP:
            continue
        if f.name not in rec:
            if f.default is dataclasses.MISSING:
                raise ValueError(f"extension node {where!r} ({t}) lacks field {f.name!r}")
            continue
        v = rec[f.name]
        if f.name in cls.array_fields:
            kwargs[f.name] = np.asarray(v, dtype=np.float64)
            if f.name in scalars:
                kwargs[f.name] = kwargs[f.name].reshape(())
        elif f.name in cls.int_fields:
            kwargs[f.name] = np.asarray(v, dtype=np.int64)
        elif f.name == "seed":
            kwargs[f.name] = int(np.asarray(v))
        else:
            kwargs[f.name] = str(_text(v))
    meta = rec.get("node_metadata")
    if isinstance(meta, Mapping):
        kwargs["metadata"] = {k: _text(v) for k, v in meta.items()}
    return cls(**kwargs)


__all__ = ["ALIF", "EXTENSIONS_KEY", "EXTENSION_TYPES", "IZHIKEVICH_TIME_UNIT",
           "MORRIS_LECAR_TIME_UNIT", "MORRIS_LECAR_TYPE_I", "MORRIS_LECAR_TYPE_II", "CondLIF",
           "Izhikevich", "ML_CONDUCTANCE", "ML_CURRENT", "ML_INPUT_KINDS", "MorrisLecar",
           "MorrisLecarGraded", "OUSource", "PHIS",
           "PoissonSource", "RateUnit", "RefractoryCubaLIF", "RefractoryLIF", "WhiteNoiseSource",
           "extra_problems", "from_record", "is_extension", "to_record"]

# LTCLIF lives in its own module (it subclasses _Extension above and registers its spec).
from .ltc import LTCLIF  # noqa: E402

NEURON_EXTENSIONS = (*NEURON_EXTENSIONS, LTCLIF)
EXTENSION_TYPES[LTCLIF.__name__] = LTCLIF
__all__ += ["LTCLIF"]

# SparseLinear lives in its own module (it subclasses _Extension and registers itself).
from .sparse import SparseLinear  # noqa: E402

__all__ += ["SparseLinear"]
