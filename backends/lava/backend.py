"""The Lava backend: Loihi-style execution (floating point or bit-accurate fixed point).

Lava 0.10 needs Python 3.10, so by default it runs in a sidecar interpreter (see
:mod:`spikecore.backends.lava.sidecar`): the main process lowers the graph
(:mod:`spikecore.backends.lava.lowering`: every coefficient from the contract in
:mod:`spikecore.discrete`), writes a job folder (``graph.nir``, ``job.json``,
``arrays.npz``), runs ``scripts/worker.py`` by path under the sidecar interpreter in its own
process group, and reads ``results.npz`` back. In a Python 3.10 process where Lava
imports, the same worker code runs in-process.

Options (``simulate(..., backend="lava", **options)``):

- ``arithmetic``: ``"floating_pt"`` (default) or ``"fixed_pt"`` (Lava's bit-accurate
  Loihi models; parameters mapped to integers, see ``lowering._to_fixed_point``).
- ``raw``: ``True`` returns Lava's own time axis (each node ``lag`` steps late, e.g. the
  NIR paper LIF spikes at 461 instead of 460) instead of the contract's.
- ``timeout``: seconds before the worker and every process it started are killed
  (default :data:`DEFAULT_TIMEOUT`). A Lava runtime process that dies while the network
  runs ends the run at once instead (the worker's watchdog notices it).
- ``keep_job``: keep the job folder (its path is in ``Result.info["job_dir"]``).
- ``job_root``: folder to create job folders in (default: the system temp folder).
- ``python``: run the worker under this interpreter instead of the located one.
- ``on_worker_start``: ``callable(pid)`` called when the worker process has started
  (its pid is also its process group id).

Faults leave nothing behind (``tests/backends/lava/test_lava_worker_faults.py``): after
every run, failed or not, the worker's process group is killed, the shared-memory
segments the run created (named in the job folder's ``shm-segments.txt`` by the worker)
are unlinked and the job and scratch folders (the worker's ``TMPDIR``, which holds
multiprocessing's ``pymp-*`` folders) are removed. A SIGTERM or SIGHUP of the calling
process does the same before the process dies; if the caller dies by SIGKILL, the worker's
watchdog does it within about 0.1 s. Unreadable result files raise
:class:`~spikecore.errors.BackendProcessError` naming the file.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ... import numerics
from ... import primitives as P
from ...errors import BackendProcessError, UnavailableError, UnsupportedError
from ...extensions import graph_streams
from ...graph import Edge, Graph
from ...names import safe_identifiers
from ...progress import Progress, progress_for
from ...progress import problem as progress_problem
from ...result import Result
from ..base import Availability, RecordPlan
from ..terms import output_values
from .lowering import (
    ARITHMETICS,
    ONE,
    Plan,
    build_plan,
    check_graph,
    plan_to_job,
    results_from_job,
)
from .process import cleanup_on_signal, run_guarded
from .registry import RULES
from .scripts.worker import (
    EXIT_LAVA_PROCESS_DIED,
    EXIT_ORPHANED,
    FAULT_REPORT,
    PROGRESS_FILE,
    SHM_JOURNAL,
    remove_journaled_segments,
)
from .sidecar import locate

WORKER = Path(__file__).parent / "scripts" / "worker.py"
DEFAULT_TIMEOUT = 600.0
STDERR_TAIL_LINES = 25
OPTIONS = ("arithmetic", "raw", "timeout", "keep_job", "job_root", "python", "on_worker_start",
           "progress")
#: Run calls per component when progress is shown (each costs Lava a few milliseconds).
PROGRESS_CHUNKS = 20
#: Longest scratch folder path kept inside the job folder: multiprocessing binds a unix
#: socket at ``<TMPDIR>/pymp-xxxxxxxx/listener-xxxxxxxx``, and such a path must stay
#: below 108 bytes. A longer job path gets its scratch folder in the system temp folder.
MAX_SCRATCH_PATH = 70


class LavaBackend:
    """Lava 0.10 (``Loihi2SimCfg``), through the sidecar interpreter or in-process."""

    name = "lava"

    def availability(self) -> Availability:
        rt = locate()
        return Availability(self.name, rt.available, rt.version,
                            reason=rt.reason or f"runs via {rt.source}", fix=rt.fix)

    def supported(self) -> dict[str, str]:
        return {t.__name__: rule.note for t, rule in RULES.items()}

    def check(self, graph: Graph, **options: Any) -> list[str]:
        problems = [f"option {k!r}: unknown; Lava options are {', '.join(OPTIONS)}"
                    for k in sorted(options) if k not in OPTIONS]
        problems += filter(None, [progress_problem(options.get("progress"))])
        arithmetic = options.get("arithmetic", "floating_pt")
        if arithmetic not in ARITHMETICS:
            return problems + [f"option arithmetic={arithmetic!r}: expected one of "
                               f"{', '.join(map(repr, ARITHMETICS))}"]
        return problems + check_graph(graph, arithmetic)

    def run(self, graph: Graph, inputs: dict[str, np.ndarray], steps: int,
            record: RecordPlan, **options: Any) -> Result:
        result, suspect = self._run(graph, inputs, steps, record, options)
        if suspect and numerics.CHECK_EVERY > 0:
            result.nonfinite = self._locate(graph, inputs, steps, options)
        return result

    def _locate(self, graph: Graph, inputs: dict[str, np.ndarray], steps: int,
                options: dict[str, Any]) -> numerics.NonFinite | None:
        """A state of the run was NaN/inf (in a probe or at the end): run again recording
        every state of every neuron and find the first one. ``None`` when it lies only in
        the steps Lava runs past the last one to align lagged populations."""
        plan = build_plan(graph, options.get("arithmetic", "floating_pt"))
        every = {n: P.spec_of(graph.nodes[n]).states for n, ln in plan.nodes.items()
                 if ln.kind == "neuron" and P.spec_of(graph.nodes[n]).states}
        full, _ = self._run(graph, inputs, steps, every, options)
        found = numerics.scan_result(full, graph.topological_order())
        return None if found is None else dataclasses.replace(found, backend=self.name)

    def _run(self, graph: Graph, inputs: dict[str, np.ndarray], steps: int,
             record: RecordPlan, options: dict[str, Any]) -> tuple[Result, bool]:
        """One run; also whether any state Lava held (probes, final ``v``/``u``) was
        NaN/inf."""
        t0 = time.perf_counter()
        arithmetic = options.get("arithmetic", "floating_pt")
        raw = bool(options.get("raw", False))
        plan = build_plan(graph, arithmetic)
        batch = next(iter(inputs.values())).shape[0] if inputs else 1
        if arithmetic == "fixed_pt":
            _require_integers(inputs)
        # Seeded sources: their stream, computed here once, is played like an input.
        streams = graph_streams(graph, batch, steps)
        inputs = {**inputs, **streams}
        wants = _lava_records(plan, record)
        shapes = graph.shapes()
        data: dict[str, dict[str, np.ndarray]] = {}
        info: dict[str, Any] = {"arithmetic": arithmetic, "aligned": not raw,
                                "lags": {n: ln.lag for n, ln in plan.nodes.items()
                                         if ln.kind == "neuron"},
                                "lava_steps": steps + (0 if raw else plan.max_lag)}
        wall = 0.0
        suspect = False
        neurons = batch * sum(int(pop.index.size) for pop in plan.populations)
        if neurons > MAX_BATCHED_NEURONS:
            raise UnsupportedError(
                f"backend 'lava' runs a batch as copies of every neuron: batch {batch} x "
                f"{neurons // batch} neurons = {neurons} > {MAX_BATCHED_NEURONS}; run "
                "smaller batches (or the torch backend, which batches natively)")
        if plan.populations:
            spec, arrays = plan_to_job(plan, inputs, steps, batch, wants, raw)
            raw_data, worker_info, build_s = self._execute(graph, spec, arrays, options, info)
            info.update(worker_info)
            wall = float(worker_info.get("run_time", 0.0))
            suspect = not all(np.isfinite(a).all() for a in raw_data.values()
                              if a.dtype.kind == "f")
            data = results_from_job(plan, raw_data, steps, batch, wants, raw)
        for node in record:
            if node in streams:
                data[node] = {"spikes": streams[node].reshape(batch, steps, -1) > 0.5}
        result = Result(backend=self.name, dt=float(graph.semantics.dt), info=info)
        for node, names in record.items():
            for what in names:
                arr = data[node][what].reshape(batch, steps, *shapes[node])
                if what == "spikes":
                    result.spikes[node] = arr.astype(bool)
                else:
                    result.traces.setdefault(node, {})[what] = arr
        sources = {n: inputs[n].reshape(batch, steps, -1) for n in inputs}
        for node, what in _output_sources(plan).items():
            sources[node] = data[node][what].astype(np.float64)
        for name, terms in plan.output_terms.items():
            size = int(np.prod(shapes[name]))
            y = output_values(terms, sources, batch, steps, size)
            result.outputs[name] = y.reshape(batch, steps, *shapes[name])
        result.wall_time = wall
        result.build_time = time.perf_counter() - t0 - wall
        return result, suspect

    # ------------------------------------------------------------------ execution
    def _execute(self, graph: Graph, spec: dict, arrays: dict[str, np.ndarray],
                 options: dict[str, Any], info: dict[str, Any]
                 ) -> tuple[dict[str, np.ndarray], dict, float]:
        python = options.get("python")
        in_process = False
        if python is None:
            rt = locate()
            if not rt.available:
                raise UnavailableError(
                    f"backend 'lava' is unavailable: {rt.reason}\n  fix: {rt.fix}")
            python, in_process = rt.python, rt.in_process
        job_root = options.get("job_root")
        job = Path(tempfile.mkdtemp(prefix="spikecore-lava-", dir=job_root))
        keep = bool(options.get("keep_job", False))
        scratch: Path | None = None  # the worker's TMPDIR

        def clean_up() -> None:
            remove_journaled_segments(job / SHM_JOURNAL)
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)
            if not keep:
                shutil.rmtree(job, ignore_errors=True)

        bar = progress_for(options.get("progress"), int(spec["steps"]), "lava")
        if bar is not None:  # the worker runs in chunks and writes how far it got
            spec = {**spec, "progress_chunks": PROGRESS_CHUNKS}
        t_build = time.perf_counter()
        try:
            with cleanup_on_signal(clean_up), _following(job / PROGRESS_FILE, bar):
                if not in_process:
                    scratch = job / "tmp"
                    if len(str(scratch)) > MAX_SCRATCH_PATH:
                        scratch = Path(tempfile.mkdtemp(prefix="spikecore-lava-tmp-"))
                    else:
                        scratch.mkdir()
                return self._run_job(graph, spec, arrays, options, job, scratch, keep,
                                     python, in_process, t_build)
        finally:
            clean_up()
            if keep:
                info["job_dir"] = str(job)

    def _run_job(self, graph: Graph, spec: dict, arrays: dict[str, np.ndarray],
                 options: dict[str, Any], job: Path, scratch: Path | None, keep: bool,
                 python: str, in_process: bool, t_build: float
                 ) -> tuple[dict[str, np.ndarray], dict, float]:
        from ...nir_io import write

        file_graph, names = _file_graph(graph)
        for pop in spec["populations"]:
            pop["nir_node"] = names[pop["node"]]
        write(file_graph, job / "graph.nir")
        (job / "job.json").write_text(json.dumps(spec))
        np.savez(job / "arrays.npz", **arrays)
        t_build = time.perf_counter() - t_build
        if in_process:
            from .scripts import worker as lava_worker

            out, worker_info = lava_worker.execute(job)
            return out, worker_info, t_build
        command = [str(python), str(WORKER), str(job), "--parent", str(os.getpid()),
                   "--owned", str(scratch)] + ([] if keep else ["--owned", str(job)])
        timeout = options.get("timeout", DEFAULT_TIMEOUT)
        env = {**os.environ, "TMPDIR": str(scratch)}
        try:
            rc, _out, err = run_guarded(command, timeout=timeout, env=env,
                                        on_start=options.get("on_worker_start"))
        except TimeoutError as exc:
            raise BackendProcessError(
                f"Lava worker did not finish within timeout={timeout:g} s; it and every "
                "process it started were killed", command, _tail(str(exc))) from None
        except OSError as exc:
            raise BackendProcessError(f"cannot start the Lava worker: {exc}", command) from exc
        if rc == EXIT_LAVA_PROCESS_DIED:
            try:
                why = (job / FAULT_REPORT).read_text(errors="replace")[:1000]
            except OSError:
                why = "see the stderr tail"
            raise BackendProcessError(
                f"a Lava runtime process died while the network ran; the worker stopped at "
                f"once instead of waiting for the timeout: {why}", command, _tail(err))
        if rc == EXIT_ORPHANED:  # it saw another parent than this process (cannot happen)
            raise BackendProcessError("Lava worker lost its parent process and stopped",
                                      command, _tail(err))
        if rc != 0:
            how = (f"was killed by signal {signal.Signals(-rc).name}" if rc < 0
                   else f"failed with exit code {rc}")
            raise BackendProcessError(f"Lava worker {how}", command, _tail(err))
        out = _read_results(job / "results.npz", spec, command, _tail(err))
        worker_info = _read_info(job / "info.json", command, _tail(err))
        return out, worker_info, t_build


def _read_results(path: Path, spec: dict, command: list[str], err: str
                  ) -> dict[str, np.ndarray]:
    """The worker's ``results.npz``: one numeric [steps, size] array per probe; anything
    else is a :class:`BackendProcessError` naming the file and what is wrong."""
    def bad(what: str) -> BackendProcessError:
        return BackendProcessError(f"Lava worker's results file {path} is unusable: {what}",
                                   command, err)

    if not path.exists():
        raise bad("the worker exited without writing it")
    try:
        loaded = np.load(path, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - any reader failure means a corrupt file
        raise bad(f"not a readable .npz archive ({type(exc).__name__}: {exc})") from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise bad(f"a single {type(loaded).__name__}, not an .npz archive of arrays")
    with loaded:
        try:
            out = {k: np.asarray(loaded[k]) for k in loaded.files}
        except Exception as exc:  # noqa: BLE001 - damaged member (CRC, truncation, pickle)
            raise bad(f"a damaged member ({type(exc).__name__}: {exc})") from None
    sizes = {pop["name"]: pop["size"] for pop in spec["populations"]}
    for probe in spec["probes"]:
        key = f"{probe['population']}/{probe['var']}"
        want = (spec["steps"], sizes[probe["population"]])
        if key not in out:
            raise bad(f"array {key!r} is missing (it holds {sorted(out) or 'no arrays'})")
        a = out[key]
        if a.dtype.kind not in "biuf":
            raise bad(f"array {key!r} has dtype {a.dtype}, expected numbers")
        if a.shape != want:
            raise bad(f"array {key!r} has shape {a.shape}, expected {want} (steps, size)")
    return out


def _read_info(path: Path, command: list[str], err: str) -> dict:
    """The worker's ``info.json``: a JSON object with a numeric ``run_time``."""
    def bad(what: str) -> BackendProcessError:
        return BackendProcessError(f"Lava worker's info file {path} is unusable: {what}",
                                   command, err)

    try:
        text = path.read_text(encoding="utf8")
    except FileNotFoundError:
        raise bad("the worker exited without writing it") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise bad(f"cannot be read as UTF-8 text ({exc})") from None
    try:
        info = json.loads(text)
    except ValueError as exc:  # JSONDecodeError, and RecursionError-free: flat documents
        raise bad(f"not valid JSON ({exc})") from None
    except RecursionError:
        raise bad("JSON nested too deeply") from None
    if not isinstance(info, dict):
        raise bad(f"a JSON {type(info).__name__}, expected an object")
    run_time = info.get("run_time", 0.0)
    if isinstance(run_time, bool) or not isinstance(run_time, (int, float)):
        raise bad(f"run_time is {run_time!r}, expected a number of seconds")
    return info


