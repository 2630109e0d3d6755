"""Brian2 continuous mode for the extension primitives (backends/brian2/continuous_ext.py).

Three kinds of checks, numpy codegen target, small sizes:

* Exact cases: with ``substeps=1`` and ``integrator='exact'`` continuous mode *is* the
  discrete contract for RefractoryLIF/RefractoryCubaLIF (spikes, v, i), RateUnit (x, y),
  CondLIF (spikes, v; update_order current_first; its recorded g is the end-of-step value
  ``a_exc g[t]``), the sources and SparseLinear; ALIF follows the same recurrences with
  the threshold read after the decay of ``a`` (tested against that closed form).
  Tolerance: states to ``EXACT_ATOL`` (Brian2's symbolic solutions round differently).
* Convergence: Izhikevich, Morris-Lecar and CondLIF at ``substeps`` S against the
  discrete contract (:mod:`spikecore.extensions`, numpy) at a much finer dt.
* Errors: ``check`` lists every (type, mode) it cannot run at once, with the reason.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from extension_reference import DT, cond_graph, rate_graph, refractory_graph

import spikecore as sc
from spikecore import extensions as X
from spikecore import primitives as P
from spikecore.discrete import neuron_step
from spikecore.extensions import (
    alif_coefficients,
    cond_lif_coefficients,
    cond_lif_step,
    izhikevich_coefficients,
    izhikevich_step,
    morris_lecar_coefficients,
    morris_lecar_step,
    source_stream,
    split_conductance_input,
)
from spikecore.extensions.ltc import LTCLIF
from spikecore.extensions.sparse import SparseLinear
from spikecore.testing import assert_close_arrays, assert_same_spikes

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "papers"))
from test_morris_lecar import _i_ss_max, _rest, _w_inf, saddle_node_current  # noqa: E402

#: Brian2's symbolic exact solutions (exp of sums, rearranged by sympy) against the
#: contract's coefficient form: float64 rounding over <= 300 contracting steps.
EXACT_ATOL = 1e-9
EXACT = sc.Semantics(dt=DT, integrator="exact")
STEPS = 150


def _both(g: sc.Graph, inputs: dict | None, record, steps: int = STEPS, substeps: int = 1
          ) -> tuple[sc.Result, sc.Result]:
    d = sc.simulate(g, inputs, backend="brian2", steps=steps, record=record)
    c = sc.simulate(g, inputs, backend="brian2", steps=steps, record=record, mode="continuous",
                    substeps=substeps)
    return d, c


def _drive(steps: int = STEPS, n: int = 3, seed: int = 5) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 3, (2, steps, n))


# ======================================================================= exact cases
@pytest.mark.parametrize("kind", ["RefractoryLIF", "RefractoryCubaLIF"])
def test_refractory_with_one_substep_is_the_exact_contract(kind: str) -> None:
    g = refractory_graph(kind, EXACT)
    d, c = _both(g, {"in": _drive()}, ("spikes", "v", "i"))
    assert d.spikes["n"].sum() > 50
    assert_same_spikes(d, c)
    for s in ("v", "i") if kind == "RefractoryCubaLIF" else ("v",):
        assert_close_arrays(c.traces["n"][s], d.traces["n"][s], EXACT_ATOL, f"n:{s}")
    # the neuron with t_ref = 5 steps is refractory in continuous mode too
    assert np.all(np.diff(np.flatnonzero(c.spikes["n"][0, :, 4])) > 5)


@pytest.mark.parametrize("n_ref,substeps", [(0, 4), (2, 4), (3, 2)])
def test_refractory_window_is_n_ref_times_substeps_internal_steps(n_ref: int, substeps: int
                                                                  ) -> None:
    # A drive so strong that v crosses in the first active internal step: spikes at
    # internal steps m * (n_ref * S + 1) (held for n_ref * S internal steps after each
    # spike step), i.e. graph steps floor(m (n_ref S + 1) / S).
    node = X.RefractoryLIF(tau=np.array([0.01]), r=np.ones(1), v_leak=np.zeros(1),
                           v_threshold=np.ones(1), v_reset=np.zeros(1),
                           t_ref=np.array([n_ref * DT]))
    g = sc.Graph({"in": P.Input(np.array([1])), "n": node}, [("in", "n")], EXACT)
    steps = 40
    r = sc.simulate(g, {"in": np.full((1, steps, 1), 1e6)}, backend="brian2", steps=steps,
                    record=("spikes",), mode="continuous", substeps=substeps)
    period = n_ref * substeps + 1
    want = np.zeros(steps, bool)
    want[np.arange(0, steps * substeps, period) // substeps] = True
    np.testing.assert_array_equal(r.spikes["n"][0, :, 0], want)


def _alif_closed_form(node: X.ALIF, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact solution of the ALIF ODEs with the input held per step and the threshold
    checked at the end of each step: v as the exact LIF step, a decayed by rho, then
    z = v > v_th + beta * (rho a), reset, a += z. (The discrete contract uses the
    undecayed a[t-1] in the threshold.)"""
    shape = np.shape(node.tau)
    co = alif_coefficients(node, EXACT, shape)
    v = np.broadcast_to(co.membrane.v_initial, x.shape[:1] + shape).copy()
    a = np.zeros_like(v)
    zs, vs, as_ = (np.zeros(x.shape, bool), np.zeros(x.shape), np.zeros(x.shape))
    for t in range(x.shape[1]):
        v, _ = neuron_step(np, co.membrane, (v,), x[:, t])
        a = co.rho * a
        z = v > co.v_threshold + co.beta * a
        v = np.where(z, co.v_reset, v)  # EXACT resets to_value
        a = a + z
        zs[:, t], vs[:, t], as_[:, t] = z, v, a
    return zs, vs, as_


