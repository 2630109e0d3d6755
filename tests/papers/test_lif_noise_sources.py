"""Paper check: LIF populations driven by spikecore's seeded noise sources.

Model (``spikecore.models.lif_population_noise``): tau dV/dt = -V + I(t), threshold theta,
reset V_r, refractory tau_rp.
1. White noise I = mu + sigma sqrt(tau) eta(t) (a WhiteNoiseSource): the stationary rate is
   Siegert's (Ricciardi; Brunel 2000 eq. 21)
       1/nu = tau_rp + tau sqrt(pi) int_{(V_r - mu)/sigma}^{(theta - mu)/sigma} e^{u^2} (1 + erf u) du.
2. Ornstein-Uhlenbeck current (an OUSource: std s, correlation time tau_s << tau): to first
   order in sqrt(tau_s / tau) the rate is Siegert's with the white-noise intensity of the
   same low-frequency power, sigma = s sqrt(2 tau_s / tau), and thresholds shifted by
   sigma (alpha / 2) sqrt(tau_s / tau), alpha = sqrt(2) |zeta(1/2)| (Fourcaud & Brunel 2002,
   Brunel et al. 2001).
Expected values are evaluated here with scipy from these formulas.
"""

from __future__ import annotations

import math

import torch
from scipy import special
from spikecore.models import lif_population_noise
from theory import siegert_rate

import spikecore as sc
from spikecore import analysis as A
from spikecore.testing import assert_same_spikes

TAU, THETA, V_R, TAU_RP = 20e-3, 1.0, 0.0, 2e-3


def test_white_noise_source_rate_matches_siegert_on_brian2_and_torch():
    mu, sigma, dt, n, duration = 0.8, 0.3, 5e-5, 1000, 1.5
    graph = lif_population_noise(n, mu=mu, sigma=sigma, noise="white", tau=TAU, theta=THETA,
                                 V_r=V_R, tau_rp=TAU_RP, dt=dt, seed=3)
    steps = int(round(duration / dt))
    rb = sc.simulate(graph, None, backend="brian2", steps=steps, record="neurons:spikes")
    rt = sc.simulate(graph, None, backend="torch", steps=steps, record="neurons:spikes",
                     dtype=torch.float64)
    assert_same_spikes(rb, rt)  # one contract, one seeded stream: the same spikes
    rates = A.firing_rates(rt, "neurons", t_start=0.1)[0]
    siegert = siegert_rate(mu, sigma, THETA, V_R, TAU, TAU_RP)
    # The threshold is checked at step ends only, which to leading order raises it by
    # beta * sigma * sqrt(dt/tau), beta = -zeta(1/2)/sqrt(2 pi) (Siegmund's constant): the
    # expected rate of the discrete model is Siegert's at the raised threshold (3.3 % below
    # the continuous one here; the next order, O(dt/tau) = 0.25 %, is neglected).
    beta = -special.zeta(0.5) / math.sqrt(2 * math.pi)
    expected = siegert_rate(mu, sigma, THETA + beta * sigma * math.sqrt(dt / TAU), V_R, TAU, TAU_RP)
    assert expected < siegert - 0.3
    # 4 standard errors of the population mean (independent neurons; SE from the spread of
    # single-neuron rates, ~0.06 Hz). Measured (torch, seeds 3, 7, 11): 11.996, 12.103,
    # 12.101 Hz against 12.098 Hz, i.e. -1.75, +0.09, +0.05 SE; the uncorrected Siegert rate
    # (12.51 Hz) is 7 SE away, so the test does see the discretisation.
    se = rates.std(ddof=1) / math.sqrt(n)
    assert abs(rates.mean() - expected) <= 4 * se, (rates.mean(), expected, se)


def test_ou_source_rate_matches_colored_noise_theory_on_torch():
    mu, s, tau_s, dt, n, duration = 0.8, 0.5, 1e-3, 5e-5, 200, 1.5
    graph = lif_population_noise(n, mu=mu, sigma=s, noise="ou", tau_noise=tau_s, tau=TAU,
                                 theta=THETA, V_r=V_R, tau_rp=TAU_RP, dt=dt, seed=4,
                                 integrator="exact")
    rt = sc.simulate(graph, None, backend="torch", steps=int(round(duration / dt)),
                     record="neurons:spikes", dtype=torch.float64)
    rates = A.firing_rates(rt, "neurons", t_start=0.1)[0]
    k = math.sqrt(tau_s / TAU)
    sigma = s * math.sqrt(2 * tau_s / TAU)
    shift = sigma * math.sqrt(2) * abs(special.zeta(0.5)) / 2 * k
    expected = siegert_rate(mu, sigma, THETA + shift, V_R + shift, TAU, TAU_RP)
    white = siegert_rate(mu, sigma, THETA, V_R, TAU, TAU_RP)
    se = rates.std(ddof=1) / math.sqrt(n)
    # Tolerance 8 % of the coloured-noise rate + 4 standard errors: the theory is first
    # order in sqrt(tau_s/tau) = 0.22; the neglected O(tau_s/tau) = 5 % terms act on a
    # rate steep in the threshold. Measured (seeds 4, 5, 6): 3.46, 3.10, 3.35 Hz against
    # 3.23 Hz (first order) and 4.99 Hz (white noise without the shift), SE 0.09 Hz: the
    # shift is needed, the white-noise value would fail.
    assert abs(rates.mean() - expected) <= 0.08 * expected + 4 * se, (rates.mean(), expected,
                                                                      white, se)
