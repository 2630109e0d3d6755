"""LSNN trained with e-prop on a delayed-recall task, then run on Brian2 and torch.

Builds spikecore.models.lsnn (LIF and adaptive ALIF neurons in one recurrent population,
Bellec et al. 2020), trains it online with e-prop (spikecore.learning.EProp of the lowered module;
no backpropagation through time) to report after a 200 ms delay which of two input
channels was active during a 50 ms cue, exports the trained network back to a spikecore
graph, runs the test trials on Brian2 and torch (the same spikes, asserted) and plots the
learning curve, a raster and the readout of one trial. (The adaptation carries the cue
through the delay; a recurrent network without it can also learn the task, by holding
the cue in self-sustained firing — try ``train(beta=0.0)`` and look at its raster.)

    python examples/lsnn_eprop.py [--out DIR]   ->  lsnn_eprop.png
"""

from __future__ import annotations

import numpy as np
import torch
from _common import parse_out, pyplot
from spikecore.models import lsnn

import spikecore as sc
from spikecore.learning import EProp
from spikecore.testing import assert_same_spikes

CUE, DELAY, RECALL = 50, 200, 50  # steps of 1 ms
STEPS = CUE + DELAY + RECALL
ITERATIONS, BATCH = 100, 32


def trials(seed: int, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Channels 0/1: cue (Poisson 200 Hz on the label's channel); 2: recall signal
    (200 Hz); 3: background (10 Hz). Label: which cue channel was active."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (batch,), generator=g)
    u = torch.rand(batch, STEPS, 4, generator=g, dtype=torch.float64)
    x = torch.zeros(batch, STEPS, 4, dtype=torch.float64)
    x[torch.arange(batch), :CUE, labels] = (u[torch.arange(batch), :CUE, labels] < 0.2).double()
    x[:, CUE + DELAY:, 2] = (u[:, CUE + DELAY:, 2] < 0.2).double()
    x[:, :, 3] = (u[:, :, 3] < 0.01).double()
    return x, labels


def train(beta: float) -> tuple[sc.Graph, list[float], float]:
    torch.manual_seed(0)
    graph = lsnn(n_in=4, n_lif=20, n_alif=20, n_out=2, tau_a=0.5, beta=beta, w_in_scale=3.0,
                 seed=0)
    module = sc.to_torch(graph, dtype=torch.float64, surrogate="triangle", surrogate_scale=1.0)
    rule = EProp(module)
    opt = torch.optim.Adam(module.parameters(), lr=0.005)
    mask = (torch.arange(STEPS) >= CUE + DELAY).double()  # the loss counts in the recall only
    losses = []
    for it in range(ITERATIONS):
        x, labels = trials(it, BATCH)
        opt.zero_grad()
        losses.append(rule.backward(x, labels, loss="ce", mask=mask))
        opt.step()
    trained = sc.from_torch(module)
    x, labels = trials(10_000, 100)
    r = sc.simulate(trained, x.numpy(), backend="torch", dtype=torch.float64)
    accuracy = float((r.outputs["output"][:, CUE + DELAY:].mean(1).argmax(-1)
                      == labels.numpy()).mean())
    return trained, losses, accuracy


def main() -> None:
    out = parse_out(__doc__.splitlines()[0])
    plt = pyplot()
    torch.set_num_threads(1)  # tiny tensors, many steps: one thread is faster
    graph, losses, acc = train(beta=1.8)
    print(f"test accuracy: {acc:.2f} (chance 0.5)")

    x, labels = trials(20_000, 4)
    rec = ["rec:spikes"]  # outputs are always recorded
    rt = sc.simulate(graph, x.numpy(), backend="torch", record=rec, dtype=torch.float64)
    rb = sc.simulate(graph, x.numpy(), backend="brian2", record=rec)
    assert_same_spikes(rb, rt)
    print("brian2 == torch on the trained network:", int(rb.spikes["rec"].sum()), "spikes")

    fig, ax = plt.subplots(3, 1, figsize=(7, 8))
    ax[0].plot(losses)
    ax[0].set(xlabel="e-prop iteration", ylabel="cross-entropy",
              title=f"learning curve (test accuracy {acc:.2f})")
    t, i = np.nonzero(rb.spikes["rec"][0])
    ax[1].plot(t, i, "|k", ms=3)
    ax[1].axhline(19.5, color="r", lw=0.5)
    for edge in (CUE, CUE + DELAY):
        ax[1].axvline(edge, color="gray", ls="--", lw=1)
    ax[1].set(xlabel="time (ms)", ylabel="neuron (ALIF above red)",
              title=f"trial 0 on Brian2, label {int(labels[0])}")
    ax[2].plot(rb.outputs["output"][0])
    ax[2].axvline(CUE + DELAY, color="gray", ls="--", lw=1)
    ax[2].set(xlabel="time (ms)", ylabel="readout", title="readout (class 0, class 1)")
    fig.tight_layout()
    fig.savefig(out / "lsnn_eprop.png", dpi=110)
    print("wrote", out / "lsnn_eprop.png")


if __name__ == "__main__":
    main()
