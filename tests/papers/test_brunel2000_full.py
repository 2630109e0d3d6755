"""Paper check at the paper's scale: Brunel (2000) model A in the AI state, N_E = 10,000.

N_E = 10,000, N_I = 2,500, epsilon = 0.1 (C_E = 1000, C_I = 250), J = 0.1 mV, g = 5,
eta = 2, tau = 20 ms, theta = 20 mV, V_r = 10 mV, tau_rp = 2 ms, D = 1.5 ms, dt = 0.1 ms:
the AI point of the paper's Fig. 8, with its 15.6 M recurrent synapses in a SparseLinear
(a dense matrix would be 1.25 GB) and the external drive of 20 kHz per neuron carried by
K = 20 seeded PoissonSources of 12,500 streams each (p = 0.1 per step).

What runs where: both engines run the same 0.4 s (4,000 steps) and must give identical
spike trains over all of it (one contract, one seeded stream per source), so every
statistic below is both engines'. Measured per engine on the 2 shared cores (load ~2):
torch ~2.5 ms per step on one thread (10 s; 1.1 ms of each step draws the 250,000 seeded
Poisson numbers), Brian2 numpy target ~3.4 ms per step (13 s) plus ~2.5 s to build the
15.6 M synapses; the whole file ~30 s, about twice that when the other cores are busy.
The rate is measured over 0.1-0.4 s.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, special
from spikecore.models import brunel2000
from theory import brunel_ai_rate

import spikecore as sc
from spikecore import analysis as A
from spikecore.extensions.sparse import SparseLinear
from spikecore.testing import assert_same_spikes

PAPER = {"N_E": 10000, "gamma": 0.25, "epsilon": 0.1, "J": 0.1e-3, "g": 5.0, "eta": 2.0,
         "tau": 20e-3, "theta": 20e-3, "V_r": 10e-3, "tau_rp": 2e-3, "D": 1.5e-3}
DT, P_MAX, SEED = 1e-4, 0.1, 1
STEPS = 4000
# The network starts with every v = 0: a synchronous volley at ~25 ms that dies out
# within 100 ms (population-rate CV 1.09 in 0-100 ms, 0.41-0.52 in each later 100 ms).
TRANSIENT = 1000


def _theory_inputs(nu: float, ext_variance: float) -> tuple[float, float]:
    p = PAPER
    C_E, C_I = round(p["epsilon"] * p["N_E"]), round(p["epsilon"] * round(p["gamma"] * p["N_E"]))
    nu_ext = p["eta"] * p["theta"] / (p["J"] * C_E * p["tau"])
    mu = p["J"] * p["tau"] * (C_E * (nu_ext + nu) - p["g"] * C_I * nu)
    s2 = p["J"] ** 2 * p["tau"] * (C_E * (nu_ext * ext_variance + nu) + p["g"] ** 2 * C_I * nu)
    return mu, math.sqrt(s2)


def isi_cv_theory(nu: float, ext_variance: float) -> float:
    """CV of the ISI of the LIF neuron under the same diffusive (white-noise) input, as in
    Brunel (2000) and Brunel & Hakim (1999): CV^2 = 2 pi (nu tau)^2 int_{y_r}^{y_theta}
    e^{x^2} int_{-inf}^{x} e^{y^2} (1 + erf y)^2 dy dx. (Checked here by a direct
    white-noise simulation of one neuron at mu = 21.0 mV, sigma = 7.65 mV: CV 0.63 from
    ~22 intervals per neuron, against 0.67.)"""
    mu, sigma = _theory_inputs(nu, ext_variance)
    y_r, y_t = (PAPER["V_r"] - mu) / sigma, (PAPER["theta"] - mu) / sigma

    def inner(x: float) -> float:  # e^{x^2 - y^2} erfcx(-y)^2 = e^{x^2} e^{y^2} (1+erf y)^2
        return integrate.quad(lambda y: math.exp(x * x - y * y) * special.erfcx(-y) ** 2,
                              -np.inf, x, epsabs=1e-12, limit=200)[0]

    outer = integrate.quad(inner, y_r, y_t, epsabs=1e-10, limit=200)[0]
    return math.sqrt(2 * math.pi * (nu * PAPER["tau"]) ** 2 * outer)


@pytest.fixture(scope="module")
def graph() -> sc.Graph:
    g = brunel2000(**PAPER, dt=DT, seed=SEED, p_max=P_MAX)
    assert isinstance(g.nodes["recurrent"], SparseLinear)  # the default at this size
    assert g.nodes["recurrent"].nnz == 12500 * (1000 + 250)
    assert g.metadata["external_streams"] == 20
    return g


@pytest.fixture(scope="module")
def runs(graph):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # see tests/papers/conftest.py: contended cores
    try:
        rt = sc.simulate(graph, None, backend="torch", steps=STEPS, record="neurons:spikes",
                         dtype=torch.float64)
        rb = sc.simulate(graph, None, backend="brian2", steps=STEPS, record="neurons:spikes")
    finally:
        torch.set_num_threads(threads)
    return rt, rb


def test_brian2_and_torch_give_identical_spike_trains_at_full_scale(runs):
    rt, rb = runs
    assert_same_spikes(rb, rt)
    assert rb.spikes["neurons"].sum() > 150_000  # ~37 Hz x 12,500 neurons x 0.4 s


def test_ai_rate_matches_the_self_consistent_siegert_rate(runs, graph):
    _, rb = runs
    p_ext = graph.metadata["external_p"]
    expected = brunel_ai_rate(**{k: v for k, v in PAPER.items() if k != "D"},
                              ext_variance=1.0 - p_ext)  # 37.93 Hz
    measured = float(A.firing_rates(rb.spikes["neurons"][:, TRANSIENT:], dt=DT).mean())
    # Tolerance 5 % over 0.1-0.4 s (measured 37.6 Hz for seed 1, -0.9 %). At this size the
    # rate of 12,500 neurons over 0.3 s has a Poisson error of 0.3 %; what moves it is the
    # population rate's slow fluctuation (100 ms windows: 36.2-39.3 Hz) and the diffusion
    # approximation of the theory (jumps of 0.1 and 0.5 mV against theta - V_r = 10 mV).
    assert measured == pytest.approx(expected, rel=0.05), (measured, expected)


def test_ai_state_is_asynchronous(runs):
    _, rb = runs
    z = rb.spikes["neurons"][:, TRANSIENT:]
    rate = A.population_rate(z, dt=DT, bin_width=1e-3)[0]
    cv = float(rate.std() / rate.mean())
    chi = float(A.synchrony_chi(z, dt=DT, bin_width=1e-3)[0])
    # Population rate in 1 ms bins, measured (seed 1): CV 0.48 and Golomb's chi 0.096 here;
    # the synchronous start (0-100 ms) gives CV 1.09, chi 0.21; the SI slow state of the same
    # network (g = 4.5, eta = 0.9) CV 1.44; the scaled-down network of test_brunel2000.py
    # (N_E = 1200, epsilon = 0.25) CV 1.0. Independent Poisson neurons would give CV 0.046
    # and chi 0.009: the AI state keeps a weak fast oscillation (spectral peak ~120 Hz), the
    # finite-size trace of the nearby SI-fast instability (the hand-written Brian2 script of
    # benchmarks/bench_brunel_full.py shows it too: CV 0.52, chi 0.10), so "asynchronous" is
    # asserted as "well below every synchronous state above", not as "independent".
    assert cv < 0.7, cv
    assert chi < 0.15, chi


def test_ai_firing_is_irregular(runs, graph):
    _, rb = runs
    z = rb.spikes["neurons"][:, TRANSIENT:]
    cv = float(np.nanmean(A.isi_cv(z, dt=DT)))
    nu = brunel_ai_rate(**{k: v for k, v in PAPER.items() if k != "D"},
                        ext_variance=1.0 - graph.metadata["external_p"])
    theory = isi_cv_theory(nu, 1.0 - graph.metadata["external_p"])  # 0.67
    # Measured 0.38 (seed 1; SR state at g = 3: 0.04, see test_brunel2000.py). The stationary
    # diffusion theory gives 0.67, and so do the same neurons fed independent Poisson trains
    # at the self-consistent rates (numpy, open loop: 36.6 Hz, CV 0.63). The network is
    # more regular than that: its ~120 Hz population oscillation (above) paces the neurons,
    # whose mean input is suprathreshold (mu = 21.0 mV > theta, sigma = 7.7 mV). It is the
    # model's, not the lowering's: the hand-written Brian2 script of
    # benchmarks/bench_brunel_full.py (continuous time, Brian2's PoissonInput) gives rate
    # 37.3 Hz, population-rate CV 0.52, chi 0.10 and ISI CV 0.37 over the same window.
    # Asserted: clearly irregular (above 0.3, far above the SR state's 0.04) and not above
    # the stationary theory's value.
    assert 0.3 < cv < theory, (cv, theory)
