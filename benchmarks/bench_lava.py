"""spikecore's Lava lowering vs the same network written by hand in Lava.

Both run in the same Lava sidecar interpreter, side by side in one invocation, on one
network (Input -> Affine -> LIF -> Affine -> LIF -> Output, floating_pt). The hand-written
version is what a Lava user would write: RingBuffer -> Dense -> LIF -> Dense -> LIF with a
Monitor on the last spikes. The time compared is Lava's ``run()`` alone, per Lava step
(spikecore runs ``lag`` extra steps to realign; those are counted as its steps). The hand
version's spikes are checked against spikecore's raw (unaligned) output first.

    .venv/bin/python benchmarks/bench_lava.py [--steps 2000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import nir
import numpy as np
from spikecore.backends.lava.sidecar import locate

import spikecore as sc

HAND_WRITTEN = r'''
import json, sys, time
import numpy as np
from lava.proc.dense.process import Dense
from lava.proc.io.source import RingBuffer
from lava.proc.lif.process import LIF
from lava.proc.monitor.process import Monitor
from lava.magma.core.run_configs import Loihi2SimCfg
from lava.magma.core.run_conditions import RunSteps

p = np.load(sys.argv[1])
steps = int(p["steps"])
dt, tau, vth = float(p["dt"]), float(p["tau"]), float(p["vth"])
k = dt / tau                                # Euler: dv = dt/tau, weights scaled by dt*r/tau
src = RingBuffer(data=p["x"].T.copy())      # [n_in, steps]
d1 = Dense(weights=k * p["w1"], num_message_bits=24)
l1 = LIF(shape=(p["w1"].shape[0],), du=1.0, dv=k, vth=vth, bias_mant=k * p["b1"], v=p["b1"])
d2 = Dense(weights=k * p["w2"])
l2 = LIF(shape=(p["w2"].shape[0],), du=1.0, dv=k, vth=vth, bias_mant=0.0)
src.s_out.connect(d1.s_in); d1.a_out.connect(l1.a_in)
l1.s_out.connect(d2.s_in); d2.a_out.connect(l2.a_in)
mon = Monitor(); mon.probe(l2.s_out, steps)
t = time.perf_counter()
l2.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="floating_pt"))
run = time.perf_counter() - t
s = mon.get_data()[l2.name]["s_out"]
l2.stop()
np.save(sys.argv[2], s)
print(json.dumps({"run_time": run, "steps": steps}))
'''


def network(n_in: int, n_hidden: int, n_out: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    dt, tau, vth = 1e-3, 0.02, 1.0
    w1 = rng.normal(1.0, 1.0, (n_hidden, n_in)) * 3.0 / np.sqrt(n_in)
    w2 = rng.normal(1.0, 1.0, (n_out, n_hidden)) * 6.0 / np.sqrt(n_hidden)
    # the bias sits on the neuron (LIF bias) in the hand version: the same as a constant
    # input in every step, which is what v_leak = r * b gives in the contract
    b1 = rng.uniform(0.0, 0.5, n_hidden)
    lif = lambda n, leak: nir.LIF(tau=np.full(n, tau), r=np.ones(n), v_leak=leak,  # noqa: E731
                                  v_threshold=np.full(n, vth), v_reset=np.zeros(n))
    g = sc.Graph(
        {"in": nir.Input(input_type=np.array([n_in])),
         "fc1": nir.Linear(weight=w1), "lif1": lif(n_hidden, b1),
         "fc2": nir.Linear(weight=w2), "lif2": lif(n_out, np.zeros(n_out)),
         "out": nir.Output(output_type=np.array([n_out]))},
        [("in", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "lif2"), ("lif2", "out")],
        sc.Semantics(dt=dt), name="bench_lava")
    params = {"dt": dt, "tau": tau, "vth": vth, "w1": w1, "w2": w2, "b1": b1}
    return g, params


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sizes", type=int, nargs=3, default=(100, 200, 50))
    args = ap.parse_args()
    rt = locate()
    if not rt.available:
        print(f"Lava unavailable: {rt.reason}\n  fix: {rt.fix}")
        return 0
    g, params = network(*args.sizes)
    rng = np.random.default_rng(1)
    x = (rng.random((args.steps, args.sizes[0])) < 0.05).astype(float)
    ours, hand, totals = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "hand.py"
        script.write_text(HAND_WRITTEN)
        np.savez(Path(tmp) / "p.npz", x=x, steps=args.steps, **params)
        for _ in range(args.repeats):
            r = sc.simulate(g, x, backend="lava", record=(), raw=True)
            ours.append(r.wall_time / r.info["lava_steps"])
            totals.append(r.wall_time + r.build_time)
            out = subprocess.run([rt.python, str(script), str(Path(tmp) / "p.npz"),
                                  str(Path(tmp) / "s.npy")],
                                 capture_output=True, text=True, check=True)
            info = json.loads(out.stdout.strip().splitlines()[-1])
            hand.append(info["run_time"] / info["steps"])
        hand_spikes = np.load(Path(tmp) / "s.npy") > 0.5
    same = np.array_equal(hand_spikes, r.outputs["out"][0] > 0.5)
    ratio = statistics.median(ours) / statistics.median(hand)
    print(f"network {args.sizes[0]}-{args.sizes[1]}-{args.sizes[2]} LIF, {args.steps} steps, "
          f"floating_pt, {args.repeats} repeats (median)")
    print(f"  hand-written Lava : {statistics.median(hand) * 1e6:9.1f} us/step")
    print(f"  spikecore lowering: {statistics.median(ours) * 1e6:9.1f} us/step "
          f"(incl. {r.info['lava_processes']} Lava processes; whole simulate() "
          f"{statistics.median(totals):.2f} s)")
    print(f"  ratio spikecore/hand per step: {ratio:.3f}  (goal <= 1.05)")
    print(f"  same spikes as the hand-written network: {same} "
          f"({int(hand_spikes.sum())} output spikes)")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
