"""Brunel (2000) model A on Brian2, torch and NEST: the states reached by (g, eta).

Builds spikecore.models.brunel2000 (sparse E/I RefractoryLIF network, fixed in-degree,
delay D, refractory period, seeded Poisson drive) scaled down to N_E = 1200, epsilon = 0.25,
J = 0.3 mV (C_E J = 90 mV, near the paper's 100 mV), runs it on Brian2 (0.6 s; the AI
network also on torch and on NEST: the same spikes, asserted), and for four (g, eta) pairs plots
a raster and the population rate. The AI rate is compared with Brunel's mean-field
(Siegert) self-consistency, solved with scipy.

    python examples/brunel2000.py [--out DIR]   ->  brunel2000.png
"""

from __future__ import annotations

import math

import numpy as np
import torch
from _common import parse_out, pyplot
from scipy import integrate, optimize, special
from spikecore.models import brunel2000

import spikecore as sc
from spikecore import analysis as A
from spikecore.testing import assert_same_spikes

PAPER = {"N_E": 1200, "epsilon": 0.25, "J": 0.3e-3, "tau": 20e-3, "theta": 20e-3,
         "V_r": 10e-3, "tau_rp": 2e-3, "D": 1.5e-3}
DT, DURATION, TRANSIENT = 1e-4, 0.6, 0.2
STATES = {"SR (g=3, eta=2)": (3.0, 2.0), "AI (g=5, eta=2)": (5.0, 2.0),
          "SI fast (g=6, eta=4)": (6.0, 4.0), "SI slow (g=4.5, eta=0.9)": (4.5, 0.9)}


def mean_field_rate(g: float, eta: float) -> float:
    """Brunel (2000) eqs. 4-5, 21: the self-consistent stationary rate (Hz)."""
    J, tau, theta, V_r, t_rp = (PAPER[k] for k in ("J", "tau", "theta", "V_r", "tau_rp"))
    C_E = round(PAPER["epsilon"] * PAPER["N_E"])
    C_I = round(PAPER["epsilon"] * round(0.25 * PAPER["N_E"]))
    nu_ext = eta * theta / (J * C_E * tau)

    def F(nu: float) -> float:
        mu = J * tau * (C_E * (nu_ext + nu) - g * C_I * nu)
        sigma = J * math.sqrt(tau * (C_E * (nu_ext + nu) + g * g * C_I * nu))
        lo, hi = (V_r - mu) / sigma, (theta - mu) / sigma
        return 1.0 / (t_rp + tau * math.sqrt(math.pi)
                      * integrate.quad(lambda u: special.erfcx(-u), lo, hi)[0])

    return optimize.brentq(lambda nu: nu - F(nu), 1e-3, 1 / t_rp - 1e-3)


def main() -> None:
    out = parse_out(__doc__.splitlines()[0])
    plt = pyplot()
    steps, first = int(round(DURATION / DT)), int(round(TRANSIENT / DT))
    fig, ax = plt.subplots(2, len(STATES), figsize=(4.2 * len(STATES), 6), sharex=True)
    for col, (label, (g, eta)) in enumerate(STATES.items()):
        graph = brunel2000(**PAPER, g=g, eta=eta, dt=DT, seed=1)
        rb = sc.simulate(graph, None, backend="brian2", steps=steps, record="neurons:spikes")
        if label.startswith("AI"):
            rt = sc.simulate(graph, None, backend="torch", steps=steps, record="neurons:spikes",
                             dtype=torch.float64)
            rn = sc.simulate(graph, None, backend="nest", steps=steps, record="neurons:spikes")
            assert_same_spikes(rb, rt)
            assert_same_spikes(rb, rn)
            print(f"{label}: torch, NEST and Brian2 identical over {steps} steps "
                  f"({int(rt.spikes['neurons'].sum())} spikes; NEST run {rn.wall_time:.2f} s, "
                  f"Brian2 {rb.wall_time:.2f} s, torch {rt.wall_time:.2f} s)")
        z = rb.spikes["neurons"][:, first:]
        rate = float(A.firing_rates(z, dt=DT).mean())
        cv = float(np.nanmean(A.isi_cv(z, dt=DT)))
        theory = mean_field_rate(g, eta)
        print(f"{label}: rate {rate:6.1f} Hz (mean field {theory:6.1f} Hz), ISI CV {cv:.2f}")
        t, j = np.nonzero(z[0, :, :100])  # 100 excitatory neurons
        ax[0, col].plot(TRANSIENT + t * DT, j, "|", ms=2, color="k")
        ax[0, col].set(title=f"{label}\n{rate:.1f} Hz (MF {theory:.1f}), CV {cv:.2f}",
                       ylabel="neuron" if col == 0 else None)
        pop = A.population_rate(z, dt=DT, bin_width=1e-3)[0]
        ax[1, col].plot(TRANSIENT + np.arange(pop.size) * 1e-3, pop, lw=0.7)
        ax[1, col].set(xlabel="time (s)", ylabel="population rate (Hz)" if col == 0 else None)
    fig.tight_layout()
    fig.savefig(out / "brunel2000.png", dpi=100)
    print("wrote", out / "brunel2000.png")


if __name__ == "__main__":
    main()
