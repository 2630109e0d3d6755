"""Coefficients of the exact discrete update of each stateful primitive.

Every backend lowers a neuron through these numbers, so the contract is written once.
All neuron updates have the form (per element, float64)::

    i[t] = a_syn * i[t-1] + b_syn * x[t]                              (CubaLI, CubaLIF)
    v[t] = a_mem * v[t-1] + k_old * i[t-1] + k_new * i[t] + k_x * x[t] + c
    z[t] = v[t] > v_threshold                                         (spiking types)
    v[t] = v_reset                          if z[t] and reset == "to_value"
    v[t] = v[t] - (v_threshold - v_reset)   if z[t] and reset == "subtract"

For types without a synaptic current (I, IF, LI, LIF) ``k_old = k_new = 0`` and ``k_x``
carries the input. ``x[t]`` is the sum of everything arriving at the node in step t.
Initial state: ``i = 0``; ``v = v_leak`` (LI, LIF, CubaLI, CubaLIF) or ``v = 0`` (I, IF).
The derivation of each coefficient is in ``docs/semantics.md``.

Each formula is written once, over an array namespace ``xp`` (:mod:`spikecore.xp`):
:func:`coefficients` and :func:`neuron_step` with ``xp=numpy`` are the contract's reference,
with ``xp=torch`` the torch backend's differentiable op.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import numpy as np

from . import primitives as P
from .semantics import Semantics
from .xp import SpikeFn, decay, spike_and_reset

#: Names of the update's coefficients, in the order they enter ``v``.
COEFFICIENTS = ("a_syn", "b_syn", "a_mem", "k_old", "k_new", "k_x", "c")


@dataclass(frozen=True)
class NeuronCoefficients:
    """Per-element coefficients of the update above (arrays of one namespace and shape).

    From :func:`coefficients` a coefficient is ``None`` where the semantics make it zero
    whatever the parameters (a *structural* zero: the term is skipped, which changes no
    value); :func:`neuron_coefficients` (numpy) fills those with zero arrays.
    """

    a_syn: Any
    b_syn: Any
    a_mem: Any
    k_old: Any
    k_new: Any
    k_x: Any
    c: Any
    v_threshold: Any
    v_reset: Any
    v_initial: Any
    has_current: bool
    spiking: bool
    reset: str
    #: What ``subtract`` removes at a spike, ``v_threshold - v_reset`` (``None`` for
    #: non-spiking types); computed once with the coefficients, not in every step.
    reset_amount: Any = None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.a_mem.shape)


class MembraneState(NamedTuple):
    """State of I, IF, LI, LIF (and of the membranes inside ALIF and rate units)."""

    v: Any


class SynapticState(NamedTuple):
    """State of CubaLI and CubaLIF: synaptic current, then membrane."""

    i: Any
    v: Any


#: Below this ``|d|`` the coupling's ``expm1(d) / d`` is evaluated by its series: the same
#: value to < 1e-18 relative, and a derivative that is right at ``d = 0`` (autograd through a
#: ``where`` that guards ``d = 0`` would give 0 there instead of 1/2).
SERIES_BELOW = 1e-4


def exact_coupling(xp: Any, a_mem: Any, tau_syn: Any, tau_mem: Any, dt: float) -> Any:
    """K = v(dt) response of tau_mem v' = -v + exp(-s/tau_syn), v(0) = 0.

    K = tau_syn / (tau_syn - tau_mem) * (a_syn - a_mem), and its limit
    (dt / tau_mem) * a_mem when the time constants coincide. Evaluated as
    K = (dt / tau_mem) * a_mem * expm1(d) / d with d = dt * (1/tau_mem - 1/tau_syn): the
    same number without the cancellation of a_syn - a_mem when tau_syn ~ tau_mem (the
    difference form loses up to half the digits there, and its derivative more). For
    ``|d| < SERIES_BELOW``: ``expm1(d) / d = 1 + d/2 + d^2/6 + d^3/24`` (+ O(d^4)).
    """
    d = dt * (tau_syn - tau_mem) / (tau_syn * tau_mem)
    small = abs(d) < SERIES_BELOW
    safe = xp.where(small, 1.0, d)
    series = 1.0 + d * (0.5 + d * (1.0 / 6.0 + d / 24.0))
    ratio = xp.where(small, series, xp.expm1(safe) / safe)
    return dt / tau_mem * a_mem * ratio


def coefficients(xp: Any, node_type: type, params: Mapping[str, Any], semantics: Semantics
                 ) -> NeuronCoefficients:
    """Coefficients of a ``node_type`` neuron (I, IF, LI, LIF, CubaLI, CubaLIF) whose
    parameters (``P.SPECS[node_type].array_params``, each of the node's shape) are in
    ``params``, under ``semantics``; structural zeros are ``None``.

    Written once for both namespaces: ``xp=np`` gives the contract's values, ``xp=torch``
    the same formulas under autograd (for training neuron parameters).
    """
    spec = P.SPECS[node_type]
    dt = float(semantics.dt)
    exact = semantics.integrator == "exact"
    increment = semantics.input_meaning == "increment"
    spiking = spec.spiking
    v_th = params["v_threshold"] if spiking else None
    v_reset = params["v_reset"] if spiking else None
    amount = v_th - v_reset if spiking else None
    co = dict.fromkeys(COEFFICIENTS)
    if node_type in (P.I, P.IF):
        r = params["r"]
        co.update(a_mem=xp.ones_like(r), k_x=dt * r)
        return NeuronCoefficients(**co, v_threshold=v_th, v_reset=v_reset,
                                  v_initial=xp.zeros_like(r), has_current=False,
                                  spiking=spiking, reset=semantics.reset, reset_amount=amount)
    if node_type in (P.LI, P.LIF):
        tau, r, v_leak = params["tau"], params["r"], params["v_leak"]
        a = decay(xp, dt, tau, exact)
        if exact:
            co.update(k_x=dt * r / tau if increment else r * (1.0 - a), c=v_leak * (1.0 - a))
        else:
            co.update(k_x=dt * r / tau, c=dt * v_leak / tau)
        co["a_mem"] = a
        return NeuronCoefficients(**co, v_threshold=v_th, v_reset=v_reset, v_initial=v_leak,
                                  has_current=False, spiking=spiking, reset=semantics.reset,
                                  reset_amount=amount)
    if node_type in (P.CubaLI, P.CubaLIF):
        tau_s, tau_m = params["tau_syn"], params["tau_mem"]
        r, v_leak, w_in = params["r"], params["v_leak"], params["w_in"]
        a_s, a_m = decay(xp, dt, tau_s, exact), decay(xp, dt, tau_m, exact)
        co.update(a_syn=a_s, a_mem=a_m)
        if exact:
            K = exact_coupling(xp, a_m, tau_s, tau_m, dt)
            co.update(c=v_leak * (1.0 - a_m), k_old=r * K)
            if increment:
                co["b_syn"] = dt * w_in / tau_s
            else:
                co.update(b_syn=w_in * (1.0 - a_s), k_x=r * (1.0 - a_m - K) * w_in)
        else:
            co.update(b_syn=dt * w_in / tau_s, c=dt * v_leak / tau_m)
            co["k_new" if semantics.update_order == "current_first" else "k_old"] = \
                dt * r / tau_m
        return NeuronCoefficients(**co, v_threshold=v_th, v_reset=v_reset, v_initial=v_leak,
                                  has_current=True, spiking=spiking, reset=semantics.reset,
                                  reset_amount=amount)
    raise TypeError(f"{node_type.__name__} is not a neuron primitive")


def neuron_coefficients(node: P.NIRNode, semantics: Semantics,
                        shape: tuple[int, ...] | None = None) -> NeuronCoefficients:
    """The contract's float64 numpy coefficients of ``node`` under ``semantics`` (every
    coefficient an array of the node's shape; structural zeros as zero arrays)."""
    spec = P.SPECS[type(node)]
    if shape is None:
        shape = spec.output_shape(node, None)
    params = {p: P.param(node, p, shape) for p in spec.array_params if hasattr(node, p)}
    co = coefficients(np, type(node), params, semantics)
    zeros = np.zeros(shape)
    filled = {k: zeros if getattr(co, k) is None else getattr(co, k) for k in COEFFICIENTS}
    return replace(co, **filled, v_initial=np.array(co.v_initial, dtype=np.float64))


def neuron_step(xp: Any, co: NeuronCoefficients, state: tuple, x: Any,
                spike_fn: SpikeFn | None = None, detach_reset: bool = False
                ) -> tuple[Any, MembraneState | SynapticState]:
    """One step of the contract: ``(state, x) -> (y, new state)``.

    ``state`` is ``(i, v)`` (:class:`SynapticState`) for types with a synaptic current,
    else ``(v,)`` (:class:`MembraneState`). ``y`` is the spike ``z`` for spiking types
    (boolean without ``spike_fn``), ``v`` otherwise. Terms with a ``None`` coefficient are
    skipped (and ``k_old``, ``k_new`` without a current); the rest are added in the order of
    the module docstring. The spike and reset
    are :func:`spikecore.xp.spike_and_reset`. ``xp=np`` is the reference; the torch backend
    runs this function with ``xp=torch`` (and ``spike_fn``, the surrogate, in training).
    """
    if co.has_current:
        i, v = state
        i_new = co.a_syn * i + co.b_syn * x
    else:
        (v,) = state
        i = i_new = None
    v_new = co.a_mem * v
    if co.has_current and co.k_old is not None:
        v_new = v_new + co.k_old * i
    if co.has_current and co.k_new is not None:
        v_new = v_new + co.k_new * i_new
    if co.k_x is not None:
        v_new = v_new + co.k_x * x
    if co.c is not None:
        v_new = v_new + co.c
    y = v_new
    if co.spiking:
        y, v_new = spike_and_reset(xp, v_new, co.v_threshold, co.v_reset, co.reset_amount,
                                   co.reset, spike_fn, detach_reset)
    return y, (SynapticState(i_new, v_new) if co.has_current else MembraneState(v_new))


NEURON_TYPES = (P.I, P.IF, P.LI, P.LIF, P.CubaLI, P.CubaLIF)
