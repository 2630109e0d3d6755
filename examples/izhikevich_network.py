"""Izhikevich (2003) network on Brian2 and torch: raster and rhythms of the paper's Fig. 3.

Builds spikecore.models.izhikevich_network (800 regular-spiking excitatory, 200
fast-spiking inhibitory neurons, all to all, thalamic white noise, the paper's dt = 1 ms
scheme), runs one second on both engines, asserts identical spikes, and plots the raster,
the population rate and its power spectrum (the paper reports rhythms in the alpha
(~10 Hz) and gamma (~40 Hz) bands).

    python examples/izhikevich_network.py [--out DIR]   ->  izhikevich_network.png
"""

from __future__ import annotations

import numpy as np
import torch
from _common import parse_out, pyplot
from spikecore.models import izhikevich_network

import spikecore as sc
from spikecore import analysis as A
from spikecore.testing import assert_same_spikes

STEPS = 1000  # 1 s at dt = 1 ms


def main() -> None:
    out = parse_out(__doc__.splitlines()[0])
    plt = pyplot()
    graph = izhikevich_network(Ne=800, Ni=200, seed=0)
    rb = sc.simulate(graph, None, backend="brian2", steps=STEPS, record="neurons:spikes")
    rt = sc.simulate(graph, None, backend="torch", steps=STEPS, record="neurons:spikes",
                     dtype=torch.float64)
    assert_same_spikes(rb, rt)
    spikes = rb.spikes["neurons"][0]
    rate = A.population_rate(rb, "neurons")[0]  # Hz per neuron, per step
    freqs = np.fft.rfftfreq(rate.size, d=graph.semantics.dt)
    power = np.abs(np.fft.rfft(rate - rate.mean())) ** 2
    band = (freqs >= 2) & (freqs <= 80)
    peak = freqs[band][np.argmax(power[band])]
    print(f"brian2 == torch: {int(spikes.sum())} spikes; mean rate "
          f"{A.firing_rates(rb, 'neurons')[0].mean():.1f} Hz; spectral peak {peak:.1f} Hz")

    fig, ax = plt.subplots(3, 1, figsize=(7, 8))
    t, i = np.nonzero(spikes)
    ax[0].plot(t, i, ",k")
    ax[0].axhline(800, color="r", lw=0.5)
    ax[0].set(xlabel="time (ms)", ylabel="neuron (E below the red line)",
              title="Izhikevich (2003) network, Brian2 (torch identical)")
    ax[1].plot(np.arange(rate.size), rate, lw=0.7)
    ax[1].set(xlabel="time (ms)", ylabel="population rate (Hz)")
    ax[2].semilogy(freqs[band], power[band])
    ax[2].axvline(peak, color="r", ls="--", lw=1)
    ax[2].set(xlabel="frequency (Hz)", ylabel="power", title=f"peak at {peak:.1f} Hz")
    fig.tight_layout()
    fig.savefig(out / "izhikevich_network.png", dpi=110)
    print("wrote", out / "izhikevich_network.png")


if __name__ == "__main__":
    main()
