"""Brian2 lowering of the extension primitives (:mod:`spikecore.extensions`), discrete mode.

Registered into :data:`spikecore.backends.brian2_.BUILDERS` when that module is imported.
Each builder realises the update of :mod:`spikecore.ext_discrete` inside the node's slot
of the step (see the ``brian2_`` module docstring for the slots), term for term, so in
float64 the states equal the numpy contract:

* RefractoryLIF/RefractoryCubaLIF: ``act = ref <= 0`` at +10; the base update computes a
  candidate ``vc`` and ``v = act*vc + (1-act)*v`` (exact for finite values); the
  thresholder also requires ``act``; the resetter sets ``ref = n_ref``.
* ALIF: the LIF membrane at +10, thresholder ``v > v_th + beta*adapt``, and at +35 (after
  the reset) ``adapt = rho*adapt + y`` (``y`` is 1 exactly for the neurons that spiked).
* RateUnit: ``xr = a_mem*xr + k_x*x (+ c)``, ``y = phi(xr)``.
* Sources: the stream of :func:`spikecore.ext_discrete.source_stream`, computed once in
  numpy, played back through a ``TimedArray`` (Poisson: with a thresholder, so spikes
  travel by spike queues like any other spike train).

Continuous mode is not implemented for extensions; ``check`` says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .. import extensions as X
from .. import primitives as P
from ..discrete import neuron_coefficients
from ..ext_discrete import (
    alif_coefficients,
    rate_coefficients,
    refractory_steps,
    source_stream,
)
from ..graph import Graph
from . import brian2_ as B


def _discrete_only(graph: Graph, name: str, node: Any, options: Mapping[str, Any]
                   ) -> list[str]:
    if options.get("mode", "discrete") == "continuous":
        return [f"{name!r} ({P.type_name(node)}): extension primitives run in "
                "mode='discrete' only (no continuous-time lowering yet)"]
    return []


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


def _reset_code(reset: str, co_reset, co_amount, params: dict, extra: str = "") -> str:
    if reset == "to_value":
        params["v_rs"] = (co_reset, "1")
        return "v = v_rs\ny = 1" + extra
    params["v_amt"] = (co_amount, "1")
    return "v = v - v_amt\ny = 1" + extra


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
    reset = _reset_code(co.reset, co.v_reset, co.reset_amount, params, "\nref = n_ref")
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
    reset = _reset_code(co.reset, co.v_reset, co.reset_amount, params)
    g = low.make_group(name, lines, params=params, threshold="v > v_th + beta * adapt",
                       reset=reset)
    g.v = np.tile(co.membrane.v_initial.ravel(), low.B)
    low.update(name, "\n".join([*code, f"v = {expr}", "y = 0"]))
    low.update(name, "adapt = rho * adapt + y", sub=35)


_PHI_CODE = {"tanh": "tanh(xr)", "relu": "clip(xr, 0, inf)",
             "power": "phi_k * clip(xr, 0, inf) ** phi_n"}


def _build_rate(low: Any, name: str, node: Any) -> None:
    shape = low.shapes[name]
    co = rate_coefficients(node, low.sem, shape)
    params: dict[str, tuple] = {}
    code, expr = _membrane_terms(co, params, target="xr")
    if node.phi == "power":
        params.update(phi_k=(P.param(node, "k", shape), "1"),
                      phi_n=(P.param(node, "n", shape), "1"))
    g = low.make_group(name, [*low.input_lines(name), "xr : 1"], params=params)
    g.xr = np.tile(P.param(node, "x0", shape).ravel(), low.B)
    low.update(name, "\n".join([*code, f"xr = {expr}", f"y = {_PHI_CODE[node.phi]}"]))


def _build_source(low: Any, name: str, node: Any) -> None:
    shape = low.shapes[name]
    data, _ = source_stream(node, name, low.sem, low.B, 0, low.steps, shape)
    ta_name = f"sc_input_{len(low.namespace)}"
    values = data.reshape(low.B, low.steps, -1).transpose(1, 0, 2).reshape(low.steps, -1)
    low.namespace[ta_name] = low.b2.TimedArray(np.ascontiguousarray(values),
                                               dt=low.dt * low.b2.second, name=ta_name)
    spiking = P.SPECS[type(node)].spiking
    low.make_group(name, [], threshold="y > 0.5" if spiking else None)
    low.update(name, f"y = {ta_name}(t, i)")


_NOTE = "discrete mode; the update of spikecore.ext_discrete"
LOWERINGS = {
    X.RefractoryLIF: B.Lowerer(_build_refractory, _NOTE + " (counter ref, v held)",
                               _discrete_only),
    X.RefractoryCubaLIF: B.Lowerer(_build_refractory, _NOTE + " (counter ref, v held)",
                                   _discrete_only),
    X.ALIF: B.Lowerer(_build_alif, _NOTE + " (threshold v_th + beta*adapt)", _discrete_only),
    X.RateUnit: B.Lowerer(_build_rate, _NOTE + " (y = phi(x))", _discrete_only),
    X.PoissonSource: B.Lowerer(_build_source, "discrete mode; the seeded stream of "
                               "spikecore.ext_discrete played by a TimedArray", _discrete_only),
    X.WhiteNoiseSource: B.Lowerer(_build_source, "discrete mode; the seeded stream of "
                                  "spikecore.ext_discrete played by a TimedArray",
                                  _discrete_only),
    X.OUSource: B.Lowerer(_build_source, "discrete mode; the seeded stream of "
                          "spikecore.ext_discrete played by a TimedArray", _discrete_only),
}
B.BUILDERS.update(LOWERINGS)
B._STATE_VARS.update({"a": "adapt", "x": "xr"})
B._STATE_NAMES.update({v: k for k, v in B._STATE_VARS.items()})
