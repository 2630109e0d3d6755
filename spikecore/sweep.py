"""Parameter sweeps: many independent simulations, one table row per run.

:func:`sweep` builds a graph for every parameter point (and seed), runs it with
:func:`spikecore.simulate`, turns each :class:`~spikecore.Result` into scalar columns and
returns a tidy :class:`pandas.DataFrame`. Runs go to Dask distributed (a
``LocalCluster`` or any scheduler: Dask does the scheduling, spikecore only submits) or
run in-process one after the other. With ``store=`` every finished run is written to a
folder as it completes, keyed by a hash of what defines it, so a second call runs only
what is missing or failed. pandas (and, for ``executor``, dask's ``distributed``) are
imported when a sweep runs: ``pip install 'spikecore[scale]'``.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import math
import os
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .analysis import firing_rates
from .atomic import write_atomically
from .backends.base import ALIASES, BACKENDS, canonical_name
from .errors import InputError, SpikecoreWarning, UnavailableError
from .graph import Graph
from .progress import DELAY_S
from .progress import problem as progress_problem
from .result import Result
from .semantics import Semantics
from .simulate import simulate

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SweepWarning", "expand_params", "run_key", "spike_rates", "sweep"]

#: Columns the sweep writes around the parameters and measures (see :func:`sweep`);
#: a parameter may not take one of these names (``seed`` only without ``seeds=``).
HEAD_COLUMNS = ("seed", "backend", "status")
TAIL_COLUMNS = ("steps", "wall_time", "from_store", "error_type", "error", "key")
#: Written into every store file; a file of another format is run again.
STORE_FORMAT = "spikecore-sweep-run/1"
#: Hex digits of the SHA-256 that name a run (64 bits; a collision is still caught,
#: because the store file holds the run's full identity and is compared on reading).
KEY_HEX = 16
#: Seconds to reach a scheduler given by address, and then for its first worker.
CONNECT_TIMEOUT_S = 20.0
#: Characters of a failed run's traceback kept in its store file.
TRACEBACK_CHARS = 4000


class SweepWarning(SpikecoreWarning):
    """Some runs of a sweep failed (their rows say why), or a store file was unreadable
    and its run was done again."""


@dataclass(frozen=True)
class _Run:
    index: int
    point: dict[str, Any]    # build_fn's keywords, ``seed`` included when there is one
    params: dict[str, Any]   # the parameter columns (``seed`` has its own column)
    seed: Any
    identity: dict[str, Any]
    key: str


# ============================================================================ the points
def expand_params(params: Mapping[str, Iterable[Any]] | Iterable[Mapping[str, Any]] | None,
                  seeds: int | Iterable[int] | None = None) -> list[dict[str, Any]]:
    """The points of a sweep in run order, each a dict of ``build_fn`` keywords.

    ``params`` is a grid ``{name: values}`` expanded as :func:`itertools.product` over the
    values in the mapping's order (the first name varies slowest, the last fastest), an
    explicit list of dicts (taken in order; a ``pandas.DataFrame`` gives one point per
    row), or ``None`` (one point without parameters).
    ``seeds`` (a count ``n`` meaning ``0 .. n-1``, or a list) crosses every point with
    every seed, seeds innermost, adding ``seed`` to each point.

    Raises:
        InputError: ``params`` or ``seeds`` of the wrong form, an empty grid axis or list,
            a non-string name, or ``seed`` both in a point and in ``seeds``.
    """
    points = _points(params)
    seed_list = _seeds(seeds)
    if seed_list is None:
        return points
    clash = [i for i, p in enumerate(points) if "seed" in p]
    if clash:
        raise InputError(f"params: point {clash[0]} already has a 'seed' and seeds={seeds!r} "
                         "was given too; give seeds one way (in the points or with seeds=)")
    return [{**p, "seed": s} for p in points for s in seed_list]


def _points(params: Any) -> list[dict[str, Any]]:
    if params is None:
        return [{}]
    if hasattr(params, "columns") and hasattr(params, "to_dict"):  # a DataFrame of points
        params = params.to_dict("records")
    if isinstance(params, Mapping):
        axes = []
        for name, values in params.items():
            _check_name(name, "params")
            if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable) \
                    or getattr(values, "ndim", 1) == 0:
                raise InputError(
                    f"params[{name!r}] = {values!r}: a grid maps each name to the values it "
                    f"takes; write {name!r}: [{values!r}] for a single value, or pass a list "
                    "of dicts for explicit points")
            values = [_plain(v) for v in values]
            if not values:
                raise InputError(f"params[{name!r}] is empty: the grid would have no point; "
                                 "give it at least one value")
            axes.append(values)
        return [dict(zip(params, combo, strict=True)) for combo in itertools.product(*axes)]
    if isinstance(params, (str, bytes)) or not isinstance(params, Iterable):
        raise InputError(f"params: got {type(params).__name__}; expected a grid "
                         "{name: [values]} or a list of dicts (e.g. df.to_dict('records'))")
    points = []
    for i, point in enumerate(params):
        if not isinstance(point, Mapping):
            raise InputError(f"params[{i}]: got {type(point).__name__}; a list of params holds "
                             "one dict of build_fn keywords per run")
        for name in point:
            _check_name(name, f"params[{i}]")
        points.append({k: _plain(v) for k, v in point.items()})
    if not points:
        raise InputError("params is an empty list: there is nothing to run")
    return points


def _check_name(name: Any, where: str) -> None:
    if not isinstance(name, str) or not name.isidentifier():
        raise InputError(f"{where}: parameter name {name!r} is not a valid keyword; names "
                         "are passed to build_fn as keywords")


def _plain(value: Any) -> Any:
    """numpy scalars as Python scalars: cleaner table cells and store files."""
    return value.item() if isinstance(value, np.generic) else value


def _seeds(seeds: Any) -> list[int] | None:
    if seeds is None:
        return None
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, (bool, np.bool_)):
        if seeds < 1:
            raise InputError(f"seeds={seeds!r}: expected a positive count (seeds 0 .. n-1) or a "
                             "list of seeds")
        return list(range(int(seeds)))
    if isinstance(seeds, (str, bytes, Mapping)) or not isinstance(seeds, Iterable):
        raise InputError(f"seeds={seeds!r}: expected a positive count or a list of integers")
    out = list(seeds)
    bad = [s for s in out if isinstance(s, (bool, np.bool_))
           or not isinstance(s, (int, np.integer))]
    if bad or not out:
        raise InputError(f"seeds={seeds!r}: expected a non-empty list of integers"
                         + (f"; not integers: {bad[:3]}" if bad else ""))
    out = [int(s) for s in out]
    dup = sorted({s for s in out if out.count(s) > 1})
    if dup:
        raise InputError(f"seeds: {dup} given more than once; each seed is one run per point")
    return out


# ============================================================================ run identity
def _canonical(value: Any, where: str) -> Any:
    """A JSON form of ``value`` that is equal for runs that are equal: ``5`` and ``5.0``
    agree, tuples and lists agree, arrays are named by their bytes."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        if not math.isfinite(f):  # as text: nan != nan would never match a stored run
            return {"float": repr(f)}
        return int(f) if f.is_integer() else f
    if isinstance(value, (complex, np.complexfloating)):
        return {"complex": [_canonical(value.real, where), _canonical(value.imag, where)]}
    if isinstance(value, Mapping):
        return {str(k): _canonical(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if hasattr(value, "__array__") or isinstance(value, np.ndarray):
        if hasattr(value, "detach"):  # a torch tensor: its values, not its autograd state
            value = value.detach().cpu()
        arr = np.ascontiguousarray(np.asarray(value))
        if arr.dtype == object:
            return [_canonical(v, where) for v in arr.tolist()]
        digest = hashlib.sha256(arr.tobytes()).hexdigest()
        return {"ndarray": [arr.dtype.str, list(arr.shape), digest]}
    text = repr(value)
    if " at 0x" in text:  # default object repr: a different text in every process
        raise InputError(
            f"{where} = {text}: has no stable text form to key the run with; pass a name or "
            "number instead (e.g. a string) and turn it into the object inside build_fn")
    return {"object": f"{type(value).__module__}.{type(value).__qualname__}", "repr": text}


def _callable_identity(fn: Any) -> Any:
    """A function by its qualified name, a ``functools.partial`` with its arguments (its
    keywords are often the fixed settings of a sweep); the code itself is not keyed."""
    if isinstance(fn, functools.partial):
        try:
            return {"partial": _callable_identity(fn.func), "args": _canonical(fn.args, ""),
                    "keywords": _canonical(fn.keywords, "")}
        except InputError:
            return {"partial": _callable_identity(fn.func)}
    return (f"{getattr(fn, '__module__', None) or type(fn).__module__}."
            f"{getattr(fn, '__qualname__', None) or type(fn).__qualname__}")


def run_key(identity: Mapping[str, Any]) -> str:
    """The name of a run in the store: the first :data:`KEY_HEX` hex digits of the
    SHA-256 of its identity (canonical JSON, keys sorted)."""
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()[:KEY_HEX]


def _plan(points: list[dict[str, Any]], build_fn: Callable[..., Any], measure: Any,
          backend: str, steps: int | None, record: Any, inputs: Any,
          options: Mapping[str, Any]) -> list[_Run]:
    shared = {
        "format": STORE_FORMAT, "backend": backend, "steps": steps,
        "record": _canonical(record, "record"),
        # Code cannot be keyed, names can: the docstring says to use a new store after
        # changing what a function does.
        "build_fn": _callable_identity(build_fn),
        "measure": _callable_identity(measure),
        "inputs": _callable_identity(inputs) if callable(inputs) else _canonical(inputs, "inputs"),
        "options": _canonical(dict(options), "simulate option"),
    }
    runs: list[_Run] = []
    seen: dict[str, int] = {}
    for i, point in enumerate(points):
        params = {k: v for k, v in point.items() if k != "seed"}
        seed = point.get("seed")
        identity = {**shared, "params": _canonical(params, f"params of run {i}"),
                    "seed": _canonical(seed, f"seed of run {i}")}
        key = run_key(identity)
        if key in seen:
            raise InputError(f"params: runs {seen[key]} and {i} are the same run "
                             f"({_describe(point)}); give each point once")
        seen[key] = i
        runs.append(_Run(i, point, params, seed, identity, key))
    return runs


def _describe(point: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in point.items()) or "no parameters"


# ============================================================================ one run
def spike_rates(result: Result, point: Mapping[str, Any] | None = None) -> dict[str, float]:
    """The default ``measure`` of :func:`sweep`: ``rate_<node>``, the mean firing rate in
    Hz of every node whose spikes were recorded (averaged over batch, neurons and all
    steps; :func:`spikecore.analysis.firing_rates`)."""
    return {f"rate_{node}": float(np.mean(firing_rates(result, node))) for node in result.spikes}


def _run_one(build_fn: Callable[..., Any], point: dict[str, Any], backend: str,
             steps: int | None, inputs: Any, record: Any,
             measure: Callable[[Result, dict[str, Any]], Mapping[str, Any]],
             options: Mapping[str, Any]) -> dict[str, Any]:
    """One run, on a Dask worker or in-process; every exception becomes the outcome's
    status/error fields (only what the caller needs travels back, not the Result)."""
    t0 = time.perf_counter()
    out: dict[str, Any] = {"status": "ok", "error_type": None, "error": None, "traceback": None,
                           "semantics": {}, "measures": {}, "steps": None}
    try:
        graph, run_inputs = _built(build_fn(**point), inputs)
        if callable(run_inputs):
            run_inputs = run_inputs(dict(point))
        if graph.semantics is not None:
            out["semantics"] = graph.semantics.to_dict()
        result = simulate(graph, run_inputs, backend=backend, steps=steps, record=record,
                          **options)
        out["steps"] = result.steps or steps
        out["measures"] = _scalars(measure(result, dict(point)))
    except Exception as exc:  # noqa: BLE001 - a failed run is reported in its row
        out.update(_failure(exc))
    out["wall_time"] = time.perf_counter() - t0
    return out


def _built(built: Any, inputs: Any) -> tuple[Graph, Any]:
    if isinstance(built, Graph):
        return built, inputs
    if isinstance(built, tuple) and len(built) == 2 and isinstance(built[0], Graph):
        if inputs is not None:
            raise InputError("build_fn returned (graph, inputs) and sweep() was given inputs= "
                             "too; give the inputs one way")
        return built
    raise InputError(f"build_fn returned {type(built).__name__}; expected a spikecore.Graph or "
                     "a (Graph, inputs) pair")


def _scalars(values: Any) -> dict[str, Any]:
    if not isinstance(values, Mapping):
        raise InputError(f"measure returned {type(values).__name__}; expected a dict "
                         "{column name: number}")
    out, bad = {}, []
    for k, v in values.items():
        if getattr(v, "ndim", None) == 0 and hasattr(v, "item"):  # numpy / torch scalars
            v = v.item()
        if not isinstance(k, str):
            bad.append(f"key {k!r} is not a string")
        elif v is None or isinstance(v, (bool, int, float, str)):
            out[k] = v
        else:
            bad.append(f"{k!r}: {type(v).__name__} is not a scalar")
    if bad:
        raise InputError("measure must return {column name: number (or string, bool, None)}: "
                         + "; ".join(bad))
    return out


def _failure(exc: BaseException) -> dict[str, Any]:
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return {"status": "failed", "error_type": type(exc).__name__,
            "error": str(exc) or type(exc).__name__, "traceback": tb[-TRACEBACK_CHARS:]}


def _checked(outcome: dict[str, Any], taken: set[str]) -> dict[str, Any]:
    """A measure column named like a parameter or a sweep column fails its run (the
    table would otherwise hold two columns of one name)."""
    clash = sorted(set(outcome.get("measures") or ()) & taken)
    if outcome["status"] != "ok" or not clash:
        return outcome
    exc = InputError(f"measure returned {clash}, already the name of a parameter or of a "
                     "sweep column; rename them")
    return {**outcome, **_failure(exc), "measures": {}}


# ============================================================================ the store
def _store_folder(store: Any) -> Path | None:
    if store is None:
        return None
    if not isinstance(store, (str, os.PathLike)):
        raise InputError(f"store={store!r}: expected a folder path (str or Path) or None")
    path = Path(store)
    if path.exists() and not path.is_dir():
        raise InputError(f"store={str(path)!r} is a file; store= takes a folder (one file per run)")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"store={str(path)!r}: cannot create the folder: "
                         f"{exc.strerror or exc}") from exc
    return path


def _stored(folder: Path, run: _Run) -> dict[str, Any] | None:
    """The stored outcome of a run that finished, or None (absent, failed, other run)."""
    path = folder / f"{run.key}.json"
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        warnings.warn(SweepWarning(f"sweep store file {str(path)!r} is unreadable ({exc}); "
                                   "running that run again"), stacklevel=3)
        return None
    if not isinstance(record, dict) or record.get("identity") != run.identity:
        return None  # another format, or a key collision: the run is done again
    outcome = record.get("outcome")
    if not isinstance(outcome, dict) or outcome.get("status") != "ok" or not all(
            isinstance(outcome.get(k), dict) for k in ("measures", "semantics")):
        return None
    return outcome


def _save(folder: Path, run: _Run, outcome: dict[str, Any]) -> None:
    record = {"format": STORE_FORMAT, "key": run.key, "identity": run.identity,
              "outcome": outcome}
    text = json.dumps(record, indent=1, allow_nan=True, default=repr)
    write_atomically(folder / f"{run.key}.json", lambda tmp: Path(tmp).write_text(text),
                     what="sweep store file")


# ============================================================================ executors
@contextmanager
def _dask_client(executor: Any, workers: int | None, n_runs: int):
    """A ``distributed.Client`` for ``executor``; what this opens, it closes."""
    try:
        import distributed
    except ImportError as exc:
        raise UnavailableError(
            f"sweep(executor={executor!r}) needs dask distributed, which does not import "
            f"({exc}); fix: pip install 'spikecore[scale]', or executor=None to run "
            "in-process") from exc
    if isinstance(executor, distributed.Client):
        yield executor
        return
    if isinstance(executor, str) and executor == "local":
        n = workers or max(1, min(n_runs, os.cpu_count() or 1))
        # Processes, one thread each: Brian2 allows one run per process at a time, and
        # simulations are CPU-bound Python that threads would serialise on the GIL. Its
        # HTTP server on a free port: 8787 may belong to another cluster on this machine.
        with distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                      dashboard_address=":0") as cluster, \
                distributed.Client(cluster) as client:
            yield client
        return
    if isinstance(executor, str):
        try:
            client = distributed.Client(executor, timeout=CONNECT_TIMEOUT_S)
        except (OSError, ValueError) as exc:
            raise UnavailableError(
                f"cannot reach the Dask scheduler at {executor!r} within {CONNECT_TIMEOUT_S:g} "
                f"s ({type(exc).__name__}: {exc}); fix: check the address, or start one "
                f"(`dask scheduler` prints it; then `dask worker <address>` on each "
                "machine)") from exc
        with client:
            try:
                client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)
            except (OSError, TimeoutError) as exc:
                raise UnavailableError(
                    f"the Dask scheduler at {executor!r} has no worker after "
                    f"{CONNECT_TIMEOUT_S:g} s; fix: start one with `dask worker {executor}`"
                ) from exc
            yield client
        return
    if hasattr(executor, "scheduler_address"):  # a Cluster object (LocalCluster, SLURM, ...)
        with distributed.Client(executor) as client:
            yield client
        return
    raise InputError(f"executor={executor!r}: expected None (in-process), 'local', a "
                     "scheduler address such as 'tcp://host:8786', a distributed.Client or "
                     "a Dask cluster object")


