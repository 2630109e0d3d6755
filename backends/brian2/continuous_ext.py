"""Brian2 continuous mode for the extension primitives: Brian2 integrates each model's ODE.

Each type below registers a continuous-mode :class:`~.registry.Lowerer` in
:data:`.registry.CONTINUOUS` (used when the run's ``mode='continuous'``, whichever module
was imported first); types without one keep refusing ``mode='continuous'`` with the reason
in :data:`.registry.CONTINUOUS_REFUSALS`.

The conventions are those of continuous NIR neurons (:mod:`.lowering` module docstring):
internal step ``h = dt / substeps``; inputs are held over the graph step (``'current'``)
or arrive as a pulse in its last internal step (``'increment'``); a spike is ``y =
substeps`` for one internal step (area ``dt``; :data:`~.registry.PULSE_TYPES` makes the
Linear lowering scale event weights accordingly); the state updater runs at +5 of the
node's slot, ``y`` is set at +10, thresholder +20, resetter +30. Per type (``S`` =
``substeps``):

* RefractoryLIF/RefractoryCubaLIF: the LIF/CubaLIF ODEs, ``v`` flagged ``(unless
  refractory)``, exact solver, Brian2's ``refractory`` set per neuron to ``t_ref + h``.
  Brian2 stamps a spike with the *start* ``t_k`` of the internal step ``k`` whose update
  crossed the threshold, and keeps ``v`` clamped in the steps ``k + j`` with
  ``timestep(t - lastspike) < timestep(refractory)``, i.e. ``j < n_ref S + 1``: the
  ``n_ref S`` internal steps after the spike step, exactly the contract's "held for
  ``round(t_ref / dt)`` steps after the spike step". (``refractory = t_ref`` would clamp
  one internal step less: Brian2 counts from the start of the spike step, the contract
  from its end.) The current ``isyn`` is never clamped. With ``S = 1`` and
  ``integrator='exact'``, ``input_meaning='current'``: the discrete contract.
* ALIF: ``tau dv/dt = v_leak - v + r x``, ``tau_adapt da/dt = -a`` (exact), threshold
  ``v > v_th + beta a``, reset as LIF plus ``a += 1``. The threshold sees ``a`` at the
  end of the internal step (decayed); the contract's ``b[t]`` uses ``a[t-1]``
  (undecayed), so with ``S = 1`` the traces follow the same recurrences but the threshold
  differs by ``beta (1 - rho) a[t-1]``: spikes can differ where ``v`` falls between the
  two thresholds (an O(dt) choice of the discrete contract).
* RateUnit: ``tau dxr/dt = x - xr`` (exact), ``y = phi(xr)``: the contract with ``S = 1``,
  ``integrator='exact'`` and ``input_meaning='current'``.
* CondLIF: ``g_exc``, ``g_inh`` decay (``dg/dt = -g/tau``); each internal step first adds
  ``x / S`` (+3 of the slot), so a graph step's total jump is the contract's ``x`` (held
  input: ``x/S`` S times; a spike or an ``'increment'`` pulse of height ``S x`` in one
  internal step: ``x`` at once); then ``exponential_euler`` integrates: ``g`` decays
  exactly and ``v`` is solved exactly with the conductances held at their values at the
  start of the internal step. Brian2's ``exact`` solver refuses this system (``g v`` is
  not linear with constant coefficients); exponential Euler is exact for ``g`` and for
  ``v`` given the conductances, which is the contract's ``exact`` membrane: with ``S = 1``
  and ``update_order='current_first'`` spikes and ``v`` equal the contract; the recorded
  ``g`` is the end-of-step value, ``a_exc`` times the contract's ``g[t]`` (which is the
  value right after the jump). More generally, at ``S`` substeps it is the ``exact``
  contract at ``dt / S`` with each graph step's increment spread over its substeps.
* Izhikevich: ``dv/dt = (0.04 v^2 + 5 v + 140 - u + I) / ms``, ``du/dt = a (b v - u) /
  ms`` (v, u, I as plain numbers in mV and mV/ms), ``rk4``; ``v > v_peak``; reset
  ``v = c``, ``u += d``. Spike times converge like ``h`` (one threshold test per internal
  step); refused under ``input_meaning='increment'`` (inputs would become pulses, but
  ``I`` is a current in the contract), as is Morris-Lecar.
* MorrisLecar(Graded): the ODE in ms, ``rk4``; spikes at upward crossings with Brian2's
  idiom ``threshold='v > v_th'``, ``refractory='v > v_th'`` and ``not_refractory``
  initialised to ``v0 <= v_th`` (so a neuron starting above threshold does not fire
  before it crosses): ``V[k-1] <= v_th < V[k]`` per internal step. Graded: ``y =
  s_inf(v)``. ``'current+conductance'``: ``I + g (e_syn - v)`` inside the ODE.
* Sources: the seeded stream of :func:`spikecore.extensions.source_stream` (defined per
  graph step) in a ``TimedArray`` of step ``dt``, held over the graph step; a Poisson
  spike is ``y = S`` in the first internal step of its graph step (area ``dt``, the
  charge of a discrete spike); real-valued streams become pulses under ``'increment'``
  like Input nodes. Always a ``TimedArray`` (the block-wise stream player of
  :mod:`.brian2_streams` writes one value per graph step, not per internal step).

``integrator`` and ``update_order`` do not apply in continuous mode (Brian2 integrates).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ... import extensions as X
from ... import primitives as P
from ...extensions import refractory_steps, source_stream
from ...graph import Graph
from . import extensions as E
from .nir_primitives import equal_time_constants
from .registry import Lowerer, register_continuous

Build = Callable[[Any, str, Any], None]
Problems = Callable[[Graph, str, Any, Mapping[str, Any]], list[str]]


def _place_updater(low: Any, name: str, g: Any) -> None:
    g.state_updater.when = "groups"
    g.state_updater.order = low.slot(name, 5)


def _spike_reset(low: Any, params: dict, node: Any, shape: tuple[int, ...], extra: str = ""
                 ) -> str:
    """Reset code of a LIF-like neuron in volt, ending with the spike pulse ``y = S``."""
    par = lambda f: P.param(node, f, shape)  # noqa: E731
    if low.sem.reset == "to_value":
        params["v_rs"] = (par("v_reset"), "volt")
        code = "v = v_rs"
    else:
        params["v_amt"] = (par("v_threshold") - par("v_reset"), "volt")
        code = "v = v - v_amt"
    return f"{code}{extra}\ny = {low.S}"


# ============================================================== refractory LIF / CubaLIF
def _build_refractory(low: Any, name: str, node: Any) -> None:
    shape = low.shapes[name]
    par = lambda f: P.param(node, f, shape)  # noqa: E731
    lines = low.input_lines(name)
    params: dict[str, tuple] = {"r": (par("r"), "ohm"), "v_leak": (par("v_leak"), "volt"),
                                "v_th": (par("v_threshold"), "volt")}
    if isinstance(node, X.RefractoryLIF):
        params["tau"] = (par("tau"), "second")
        lines.append("dv/dt = (v_leak - v + r * (x * amp)) / tau : volt (unless refractory)")
    else:
        equal = np.all(equal_time_constants(node, shape))
        tau_syn = "tau_mem" if equal else "tau_syn"
        params.update(tau_mem=(par("tau_mem"), "second"), w_in=(par("w_in"), "1"))
        if not equal:
            params["tau_syn"] = (par("tau_syn"), "second")
        lines += [f"disyn/dt = (w_in * (x * amp) - isyn) / {tau_syn} : amp",
                  "dv/dt = (v_leak - v + r * isyn) / tau_mem : volt (unless refractory)"]
    # Clamp for the n_ref * S internal steps after the spike step (module docstring).
    params["t_rb"] = (refractory_steps(node, low.dt, shape) * low.dt + low.h, "second")
    g = low.make_group(name, lines, params=params, threshold="v > v_th",
                       reset=_spike_reset(low, params, node, shape), method="exact",
                       refractory="t_rb")
    g.v = np.tile(par("v_leak").ravel(), low.B) * low.b2.volt
    _place_updater(low, name, g)
    low.update(name, "y = 0")


def _refractory_problems(graph: Graph, name: str, node: Any, options: Mapping[str, Any]
                         ) -> list[str]:
    if not isinstance(node, X.RefractoryCubaLIF):
        return []
    eq = equal_time_constants(node, graph.shapes()[name])
    if np.any(eq) and not np.all(eq):
        return [f"{name!r} (RefractoryCubaLIF): continuous mode needs tau_syn == tau_mem for "
                "all elements or for none (the exact solution differs between the two "
                f"cases); {int(eq.sum())} of {eq.size} are equal; split the node in two"]
    return []


# ============================================================================ ALIF
def _build_alif(low: Any, name: str, node: Any) -> None:
    shape = low.shapes[name]
    par = lambda f: P.param(node, f, shape)  # noqa: E731
    params: dict[str, tuple] = {
        "r": (par("r"), "ohm"), "v_leak": (par("v_leak"), "volt"), "tau": (par("tau"), "second"),
        "tau_a": (par("tau_adapt"), "second"), "v_th": (par("v_threshold"), "volt"),
        "beta": (par("beta"), "volt")}
    lines = [*low.input_lines(name), "dv/dt = (v_leak - v + r * (x * amp)) / tau : volt",
             "dadapt/dt = -adapt / tau_a : 1"]
    reset = _spike_reset(low, params, node, shape, "\nadapt = adapt + 1")
    g = low.make_group(name, lines, params=params, threshold="v > v_th + beta * adapt",
                       reset=reset, method="exact")
    g.v = np.tile(par("v_leak").ravel(), low.B) * low.b2.volt
    _place_updater(low, name, g)
    low.update(name, "y = 0")


# ======================================================================== RateUnit
def _build_rate(low: Any, name: str, node: Any) -> None:
    shape = low.shapes[name]
    params: dict[str, tuple] = {"tau": (P.param(node, "tau", shape), "second")}
    if node.phi == "power":
        params.update(phi_k=(P.param(node, "k", shape), "1"),
                      phi_n=(P.param(node, "n", shape), "1"))
    g = low.make_group(name, [*low.input_lines(name), "dxr/dt = (x - xr) / tau : 1"],
                       params=params, method="exact")
    g.xr = np.tile(P.param(node, "x0", shape).ravel(), low.B)
    _place_updater(low, name, g)
    low.update(name, f"y = {E.PHI_CODE[node.phi]}")


# ========================================================================= CondLIF
def _build_cond_lif(low: Any, name: str, node: Any) -> None:
    shape = low.shapes[name]
    par = lambda f: P.param(node, f, shape)  # noqa: E731
    params: dict[str, tuple] = {
        "tau_m": (par("tau_mem"), "second"), "tau_e": (par("tau_exc"), "second"),
        "tau_i": (par("tau_inh"), "second"), "r_c": (par("r"), "ohm"),
        "v_lk": (par("v_leak"), "volt"), "e_exc": (par("e_exc"), "volt"),
        "e_inh": (par("e_inh"), "volt"), "v_th": (par("v_threshold"), "volt")}
    lines = [*E.cond_input_lines(low, name),
             "dv/dt = ((v_lk - v) + r_c * g_exc * (e_exc - v) + r_c * g_inh * (e_inh - v))"
             " / tau_m : volt",
             "dg_exc/dt = -g_exc / tau_e : siemens", "dg_inh/dt = -g_inh / tau_i : siemens"]
    g = low.make_group(name, lines, params=params, threshold="v > v_th",
                       reset=_spike_reset(low, params, node, shape),
                       method="exponential_euler")
    g.v = np.tile(par("v_leak").ravel(), low.B) * low.b2.volt
    _place_updater(low, name, g)
    # The jumps precede the integration of their internal step (current_first).
    low.update(name, f"g_exc = g_exc + xe * siemens / {low.S}\n"
                     f"g_inh = g_inh + xin * siemens / {low.S}", sub=3)
    low.update(name, "y = 0")


# ====================================================================== Izhikevich
def _build_izhikevich(low: Any, name: str, node: Any) -> None:
    shape = low.shapes[name]
    par = lambda f: P.param(node, f, shape)  # noqa: E731
    params: dict[str, tuple] = {
        "iz_a": (par("a"), "1"), "iz_b": (par("b"), "1"), "iz_c": (par("c"), "1"),
        "iz_d": (par("d"), "1"), "v_pk": (par("v_peak"), "1"),
        "iz_ms": (np.full(shape, X.IZHIKEVICH_TIME_UNIT), "second")}
    lines = [*low.input_lines(name),
             "dv/dt = (0.04 * v ** 2 + 5 * v + 140 - u + x) / iz_ms : 1",
             "du/dt = iz_a * (iz_b * v - u) / iz_ms : 1"]
    g = low.make_group(name, lines, params=params, threshold="v > v_pk",
                       reset=f"v = iz_c\nu = u + iz_d\ny = {low.S}", method="rk4")
    g.v = np.tile(par("v0").ravel(), low.B)
    g.u = np.tile(par("u0").ravel(), low.B)
    _place_updater(low, name, g)
    low.update(name, "y = 0")


# ==================================================================== Morris-Lecar
def _build_morris_lecar(low: Any, name: str, node: Any) -> None:
    shape = low.shapes[name]
    par = lambda f: P.param(node, f, shape)  # noqa: E731
    params: dict[str, tuple] = {f"ml_{f}": (par(f), "1") for f in E.ML_FIELDS}
    params["ml_ms"] = (np.full(shape, X.MORRIS_LECAR_TIME_UNIT), "second")
    spiking = P.SPECS[type(node)].spiking
    if node.input_kind == X.ML_CONDUCTANCE:
        inputs = [*E.cond_input_lines(low, name), "xc = xe + xin * (ml_e_syn - v) : 1"]
    else:
        inputs = [*low.input_lines(name), "xc = x : 1"]
    lines = [*inputs,
             "m = 0.5 * (1.0 + tanh((v - ml_v1) / ml_v2)) : 1",
             "wi = 0.5 * (1.0 + tanh((v - ml_v3) / ml_v4)) : 1",
             "dv/dt = (xc - ml_g_l * (v - ml_v_l) - ml_g_ca * m * (v - ml_v_ca)"
             " - ml_g_k * wml * (v - ml_v_k)) / (ml_c_m * ml_ms) : 1",
             "dwml/dt = ml_phi * (wi - wml) * cosh((v - ml_v3) / (2.0 * ml_v4)) / ml_ms : 1"]
    crossing = "v > ml_v_threshold"
    g = low.make_group(name, lines, params=params, threshold=crossing if spiking else None,
                       reset=f"y = {low.S}" if spiking else None, method="rk4",
                       refractory=crossing if spiking else False)
    v0 = par("v0").ravel()
    g.v = np.tile(v0, low.B)
    g.wml = np.tile(par("w0").ravel(), low.B)
    if spiking:
        # Only an upward crossing is a spike: a neuron starting above threshold must
        # first come down (Brian2 leaves refractoriness when the condition is false).
        g.not_refractory = np.tile(v0 <= par("v_threshold").ravel(), low.B)
    _place_updater(low, name, g)
    low.update(name, "y = 0" if spiking else
               "y = 0.5 * (1.0 + tanh((v - ml_v_syn) / ml_k_syn))")


def _current_model_problems(graph: Graph, name: str, node: Any, options: Mapping[str, Any]
                            ) -> list[str]:
    if graph.semantics.input_meaning != "increment":
        return []
    return [f"{name!r} ({P.type_name(node)}): continuous mode with input_meaning='increment' "
            "turns held inputs into one-internal-step pulses, but this model's input is a "
            "current held for the step (input_meaning does not apply to it in the discrete "
            "contract); use input_meaning='current'"]


# ========================================================================= sources
def _build_source(low: Any, name: str, node: Any) -> None:
    from .streams import needs_threshold

    shape = low.shapes[name]
    data, _ = source_stream(node, name, low.sem, low.B, 0, low.steps, shape)
    ta_name = low.timed_array(data)
    spiking = P.SPECS[type(node)].spiking
    low.make_group(name, [], threshold="y > 0.5" if spiking and needs_threshold(low, name, node)
                   else None)
    S = low.S
    if spiking:  # a spike: height S in the first internal step of its graph step
        code = f"y = {ta_name}(t, i) * {S} * int(t_in_timesteps % {S} == 0)"
    elif low.sem.input_meaning == "increment":  # as an Input: the pulse ends the step
        code = f"y = {ta_name}(t, i) * {S} * int(t_in_timesteps % {S} == {S - 1})"
    else:
        code = f"y = {ta_name}(t, i)"
    low.update(name, code)


# ======================================================================== registry
CONTINUOUS_LOWERINGS: dict[type, Lowerer] = {
    X.RefractoryLIF: Lowerer(_build_refractory, "LIF ODE, v (unless refractory), Brian2 "
                                "refractory = t_ref + dt/substeps", _refractory_problems),
    X.RefractoryCubaLIF: Lowerer(_build_refractory, "CubaLIF ODE, v (unless refractory), "
                                    "Brian2 refractory = t_ref + dt/substeps",
                                    _refractory_problems),
    X.ALIF: Lowerer(_build_alif, "exact ODE of v and a; threshold v_th + beta*a(t)"),
    X.RateUnit: Lowerer(_build_rate, "exact ODE tau dx/dt = -x + input; y = phi(x)"),
    X.CondLIF: Lowerer(_build_cond_lif, "exponential_euler; jumps of x/substeps per "
                          "internal step"),
    X.Izhikevich: Lowerer(_build_izhikevich, "rk4 in ms; reset v = c, u += d",
                             _current_model_problems),
    X.MorrisLecar: Lowerer(_build_morris_lecar, "rk4 in ms; spike = upward crossing "
                              "(refractory while v > v_threshold)", _current_model_problems),
    X.MorrisLecarGraded: Lowerer(_build_morris_lecar, "rk4 in ms; y = s_inf(V)",
                                    _current_model_problems),
    **{t: Lowerer(_build_source, "the seeded per-step stream held over the step (Poisson: "
                     "a pulse of area dt)") for t in (X.PoissonSource, X.WhiteNoiseSource,
                                                      X.OUSource)},
}


for _t, _continuous in CONTINUOUS_LOWERINGS.items():
    register_continuous(_t, _continuous, P.SPECS[_t].spiking)
