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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import primitives as P
from .semantics import Semantics


@dataclass(frozen=True)
class NeuronCoefficients:
    """Per-element float64 coefficients of the update above (all of one shape)."""

    a_syn: np.ndarray
    b_syn: np.ndarray
    a_mem: np.ndarray
    k_old: np.ndarray
    k_new: np.ndarray
    k_x: np.ndarray
    c: np.ndarray
    v_threshold: np.ndarray | None
    v_reset: np.ndarray | None
    v_initial: np.ndarray
    has_current: bool
    spiking: bool
    reset: str

    @property
    def shape(self) -> tuple[int, ...]:
        return self.a_mem.shape

    @property
    def reset_amount(self) -> np.ndarray | None:
        """What ``subtract`` removes at a spike: v_threshold - v_reset."""
        if not self.spiking:
            return None
        return self.v_threshold - self.v_reset


def _exact_coupling(a_syn: np.ndarray, a_mem: np.ndarray, tau_syn: np.ndarray,
                    tau_mem: np.ndarray, dt: float) -> np.ndarray:
    """K = v(dt) response of tau_mem v' = -v + exp(-s/tau_syn), v(0) = 0.

    K = tau_syn / (tau_syn - tau_mem) * (a_syn - a_mem), and its limit
    (dt / tau_mem) * a_mem when the time constants coincide. Evaluated as
    K = (dt / tau_mem) * a_mem * expm1(d) / d with d = dt * (1/tau_mem - 1/tau_syn): the
    same number without the cancellation of a_syn - a_mem when tau_syn ~ tau_mem (the
    difference form loses up to half the digits there).
    """
    d = dt * (tau_syn - tau_mem) / (tau_syn * tau_mem)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(d == 0.0, 1.0, np.expm1(d) / np.where(d == 0.0, 1.0, d))
    return dt / tau_mem * a_mem * ratio


def neuron_coefficients(node: P.NIRNode, semantics: Semantics,
                        shape: tuple[int, ...] | None = None) -> NeuronCoefficients:
    """Coefficients of ``node`` (I, IF, LI, LIF, CubaLI or CubaLIF) under ``semantics``."""
    t = type(node)
    spec = P.SPECS[t]
    if shape is None:
        shape = spec.output_shape(node, None)
    dt = float(semantics.dt)
    exact = semantics.integrator == "exact"
    increment = semantics.input_meaning == "increment"
    zeros = np.zeros(shape)
    par = lambda name: P.param(node, name, shape)  # noqa: E731

    spiking = spec.spiking
    v_th = par("v_threshold") if spiking else None
    v_reset = par("v_reset") if spiking else None

    if t in (P.I, P.IF):
        r = par("r")
        return NeuronCoefficients(zeros, zeros, np.ones(shape), zeros, zeros, dt * r, zeros,
                                  v_th, v_reset, zeros.copy(), False, spiking, semantics.reset)

    if t in (P.LI, P.LIF):
        tau, r, v_leak = par("tau"), par("r"), par("v_leak")
        if exact:
            a = np.exp(-dt / tau)
            k_x = dt * r / tau if increment else r * (1.0 - a)
            c = v_leak * (1.0 - a)
        else:
            a = 1.0 - dt / tau
            k_x = dt * r / tau
            c = dt * v_leak / tau
        return NeuronCoefficients(zeros, zeros, a, zeros, zeros, k_x, c, v_th, v_reset,
                                  v_leak.copy(), False, spiking, semantics.reset)

    if t in (P.CubaLI, P.CubaLIF):
        tau_s, tau_m = par("tau_syn"), par("tau_mem")
        r, v_leak, w_in = par("r"), par("v_leak"), par("w_in")
        if exact:
            a_s, a_m = np.exp(-dt / tau_s), np.exp(-dt / tau_m)
            K = _exact_coupling(a_s, a_m, tau_s, tau_m, dt)
            c = v_leak * (1.0 - a_m)
            k_old = r * K
            if increment:
                b_s, k_x = dt * w_in / tau_s, zeros
            else:
                b_s, k_x = w_in * (1.0 - a_s), r * (1.0 - a_m - K) * w_in
            k_new = zeros
        else:
            a_s, a_m = 1.0 - dt / tau_s, 1.0 - dt / tau_m
            b_s = dt * w_in / tau_s
            k = dt * r / tau_m
            c = dt * v_leak / tau_m
            k_x = zeros
            if semantics.update_order == "current_first":
                k_old, k_new = zeros, k
            else:
                k_old, k_new = k, zeros
        return NeuronCoefficients(a_s, b_s, a_m, k_old, k_new, k_x, c, v_th, v_reset,
                                  v_leak.copy(), True, spiking, semantics.reset)

    raise TypeError(f"{t.__name__} is not a neuron primitive")


def neuron_step(co: NeuronCoefficients, i: np.ndarray, v: np.ndarray, x: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One step of the contract in numpy: ``(i, v, x) -> (z, i_new, v_new)``.

    The executable form of the module docstring, used to test the coefficients and the
    documentation; backends implement the same update in their own engine.
    """
    i_new = co.a_syn * i + co.b_syn * x if co.has_current else i
    v_new = co.a_mem * v + co.k_old * i + co.k_new * i_new + co.k_x * x + co.c
    if not co.spiking:
        return np.zeros_like(v_new, dtype=bool), i_new, v_new
    z = v_new > co.v_threshold
    if co.reset == "to_value":
        v_new = np.where(z, co.v_reset, v_new)
    else:
        v_new = np.where(z, v_new - co.reset_amount, v_new)
    return z, i_new, v_new


NEURON_TYPES = (P.I, P.IF, P.LI, P.LIF, P.CubaLI, P.CubaLIF)
