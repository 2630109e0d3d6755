"""Brian2 continuous mode, ``input_meaning='increment'`` with several substeps: the recorded
states equal the ODE's own solution for the pulse train the mode defines.

Continuous mode (``backends/brian2/lowering.py``) delivers an input value ``x[t]`` as a
rectangular pulse of height ``x[t] * S`` (amp) during the last internal step of graph step
``t``, i.e. over ``[(t+1) dt - h, (t+1) dt)`` with ``h = dt / S``: area ``x[t] dt``, the
charge of the discrete contract, arriving at the end of the step. The expected values
below are the closed-form solutions of the NIR ODEs (``tau dv/dt = (v_leak - v) + r I``;
``tau_syn di/dt = -i + w_in I``, ``tau_mem dv/dt = (v_leak - v) + r i``) for that input,
written here from the ODEs by superposition of rectangular-pulse responses; nothing comes
from ``spikecore.discrete`` or the lowering. Recorded values are those at the end of each
graph step, ``(n + 1) dt``.

A pulse one internal step early or late changes every recorded value by a factor of about
``exp(-h / tau)`` (or moves it into the next graph step), far above the tolerance.
"""

from __future__ import annotations

import warnings

import nir
import numpy as np
import pytest

import spikecore as sc
from spikecore.graph import Graph, GraphWarning
from spikecore.semantics import Semantics
from spikecore.testing import assert_close_arrays

DT = 1e-3
STEPS = 40
N = 3  # elements per node, each with its own parameters and its own pulse train
#: Largest difference to the closed form, relative to the largest response: measured at
#: most 1.6e-14 (S = 10, 400 internal steps, the spiking LIF); asserted with a margin.
REL_TOL = 1e-13


