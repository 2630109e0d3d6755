"""LIF neurons under white-noise current on Brian2 and Norse vs the Siegert formula.

    tau dv/dt = -v + mu + sigma sqrt(tau) eta(t),  spike at v > 1, reset to 0

Drives 6 groups of uncoupled LIF neurons (spikecore.models.lif_population) with seeded,
discretised white noise (spikecore.models.white_noise_current) at increasing mean mu,
runs the same graph and input on Brian2 and Norse (identical spikes: same contract), and
plots the rate against Siegert's formula (scipy), a raster and the ISI CV.

    python examples/lif_siegert.py [--out DIR]   ->  lif_siegert.png
"""

from __future__ import annotations

import numpy as np
import torch
from _common import parse_out, pyplot
from scipy import integrate, special
from spikecore.models import lif_population, white_noise_current

import spikecore as sc
from spikecore import analysis as A
from spikecore.testing import assert_same_spikes

TAU, THETA, DT, DURATION, PER_GROUP = 20e-3, 1.0, 5e-5, 1.0, 80


def siegert(mu: float, sigma: float) -> float:
    lo, hi = (0.0 - mu) / sigma, (THETA - mu) / sigma
    return 1.0 / (TAU * np.sqrt(np.pi) * integrate.quad(lambda u: special.erfcx(-u), lo, hi)[0])


def main() -> None:
    out = parse_out(__doc__.splitlines()[0])
    plt = pyplot()
    sigma = 0.3
    mus = np.array([0.6, 0.7, 0.8, 0.9, 1.0, 1.1])
    n = mus.size * PER_GROUP
    steps = int(round(DURATION / DT))
    graph = lif_population(n, tau=TAU, v_threshold=THETA, semantics=sc.Semantics(DT, "euler"))
    noise = white_noise_current(n, steps, DT, 0.0, sigma, TAU, seed=0)
    x = noise + np.repeat(mus, PER_GROUP)[None, None, :]
    results = {"brian2": sc.simulate(graph, x, backend="brian2"),
               "torch": sc.simulate(graph, x, backend="torch", dtype=torch.float64)}
    assert_same_spikes(results["brian2"], results["torch"])
    print("Brian2 and Norse: identical spikes "
          f"({int(results['torch'].spikes['lif'].sum())} in total)")

    fig, ax = plt.subplots(1, 3, figsize=(15, 4))
    grid = np.linspace(0.5, 1.2, 60)
    ax[0].plot(grid, [siegert(m, sigma) for m in grid], "k-", label="Siegert (scipy)")
    for (name, r), marker in zip(results.items(), ("o", "x"), strict=True):
        rates = A.firing_rates(r, "lif", t_start=0.1)[0].reshape(mus.size, PER_GROUP)
        ax[0].plot(mus, rates.mean(axis=1), marker, label=name, ms=8 if marker == "x" else 6)
        for mu, rate in zip(mus, rates.mean(axis=1), strict=True):
            print(f"{name}: mu = {mu:.1f}: {rate:6.2f} Hz (Siegert {siegert(mu, sigma):6.2f} Hz)")
    ax[0].set(xlabel="mu (threshold units)", ylabel="rate (Hz)",
              title=f"LIF in white noise, sigma = {sigma}, dt = {DT * 1e3:g} ms")
    ax[0].legend()
    z = results["torch"].spikes["lif"][0]
    t, j = np.nonzero(z[: int(0.5 / DT)])
    ax[1].plot(t * DT, j, "|", ms=2, color="k")
    ax[1].set(xlabel="time (s)", ylabel="neuron (groups of increasing mu)", title="raster (Norse)")
    cv = A.isi_cv(results["torch"], "lif").reshape(mus.size, PER_GROUP)
    ax[2].plot(mus, np.nanmean(cv, axis=1), "o-")
    ax[2].set(xlabel="mu", ylabel="ISI CV", title="irregularity falls as drive rises")
    fig.tight_layout()
    fig.savefig(out / "lif_siegert.png", dpi=110)
    print("wrote", out / "lif_siegert.png")


if __name__ == "__main__":
    main()
