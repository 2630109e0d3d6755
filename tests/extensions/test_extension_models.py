"""CondLIF, Izhikevich and Morris-Lecar: exact updates, fixed points, files, plain NIR.

Expected values come from tests/extension_reference.py (docs/semantics.md §7 transcribed),
from scipy (the membrane ODE for fixed conductances, fixed points of the model ODEs), and
from closed forms computed here; never from spikecore's own step functions.
"""

from __future__ import annotations

import numpy as np
import pytest
from extension_reference import (
    DT,
    ML_DT,
    SEMANTICS,
    cond_graph,
    izhikevich_graph,
    morris_lecar_graph,
    reference,
)
from scipy.integrate import solve_ivp
from scipy.optimize import brentq

import spikecore as sc
from spikecore import extensions as X
from spikecore import primitives as P
from spikecore.errors import GraphError, UnsupportedError
from spikecore.extensions import (
    cond_lif_coefficients,
    cond_lif_step,
    izhikevich_coefficients,
    izhikevich_step,
    morris_lecar_coefficients,
    morris_lecar_step,
    split_conductance_input,
    upward_crossing,
)
from spikecore.testing import assert_close_arrays

STEPS = 150
ML_STEPS = 1500
#: Inputs in 1/16 and weights in 1/8 (izhikevich_graph): every sum is exact.
_IZH_INPUT = np.round(16 * np.random.default_rng(7).uniform(0, 3, (1, STEPS, 3))) / 16
#: The reference writes the Morris-Lecar ODE literally (divides by tau_w = 1/cosh, sums
#: the ionic currents first); the contract (spikecore.extensions.morris_lecar) multiplies
#: by cosh and subtracts term by term.
#: Both are the documented update; the orders round differently (1 ulp of V ~ 1e-14 mV),
#: and the slow w dynamics accumulate it over 1500 steps (measured: < 3e-13 mV in V, < 2e-15 in w).
ML_V_ATOL, ML_W_ATOL = 1e-10, 1e-12
COND_SEMANTICS = {**SEMANTICS, "euler_voltage_first": dict(update_order="voltage_first")}


def test_registry_states_and_spiking() -> None:
    assert P.SPECS[X.CondLIF].states == ("g_exc", "g_inh", "v") and P.SPECS[X.CondLIF].spiking
    assert P.SPECS[X.Izhikevich].states == ("v", "u") and P.SPECS[X.Izhikevich].spiking
    assert P.SPECS[X.MorrisLecar].states == ("v", "w") and P.SPECS[X.MorrisLecar].spiking
    assert not P.SPECS[X.MorrisLecarGraded].spiking
    assert {"CondLIF", "Izhikevich", "MorrisLecar", "MorrisLecarGraded"} <= set(X.EXTENSION_TYPES)


# ====================================================================== exact updates
@pytest.mark.parametrize("sem", sorted(COND_SEMANTICS))
def test_cond_lif_step_equals_the_documented_update(sem: str) -> None:
    semantics = sc.Semantics(dt=DT, **COND_SEMANTICS[sem])
    g = cond_graph(semantics)
    node, shape = g.nodes["n"], g.shapes()["n"]
    ref = reference(g, {"in": np.random.default_rng(1).uniform(0, 3, (1, STEPS, 3))}, STEPS)
    co = cond_lif_coefficients(node, semantics, shape)
    ge, gi, v = np.zeros(shape), np.zeros(shape), node.v_leak.copy()
    for t in range(STEPS):
        xe, xi = split_conductance_input(ref["received"]["n"][0, t], (2 * shape[0],), shape)
        z, (ge, gi, v) = cond_lif_step(np, co, (ge, gi, v), xe, xi)
        assert np.array_equal(z, ref["spikes"]["n"][0, t]), t
        for name, got in (("g_exc", ge), ("g_inh", gi), ("v", v)):
            assert_close_arrays(got, ref["traces"]["n"][name][0, t], 0.0, f"{name}[{t}]")
    assert 20 < ref["spikes"]["n"].sum() < 0.5 * STEPS * shape[0]
    # inhibition acts: the membrane is pulled below rest towards e_inh at some point
    assert ref["traces"]["n"]["v"].min() < 0 < ref["traces"]["n"]["g_inh"].max()


