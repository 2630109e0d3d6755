"""Brunel (2000) model A at the paper's scale on NEST (1 and 2 threads), against a
hand-written NEST script of the same network, and against spikecore on Brian2 and torch;
``--scale 10`` runs a network ten times larger (NEST only).

The model: ``spikecore.models.brunel2000`` at the AI point (g = 5, eta = 2, J = 0.1 mV,
D = 1.5 ms, tau_rp = 2 ms, dt = 0.1 ms), external drive K = 20 seeded PoissonSources per
neuron. At ``--scale 1`` N_E = 10,000 (epsilon = 0.1: C_E = 1000, 15.6 M synapses).
``--scale 10`` has ten times the neurons, N_E = 100,000, with epsilon = 0.005 (C_E = 500)
and J = 0.2 mV, so that C_E J = 100 mV and the threshold rate nu_thr are the paper's
(78 M synapses). Why not the in-degree of 1000 (156 M synapses): NEST used about 80 bytes
per synapse here (a hand-written NEST run of 47 M synapses peaked at 5.9 GB, 2.1 GB of it
the graph), so 156 M would need about 19 GB on top of the graph, more than this 24 GiB
machine has beside everything else.

The hand-written script is what a NEST user writes for the same network: an
``iaf_psc_delta`` population in mV and ms, ``nest.Connect`` with the same synapse arrays,
and the same external spikes (the summed seeded streams, handed to it as data) replayed
by one ``spike_generator`` per neuron. Its spikes must equal spikecore's, and the ratio
spikecore / hand-written is spikecore's cost on top of NEST. spikecore also draws the
seeded streams inside its run (the hand-written script gets them for free); the line
"sources alone" times that drawing, and the ratios are printed with and without it. A
second hand-written variant uses NEST's own ``poisson_generator`` (the idiomatic drive,
different random numbers: rates are printed, not spikes compared).

Usage::

    .venv/bin/python benchmarks/bench_brunel_nest.py [--steps 1000] [--scale 1|10]
        [--skip-brian2] [--skip-torch]
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from spikecore.backends.nest.backend import NEST_LOCK, import_nest
from spikecore.models import brunel2000

import spikecore as sc
from spikecore.extensions import source_stream
from spikecore.testing import assert_same_spikes

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_brunel_full import PAPER  # noqa: E402

DT = 1e-4


def external_counts(graph: sc.Graph, steps: int) -> tuple[np.ndarray, float]:
    """Summed external spikes per step and neuron (the K streams), and the drawing time."""
    t0 = time.perf_counter()
    total = None
    for name, node in graph.nodes.items():
        if type(node).__name__ == "PoissonSource":
            z = source_stream(node, name, graph.semantics, 1, 0, steps)[0][0]
            total = z if total is None else total + z
    return total, time.perf_counter() - t0


def run_spikecore(graph: sc.Graph, steps: int, backend: str, threads: int | None = None,
                  **opts) -> tuple[sc.Result, float]:
    if threads is not None:
        opts["threads"] = threads
    t0 = time.perf_counter()
    r = sc.simulate(graph, None, backend=backend, steps=steps, record="neurons:spikes", **opts)
    return r, time.perf_counter() - t0


def run_by_hand(graph: sc.Graph, steps: int, threads: int, counts: np.ndarray | None
                ) -> tuple[np.ndarray | None, float, float, float]:
    """The network written directly in NEST (mV, ms). ``counts``: replay these external
    spikes; ``None``: NEST's poisson_generator. Returns (spikes [steps, N] or None, build
    s, run s, rate Hz)."""
    meta = graph.metadata
    rec = graph.nodes["recurrent"]
    n = rec.n_out
    h = DT * 1e3
    with NEST_LOCK:
        nest = import_nest()
        nest.ResetKernel()
        t0 = time.perf_counter()
        nest.set(local_num_threads=threads, resolution=h, print_time=False)
        pop = nest.Create("iaf_psc_delta", n, params={
            "E_L": 0.0, "V_m": 0.0, "V_reset": meta["V_r"] * 1e3, "V_th": meta["theta"] * 1e3,
            "t_ref": meta["tau_rp"] * 1e3, "tau_m": meta["tau"] * 1e3, "C_m": 1.0})
        ids = np.asarray(pop.tolist(), np.int64)
        indptr, indices = np.asarray(rec.indptr), np.asarray(rec.indices)
        weights = np.asarray(rec.weights) * 1e3
        # in row blocks of ~2**23 synapses, in a new copy of static_synapse when the last
        # would pass 2**27 - 2**23 (NEST's limit is 2**27 - 2 per thread and model)
        per_row = max(1, 2**23 // max(1, int(np.diff(indptr).max())))
        model, used = "static_synapse", 0
        for r0 in range(0, n, per_row):
            r1 = min(n, r0 + per_row)
            a, b = int(indptr[r0]), int(indptr[r1])
            if used + (b - a) > 2**27 - 2**23:
                model, used = f"hand_static_{r0}", 0
                nest.CopyModel("static_synapse", model)
            used += b - a
            post = ids[np.repeat(np.arange(r0, r1), np.diff(indptr[r0:r1 + 1]))]
            nest.Connect(ids[indices[a:b]], post, "one_to_one", {
                "synapse_model": model, "weight": weights[a:b],
                "delay": np.full(b - a, meta["D"] * 1e3)})
        J = meta["J"] * 1e3
        if counts is None:
            drive = nest.Create("poisson_generator", params={
                "rate": meta["external_streams"] * meta["external_p"] / DT})
            nest.Connect(drive, pop, syn_spec={"weight": J, "delay": h})
        else:
            gens = nest.Create("spike_generator", n)
            t_idx, j_idx = np.nonzero(counts)
            order = np.lexsort((t_idx, j_idx))
            t_idx, j_idx = t_idx[order], j_idx[order]
            bounds = np.searchsorted(j_idx, np.arange(n + 1))
            times, weights = (t_idx + 1) * h, counts[t_idx, j_idx] * J
            gens.set([{"spike_times": times[a:b], "spike_weights": weights[a:b]}
                      for a, b in zip(bounds[:-1], bounds[1:], strict=True)])
            nest.Connect(gens, pop, "one_to_one", {"weight": 1.0, "delay": h})
        recorder = nest.Create("spike_recorder")
        nest.Connect(pop, recorder)
        t1 = time.perf_counter()
        nest.Simulate((steps + 1) * h)
        t2 = time.perf_counter()
        ev = recorder.get("events")
        nest.ResetKernel()
    k = np.rint(np.asarray(ev["times"]) / h).astype(np.int64) - 2  # stamp (k+1)h, 1 step late
    el = np.asarray(ev["senders"], np.int64) - int(ids[0])
    ok = (k >= 0) & (k < steps)
    z = np.zeros((steps, n), dtype=bool)
    z[k[ok], el[ok]] = True
    rate = float(z.mean() / DT)
    return (z if counts is not None else None), t1 - t0, t2 - t1, rate


def isolated(fn, *args):
    """``fn(*args)`` in a forked child process: each NEST run gets a fresh process (its
    kernel's memory is returned to the system when it ends; at --scale 10 two runs in one
    process would not fit in 24 GiB), sharing the parent's graph copy-on-write."""
    ctx = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        return pool.submit(fn, *args).result()