def test_alif_with_one_substep_reads_the_decayed_adaptation() -> None:
    rng = np.random.default_rng(1)
    n = 5
    node = X.ALIF(tau=rng.uniform(0.01, 0.03, n), r=np.ones(n), v_leak=np.zeros(n),
                  v_threshold=np.full(n, 0.5), v_reset=np.zeros(n),
                  tau_adapt=rng.uniform(0.02, 0.1, n), beta=rng.uniform(0.2, 1.0, n))
    g = sc.Graph({"in": P.Input(np.array([n])), "alif": node}, [("in", "alif")], EXACT)
    x = rng.uniform(0, 2.5, (2, STEPS, n))
    d, c = _both(g, {"in": x}, ("spikes", "v", "alif:a"))
    z, v, a = _alif_closed_form(node, x)
    assert z.sum() > 40
    np.testing.assert_array_equal(c.spikes["alif"], z)
    assert_close_arrays(c.traces["alif"]["v"], v, EXACT_ATOL, "alif:v")
    assert_close_arrays(c.traces["alif"]["a"], a, EXACT_ATOL, "alif:a")
    # ... which is not the discrete contract: its threshold is higher by beta (1-rho) a
    assert np.any(d.spikes["alif"] != c.spikes["alif"])


@pytest.mark.parametrize("phi", ["tanh", "relu", "power"])
def test_rate_unit_with_one_substep_is_the_exact_contract(phi: str) -> None:
    d, c = _both(rate_graph(phi, EXACT), None, ("x:x",))
    assert np.ptp(d.traces["x"]["x"]) > 0.1
    assert_close_arrays(c.traces["x"]["x"], d.traces["x"]["x"], EXACT_ATOL, "x:x")
    assert_close_arrays(c.outputs["out"], d.outputs["out"], EXACT_ATOL, "out")


def test_cond_lif_with_one_substep_is_the_exact_contract() -> None:
    g = cond_graph(EXACT)
    d, c = _both(g, {"in": _drive()}, ("spikes", "v", "n:g_exc", "n:g_inh"))
    assert d.spikes["n"].sum() > 50
    assert_same_spikes(d, c)
    assert_close_arrays(c.traces["n"]["v"], d.traces["n"]["v"], EXACT_ATOL, "n:v")
    # continuous records g at the end of the step: the contract's g[t] (right after the
    # jump) decayed over one step
    co = cond_lif_coefficients(g.nodes["n"], EXACT, (4,))
    for s, a in (("g_exc", co.a_exc), ("g_inh", co.a_inh)):
        assert_close_arrays(c.traces["n"][s], a * d.traces["n"][s], EXACT_ATOL, f"n:{s}")


