"""spikecore's Brian2 lowering vs the same network written by hand in Brian2.

A recurrent CUBA-LIF network (dense random recurrent weights, Poisson input through dense
random input weights, 1000 steps of 0.1 ms) is run both ways on the same code-generation
target (cython by default), side by side in one process, after one warm-up run each (so
compiled code is cached for both). Printed: build time (object creation + code
generation), run time (Brian2's simulation loop), their ratios spikecore / hand-written,
and how many spikes the two produce (they implement the same update, so spikes agree
up to rounding-order differences; the agreement is printed, not asserted).

The hand-written version is idiomatic Brian2: differential equations integrated with
``method='euler'``, ``on_pre='I_post += w'`` pathways, a ``SpikeGeneratorGroup`` for the
input. Under ``Semantics(integrator='euler', update_order='voltage_first')`` that is the
update spikecore's contract prescribes.

Usage::

    .venv/bin/python benchmarks/bench_brian2.py [--quick] [--target numpy|cython]
        [--sizes 1000 4000] [--repeats 3]

Goal (issue 3): run-time ratio <= 1.05 and build-time ratio <= 1.10.
"""

from __future__ import annotations

import argparse
import statistics
import time

import nir
import numpy as np
from spikecore.backends.brian2.backend import brian_context, default_cache_dir

import spikecore as sc

DT = 1e-4
TAU_SYN, TAU_MEM = 5e-3, 2e-2
V_TH, V_RESET = 1.0, 0.0
N_IN, RATE = 200, 50.0  # Poisson input: neurons, Hz