def as_result(z: np.ndarray, who: str) -> sc.Result:
    return sc.Result(spikes={"neurons": z[None]}, dt=DT, backend=who)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--scale", type=int, default=1, choices=(1, 10))
    ap.add_argument("--skip-brian2", action="store_true")
    ap.add_argument("--skip-torch", action="store_true")
    args = ap.parse_args()
    params = dict(PAPER)
    if args.scale == 10:
        params.update(N_E=100_000, epsilon=0.005, J=0.2e-3)
    t0 = time.perf_counter()
    graph = brunel2000(**params, dt=DT, seed=1)
    rec = graph.nodes["recurrent"]
    print(f"Brunel (2000) model A, N = {rec.n_out}, {rec.nnz} synapses, "
          f"{graph.metadata['external_streams']} Poisson sources per neuron; {args.steps} "
          f"steps of {DT * 1e3:g} ms; graph built in {time.perf_counter() - t0:.1f} s")
    counts, draw_s = external_counts(graph, args.steps)
    rows, spikes = [], {}
    def row(*values) -> None:
        rows.append(values)
        print("  done:", values[0], ", ".join(f"{v:.2f}" for v in values[1:]), flush=True)

    for threads in (1, 2):
        r, total = isolated(run_spikecore, graph, args.steps, "nest", threads)
        row(f"spikecore nest {threads}t", r.build_time, r.wall_time, total,
            float(r.spikes["neurons"].mean() / DT))
        spikes[f"spikecore nest {threads}t"] = r
        z, b, run, rate = isolated(run_by_hand, graph, args.steps, threads, counts)
        row(f"hand-written nest {threads}t", b, run, b + run, rate)
        spikes[f"hand-written nest {threads}t"] = as_result(z, f"hand-written nest {threads}t")
    _, b, run, rate = isolated(run_by_hand, graph, args.steps, 1, None)
    rows.append(("hand nest poisson_gen 1t", b, run, b + run, rate))
    if args.scale == 1 and not args.skip_brian2:
        r, total = run_spikecore(graph, args.steps, "brian2", codegen_target="cython")
        rows.append(("spikecore brian2 cython", r.build_time, r.wall_time, total,
                     float(r.spikes["neurons"].mean() / DT)))
        spikes["spikecore brian2"] = r
    if args.scale == 1 and not args.skip_torch:
        torch.set_num_threads(1)
        r, total = run_spikecore(graph, args.steps, "torch", dtype=torch.float64)
        rows.append(("spikecore torch", r.build_time, r.wall_time, total,
                     float(r.spikes["neurons"].mean() / DT)))
    print(f"{'who':>26} {'build s':>8} {'run s':>8} {'total s':>8} {'rate Hz':>8}")
    for who, b, run, total, rate in rows:
        print(f"{who:>26} {b:>8.2f} {run:>8.2f} {total:>8.2f} {rate:>8.2f}")
    print(f"{'sources alone (numpy)':>26} {'':>8} {draw_s:>8.2f}")
    ref = spikes["spikecore nest 1t"]
    for who, r in spikes.items():
        if who == "spikecore nest 1t":
            continue
        try:
            assert_same_spikes(ref, r)
            verdict = "equal, every neuron and step"
        except AssertionError as exc:
            verdict = f"DIFFER: {exc}"
        print(f"spikes of spikecore nest 1t vs {who}: {verdict}")
    by = {row[0]: row for row in rows}
    for t in (1, 2):
        s, hnd = by[f"spikecore nest {t}t"], by[f"hand-written nest {t}t"]
        print(f"ratio spikecore / hand-written NEST, {t} thread(s): total {s[3] / hnd[3]:.3f}, "
              f"total without the source draws {(s[3] - draw_s) / hnd[3]:.3f}, run without the "
              f"draws {(s[2] - draw_s) / hnd[2]:.3f}")


if __name__ == "__main__":
    main()