def _check_executor(executor: Any, workers: Any) -> None:
    """What can be said about ``executor`` and ``workers`` without importing Dask."""
    daskish = hasattr(executor, "submit") or hasattr(executor, "scheduler_address")
    if not (executor is None or isinstance(executor, str) or daskish) or (
            isinstance(executor, str) and executor != "local" and ":" not in executor):
        raise InputError(f"executor={executor!r}: expected None (in-process), 'local', a "
                         "scheduler address such as 'tcp://host:8786', a distributed.Client "
                         "or a Dask cluster object")
    if workers is None:
        return
    if executor != "local":
        raise InputError(f"workers={workers!r} applies to executor='local' only (a cluster "
                         "you pass or address has its own workers)")
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise InputError(f"workers={workers!r}: expected a positive number of worker processes")


def _check_picklable(named: Mapping[str, Any]) -> None:
    import cloudpickle  # comes with distributed

    for name, obj in named.items():
        try:
            cloudpickle.dumps(obj)
        except Exception as exc:  # noqa: BLE001 - any pickling failure means the same
            raise InputError(
                f"{name} cannot be sent to Dask workers: cloudpickle failed with "
                f"{type(exc).__name__}: {exc}. cloudpickle handles functions, lambdas and "
                "closures, but not what they hold of open files, locks, sockets or running "
                "engines; build such things inside build_fn, or run with executor=None "
                "(in-process)") from exc