def _pulses(seed: int) -> np.ndarray:
    """[1, STEPS, N]: signed pulse areas (per dt), some steps without a pulse."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 2.0, size=(1, STEPS, N))
    x[:, rng.random(STEPS) < 0.3, :] = 0.0
    return x


def _lags() -> tuple[np.ndarray, np.ndarray]:
    """``lag[n, t]``: time from the end of pulse ``t`` to the end of graph step ``n``
    (``(n - t) dt``), and the mask ``n >= t`` of pulses that have arrived by then."""
    n = np.arange(STEPS)[:, None]
    t = np.arange(STEPS)[None, :]
    arrived = n >= t
    return np.where(arrived, (n - t) * DT, 0.0), arrived


def _rect_first_order(height: np.ndarray, tau: np.ndarray, h: float, lag: np.ndarray,
                      arrived: np.ndarray) -> np.ndarray:
    """Solution of ``tau y' = -y + u``, ``y(0) = 0``, for ``u`` the sum of rectangular
    pulses ``height[t]`` on ``[end_t - h, end_t)``, at the ends of the graph steps.

    One pulse contributes ``height * (1 - exp(-h/tau)) * exp(-lag/tau)`` once it has ended.
    ``height``: [STEPS, N]; ``tau``: [N]; returns [STEPS, N].
    """
    gain = -np.expm1(-h / tau)                                     # [N]
    kernel = np.exp(-lag[:, :, None] / tau) * arrived[:, :, None]  # [n, t, N]
    return np.einsum("ntj,tj->nj", kernel, height * gain)


def _rect_cascade(height: np.ndarray, ts: np.ndarray, tm: np.ndarray, h: float,
                  lag: np.ndarray, arrived: np.ndarray) -> np.ndarray:
    """Solution of ``ts i' = -i + u``, ``tm v' = -v + i`` (zero initial state) for the
    same pulse train, at the ends of the graph steps.

    Step response (unit ``u`` from 0): ``1 - (ts e^{-s/ts} - tm e^{-s/tm}) / (ts - tm)``;
    a pulse on ``[b - h, b)`` seen at ``b + lag`` is the difference of two step responses:
    ``(ts (1 - e^{-h/ts}) e^{-lag/ts} - tm (1 - e^{-h/tm}) e^{-lag/tm}) / (ts - tm)``.
    With ``ts == tm == tau`` (the limit): ``(1 + s/tau) e^{-s/tau}`` evaluated between
    ``s = lag`` and ``s = lag + h``.
    """
    L = lag[:, :, None]
    if np.all(ts == tm):
        tau = tm
        kernel = ((1 + L / tau) * np.exp(-L / tau)
                  - (1 + (L + h) / tau) * np.exp(-(L + h) / tau))
    else:
        assert np.all(ts != tm)
        kernel = (ts * -np.expm1(-h / ts) * np.exp(-L / ts)
                  - tm * -np.expm1(-h / tm) * np.exp(-L / tm)) / (ts - tm)
    return np.einsum("ntj,tj->nj", kernel * arrived[:, :, None], height)


def _graph() -> tuple[Graph, dict]:
    p = {
        "li": dict(tau=np.array([4e-3, 9e-3, 2.5e-2]), r=np.array([1.5, 0.7, 2.0]),
                   v_leak=np.array([0.3, -0.2, 0.0])),
        # Threshold far above the largest response: the LIF must behave as its LI.
        "lif": dict(tau=np.array([5e-3, 1.1e-2, 3e-2]), r=np.array([1.2, 0.9, 0.6]),
                    v_leak=np.array([0.1, 0.0, -0.3]), v_threshold=np.full(N, 50.0),
                    v_reset=np.zeros(N)),
        "cuba": dict(tau_syn=np.array([3e-3, 6e-3, 2e-3]),
                     tau_mem=np.array([9e-3, 4e-3, 2e-2]), r=np.array([1.5, 0.8, 2.0]),
                     v_leak=np.array([0.3, -0.1, 0.0]), w_in=np.array([0.8, 1.7, 0.5])),
        "cuba_eq": dict(tau_syn=np.array([5e-3, 8e-3, 1.5e-2]),
                        tau_mem=np.array([5e-3, 8e-3, 1.5e-2]), r=np.array([1.0, 2.0, 0.5]),
                        v_leak=np.array([0.0, 0.2, -0.1]), w_in=np.array([1.3, 0.6, 2.0])),
        "cubalif": dict(tau_syn=np.array([2e-3, 7e-3, 4e-3]),
                        tau_mem=np.array([1e-2, 3e-3, 6e-3]), r=np.array([0.9, 1.4, 1.1]),
                        v_leak=np.array([-0.1, 0.0, 0.2]), w_in=np.array([1.1, 0.9, 1.6]),
                        v_threshold=np.full(N, 50.0), v_reset=np.zeros(N)),
    }
    nodes = {"in": nir.Input(np.array([N])), "li": nir.LI(**p["li"]),
             "lif": nir.LIF(**p["lif"]), "cuba": nir.CubaLI(**p["cuba"]),
             "cuba_eq": nir.CubaLI(**p["cuba_eq"]), "cubalif": nir.CubaLIF(**p["cubalif"])}
    edges = [("in", k) for k in nodes if k != "in"]
    return Graph(nodes, edges, Semantics(dt=DT, input_meaning="increment")), p


def _run(graph: Graph, x: np.ndarray, substeps: int, record=("spikes", "v", "i")):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GraphWarning)
        return sc.simulate(graph, x, backend="brian2", mode="continuous",
                           substeps=substeps, record=record)


def _check(got: np.ndarray, expected: np.ndarray, what: str) -> float:
    """Compare [STEPS, N] traces with a tolerance relative to the largest response; return
    the relative error reached."""
    scale = float(np.abs(expected).max())
    assert scale > 0.1, f"{what}: response too small to test ({scale})"
    assert_close_arrays(got, expected, REL_TOL * scale, what)
    return float(np.abs(got - expected).max()) / scale


@pytest.mark.parametrize("substeps", [2, 4, 10])
def test_increment_pulses_give_the_closed_form_response(substeps):
    graph, p = _graph()
    x = _pulses(seed=17 + substeps)
    res = _run(graph, x, substeps)
    h = DT / substeps
    lag, arrived = _lags()
    height = x[0] * substeps  # the pulse's current (amp) for one internal step

    # LI and LIF: v - v_leak is the first-order response to r * I.
    for name in ("li", "lif"):
        q = p[name]
        v = q["v_leak"] + q["r"] * _rect_first_order(height, q["tau"], h, lag, arrived)
        _check(res.traces[name]["v"][0], v, f"{name} v, S={substeps}")
    assert not res.spikes["lif"].any(), "LIF spiked although its threshold is out of reach"

    # CubaLI (tau_syn != tau_mem and ==) and CubaLIF: i = w_in * (first order in tau_syn),
    # v - v_leak = r * w_in * (cascade through tau_syn then tau_mem).
    for name in ("cuba", "cuba_eq", "cubalif"):
        q = p[name]
        i = q["w_in"] * _rect_first_order(height, q["tau_syn"], h, lag, arrived)
        v = q["v_leak"] + q["r"] * q["w_in"] * _rect_cascade(
            height, q["tau_syn"], q["tau_mem"], h, lag, arrived)
        _check(res.traces[name]["i"][0], i, f"{name} i, S={substeps}")
        _check(res.traces[name]["v"][0], v, f"{name} v, S={substeps}")
    assert not res.spikes["cubalif"].any(), "CubaLIF spiked although its threshold is out of reach"


@pytest.mark.parametrize("substeps", [2, 4, 10])
def test_increment_pulses_fire_and_reset_as_the_closed_form(substeps):
    # A spiking LIF (reset to value, v_leak < v_threshold): between pulses v relaxes
    # towards v_leak, so it can only cross the threshold at the end of a pulse, i.e. at
    # the end of a graph step, where the reset restarts the solution from v_reset.
    tau, r = np.array([4e-3, 1e-2, 2e-2]), np.array([1.0, 1.5, 0.8])
    v_leak, v_th, v_reset = np.array([0.0, 0.1, -0.2]), np.full(N, 1.0), np.array([0.0, -0.3, 0.2])
    g = Graph({"in": nir.Input(np.array([N])),
               "lif": nir.LIF(tau=tau, r=r, v_leak=v_leak, v_threshold=v_th, v_reset=v_reset)},
              [("in", "lif")], Semantics(dt=DT, input_meaning="increment", reset="to_value"))
    rng = np.random.default_rng(100 + substeps)
    # Pulses that each raise v by up to 0.7 (r x dt / tau): a spike every few steps.
    x = rng.uniform(0.0, 0.7, size=(1, STEPS, N)) * tau / (r * DT)
    x[:, rng.random(STEPS) < 0.3, :] = 0.0
    res = _run(g, x, substeps, record=("spikes", "v"))
    h = DT / substeps

    # v at the end of step n, from the last reset (or the start) at the end of step k:
    # v_leak + (v_k - v_leak) e^{-(n-k) dt/tau} + r * (pulses k+1..n, first order).
    v_exp = np.empty((STEPS, N))
    v_pre = np.empty((STEPS, N))  # before the reset
    z_exp = np.zeros((STEPS, N), bool)
    gain = -np.expm1(-h / tau)
    for j in range(N):
        start_v, start_k = v_leak[j], -1
        for n in range(STEPS):
            ks = np.arange(start_k + 1, n + 1)
            v = (v_leak[j] + (start_v - v_leak[j]) * np.exp(-(n - start_k) * DT / tau[j])
                 + r[j] * np.sum(x[0, ks, j] * substeps * gain[j]
                                 * np.exp(-(n - ks) * DT / tau[j])))
            v_pre[n, j] = v
            if v > v_th[j]:
                z_exp[n, j] = True
                v = v_reset[j]
                start_v, start_k = v, n
            v_exp[n, j] = v
    assert 3 <= z_exp.sum(axis=0).min(), "the pulse train must make every neuron fire"
    # No value so close to the threshold that rounding could decide the spike.
    assert np.abs(v_pre - v_th).min() > 1e-6, "a value lies within rounding of the threshold"
    got = res.spikes["lif"][0].astype(bool)
    if not np.array_equal(got, z_exp):
        s, j = np.argwhere(got != z_exp)[0]
        raise AssertionError(f"S={substeps}: spikes differ first at step {s}, neuron {j}: "
                             f"brian2 {bool(got[s, j])}, closed form {bool(z_exp[s, j])} "
                             f"(closed-form v before the reset {v_pre[s, j]!r}, threshold "
                             f"{v_th[j]!r})")
    _check(res.traces["lif"]["v"][0], v_exp, f"spiking lif v, S={substeps}")