@pytest.mark.parametrize("meaning", ["current", "increment"])
def test_sources_play_the_seeded_stream_and_poisson_spikes_carry_dt(meaning: str) -> None:
    n, S, steps = 3, 4, 60
    sem = sc.Semantics(dt=DT, integrator="exact", input_meaning=meaning)
    nodes = {"poi": X.PoissonSource(rate=np.full(n, 200.0), seed=3),
             "wn": X.WhiteNoiseSource(mean=np.full(n, 0.5), sigma=np.full(n, 0.05), seed=4),
             "ou": X.OUSource(mean=np.full(n, 0.2), sigma=np.full(n, 0.3),
                              tau=np.full(n, 0.005), seed=5),
             "w": P.Linear(np.diag([1.0, 2.0, 3.0])), "o_poi": P.Output(np.array([n])),
             "o_wn": P.Output(np.array([n])), "o_ou": P.Output(np.array([n]))}
    g = sc.Graph(nodes, [("poi", "w"), ("w", "o_poi"), ("wn", "o_wn"), ("ou", "o_ou")], sem)
    r = sc.simulate(g, None, backend="brian2", steps=steps, record=("poi:spikes",),
                    mode="continuous", substeps=S)
    stream = {k: source_stream(nodes[k], k, sem, 1, 0, steps, (n,))[0] for k in ("poi", "wn", "ou")}
    assert stream["poi"].sum() > 15
    np.testing.assert_array_equal(r.spikes["poi"], stream["poi"] > 0.5)
    # an Output reports the step average: a spike through w delivers w (area dt), a
    # held (or pulsed) value its own value
    assert_close_arrays(r.outputs["o_poi"], stream["poi"] * np.array([1.0, 2.0, 3.0]), 1e-12,
                        "Poisson charge")
    assert_close_arrays(r.outputs["o_wn"], stream["wn"], 1e-12, "white noise")
    assert_close_arrays(r.outputs["o_ou"], stream["ou"], 1e-12, "OU")


def test_poisson_into_a_neuron_with_one_substep_is_the_exact_contract() -> None:
    n = 3
    lif = P.LIF(tau=np.full(n, 0.02), r=np.ones(n), v_leak=np.zeros(n),
                v_threshold=np.full(n, 1.0), v_reset=np.zeros(n))
    g = sc.Graph({"poi": X.PoissonSource(rate=np.full(2, 500.0), seed=8),
                  "w": P.Linear(np.random.default_rng(0).uniform(20, 60, (n, 2))),
                  "lif": lif}, [("poi", "w"), ("w", "lif")], EXACT)
    d, c = _both(g, None, ("spikes", "v"))
    assert d.spikes["lif"].sum() > 20
    assert_same_spikes(d, c)
    assert_close_arrays(c.traces["lif"]["v"], d.traces["lif"]["v"], EXACT_ATOL, "lif:v")


def test_sparse_linear_in_continuous_mode() -> None:
    rng = np.random.default_rng(7)
    w1 = rng.uniform(0, 1, (6, 3)) * (rng.random((6, 3)) < 0.6)
    w2 = rng.normal(0, 1, (4, 6)) * (rng.random((4, 6)) < 0.5)
    lif = P.LIF(tau=np.full(6, 0.02), r=np.ones(6), v_leak=np.zeros(6),
                v_threshold=np.ones(6), v_reset=np.zeros(6))
    li = P.LI(tau=np.full(4, 0.01), r=np.ones(4), v_leak=np.zeros(4))

    def graph(sparse: bool) -> sc.Graph:
        lin = SparseLinear.from_dense if sparse else P.Linear
        return sc.Graph({"in": P.Input(np.array([3])), "a": lin(w1), "lif": lif, "b": lin(w2),
                         "li": li, "out": P.Output(np.array([4]))},
                        [("in", "a"), ("a", "lif"), ("lif", "b"), ("b", "li"), ("li", "out")],
                        EXACT)

    x = _drive()
    d, c = _both(graph(True), {"in": x}, ("spikes", "v"))
    assert d.spikes["lif"].sum() > 30
    assert_same_spikes(d, c)
    assert_close_arrays(c.traces["li"]["v"], d.traces["li"]["v"], EXACT_ATOL, "li:v")
    # with substeps, the sparse map equals the dense one (spike pulses scaled alike)
    cs = sc.simulate(graph(True), {"in": x}, backend="brian2", steps=STEPS,
                     record=("spikes", "v"), mode="continuous", substeps=4)
    cd = sc.simulate(graph(False), {"in": x}, backend="brian2", steps=STEPS,
                     record=("spikes", "v"), mode="continuous", substeps=4)
    assert_same_spikes(cs, cd)
    assert_close_arrays(cs.traces["li"]["v"], cd.traces["li"]["v"], 1e-12, "li:v sparse/dense")


