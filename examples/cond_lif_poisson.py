"""Conductance-based LIF neurons under Poisson shot noise on Brian2 and torch.

Builds spikecore.models.cond_lif_poisson (COBA benchmark values: 6 nS / 67 nS jumps on a
10 nS leak, E_E = 0, E_I = -80 mV, tau_E = 5 ms, tau_I = 10 ms), runs 2 s on both
engines, asserts identical spikes, and plots a raster, one membrane trace, the
distribution of firing rates and ISI CVs. It prints the measured mean conductances next
to Campbell's theorem for shot noise, <g> = g_jump K nu tau (per leak conductance).

    python examples/cond_lif_poisson.py [--out DIR]   ->  cond_lif_poisson.png
"""

from __future__ import annotations

import numpy as np
import torch
from _common import parse_out, pyplot
from spikecore.models import cond_lif_poisson

import spikecore as sc
from spikecore import analysis as A
from spikecore.testing import assert_same_spikes

DURATION, TRANSIENT = 2.0, 0.1
PARAMS = dict(n=100, N_E=400, N_I=100, rates=(20.0, 20.0), g_E=0.6, g_I=6.7, epsilon=0.2,
              tau_E=5e-3, tau_I=10e-3, seed=0)


def main() -> None:
    out = parse_out(__doc__.splitlines()[0])
    plt = pyplot()
    graph = cond_lif_poisson(**PARAMS)
    steps, dt = int(round(DURATION / graph.semantics.dt)), graph.semantics.dt
    record = ["neurons:spikes", "neurons:g_exc", "neurons:g_inh", "neurons:v"]
    rb = sc.simulate(graph, None, backend="brian2", steps=steps, record=record)
    rt = sc.simulate(graph, None, backend="torch", steps=steps, record="neurons:spikes",
                     dtype=torch.float64)
    assert_same_spikes(rb, rt)
    m, skip = graph.metadata, int(round(TRANSIENT / dt))
    for kind, K, nu, jump, tau in (("exc", m["K_E"], m["nu_E"], m["g_E"], PARAMS["tau_E"]),
                                   ("inh", m["K_I"], m["nu_I"], m["g_I"], PARAMS["tau_I"])):
        measured = rb.traces["neurons"][f"g_{kind}"][0, skip:].mean()
        print(f"<g_{kind}> measured {measured:.3f}, Campbell {jump * K * nu * tau:.3f} "
              "(leak units)")
    rates = A.firing_rates(rb, "neurons", t_start=TRANSIENT)[0]
    cv = A.isi_cv(rb, "neurons")[0]
    print(f"brian2 == torch: mean rate {rates.mean():.2f} Hz, mean ISI CV {np.nanmean(cv):.2f}")

    fig, ax = plt.subplots(2, 2, figsize=(9, 6))
    t, i = np.nonzero(rb.spikes["neurons"][0])
    ax[0, 0].plot(t * dt, i, "|k", ms=2)
    ax[0, 0].set(xlabel="time (s)", ylabel="neuron", title="raster (Brian2; torch identical)")
    v = rb.traces["neurons"]["v"][0, :, 0]
    ax[0, 1].plot(np.arange(v.size) * dt, v * 1e3, lw=0.5)
    ax[0, 1].set(xlim=(0, 0.5), xlabel="time (s)", ylabel="V (mV)", title="neuron 0")
    ax[1, 0].hist(rates, bins=20)
    ax[1, 0].set(xlabel="rate (Hz)", ylabel="neurons")
    ax[1, 1].hist(cv[np.isfinite(cv)], bins=20)
    ax[1, 1].set(xlabel="ISI CV", ylabel="neurons")
    fig.tight_layout()
    fig.savefig(out / "cond_lif_poisson.png", dpi=110)
    print("wrote", out / "cond_lif_poisson.png")


if __name__ == "__main__":
    main()
