"""Lava worker: runs one job folder written by spikecore's Lava backend.

Started *by path* under the Lava interpreter (Python 3.10, lava-nc 0.10, numpy < 2)::

    python worker.py JOB_DIR [--parent PID] [--owned DIR]...

It must not import spikecore (which lives in the Python 3.11 environment). The job folder
holds ``graph.nir`` (the graph, written by spikecore with its semantics in metadata),
``job.json`` + ``arrays.npz`` (the lowered network: every coefficient was computed by the
main process from spikecore's contract, so the contract is written in one place), and
receives ``results.npz`` + ``info.json``. The worker reads ``graph.nir`` with ``nir`` and
checks that each Lava process it is told to build matches a node of that graph (name,
type, size), so a job folder that does not describe its graph fails loudly.

In a Python 3.10 process where ``lava`` imports, spikecore calls :func:`execute` in-process.

Run as a separate process (``main``), the worker also guards against faults, so that
nothing of a failed run survives it:

- every POSIX shared-memory segment it (or a process forked from it) creates is named in
  ``shm-segments.txt`` in the job folder *before* it is created, so the segments of a
  killed run can be unlinked (:func:`remove_journaled_segments`; the caller does it after
  every run, the worker itself when it gives up);
- on Linux, every process forked from the worker (Lava's runtime processes, the
  shared-memory manager) is SIGKILLed by the kernel when the worker dies
  (``PR_SET_PDEATHSIG``);
- a watchdog thread (:class:`Watchdog`) notices (every :data:`WATCH_PERIOD` s) when the
  process that started the worker (``--parent``) has died: it unlinks the run's segments,
  removes the folders given with ``--owned`` (job and scratch folders), kills its process
  group and exits with :data:`EXIT_ORPHANED`; and while the network runs it notices a Lava
  runtime process that died (Lava itself would wait for it forever) and exits at once with
  :data:`EXIT_LAVA_PROCESS_DIED`, naming the process.

The caller points ``TMPDIR`` at a scratch folder of the run, so multiprocessing's
``pymp-*`` folders are removed with it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np

#: Exit code: a Lava runtime process died while the network ran (message on stderr).
EXIT_LAVA_PROCESS_DIED = 3
#: Exit code: the process that started the worker died; the worker cleaned up and quit.
EXIT_ORPHANED = 4
#: File in the job folder naming each shared-memory segment of the run, one per line.
SHM_JOURNAL = "shm-segments.txt"
#: File in the job folder where the watchdog says why it stopped the run.
FAULT_REPORT = "fault.txt"
#: Steps done so far, ``"done total"``, written after every chunk when the caller asked
#: for progress (``job["progress_chunks"]``).
PROGRESS_FILE = "progress.txt"
#: Seconds between two looks of the watchdog.
WATCH_PERIOD = 0.1
#: Seconds a Lava runtime process may lie exited (not by a signal) during the run before
#: the watchdog gives up: Lava reaps processes that stopped on a model error itself and
#: raises that error, which says more.
EXIT_GRACE = 10.0
_SEGMENT_NAME = re.compile(r"psm_[0-9a-f]+")
_PR_SET_PDEATHSIG = 1

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
    """Create the Lava processes; returns (processes by name, monitors, components: the
    first population of each connected component -> its populations)."""
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
    return procs, monitors, {names[0]: names for names in components.values()}


def execute(job_dir: str | Path, guard: Watchdog | None = None
            ) -> tuple[dict[str, np.ndarray], dict]:
    """Build and run the job; returns ({"population/var": [steps, size]}, info). The
    final ``v`` and ``u`` of every population are there too, as ``final/<name>/v``,
    ``final/<name>/u`` ([size]): the caller looks for NaN/inf in every state.
    ``guard``: a started :class:`Watchdog` that watches Lava's processes while they run."""
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
    done = 0
    out: dict[str, np.ndarray] = {}
    for root, members in roots.items():
        proc = procs[root]
        t = time.perf_counter()
        try:
            with guard.watching() if guard else contextlib.nullcontext():
                # In chunks only when the caller shows progress (PROGRESS_FILE: "done total")
                for n in chunk_sizes(job["steps"], int(job.get("progress_chunks", 1))):
                    proc.run(condition=RunSteps(num_steps=n), run_cfg=cfg)
                    done += n
                    if job.get("progress_chunks"):
                        write_progress(job_dir, done, len(roots) * job["steps"])
                run_times.append(time.perf_counter() - t)
                for probe, target, mon in monitors:
                    key = f"{probe['population']}/{probe['var']}"
                    if key not in out:
                        data = mon.get_data().get(target.name, {}).get(probe["var"])
                        if data is not None:
                            out[key] = np.asarray(data, dtype=np.float64)
                for name in members:
                    for var in ("v", "u"):
                        out[f"final/{name}/{var}"] = np.asarray(
                            getattr(procs[name], var).get(), dtype=np.float64).reshape(-1)
        finally:
            proc.stop()
    missing = [f"{p['population']}/{p['var']}" for p, _, _ in monitors
               if f"{p['population']}/{p['var']}" not in out]
    if missing:
        raise RuntimeError(f"monitors returned no data for {missing}")
    info = {"build_time": t1 - t0, "run_time": sum(run_times), "components": len(roots),
            "lava_processes": len(procs) + len(job["connections"]) + len(monitors)}
    return out, info


