"""LTC-SNN (liquid time-constant spiking network, Yin, Corradi & Bohté 2023) trained in
torch, then run on Brian2 and torch with the same spikes.

Builds spikecore.models.ltc_snn (an input projection, one recurrent layer of LTCLIF
neurons whose membrane rate and adaptation decay are sigmoid gates over the input and
the neuron's own state, a leaky readout), trains it by BPTT with surrogate gradients on
a temporal comparison (is the noisy input level in the first half of the trial above the
level in the second half?), writes the trained network back to a spikecore graph, runs
the test trials on Brian2 (discrete mode) and torch, asserts identical spikes, replays
them with the numpy contract (spikecore.extensions.ltc.ltc_step) to get the gates, and plots the
learning curve, a raster and the distribution of the effective membrane time constant
``tau_m(t) = dt / g_m`` before and after training.

    python examples/ltc_snn.py [--out DIR]   ->  ltc_snn.png
"""

from __future__ import annotations

import time

import numpy as np
import torch
from _common import parse_out, pyplot
from spikecore.models import ltc_snn

import spikecore as sc
from spikecore.extensions.ltc import ltc_coefficients, ltc_gates, ltc_initial_state, ltc_step
from spikecore.testing import assert_same_spikes

T = 30  # steps of 1 ms: two halves of 15
N_HIDDEN, ITERATIONS, BATCH = 32, 120, 32


def trials(rng: np.random.Generator, batch: int) -> tuple[np.ndarray, np.ndarray]:
    """Levels m1, m2 ~ U(-1, 1) held for each half, noise 0.3 per step, given as two
    non-negative channels (positive and negative part). Label: m1 > m2."""
    m = rng.uniform(-1, 1, (batch, 2))
    x = np.repeat(m, T // 2, axis=1) + rng.normal(0, 0.3, (batch, T))
    return np.stack([np.clip(x, 0, None), np.clip(-x, 0, None)], -1), (m[:, 0] > m[:, 1])


def decision(out: torch.Tensor) -> torch.Tensor:
    """Logits: the readout averaged over the last 5 steps."""
    return 5.0 * out[:, -5:].mean(1)


def gate_values(graph: sc.Graph, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Spikes and g_m of every neuron and step, by the numpy contract."""
    node = graph.nodes["ltc"]
    co = ltc_coefficients(node, graph.semantics, (node.n,))
    w_in, w_rec = np.asarray(graph.nodes["w_in"].weight), np.asarray(graph.nodes["w_rec"].weight)
    v, a, z = ltc_initial_state(co, x.shape[0])
    spikes, gates = [], []
    for t in range(x.shape[1]):
        drive = x[:, t] @ w_in.T + z @ w_rec.T
        g_m, _ = ltc_gates(np, co, v, a, drive)
        fired, (v, a, _) = ltc_step(np, co, (v, a, z), drive)
        z = fired.astype(float)
        spikes.append(fired)
        gates.append(g_m)
    return np.stack(spikes, 1), np.stack(gates, 1)


def main() -> None:
    out_dir = parse_out(__doc__.splitlines()[0])
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    graph = ltc_snn(2, N_HIDDEN, 2, seed=0, w_in_scale=2.0)
    module = sc.to_torch(graph, dtype=torch.float64)
    opt = torch.optim.Adam(module.parameters(), lr=0.01)
    x_test, y_test = trials(np.random.default_rng(1234), 256)

    def accuracy() -> float:
        with torch.no_grad():
            o, _ = module(torch.as_tensor(x_test))
        return float(np.mean(decision(o).argmax(-1).numpy() == y_test))

    curve = [(0, accuracy())]
    t0 = time.perf_counter()
    for it in range(1, ITERATIONS + 1):
        x, y = trials(rng, BATCH)
        o, _ = module(torch.as_tensor(x))
        loss = torch.nn.functional.cross_entropy(decision(o), torch.as_tensor(y.astype(np.int64)))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if it % 20 == 0:
            curve.append((it, accuracy()))
            print(f"iteration {it:4d}  loss {loss.item():.3f}  test accuracy {curve[-1][1]:.3f}")
    print(f"training: {ITERATIONS} iterations of batch {BATCH} in "
          f"{time.perf_counter() - t0:.1f} s; test accuracy {curve[0][1]:.3f} -> "
          f"{curve[-1][1]:.3f} (chance 0.5)")

    trained = sc.from_torch(module)
    x = x_test[:16]
    rec = ("spikes", "ltc:v", "ltc:a")
    brian = sc.simulate(trained, x, backend="brian2", record=rec)
    tor = sc.simulate(trained, x, backend="torch", record=rec)
    assert_same_spikes(brian, tor)
    dv = float(np.abs(brian.traces["ltc"]["v"] - tor.traces["ltc"]["v"]).max())
    spikes, g_after = gate_values(trained, x)
    assert np.array_equal(spikes, brian.spikes["ltc"]), "numpy contract != Brian2"
    _, g_before = gate_values(graph, x)
    print(f"Brian2 == torch == numpy contract: {int(spikes.sum())} spikes identical over "
          f"{x.shape[0]} trials x {T} steps x {N_HIDDEN} neurons; max |v| difference "
          f"{dv:.1e}")
    dt = trained.semantics.dt
    tau_before, tau_after = dt / g_before * 1e3, dt / g_after * 1e3  # ms
    print(f"effective tau_m = dt/g_m: median {np.median(tau_before):.1f} ms before, "
          f"{np.median(tau_after):.1f} ms after training (5-95%: "
          f"{np.percentile(tau_after, 5):.1f}-{np.percentile(tau_after, 95):.1f} ms)")

    plt = pyplot()
    fig, ax = plt.subplots(1, 3, figsize=(14, 4))
    it, acc = zip(*curve, strict=True)
    ax[0].plot(it, acc, "o-")
    ax[0].axhline(0.5, color="gray", ls=":", label="chance")
    ax[0].set(xlabel="iteration", ylabel="test accuracy", title="BPTT training (torch)",
              ylim=(0.3, 1.0))
    ax[0].legend()
    steps, neurons = np.nonzero(brian.spikes["ltc"][0])
    ax[1].plot(steps, neurons, "|", ms=8, label="Brian2")
    steps, neurons = np.nonzero(tor.spikes["ltc"][0])
    ax[1].plot(steps, neurons, ".", ms=3, color="k", label="torch")
    ax[1].axvline(T // 2 - 0.5, color="gray", ls=":")
    ax[1].set(xlabel="step (ms)", ylabel="neuron", title=f"trial 0 (label {bool(y_test[0])})")
    ax[1].legend(loc="upper right")
    bins = np.logspace(np.log10(min(tau_before.min(), tau_after.min())),
                       np.log10(max(tau_before.max(), tau_after.max())), 40)
    ax[2].hist(tau_before.ravel(), bins=bins, alpha=0.6, label="initial")
    ax[2].hist(tau_after.ravel(), bins=bins, alpha=0.6, label="trained")
    ax[2].set(xscale="log", xlabel="tau_m(t) = dt / g_m  (ms)", ylabel="neuron-steps",
              title="effective membrane time constant")
    ax[2].legend()
    fig.tight_layout()
    fig.savefig(out_dir / "ltc_snn.png", dpi=110)
    print(f"wrote {out_dir / 'ltc_snn.png'}")


if __name__ == "__main__":
    main()
