"""Morris-Lecar with conductance input (``input_kind="current+conductance"``).

The input is stacked ``(I, g)``; the input term of the update is ``I + g (e_syn - V)`` with
``V = V[t-1]`` (docs/semantics.md §7). Checked here:

* one step by hand from the ODE's formula (plain Python floats, not spikecore code) equals
  the numpy contract, Brian2 and torch;
* the numpy contract (spikecore.extensions.morris_lecar_step, run by a loop written
  here) == Brian2 == torch over a recurrent conductance-coupled graded network: identical
  crossings, V and w within 1e-9 (TOLERANCE);
* physics: a conductance whose reversal potential is the resting voltage leaves a resting
  neuron at rest (a pure shunt drives no current), while the same conductance with
  e_syn = 0 mV depolarises it;
* physics: two identical type I neurons with fast mutual inhibition (graded ``s_inf(V)``
  synapses, instantaneous, e_syn = -80 mV) under constant drive leave a near-synchronous
  start and lock in anti-phase (phase difference 0.5 cycle). Fast inhibition pushes
  oscillators apart; only synapses slower than the spike synchronise (van Vreeswijk,
  Abbott & Ermentrout 1994, J Comput Neurosci 1:313; Wang & Rinzel 1992, Neural Comput
  4:84 for reciprocal inhibition with fast synapses). Tolerance 0.02 cycle: the spike
  steps quantise the phase by dt / period ~ 0.003 (dt = 0.2 ms, period ~ 61 ms);
* files (old records without the new fields still read), validation, the network builder.
"""

from __future__ import annotations

import math

import nir
import numpy as np
import pytest
import torch
from scipy.optimize import brentq
from spikecore.models import morris_lecar_network
from spikecore.models.networks_more import E_SYN_EXCITATORY, E_SYN_INHIBITORY

import spikecore as sc
from spikecore import extensions as X
from spikecore import primitives as P
from spikecore.errors import GraphError, InputError
from spikecore.extensions import (
    morris_lecar_coefficients,
    morris_lecar_step,
    source_stream,
    split_morris_lecar_input,
)
from spikecore.testing import assert_close_arrays

#: V in mV over thousands of steps: libm tanh/cosh ulps and differently ordered sums
#: (Brian2's sympy, the Linear maps); measured <= 2e-13 mV.
TOLERANCE = 1e-9
TORCH = {"dtype": torch.float64}
E_SYN = np.array([0.0, -80.0, -20.0])


def _single(v0: np.ndarray, e_syn: np.ndarray, kind: str = "I", dt: float = 1e-4
            ) -> sc.Graph:
    n = v0.size
    node = X.MorrisLecar.of_type(kind, n, v0=v0, w0=0.1, e_syn=e_syn,
                                 input_kind=X.ML_CONDUCTANCE)
    return sc.Graph({"in": P.Input(np.array([2 * n])), "ml": node}, [("in", "ml")],
                    sc.Semantics(dt=dt), name="ml_cond")


def _run_all(graph: sc.Graph, inputs, steps: int, record) -> dict[str, sc.Result]:
    return {"brian2": sc.simulate(graph, inputs, backend="brian2", steps=steps, record=record),
            "torch": sc.simulate(graph, inputs, backend="torch", steps=steps, record=record,
                                 **TORCH)}


# ------------------------------------------------------------------ one step by hand
def test_one_step_equals_the_formula_computed_by_hand() -> None:
    v0, w0, current, g, e = -20.0, 0.1, 3.0, 0.7, -80.0
    p = X.MORRIS_LECAR_TYPE_I
    h = 0.1  # dt = 0.1 ms
    m = 0.5 * (1 + math.tanh((v0 - p["v1"]) / p["v2"]))
    i_ion = (p["g_l"] * (v0 - p["v_l"]) + p["g_ca"] * m * (v0 - p["v_ca"])
             + p["g_k"] * w0 * (v0 - p["v_k"]))
    v1 = v0 + h / p["c_m"] * (current + g * (e - v0) - i_ion)
    w_inf = 0.5 * (1 + math.tanh((v0 - p["v3"]) / p["v4"]))
    w1 = w0 + h * p["phi"] * math.cosh((v0 - p["v3"]) / (2 * p["v4"])) * (w_inf - w0)

    graph = _single(np.array([v0]), np.array([e]))
    node = graph.nodes["ml"]
    x = np.array([[[current, g]]])
    i_in, g_in = split_morris_lecar_input(node, x[:, 0], (2,), (1,))
    co = morris_lecar_coefficients(node, graph.semantics, (1,))
    _, (v_np, w_np) = morris_lecar_step(np, co, (node.v0[None], node.w0[None]), i_in, g_in)
    assert v_np[0, 0] == pytest.approx(v1, rel=1e-14, abs=1e-12)
    assert w_np[0, 0] == pytest.approx(w1, rel=1e-14, abs=1e-15)
    for b, r in _run_all(graph, {"in": x}, 1, ["ml:v", "ml:w"]).items():
        assert r.traces["ml"]["v"][0, 0, 0] == pytest.approx(v1, rel=1e-14, abs=1e-12), b
        assert r.traces["ml"]["w"][0, 0, 0] == pytest.approx(w1, rel=1e-14, abs=1e-15), b
    # the conductance term is what moved V: without it the step lands elsewhere
    assert abs(v1 - (v0 + h / p["c_m"] * (current - i_ion))) > 0.1


