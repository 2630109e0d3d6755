"""FPTT (Forward Propagation Through Time) trains the LTC-SNN online with memory constant
in the sequence length; BPTT's memory grows linearly in it.

Two measurements. (1) What autograd saves for backward (spikecore.learning.saved_bytes,
via torch.autograd.graph.saved_tensors_hooks) for BPTT over T = 50..400 steps and for
one FPTT chunk of K = 1 or 10 steps, for spikecore.models.ltc_snn and the plain
recurrent_lif graph: a table. (2) Learning curves on a 300-step evidence-integration task
(spikecore.learning.evidence_task: the sign of a noisy level, the more of the trial
remembered the better), the same ltc_snn trained by FPTT (K=10, alpha=0.5) and by BPTT
over the whole trial, the same batches and optimizer (Adam).

    python examples/fptt_ltc.py [--out DIR]   ->  fptt_ltc.png
"""

from __future__ import annotations

import time

import numpy as np
import torch
from _common import parse_out, pyplot
from spikecore.models import ltc_snn, recurrent_lif

import spikecore as sc
from spikecore.learning import (
    FPTT,
    bptt_saved_bytes,
    evidence_loss,
    evidence_task,
    fptt_saved_bytes,
)

TS = (50, 100, 200, 400)  # sequence lengths of the memory table
T, N_HIDDEN, BATCHES, BATCH, EVAL_EVERY = 300, 16, 60, 32, 10


def memory_table() -> dict[str, dict[str, list[int]]]:
    """Bytes autograd saves, per graph and rule, for each T in TS (batch 32)."""
    x = torch.rand(BATCH, max(TS), 2, generator=torch.Generator().manual_seed(0)) * 2
    table = {}
    for name, graph in (("ltc_snn", ltc_snn(2, N_HIDDEN, 2, seed=0, w_in_scale=2.0)),
                        ("recurrent_lif", recurrent_lif(2, N_HIDDEN, 2, seed=0))):
        module = sc.to_torch(graph)
        table[name] = {
            "BPTT": [bptt_saved_bytes(module, x[:, :t]) for t in TS],
            "FPTT K=1": [fptt_saved_bytes(module, x[:, :t], K=1) for t in TS],
            "FPTT K=10": [fptt_saved_bytes(module, x[:, :t], K=10) for t in TS],
        }
    return table


def train(rule_name: str) -> tuple[list[tuple[int, float]], float]:
    """Held-out accuracy every EVAL_EVERY batches, and the training time (s)."""
    torch.manual_seed(0)
    module = sc.to_torch(ltc_snn(2, N_HIDDEN, 2, seed=0, w_in_scale=2.0))
    opt = torch.optim.Adam(module.parameters(), lr=0.02)
    fptt = FPTT(module, opt, alpha=0.5, K=10) if rule_name == "FPTT" else None
    x_test, y_test = evidence_task(256, T, np.random.default_rng(99))

    def accuracy() -> float:
        with torch.no_grad():
            out, _ = module(x_test, layout="btn")
        return float((out[:, -1].argmax(-1) == y_test).float().mean())

    rng = np.random.default_rng(0)  # the same batches for both rules
    curve, spent = [(0, accuracy())], 0.0
    for b in range(1, BATCHES + 1):
        x, y = evidence_task(BATCH, T, rng)
        t0 = time.perf_counter()
        if fptt is not None:
            fptt.sequence(x, evidence_loss(y, T))
        else:
            out, _ = module(x, layout="btn")
            loss = evidence_loss(y, T)(out, 0, T)
            opt.zero_grad()
            loss.backward()
            opt.step()
        spent += time.perf_counter() - t0
        if b % EVAL_EVERY == 0:
            curve.append((b, accuracy()))
    return curve, spent


def main() -> None:
    out_dir = parse_out(__doc__.splitlines()[0])
    torch.set_num_threads(1)  # small matrices: extra threads only contend on busy cores
    table = memory_table()
    print("bytes autograd saves for backward (batch 32, 16 neurons):")
    print(f"{'graph':14s} {'rule':10s} " + " ".join(f"T={t:<9d}" for t in TS))
    for name, rows in table.items():
        for rule, values in rows.items():
            print(f"{name:14s} {rule:10s} " + " ".join(f"{v:<11,d}" for v in values))

    curves = {}
    for rule in ("FPTT", "BPTT"):
        curves[rule], spent = train(rule)
        print(f"{rule}: {BATCHES} batches of {BATCH} x {T} steps in {spent:.1f} s; held-out "
              f"accuracy {curves[rule][0][1]:.3f} -> {curves[rule][-1][1]:.3f} (chance 0.5, "
              "ideal integrator of the last 20 / all 300 steps 0.73 / 0.92)")

    plt = pyplot()
    fig, ax = plt.subplots(1, 2, figsize=(12, 4.2))
    for rule, curve in curves.items():
        b, acc = zip(*curve, strict=True)
        ax[0].plot(b, acc, "o-", label=rule + (" (K=10, alpha=0.5)" if rule == "FPTT" else ""))
    for level, what in ((0.73, "ideal, last 20 steps"), (0.92, "ideal, all 300 steps")):
        ax[0].axhline(level, color="gray", ls=":", lw=1)
        ax[0].text(BATCHES, level + 0.005, what, color="gray", fontsize=8, ha="right")
    ax[0].set(xlabel="training batch (32 trials)", ylabel="held-out accuracy",
              title=f"ltc_snn ({N_HIDDEN} LTC neurons), evidence over T={T} steps",
              ylim=(0.4, 1.0))
    ax[0].legend(loc="lower right")
    for (name, rows), marker in zip(table.items(), ("o", "s"), strict=True):
        for (rule, values), color in zip(rows.items(), ("C3", "C0", "C2"), strict=True):
            ax[1].plot(TS, np.array(values) / 1e6, marker=marker, color=color,
                       ls="-" if name == "ltc_snn" else "--", label=f"{name}, {rule}")
    ax[1].set(xscale="log", yscale="log", xlabel="sequence length T (steps)",
              ylabel="bytes saved for backward (MB)",
              title="autograd memory (batch 32): BPTT ~ T, FPTT constant")
    ax[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out_dir / "fptt_ltc.png", dpi=110)
    print(f"wrote {out_dir / 'fptt_ltc.png'}")


if __name__ == "__main__":
    main()