def chunk_sizes(steps: int, chunks: int) -> list[int]:
    """``steps`` split into at most ``chunks`` run calls (one when ``chunks <= 1``)."""
    size = -(-steps // max(1, min(chunks, steps)))
    return [min(size, steps - k) for k in range(0, steps, size)]


def write_progress(job_dir: Path, done: int, total: int) -> None:
    """``PROGRESS_FILE`` in the job folder: ``"done total"`` steps (replaced atomically)."""
    tmp = job_dir / (PROGRESS_FILE + ".tmp")
    tmp.write_text(f"{done} {total}")
    tmp.replace(job_dir / PROGRESS_FILE)


# ------------------------------------------------------------------ fault guards
def journal_shared_memory(journal: Path) -> None:
    """From now on, write the name of every shared-memory segment this process (and each
    process forked from it) creates to ``journal`` before the segment exists.

    ``multiprocessing.shared_memory`` draws each new name from ``_make_filename`` (CPython
    3.8-3.12); the journal line is written by ``write(2)`` with ``O_APPEND``, so it is in
    the file even if the process is SIGKILLed right after."""
    from multiprocessing import shared_memory

    make = shared_memory._make_filename

    def journaled() -> str:
        name = make()
        fd = os.open(journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (name.lstrip("/") + "\n").encode())
        finally:
            os.close(fd)
        return name

    shared_memory._make_filename = journaled


def remove_journaled_segments(journal: str | Path) -> list[str]:
    """Unlink the segments named in ``journal`` that still exist; returns their names.
    Only names of the form ``psm_<hex>`` are touched; a missing journal is fine."""
    try:
        names = Path(journal).read_text().split()
    except OSError:
        return []
    removed = []
    for name in dict.fromkeys(names):
        if not _SEGMENT_NAME.fullmatch(name):
            continue
        try:
            if os.path.isdir("/dev/shm"):
                os.unlink(f"/dev/shm/{name}")
            else:  # other POSIX systems: no file system view of the segments
                import _posixshmem

                _posixshmem.shm_unlink(f"/{name}")
        except OSError:
            continue  # already unlinked (the normal case after a clean run)
        removed.append(name)
    return removed


def die_with_parent() -> None:
    """Linux: make every process forked from here from now on get SIGKILL when the
    process that forked it dies (``prctl(PR_SET_PDEATHSIG)``), so a worker killed with
    SIGKILL takes Lava's runtime processes with it."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    forker = [os.getpid()]

    def before() -> None:
        forker[0] = os.getpid()

    def in_child() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != forker[0]:  # the parent died before prctl took effect
            os._exit(1)

    os.register_at_fork(before=before, after_in_child=in_child)


class Watchdog(threading.Thread):
    """Watches, from a daemon thread, the process that started the worker (always) and
    the worker's child processes (inside :meth:`watching`, i.e. while the network runs).

    ``parent``: pid of the caller (None: not watched); ``owned``: folders removed when the
    caller has died; ``journal``: the shared-memory journal; ``report``: file that receives
    the reason when the watchdog stops the run (it also goes to stderr)."""

    def __init__(self, parent: int | None, owned: list[Path], journal: Path, report: Path):
        super().__init__(name="spikecore-lava-watchdog", daemon=True)
        self.parent = parent
        self.owned = owned
        self.journal = journal
        self.report = report
        self._lock = threading.Lock()
        self._armed = False
        self._exited: dict[int, float] = {}

    @contextlib.contextmanager
    def watching(self):
        """While inside, a child process that dies ends the worker."""
        with self._lock:
            self._armed = True
            self._exited.clear()
        try:
            yield
        finally:
            with self._lock:  # after this, children may exit: Lava is stopping them
                self._armed = False

    def run(self) -> None:
        while True:
            time.sleep(WATCH_PERIOD)
            if self.parent is not None and os.getppid() != self.parent:
                self.give_up(EXIT_ORPHANED, f"the process that started this worker (pid "
                             f"{self.parent}) died; removed the run's files and stopped Lava",
                             orphaned=True)
            with self._lock:
                if self._armed:
                    dead = self._dead_child()
                    if dead:
                        self.give_up(EXIT_LAVA_PROCESS_DIED, dead)

    def _dead_child(self) -> str | None:
        try:  # WNOWAIT: only look; Lava's multiprocessing still reaps its own children
            st = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return None
        if st is None or st.si_pid == 0:
            return None
        if st.si_code in (os.CLD_KILLED, os.CLD_DUMPED):
            try:
                how = f"was killed by signal {signal.Signals(st.si_status).name}"
            except ValueError:
                how = f"was killed by signal {st.si_status}"
        else:
            first = self._exited.setdefault(st.si_pid, time.monotonic())
            if time.monotonic() - first < EXIT_GRACE:
                return None
            how = f"exited (code {st.si_status})"
        what = _child_names().get(st.si_pid, "")
        return (f"Lava runtime process {st.si_pid}{f' ({what})' if what else ''} {how} "
                "while the network ran; Lava would wait for it forever, so the run stops now")

    def give_up(self, code: int, message: str, orphaned: bool = False) -> None:
        """Report, stop the resource tracker (it would only warn about the segments),
        unlink the run's segments, (orphaned: remove the owned folders and kill the whole
        process group) and exit with ``code``. Never returns."""
        try:
            sys.stderr.write(f"spikecore lava worker: {message}\n")
            sys.stderr.flush()
            if not orphaned:
                with contextlib.suppress(OSError):
                    self.report.write_text(message)
            _stop_resource_tracker()
            remove_journaled_segments(self.journal)
            if orphaned:
                for folder in self.owned:
                    shutil.rmtree(folder, ignore_errors=True)
        finally:
            if orphaned and os.getpgrp() == os.getpid():  # our own group (run_guarded's)
                os.killpg(os.getpid(), signal.SIGKILL)
            os._exit(code)  # forked children follow (PR_SET_PDEATHSIG)


def _stop_resource_tracker() -> None:
    from multiprocessing import resource_tracker

    pid = getattr(resource_tracker._resource_tracker, "_pid", None)
    if pid:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def _child_names() -> dict[int, str]:
    """pid -> multiprocessing name (``SystemProcess-N``: a Lava process model or runtime
    service; ``SharedMemoryManager-N``) of the worker's multiprocessing children.
    (multiprocessing drops a child's target once started, so the model is not known.)"""
    import multiprocessing

    try:
        children = list(multiprocessing.process._children)
    except RuntimeError:  # changed while copied (the main thread starts or joins one)
        return {}
    return {proc.pid: proc.name for proc in children if proc.pid is not None}


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="worker.py")
    parser.add_argument("job_dir", type=Path)
    parser.add_argument("--parent", type=int, default=None,
                        help="pid of the caller: when it dies, clean up and exit")
    parser.add_argument("--owned", type=Path, action="append", default=[],
                        help="folder to remove when the caller has died (repeatable)")
    args = parser.parse_args(argv[1:])
    job_dir = args.job_dir
    journal = job_dir / SHM_JOURNAL
    journal_shared_memory(journal)
    die_with_parent()
    guard = Watchdog(args.parent, args.owned, journal, job_dir / FAULT_REPORT)
    guard.start()  # its first look (after WATCH_PERIOD) also catches a caller already gone
    out, info = execute(job_dir, guard)
    tmp = job_dir / "info.tmp.json"
    tmp.write_text(json.dumps(info))
    tmp.replace(job_dir / "info.json")
    tmp = job_dir / "results.tmp.npz"
    np.savez(tmp, **out)
    tmp.replace(job_dir / "results.npz")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