# ------------------------------------------------------------------ contract == engines
def _numpy_network(graph: sc.Graph, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """drive -> neurons <- coupling (delay 1) <- neurons, by the numpy contract."""
    sem, nrn = graph.semantics, graph.nodes["neurons"]
    n = nrn.v0.size
    drive, _ = source_stream(graph.nodes["drive"], "drive", sem, 1, 0, steps, (2 * n,))
    J = graph.nodes["coupling"].weight
    co = morris_lecar_coefficients(nrn, sem, (n,))
    v, w, s = nrn.v0[None].copy(), nrn.w0[None].copy(), np.zeros((1, n))
    vs, ws = np.zeros((1, steps, n)), np.zeros((1, steps, n))
    for t in range(steps):
        x = drive[:, t] + (s @ J.T if t > 0 else 0.0)
        i_in, g_in = split_morris_lecar_input(nrn, x, (2 * n,), (n,))
        s, (v, w) = morris_lecar_step(np, co, (v, w), i_in, g_in)
        vs[:, t], ws[:, t] = v, w
    return vs, ws


@pytest.mark.parametrize("e_syn", [E_SYN_EXCITATORY, E_SYN_INHIBITORY])
def test_numpy_brian2_and_torch_agree_on_a_conductance_coupled_network(e_syn: float) -> None:
    g = morris_lecar_network(6, kind="I", coupling=1.0, sigma=1.0, seed=3, dt=1e-4,
                             synapse="conductance", e_syn=e_syn)
    steps = 3000
    v_ref, w_ref = _numpy_network(g, steps)
    runs = _run_all(g, None, steps, ["neurons:v", "neurons:w"])
    crossings = (v_ref[:, :-1] <= 0) & (v_ref[:, 1:] > 0)
    assert crossings.sum() >= 6  # the neurons fire
    for b, r in runs.items():
        v = r.traces["neurons"]["v"]
        np.testing.assert_array_equal((v[:, :-1] <= 0) & (v[:, 1:] > 0), crossings, b)
        assert_close_arrays(v, v_ref, TOLERANCE, f"{b} V (mV)")
        assert_close_arrays(r.traces["neurons"]["w"], w_ref, TOLERANCE, f"{b} w")


def test_spiking_neuron_with_conductance_input_agrees_on_all_engines() -> None:
    graph = _single(np.array([-30.0, -30.0, -30.0]), E_SYN)
    steps = 2000
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.uniform(40, 60, (2, steps, 3)), rng.uniform(0, 1, (2, steps, 3))],
                       axis=2)
    node = graph.nodes["ml"]
    v, w = np.broadcast_to(node.v0, (2, 3)).copy(), np.broadcast_to(node.w0, (2, 3)).copy()
    z_ref, v_ref = np.zeros((2, steps, 3), bool), np.zeros((2, steps, 3))
    co = morris_lecar_coefficients(node, graph.semantics, (3,))
    for t in range(steps):
        i_in, g_in = split_morris_lecar_input(node, x[:, t], (6,), (3,))
        z_ref[:, t], (v, w) = morris_lecar_step(np, co, (v, w), i_in, g_in)
        v_ref[:, t] = v
    assert z_ref.sum() >= 6
    for b, r in _run_all(graph, {"in": x}, steps, ["spikes", "ml:v"]).items():
        np.testing.assert_array_equal(r.spikes["ml"], z_ref, b)
        assert_close_arrays(r.traces["ml"]["v"], v_ref, TOLERANCE, f"{b} V (mV)")


# ------------------------------------------------------------------ physics
def _rest(p: dict) -> float:
    def f(v):
        m = 0.5 * (1 + np.tanh((v - p["v1"]) / p["v2"]))
        w = 0.5 * (1 + np.tanh((v - p["v3"]) / p["v4"]))
        return -p["g_l"] * (v - p["v_l"]) - p["g_ca"] * m * (v - p["v_ca"]) - p["g_k"] * w * (
            v - p["v_k"])
    return brentq(f, -80.0, -20.0, xtol=1e-14)


def test_a_conductance_at_its_reversal_potential_drives_no_current() -> None:
    p = X.MORRIS_LECAR_TYPE_I
    v_rest = _rest(p)
    w_rest = 0.5 * (1 + np.tanh((v_rest - p["v3"]) / p["v4"]))
    graph = _single(np.full(2, v_rest), np.array([v_rest, 0.0]))
    graph.nodes["ml"].w0 = np.full(2, w_rest)
    steps = 500
    x = np.zeros((1, steps, 4))
    x[..., 2:] = 2.0  # a strong conductance (the leak's g_l = 2) into both neurons
    for b, r in _run_all(graph, {"in": x}, steps, ["ml:v"]).items():
        v = r.traces["ml"]["v"][0]
        # e_syn = V_rest: a pure shunt; V stays at rest to rounding
        assert_close_arrays(v[:, 0], np.full(steps, v_rest), 1e-9, f"{b} shunt")
        # e_syn = 0 mV: the same conductance depolarises by > 10 mV
        assert v[-1, 1] > v_rest + 10.0, b