# ======================================================================= convergence
def _spike_steps(z: np.ndarray) -> list[np.ndarray]:
    return [np.flatnonzero(z[:, j]) for j in range(z.shape[1])]


def _spike_time_error(ref: list[np.ndarray], got: list[np.ndarray], first: int) -> int:
    """Largest |step difference| over the first ``first`` spikes of every neuron (a
    missing spike counts as the whole run)."""
    err = 0
    for a, b in zip(ref, got, strict=True):
        a, b = a[:first], b[:first]
        if a.size != b.size:
            return 10**9
        err = max(err, int(np.abs(a - b).max(initial=0)))
    return err


def test_izhikevich_spike_times_converge_with_substeps() -> None:
    # Five cell types of Izhikevich (2003) at I = 10 mV/ms, dt = 1 ms, 300 ms. Reference:
    # the paper's scheme (the contract) at dt / 256. rk4's own error is negligible next to
    # the detection of the threshold once per internal step (spike times late by < h =
    # dt / S each), so spike times converge like 1/S.
    from extension_reference import IZHIKEVICH_TYPES

    a, b, c, d = (np.array(p) for p in zip(*IZHIKEVICH_TYPES.values(), strict=True))
    n, steps, fine = a.size, 300, 256
    node = X.Izhikevich(a=a, b=b, c=c, d=d, v0=np.full(n, -65.0), u0=b * -65.0)
    sem = sc.Semantics(dt=1e-3)
    current = np.full(n, 10.0)
    co = izhikevich_coefficients(node, sc.Semantics(dt=1e-3 / fine), (n,))
    v, u = node.v0.copy(), node.u0.copy()
    z_ref = np.zeros((steps, n), bool)
    for t in range(steps):
        for _ in range(fine):
            z, (v, u) = izhikevich_step(np, co, (v, u), current)
            z_ref[t] |= z
    g = sc.Graph({"in": P.Input(np.array([n])), "izh": node}, [("in", "izh")], sem)
    x = np.broadcast_to(current, (1, steps, n)).copy()
    errors = {}
    for S in (1, 4, 16):
        r = sc.simulate(g, {"in": x}, backend="brian2", steps=steps, record=("spikes",),
                        mode="continuous", substeps=S)
        errors[S] = _spike_time_error(_spike_steps(z_ref), _spike_steps(r.spikes["izh"][0]), 5)
    assert min(len(s) for s in _spike_steps(z_ref)) >= 5
    assert errors[1] > errors[4] >= errors[16], errors
    # first five spikes (<= 5 threshold detections, each late by < 1/16 ms, plus the
    # reference's O(dt/256)): within one graph step
    assert errors[16] <= 1, errors


def _ml_reference(node: X.MorrisLecar, current: np.ndarray, steps: int, dt: float, fine: int
                  ) -> np.ndarray:
    """V at the end of each graph step: the contract (forward Euler V, exact w) at dt/fine."""
    co = morris_lecar_coefficients(node, sc.Semantics(dt=dt / fine, integrator="exact"),
                                   node.v0.shape)
    v, w = node.v0.copy(), node.w0.copy()
    out = np.zeros((steps, v.size))
    for t in range(steps):
        for _ in range(fine):
            _, (v, w) = morris_lecar_step(np, co, (v, w), current)
        out[t] = v
    return out


