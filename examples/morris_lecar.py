"""Morris-Lecar neurons and networks on Brian2 and torch: type I and type II excitability.

1. f-I curves of single Morris-Lecar neurons with the type I (saddle-node on invariant
   circle) and type II (Hopf) parameter sets of Rinzel & Ermentrout (1998): type I starts
   firing at an arbitrarily low rate, type II jumps to a finite rate. 40 currents per
   type run as one population on both engines (identical spikes, asserted).
2. A recurrent network of type I neurons with graded conductance synapses
   (spikecore.models.morris_lecar_network, synapse='conductance'), excitatory
   (e_syn = 0 mV) and inhibitory (e_syn = -80 mV): raster of upward 0 mV crossings and
   population activity <s>, on both engines (voltages equal to rounding, asserted).

    python examples/morris_lecar.py [--out DIR]   ->  morris_lecar.png
"""

from __future__ import annotations

import numpy as np
import torch
from _common import parse_out, pyplot
from spikecore.models import morris_lecar_network

import spikecore as sc
from spikecore import extensions as X
from spikecore import primitives as P
from spikecore.testing import assert_close_arrays, assert_same_spikes

DT = 0.05e-3  # s
TORCH = {"dtype": torch.float64}


def f_i_curve(kind: str, currents: np.ndarray, duration: float = 2.0) -> np.ndarray:
    """Firing rate (Hz) after a 0.5 s transient for each constant current (uA/cm^2)."""
    n = currents.size
    g = sc.Graph({"in": P.Input(np.array([n])), "ml": X.MorrisLecar.of_type(kind, n)},
                 [("in", "ml")], sc.Semantics(dt=DT, integrator="exact"), name=f"ml_{kind}")
    steps = int(round(duration / DT))
    x = {"in": np.broadcast_to(currents, (1, steps, n)).copy()}
    rt = sc.simulate(g, x, backend="torch", steps=steps, record="ml:spikes", **TORCH)
    rb = sc.simulate(g, x, backend="brian2", steps=steps, record="ml:spikes")
    assert_same_spikes(rb, rt)
    rates = []
    for s in rt.spike_steps("ml"):
        t = np.asarray(s) * DT
        t = t[t > 0.5]
        rates.append((t.size - 1) / (t[-1] - t[0]) if t.size >= 3 else 0.0)
    return np.array(rates)


def network(e_syn: float, steps: int) -> sc.Result:
    g = morris_lecar_network(n=40, kind="I", coupling=0.5, I_app=45.0, sigma=1.0, seed=2,
                             synapse="conductance", e_syn=e_syn)
    rec = ["neurons:v"]
    rt = sc.simulate(g, None, backend="torch", steps=steps, record=rec, **TORCH)
    rb = sc.simulate(g, None, backend="brian2", steps=steps, record=rec)
    assert_close_arrays(rb.traces["neurons"]["v"], rt.traces["neurons"]["v"], 1e-9,
                        f"network e_syn={e_syn}")
    return rb


def main() -> None:
    out = parse_out(__doc__.splitlines()[0])
    plt = pyplot()
    fig, ax = plt.subplots(1, 3, figsize=(14, 4))
    for kind, currents in (("I", np.linspace(30, 110, 40)), ("II", np.linspace(80, 160, 40))):
        f = f_i_curve(kind, currents)
        onset = currents[np.argmax(f > 0)]
        print(f"type {kind}: first firing at {onset:.1f} uA/cm^2, rate there "
              f"{f[f > 0][0]:.1f} Hz, at {currents[-1]:.0f}: {f[-1]:.1f} Hz")
        ax[0].plot(currents, f, "o-", ms=3, label=f"type {kind}")
    ax[0].set(xlabel="I (uA/cm^2)", ylabel="rate (Hz)", title="f-I curves (Brian2 = torch)")
    ax[0].legend()
    steps = int(round(1.0 / DT))
    for k, (label, e_syn) in enumerate((("excitatory, e_syn = 0 mV", 0.0),
                                        ("inhibitory, e_syn = -80 mV", -80.0))):
        r = network(e_syn, steps)
        v = r.traces["neurons"]["v"][0]  # [steps, n]
        t, i = np.nonzero((v[:-1] <= 0.0) & (v[1:] > 0.0))
        ax[1 + k].plot((t + 1) * DT, i, "|k", ms=3)
        ax[1 + k].set(xlabel="time (s)", ylabel="neuron", title=f"type I network, {label}")
        print(f"network {label}: {t.size / (40 * 1.0):.1f} crossings/neuron/s")
    fig.tight_layout()
    fig.savefig(out / "morris_lecar.png", dpi=110)
    print("wrote", out / "morris_lecar.png")


if __name__ == "__main__":
    main()
