"""Evolution strategies train a recurrent Morris-Lecar network on Brian2, forward only.

Task (spikecore.learning.evolution.pulse_count_task): two input channels send 2 ms
current pulses in 8 slots of 5 ms; the network reports which channel sent more (the
sign of its readout averaged over the 45 ms trial). Network: 8 type I Morris-Lecar
neurons with graded output and recurrence (97 evolved weights and biases).

1. CMA-ES (the ``cma`` package; population 8, 10 generations) with every candidate
   simulated on Brian2: fitness of the search centre and of the best candidate per
   generation, held-out accuracy at the end.
2. BPTT on the same graph through ``sc.to_torch`` (float64, Adam, logistic loss):
   accuracy and gradient norm per step. At this step (0.25 ms) BPTT does not diverge.

    python examples/es_morris_lecar.py [--out DIR]   ->  es_morris_lecar.png
"""

from __future__ import annotations

import time

import numpy as np
import torch
from _common import parse_out, pyplot

import spikecore as sc
from spikecore.learning import evolve
from spikecore.learning.evolution import (
    PulseCountFitness,
    morris_lecar_classifier,
    pulse_count_task,
)

PARAMS = {"inp": ["weight", "bias"], "rec": "weight", "readout": ["weight", "bias"]}


def bptt(graph: sc.Graph, x: np.ndarray, labels: np.ndarray, steps: int = 25
         ) -> tuple[list[float], list[float], torch.nn.Module]:
    """Adam on the same weights and biases, full BPTT, logistic loss on the trial mean."""
    m = sc.to_torch(graph, dtype=torch.float64, trainable=("weight", "bias"))
    opt = torch.optim.Adam(m.parameters(), lr=0.05)
    X, L = torch.tensor(x), torch.tensor(labels)
    accs, norms = [], []
    for _ in range(steps):
        y = m(X)[0][:, :, 0].mean(dim=1)
        loss = torch.nn.functional.softplus(-L * y).mean()
        opt.zero_grad()
        loss.backward()
        norms.append(float(torch.sqrt(sum((p.grad ** 2).sum() for p in m.parameters()))))
        accs.append(float((torch.sign(y) == L).double().mean()))
        opt.step()
    return accs, norms, m


def main() -> None:
    out = parse_out(__doc__.splitlines()[0])
    plt = pyplot()
    torch.set_num_threads(1)  # small tensors: threads only contend on busy cores
    (x, labels), (xt, labels_t) = pulse_count_task(32, seed=0), pulse_count_task(64, seed=1)
    graph = morris_lecar_classifier(8, seed=0)
    fit, fit_t = PulseCountFitness(labels), PulseCountFitness(labels_t)

    t0 = time.perf_counter()
    es = evolve(graph, PARAMS, fit, x, strategy="cma", generations=10, population=8,
                sigma=0.5, seed=0, backend="brian2",
                callback=lambda g: print(f"generation {g.index}: centre {g.center_fitness:.3f}, "
                                         f"best {g.best:.3f}", flush=True))
    es_time = time.perf_counter() - t0
    run = lambda g, inputs: sc.simulate(g, inputs, backend="brian2", record=())  # noqa: E731
    es_train, es_test = fit.accuracy(run(es.graph, x)), fit_t.accuracy(run(es.graph, xt))
    print(f"CMA-ES on Brian2: {es.evaluations} runs in {es_time:.1f} s; accuracy train "
          f"{es_train:.2f}, held out {es_test:.2f} (chance 0.5)")

    t0 = time.perf_counter()
    accs, norms, m = bptt(graph, x, labels)
    y = m(torch.tensor(xt))[0][:, :, 0].mean(dim=1).detach().numpy()
    bptt_test = float(np.mean(np.sign(y) == labels_t))
    print(f"BPTT (torch, float64): {len(accs)} steps in {time.perf_counter() - t0:.1f} s; "
          f"max gradient norm {max(norms):.3g}, accuracy train {accs[-1]:.2f}, held out "
          f"{bptt_test:.2f}")

    fig, ax = plt.subplots(1, 3, figsize=(14, 4))
    gens = np.arange(1, len(es.history) + 1)
    ax[0].plot(gens, es.curve("center"), "o-", label="centre")
    ax[0].plot(gens, es.curve("best"), "s--", label="best of population")
    ax[0].set(xlabel="generation", ylabel="fitness (mean tanh(label y))",
              title=f"CMA-ES on Brian2: held-out accuracy {es_test:.2f}")
    ax[0].legend()
    ax[1].plot(np.arange(1, len(accs) + 1), accs, "o-", label="BPTT train accuracy")
    ax[1].axhline(es_test, color="C1", ls="--", label="ES held-out accuracy")
    ax[1].set(xlabel="BPTT step (Adam)", ylabel="accuracy", ylim=(0.3, 1.05),
              title=f"BPTT on torch: held-out accuracy {bptt_test:.2f}")
    ax[1].legend()
    ax2 = ax[1].twinx()
    ax2.semilogy(np.arange(1, len(norms) + 1), norms, "k:", lw=1)
    ax2.set_ylabel("gradient norm (dotted)")
    r = sc.simulate(es.graph, xt[:1], backend="brian2", record=("ml:v",))
    t_ms = (np.arange(xt.shape[1]) + 1) * r.dt * 1e3
    ax[2].plot(t_ms, r.traces["ml"]["v"][0], lw=0.7)
    for c in range(2):
        on = np.nonzero(xt[0, :, c])[0]
        ax[2].plot(t_ms[on], np.full(on.size, 40.0 + 8 * c), "|", ms=6, color=f"C{c}")
    ax[2].set(xlabel="time (ms)", ylabel="V (mV)",
              title=f"evolved network, held-out trial (label {labels_t[0]:+.0f})")
    fig.tight_layout()
    fig.savefig(out / "es_morris_lecar.png", dpi=110)
    print(f"wrote {out / 'es_morris_lecar.png'}")


if __name__ == "__main__":
    main()