#: Most neurons (batch x neurons of the graph) one Lava run builds: Lava's Python
#: processes build every copy, so beyond this a run takes longer than it is useful.
MAX_BATCHED_NEURONS = 2**18


def _file_graph(graph: Graph) -> tuple[Graph, dict[str, str]]:
    """The flat graph as the sidecar reads it, and old -> new node names: every name
    becomes a safe ASCII identifier (node names are free text; the job files and the
    sidecar's own NIR reader should not depend on how they spell)."""
    names = safe_identifiers(graph.nodes, "n_")
    g = Graph({names[n]: v for n, v in graph.nodes.items()},
              [Edge(names[e.source], names[e.target], e.delay_steps) for e in graph.edges],
              graph.semantics, name=graph.name, metadata=graph.metadata)
    return g, names


def _tail(text: str) -> str:
    return "\n".join(text.rstrip().splitlines()[-STDERR_TAIL_LINES:])


def _require_integers(inputs: dict[str, np.ndarray]) -> None:
    from ...errors import InputError

    bad = [n for n, a in inputs.items() if not np.array_equal(a, np.rint(a))]
    if bad:
        raise InputError(
            f"inputs {bad}: arithmetic='fixed_pt' sends integer messages (as Loihi does); "
            "give integer-valued inputs (e.g. spikes) or use arithmetic='floating_pt'")


