"""What every fuzz generator shares: the Case record, the base graphs from the model zoo,
inputs, the simulate/CLI runners whose results the worker classifies, and HDF5 editing.

A generator is ``gen(rng, work) -> Case``: it builds one hostile case in the folder
``work`` from the seeded ``rng`` (set-up only does legitimate things), and ``Case.run()``
does the one hostile thing. The worker (:mod:`fuzz_worker`) classifies what ``run()``
returns or raises, and calls ``Case.after()`` to check that nothing the user had was lost.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

import spikecore as sc
from spikecore import primitives as P

REPO = Path(__file__).resolve().parents[2]
SPIKECORE_EXE = str(Path(sys.executable).with_name("spikecore"))
DATA = REPO / "spikecore" / "data"


@dataclass
class Case:
    """One hostile case. ``run()`` returns a Result, a list of Results, a :class:`CliRun`,
    or anything else (treated as OK); ``after()`` returns the problems found in what the
    user had (LOST). ``unsafe()`` returns problems of a run that succeeded but read or
    copied something it must not (UNSAFE)."""

    label: str
    run: Callable[[], Any]
    after: Callable[[], list[str]] | None = None
    unsafe: Callable[[], list[str]] | None = None
    timeout: float | None = None
    notes: dict = field(default_factory=dict)


@dataclass
class CliRun:
    argv: list[str]
    code: int
    stdout: str
    stderr: str
    out: Path | None = None  # a result archive to check for non-finite values


# ------------------------------------------------------------------ base graphs
def _paper() -> sc.Graph:
    return sc.read(DATA / "lif_norse.nir", dialect="norse", dt=1e-4)


def _cuba() -> sc.Graph:
    import nir

    n = 3
    cuba = nir.CubaLIF(tau_syn=np.full(n, 5e-3), tau_mem=np.full(n, 2e-2), r=np.ones(n),
                       v_leak=np.zeros(n), v_threshold=np.ones(n), v_reset=np.zeros(n))
    return sc.Graph({"in": nir.Input(np.array([2])), "w": nir.Affine(np.ones((n, 2)), np.zeros(n)),
                     "c": cuba, "rw": nir.Linear(0.1 * np.eye(n)), "out": nir.Output(np.array([n]))},
                    [("in", "w"), ("w", "c"), ("c", "rw"), ("rw", "c", 1), ("c", "out")],
                    sc.Semantics(dt=1e-3), name="cuba")


def _builders() -> dict[str, Callable[[], sc.Graph]]:
    import spikecore.models as zoo

    return {
        "recurrent": lambda: zoo.recurrent_lif(n_in=4, n_rec=6, n_out=2, seed=0),
        "feedforward": lambda: zoo.feedforward_lif(sizes=(3, 5, 2), seed=0),
        "ei": lambda: zoo.ei_network(n_exc=8, n_inh=2, n_in=4, seed=0, delay_steps=3),
        "lsnn": lambda: zoo.lsnn(n_in=3, n_lif=4, n_alif=4, n_out=2),
        "izhikevich": lambda: zoo.izhikevich_network(Ne=8, Ni=2),
        "morris_lecar": lambda: zoo.morris_lecar_network(n=4),
        "cond": lambda: zoo.cond_lif_poisson(n=4, N_E=8, N_I=2),
        "ltc": lambda: zoo.ltc_snn(n_in=3, n_hidden=4, n_out=2),
        "rate": lambda: zoo.rate_network(np.random.default_rng(0).normal(size=(5, 5)),
                                         with_input=True),
        "refractory": lambda: zoo.lif_population_noise(N=4, tau_rp=2e-3),
        "ou": lambda: zoo.lif_population_noise(N=4, noise="ou"),
        "paper": _paper,
        "cuba": _cuba,
    }


BASE_NAMES = tuple(_builders())
_CACHE: dict[str, sc.Graph] = {}


def base_graph(name: str) -> sc.Graph:
    """A fresh copy of a small zoo graph (built once per worker)."""
    if name not in _CACHE:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _CACHE[name] = _builders()[name]()
    return _CACHE[name].copy()


def pick(rng: np.random.Generator, items):
    items = list(items)
    return items[int(rng.integers(len(items)))]


def written_base(rng: np.random.Generator, work: Path, names=BASE_NAMES) -> tuple[str, Path]:
    """A zoo graph written by spikecore into ``work``: (its name, the file)."""
    name = pick(rng, names)
    path = sc.write(base_graph(name), work / f"{name}.nir")
    return name, path


# ------------------------------------------------------------------ running
def inputs_for(graph: sc.Graph, rng: np.random.Generator, steps: int, batch: int = 1) -> dict:
    flat = graph.flatten()
    shapes = flat.shapes()
    return {n: (rng.random((batch, steps, *shapes[n])) < 0.3).astype(np.float64) * 2.0
            for n in flat.input_names}


def record_everything(graph: sc.Graph) -> tuple[str, ...]:
    """``spikes`` plus every state of every stateful node (``node:state``), so the worker
    can see a non-finite state, not only a non-finite output."""
    rec = ["spikes"]
    for n, node in graph.flatten().nodes.items():
        spec = P.spec_of(node)
        if spec is not None:
            rec += [f"{n}:{s}" for s in spec.states]
    return tuple(rec)


def simulate_read(path: Path | str, rng: np.random.Generator, backend: str | None = None,
                  **read_kwargs) -> Callable[[], Any]:
    """``run()`` that reads ``path`` and simulates it for a few steps, recording every state."""
    backend = backend or pick_backend(rng)
    steps = int(rng.integers(3, 25))
    seed = int(rng.integers(2**31))

    def run():
        g = sc.read(path, **read_kwargs)
        return simulate_graph(g, np.random.default_rng(seed), backend, steps)

    return run


def simulate_graph(g: sc.Graph, rng: np.random.Generator, backend: str, steps: int = 10,
                   **options) -> Any:
    flat = g.flatten()
    x = inputs_for(flat, rng, steps) if flat.input_names else None
    return sc.simulate(g, x, backend=backend, steps=steps, record=record_everything(g),
                       **options)


def pick_backend(rng: np.random.Generator, lava: float = 0.0) -> str:
    u = rng.random()
    if u < lava:
        return "lava"
    return "brian2" if u < lava + 0.3 else "torch"


def cli(argv: list[str], in_process: bool = True, out: Path | None = None,
        env: dict | None = None, timeout: float = 120) -> CliRun:
    """The CLI with ``argv``: in this process through ``spikecore.cli.main`` (stdout and
    stderr captured), or as the installed ``spikecore`` command in a child process."""
    argv = [str(a) for a in argv]
    if not in_process:
        proc = subprocess.run([SPIKECORE_EXE, *argv], capture_output=True, text=True,
                              timeout=timeout, env={**os.environ, **(env or {})})
        return CliRun(argv, proc.returncode, proc.stdout, proc.stderr, out)
    from spikecore.cli import main

    so, se = io.StringIO(), io.StringIO()
    saved = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    try:
        with contextlib.redirect_stdout(so), contextlib.redirect_stderr(se):
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse: usage errors exit 2
                code = exc.code if isinstance(exc.code, int) else 2
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return CliRun(argv, code, so.getvalue(), se.getvalue(), out)


def cli_run_file(path: Path, rng: np.random.Generator, work: Path, extra=(),
                 subprocess_p: float = 0.08) -> Callable[[], CliRun]:
    """``run()`` of ``spikecore run FILE`` recording v into an archive the worker checks."""
    out = work / "result.npz"
    backend = pick_backend(rng)
    argv = ["run", str(path), "--backend", backend, "--steps", str(int(rng.integers(3, 30))),
            "--record", "spikes,v", "--out", str(out), *extra]
    in_process = rng.random() >= subprocess_p
    return lambda: cli(argv, in_process=in_process, out=out)


# ------------------------------------------------------------------ HDF5 editing
def datasets(f: h5py.File, under: str = "node") -> list[str]:
    names: list[str] = []
    f[under].visititems(lambda n, o: names.append(f"{under}/{n}")
                        if isinstance(o, h5py.Dataset) else None)
    return sorted(names)


def node_groups(f: h5py.File) -> list[str]:
    nodes = f.get("node/nodes")
    return [f"node/nodes/{k}" for k in nodes] if isinstance(nodes, h5py.Group) else []


def numeric_params(f: h5py.File) -> list[str]:
    """Numeric datasets of nodes (weights, time constants, shapes...), extension records
    included."""
    out = []
    for d in datasets(f):
        leaf = d.rsplit("/", 1)[-1]
        if leaf in ("type", "version", "edges") or d.endswith("metadata/spikecore"):
            continue
        if f[d].dtype.kind in "biuf":
            out.append(d)
    return out


def replace(f: h5py.File, name: str, value: Any, **kw) -> None:
    if name in f:
        del f[name]
    f.create_dataset(name, data=value, **kw)


def edit_record(path: Path, edit: Callable[[dict], Any]) -> None:
    """Change the spikecore JSON record of a written file: ``edit(record)`` changes the
    dict in place (returns None) or returns the raw value to store instead."""
    key = "node/metadata/spikecore"
    with h5py.File(path, "r+") as f:
        raw = f[key][()]
        record = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        new = edit(record)
        del f[key]
        if new is None:
            f[key] = json.dumps(record)
        else:
            f[key] = new


def finite_problems(result: Any) -> list[str]:
    """Where a Result (or list of them) holds NaN or inf: ``node/state`` names."""
    results = result if isinstance(result, (list, tuple)) else [result]
    bad = []
    for r in results:
        if not isinstance(r, sc.Result):
            continue
        for n, a in r.outputs.items():
            if not np.all(np.isfinite(np.asarray(a, dtype=np.float64))):
                bad.append(f"output {n}")
        for n, states in r.traces.items():
            for s, a in states.items():
                if not np.all(np.isfinite(np.asarray(a, dtype=np.float64))):
                    bad.append(f"{n}:{s}")
    return bad


def npz_problems(path: Path) -> list[str]:
    if not path.is_file():
        return []
    bad = []
    with np.load(path, allow_pickle=False) as f:
        for k in f.files:
            a = f[k]
            if a.dtype.kind in "fc" and not np.all(np.isfinite(a)):
                bad.append(k)
    return bad