def _progress(progress: Any, total: int) -> tuple[Callable[[], None], Callable[[], None]]:
    """``(step, close)``: advance by one finished run; close at the end."""
    done = 0
    if callable(progress):
        def step() -> None:
            nonlocal done
            done += 1
            progress(done, total)
        return step, lambda: None
    if progress and total:
        from tqdm import tqdm

        bar = tqdm(total=total, desc="sweep", unit="run", delay=DELAY_S, leave=False,
                   file=sys.stderr, dynamic_ncols=True)
        return (lambda: bar.update(1)), bar.close
    return (lambda: None), (lambda: None)


# ============================================================================ the sweep
def sweep(build_fn: Callable[..., Any],
          params: Mapping[str, Iterable[Any]] | Iterable[Mapping[str, Any]] | None = None, *,
          seeds: int | Iterable[int] | None = None, backend: str = "brian2",
          steps: int | None = None, inputs: Any = None,
          record: Iterable[str] | str = ("spikes",),
          measure: Callable[[Result, dict[str, Any]], Mapping[str, Any]] | None = None,
          executor: Any = None, workers: int | None = None,
          store: str | os.PathLike | None = None, progress: Any = False,
          **simulate_options: Any) -> pd.DataFrame:
    """Run ``build_fn`` at every parameter point (and seed) and tabulate the runs.

    Each run calls ``graph = build_fn(**point)``, then
    ``spikecore.simulate(graph, inputs, backend=backend, steps=steps, record=record,
    **simulate_options)``, then ``measure(result, point)``. Runs are independent: with an
    ``executor`` they go to Dask (``client.submit``, gathered with ``as_completed``),
    otherwise they run here one after the other. A run that raises (in ``build_fn``, the
    simulation or ``measure``; a Dask worker that dies) is reported in its row and never
    stops the sweep; a :class:`SweepWarning` at the end counts the failures.

    Args:
        build_fn: ``build_fn(**point)`` returns a :class:`~spikecore.Graph`, or a pair
            ``(graph, inputs)`` when the inputs depend on the graph (then ``inputs=`` must
            be ``None``). With ``seeds=``, the seed arrives as the keyword ``seed``. Sent
            to the workers with cloudpickle (lambdas and closures work).
        params: a grid ``{name: [values, ...]}``, expanded like :func:`itertools.product`
            in the mapping's order (the first name varies slowest); an explicit list of
            dicts, run in order (different dicts may have different names; a DataFrame
            gives one point per row); or ``None``:
            one point without parameters (e.g. with ``seeds=``). Names must be valid
            keywords. See :func:`expand_params`.
        seeds: a count ``n`` (seeds ``0 .. n-1``) or a list of integers: every point runs
            once per seed (seeds innermost) and ``build_fn`` gets ``seed=``. ``None``
            (default): no seed is added (a point may carry its own ``seed``).
        backend: the backend of every run (``"brian2"``, ``"torch"``, ...).
        steps: steps per run (required when there are no inputs, as for ``simulate``).
        inputs: ``None``, the inputs of every run (an array, or a dict by Input name), or
            a callable ``inputs(point)`` returning a run's inputs (``point`` includes
            ``seed``).
        record: what ``simulate`` records (default spikes), for ``measure`` to use.
        measure: ``measure(result, point) -> {column: scalar}``, run where the simulation
            ran; values are numbers (numpy and 0-d torch scalars accepted), strings, bools
            or None. Default :func:`spike_rates`: ``rate_<node>`` in Hz for every node
            whose spikes were recorded.
        executor: ``None``: in-process, sequential, no Dask needed. ``"local"``: a
            ``distributed.LocalCluster`` of ``workers`` processes (default: one per core,
            at most one per run) with one thread each, started for this call and closed
            after (a script using it needs ``if __name__ == "__main__":``). A scheduler
            address ``"tcp://host:8786"``: a ``Client`` is connected (and closed after),
            waiting up to :data:`CONNECT_TIMEOUT_S` s for it and its first worker. A
            ``distributed.Client`` (left open) or a Dask cluster object.
        workers: number of worker processes for ``executor="local"``.
        store: a folder (created if needed). Every finished run is written there as it
            completes, atomically, as ``<key>.json`` (its identity, outcome and, for a
            failure, the traceback); a later call with the same store reuses each
            successful run and runs the missing and failed ones. The key covers the
            parameters, seed, backend, steps, record, ``simulate_options``, array
            inputs, and the qualified names of ``build_fn``, ``measure`` and an
            ``inputs`` callable (a ``functools.partial`` with its arguments), not their
            code: after changing what a function does, use a new store (or empty it).
        progress: ``True``: a tqdm bar of runs on stderr (it appears after a few
            seconds); a callable ``progress(done, total)`` called after every run; False.
        simulate_options: further keywords for :func:`spikecore.simulate`
            (``on_nonfinite=``, ``layout=``, backend options such as
            ``dtype=torch.float64``).

    Returns:
        A ``pandas.DataFrame``, one row per run in run order (points in ``params`` order,
        seeds innermost; default ``RangeIndex``), with columns, left to right:

        * one per parameter name (first-seen order; missing in a point: NaN);
        * ``seed``: the run's seed (``Int64``; ``<NA>`` without one);
        * ``backend``: the canonical backend name (``"norse"`` gives ``"torch"``);
        * ``status``: ``"ok"`` or ``"failed"``;
        * one per key ``measure`` returned (first-seen order; NaN where a run failed);
        * the graph's semantics, ``graph.semantics.to_dict()``: ``dt``, ``integrator``,
            ``reset``, ``input_meaning``, ``update_order``, ``spike_condition`` (None where
            ``build_fn`` failed); a field that is also a parameter name (e.g. ``dt``)
            becomes ``semantics.<field>``, the parameter keeping its name;
        * ``steps``: steps simulated (``Int64``);
        * ``wall_time``: seconds of the run (build, simulation and measure; for a stored
            run, the time it took when it ran);
        * ``from_store``: True when the row was read from ``store`` instead of run;
        * ``error_type``, ``error``: the exception's class name and message of a failed
            run (``KilledWorker`` when a Dask worker died), else None;
        * ``key``: the run's key (its store file is ``<store>/<key>.json``).

        ``df.attrs["sweep"]`` holds ``runs``, ``ran``, ``from_store``, ``failed``,
        ``wall_time`` (seconds of the whole call) and ``executor``.

    Raises:
        InputError: bad arguments (which one, what was expected), two points that are the
            same run, a parameter named like a sweep column, something ``executor`` runs
            that cloudpickle cannot pickle.
        UnavailableError: pandas or dask distributed missing, or a scheduler address
            that cannot be reached or has no worker.
    """
    t_start = time.perf_counter()
    try:
        import pandas as pd
    except ImportError as exc:
        raise UnavailableError(f"sweep() returns a pandas DataFrame, and pandas does not "
                               f"import ({exc}); fix: pip install 'spikecore[scale]'") from exc
    if not callable(build_fn):
        raise InputError(f"build_fn={build_fn!r}: expected a function build_fn(**point) "
                         "returning a spikecore.Graph (or a (graph, inputs) pair)")
    if measure is not None and not callable(measure):
        raise InputError(f"measure={measure!r}: expected a function measure(result, point) "
                         "returning {column name: number}, or None for spike rates")
    if not isinstance(backend, str) or canonical_name(backend) not in BACKENDS:
        names = sorted([*BACKENDS, *ALIASES])
        raise InputError(f"backend={backend!r}: expected one of {names}")
    backend = canonical_name(backend)
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, (int, np.integer))
                              or steps < 1):
        raise InputError(f"steps={steps!r}: expected a positive number of steps or None")
    steps = None if steps is None else int(steps)
    wrong = progress_problem(progress)
    if wrong:
        raise InputError(wrong)
    _check_executor(executor, workers)
    folder = _store_folder(store)

    points = expand_params(params, seeds)
    names = list(dict.fromkeys(k for p in points for k in p if k != "seed"))
    reserved = [n for n in names if n in HEAD_COLUMNS + TAIL_COLUMNS]
    if reserved:
        raise InputError(f"parameter(s) {reserved} are named like columns the sweep writes "
                         f"({', '.join(HEAD_COLUMNS + TAIL_COLUMNS)}); rename them")
    if isinstance(record, str):
        record = (record,)  # one spelling, one key
    fn = measure if measure is not None else spike_rates
    runs = _plan(points, build_fn, fn, backend, steps, record, inputs, simulate_options)

    outcomes: dict[int, dict[str, Any]] = {}
    from_store: set[int] = set()
    for run in runs:
        stored = _stored(folder, run) if folder is not None else None
        if stored is not None:
            outcomes[run.index] = stored
            from_store.add(run.index)
    todo = [r for r in runs if r.index not in outcomes]
    taken = {*names, *HEAD_COLUMNS, *TAIL_COLUMNS, *(f.name for f in fields(Semantics))}

    def finish(run: _Run, outcome: dict[str, Any]) -> None:
        outcome = _checked(outcome, taken)
        if folder is not None:
            _save(folder, run, outcome)
        outcomes[run.index] = outcome

    described = ("in-process" if executor is None else executor if isinstance(executor, str)
                 else type(executor).__name__)
    step, close = _progress(progress, len(todo))
    try:
        if executor is None:
            for run in todo:
                finish(run, _run_one(build_fn, run.point, backend, steps, inputs, record, fn,
                                     simulate_options))
                step()
        elif todo:  # a fully stored sweep starts no cluster
            callables = {"build_fn": build_fn, "measure": fn}
            if callable(inputs):
                callables["inputs"] = inputs
            _check_picklable({**callables, **{f"simulate option {k!r}": v
                                              for k, v in simulate_options.items()}})
            with _dask_client(executor, workers, len(todo)) as client:
                _run_on_dask(client, todo, finish, step, build_fn, backend, steps, inputs,
                             record, fn, simulate_options)
    finally:
        close()

    table = _table(pd, runs, outcomes, from_store, names)
    failed = int((table["status"] != "ok").sum())
    table.attrs["sweep"] = {"runs": len(runs), "ran": len(todo), "from_store": len(from_store),
                            "failed": failed, "wall_time": time.perf_counter() - t_start,
                            "executor": described}
    if failed:
        kinds = sorted(set(table.loc[table["status"] != "ok", "error_type"]))
        again = " call again with the same store= to retry them." if folder is not None else ""
        warnings.warn(SweepWarning(
            f"sweep: {failed} of {len(runs)} runs failed ({', '.join(kinds)}); their rows say "
            f"why (columns status, error_type, error).{again}"), stacklevel=2)
    return table


