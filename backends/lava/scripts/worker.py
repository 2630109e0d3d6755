"""Lava worker: runs one job folder written by spikecore's Lava backend.

Started *by path* under the Lava interpreter (Python 3.10, lava-nc 0.10, numpy < 2)::

    python lava_worker.py JOB_DIR

It must not import spikecore (which lives in the Python 3.11 environment). The job folder
holds ``graph.nir`` (the graph, written by spikecore with its semantics in metadata),
``job.json`` + ``arrays.npz`` (the lowered network: every coefficient was computed by the
main process from spikecore's contract, so the contract is written in one place), and
receives ``results.npz`` + ``info.json``. The worker reads ``graph.nir`` with ``nir`` and
checks that each Lava process it is told to build matches a node of that graph (name,
type, size), so a job folder that does not describe its graph fails loudly.

In a Python 3.10 process where ``lava`` imports, spikecore calls :func:`execute` in-process.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

#: NIR field that carries a neuron node's element count (for the cross-check).
SIZE_FIELD = {"LIF": "tau", "LI": "tau", "CubaLIF": "tau_mem", "CubaLI": "tau_mem",
              "IF": "r", "I": "r", "Threshold": "threshold", "RefractoryLIF": "tau",
              "RefractoryCubaLIF": "tau_mem"}
#: Graph metadata key under which spikecore stores its extension nodes (one group each,
#: with a ``type`` dataset), since NIR has no node type for them.
EXTENSIONS_KEY = "spikecore_extensions"


class _Stored:
    """An extension node read from the graph metadata: its type name and fields."""

    def __init__(self, record: dict):
        t = record.get("type")
        self.type_name = t.decode("utf8") if isinstance(t, bytes) else str(t)
        self.fields = record


def _field(node, name: str):
    return node.fields.get(name) if isinstance(node, _Stored) else getattr(node, name)


def check_against_nir(job: dict, nir_path: Path) -> None:
    """Every population must name a node of the NIR file, of the same type and size."""
    import nir

    graph = nir.read(str(nir_path), type_check=False)
    stored = (graph.metadata or {}).get(EXTENSIONS_KEY) or {}
    problems = []
    for pop in job["populations"]:
        key = pop.get("nir_node", pop["node"])
        node = graph.nodes.get(key)
        if node is None and key in stored:
            node = _Stored(stored[key])
        if node is None:
            problems.append(f"{pop['node']!r}: not a node of {nir_path.name}")
            continue
        type_name = node.type_name if isinstance(node, _Stored) else type(node).__name__
        if type_name != pop["node_type"]:
            problems.append(f"{pop['node']!r}: {type_name} in the file, "
                            f"{pop['node_type']} in the job")
            continue
        size = int(np.size(_field(node, SIZE_FIELD[pop["node_type"]])))
        if size > 1 and size != pop["node_size"]:
            problems.append(f"{pop['node']!r}: {size} elements in the file, "
                            f"{pop['node_size']} in the job")
    if problems:
        raise ValueError("job does not match its graph:\n  " + "\n  ".join(problems))


def _weights(conn: dict, arrays, fixed: bool):
    from scipy.sparse import csr_matrix

    rows, cols = arrays[conn["weights"]]
    vals = arrays[conn["values"]]
    shape = tuple(conn["shape"])
    dtype = np.int32 if fixed else np.float64
    if conn["sparse"]:
        return csr_matrix((vals.astype(dtype), (rows, cols)), shape=shape)
    w = np.zeros(shape, dtype=dtype)
    w[rows, cols] = vals
    return w


def build(job: dict, arrays):
    """Create the Lava processes; returns (processes by name, monitors, components)."""
    from lava.proc.dense.process import DelayDense, Dense
    from lava.proc.io.source import RingBuffer
    from lava.proc.lif.process import LIF, LIFRefractory
    from lava.proc.monitor.process import Monitor
    from lava.proc.sparse.process import DelaySparse, Sparse

    fixed = job["arithmetic"] == "fixed_pt"
    procs = {}
    for src in job["sources"]:
        data = arrays[src["data"]]
        procs[src["name"]] = RingBuffer(data=data.astype(np.int32) if fixed else data)
    for pop in job["populations"]:
        if fixed:
            procs[pop["name"]] = LIF(
                shape=(pop["size"],), du=int(pop["du"]), dv=int(pop["dv"]), vth=int(pop["vth"]),
                bias_mant=arrays[pop["bias"]].astype(np.int32),
                bias_exp=arrays[pop["bias_exp"]].astype(np.int32),
                v=arrays[pop["v"]].astype(np.int32), u=0, name=pop["name"])
        else:
            vth = np.inf if pop["vth"] is None else float(pop["vth"])
            kw = {}
            cls = LIF
            if pop.get("refractory"):
                cls, kw = LIFRefractory, {"refractory_period": int(pop["refractory"])}
            procs[pop["name"]] = cls(
                shape=(pop["size"],), du=float(pop["du"]), dv=float(pop["dv"]), vth=vth,
                bias_mant=arrays[pop["bias"]].astype(np.float64), bias_exp=0,
                v=arrays[pop["v"]].astype(np.float64), u=0.0, name=pop["name"], **kw)
    parent = {name: name for name in procs}

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for i, conn in enumerate(job["connections"]):
        w = _weights(conn, arrays, fixed)
        kw = {"weights": w, "num_message_bits": conn["num_message_bits"],
              "name": f"conn{i}_{conn['source']}_{conn['target']}"}
        if fixed:
            kw["weight_exp"] = conn["weight_exp"]
        if conn["delay"] > 0:
            cls = DelaySparse if conn["sparse"] else DelayDense
            proc = cls(delays=int(conn["delay"]), **kw)
        else:
            proc = (Sparse if conn["sparse"] else Dense)(**kw)
        procs[conn["source"]].s_out.connect(proc.s_in)
        proc.a_out.connect(procs[conn["target"]].a_in)
        parent[find(conn["source"])] = find(conn["target"])
    monitors = []
    for probe in job["probes"]:
        proc = procs[probe["population"]]
        mon = Monitor()
        mon.probe(getattr(proc, probe["var"]), job["steps"])
        monitors.append((probe, proc, mon))
    components: dict[str, list[str]] = {}
    for pop in job["populations"]:
        components.setdefault(find(pop["name"]), []).append(pop["name"])
    return procs, monitors, [names[0] for names in components.values()]


def execute(job_dir: str | Path) -> tuple[dict[str, np.ndarray], dict]:
    """Build and run the job; returns ({"population/var": [steps, size]}, info)."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg

    job_dir = Path(job_dir)
    t0 = time.perf_counter()
    job = json.loads((job_dir / "job.json").read_text())
    check_against_nir(job, job_dir / "graph.nir")
    with np.load(job_dir / "arrays.npz") as f:
        arrays = {k: f[k] for k in f.files}
    procs, monitors, roots = build(job, arrays)
    t1 = time.perf_counter()
    cfg = Loihi2SimCfg(select_tag=job["arithmetic"])
    run_times = []
    out: dict[str, np.ndarray] = {}
    for root in roots:
        proc = procs[root]
        t = time.perf_counter()
        try:
            proc.run(condition=RunSteps(num_steps=job["steps"]), run_cfg=cfg)
            run_times.append(time.perf_counter() - t)
            for probe, target, mon in monitors:
                key = f"{probe['population']}/{probe['var']}"
                if key not in out:
                    data = mon.get_data().get(target.name, {}).get(probe["var"])
                    if data is not None:
                        out[key] = np.asarray(data, dtype=np.float64)
        finally:
            proc.stop()
    missing = [f"{p['population']}/{p['var']}" for p, _, _ in monitors
               if f"{p['population']}/{p['var']}" not in out]
    if missing:
        raise RuntimeError(f"monitors returned no data for {missing}")
    info = {"build_time": t1 - t0, "run_time": sum(run_times), "components": len(roots),
            "lava_processes": len(procs) + len(job["connections"]) + len(monitors)}
    return out, info


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: lava_worker.py JOB_DIR", file=sys.stderr)
        return 2
    job_dir = Path(argv[1])
    out, info = execute(job_dir)
    tmp = job_dir / "results.tmp.npz"
    np.savez(tmp, **out)
    tmp.replace(job_dir / "results.npz")
    (job_dir / "info.json").write_text(json.dumps(info))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
