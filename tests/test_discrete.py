"""The discrete contract: neuron coefficients against formulas, scipy's matrix exponential
and closed-form solutions; neuron_step's threshold and resets."""

from __future__ import annotations

import nir
import numpy as np
import pytest
from contract_reference import contract_step
from scipy.linalg import expm

import spikecore as sc
from spikecore.discrete import NEURON_TYPES, neuron_coefficients
from spikecore.testing import assert_close_arrays

N = 64  # neurons per random draw


# ============================================================== parameters
def draw(rng, n=N, equal_taus=False):
    tau_mem = rng.uniform(2e-3, 5e-2, n)
    tau_syn = tau_mem.copy() if equal_taus else rng.uniform(1e-3, 3e-2, n)
    if not equal_taus:
        tau_syn[: n // 8] = tau_mem[: n // 8]  # some coincide exactly
        gaps = 10.0 ** rng.uniform(-12, -4, n // 8)  # nearly equal: cancellation-prone
        tau_syn[n // 8: n // 4] = tau_mem[n // 8: n // 4] * (1 + gaps)
    return dict(tau_syn=tau_syn, tau_mem=tau_mem, r=rng.uniform(0.2, 3, n),
                v_leak=rng.normal(size=n), w_in=rng.uniform(0.2, 3, n),
                v_threshold=rng.uniform(0.5, 2, n), v_reset=rng.normal(scale=0.2, size=n))


def make(kind, p):
    tau = p["tau_mem"]
    if kind is nir.I:
        return nir.I(r=p["r"])
    if kind is nir.IF:
        return nir.IF(r=p["r"], v_threshold=p["v_threshold"], v_reset=p["v_reset"])
    if kind is nir.LI:
        return nir.LI(tau=tau, r=p["r"], v_leak=p["v_leak"])
    if kind is nir.LIF:
        return nir.LIF(tau=tau, r=p["r"], v_leak=p["v_leak"], v_threshold=p["v_threshold"],
                       v_reset=p["v_reset"])
    common = dict(tau_syn=p["tau_syn"], tau_mem=tau, r=p["r"], v_leak=p["v_leak"], w_in=p["w_in"])
    if kind is nir.CubaLI:
        return nir.CubaLI(**common)
    return nir.CubaLIF(**common, v_threshold=p["v_threshold"], v_reset=p["v_reset"])


def system(kind, p, j):
    """Continuous linear system of neuron j: state' = A state + B [x, 1] (NIR's ODEs)."""
    r, vl, w = p["r"][j], p["v_leak"][j], p["w_in"][j]
    ts, tm = p["tau_syn"][j], p["tau_mem"][j]
    if kind in (nir.I, nir.IF):
        return np.array([[0.0]]), np.array([[r, 0.0]])
    if kind in (nir.LI, nir.LIF):
        return np.array([[-1 / tm]]), np.array([[r / tm, vl / tm]])
    return (np.array([[-1 / ts, 0.0], [r / tm, -1 / tm]]),
            np.array([[w / ts, 0.0], [0.0, vl / tm]]))


def zoh(A, B, dt):
    """Zero-order-hold discretisation by the augmented-matrix exponential."""
    n, m = B.shape
    M = np.zeros((n + m, n + m))
    M[:n, :n], M[:n, n:] = A, B
    E = expm(M * dt)
    return E[:n, :n], E[:n, n:]


def as_matrices(co, j):
    """The coefficients of neuron j written as state[t] = Ad state[t-1] + Bd [x, 1]
    (with k_new folded in: i[t] = a_syn i + b_syn x)."""
    if not co.has_current:
        return np.array([[co.a_mem[j]]]), np.array([[co.k_x[j], co.c[j]]])
    a_s, b_s = co.a_syn[j], co.b_syn[j]
    Ad = np.array([[a_s, 0.0], [co.k_old[j] + co.k_new[j] * a_s, co.a_mem[j]]])
    Bd = np.array([[b_s, 0.0], [co.k_x[j] + co.k_new[j] * b_s, co.c[j]]])
    return Ad, Bd


# ============================================================== exact integrator
@pytest.mark.parametrize("kind", NEURON_TYPES, ids=lambda t: t.__name__)
@pytest.mark.parametrize("equal_taus", [False, True])
def test_exact_matches_matrix_exponential(kind, equal_taus):
    rng = np.random.default_rng(10)
    p = draw(rng, equal_taus=equal_taus)
    for dt in (1e-4, 1e-3, 7e-3):
        co = neuron_coefficients(make(kind, p), sc.Semantics(dt=dt, integrator="exact"))
        for j in range(N):
            Ad, Bd = zoh(*system(kind, p, j), dt)
            got_A, got_B = as_matrices(co, j)
            assert_close_arrays(got_A, Ad, atol=1e-13, rtol=1e-12, what=f"Ad neuron {j} dt={dt}")
            assert_close_arrays(got_B, Bd, atol=1e-13, rtol=1e-12, what=f"Bd neuron {j} dt={dt}")


@pytest.mark.parametrize("kind", NEURON_TYPES, ids=lambda t: t.__name__)
def test_exact_increment_is_an_impulse(kind):
    """'increment': x[t] is an impulse of area x*dt at the end of step t, so the state
    decays exactly over the step and then jumps by B_x * x * dt (undecayed)."""
    rng = np.random.default_rng(11)
    p = draw(rng)
    dt = 1e-3
    co = neuron_coefficients(make(kind, p),
                             sc.Semantics(dt=dt, integrator="exact", input_meaning="increment"))
    for j in range(N):
        A, B = system(kind, p, j)
        Ad, Bd_zoh = zoh(A, B, dt)
        expected_B = np.column_stack([B[:, 0] * dt, Bd_zoh[:, 1]])
        got_A, got_B = as_matrices(co, j)
        assert_close_arrays(got_A, Ad, atol=1e-13, rtol=1e-12, what=f"Ad neuron {j}")
        assert_close_arrays(got_B, expected_B, atol=1e-13, rtol=1e-12, what=f"Bd neuron {j}")


def test_near_equal_time_constants_keep_precision():
    """tau_syn within 1e-12..1e-4 of tau_mem: no cancellation in the coupling term."""
    tm = np.full(9, 1e-2)
    ts = tm * (1 + np.array([0, 1e-12, 1e-10, 1e-9, 1e-8, 1e-7, 1e-6, 1e-5, 1e-4]))
    node = nir.CubaLI(tau_syn=ts, tau_mem=tm, r=np.full(9, 1.3), v_leak=np.zeros(9),
                      w_in=np.full(9, 0.7))
    co = neuron_coefficients(node, sc.Semantics(dt=1e-3, integrator="exact"))
    for j in range(9):
        A = np.array([[-1 / ts[j], 0.0], [1.3 / tm[j], -1 / tm[j]]])
        B = np.array([[0.7 / ts[j], 0.0], [0.0, 0.0]])
        Ad, Bd = zoh(A, B, 1e-3)
        assert co.k_old[j] == pytest.approx(Ad[1, 0], rel=1e-13), j
        assert co.k_x[j] == pytest.approx(Bd[1, 0], rel=1e-12), j


# ============================================================== Euler
@pytest.mark.parametrize("order", ["current_first", "voltage_first"])
@pytest.mark.parametrize("meaning", ["current", "increment"])
def test_euler_cubalif_by_formula(order, meaning):
    rng = np.random.default_rng(12)
    p = draw(rng)
    dt = 1e-4
    co = neuron_coefficients(make(nir.CubaLIF, p), sc.Semantics(
        dt=dt, update_order=order, input_meaning=meaning))
    ts, tm = p["tau_syn"], p["tau_mem"]
    np.testing.assert_array_equal(co.a_syn, 1 - dt / ts)
    np.testing.assert_array_equal(co.b_syn, dt * p["w_in"] / ts)
    np.testing.assert_array_equal(co.a_mem, 1 - dt / tm)
    np.testing.assert_array_equal(co.c, dt * p["v_leak"] / tm)
    np.testing.assert_array_equal(co.k_x, 0.0)
    k = dt * p["r"] / tm
    if order == "current_first":  # membrane sees the current updated this step
        np.testing.assert_array_equal(co.k_new, k)
        np.testing.assert_array_equal(co.k_old, 0.0)
    else:  # membrane sees last step's current
        np.testing.assert_array_equal(co.k_old, k)
        np.testing.assert_array_equal(co.k_new, 0.0)
    assert co.has_current and co.spiking
    np.testing.assert_array_equal(co.v_initial, p["v_leak"])


@pytest.mark.parametrize("kind", [nir.LI, nir.LIF])
def test_euler_lif_by_formula(kind):
    rng = np.random.default_rng(13)
    p = draw(rng)
    dt = 1e-3
    for meaning in ("current", "increment"):
        co = neuron_coefficients(make(kind, p), sc.Semantics(dt=dt, input_meaning=meaning))
        tm = p["tau_mem"]
        np.testing.assert_array_equal(co.a_mem, 1 - dt / tm)
        np.testing.assert_array_equal(co.k_x, dt * p["r"] / tm)
        np.testing.assert_array_equal(co.c, dt * p["v_leak"] / tm)
        assert not co.has_current and co.spiking == (kind is nir.LIF)


@pytest.mark.parametrize("kind", [nir.I, nir.IF])
@pytest.mark.parametrize("integrator", ["euler", "exact"])
def test_integrator_by_formula(kind, integrator):
    rng = np.random.default_rng(14)
    p = draw(rng)
    co = neuron_coefficients(make(kind, p), sc.Semantics(dt=2e-3, integrator=integrator))
    np.testing.assert_array_equal(co.a_mem, 1.0)
    np.testing.assert_array_equal(co.k_x, 2e-3 * p["r"])
    np.testing.assert_array_equal(co.c, 0.0)
    np.testing.assert_array_equal(co.v_initial, 0.0)


def test_exact_lif_increment_formula():
    rng = np.random.default_rng(15)
    p = draw(rng)
    dt = 1e-3
    co = neuron_coefficients(make(nir.LIF, p), sc.Semantics(dt=dt, integrator="exact",
                                                            input_meaning="increment"))
    np.testing.assert_allclose(co.k_x, dt * p["r"] / p["tau_mem"], rtol=1e-15)
    np.testing.assert_allclose(co.a_mem, np.exp(-dt / p["tau_mem"]), rtol=1e-15)


def test_update_order_irrelevant_for_exact():
    rng = np.random.default_rng(16)
    node = make(nir.CubaLIF, draw(rng))
    a = neuron_coefficients(node, sc.Semantics(dt=1e-3, integrator="exact"))
    b = neuron_coefficients(node, sc.Semantics(dt=1e-3, integrator="exact",
                                               update_order="voltage_first"))
    for f in ("a_syn", "b_syn", "a_mem", "k_old", "k_new", "k_x", "c"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))


def test_broadcast_to_shape():
    node = nir.LIF(tau=np.array([0.01]), r=np.array([2.0]), v_leak=np.array([0.1]),
                   v_threshold=np.array([1.0]), v_reset=np.array([0.0]))
    co = neuron_coefficients(node, sc.Semantics(dt=1e-3), shape=(2, 3))
    assert co.shape == (2, 3) and co.v_threshold.shape == (2, 3)
    np.testing.assert_array_equal(co.v_initial, np.full((2, 3), 0.1))


def test_non_neuron_refused():
    with pytest.raises((TypeError, KeyError)):
        neuron_coefficients(nir.Scale(scale=np.ones(2)), sc.Semantics(dt=1e-3))


# ============================================================== neuron_step
def _run(co, x, steps):
    i = np.zeros(co.shape)
    v = co.v_initial.copy()
    zs, vs, is_ = [], [], []
    for t in range(steps):
        z, i, v = contract_step(co, i, v, x[t])
        zs.append(z)
        vs.append(v)
        is_.append(i)
    return np.array(zs), np.array(is_), np.array(vs)


def test_step_matches_the_documented_update():
    """neuron_step is the module docstring's update, written out here independently."""
    rng = np.random.default_rng(17)
    p = draw(rng)
    for order in ("current_first", "voltage_first"):
        for reset in ("to_value", "subtract"):
            co = neuron_coefficients(make(nir.CubaLIF, p),
                                     sc.Semantics(dt=1e-3, update_order=order, reset=reset))
            x = rng.uniform(0, 30, (200, N))
            z, i, v = _run(co, x, 200)
            ii, vv = np.zeros(N), p["v_leak"].copy()
            for t in range(200):
                i_new = co.a_syn * ii + co.b_syn * x[t]
                v_new = co.a_mem * vv + co.k_old * ii + co.k_new * i_new + co.k_x * x[t] + co.c
                spike = v_new > p["v_threshold"]
                if reset == "to_value":
                    v_new = np.where(spike, p["v_reset"], v_new)
                else:
                    v_new = np.where(spike, v_new - (p["v_threshold"] - p["v_reset"]), v_new)
                np.testing.assert_array_equal(z[t], spike)
                np.testing.assert_array_equal(i[t], i_new)
                np.testing.assert_array_equal(v[t], v_new)
                ii, vv = i_new, v_new
            assert z.sum() > 10, "test input too weak to exercise the reset"


def test_threshold_is_strict_and_resets_differ():
    node = nir.IF(r=np.ones(3), v_threshold=np.ones(3), v_reset=np.array([0.0, 0.0, -0.5]))
    co_val = neuron_coefficients(node, sc.Semantics(dt=1.0))
    co_sub = neuron_coefficients(node, sc.Semantics(dt=1.0, reset="subtract"))
    x = np.array([1.0, 1.25, 1.25])  # dt*r*x: exactly at threshold, above, above
    z, _, v = contract_step(co_val, np.zeros(3), np.zeros(3), x)
    np.testing.assert_array_equal(z, [False, True, True])
    np.testing.assert_array_equal(v, [1.0, 0.0, -0.5])
    z, _, v = contract_step(co_sub, np.zeros(3), np.zeros(3), x)
    np.testing.assert_array_equal(z, [False, True, True])
    # subtract removes v_threshold - v_reset: 1.25 - 1 and 1.25 - 1.5
    np.testing.assert_array_equal(v, [1.0, 0.25, -0.25])
    np.testing.assert_array_equal(co_sub.reset_amount, [1.0, 1.0, 1.5])


def test_non_spiking_never_spikes():
    rng = np.random.default_rng(18)
    p = draw(rng)
    for kind in (nir.I, nir.LI, nir.CubaLI):
        co = neuron_coefficients(make(kind, p), sc.Semantics(dt=1e-3))
        assert not co.spiking and co.reset_amount is None and co.v_threshold is None
        z, _, v = _run(co, np.full((50, N), 1e3), 50)
        assert not z.any() and np.abs(v).max() > 1.0


# ============================================================== convergence to the ODE
def _lif_params(n=1):
    return dict(tau=np.full(n, 0.02), r=np.full(n, 2.0), v_leak=np.full(n, -0.1),
                v_threshold=np.full(n, 1e9), v_reset=np.zeros(n))


def test_exact_lif_equals_analytic_solution():
    """Constant input held: v(t) = v_leak + r x (1 - exp(-t/tau)), at every step."""
    x, dt, steps = 0.7, 1e-3, 300
    node = nir.LIF(**_lif_params())
    co = neuron_coefficients(node, sc.Semantics(dt=dt, integrator="exact"))
    _, _, v = _run(co, np.full((steps, 1), x), steps)
    t = (np.arange(steps) + 1) * dt
    analytic = -0.1 + 2.0 * x * (1 - np.exp(-t / 0.02))
    assert_close_arrays(v[:, 0], analytic, atol=1e-13, what="exact LIF vs analytic")


def test_exact_cubalif_equals_analytic_solution():
    ts, tm, r, w, vl, x, dt, steps = 5e-3, 2e-2, 1.5, 0.8, 0.05, 0.6, 1e-3, 300
    node = nir.CubaLIF(tau_syn=np.array([ts]), tau_mem=np.array([tm]), r=np.array([r]),
                       v_leak=np.array([vl]), w_in=np.array([w]), v_threshold=np.array([1e9]),
                       v_reset=np.zeros(1))
    co = neuron_coefficients(node, sc.Semantics(dt=dt, integrator="exact"))
    _, i, v = _run(co, np.full((steps, 1), x), steps)
    t = (np.arange(steps) + 1) * dt
    i_exact = w * x * (1 - np.exp(-t / ts))
    v_exact = vl + r * w * x * (1 - (ts * np.exp(-t / ts) - tm * np.exp(-t / tm)) / (ts - tm))
    assert_close_arrays(i[:, 0], i_exact, atol=1e-13, what="exact CubaLIF i")
    assert_close_arrays(v[:, 0], v_exact, atol=1e-13, what="exact CubaLIF v")


def test_euler_converges_at_first_order():
    x, T = 0.7, 0.1
    errors = []
    for dt in (1e-3, 5e-4, 2.5e-4, 1.25e-4):
        steps = round(T / dt)
        co = neuron_coefficients(nir.LIF(**_lif_params()), sc.Semantics(dt=dt))
        _, _, v = _run(co, np.full((steps, 1), x), steps)
        t = (np.arange(steps) + 1) * dt
        errors.append(np.abs(v[:, 0] - (-0.1 + 2.0 * x * (1 - np.exp(-t / 0.02)))).max())
    ratios = np.array(errors[:-1]) / np.array(errors[1:])
    assert np.all((ratios > 1.8) & (ratios < 2.2)), (errors, ratios)


def test_exact_and_euler_spike_times_converge():
    """With spiking, both integrators' first spike time approaches the analytic one:
    within one step for exact (only the step grid), within O(dt) for Euler."""
    x, tau, thr, r = 0.7, 0.02, 1.0, 2.0
    t_star = -tau * np.log(1 - thr / (r * x))  # v(t*) = thr from v(0) = v_leak = 0
    for integrator in ("exact", "euler"):
        for dt in (1e-4, 1e-5, 1e-6):
            node = nir.LIF(tau=np.array([tau]), r=np.array([r]), v_leak=np.zeros(1),
                           v_threshold=np.array([thr]), v_reset=np.zeros(1))
            co = neuron_coefficients(node, sc.Semantics(dt=dt, integrator=integrator))
            steps = round(2 * t_star / dt)
            z, _, _ = _run(co, np.full((steps, 1), x), steps)
            first = (np.flatnonzero(z[:, 0])[0] + 1) * dt  # end of the spiking step
            if integrator == "exact":  # samples the true v: first crossing, never early
                assert 0 <= first - t_star <= dt, (dt, first, t_star)
            else:  # Euler overshoots this concave rise: early, by O(dt)
                assert abs(first - t_star) <= 3 * dt, (dt, first, t_star)