def test_cond_lif_exact_step_solves_the_membrane_ode_for_fixed_conductances() -> None:
    """One exact step from (g = 0, v) with jumps (ge, gi), against scipy's ODE solution of
    tau dv/dt = (v_leak - v) + r ge (e_exc - v) + r gi (e_inh - v) over dt."""
    n = 3
    node = X.CondLIF(tau_mem=np.array([0.01, 0.02, 0.03]), r=np.array([1.0, 0.5, 2.0]),
                     v_leak=np.array([-0.2, 0.0, 0.1]), v_threshold=np.full(n, 50.0),
                     v_reset=np.zeros(n), tau_exc=np.full(n, 0.005), tau_inh=np.full(n, 0.01),
                     e_exc=np.full(n, 4.0), e_inh=np.full(n, -1.0))
    sem = sc.Semantics(dt=DT, integrator="exact")
    ge, gi, v0 = np.array([0.3, 1.2, 0.0]), np.array([0.5, 0.0, 2.0]), np.array([0.4, -0.3, 0.2])
    co = cond_lif_coefficients(node, sem, (n,))
    _, (ge1, gi1, v1) = cond_lif_step(np, co, (np.zeros(n), np.zeros(n), v0), ge, gi)
    assert np.array_equal(ge1, ge) and np.array_equal(gi1, gi)
    for j in range(n):
        def rhs(_t, v, j=j):
            return ((node.v_leak[j] - v) + node.r[j] * ge[j] * (node.e_exc[j] - v)
                    + node.r[j] * gi[j] * (node.e_inh[j] - v)) / node.tau_mem[j]
        sol = solve_ivp(rhs, (0, DT), [v0[j]], rtol=1e-12, atol=1e-14)
        assert abs(v1[j] - sol.y[0, -1]) < 1e-10, j


def test_cond_lif_input_shape_is_stacked_and_checked() -> None:
    g = cond_graph(sc.Semantics(dt=DT))
    assert g.shapes()["n"] == (4,) and g.shapes()["we"] == (8,)
    x = np.arange(8.0).reshape(1, 8)
    xe, xi = split_conductance_input(x, (8,), (4,))
    assert np.array_equal(xe, [[0, 1, 2, 3]]) and np.array_equal(xi, [[4, 5, 6, 7]])
    xe2, xi2 = split_conductance_input(x.reshape(1, 2, 4), (2, 4), (4,))
    assert np.array_equal(xe2, xe) and np.array_equal(xi2, xi)
    # a pathway that forgot the inhibitory half
    g = sc.Graph({"in": P.Input(np.array([3])), "w": P.Linear(np.ones((4, 3))),
                  "n": g.nodes["n"]}, [("in", "w"), ("w", "n")], sc.Semantics(dt=DT))
    with pytest.raises(GraphError) as err:
        g.validate()
    assert any("a CondLIF of shape (4,) takes (2, 4) or (8,)" in p for p in err.value.problems)


def test_izhikevich_step_equals_the_documented_update() -> None:
    sem = sc.Semantics(dt=DT)
    g = izhikevich_graph(sem)
    node, shape = g.nodes["izh"], (5,)
    ref = reference(g, {"in": _IZH_INPUT}, STEPS)
    v, u = node.v0.copy(), node.u0.copy()
    for t in range(STEPS):
        z, (v, u) = izhikevich_step(np, izhikevich_coefficients(node, sem, shape), (v, u),
                                    ref["received"]["izh"][0, t])
        assert np.array_equal(z, ref["spikes"]["izh"][0, t]), t
        assert_close_arrays(v, ref["traces"]["izh"]["v"][0, t], 0.0, f"v[{t}]")
        assert_close_arrays(u, ref["traces"]["izh"]["u"][0, t], 0.0, f"u[{t}]")
    assert np.all(ref["spikes"]["izh"].sum(axis=(0, 1)) > 0)  # every cell type fires


