"""Paper check: Brunel (2000), the asynchronous-irregular (AI) state of model A.

Mean-field theory (Brunel 2000, eqs. 4-5 and 21): with the rate nu of every neuron,

    mu      = J tau (C_E (nu_ext + nu) - g C_I nu)
    sigma^2 = J^2 tau (C_E (nu_ext v_ext + nu) + g^2 C_I nu)
    1 / nu  = tau_rp + tau sqrt(pi) int_{(V_r - mu)/sigma}^{(theta - mu)/sigma} e^{u^2} (1 + erf u) du

solved for nu (the self-consistent Siegert rate) with scipy here. ``v_ext`` is the variance
of the simulated external count relative to Poisson: the drive of C_E nu_ext spikes/s is
carried by K Bernoulli streams of probability p per step (a PoissonSource emits at most one
spike per step), so v_ext = 1 - p (p <= 0.1; Brunel's Poisson drive is v_ext = 1, which
moves the theoretical rate by 0.1 % here).

Network scaled down to run in seconds: N_E = 1200, epsilon = 0.25 (C_E = 300, C_I = 75),
J = 0.3 mV so that C_E J = 90 mV stays near the paper's 100 mV (the balance, and so the
AI rate, depends on C_E J, not on N); g = 5, eta = 2 (AI), tau = 20 ms, theta = 20 mV,
V_r = 10 mV, tau_rp = 2 ms, D = 1.5 ms, dt = 0.1 ms.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from spikecore.models import brunel2000
from theory import brunel_ai_rate

import spikecore as sc
from spikecore import analysis as A
from spikecore.testing import assert_close_arrays, assert_same_spikes

PAPER = {"N_E": 1200, "gamma": 0.25, "epsilon": 0.25, "J": 0.3e-3, "g": 5.0, "eta": 2.0,
         "tau": 20e-3, "theta": 20e-3, "V_r": 10e-3, "tau_rp": 2e-3, "D": 1.5e-3}
DT, P_MAX = 1e-4, 0.1
# 0.8 s on each engine (measured 5 s on Brian2, 9 s on torch on a quiet 2-core machine);
# the rate is measured after 10 tau (all neurons start at v = 0 and the synchronous start
# decays slowly).
DURATION, TRANSIENT = 0.8, 0.2


def _external_p(p: dict) -> float:
    C_E = round(p["epsilon"] * p["N_E"])
    per_step = C_E * p["eta"] * p["theta"] / (p["J"] * C_E * p["tau"]) * DT
    return per_step / math.ceil(per_step / P_MAX)


def test_ai_rate_matches_mean_field_on_brian2_and_torch():
    graph = brunel2000(**PAPER, dt=DT, seed=1, p_max=P_MAX)
    p_ext = _external_p(PAPER)
    assert graph.metadata["external_p"] == pytest.approx(p_ext, rel=1e-12)
    steps = int(round(DURATION / DT))
    rb = sc.simulate(graph, None, backend="brian2", steps=steps, record="neurons:spikes")
    rt = sc.simulate(graph, None, backend="torch", steps=steps, record="neurons:spikes",
                     dtype=torch.float64)
    # One contract, one seeded Poisson stream: the same spikes on both engines, so the
    # rate below is the rate of both.
    assert_same_spikes(rb, rt)
    rates = A.firing_rates(rb, "neurons", t_start=TRANSIENT)[0]
    measured = float(rates.mean())
    expected = brunel_ai_rate(**{k: v for k, v in PAPER.items() if k != "D"},
                              ext_variance=1.0 - p_ext)
    # Tolerance 10 %. Measured (0.2-0.8 s, seeds 0-3): 48.3, 45.8 (this seed), 44.1, 45.1 Hz
    # against 46.5 Hz (the theory
    # without the Bernoulli correction differs by 0.1 %). Why not closer: (1) finite size:
    # with epsilon = 0.25 neurons share inputs, the population rate fluctuates by ~10 %
    # in 50 ms bins on a ~100 ms time scale, so a 0.6 s mean is known to ~3 %; (2) finite
    # PSP size: jumps J = 0.3 mV (E) and g J = 1.5 mV (I) against theta - V_r = 10 mV, where
    # the theory is the diffusion limit J -> 0 (corrections of a few %); (3) dt: with delta
    # inputs and the exact propagator v only crosses threshold at input arrivals, so dt only
    # quantises arrival times (inputs within a step are summed).
    assert measured == pytest.approx(expected, rel=0.10), (measured, expected)
    # Irregular firing: ISI CV near 1 (measured 0.68 for seed 1 at 0.2-0.8 s). Not asserted:
    # asynchrony. In this small, dense (epsilon = 0.25) network the population rate
    # oscillates (std/mean 1.0 in 1 ms bins against 0.12 for independent Poisson neurons),
    # the finite-size fast oscillation; Brunel's AI asynchrony needs N large and epsilon small.
    tail = rb.spikes["neurons"][:, int(round(TRANSIENT / DT)):]
    cv = float(np.nanmean(A.isi_cv(tail, dt=DT)))
    assert 0.5 < cv < 1.2, cv


def test_g_moves_the_network_from_sr_to_irregular():
    # The states are reached by (g, eta): at g = 3 (excitation dominates, SR) neurons fire
    # regularly near saturation (measured 330 Hz, ISI CV 0.04), at g = 5 (AI, above) they
    # fire irregularly near the mean-field rate. Brian2 only (the engines' equality is
    # asserted above); 0.3 s, first 0.1 s dropped.
    sr = brunel2000(**{**PAPER, "g": 3.0}, dt=DT, seed=1)
    r = sc.simulate(sr, None, backend="brian2", steps=3000, record="neurons:spikes")
    z = r.spikes["neurons"][:, 1000:]
    rate = float(A.firing_rates(z, dt=DT).mean())
    ai = brunel_ai_rate(**{k: v for k, v in PAPER.items() if k != "D"})
    assert rate > 4 * ai, (rate, ai)
    assert float(np.nanmean(A.isi_cv(z, dt=DT))) < 0.2


def test_one_spike_moves_the_membrane_by_J_after_D():
    # The input convention: Brunel's delta synapses are voltage jumps. Without external
    # drive, one excitatory neuron is kicked over threshold in step 10 (through the
    # optional stimulus input); each of its postsynaptic partners jumps by exactly J
    # (to rounding) in step 10 + D/dt, everyone else stays at rest.
    graph = brunel2000(N_E=40, epsilon=0.1, J=0.1e-3, g=5.0, eta=0.0, dt=DT, seed=0,
                       stimulus=True)
    W = graph.nodes["recurrent"].weight
    np.testing.assert_array_equal((W > 0).sum(axis=1), 4)   # C_E = epsilon N_E
    np.testing.assert_array_equal((W < 0).sum(axis=1), 1)   # C_I = epsilon N_I
    kick = np.zeros((1, 40, 50))
    kick[0, 10, 0] = 25e-3
    d = int(round(PAPER["D"] / DT))
    for backend, opts in (("brian2", {}), ("torch", {"dtype": torch.float64})):
        r = sc.simulate(graph, kick, backend=backend, record=("spikes", "v"), **opts)
        z, v = r.spikes["neurons"][0], r.traces["neurons"]["v"][0]
        assert np.flatnonzero(z.any(axis=1)).tolist() == [10]
        assert np.flatnonzero(z[10]).tolist() == [0]
        targets = np.flatnonzero(W[:, 0])
        expect = np.zeros(50)
        expect[targets] = 0.1e-3
        expect[0] = PAPER["V_r"]
        assert_close_arrays(v[10 + d], expect, atol=1e-18, what=f"{backend} v after D")
        expect[targets] = 0.0
        assert_close_arrays(v[10 + d - 1], expect, atol=0, what=f"{backend} v before D")