def _run_on_dask(client: Any, todo: list[_Run], finish: Callable[[_Run, dict], None],
                 step: Callable[[], None], build_fn: Callable[..., Any], backend: str,
                 steps: int | None, inputs: Any, record: Any, measure: Callable[..., Any],
                 options: Mapping[str, Any]) -> None:
    from distributed import as_completed

    if inputs is not None and not callable(inputs):
        # One copy on the cluster instead of one inside every task.
        [inputs] = client.scatter([inputs], hash=False)
    futures = {}
    for run in todo:
        # A fresh task key per call: Dask would hand back a cached (failed) result otherwise.
        fut = client.submit(_run_one, build_fn, run.point, backend, steps, inputs, record,
                            measure, options, key=f"spikecore-sweep-{run.key}-{os.urandom(4).hex()}")
        futures[fut] = run
    try:
        for fut in as_completed(list(futures)):
            run = futures.pop(fut)
            try:  # a result lost with its worker is recomputed by Dask: result() waits
                outcome = fut.result()
            except Exception as exc:  # noqa: BLE001 - the task failed in Dask: its worker
                # died (KilledWorker), its arguments did not load, it was cancelled
                outcome = {"semantics": {}, "measures": {}, "steps": None, "wall_time": None,
                           **_failure(exc)}
            fut.release()
            finish(run, outcome)
            step()
    finally:
        if futures:  # interrupted: nothing left running on the cluster
            client.cancel(list(futures))