def test_izhikevich_rest_is_the_fixed_point_of_the_paper_equations() -> None:
    """With I = 0 the RS cell (a, b = 0.02, 0.2) rests at the stable root of
    0.04 v^2 + (5 - b) v + 140 = 0 (v = -70 mV, u = b v): the update must stay there, and
    relax back to it from a small perturbation."""
    a, b = 0.02, 0.2
    roots = np.roots([0.04, 5 - b, 140])
    v_rest = float(roots.real.min())
    node = X.Izhikevich(a=np.full(2, a), b=np.full(2, b), c=np.full(2, -65.0),
                        d=np.full(2, 8.0), v0=np.array([v_rest, v_rest + 2.0]),
                        u0=np.full(2, b * v_rest))
    co = izhikevich_coefficients(node, sc.Semantics(dt=1e-3), (2,))  # h = 1 (ms)
    assert co.h == 1.0
    v, u = node.v0.copy(), node.u0.copy()
    for _ in range(3000):
        z, (v, u) = izhikevich_step(np, co, (v, u), np.zeros(2))
        assert not z.any()
    assert_close_arrays(v, np.full(2, v_rest), 1e-6, "v at rest")
    assert_close_arrays(u, np.full(2, b * v_rest), 1e-6, "u at rest")


@pytest.mark.parametrize("integrator", ["euler", "exact"])
def test_morris_lecar_step_equals_the_documented_update(integrator: str) -> None:
    sem = sc.Semantics(dt=ML_DT, integrator=integrator)
    g = morris_lecar_graph(sem)
    ref = reference(g, {"in": np.full((1, ML_STEPS, 2), 1.0)}, ML_STEPS)
    for name in ("ml", "mlg"):
        node = g.nodes[name]
        v, w = node.v0.copy(), node.w0.copy()
        for t in range(ML_STEPS):
            v_old = v
            y, (v, w) = morris_lecar_step(np, morris_lecar_coefficients(node, sem, (3,)), (v, w),
                                          ref["received"][name][0, t])
            z = upward_crossing(v_old, v, node.v_threshold)
            assert_close_arrays(v, ref["traces"][name]["v"][0, t], ML_V_ATOL, f"{name} v[{t}]")
            assert_close_arrays(w, ref["traces"][name]["w"][0, t], ML_W_ATOL, f"{name} w[{t}]")
            if name == "ml":
                assert np.array_equal(z, ref["spikes"]["ml"][0, t]), t
    assert ref["spikes"]["ml"].sum() >= 3


def _ml_rest(params: dict, current: float) -> float:
    """The resting V of the Morris-Lecar ODE (scipy root of dV/dt = 0 on w = w_inf(V))."""
    p = params

    def f(v):
        m = 0.5 * (1 + np.tanh((v - p["v1"]) / p["v2"]))
        w = 0.5 * (1 + np.tanh((v - p["v3"]) / p["v4"]))
        return (current - p["g_l"] * (v - p["v_l"]) - p["g_ca"] * m * (v - p["v_ca"])
                - p["g_k"] * w * (v - p["v_k"]))
    return brentq(f, -80.0, -20.0)


@pytest.mark.parametrize("kind", ["I", "II"])
def test_morris_lecar_rest_is_the_fixed_point_of_the_ode(kind: str) -> None:
    params = X.MORRIS_LECAR_TYPE_I if kind == "I" else X.MORRIS_LECAR_TYPE_II
    v_rest = _ml_rest(params, 0.0)
    w_rest = 0.5 * (1 + np.tanh((v_rest - params["v3"]) / params["v4"]))
    node = X.MorrisLecar.of_type(kind, 1, v0=v_rest, w0=w_rest)
    sem = sc.Semantics(dt=ML_DT, integrator="exact")
    co = morris_lecar_coefficients(node, sem, (1,))
    v, w = node.v0.copy(), node.w0.copy()
    for _ in range(2000):
        z, (v, w) = morris_lecar_step(np, co, (v, w), np.zeros(1))
        assert not z.any()
    assert abs(v[0] - v_rest) < 1e-9 and abs(w[0] - w_rest) < 1e-12


