"""The Brian2 backend: options, codegen target and cache, and the run.

How a graph becomes Brian2 objects is in :mod:`.lowering` (the slot scheme of one
step); the lowering of each primitive type is registered in :mod:`.registry` by
:mod:`.nir_primitives` and the extension modules.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ... import numerics
from ...graph import Graph
from ...numerics import NonFinite
from ...progress import BRIAN2_REPORT_PERIOD_S, Progress, progress_for
from ...progress import problem as progress_problem
from ...result import Result
from ..base import Availability, RecordPlan, no_lowering
from .lowering import MAX_HISTORY, Lowering
from .registry import BUILDERS, STATE_NAMES, lowerer_for, note_of

MODES = ("discrete", "continuous")
TARGETS = ("numpy", "cython", "cpp_standalone")
REPORTS = ("text", "stdout", "stderr")
OPTION_HELP = {
    "mode": "'discrete' (default: the semantics contract step for step) or 'continuous' "
            "(the NIR ODEs integrated exactly)",
    "codegen_target": "'numpy' (default), 'cython' (compiled, cached) or 'cpp_standalone'",
    "cache_dir": "directory for compiled code (cython) and standalone projects; default "
                 "$SPIKECORE_CACHE_DIR/brian2 or ~/.cache/spikecore/brian2",
    "progress": "False (default), True (a bar on stderr for runs over a few seconds), a "
                "callable(done_steps, total_steps), or Brian2's own 'text'/'stdout'/'stderr'",
    "substeps": "continuous mode only: internal Brian2 steps per graph step (int >= 1, "
                "default 1); spike times are resolved to dt/substeps",
}


_IMPORT_LOCK = threading.Lock()


def import_brian2() -> Any:
    """``brian2``, imported safely from any thread. On import Brian2 installs a SIGINT
    handler, which Python allows only on the main thread, so a first import in a worker
    thread (a Dask worker, a thread pool) would fail and leave the backend unavailable
    for the whole process. That handler only turns Ctrl+C into a clean stop of a running
    network, which a worker thread never receives: off the main thread it is skipped."""
    if "brian2" in sys.modules or threading.current_thread() is threading.main_thread():
        import brian2

        return brian2
    with _IMPORT_LOCK:
        original = signal.signal

        def main_thread_only(signum: int, handler: Any) -> Any:
            if threading.current_thread() is threading.main_thread():
                return original(signum, handler)
            return signal.getsignal(signum)

        signal.signal = main_thread_only
        try:
            import brian2
        finally:
            signal.signal = original
    return brian2


def default_cache_dir() -> Path:
    """Where compiled Brian2 code is kept unless ``cache_dir=`` says otherwise."""
    root = os.environ.get("SPIKECORE_CACHE_DIR")
    base = Path(root) if root else Path.home() / ".cache" / "spikecore"
    return base / "brian2"


# ============================================================================ options
def _option_problems(options: Mapping[str, Any]) -> list[str]:
    out = []
    for k in sorted(set(options) - set(OPTION_HELP)):
        out.append(f"option {k!r} is unknown; brian2 options: "
                   + "; ".join(f"{name}: {help_}" for name, help_ in OPTION_HELP.items()))
    mode = options.get("mode", "discrete")
    if mode not in MODES:
        out.append(f"option mode={mode!r}: expected one of {MODES}")
    target = options.get("codegen_target", "numpy")
    if target not in TARGETS:
        out.append(f"option codegen_target={target!r}: expected one of {TARGETS}")
    sub = options.get("substeps", 1)
    if isinstance(sub, bool) or not isinstance(sub, (int, np.integer)) or sub < 1:
        out.append(f"option substeps={sub!r}: expected an integer >= 1")
    elif sub != 1 and mode == "discrete":
        out.append(f"option substeps={sub!r}: only meaningful with mode='continuous' "
                   "(discrete mode advances exactly one step of the contract per dt)")
    cache = options.get("cache_dir")
    if cache is not None and not isinstance(cache, (str, os.PathLike)):
        out.append(f"option cache_dir={cache!r}: expected a path (str or os.PathLike)")
    bad_progress = progress_problem(options.get("progress"), REPORTS)
    if bad_progress:
        out.append(bad_progress)
    return out


def _edge_problems(graph: Graph, options: Mapping[str, Any]) -> list[str]:
    sub = options.get("substeps", 1)
    sub = sub if isinstance(sub, (int, np.integer)) and sub >= 1 else 1
    out = []
    for e in graph.edges:
        if e.delay_steps * sub > MAX_HISTORY:
            out.append(f"edge {e.source!r} -> {e.target!r}: delay of {e.delay_steps * sub} "
                       f"internal steps exceeds the limit of {MAX_HISTORY} history copies")
    return out


#: Brian2 keeps process-wide state (preferences, the current device, object names such
#: as ``spikecore_clock``): one run at a time per process. Threads calling simulate()
#: on Brian2 wait for each other; for parallel runs use processes (e.g. the sweeps).
BRIAN2_LOCK = threading.RLock()


@contextmanager
def brian_context(target: str, cache_dir: Path):
    """Set Brian2's code-generation preferences for one run and restore them after;
    for cpp_standalone, switch the device and reset it afterwards. Holds
    :data:`BRIAN2_LOCK` throughout."""
    with BRIAN2_LOCK, _brian_prefs(target, cache_dir) as project:
        yield project


@contextmanager
def _brian_prefs(target: str, cache_dir: Path):
    import brian2 as b2

    prefs = b2.prefs
    saved = {k: prefs[k] for k in ("codegen.target", "codegen.runtime.cython.cache_dir",
                                   "codegen.loop_invariant_optimisations")}
    project = None
    try:
        prefs["codegen.target"] = "numpy" if target == "cpp_standalone" else target
        if target == "cython":
            cache_dir.mkdir(parents=True, exist_ok=True)
            prefs["codegen.runtime.cython.cache_dir"] = str(cache_dir / "cython")
        if target == "cpp_standalone":
            cache_dir.mkdir(parents=True, exist_ok=True)
            project = tempfile.mkdtemp(prefix="standalone_", dir=cache_dir)
            b2.set_device("cpp_standalone", build_on_run=False, directory=project)
        yield project
    finally:
        if target == "cpp_standalone":
            from brian2.devices.device import reset_device

            b2.get_device().reinit()
            reset_device("runtime")
            if project is not None:
                shutil.rmtree(project, ignore_errors=True)
        for k, v in saved.items():
            prefs[k] = v


# ============================================================================ backend
class Brian2Backend:
    """spikecore graphs on Brian2 (``name = "brian2"``); see the module docstring."""

    name = "brian2"

    def __init__(self) -> None:
        self._availability: Availability | None = None

    def availability(self) -> Availability:
        """Runs a 2-neuron network once per process (cached afterwards)."""
        if self._availability is None:
            self._availability = self._probe()
        return self._availability

    def _probe(self) -> Availability:
        try:
            b2 = import_brian2()
            with brian_context("numpy", default_cache_dir()):
                clock = b2.Clock(1e-3 * b2.second)
                g = b2.NeuronGroup(2, "dv/dt = (1.5 - v) / (10*ms) : 1", threshold="v > 1",
                                   reset="v = 0", method="exact", clock=clock)
                mon = b2.SpikeMonitor(g)
                b2.Network(g, mon).run(30 * b2.ms, namespace={})
                # v crosses 1 at 10 ms * ln 3 = 11 ms: two spikes per neuron in 30 ms
                if mon.num_spikes != 4:
                    raise RuntimeError(f"test network gave {mon.num_spikes} spikes, expected 4")
            return Availability(self.name, True, version=b2.__version__,
                                reason="ran a 2-neuron network on the numpy target")
        except Exception as exc:  # noqa: BLE001 - the reason is reported, not raised
            return Availability(self.name, False, reason=f"{type(exc).__name__}: {exc}",
                                fix="pip install 'brian2>=2.9,<2.10' (Python 3.11 needs 2.9.x)")

    def supported(self) -> dict[str, str]:
        return {t.__name__: note_of(t) for t in sorted(BUILDERS, key=lambda t: t.__name__)}

    def check(self, graph: Graph, **options: Any) -> list[str]:
        problems = _option_problems(options)
        names = [t.__name__ for t in BUILDERS]
        for name, node in graph.nodes.items():
            lowerer = lowerer_for(type(node), options.get("mode", "discrete"))
            if lowerer is None:
                problems.append(no_lowering(name, node, names))
            elif lowerer.problems is not None:
                problems += lowerer.problems(graph, name, node, options)
        problems += _edge_problems(graph, options)
        return problems

    def run(self, graph: Graph, inputs: dict[str, np.ndarray], steps: int,
            record: RecordPlan, **options: Any) -> Result:
        problems = self.check(graph, **options)
        if problems:
            from ...errors import UnsupportedError

            raise UnsupportedError(f"backend 'brian2' cannot run graph {graph.name!r}:",
                                   problems)
        check = numerics.CHECK_EVERY
        result, hit = self._run_once(graph, inputs, steps, record, options, check)
        if hit is not None:
            result.nonfinite = self._locate(graph, inputs, steps, record, options, hit)
        return result

    def _run_once(self, graph: Graph, inputs: dict[str, np.ndarray], steps: int,
                  record: RecordPlan, options: dict[str, Any], check: int,
                  stop_at_first: bool = False) -> tuple[Result, NonFinite | None]:
        """One run. ``check > 0``: every state variable is looked at every ``check``
        internal steps (runtime targets; cpp_standalone: once, after the run); returns
        the result and the first non-finite value seen (its step is where it was seen,
        exact only with ``check=1``). ``stop_at_first`` stops the run there."""
        b2 = import_brian2()
        mode = options.get("mode", "discrete")
        target = options.get("codegen_target", "numpy")
        substeps = int(options.get("substeps", 1))
        cache_dir = Path(options.get("cache_dir") or default_cache_dir()).expanduser()
        progress = False if stop_at_first else options.get("progress", False)
        bar = progress_for(progress, steps, "brian2")
        report = progress if isinstance(progress, str) else None
        if bar is not None and target != "cpp_standalone":  # standalone: only at the end
            report = _report_to(bar, steps)

        t0 = time.perf_counter()
        with brian_context(target, cache_dir) as project:
            low = Lowering(graph, inputs, steps, record, mode, substeps)
            objects = low.build()
            net = b2.Network(*objects, name="spikecore_network")
            watch = _FiniteWatch(low, steps * substeps) if check > 0 else None
            if watch is not None and target != "cpp_standalone":
                def look(t) -> None:
                    if watch.found is None and watch.look(
                            int(round(float(np.asarray(t).reshape(-1)[0]) / low.h))) \
                            and stop_at_first:
                        net.stop()

                net.add(b2.NetworkOperation(look, dt=check * low.h * b2.second, when="end",
                                            order=10**9, name="spikecore_finite_check"))
            duration = (steps * substeps + 1) * low.h * b2.second
            t1 = time.perf_counter()
            try:
                net.run(duration, namespace=dict(low.namespace), report=report,
                        report_period=BRIAN2_REPORT_PERIOD_S * b2.second)
                if target == "cpp_standalone":
                    b2.get_device().build(directory=project, compile=True, run=True,
                                          with_output=False)
                if bar is not None:
                    bar(steps)
            finally:
                if bar is not None:
                    bar.close()
            t2 = time.perf_counter()
            loop = float(getattr(b2.get_device(), "_last_run_time", 0.0) or 0.0)
            if watch is not None and watch.found is None:
                watch.look(steps * substeps)  # the final state (cpp_standalone: the only look)
            if stop_at_first:  # a locating run: the recordings may have been cut short
                return Result(backend=self.name), watch.found if watch is not None else None
            spikes, traces, outputs = low.collect()
        wall = loop if 0 < loop <= t2 - t1 else t2 - t1
        return Result(spikes=spikes, traces=traces, outputs=outputs, dt=float(graph.semantics.dt),
                      backend=self.name, wall_time=wall, build_time=(t2 - t0) - wall,
                      info={"mode": mode, "codegen_target": target, "substeps": substeps,
                            "order": list(low.order), "brian2_objects": len(net.objects),
                            "monitors": sorted(m.name for m in (*low.spike_monitors.values(),
                                                                *low.state_monitors.values())),
                            "cache_dir": str(cache_dir)}), \
            (watch.found if watch is not None else None)

    def _locate(self, graph: Graph, inputs: dict[str, np.ndarray], steps: int,
                record: RecordPlan, options: dict[str, Any], hit: NonFinite) -> NonFinite:
        """The exact first non-finite step: the run again up to where ``hit`` was seen,
        looking after every step (cpp_standalone: on the numpy target, which cannot
        call Python per step otherwise)."""
        upto = min(steps, hit.step + 1)
        short = {k: v[:, :upto] for k, v in inputs.items()}
        opts = dict(options)
        note = ""
        if opts.get("codegen_target") == "cpp_standalone":
            opts["codegen_target"] = "numpy"
            note = "located by a re-run on Brian2's numpy target"
        _, found = self._run_once(graph, short, upto, {}, opts, 1, stop_at_first=True)
        if found is None:  # not reproduced step by step: report where it was seen
            return hit
        return dataclasses.replace(found, note=note) if note else found


def _report_to(bar: Progress, steps: int):
    """A Brian2 ``report=`` callable feeding ``bar`` with the graph steps done."""
    def report(elapsed, completed, start, duration) -> None:
        bar(int(float(completed) * steps))

    return report


#: Brian2 variables that are bookkeeping, not states: ``lastspike`` starts at -1e4 s and
#: history copies ``*_h<k>`` repeat a state's past values.
_NOT_STATES = re.compile(r"^(lastspike|.*_h\d+)$")


class _FiniteWatch:
    """Looks at every float state variable of every group (one ``isfinite`` each) and
    keeps the first non-finite value as a :class:`NonFinite`, its step being the graph
    step of the internal step it was looked at."""

    def __init__(self, low: Lowering, last_internal_step: int):
        from brian2.core.variables import ArrayVariable

        self.low = low
        self.last = last_internal_step
        self.found: NonFinite | None = None
        self.watched: list[tuple[str, str, Any]] = []
        for node in low.order:
            g = low.groups.get(node)
            if g is None:
                continue
            names = [n for n, v in g.variables.items()
                     if isinstance(v, ArrayVariable) and not n.startswith("_")
                     and not v.read_only and not v.constant and not v.scalar
                     and np.issubdtype(np.dtype(v.dtype), np.floating)
                     and not _NOT_STATES.match(n)]
            # states first, the sent value y last: the origin, not what it reached
            for n in sorted(names, key=lambda n: n == "y"):
                self.watched.append((node, n, g.variables[n]))

    def look(self, internal_step: int) -> bool:
        """Whether a non-finite value was found (recorded in :attr:`found`)."""
        if internal_step >= self.last:  # the extra step that records the last one
            internal_step = self.last - 1
        for node, name, var in self.watched:
            values = np.asarray(var.get_value())
            if np.isfinite(values).all():
                continue
            n = self.low.size[node]
            k = int(np.flatnonzero(~np.isfinite(values))[0])
            shape = tuple(self.low.shapes[node])
            index = tuple(int(i) for i in np.unravel_index(k % n, shape)) if shape else (k,)
            self.found = NonFinite(node, STATE_NAMES.get(name, name),
                                   internal_step // self.low.S, k // n, index,
                                   float(values[k]), backend="brian2")
            return True
        return False