def network(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    w_in = np.abs(rng.normal(0.0, 1.0, (n, N_IN))) * 4.0
    w_rec = rng.normal(0.0, 1.0, (n, n)) * (4.0 / np.sqrt(n))
    return w_in, w_rec


def poisson(steps: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random((1, steps, N_IN)) < RATE * DT).astype(np.float64)


def spikecore_graph(w_in: np.ndarray, w_rec: np.ndarray) -> sc.Graph:
    n = w_rec.shape[0]
    full = lambda v: np.full(n, v)  # noqa: E731
    return sc.Graph({
        "in": nir.Input(np.array([N_IN])),
        "w_in": nir.Linear(w_in),
        "lif": nir.CubaLIF(tau_syn=full(TAU_SYN), tau_mem=full(TAU_MEM), r=full(1.0),
                           v_leak=full(0.0), v_threshold=full(V_TH), v_reset=full(V_RESET),
                           w_in=full(1.0)),
        "w_rec": nir.Linear(w_rec),
    }, [("in", "w_in"), ("w_in", "lif"), ("lif", "w_rec"), ("w_rec", "lif", 1)],
        sc.Semantics(dt=DT, integrator="euler", update_order="voltage_first"), name="cuba")


def run_spikecore(graph, x, target):
    t0 = time.perf_counter()
    r = sc.simulate(graph, x, backend="brian2", record=("spikes",), codegen_target=target)
    total = time.perf_counter() - t0
    return r.build_time, r.wall_time, total, r.spikes["lif"][0]


def run_by_hand(w_in, w_rec, x, target):
    """The network as a Brian2 user would write it."""
    import brian2 as b2

    n = w_rec.shape[0]
    steps = x.shape[1]
    with brian_context(target, default_cache_dir()):
        t0 = time.perf_counter()
        clock = b2.Clock(DT * b2.second, name="hand_clock")
        eqs = """dv/dt = (v_leak - v + r * I) / tau_mem : 1
                 dI/dt = -I / tau_syn : 1"""
        g = b2.NeuronGroup(n, eqs, threshold="v > v_th", reset="v = v_reset",
                           method="euler", clock=clock, name="hand_lif")
        step_idx, src = np.nonzero(x[0])
        inp = b2.SpikeGeneratorGroup(N_IN, src, step_idx * DT * b2.second, clock=clock,
                                     name="hand_input")
        # The contract's input scaling b_syn = dt * w_in / tau_syn, folded into w.
        b_syn = DT * 1.0 / TAU_SYN
        s_in = b2.Synapses(inp, g, "w : 1", on_pre="I_post += w", clock=clock,
                           name="hand_in_syn")
        post, pre = np.nonzero(w_in)
        s_in.connect(i=pre, j=post)
        s_in.w = w_in[post, pre] * b_syn
        s_rec = b2.Synapses(g, g, "w : 1", on_pre="I_post += w", delay=DT * b2.second,
                            clock=clock, name="hand_rec_syn")
        post, pre = np.nonzero(w_rec)
        s_rec.connect(i=pre, j=post)
        s_rec.w = w_rec[post, pre] * b_syn
        mon = b2.SpikeMonitor(g, name="hand_spikes")
        net = b2.Network(g, inp, s_in, s_rec, mon, name="hand_network")
        ns = dict(v_leak=0.0, r=1.0, tau_mem=TAU_MEM * b2.second, tau_syn=TAU_SYN * b2.second,
                  v_th=V_TH, v_reset=V_RESET)
        net.run(steps * DT * b2.second, namespace=ns)
        t2 = time.perf_counter()
        loop = float(b2.get_device()._last_run_time)
        z = np.zeros((steps, n), dtype=bool)
        z[np.rint(np.asarray(mon.t[:]) / DT).astype(int), np.asarray(mon.i[:])] = True
    return (t2 - t0) - loop, loop, t2 - t0, z


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="1000 neurons, 1 repeat")
    ap.add_argument("--target", default="cython", choices=("numpy", "cython"))
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=1000)
    args = ap.parse_args()
    sizes = [1000] if args.quick else args.sizes
    repeats = 1 if args.quick else args.repeats
    x = poisson(args.steps)
    print(f"recurrent CUBA-LIF, {args.steps} steps of {DT * 1e3:g} ms, {N_IN} Poisson inputs "
          f"at {RATE:g} Hz, target={args.target}, median of {repeats} after a warm-up")
    header = (f"{'neurons':>8} {'who':>10} {'build s':>9} {'run s':>9} {'spikes':>8}")
    rows = []
    for n in sizes:
        w_in, w_rec = network(n)
        graph = spikecore_graph(w_in, w_rec)
        run_spikecore(graph, x, args.target)  # warm-up: compile and cache
        run_by_hand(w_in, w_rec, x, args.target)
        sc_b, sc_r, hd_b, hd_r = [], [], [], []
        for _ in range(repeats):  # interleaved, so load changes hit both alike
            b, r, _, z_sc = run_spikecore(graph, x, args.target)
            sc_b.append(b)
            sc_r.append(r)
            b, r, _, z_hd = run_by_hand(w_in, w_rec, x, args.target)
            hd_b.append(b)
            hd_r.append(r)
        med = statistics.median
        agree = float(np.mean(z_sc == z_hd))
        first = np.argwhere(z_sc != z_hd)
        rows.append((n, med(sc_b), med(sc_r), med(hd_b), med(hd_r), int(z_sc.sum()),
                     int(z_hd.sum()), agree, first[0].tolist() if len(first) else None))
    print(header)
    for n, sb, sr, hb, hr, zs, zh, agree, first in rows:
        print(f"{n:>8} {'spikecore':>10} {sb:>9.3f} {sr:>9.3f} {zs:>8}")
        print(f"{n:>8} {'by hand':>10} {hb:>9.3f} {hr:>9.3f} {zh:>8}")
        print(f"{n:>8} {'ratio':>10} {sb / hb:>9.3f} {sr / hr:>9.3f}   "
              f"(goal: build <= 1.10, run <= 1.05); spike agreement {agree:.4%}"
              + (f", first difference at [step, neuron] {first}" if first else ""))


if __name__ == "__main__":
    main()
