"""spikecore's torch emulation of Loihi 2 arithmetic vs Lava's bit-accurate models.

One network (Input -> Linear -> CubaLIF -> Linear -> CubaLIF (recurrent) -> Linear ->
LIF -> Output), quantised once by ``spikecore.hardware.loihi2.quantize``, is run side by
side in one invocation:

* Lava ``fixed_pt`` (``PyLifModelBitAcc`` / ``PyDenseModelBitAcc``) in the sidecar, with
  Monitors on u, v and spikes of every population (what the comparison needs);
* ``loihi2_torch`` no-gradient path: the fused pipelined step (all populations in one
  set of tensor ops per step, the default) and the population-by-population int64 loop
  (``fused=False``); and the float64 straight-through path (training forward); all
  recording the same u, v and spikes.

The results are first checked bit for bit (u, v, spikes, every step); then the time per
step is compared. Lava's time is ``run()`` alone (process start-up and compilation
excluded; reported separately). Goal: torch >= 50x faster per step, bit-identical.

    .venv/bin/python benchmarks/bench_loihi2_torch.py [--steps 1000] [--batch 32]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch
from spikecore.hardware.loihi2 import emulation as LT
from spikecore.hardware.loihi2 import quantize

import spikecore as sc
from spikecore import primitives as P

GOAL = 50.0


def network(sizes: tuple[int, ...] = (100, 200, 100, 10), seed: int = 0) -> sc.Graph:
    rng = np.random.default_rng(seed)
    nodes: dict[str, object] = {"in": P.Input(input_type={"input": np.array([sizes[0]])})}
    edges: list[tuple] = []
    prev = "in"
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        ones = np.ones(b)
        nodes[f"w{k}"] = P.Linear(weight=rng.normal(0.1, 1.5 / np.sqrt(a), (b, a)))
        if k < len(sizes) - 2:
            nodes[f"n{k}"] = P.CubaLIF(tau_syn=ones * 5e-3, tau_mem=ones * 2e-2, r=ones,
                                       v_leak=ones * 0.0, v_threshold=ones * 0.1,
                                       v_reset=ones * 0.0, w_in=ones)
        else:
            nodes[f"n{k}"] = P.LIF(tau=ones * 1e-2, r=ones, v_leak=ones * 0.0,
                                   v_threshold=ones * 0.2, v_reset=ones * 0.0)
        edges += [(prev, f"w{k}"), (f"w{k}", f"n{k}")]
        prev = f"n{k}"
    nodes["rec"] = P.Linear(weight=rng.normal(0.0, 0.3 / np.sqrt(sizes[2]),
                                              (sizes[2], sizes[2])))
    edges += [("n1", "rec", 1), ("rec", "n1")]
    nodes["out"] = P.Output(output_type={"output": np.array([sizes[-1]])})
    edges.append((prev, "out"))
    return sc.Graph(nodes, edges, sc.Semantics(dt=1e-3), name="bench_loihi2")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)

    g = network()
    _, report = quantize(g)
    net = report.network
    rng = np.random.default_rng(1)
    x = (rng.random((args.batch, args.steps, 100)) < 0.2).astype(np.float64)

    ref = LT.run_lava_reference(net, {"in": x[:1]}, args.steps)
    lava_step = ref["wall_time"] / (args.steps + max(ref["lags"].values()))

    module = LT.loihi2_module(net)
    loop = LT.loihi2_module(net, fused=False)
    x1 = torch.tensor(x[:1])
    xb = torch.tensor(x)
    t_int, t_loop, t_ste, t_batch, t_batch_loop = [], [], [], [], []
    for _ in range(args.repeats):
        with torch.no_grad():
            t0 = time.perf_counter()
            tr = module.trace(x1)
            t_int.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            tr_loop = loop.trace(x1)
            t_loop.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            module.trace(xb)
            t_batch.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            loop.trace(xb)
            t_batch_loop.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        tr_ste = module.trace(x1)
        t_ste.append(time.perf_counter() - t0)

    identical = True
    spikes = 0
    for n in net.neurons:
        for what, mine in (("u", tr.u[n]), ("v", tr.v[n]), ("spikes", tr.spikes.get(n))):
            if mine is None:
                continue
            same = np.array_equal(mine[0].numpy().astype(np.int64), ref[what][n])
            others = [getattr(t, "spikes" if what == "spikes" else what)[n][0]
                      for t in (tr_loop, tr_ste)]
            identical &= same and all(
                np.array_equal(o.detach().numpy().astype(np.int64), ref[what][n])
                for o in others)
        spikes += int(ref["spikes"][n].sum()) if n in tr.spikes else 0

    per = lambda ts: statistics.median(ts) / args.steps  # noqa: E731
    out = {
        "network": "100-200-100(rec)-10, CubaLIF x2 + LIF, 5 Dense",
        "steps": args.steps,
        "spikes_total": spikes,
        "bit_identical_u_v_spikes": identical,
        "int64_path": module.fused_reason() or "fused pipelined step",
        "lava_fixed_pt_s_per_step": lava_step,
        "lava_total_s_incl_startup": ref["total_time"],
        "torch_int64_s_per_step": per(t_int),
        "torch_int64_loop_s_per_step": per(t_loop),
        "torch_ste_float64_s_per_step": per(t_ste),
        f"torch_int64_batch{args.batch}_s_per_step": per(t_batch),
        f"torch_int64_loop_batch{args.batch}_s_per_step": per(t_batch_loop),
        "speedup_int64_batch1": lava_step / per(t_int),
        "speedup_int64_loop_batch1": lava_step / per(t_loop),
        "fused_over_loop_batch1": per(t_loop) / per(t_int),
        "speedup_ste_batch1": lava_step / per(t_ste),
        f"speedup_per_trial_batch{args.batch}": lava_step * args.batch / per(t_batch),
        f"fused_over_loop_batch{args.batch}": per(t_batch_loop) / per(t_batch),
        "goal": f">= {GOAL:g}x, bit-identical",
    }
    out["goal_met_batch1_int64"] = identical and out["speedup_int64_batch1"] >= GOAL
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for k, v in out.items():
            print(f"{k:40s} {v:.4g}" if isinstance(v, float) else f"{k:40s} {v}")


if __name__ == "__main__":
    main()
