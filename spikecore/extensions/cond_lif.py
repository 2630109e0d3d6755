"""Conductance-based LIF: excitatory and inhibitory conductances with reversal
potentials; the input stacks excitatory then inhibitory increments.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from .. import primitives as P
from ..semantics import Semantics
from ..xp import SpikeFn, decay, spike_and_reset
from .base import (
    NEURON_FIELDS,
    Extension,
    register_extension,
)


@dataclass(eq=False)
class CondLIF(Extension):
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


def _cond_shape(node: Any, in_shape: P.Shape | None) -> P.Shape:
    """Output: the shape of ``tau_mem``; input: ``(2, *shape)`` or ``(2 * size,)``."""
    shape = tuple(np.shape(node.tau_mem)) or (1,)
    if in_shape is not None and tuple(in_shape) not in ((2, *shape), (2 * int(np.prod(shape)),)):
        raise P.ShapeError(f"input shape {tuple(in_shape)}: a CondLIF of shape {shape} takes "
                           f"{(2, *shape)} or {(2 * int(np.prod(shape)),)} (first half "
                           "excitatory, second half inhibitory conductance increments)")
    return shape


register_extension(CondLIF, P.PrimitiveSpec(
    "stateful", _cond_shape, states=("g_exc", "g_inh", "v"), spiking=True,
    time_constants=("tau_mem", "tau_exc", "tau_inh"),
    array_params=("tau_mem", *NEURON_FIELDS, "tau_exc", "tau_inh", "e_exc", "e_inh"),
    notes="conductance-based LIF; input (2, n): excitatory, inhibitory"))


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
