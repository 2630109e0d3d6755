"""Neuron primitives as NEST models: LIF, IF, LI, I (and RefractoryLIF) as
``iaf_psc_delta``; CubaLIF, CubaLI (and RefractoryCubaLIF) as ``iaf_psc_exp``.

Both NEST models integrate the sub-threshold ODE exactly on the step grid, which is the
contract's ``integrator='exact'``. Per NEST step (NEST 3.10, ``iaf_psc_delta.cpp``,
``iaf_psc_exp.cpp``), for a neuron that is not refractory:

* ``iaf_psc_delta``: ``V = E_L + P33 (V - E_L) + (spike weights arriving)``, then
  ``V >= V_th`` spikes and sets ``V = V_reset`` for ``t_ref``. The contract's
  ``v[t] = a_mem v[t-1] + k_x x[t] + v_leak (1 - a_mem)`` is this with ``E_L = v_leak``,
  ``P33 = a_mem`` and every input arriving as a spike of weight ``k_x x``.
* ``iaf_psc_exp``: ``V`` advances with the synaptic current of the previous step
  (``P21``, the exact coupling), then the current decays and the arriving spike weights
  are added: the contract's ``i[t] = a_syn i[t-1] + b_syn x[t]``, ``v[t] = a_mem v[t-1] +
  k_old i[t-1] + c`` under ``input_meaning='increment'``, with ``C_m = tau_mem / r`` and
  inputs arriving as spikes of weight ``b_syn x``. Under ``'current'`` the contract also
  moves ``v`` within the step (``k_x x``), which a spike into iaf_psc_exp cannot do:
  refused.

Units: NEST's times are milliseconds (``tau * 1000``); its potentials and currents are
only numbers here, in the contract's own units (volts stay volts: NEST never sees a
unit). The coefficient each input is scaled by comes from :mod:`spikecore.discrete`, so
the contract stays written once.

Two gaps between NEST's models and the contract are closed here, and tested:
the spike condition (NEST ``V >= V_th``, the contract ``v > v_threshold``: ``V_th`` is
set to the next float above ``v_threshold``, exact when ``v_leak = 0`` and otherwise
exact up to the rounding of ``V - E_L``, which NEST stores), and the leak-free types
(``tau_m = 1e300 ms``: ``exp(-dt/tau_m)`` is exactly 1.0).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import extensions as X
from ... import primitives as P
from ...discrete import neuron_coefficients
from ...extensions import REFRACTORY_TYPES, refractory_steps
from .registry import NestNeuron, register_neuron

#: NEST's times are in ms.
MS_PER_S = 1e3
#: ``tau_m`` of a leak-free neuron: ``exp(-h / 1e300)`` is 1.0 for every step ``h``.
NO_LEAK_TAU_MS = 1e300
#: ``V_th`` of a neuron that never spikes.
NO_SPIKE_V_TH = 1e300
#: NEST's lower bound of V (iaf_psc_delta): none.
NO_V_MIN = -np.finfo(np.float64).max


def _spiking_problems(name: str, node: Any, semantics: Any, v_th: np.ndarray,
                      v_reset: np.ndarray, v_init: np.ndarray) -> list[str]:
    tn = P.type_name(node)
    out = []
    if semantics.reset != "to_value":
        out.append(f"{name!r} ({tn}): reset={semantics.reset!r} not available (NEST's "
                   "iaf models reset to V_reset); use Semantics(reset='to_value')")
    if np.any(v_reset > v_th):
        out.append(f"{name!r} ({tn}): v_reset > v_threshold for "
                   f"{int(np.count_nonzero(v_reset > v_th))} neuron(s); NEST requires "
                   "V_reset < V_th")
    if np.any(v_init > v_th):
        out.append(f"{name!r} ({tn}): rests above its threshold (initial v > v_threshold "
                   "for some neurons); NEST runs a neuron at least one step ahead of the "
                   "contract's step 0, where it would already fire: not supported")
    return out


def _refractory_ms(node: Any, semantics: Any, shape: tuple[int, ...]) -> np.ndarray:
    if type(node) not in REFRACTORY_TYPES:
        return np.zeros(shape)
    return refractory_steps(node, float(semantics.dt), shape) * float(semantics.dt) * MS_PER_S


def _threshold(spiking: bool, v_th: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
    # NEST spikes on V >= V_th; the contract on v > v_threshold: the next float up.
    return np.nextafter(v_th, np.inf) if spiking else np.full(shape, NO_SPIKE_V_TH)


def _delta_neuron(name: str, node: Any, graph: Any, shape: tuple[int, ...]
                  ) -> tuple[NestNeuron | None, list[str]]:
    """LIF, IF, LI, I, RefractoryLIF -> iaf_psc_delta."""
    sem = graph.semantics
    base = node.base() if type(node) in REFRACTORY_TYPES else node
    co = neuron_coefficients(base, sem, shape)
    leaky = type(base) in (P.LIF, P.LI)
    tau_ms = P.param(base, "tau", shape) * MS_PER_S if leaky else np.full(shape, NO_LEAK_TAU_MS)
    e_l = P.param(base, "v_leak", shape) if leaky else np.zeros(shape)
    problems = (_spiking_problems(name, node, sem, co.v_threshold, co.v_reset, co.v_initial)
                if co.spiking else [])
    if problems:
        return None, problems
    params = {"tau_m": tau_ms, "C_m": np.where(leaky, tau_ms, 1.0) * np.ones(shape),
              "E_L": e_l, "V_m": co.v_initial, "V_th": _threshold(co.spiking, co.v_threshold, shape),
              "V_reset": co.v_reset if co.spiking else e_l,
              "t_ref": _refractory_ms(node, sem, shape), "I_e": np.zeros(shape),
              "V_min": np.full(shape, NO_V_MIN)}
    return NestNeuron("iaf_psc_delta", params, co.k_x, co.spiking, {"v": ("V_m",)}), []


def _exp_neuron(name: str, node: Any, graph: Any, shape: tuple[int, ...]
                ) -> tuple[NestNeuron | None, list[str]]:
    """CubaLIF, CubaLI, RefractoryCubaLIF -> iaf_psc_exp."""
    sem = graph.semantics
    base = node.base() if type(node) in REFRACTORY_TYPES else node
    tn = P.type_name(node)
    problems = []
    if sem.input_meaning != "increment":
        problems.append(f"{name!r} ({tn}): input_meaning={sem.input_meaning!r} not available "
                        "(a spike into iaf_psc_exp moves only the synaptic current; the "
                        "contract's 'current' also moves v within the step); use "
                        "Semantics(input_meaning='increment')")
    r = P.param(base, "r", shape)
    if np.any(~(r > 0)):
        problems.append(f"{name!r} ({tn}): r <= 0 for {int(np.count_nonzero(~(r > 0)))} "
                        "neuron(s); NEST's C_m = tau_mem / r must be positive")
    co = neuron_coefficients(base, sem, shape)
    if co.spiking:
        problems += _spiking_problems(name, node, sem, co.v_threshold, co.v_reset, co.v_initial)
    if problems:
        return None, problems
    tau_m = P.param(base, "tau_mem", shape) * MS_PER_S
    tau_s = P.param(base, "tau_syn", shape) * MS_PER_S
    e_l = P.param(base, "v_leak", shape)
    params = {"tau_m": tau_m, "C_m": tau_m / r, "tau_syn_ex": tau_s, "tau_syn_in": tau_s,
              "E_L": e_l, "V_m": co.v_initial,
              "V_th": _threshold(co.spiking, co.v_threshold, shape),
              "V_reset": co.v_reset if co.spiking else e_l,
              "t_ref": _refractory_ms(node, sem, shape), "I_e": np.zeros(shape)}
    return NestNeuron("iaf_psc_exp", params, co.b_syn, co.spiking,
                      {"v": ("V_m",), "i": ("I_syn_ex", "I_syn_in")}), []


for _t, _note in ((P.LIF, "iaf_psc_delta; exact integrator, reset to_value"),
                  (P.IF, "iaf_psc_delta with no leak (tau_m = 1e300 ms)"),
                  (P.LI, "iaf_psc_delta that never spikes"),
                  (P.I, "iaf_psc_delta with no leak that never spikes"),
                  (X.RefractoryLIF, "iaf_psc_delta with t_ref")):
    register_neuron(_t, _note, _delta_neuron)
for _t, _note in ((P.CubaLIF, "iaf_psc_exp; exact integrator, input_meaning increment, "
                               "reset to_value, r > 0"),
                  (P.CubaLI, "iaf_psc_exp that never spikes; increment, r > 0"),
                  (X.RefractoryCubaLIF, "iaf_psc_exp with t_ref; increment, r > 0")):
    register_neuron(_t, _note, _exp_neuron)