def test_morris_lecar_voltage_converges_with_substeps() -> None:
    # Type I neurons firing repetitively, dt = 2 ms (rk4-stable: fastest rate ~0.7/ms),
    # 600 ms. Reference: Richardson extrapolation 2 V(dt/128) - V(dt/64) of the contract
    # (first order in its step), accurate to ~0.04 mV here (the next extrapolation level
    # moves it by 0.037 mV). rk4 is fourth order: the error drops ~16x per halving of h
    # until it meets the reference's floor.
    dt, steps = 2e-3, 300
    current = np.array([50.0, 60.0, 80.0])
    node = X.MorrisLecar.of_type("I", 3, v0=-40.0, w0=0.0)
    ref = 2 * _ml_reference(node, current, steps, dt, 128) - _ml_reference(node, current,
                                                                           steps, dt, 64)
    g = sc.Graph({"in": P.Input(np.array([3])), "ml": node}, [("in", "ml")],
                 sc.Semantics(dt=dt, integrator="exact"))
    x = np.broadcast_to(current, (1, steps, 3)).copy()
    err, spikes = {}, {}
    for S in (1, 2, 4):
        r = sc.simulate(g, {"in": x}, backend="brian2", steps=steps, record=("spikes", "v"),
                        mode="continuous", substeps=S)
        err[S] = float(np.abs(r.traces["ml"]["v"][0] - ref).max())
        spikes[S] = r.spikes["ml"][0].sum(0)
    assert np.all(spikes[4] >= 5)
    assert err[1] > 5 * err[2] and err[2] > err[4], err
    assert err[4] < 0.1, err  # mV: the reference's floor (0.04) plus rk4 at h = 0.5 ms


def test_morris_lecar_type_i_onset_is_the_saddle_node_current_in_continuous_mode() -> None:
    # rk4 keeps the ODE's fixed points and their stability (h |lambda| << 1 at dt = 1 ms),
    # so the rest state exists exactly below I_SN (scipy) and vanishes above it; near the
    # SNIC the period grows like 1/sqrt(I - I_SN) (~0.6 s at I_SN + 0.1): 3 s resolve the
    # onset to 0.1 uA/cm^2 (0.25 % of I_SN).
    p = X.MORRIS_LECAR_TYPE_I
    i_sn = saddle_node_current(p)
    offsets = np.array([-1.0, -0.1, 0.1, 1.0])
    currents = i_sn + offsets
    v0 = np.array([_rest(p, c) if c < _i_ss_max(p) else _rest(p, 0.0) for c in currents]) + 0.5
    node = X.MorrisLecar.of_type("I", offsets.size)
    node.v0, node.w0 = v0, _w_inf(v0 - 0.5, p)
    steps = 3000
    g = sc.Graph({"in": P.Input(np.array([offsets.size])), "ml": node}, [("in", "ml")],
                 sc.Semantics(dt=1e-3))
    r = sc.simulate(g, {"in": np.broadcast_to(currents, (1, steps, offsets.size)).copy()},
                    backend="brian2", steps=steps, record=("spikes",), mode="continuous")
    counts = r.spikes["ml"][0].sum(0)
    assert np.all(counts[offsets < 0] == 0) and np.all(counts[offsets > 0] >= 2), counts
    assert counts[-1] > counts[-2]  # frequency grows from ~0 above the onset


def test_morris_lecar_spikes_only_at_upward_crossings() -> None:
    # Starting above threshold is not a spike (not_refractory starts False there); the
    # graded neuron sends s_inf(V) (substeps=1: the Output's step average is that value).
    node = X.MorrisLecar.of_type("II", 2, v0=np.array([10.0, -60.0]), w0=0.0)
    graded = X.MorrisLecarGraded(**node.fields())
    g = sc.Graph({"in": P.Input(np.array([2])), "ml": node, "mlg": graded,
                  "out": P.Output(np.array([2]))},
                 [("in", "ml"), ("in", "mlg"), ("mlg", "out")], sc.Semantics(dt=1e-4))
    steps = 3000  # 300 ms at I = 120 uA/cm^2: above the Hopf onset, repetitive firing
    r = sc.simulate(g, {"in": np.full((1, steps, 2), 120.0)}, backend="brian2", steps=steps,
                    record=("spikes", "v"), mode="continuous")
    v = r.traces["ml"]["v"][0]
    crossings = (np.concatenate([node.v0[None], v[:-1]]) <= 0.0) & (v > 0.0)
    assert v[0, 0] > 0.0 and np.all(crossings.sum(0) >= 2), crossings.sum(0)
    np.testing.assert_array_equal(r.spikes["ml"][0], crossings)
    s_inf = 0.5 * (1 + np.tanh((r.traces["mlg"]["v"][0] - 0.0) / 5.0))
    assert_close_arrays(r.outputs["out"][0], s_inf, 1e-12, "graded s_inf(V)")