def test_morris_lecar_parameter_sets_and_validation() -> None:
    assert X.MORRIS_LECAR_TYPE_I["g_ca"] == 4.0 and X.MORRIS_LECAR_TYPE_II["g_ca"] == 4.4
    with pytest.raises(ValueError, match="expected 'I' or 'II'"):
        X.MorrisLecar.of_type("III", 2)
    bad = X.MorrisLecar.of_type("I", 2, c_m=-1.0, v2=0.0)
    g = sc.Graph({"in": P.Input(np.array([2])), "ml": bad}, [("in", "ml")],
                 sc.Semantics(dt=ML_DT))
    with pytest.raises(GraphError) as err:
        g.validate()
    text = "\n".join(err.value.problems)
    assert "'ml' (MorrisLecar): 'c_m' has value(s) <= 0 (min -1); expected > 0" in text
    assert "'ml' (MorrisLecar): 'v2' has zero value(s)" in text


# ====================================================================== files, plain NIR
def _graphs():
    return {"cond": cond_graph(sc.Semantics(dt=DT, integrator="exact")),
            "izh": izhikevich_graph(sc.Semantics(dt=DT)),
            "ml": morris_lecar_graph(sc.Semantics(dt=ML_DT))}


@pytest.mark.parametrize("case", ["cond", "izh", "ml"])
def test_models_round_trip_through_a_spikecore_file(case: str, tmp_path) -> None:
    g = _graphs()[case]
    back = sc.read(sc.write(g, tmp_path / "g.nir"))
    assert list(back.nodes) == list(g.nodes) and back.edges == g.edges
    assert back.semantics == g.semantics
    for n, node in g.nodes.items():
        if not X.is_extension(node):
            continue
        assert type(back.nodes[n]) is type(node)
        for k, v in node.fields().items():
            got = back.nodes[n].fields()[k]
            if isinstance(v, np.ndarray):  # scalars (v_peak, k_syn...) keep shape ()
                assert got.shape == v.shape and np.array_equal(got, v), (n, k)
            else:
                assert got == v, (n, k)


def test_plain_nir_export_is_refused_naming_each_model_node() -> None:
    g = _graphs()
    problems = []
    for case in ("cond", "izh", "ml"):
        with pytest.raises(UnsupportedError) as err:
            sc.to_nir(g[case], plain=True)
        problems += err.value.problems
    for line in (
        "'n' (CondLIF): conductance-based LIF; input (2, n): excitatory, inhibitory; no NIR "
        "1.0 node or composition is exact",
        "'izh' (Izhikevich): Izhikevich 2003 (mV, ms; two half-steps for v); no NIR 1.0 node "
        "or composition is exact",
        "'ml' (MorrisLecar): Morris-Lecar (mV, ms); spike = upward crossing of v_threshold; "
        "no NIR 1.0 node or composition is exact",
        "'mlg' (MorrisLecarGraded): Morris-Lecar (mV, ms); graded output s_inf(V); no NIR "
        "1.0 node or composition is exact",
    ):
        assert line in problems


def test_morris_lecar_spike_counts_a_rise_from_exactly_the_threshold() -> None:
    """The spike is ``V[t-1] <= v_threshold < V[t]``: leaving the threshold itself upwards is
    a crossing (``<`` there would miss it), staying at or below it is not."""
    thr = float(np.ravel(X.MorrisLecar.of_type("I", 1).v_threshold)[0])
    node = X.MorrisLecar.of_type("I", 1, v0=thr)
    co = morris_lecar_coefficients(node, sc.Semantics(dt=ML_DT), (1,))
    z, (v, _) = morris_lecar_step(np, co, (node.v0.copy(), node.w0.copy()), np.array([500.0]))
    assert v[0] > thr and bool(z[0]), (v, z)
    z, (v, _) = morris_lecar_step(np, co, (node.v0.copy(), node.w0.copy()), np.array([-500.0]))
    assert v[0] < thr and not bool(z[0]), (v, z)
