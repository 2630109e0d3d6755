"""Online learning rules side by side: gradient alignment with BPTT and memory.

Marschall, Cho & Savin (2020) compare online gradient rules for recurrent networks by
the cosine of each rule's gradient with the true (BPTT) gradient. This script measures
it with spikecore.learning for exact RTRL, KF-RTRL, UORO, RFLO and e-prop on the paper's
"add" task (binary input stream, target 0.5 + 0.5 x[t-3] - 0.25 x[t-6]):

* rate RNN (the paper's eq. 1, n = 16) and a recurrent LIF network under the contract
  (surrogate gradient, n = 16), at initialisation, over seeds;
* rate RNN after online training with each rule itself (SGD after every step), where
  random-feedback RFLO aligns (feedback alignment);
* ModProp (Liu et al. 2022) vs e-prop on a rate RNN and a LIF network with E/I cell-type
  structure;

prints the tables (mean, min, max cosine; the rule's memory in floats) and plots the
cosines per seed and the learning curves.

    python examples/online_learning_alignment.py [--out DIR]   ->  online_learning_alignment.png
"""

from __future__ import annotations

import numpy as np
import torch
from _common import parse_out, pyplot

from spikecore.learning import (
    LIFRNN,
    RULES,
    EProp,
    ModProp,
    RateRNN,
    add_task,
    alignment_after_training,
    alignment_at_init,
    bptt_gradients,
    cosine,
    rule_gradients,
    train_online,
)

N, SEEDS, TASK = 16, range(8), {"t1": 3, "t2": 6}
TRAIN_STEPS, LR = 1000, 0.05


def rate(seed: int) -> RateRNN:
    return RateRNN(1, N, 1, alpha=1.0, seed=seed)


def lif(seed: int) -> LIFRNN:
    return LIFRNN(1, N, 1, seed=seed, g_in=4.0)


def ei_network(seed: int, types: torch.Tensor) -> RateRNN:
    """12 E, 4 I units, alpha 0.3: weak random weights plus Dale-like type means."""
    net = RateRNN(1, N, 1, alpha=0.3, seed=seed, g_rec=0.5)
    with torch.no_grad():
        col = torch.where(types == 0, 1.0 / 12, -3.0 / 4)
        row = torch.where(types == 0, 1.0, 1.5)
        net.w_rec += row[:, None] * col[None, :]
    return net


def ei_lif_network(seed: int, types: torch.Tensor) -> LIFRNN:
    """30 E, 10 I LIF neurons (tau 20 ms), weak random weights plus strong type means,
    bias 0.9 (threshold 1): 2 % of the neurons spike per step."""
    net = LIFRNN(1, 40, 1, seed=seed, g_rec=0.2, g_in=3.0, tau=20e-3)
    with torch.no_grad():
        col = torch.where(types == 0, 1.0 / 30, -3.0 / 10)
        row = torch.where(types == 0, 1.0, 1.5)
        net.w_rec += 10.0 * row[:, None] * col[None, :]
        net.b += 0.9
    return net


def modprop_table(title: str, network, types: torch.Tensor, rules: dict) -> None:
    """Mean, min, max cosine with BPTT of each rule over the seeds (add task T=50)."""
    cos: dict[str, list[float]] = {k: [] for k in rules}
    for seed in SEEDS:
        net = network(seed, types)
        xs, ys = add_task(50, seed=seed, **TASK)
        ref = bptt_gradients(net, xs, ys)
        for k, make in rules.items():
            cos[k].append(cosine(rule_gradients(make(net), xs, ys), ref))
    print(f"\n{title}, at initialisation, {len(SEEDS)} seeds")
    print(f"  {'rule':26s} {'mean cos':>9s} {'min':>7s} {'max':>7s} {'memory floats':>14s}")
    for k, v in cos.items():
        mem = rules[k](network(0, types)).memory_floats()
        print(f"  {k:26s} {np.mean(v):9.3f} {np.min(v):7.3f} {np.max(v):7.3f} {mem:14d}")