def _phases(v: np.ndarray, dt: float) -> np.ndarray:
    """Phase of neuron 1's first crossing within each of neuron 0's cycles."""
    up = (v[:-1] <= 0) & (v[1:] > 0)
    t0, t1 = np.flatnonzero(up[:, 0]) * dt, np.flatnonzero(up[:, 1]) * dt
    out = []
    for a, b in zip(t0[:-1], t0[1:], strict=True):
        inside = t1[(t1 >= a) & (t1 < b)]
        if inside.size:
            out.append((inside[0] - a) / (b - a))
    return np.array(out)


def test_mutual_fast_inhibition_locks_two_type_I_neurons_in_anti_phase() -> None:
    dt = 2e-4
    g = morris_lecar_network(2, kind="I", coupling=0.5, I_app=60.0, synapse="conductance",
                             e_syn=E_SYN_INHIBITORY, dt=dt)
    nrn = g.nodes["neurons"]
    nrn.v0 = np.array([-30.0, -28.0])  # nearly synchronous start
    nrn.w0 = 0.5 * (1 + np.tanh((nrn.v0 - nrn.v3) / nrn.v4))
    runs = _run_all(g, None, 4000, ["neurons:v"])
    for b, r in runs.items():
        ph = _phases(r.traces["neurons"]["v"][0], dt)
        assert ph.size >= 10, b
        assert abs(ph[0] - 0.5) > 0.1, (b, ph)  # not anti-phase at first ...
        np.testing.assert_allclose(ph[-5:], 0.5, atol=0.02, err_msg=b)  # ... but at the end


# ------------------------------------------------------------------ files, validation
def test_old_records_without_the_new_fields_still_read(tmp_path) -> None:
    node = X.MorrisLecar.of_type("II", 2)
    rec = X.to_record(node)
    for k in ("e_syn", "input_kind"):
        rec.pop(k)
    rec["scalar_fields"] = ",".join(f for f in str(rec["scalar_fields"]).split(",")
                                    if f != "e_syn")
    back = X.from_record(rec, "ml")
    assert back.input_kind == X.ML_CURRENT and float(back.e_syn) == 0.0
    cond = _single(np.array([-30.0, -20.0, -10.0]), E_SYN)
    again = sc.read(sc.write(cond, tmp_path / "c.nir")).nodes["ml"]
    assert again.input_kind == X.ML_CONDUCTANCE
    np.testing.assert_array_equal(again.e_syn, E_SYN)


def test_validation_of_input_kind_and_shapes() -> None:
    bad = X.MorrisLecar.of_type("I", 2, input_kind="conductance")
    g = sc.Graph({"in": P.Input(np.array([2])), "ml": bad}, [("in", "ml")],
                 sc.Semantics(dt=1e-4))
    with pytest.raises(GraphError) as err:
        g.validate()
    assert ("node 'ml' (MorrisLecar): input_kind='conductance'; expected one of 'current', "
            "'current+conductance'") in "\n".join(err.value.problems)
    cond = X.MorrisLecar.of_type("I", 2, input_kind=X.ML_CONDUCTANCE)
    g = sc.Graph({"in": P.Input(np.array([2])), "ml": cond}, [("in", "ml")],
                 sc.Semantics(dt=1e-4))
    with pytest.raises(GraphError, match=r"takes \(2, 2\) or \(4,\)"):
        g.validate()
    ok = sc.Graph({"in": P.Input(np.array([2, 2])), "ml": cond}, [("in", "ml")],
                  sc.Semantics(dt=1e-4))
    assert ok.validate().shapes()["ml"] == (2,)


def test_network_builder_conductance_structure_and_errors() -> None:
    g = morris_lecar_network(4, kind="II", coupling=2.0, synapse="conductance",
                             e_syn=E_SYN_INHIBITORY, seed=1)
    nrn = g.nodes["neurons"]
    assert nrn.input_kind == X.ML_CONDUCTANCE
    np.testing.assert_array_equal(nrn.e_syn, -80.0)
    J = g.nodes["coupling"].weight
    assert J.shape == (8, 4)
    np.testing.assert_array_equal(J[:4], 0.0)  # the current half gets no coupling
    np.testing.assert_array_equal(np.diag(J[4:]), 0.0)
    np.testing.assert_allclose(J[4:].sum(axis=1), 2.0, rtol=1e-15)
    np.testing.assert_array_equal(g.nodes["drive"].mean, [100.0] * 4 + [0.0] * 4)
    np.testing.assert_array_equal(g.nodes["drive"].sigma[4:], 0.0)
    assert isinstance(g.nodes["coupling"], nir.Linear)
    for kwargs, match in [({"synapse": "gap"}, "synapse="),
                          ({"synapse": "conductance", "coupling": -1.0}, "coupling="),
                          ({"e_syn": float("nan")}, "e_syn=")]:
        with pytest.raises(InputError, match=match):
            morris_lecar_network(**kwargs)
