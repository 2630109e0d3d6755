"""Brian2 lowerings of NIR's own primitives (Input, Output, maps, Delay, neurons).

Each ``build_*`` function receives the run's :class:`~.lowering.Lowering` and creates
the node's group and updates in the node's slot; the table at the end registers them in
:data:`.registry.BUILDERS`. The discrete neuron update uses the coefficients of
:func:`spikecore.discrete.neuron_coefficients`; continuous mode writes the NIR ODE with
units.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ... import primitives as P
from ...discrete import NEURON_TYPES, neuron_coefficients
from ...graph import Graph, delay_steps_of
from .lowering import MAX_HISTORY, Lowering
from .maps import MAP_BUILDERS, LinearMap
from .registry import BUILDERS, PULSE_TYPES, Lowerer


# ============================================================================ builders
def _build_input(low: Lowering, name: str, node: Any) -> None:
    data = low.inputs[name]  # [batch, steps, *shape]
    if name in low.spike_inputs:
        # Element b * n + j spikes at step t where input[b, t, j] == 1, emitted in the
        # thresholder's place of this node's slot.
        b, t, j = np.nonzero(data.reshape(low.B, low.steps, -1))
        g = low.b2.SpikeGeneratorGroup(low.B * low.size[name], b * low.size[name] + j,
                                       t * low.dt * low.b2.second, clock=low.clock,
                                       when="groups", order=low.slot(name, 20),
                                       name=low.bname[name])
        low.groups[name] = g
        low.objects.append(g)
        return
    ta_name = low.timed_array(data)
    threshold = "y != 0" if name in low.events_from else None
    low.make_group(name, [], threshold=threshold)
    if low.mode == "continuous" and low.sem.input_meaning == "increment":
        code = f"y = {ta_name}(t, i) * {low.S} * int(t_in_timesteps % {low.S} == {low.S - 1})"
    else:
        code = f"y = {ta_name}(t, i)"
    low.update(name, code)


def _build_output(low: Lowering, name: str, node: Any) -> None:
    low.make_group(name, low.input_lines(name))
    if low.mode == "continuous":
        # Average over the graph step of what arrives: restart at each step's first
        # internal step.
        low.update(name, f"y = y * int(t_in_timesteps % {low.S} != 0) + x / {low.S}")
    else:
        low.update(name, "y = x")


def _build_identity(low: Lowering, name: str, node: Any) -> None:
    # Flatten keeps row-major element order: the flat index does not change.
    low.make_group(name, low.input_lines(name))
    low.update(name, "y = x")


def _build_scale(low: Lowering, name: str, node: Any) -> None:
    low.make_group(name, low.input_lines(name),
                   params={"s": (P.param(node, "scale"), "1")})
    low.update(name, "y = s * x")


def _build_threshold(low: Lowering, name: str, node: Any) -> None:
    low.make_group(name, low.input_lines(name), params={"thr": (P.param(node, "threshold"),
                                                                 "1")},
                   threshold="y > 0.5")
    low.update(name, "y = int(x > thr)")


def _build_delay(low: Lowering, name: str, node: Any) -> None:
    lags = np.broadcast_to(delay_steps_of(node, low.dt), low.shapes[name]) * low.S
    depth = int(lags.max()) if lags.size else 0
    lines = [*low.input_lines(name), "xin : 1", "kd : integer (constant)"]
    g = low.make_group(name, lines, extra_history={"xin": depth} if depth else {})
    g.kd = np.tile(lags.ravel(), low.B)
    terms = [("xin" if k == 0 else f"xin_h{k}") + f" * int(kd == {k})"
             for k in sorted(set(lags.ravel().tolist()))]
    low.update(name, "xin = x\ny = " + " + ".join(terms))


def build_linear(low: Lowering, name: str, node: Any) -> None:
    ins = low.incoming[name]
    in_shape = low.shapes[ins[0].source] if ins else None
    if in_shape is None:  # no input: the map still needs its input shape
        in_shape = _declared_input_shape(node)
    m: LinearMap = MAP_BUILDERS[type(node)](node, tuple(in_shape))
    summed = [k for k, e in enumerate(ins) if not e.event]
    target, var = name, "y"
    if name in low.fused:
        neuron, kx = low.fused[name]
        target, var = neuron, f"x_{kx}"
    else:
        lines = [f"s_{k} : 1" for k in summed]
        bias = m.bias if m.bias is not None and np.any(m.bias != 0) else None
        params = {"bias": (bias, "1")} if bias is not None else {}
        low.make_group(name, lines, params=params)
        terms = (["bias"] if bias is not None else []) + [f"s_{k}" for k in summed]
        low.update(name, "y = " + (" + ".join(terms) or "0"))

    def connect() -> None:
        b2 = low.b2
        m_pre, m_post, m_w = m.pre, m.post, m.w
        if m_pre.size == 0:
            # An all-zero map (e.g. coupling 0): Brian2 cannot connect empty index arrays,
            # so one synapse of weight 0 keeps the pathway (and summed variables) defined.
            m_pre, m_post, m_w = np.zeros(1, int), np.zeros(1, int), np.zeros(1)
        offs_in = np.arange(low.B)[:, None] * m.n_in
        offs_out = np.arange(low.B)[:, None] * m.n_out
        pre = (offs_in + m_pre[None, :]).ravel()
        post = (offs_out + m_post[None, :]).ravel()
        for k, e in enumerate(ins):
            src = low.groups[e.source]
            w = m_w
            if e.event:
                spiking = low.emits_spikes(e.source)
                height = low.S if (spiking and _is_neuron(low.graph.nodes[e.source])
                                   and low.mode == "continuous") else 1
                w = w * height if height != 1 else w
                unit = spiking or e.source in low.spike_inputs
                on_pre = f"{var}_post += w" + ("" if unit else " * y_pre")
                syn = b2.Synapses(src, low.groups[target], "w : 1 (constant)", on_pre=on_pre,
                                  delay=e.lag * low.h * b2.second, clock=low.clock,
                                  name=low.bname[name] + f"__in{k}")
                path = syn._pathways[0]
                path.when = "groups"
                path.order = low.slot(name, 40 + k)
            else:
                syn = b2.Synapses(src, low.groups[name],
                                  f"w : 1 (constant)\ns_{k}_post = w * {e.var}_pre : 1 (summed)",
                                  clock=low.clock, name=low.bname[name] + f"__in{k}")
                for upd in syn.summed_updaters.values():
                    upd.when = "groups"
                    upd.order = low.slot(name, k % 10)
            syn.connect(i=pre, j=post)
            syn.w = np.tile(w, low.B)
            low.objects.append(syn)

    low.deferred.append(connect)


def _declared_input_shape(node: Any) -> tuple[int, ...]:
    t = node.input_type.get("input") if getattr(node, "input_type", None) else None
    return P.as_shape(t)


PULSE_TYPES.update(NEURON_TYPES)


def _is_neuron(node: Any) -> bool:
    return type(node) in PULSE_TYPES


def reset_code(reset: str, v_reset: np.ndarray, amount: np.ndarray, params: dict,
               extra: str = "") -> str:
    """The resetter's code of a discrete spiking neuron (``v`` to ``v_reset``, or minus
    ``amount``; ``y = 1`` marks the spike), adding its parameters to ``params``."""
    if reset == "to_value":
        params["v_rs"] = (v_reset, "1")
        return "v = v_rs\ny = 1" + extra
    params["v_amt"] = (amount, "1")
    return "v = v - v_amt\ny = 1" + extra


def _build_neuron(low: Lowering, name: str, node: Any) -> None:
    if low.mode == "continuous":
        _build_neuron_continuous(low, name, node)
        return
    shape = low.shapes[name]
    co = neuron_coefficients(node, low.sem, shape)
    lines = [*low.input_lines(name), "v : 1"]
    params: dict[str, tuple] = {"a_mem": (co.a_mem, "1")}
    code = []
    if co.has_current:
        lines.append("isyn : 1")
        params.update(a_syn=(co.a_syn, "1"), b_syn=(co.b_syn, "1"))
        if np.any(co.k_old):
            code.append("isyn_old = isyn")
        code.append("isyn = a_syn * isyn + b_syn * x")
    # Terms in neuron_step's order; all-zero coefficients are left out (adding +0 is exact).
    v_terms = ["a_mem * v"]
    for coef, term in (("k_old", "isyn_old"), ("k_new", "isyn"), ("k_x", "x"), ("c_v", "1")):
        values = getattr(co, "c" if coef == "c_v" else coef)
        if np.any(values):
            params[coef] = (values, "1")
            v_terms.append(coef if term == "1" else f"{coef} * {term}")
    code.append("v = " + " + ".join(v_terms))
    # Fused inputs were read above; clear them for the pathways of the coming step.
    code += [f"x_{k} = 0" for k in sorted(low.fused_into.get(name, {}))]
    threshold = reset = None
    if co.spiking:
        params["v_th"] = (co.v_threshold, "1")
        threshold = "v > v_th"
        reset = reset_code(co.reset, co.v_reset, co.reset_amount, params)
        code.append("y = 0")
    else:
        code.append("y = v")
    g = low.make_group(name, lines, params=params, threshold=threshold, reset=reset)
    g.v = np.tile(co.v_initial.ravel(), low.B)
    low.update(name, "\n".join(code))


def equal_time_constants(node: Any, shape) -> np.ndarray:
    return np.isclose(P.param(node, "tau_syn", shape), P.param(node, "tau_mem", shape),
                      rtol=1e-9, atol=0.0)


def _build_neuron_continuous(low: Lowering, name: str, node: Any) -> None:
    shape = low.shapes[name]
    t = type(node)
    par = lambda p: P.param(node, p, shape)  # noqa: E731
    lines = low.input_lines(name)
    params: dict[str, tuple] = {"r": (par("r"), "ohm")}
    v0 = np.zeros(shape)
    if t in (P.I, P.IF):
        # NIR: v' = R I. spikecore reads it with time in seconds (the discrete contract
        # v += dt * r * x), so the equation carries an explicit 1 s.
        lines.append("dv/dt = r * (x * amp) / second : volt")
    elif t in (P.LI, P.LIF):
        params.update(tau=(par("tau"), "second"), v_leak=(par("v_leak"), "volt"))
        lines.append("dv/dt = (v_leak - v + r * (x * amp)) / tau : volt")
        v0 = par("v_leak")
    else:
        tau_syn = "tau_mem" if np.all(equal_time_constants(node, shape)) else "tau_syn"
        params.update(tau_mem=(par("tau_mem"), "second"), v_leak=(par("v_leak"), "volt"),
                      w_in=(par("w_in"), "1"))
        if tau_syn == "tau_syn":
            params["tau_syn"] = (par("tau_syn"), "second")
        lines += [f"disyn/dt = (w_in * (x * amp) - isyn) / {tau_syn} : amp",
                  "dv/dt = (v_leak - v + r * isyn) / tau_mem : volt"]
        v0 = par("v_leak")
    spiking = P.SPECS[t].spiking
    threshold = reset = None
    if spiking:
        params["v_th"] = (par("v_threshold"), "volt")
        threshold = "v > v_th"
        if low.sem.reset == "to_value":
            params["v_rs"] = (par("v_reset"), "volt")
            reset = f"v = v_rs\ny = {low.S}"
        else:
            params["v_amt"] = (par("v_threshold") - par("v_reset"), "volt")
            reset = f"v = v - v_amt\ny = {low.S}"
    # v' = R I does not depend on v: forward Euler is its exact solution (and Brian2's
    # symbolic solvers reject it as it does not depend on a state variable).
    method = "euler" if t in (P.I, P.IF) else "exact"
    g = low.make_group(name, lines, params=params, threshold=threshold, reset=reset,
                       method=method)
    g.v = np.tile(v0.ravel(), low.B) * low.b2.volt
    g.state_updater.when = "groups"
    g.state_updater.order = low.slot(name, 5)
    low.update(name, "y = 0" if spiking else "y = v / volt")


def _continuous_neuron_problems(graph: Graph, name: str, node: Any,
                                options: Mapping[str, Any]) -> list[str]:
    if options.get("mode", "discrete") != "continuous":
        return []
    if type(node) not in (P.CubaLI, P.CubaLIF):
        return []
    eq = equal_time_constants(node, graph.shapes()[name])
    if np.any(eq) and not np.all(eq):
        return [f"{name!r} ({P.type_name(node)}): continuous mode needs tau_syn == tau_mem "
                "for all elements or for none (the exact solution differs between the two "
                f"cases); {int(eq.sum())} of {eq.size} are equal; split the node in two"]
    return []


def _delay_problems(graph: Graph, name: str, node: Any, options: Mapping[str, Any]) -> list[str]:
    lag = int(delay_steps_of(node, float(graph.semantics.dt)).max(initial=0))
    lag *= int(options.get("substeps", 1) or 1)
    if lag > MAX_HISTORY:
        return [f"{name!r} (Delay): {lag} internal steps of delay exceed the limit of "
                f"{MAX_HISTORY} history copies; use fewer substeps or shorter delays"]
    return []


def _linear_problems(graph: Graph, name: str, node: Any, options: Mapping[str, Any]
                     ) -> list[str]:
    if isinstance(node, P.Conv2d) and isinstance(node.padding, str) and node.padding == "same":
        stride = np.atleast_1d(np.asarray(node.stride))
        if np.any(stride != 1):
            return [f"{name!r} (Conv2d): padding='same' needs stride 1 (as in torch), got "
                    f"stride={node.stride!r}"]
    if isinstance(node, P.Conv1d) and isinstance(node.padding, str) and node.padding == "same":
        if np.any(np.atleast_1d(np.asarray(node.stride)) != 1):
            return [f"{name!r} (Conv1d): padding='same' needs stride 1 (as in torch), got "
                    f"stride={node.stride!r}"]
    return []


_NEURON_NOTE = ("discrete: the contract's update with spikecore.discrete coefficients as "
                "per-neuron parameters; continuous: exact integration of the NIR ODE with "
                "units")
MAP_NOTE = "index-mapped Synapses (summed variable, or on_pre pathway for spiking sources)"

BUILDERS.update({
    P.Input: Lowerer(_build_input, "TimedArray per batch element and step (0/1 inputs "
                     "feeding only maps: SpikeGeneratorGroup)"),
    P.Output: Lowerer(_build_output, "recorded every step (continuous: step average)"),
    P.Flatten: Lowerer(_build_identity, "identity on row-major flat indices"),
    P.Scale: Lowerer(_build_scale, "y = scale * x per element"),
    P.Threshold: Lowerer(_build_threshold, "y = x > threshold (0/1), recorded as spikes"),
    P.Delay: Lowerer(_build_delay, "per-element delay in whole steps (history copies, "
                     f"up to {MAX_HISTORY} internal steps)", _delay_problems),
    P.Affine: Lowerer(build_linear, MAP_NOTE + ", bias per output"),
    P.Linear: Lowerer(build_linear, MAP_NOTE),
    P.Conv1d: Lowerer(build_linear, MAP_NOTE + "; torch conv1d semantics", _linear_problems),
    P.Conv2d: Lowerer(build_linear, MAP_NOTE + "; torch conv2d semantics", _linear_problems),
    P.SumPool2d: Lowerer(build_linear, MAP_NOTE + "; window sum"),
    P.AvgPool2d: Lowerer(build_linear, MAP_NOTE + "; window mean, count_include_pad=True"),
    **{t: Lowerer(_build_neuron, _NEURON_NOTE, _continuous_neuron_problems)
       for t in NEURON_TYPES},
})