def test_morris_lecar_conductance_input_is_a_shifted_leak_in_continuous_mode() -> None:
    # I - g_l (V - v_l) + g (e_syn - V) = I - (g_l + g) (V - v_l') with
    # v_l' = (g_l v_l + g e_syn) / (g_l + g): a constant conductance input is the plain
    # neuron with that leak, the same ODE (equal to rounding under the same rk4 steps).
    n, steps = 3, 400
    e_syn = np.array([0.0, -80.0, 20.0])
    g_syn = np.array([0.5, 1.0, 2.0])
    cur = np.array([60.0, 90.0, 45.0])
    node = X.MorrisLecar.of_type("I", n, v0=-40.0, input_kind=X.ML_CONDUCTANCE, e_syn=e_syn)
    p = X.MORRIS_LECAR_TYPE_I
    plain = X.MorrisLecar.of_type("I", n, v0=-40.0, g_l=p["g_l"] + g_syn,
                                  v_l=(p["g_l"] * p["v_l"] + g_syn * e_syn) / (p["g_l"] + g_syn))
    sem = sc.Semantics(dt=5e-4)
    g = sc.Graph({"in": P.Input(np.array([2 * n])), "ml": node, "in2": P.Input(np.array([n])),
                  "ml2": plain}, [("in", "ml"), ("in2", "ml2")], sem)
    x = {"in": np.broadcast_to(np.concatenate([cur, g_syn]), (1, steps, 2 * n)).copy(),
         "in2": np.broadcast_to(cur, (1, steps, n)).copy()}
    r = sc.simulate(g, x, backend="brian2", steps=steps, record=("spikes", "v"),
                    mode="continuous", substeps=2)
    assert r.spikes["ml"].sum() >= 3
    np.testing.assert_array_equal(r.spikes["ml"], r.spikes["ml2"])
    assert_close_arrays(r.traces["ml"]["v"], r.traces["ml2"]["v"], 1e-8, "conductance vs leak")


