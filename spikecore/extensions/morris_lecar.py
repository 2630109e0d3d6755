"""The Morris-Lecar neuron (mV, ms, uA/cm^2): spiking (upward crossings) or graded
(``s_inf(V)``), driven by a current or a current and a conductance.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from .. import primitives as P
from ..semantics import Semantics
from ..xp import SpikeFn
from .base import (
    Extension,
    as_array,
    register_extension,
)
from .cond_lif import split_conductance_input

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
class MorrisLecar(Extension):
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
        full = lambda v: v if isinstance(v, str) else np.broadcast_to(as_array(v), (n,)).copy()  # noqa: E731
        return cls(**{k: full(v) for k, v in p.items()}, v0=full(v0), w0=full(w0))


@dataclass(eq=False)
class MorrisLecarGraded(MorrisLecar):
    """A :class:`MorrisLecar` neuron whose output is the graded synaptic activation
    ``s_inf(V) = (1 + tanh((V - v_syn) / k_syn)) / 2`` instead of spikes (graded
    transmission, as in ML network models); ``V`` and ``w`` follow the same update."""


def _check_ml(name: str, node: Any, dt: float | None) -> list[str]:
    out = []
    for f in ("c_m", "phi"):
        v = as_array(getattr(node, f))
        if np.all(np.isfinite(v)) and np.any(v <= 0):
            out.append(f"node {name!r} ({type(node).__name__}): {f!r} has value(s) <= 0 "
                       f"(min {v.min():g}); expected > 0")
    for f in ("v2", "v4", "k_syn"):
        if np.any(as_array(getattr(node, f)) == 0):
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


_ML_PARAMS = ("c_m", "g_l", "g_ca", "g_k", "v_l", "v_ca", "v_k", "v1", "v2", "v3", "v4", "phi",
              "v0", "w0", "v_threshold", "v_syn", "k_syn", "e_syn")


register_extension(MorrisLecar, P.PrimitiveSpec(
    "stateful", _ml_shape, states=("v", "w"), spiking=True, array_params=_ML_PARAMS,
    notes="Morris-Lecar (mV, ms); spike = upward crossing of v_threshold",
    extra={"check": _check_ml}))


register_extension(MorrisLecarGraded, P.PrimitiveSpec(
    "stateful", _ml_shape, states=("v", "w"), array_params=_ML_PARAMS,
    notes="Morris-Lecar (mV, ms); graded output s_inf(V)", extra={"check": _check_ml}))


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
