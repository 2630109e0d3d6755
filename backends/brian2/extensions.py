"""Brian2 lowering of the extension primitives (:mod:`spikecore.extensions`), discrete mode.

Registered into :data:`.registry.BUILDERS` (the package imports every lowering module).
Each builder realises the update of :mod:`spikecore.extensions` inside the node's slot
of the step (see the :mod:`.lowering` module docstring for the slots), term for term, so in
float64 the states equal the numpy contract:

* RefractoryLIF/RefractoryCubaLIF: ``act = ref <= 0`` at +10; the base update computes a
  candidate ``vc`` and ``v = act*vc + (1-act)*v`` (exact for finite values); the
  thresholder also requires ``act``; the resetter sets ``ref = n_ref``.
* ALIF: the LIF membrane at +10, thresholder ``v > v_th + beta*adapt``, and at +35 (after
  the reset) ``adapt = rho*adapt + y`` (``y`` is 1 exactly for the neurons that spiked).
* RateUnit: ``xr = a_mem*xr + k_x*x (+ c)``, ``y = phi(xr)``.
* CondLIF: two input sums ``xe``, ``xi`` linked to the first and second half of each
  source's ``y`` (``linked_var(..., index=...)``); conductance jumps, then the membrane
  (Euler, or exact for the step's conductances) at +10; LIF thresholder and resetter.
* Izhikevich: the paper's two half-steps of ``v`` and the step of ``u`` at +10;
  thresholder ``v > v_peak``; resetter ``v = c; u = u + d``.
* MorrisLecar(Graded): ``V`` and ``w`` from last step's values at +10 (``vprev`` keeps
  ``V[t-1]``; ``w`` is called ``wml``: Synapses reserve ``w``); thresholder
  ``vprev <= v_thr and v > v_thr`` without reset of ``V``, or ``y = s_inf(V)`` for the
  graded neuron. ``input_kind='current+conductance'``: the two halves of each source
  linked as for CondLIF (``xe`` current, ``xin`` conductance) and ``x = xe + xin *
  (e_syn - v)`` before the membrane step.
* Sources: the stream of :func:`spikecore.extensions.source_stream`, computed once in
  numpy, played back through a ``TimedArray`` (Poisson: with a thresholder, so spikes
  travel by spike queues like any other spike train).

Continuous mode (Brian2 integrating each model's ODE) is registered separately by
:mod:`.continuous_ext` (:data:`.registry.CONTINUOUS`); types without a continuous lowering
are refused in that mode by ``check`` (:func:`.registry.discrete_only`), with the reason
from :data:`.registry.CONTINUOUS_REFUSALS`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import extensions as X
from ... import primitives as P
from ...discrete import neuron_coefficients
from ...extensions import (
    alif_coefficients,
    cond_lif_coefficients,
    izhikevich_h,
    morris_lecar_h,
    rate_coefficients,
    refractory_steps,
    source_stream,
)
from .nir_primitives import reset_code
from .registry import BUILDERS, Lowerer, discrete_only, register_state


def _membrane_terms(co, params: dict, target: str = "v") -> tuple[list[str], str]:
    """Code for the optional current update, and the membrane expression, in the order of
    :func:`spikecore.discrete.neuron_step` (all-zero coefficients left out)."""
    code = []
    params["a_mem"] = (co.a_mem, "1")
    if co.has_current:
        params.update(a_syn=(co.a_syn, "1"), b_syn=(co.b_syn, "1"))
        if np.any(co.k_old):
            code.append("isyn_old = isyn")
        code.append("isyn = a_syn * isyn + b_syn * x")
    terms = [f"a_mem * {target}"]
    for coef, term in (("k_old", "isyn_old"), ("k_new", "isyn"), ("k_x", "x"), ("c_v", "1")):
        values = getattr(co, "c" if coef == "c_v" else coef)
        if np.any(values):
            params[coef] = (values, "1")
            terms.append(coef if term == "1" else f"{coef} * {term}")
    return code, " + ".join(terms)


def _build_refractory(low: Any, name: str, node: Any) -> None:
    shape = low.shapes[name]
    co = neuron_coefficients(node.base(), low.sem, shape)
    lines = [*low.input_lines(name), "v : 1", "ref : 1", "act : 1"]
    if co.has_current:
        lines.append("isyn : 1")
    params: dict[str, tuple] = {"n_ref": (refractory_steps(node, low.dt, shape), "1")}
    code, expr = _membrane_terms(co, params)
    code = ["act = int(ref <= 0)", *code, f"vc = {expr}",
            "v = act * vc + (1 - act) * v", "ref = ref - int(ref > 0)", "y = 0"]
    params["v_th"] = (co.v_threshold, "1")
    reset = reset_code(co.reset, co.v_reset, co.reset_amount, params, "\nref = n_ref")
    g = low.make_group(name, lines, params=params, threshold="v > v_th and act > 0.5",
                       reset=reset)
    g.v = np.tile(co.v_initial.ravel(), low.B)
    low.update(name, "\n".join(code))


def _build_alif(low: Any, name: str, node: Any) -> None:
    shape = low.shapes[name]
    co = alif_coefficients(node, low.sem, shape)
    lines = [*low.input_lines(name), "v : 1", "adapt : 1"]
    params: dict[str, tuple] = {"v_th": (co.v_threshold, "1"), "beta": (co.beta, "1"),
                                "rho": (co.rho, "1")}
    code, expr = _membrane_terms(co.membrane, params)
    reset = reset_code(co.reset, co.v_reset, co.reset_amount, params)
    g = low.make_group(name, lines, params=params, threshold="v > v_th + beta * adapt",
                       reset=reset)
    g.v = np.tile(co.membrane.v_initial.ravel(), low.B)
    low.update(name, "\n".join([*code, f"v = {expr}", "y = 0"]))
    low.update(name, "adapt = rho * adapt + y", sub=35)


PHI_CODE = {"tanh": "tanh(xr)", "relu": "clip(xr, 0, inf)",
             "power": "phi_k * clip(xr, 0, inf) ** phi_n"}


def _build_rate(low: Any, name: str, node: Any) -> None:
    shape = low.shapes[name]
    co = rate_coefficients(node, low.sem, shape).membrane
    params: dict[str, tuple] = {}
    code, expr = _membrane_terms(co, params, target="xr")
    if node.phi == "power":
        params.update(phi_k=(P.param(node, "k", shape), "1"),
                      phi_n=(P.param(node, "n", shape), "1"))
    g = low.make_group(name, [*low.input_lines(name), "xr : 1"], params=params)
    g.xr = np.tile(P.param(node, "x0", shape).ravel(), low.B)
    low.update(name, "\n".join([*code, f"xr = {expr}", f"y = {PHI_CODE[node.phi]}"]))


def _build_source(low: Any, name: str, node: Any) -> None:
    from .streams import build_streamed_source, needs_threshold

    if build_streamed_source(low, name, node):  # long streams: block by block
        return
    shape = low.shapes[name]
    data, _ = source_stream(node, name, low.sem, low.B, 0, low.steps, shape)
    ta_name = low.timed_array(data)
    low.make_group(name, [], threshold="y > 0.5" if needs_threshold(low, name, node) else None)
    low.update(name, f"y = {ta_name}(t, i)")


def cond_input_lines(low: Any, name: str) -> list[str]:
    """``xe``/``xi``: sums over the incoming edges of the first/second half of each source
    (``(2, *shape)`` flattened in C order: the first ``size`` elements are excitatory)."""
    ins = low.incoming[name]
    n = low.size[name]
    lines = []
    for k in range(len(ins)):
        lines += [f"xexc_{k} : 1 (linked)", f"xinh_{k} : 1 (linked)"]
    lines.append(f"xe = {' + '.join(f'xexc_{k}' for k in range(len(ins))) or '0'} : 1")
    lines.append(f"xin = {' + '.join(f'xinh_{k}' for k in range(len(ins))) or '0'} : 1")
    base = (np.arange(low.B)[:, None] * 2 * n + np.arange(n)[None, :]).ravel()

    def link() -> None:
        g = low.groups[name]
        for k, e in enumerate(ins):
            src = low.groups[e.source]
            setattr(g, f"xexc_{k}", low.b2.linked_var(src, e.var, index=base))
            setattr(g, f"xinh_{k}", low.b2.linked_var(src, e.var, index=base + n))

    low.deferred.append(link)
    return lines


def _build_cond_lif(low: Any, name: str, node: Any) -> None:
    shape = low.shapes[name]
    co = cond_lif_coefficients(node, low.sem, shape)
    lines = [*cond_input_lines(low, name), "v : 1", "g_exc : 1", "g_inh : 1"]
    params: dict[str, tuple] = {
        "a_exc": (co.a_exc, "1"), "a_inh": (co.a_inh, "1"), "h_mem": (co.h_mem, "1"),
        "r_c": (co.r, "1"), "v_lk": (co.v_leak, "1"), "e_exc": (co.e_exc, "1"),
        "e_inh": (co.e_inh, "1"), "v_th": (co.v_threshold, "1")}
    code = [] if co.use_new else ["ge = g_exc", "gi = g_inh"]
    code += ["g_exc = a_exc * g_exc + xe", "g_inh = a_inh * g_inh + xin"]
    if co.use_new:
        code += ["ge = g_exc", "gi = g_inh"]
    if co.exact:
        code += ["gt = 1 + r_c * ge + r_c * gi",
                 "vinf = (v_lk + r_c * ge * e_exc + r_c * gi * e_inh) / gt",
                 "v = vinf + (v - vinf) * exp(-h_mem * gt)"]
    else:
        code.append("v = v + h_mem * ((v_lk - v) + r_c * ge * (e_exc - v) "
                    "+ r_c * gi * (e_inh - v))")
    reset = reset_code(co.reset, co.v_reset, co.v_threshold - co.v_reset, params)
    g = low.make_group(name, lines, params=params, threshold="v > v_th", reset=reset)
    g.v = np.tile(co.v_leak.ravel(), low.B)
    low.update(name, "\n".join([*code, "y = 0"]))


def _build_izhikevich(low: Any, name: str, node: Any) -> None:
    shape = low.shapes[name]
    h = izhikevich_h(low.sem)
    par = lambda f: P.param(node, f, shape)  # noqa: E731
    params: dict[str, tuple] = {"iz_a": (par("a"), "1"), "iz_b": (par("b"), "1"),
                                "iz_c": (par("c"), "1"), "iz_d": (par("d"), "1"),
                                "v_pk": (par("v_peak"), "1"), "iz_h": (np.full(shape, h), "1"),
                                "iz_hh": (np.full(shape, 0.5 * h), "1")}
    g = low.make_group(name, [*low.input_lines(name), "v : 1", "u : 1"], params=params,
                       threshold="v > v_pk", reset="v = iz_c\nu = u + iz_d\ny = 1")
    g.v = np.tile(par("v0").ravel(), low.B)
    g.u = np.tile(par("u0").ravel(), low.B)
    # One operation per statement: Brian2 passes each statement through sympy, which may
    # reorder a longer sum; this pins the documented evaluation order (the model
    # amplifies rounding differences near its spike upstroke).
    half = ["q = {v} * {v}", "q = 0.04 * q", "q = q + 5.0 * {v}", "q = q + 140.0", "q = q - u",
            "q = q + x", "q = iz_hh * q"]
    low.update(name, "\n".join([
        *[c.format(v="v") for c in half], "v1 = v + q",
        *[c.format(v="v1") for c in half], "v = v1 + q",
        "p = iz_b * v", "p = p - u", "p = iz_a * p", "p = iz_h * p", "u = u + p", "y = 0"]))


ML_FIELDS = ("c_m", "g_l", "g_ca", "g_k", "v_l", "v_ca", "v_k", "v1", "v2", "v3", "v4", "phi",
              "v_threshold", "v_syn", "k_syn", "e_syn")


def _build_morris_lecar(low: Any, name: str, node: Any) -> None:
    shape = low.shapes[name]
    par = lambda f: P.param(node, f, shape)  # noqa: E731
    params: dict[str, tuple] = {f"ml_{f}": (par(f), "1") for f in ML_FIELDS}
    params["ml_h"] = (np.full(shape, morris_lecar_h(low.sem)), "1")
    spiking = P.SPECS[type(node)].spiking
    conductance = node.input_kind == X.ML_CONDUCTANCE
    inputs = cond_input_lines(low, name) if conductance else low.input_lines(name)
    g = low.make_group(name, [*inputs, "v : 1", "wml : 1", "vprev : 1"],
                       params=params,
                       threshold="vprev <= ml_v_threshold and v > ml_v_threshold"
                       if spiking else None, reset="y = 1" if spiking else None)
    g.v = np.tile(par("v0").ravel(), low.B)
    g.wml = np.tile(par("w0").ravel(), low.B)
    if low.sem.integrator == "exact":
        w_code = "wml = wi + (wml - wi) * exp(-ml_h * ml_phi * ch)"
    else:
        w_code = "wml = wml + ml_h * ml_phi * ch * (wi - wml)"
    low.update(name, "\n".join([
        "vprev = v",
        "m = 0.5 * (1.0 + tanh((v - ml_v1) / ml_v2))",
        "wi = 0.5 * (1.0 + tanh((v - ml_v3) / ml_v4))",
        "ch = cosh((v - ml_v3) / (2.0 * ml_v4))",
        *(["ic = ml_e_syn - v", "ic = xin * ic", "xc = xe + ic"] if conductance else []),
        f"vn = v + (ml_h / ml_c_m) * ({'xc' if conductance else 'x'} - ml_g_l * (v - ml_v_l)"
        " - ml_g_ca * m * (v - ml_v_ca) - ml_g_k * wml * (v - ml_v_k))",
        w_code, "v = vn",
        "y = 0" if spiking else "y = 0.5 * (1.0 + tanh((v - ml_v_syn) / ml_k_syn))"]))


_NOTE = "discrete mode; the update of spikecore.extensions"
LOWERINGS = {
    X.RefractoryLIF: Lowerer(_build_refractory, _NOTE + " (counter ref, v held)",
                               discrete_only),
    X.RefractoryCubaLIF: Lowerer(_build_refractory, _NOTE + " (counter ref, v held)",
                                   discrete_only),
    X.ALIF: Lowerer(_build_alif, _NOTE + " (threshold v_th + beta*adapt)", discrete_only),
    X.RateUnit: Lowerer(_build_rate, _NOTE + " (y = phi(x))", discrete_only),
    X.PoissonSource: Lowerer(_build_source, "discrete mode; the seeded stream of "
                               "spikecore.extensions played by a TimedArray", discrete_only),
    X.WhiteNoiseSource: Lowerer(_build_source, "discrete mode; the seeded stream of "
                                  "spikecore.extensions played by a TimedArray",
                                  discrete_only),
    X.OUSource: Lowerer(_build_source, "discrete mode; the seeded stream of "
                          "spikecore.extensions played by a TimedArray", discrete_only),
    X.CondLIF: Lowerer(_build_cond_lif, _NOTE + " (conductance jumps, then membrane)",
                         discrete_only),
    X.Izhikevich: Lowerer(_build_izhikevich, _NOTE + " (Izhikevich 2003 half-steps)",
                            discrete_only),
    X.MorrisLecar: Lowerer(_build_morris_lecar, _NOTE + " (spike = upward crossing)",
                             discrete_only),
    X.MorrisLecarGraded: Lowerer(_build_morris_lecar, _NOTE + " (y = s_inf(V))",
                                   discrete_only),
}
BUILDERS.update(LOWERINGS)
for _state, _var in {"a": "adapt", "x": "xr", "g_exc": "g_exc", "g_inh": "g_inh", "u": "u",
                     "w": "wml"}.items():
    register_state(_state, _var)