def _output_sources(plan: Plan) -> dict[str, str]:
    """Lava nodes read by Outputs, and what they provide (spikes or v)."""
    need: dict[str, str] = {}
    for terms in plan.output_terms.values():
        for (s, _d) in terms:
            if s != ONE and plan.nodes[s].kind == "neuron":
                need[s] = "spikes" if plan.nodes[s].spiking else "v"
    return need


def _lava_records(plan: Plan, record: RecordPlan) -> dict[str, set[str]]:
    wants: dict[str, set[str]] = {}
    for node, names in record.items():
        if node in plan.nodes and plan.nodes[node].kind == "neuron":
            wants.setdefault(node, set()).update(names)
    for node, what in _output_sources(plan).items():
        wants.setdefault(node, set()).add(what)
    return wants


__all__ = ["LavaBackend"]


@contextmanager
def _following(path: Path, bar: Progress | None, period: float = 0.2):
    """While the block runs, read the worker's ``"done total"`` from ``path`` every
    ``period`` seconds into ``bar`` (in Lava steps); nothing when ``bar`` is None."""
    if bar is None:
        yield
        return
    stop = threading.Event()

    def look() -> None:
        try:
            done, total = (int(v) for v in path.read_text().split())
        except (OSError, ValueError):  # not written yet
            return
        bar(done * bar.total // max(total, 1))

    def follow() -> None:
        while not stop.wait(period):
            look()

    thread = threading.Thread(target=follow, name="spikecore-lava-progress", daemon=True)
    thread.start()
    try:
        yield
        look()
    finally:
        stop.set()
        thread.join()
        bar.close()
