"""Brunel (2000) model A at the paper's scale (N_E = 10,000, 15.6 M synapses): wall time
of spikecore on Brian2 (cython) and torch, against a hand-written Brian2 script of the same
model on the same engine, side by side in one process.

The model: ``spikecore.models.brunel2000`` at the AI point (g = 5, eta = 2, J = 0.1 mV,
epsilon = 0.1, D = 1.5 ms, tau_rp = 2 ms, dt = 0.1 ms); recurrent weights a
``SparseLinear``; external drive K = 20 seeded PoissonSources of 12,500 streams
(Binomial(20, 0.1) spikes of J per neuron and step).

The hand-written version is idiomatic Brian2: ``dv/dt = -v/tau (unless refractory)``
(exact), ``Synapses(on_pre='v_post += w * int(not_refractory_post)', delay=D)`` with the
same synapses, and ``PoissonInput(N=20, rate=rate, weight='J*int(not_refractory)')`` for
the drive: the same distribution, drawn by Brian2 in compiled code, so its spikes are not
spikecore's (rates are printed, not compared spike by spike). spikecore plays its seeded,
backend-independent streams from numpy (a NetworkOperation per source on Brian2, blocks of
64 steps on torch); the "sources" line times drawing them alone, the part of spikecore's
run that the hand-written script does not have.

Each engine is warmed up once (compiled code cached), then timed; build = object creation
(and for spikecore the lowering), run = the engine's simulation loop.

Usage::

    .venv/bin/python benchmarks/bench_brunel_full.py [--steps 2000] [--target cython|numpy]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from spikecore.backends.brian2.backend import brian_context, default_cache_dir
from spikecore.models import brunel2000

import spikecore as sc
from spikecore.extensions import source_stream

PAPER = dict(N_E=10000, gamma=0.25, epsilon=0.1, J=0.1e-3, g=5.0, eta=2.0, tau=20e-3,
             theta=20e-3, V_r=10e-3, tau_rp=2e-3, D=1.5e-3)
DT = 1e-4


def run_spikecore(graph: sc.Graph, steps: int, backend: str, **opts) -> tuple[float, float, float]:
    r = sc.simulate(graph, None, backend=backend, steps=steps, record="neurons:spikes", **opts)
    return r.build_time, r.wall_time, float(r.spikes["neurons"].mean() / DT)


def time_sources(graph: sc.Graph, steps: int) -> float:
    t0 = time.perf_counter()
    for name, node in graph.nodes.items():
        if type(node).__name__ == "PoissonSource":
            for a in range(0, steps, 64):
                source_stream(node, name, graph.semantics, 1, a, min(a + 64, steps))
    return time.perf_counter() - t0


def run_by_hand(graph: sc.Graph, steps: int, target: str) -> tuple[float, float, float]:
    """The same model as a Brian2 user would write it (same synapses, Brian2's own drive)."""
    import brian2 as b2

    meta = graph.metadata
    rec = graph.nodes["recurrent"]
    n = rec.n_out
    with brian_context(target, default_cache_dir()):
        t0 = time.perf_counter()
        clock = b2.Clock(DT * b2.second, name="hand_clock")
        ns = dict(tau=meta["tau"] * b2.second, theta=meta["theta"] * b2.volt,
                  V_r=meta["V_r"] * b2.volt, J=meta["J"] * b2.volt)
        G = b2.NeuronGroup(n, "dv/dt = -v / tau : volt (unless refractory)",
                           threshold="v > theta", reset="v = V_r",
                           refractory=meta["tau_rp"] * b2.second, method="exact", clock=clock,
                           name="hand_neurons", namespace=ns)
        S = b2.Synapses(G, G, "w : volt (constant)",
                        on_pre="v_post += w * int(not_refractory_post)",
                        delay=meta["D"] * b2.second, clock=clock, name="hand_rec")
        S.connect(i=np.asarray(rec.indices), j=rec.rows())
        S.w = np.asarray(rec.weights) * b2.volt
        K = int(meta["external_streams"])
        P = b2.PoissonInput(G, "v", N=K, rate=meta["external_p"] / DT * b2.Hz,
                            weight="J * int(not_refractory)")
        mon = b2.SpikeMonitor(G, name="hand_spikes")
        net = b2.Network(G, S, P, mon, name="hand_network")
        t1 = time.perf_counter()
        net.run(steps * DT * b2.second, namespace=ns)
        t2 = time.perf_counter()
        loop = float(getattr(b2.get_device(), "_last_run_time", 0.0) or (t2 - t1))
        rate = mon.num_spikes / n / (steps * DT)
    return (t2 - t0) - loop, loop, rate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--target", default="cython", choices=("numpy", "cython"))
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    graph = brunel2000(**PAPER, dt=DT, seed=1)
    t_graph = time.perf_counter() - t0
    rec = graph.nodes["recurrent"]
    print(f"Brunel (2000) model A, N = {rec.n_out}, {rec.nnz} synapses "
          f"({type(rec).__name__}), {graph.metadata['external_streams']} Poisson sources; "
          f"{args.steps} steps of {DT * 1e3:g} ms; Brian2 target {args.target}, torch "
          f"{args.threads} thread(s); graph built in {t_graph:.1f} s")
    # warm-ups: compile and cache the generated code of both Brian2 versions
    run_spikecore(graph, 20, "brian2", codegen_target=args.target)
    run_by_hand(graph, 20, args.target)
    rows = [("spikecore brian2", *run_spikecore(graph, args.steps, "brian2",
                                                codegen_target=args.target)),
            ("hand-written brian2", *run_by_hand(graph, args.steps, args.target)),
            ("spikecore torch", *run_spikecore(graph, args.steps, "torch",
                                               dtype=torch.float64))]
    src = time_sources(graph, args.steps)
    print(f"{'who':>22} {'build s':>9} {'run s':>9} {'ms/step':>8} {'rate Hz':>8}")
    for who, b, r, rate in rows:
        print(f"{who:>22} {b:>9.2f} {r:>9.2f} {1e3 * r / args.steps:>8.2f} {rate:>8.2f}")
    print(f"{'sources alone (numpy)':>22} {'':>9} {src:>9.2f} {1e3 * src / args.steps:>8.2f}")
    sb, sr = rows[0][1], rows[0][2]
    hb, hr = rows[1][1], rows[1][2]
    print(f"ratio spikecore / hand-written on Brian2: build {sb / hb:.2f}, run {sr / hr:.2f} "
          f"(run without the source draws: {(sr - src) / hr:.2f}); torch / hand-written "
          f"Brian2 run {rows[2][2] / hr:.2f}")


if __name__ == "__main__":
    main()