def _table(pd: Any, runs: list[_Run], outcomes: Mapping[int, dict[str, Any]],
           from_store: set[int], names: list[str]) -> pd.DataFrame:
    measures = list(dict.fromkeys(k for r in runs for k in outcomes[r.index]["measures"]))
    fields = list(dict.fromkeys(k for r in runs for k in outcomes[r.index]["semantics"]))
    semantic = {f: f"semantics.{f}" if f in names else f for f in fields}
    rows = []
    for run in runs:
        o = outcomes[run.index]
        row = {n: run.params.get(n, math.nan) for n in names}
        row.update(seed=run.seed, backend=run.identity["backend"], status=o["status"])
        row.update({m: o["measures"].get(m, math.nan) for m in measures})
        row.update({semantic[f]: o["semantics"].get(f) for f in fields})
        row.update(steps=o.get("steps"), wall_time=o.get("wall_time"),
                   from_store=run.index in from_store, error_type=o.get("error_type"),
                   error=o.get("error"), key=run.key)
        rows.append(row)
    columns = [*names, *HEAD_COLUMNS, *measures, *semantic.values(), *TAIL_COLUMNS]
    table = pd.DataFrame.from_records(rows, columns=columns)
    # One dtype per column whatever the rows hold (an all-None error column would
    # otherwise be object, and a column of ints with gaps float).
    text = pd.StringDtype(na_value=np.nan)  # pandas 3's "str"
    for col in ("error_type", "error", *semantic.values()):
        values = table[col].dropna()
        if all(isinstance(v, str) for v in values):
            table[col] = table[col].astype(text)
        elif all(isinstance(v, float) for v in values):
            table[col] = table[col].astype(float)
    table["wall_time"] = table["wall_time"].astype(float)
    for col in ("seed", "steps"):
        values = table[col].dropna()
        if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
            table[col] = table[col].astype("Int64")
    return table