def _cond_reference(node: X.CondLIF, w: np.ndarray, x: np.ndarray, dt: float, fine: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Spikes and v per graph step of Input -> Linear(w) -> CondLIF under the exact
    contract at dt/fine, the step's increment spread evenly over its fine steps."""
    n = np.shape(node.tau_mem)[0]
    co = cond_lif_coefficients(node, sc.Semantics(dt=dt / fine, integrator="exact"), (n,))
    ge, gi, v = np.zeros(n), np.zeros(n), np.asarray(node.v_leak, float).copy()
    z_out, v_out = np.zeros((x.shape[0], n), bool), np.zeros((x.shape[0], n))
    for t in range(x.shape[0]):
        xe, xi = split_conductance_input(w @ x[t] / fine, (2 * n,), (n,))
        for _ in range(fine):
            z, (ge, gi, v) = cond_lif_step(np, co, (ge, gi, v), xe, xi)
            z_out[t] |= z
        v_out[t] = v
    return z_out, v_out


def test_cond_lif_converges_with_substeps() -> None:
    # Held excitatory/inhibitory increments (a total jump of x per graph step in both
    # modes). Continuous at S substeps adds x/S before each exponential-Euler step: it is
    # exactly the contract at dt/S with the increment spread over the S fine steps
    # (checked for S = 4), so it converges to the same limit as the contract, first order
    # (conductances frozen over a step): the subthreshold error is ~C/S, plus the
    # reference's own C/256.
    g0 = cond_graph(EXACT)
    node, n = g0.nodes["n"], 4
    rng = np.random.default_rng(3)
    w = np.vstack([rng.uniform(0, 0.3, (n, 3)), rng.uniform(0, 0.1, (n, 3))])
    steps = 60
    x = rng.uniform(0, 2, (1, steps, 3))
    z_ref, v_ref = _cond_reference(node, w, x[0], DT, 256)
    g = sc.Graph({"in": P.Input(np.array([3])), "w": P.Linear(w), "n": node},
                 [("in", "w"), ("w", "n")], EXACT)
    err = {}
    for S in (1, 4, 16):
        r = sc.simulate(g, {"in": x}, backend="brian2", steps=steps, record=("spikes", "v"),
                        mode="continuous", substeps=S)
        z, v = r.spikes["n"][0], r.traces["n"]["v"][0]
        if S == 4:
            z4, v4 = _cond_reference(node, w, x[0], DT, 4)
            np.testing.assert_array_equal(z, z4)
            assert_close_arrays(v, v4, EXACT_ATOL, "continuous S=4 vs contract at dt/4")
        # before the first spike of either run v is smooth: compare it there
        first = [min(np.flatnonzero(z[:, j])[0], np.flatnonzero(z_ref[:, j])[0])
                 for j in range(n)]
        err[S] = max(float(np.abs(v[:f, j] - v_ref[:f, j]).max()) for j, f in enumerate(first))
    assert min(first) >= 3 and z_ref.sum() > 10
    assert err[1] > err[4] > err[16], err
    assert err[16] < 0.1 * err[1], err  # first order: 1/16 + 1/256 of err[1]


# ============================================================================ errors
def test_check_lists_every_continuous_refusal_at_once() -> None:
    rng = np.random.default_rng(0)
    n = 3
    ltc = LTCLIF(w_mem_in=rng.normal(0, 0.1, (n, n)), w_mem_v=np.zeros((n, n)),
                 b_mem=np.zeros(n), w_adp_in=np.zeros((n, n)), w_adp_a=np.zeros((n, n)),
                 b_adp=np.zeros(n), r=np.ones(n), v_leak=np.zeros(n),
                 v_threshold=np.full(n, 0.1), v_reset=np.zeros(n), beta=np.full(n, 1.8))
    cuba = X.RefractoryCubaLIF(tau_syn=np.array([0.01, 0.005, 0.01]), tau_mem=np.full(n, 0.01),
                               r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n),
                               v_reset=np.zeros(n), w_in=np.ones(n), t_ref=np.zeros(n))
    izh = X.Izhikevich(a=np.full(n, 0.02), b=np.full(n, 0.2), c=np.full(n, -65.0),
                       d=np.full(n, 8.0), v0=np.full(n, -65.0), u0=np.full(n, -13.0))
    ml = X.MorrisLecar.of_type("I", n)
    g = sc.Graph({"in": P.Input(np.array([n])), "ltc": ltc, "cuba": cuba, "izh": izh, "ml": ml,
                  "rate": X.RateUnit(tau=np.full(n, 0.01), x0=np.zeros(n))},
                 [("in", k) for k in ("ltc", "cuba", "izh", "ml", "rate")],
                 sc.Semantics(dt=DT, input_meaning="increment"))
    with pytest.raises(sc.UnsupportedError) as err:
        sc.simulate(g, np.zeros((1, 5, n)), backend="brian2", mode="continuous")
    why_current = ("continuous mode with input_meaning='increment' turns held inputs into "
                   "one-internal-step pulses, but this model's input is a current held for "
                   "the step (input_meaning does not apply to it in the discrete contract); "
                   "use input_meaning='current'")
    assert sorted(err.value.problems) == sorted([
        "'ltc' (LTCLIF): runs in mode='discrete' only (no continuous-time form: its gates are "
        "per-step quantities (the update depends on dt only through the integrator choice), "
        "so there is no ODE to integrate)",
        "'cuba' (RefractoryCubaLIF): continuous mode needs tau_syn == tau_mem for all "
        "elements or for none (the exact solution differs between the two cases); 2 of 3 "
        "are equal; split the node in two",
        f"'izh' (Izhikevich): {why_current}",
        f"'ml' (MorrisLecar): {why_current}",
    ])
    # the same graph is fine in discrete mode but for nothing
    from spikecore.backends.brian2.backend import Brian2Backend

    assert Brian2Backend().check(g.flatten()) == []


def test_supported_notes_name_both_modes() -> None:
    from spikecore.backends.brian2.backend import Brian2Backend

    notes = Brian2Backend().supported()
    for t in ("RefractoryLIF", "ALIF", "RateUnit", "CondLIF", "Izhikevich", "MorrisLecar",
              "MorrisLecarGraded", "PoissonSource", "WhiteNoiseSource", "OUSource"):
        assert "; continuous: " in notes[t], t
    assert "continuous" not in notes["LTCLIF"]