def modprop_tables() -> None:
    types = (torch.arange(N) >= 12).long()
    modprop_table("E/I rate RNN (12 E, 4 I, alpha=0.3)", ei_network, types, {
        "e-prop": lambda net: EProp(net),
        "ModProp, 1 type": lambda net: ModProp(net),
        "ModProp, E/I": lambda net: ModProp(net, types=types),
        "ModProp, E/I, mu=0.5": lambda net: ModProp(net, types=types, mu=0.5)})
    types = (torch.arange(40) >= 30).long()
    modprop_table("E/I LIF RNN (30 E, 10 I, surrogate)", ei_lif_network, types, {
        "e-prop": lambda net: EProp(net),
        "ModProp, 1 type": lambda net: ModProp(net),
        "ModProp, E/I": lambda net: ModProp(net, types=types),
        "e-prop, reset kept": lambda net: EProp(net, detach_reset=False),
        "ModProp, E/I, reset kept": lambda net: ModProp(net, types=types, detach_reset=False)})


def table(title: str, cosines: dict[str, list[float]], make) -> None:
    print(f"\n{title}")
    print(f"  {'rule':8s} {'mean cos':>9s} {'min':>7s} {'max':>7s} {'memory floats':>14s}")
    for name, values in cosines.items():
        mem = RULES[name](make(0)).memory_floats()
        print(f"  {name:8s} {np.mean(values):9.3f} {np.min(values):7.3f} "
              f"{np.max(values):7.3f} {mem:14d}")


def main() -> None:
    out = parse_out(__doc__.splitlines()[0])
    torch.set_num_threads(1)  # tiny tensors: one thread is fastest
    init_rate = alignment_at_init(rate, SEEDS, **TASK)
    init_lif = alignment_at_init(lif, SEEDS, input_scale=2.0, **TASK)
    trained = alignment_after_training(rate, SEEDS[:4], train_steps=TRAIN_STEPS, lr=LR,
                                       **TASK)
    table(f"rate RNN (n={N}), at initialisation, {len(SEEDS)} seeds, add task T=50",
          init_rate, rate)
    table(f"LIF RNN (n={N}, surrogate), at initialisation, {len(SEEDS)} seeds", init_lif, lif)
    table(f"rate RNN after {TRAIN_STEPS} online SGD steps with the rule (lr={LR}), 4 seeds",
          {k: v[0] for k, v in trained.items()}, rate)
    print("  final loss per step (last 100):  " + "  ".join(
        f"{k} {np.mean(v[1]):.4f}" for k, v in trained.items())
        + "   (predicting the mean: 0.039)")
    modprop_tables()

    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    names = list(RULES)
    for ax, (title, data) in zip(axes[:2], [("rate RNN, init", init_rate),
                                            ("LIF RNN, init", init_lif)], strict=True):
        for i, name in enumerate(names):
            ax.scatter(np.full(len(data[name]), i), data[name], s=14, alpha=0.7)
            ax.plot([i - 0.3, i + 0.3], [np.mean(data[name])] * 2, color="k")
        ax.set_xticks(range(len(names)), names)
        ax.axhline(0, color="0.7", lw=0.8)
        ax.set_ylim(-1.05, 1.05)
        ax.set_ylabel("cosine with BPTT")
        ax.set_title(title)
    xs, ys = add_task(TRAIN_STEPS, seed=10_000, **TASK)
    for name in names:
        losses = train_online(RULES[name](rate(0), seed=0), xs, ys, LR)
        smooth = np.convolve(losses, np.ones(50) / 50, mode="valid")
        axes[2].plot(smooth, label=name)
    axes[2].axhline(0.039, color="0.5", ls="--", lw=0.8, label="predict the mean")
    axes[2].set_xlabel("online step")
    axes[2].set_ylabel("loss per step (50-step mean)")
    axes[2].set_title("online training, rate RNN, seed 0")
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "online_learning_alignment.png", dpi=120)
    print(f"\nwrote {out / 'online_learning_alignment.png'}")


if __name__ == "__main__":
    main()
