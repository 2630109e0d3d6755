"""Online learning rules: memory and time per step vs network size, side by side.

For each rule of spikecore.learning (RTRL, KF-RTRL, UORO, RFLO, e-prop, and ModProp with
two cell types, the first 3/4 of the neurons one type) and each
network size n, on the rate RNN of Marschall et al. (2020) (one input, one output,
``m = n + 2`` presynaptic entries) and optionally the LIF RNN: the floats the rule
carries for learning (``rule.memory_floats()``; the orders are RTRL ``n^2 m``, KF-RTRL
``n^2 + m``, UORO ``n + n m``, RFLO and e-prop ``n m``, ModProp ``(K + 1) n m``; times
``C`` for the LIF), and the wall time of one
``rule.step`` (median over repeats of a run of steps, after a warm-up), with BPTT's
time per step (forward and backward through the unrolled sequence, divided by its
length) and BPTT's memory (the stored states, ``T n C`` floats, growing with ``T``).

Usage::

    .venv/bin/python benchmarks/bench_online_learning.py [--quick] [--sizes 8 16 32 64]
        [--steps 100] [--repeats 3] [--network rate|lif] [--threads 1]

Times are of float64 on the CPU. Below n ~ 32 every rule's step is Python and torch
call overhead (~0.1-1 ms, noisy on a shared machine); RTRL's ``O(n^4)`` step dominates
from n ~ 32-64 on (rate RNN, n = 64: RTRL 4.1 ms, the others 0.2-0.5 ms per step).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from spikecore.learning import LIFRNN, RULES, ModProp, OnlineRNN, OnlineRule, RateRNN, add_task


def modprop_two_types(net: OnlineRNN, seed: int = 0) -> OnlineRule:
    """ModProp with two cell types (E: the first 3/4 of the neurons, I: the rest)."""
    return ModProp(net, seed, types=(torch.arange(net.n) >= 3 * net.n // 4).long())


#: The rules timed: Marschall et al.'s five and ModProp.
TIMED = {**RULES, "ModProp/2": modprop_two_types}


def make(network: str, n: int) -> OnlineRNN:
    if network == "rate":
        return RateRNN(1, n, 1, alpha=1.0, seed=0)
    return LIFRNN(1, n, 1, seed=0, g_in=4.0)


def time_rule(net: OnlineRNN, rule_cls, xs: torch.Tensor, ys: torch.Tensor,
              repeats: int) -> float:
    """Median seconds per ``step`` over ``repeats`` runs of the sequence."""
    rule = rule_cls(net, seed=0)
    rule.run(xs[:5], ys[:5])  # warm-up
    times = []
    for _ in range(repeats):
        rule.reset()
        t0 = time.perf_counter()
        for x, y in zip(xs, ys, strict=True):
            rule.step(x, y)
        times.append((time.perf_counter() - t0) / len(xs))
    net.zero_grad(set_to_none=True)
    return statistics.median(times)


def time_bptt(net: OnlineRNN, xs: torch.Tensor, ys: torch.Tensor, repeats: int) -> float:
    times = []
    for _ in range(repeats + 1):
        t0 = time.perf_counter()
        loss = 0.5 * ((net(xs) - ys) ** 2).sum()
        loss.backward()
        times.append((time.perf_counter() - t0) / len(xs))
    net.zero_grad(set_to_none=True)
    return statistics.median(times[1:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[8, 16, 32, 64])
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--network", choices=("rate", "lif"), default="rate")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="sizes 8 16, 30 steps, 1 repeat")
    args = ap.parse_args()
    if args.quick:
        args.sizes, args.steps, args.repeats = [8, 16], 30, 1
    torch.set_num_threads(args.threads)
    xs, ys = add_task(args.steps, t1=3, t2=6, seed=0)
    scale = 2.0 if args.network == "lif" else 1.0
    names = list(TIMED)
    print(f"{args.network} RNN, {args.steps} steps, {args.repeats} repeat(s), "
          f"{args.threads} thread(s), float64")
    print("\nmemory carried for learning (floats)")
    print(f"{'n':>5s} " + " ".join(f"{k:>10s}" for k in names) + f" {'BPTT(T)':>10s}")
    for n in args.sizes:
        net = make(args.network, n)
        mem = [TIMED[k](net).memory_floats() for k in names]
        bptt = args.steps * n * net.components
        print(f"{n:5d} " + " ".join(f"{v:10d}" for v in mem) + f" {bptt:10d}")
    print("\ntime per step (ms)")
    print(f"{'n':>5s} " + " ".join(f"{k:>10s}" for k in names) + f" {'BPTT':>10s}")
    for n in args.sizes:
        net = make(args.network, n)
        row = [time_rule(net, TIMED[k], xs * scale, ys, args.repeats) for k in names]
        row.append(time_bptt(net, xs * scale, ys, args.repeats))
        print(f"{n:5d} " + " ".join(f"{1e3 * v:10.3f}" for v in row), flush=True)


if __name__ == "__main__":
    main()
