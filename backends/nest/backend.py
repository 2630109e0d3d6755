"""The NEST backend: spikecore graphs on NEST 3.10 (``backend="nest"``).

The plan (:mod:`.lowering`, pure numpy) says which NEST model each neuron node becomes,
which connections join them and what each spike generator replays; this module builds
it in NEST's kernel, runs it and reads the recorders back onto the contract's time axis.

NEST's kernel is one per process, so runs are serialised by :data:`NEST_LOCK`; each run
starts from ``ResetKernel``. ``threads=k`` runs NEST's update on ``k`` OpenMP threads
(the spikes do not depend on it: nothing here draws random numbers inside NEST). Under
MPI (a NEST built with MPI, launched with ``mpirun``), NEST distributes the neurons
itself; the PyPI wheel has no MPI (``docs/scale.md``).

Long runs are simulated in blocks (``nest.Run`` between ``Prepare`` and ``Cleanup``):
the drive of a block is computed, loaded into the generators, and run, so the replayed
streams never need memory for the whole run at once.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from ... import primitives as P
from ...errors import UnavailableError, UnsupportedError
from ...extensions import source_stream
from ...graph import Graph
from ...progress import problem as progress_problem
from ...progress import progress_for
from ...result import Result
from ..base import Availability, RecordPlan
from ..terms import ONE, output_values
from .lowering import NestNode, Plan, add_drive, build_plan, check_graph, csr_blocks
from .models import MS_PER_S
from .registry import RULES

#: NEST has one kernel per process: one run at a time.
NEST_LOCK = threading.RLock()
#: Drive values computed per block (batch x steps x driven elements), bounding memory.
BLOCK_VALUES = 2**24
#: Connections handed to ``nest.Connect`` per call (bounds the index arrays' memory).
CONNECT_CHUNK = 2**23
#: Connections per copy of static_synapse: NEST 3.10 holds at most 2**27 - 2 connections
#: per virtual process and synapse model ("Too many connections" at 156 M synapses on one
#: thread), so larger networks spread theirs over copies of the model (same synapse).
#: As few copies as possible: each gives every source neuron a connector of its own
#: (NEST allocates 1024 connections' worth, ~32 kB, per neuron and model).
CONNECTIONS_PER_MODEL = 2**27 - 2**23
#: NEST's time grid: tics per ms tried in turn until dt is a whole number of tics.
TICS_PER_MS = (1000, 1000000)

OPTION_HELP = {
    "threads": "NEST's local_num_threads (int >= 1, default 1; spikes do not depend on it)",
    "progress": "False (default), True (a bar on stderr) or a callable(done_steps, total)",
}

FIX = ("pip install 'nest-simulator==3.10.0' (a wheel for Python 3.11 on Linux; make test "
       "installs it), or pip install 'spikecore[nest]'")


def import_nest() -> Any:
    """``nest``, imported quietly (no banner on stdout, warnings and errors only)."""
    os.environ.setdefault("PYNEST_QUIET", "1")
    import nest

    nest.verbosity = nest.VerbosityLevel.ERROR
    return nest


def _option_problems(options: Mapping[str, Any]) -> list[str]:
    out = []
    for k in options:
        if k not in OPTION_HELP:
            out.append(f"option {k!r}: unknown to backend 'nest'; options: "
                       + "; ".join(f"{n}: {h}" for n, h in OPTION_HELP.items()))
    threads = options.get("threads", 1)
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        out.append(f"option threads={threads!r}: expected an int >= 1")
    if "progress" in options:
        wrong = progress_problem(options["progress"])
        if wrong:
            out.append(wrong)
    return out


def tics_per_ms(dt: float) -> int | None:
    """The first of :data:`TICS_PER_MS` on which ``dt`` (s) is a whole number of tics."""
    for tics in TICS_PER_MS:
        n = dt * MS_PER_S * tics
        if n >= 1 and abs(n - round(n)) <= 1e-9 * n:
            return tics
    return None


class NestBackend:
    """spikecore graphs on NEST (``name = "nest"``); see the module docstring."""

    name = "nest"

    def __init__(self) -> None:
        self._availability: Availability | None = None

    def availability(self) -> Availability:
        """Runs one neuron driven by a spike generator once per process (cached)."""
        if self._availability is None:
            self._availability = self._probe()
        return self._availability

    def _probe(self) -> Availability:
        try:
            with NEST_LOCK:
                nest = import_nest()
                nest.ResetKernel()
                nest.resolution = 0.1
                n = nest.Create("iaf_psc_delta", params={"E_L": 0.0, "V_m": 0.0, "V_th": 1.0,
                                                         "V_reset": 0.0, "t_ref": 0.0})
                g = nest.Create("spike_generator", params={"spike_times": [0.5, 1.0]})
                rec = nest.Create("spike_recorder")
                nest.Connect(g, n, syn_spec={"weight": 1.5, "delay": 0.1})
                nest.Connect(n, rec)
                nest.Simulate(2.0)
                got = int(rec.get("n_events"))
                nest.ResetKernel()
            if got != 2:
                raise RuntimeError(f"test network gave {got} spikes, expected 2")
            return Availability(self.name, True, version=str(nest.__version__),
                                reason="ran a neuron driven by a spike generator")
        except Exception as exc:  # noqa: BLE001 - the reason is reported, not raised
            return Availability(self.name, False, reason=f"{type(exc).__name__}: {exc}",
                                fix=FIX)

    def supported(self) -> dict[str, str]:
        return {t.__name__: RULES[t].note for t in sorted(RULES, key=lambda t: t.__name__)}

    def check(self, graph: Graph, **options: Any) -> list[str]:
        problems = _option_problems(options)
        if tics_per_ms(float(graph.semantics.dt)) is None:
            problems.append(f"semantics dt={graph.semantics.dt!r} s is not a whole number of "
                            "NEST's time tics (1 ns at the finest); choose dt as a multiple "
                            "of 1e-9 s")
        return problems + check_graph(graph)

    def run(self, graph: Graph, inputs: dict[str, np.ndarray], steps: int,
            record: RecordPlan, **options: Any) -> Result:
        problems = self.check(graph, **options)
        if problems:
            raise UnsupportedError(f"backend 'nest' cannot run graph {graph.name!r}:", problems)
        t0 = time.perf_counter()
        plan = build_plan(graph)
        batch = next(iter(inputs.values())).shape[0] if inputs else 1
        with NEST_LOCK:
            nest = import_nest()
            run = _NestRun(nest, plan, inputs, steps, batch, int(options.get("threads", 1)))
            wants = _wanted(plan, record)
            run.build(wants)
            t1 = time.perf_counter()
            keep = {s for s in plan.sources if s in record} | {
                s for terms in plan.output_terms.values() for s, _d in terms}
            run.simulate(progress_for(options.get("progress", False), steps, "nest"), keep)
            t2 = time.perf_counter()
            data = run.collect(wants)
            info = {"threads": run.threads, "nest_version": str(nest.__version__),
                    "mpi_processes": int(nest.NumProcesses()),
                    "lags": {n: nn.lag for n, nn in plan.nodes.items()},
                    "models": {n: nn.neuron.model for n, nn in plan.nodes.items()},
                    "connections": int(nest.num_connections),
                    "generators": run.generator_count, "nest_steps": run.total_steps,
                    "synapse_models": run.models + 1}
            nest.ResetKernel()
        return _result(plan, inputs, run.streams, data, steps, batch, record, info,
                       wall=t2 - t1, build=(t1 - t0) + (time.perf_counter() - t2))


def _wanted(plan: Plan, record: RecordPlan) -> dict[str, set[str]]:
    """Neuron node -> what to record: the plan's wishes plus the sources of Outputs."""
    wants: dict[str, set[str]] = {}
    for node, names in record.items():
        if node in plan.nodes:
            wants.setdefault(node, set()).update(names)
    for terms in plan.output_terms.values():
        for s, _d in terms:
            if s in plan.nodes:
                wants.setdefault(s, set()).add("spikes" if plan.nodes[s].neuron.spiking else "v")
    return wants


class _NestRun:
    """One simulation in NEST's kernel: build, run in blocks, collect."""

    def __init__(self, nest: Any, plan: Plan, inputs: Mapping[str, np.ndarray], steps: int,
                 batch: int, threads: int):
        self.nest, self.plan, self.inputs = nest, plan, inputs
        self.steps, self.batch, self.threads = steps, batch, threads
        self.dt = float(plan.graph.semantics.dt)
        self.h = self.dt * MS_PER_S
        # + 1: generators cannot emit at 0; + 1: the multimeter's last sample comes a step late
        self.total_steps = steps + plan.max_lag + 2
        self.pops: dict[str, np.ndarray] = {}
        self.gens: dict[str, tuple[Any, np.ndarray]] = {}
        self.recorders: dict[str, Any] = {}
        self.meters: dict[str, Any] = {}
        self.streams: dict[str, np.ndarray] = {}
        self.generator_count = 0
        self.models, self.in_model = 0, 0   # static_synapse copies in use, fill of the last

    # ------------------------------------------------------------------ building
    def build(self, wants: Mapping[str, set[str]]) -> None:
        nest = self.nest
        nest.ResetKernel()
        nest.set(local_num_threads=self.threads, tics_per_ms=tics_per_ms(self.dt),
                 resolution=self.h, print_time=False)
        for name, nn in sorted(self.plan.nodes.items()):
            self._create(name, nn)
        for name, nn in sorted(self.plan.nodes.items()):
            self._connect(nn)
            self._generators(name, nn)
        for name, what in sorted(wants.items()):
            nn = self.plan.nodes[name]
            ids = self.nest.NodeCollection(self.pops[name].tolist())
            if "spikes" in what:
                self.recorders[name] = nest.Create("spike_recorder")
                nest.Connect(ids, self.recorders[name])
            states = [r for s in sorted(what - {"spikes"}) for r in nn.neuron.states[s]]
            if states:
                self.meters[name] = nest.Create("multimeter", params={
                    "record_from": states, "interval": self.h})
                nest.Connect(self.meters[name], ids)

    def _create(self, name: str, nn: NestNode) -> None:
        uniform, varying = {}, {}
        for k, v in nn.neuron.params.items():
            flat = np.asarray(v, np.float64).ravel()
            if np.all(flat == flat[0]):  # one value: set once, not per neuron
                uniform[k] = float(flat[0])
            else:
                varying[k] = np.tile(flat, self.batch).tolist()
        pop = self.nest.Create(nn.neuron.model, nn.size * self.batch, params=uniform)
        if varying:
            pop.set(varying)
        self.pops[name] = np.asarray(pop.tolist(), dtype=np.int64)

    def _connect(self, nn: NestNode) -> None:
        factor = np.asarray(nn.neuron.in_factor, np.float64).ravel()
        for (s, d), m in sorted(nn.connections.items()):
            delay = (d + nn.lag - self.plan.nodes[s].lag) * self.h
            n_s = self.plan.nodes[s].size
            for rows, cols, vals in csr_blocks(m, CONNECT_CHUNK):
                w = vals * factor[rows]
                for b in range(self.batch):
                    self.nest.Connect(self.pops[s][b * n_s + cols],
                                      self.pops[nn.name][b * nn.size + rows], "one_to_one",
                                      {"synapse_model": self._synapse_model(w.size),
                                       "weight": w, "delay": np.full(w.size, delay)})

    def _synapse_model(self, n: int) -> str:
        """The static_synapse copy that takes the next ``n`` connections."""
        if self.in_model + n > CONNECTIONS_PER_MODEL:
            self.models += 1
            self.in_model = 0
            self.nest.CopyModel("static_synapse", f"spikecore_static_{self.models}")
        self.in_model += n
        return "static_synapse" if self.models == 0 else f"spikecore_static_{self.models}"

    def _generators(self, name: str, nn: NestNode) -> None:
        driven = nn.driven_elements()
        if driven.size == 0:
            return
        gens = self.nest.Create("spike_generator", driven.size * self.batch)
        targets = (np.arange(self.batch)[:, None] * nn.size + driven[None, :]).ravel()
        self.nest.Connect(np.asarray(gens.tolist(), np.int64), self.pops[name][targets],
                          "one_to_one", {"weight": np.ones(targets.size),
                                         "delay": np.full(targets.size, self.h)})
        self.gens[name] = (gens, driven)
        self.generator_count += int(driven.size * self.batch)

    # ------------------------------------------------------------------ running
    def simulate(self, bar: Any, keep: set[str]) -> None:
        """Runs in blocks: each block's drive is computed source by source, loaded into
        the generators, then simulated. ``keep``: sources whose whole stream the Result
        needs (recorded, or read by an Output); the others are dropped block by block."""
        nest, plan = self.nest, self.plan
        shapes = plan.graph.shapes()
        # a block holds the drive of every driven element and one source's values
        per_step = sum(d.size for _, d in self.gens.values()) + max(
            [math.prod(shapes[s]) for s in plan.sources] + [0])
        block = max(1, min(self.steps, BLOCK_VALUES // max(1, self.batch * per_step)))
        history = max([d for nn in plan.nodes.values() for (_s, d) in nn.drive] + [0])
        past: dict[str, np.ndarray] = {}
        states: dict[str, Any] = {}
        nest.Prepare()
        try:
            done_nest = 0
            for t0 in range(0, max(self.steps, 1), block):
                t1 = min(self.steps, t0 + block)
                drives = {name: np.zeros((self.batch, t1 - t0, self.plan.nodes[name].size))
                          for name in self.gens}
                for s in (*plan.sources, ONE):
                    window = (None if s == ONE else
                              self._source_window(s, t0, t1, history, past, states, keep))
                    for name, out in drives.items():
                        add_drive(out, plan.nodes[name], s, window, t0, history)
                self._load(drives, t0, t1)
                # The spike replaying contract step t is emitted in NEST step t + lag (and
                # arrives one step later), so the next block's first spike leaves in NEST
                # step t1 at the earliest: run up to there (all of it in the last block).
                until = self.total_steps if t1 >= self.steps else t1
                nest.Run((until - done_nest) * self.h)
                done_nest = until
                if bar is not None:
                    bar(t1)
        finally:
            nest.Cleanup()
            if bar is not None:
                bar.close()

    def _source_window(self, s: str, t0: int, t1: int, history: int,
                       past: dict[str, np.ndarray], states: dict[str, Any], keep: set[str]
                       ) -> np.ndarray:
        """Source ``s``'s outputs for steps ``t0 - history .. t1 - 1`` (flat elements)."""
        node = self.plan.graph.nodes[s]
        if isinstance(node, P.Input):
            now = self.inputs[s][:, t0:t1].reshape(self.batch, t1 - t0, -1)
        else:
            shape = self.plan.graph.shapes()[s]
            now, states[s] = source_stream(node, s, self.plan.graph.semantics, self.batch,
                                           t0, t1, shape, states.get(s))
            now = now.reshape(self.batch, t1 - t0, -1)
            if s in keep:
                self.streams.setdefault(s, []).append(now)
        before = past.get(s)
        if before is None:
            before = np.zeros((self.batch, history, now.shape[2]))
        window = np.concatenate([before, now], axis=1)
        past[s] = window[:, window.shape[1] - history:]
        return window

    def _load(self, drives: dict[str, np.ndarray], t0: int, t1: int) -> None:
        """Sets every generator's spikes for contract steps ``t0 .. t1-1``."""
        for name, (gens, driven) in self.gens.items():
            nn = self.plan.nodes[name]
            drive = drives[name][:, :, driven]
            drive *= np.asarray(nn.neuron.in_factor, np.float64).ravel()[driven]
            # generator g = b * len(driven) + j; its spikes are where drive[b, :, j] != 0
            per_gen = drive.transpose(0, 2, 1).reshape(-1, t1 - t0)
            g_idx, t_idx = np.nonzero(per_gen)
            bounds = np.searchsorted(g_idx, np.arange(per_gen.shape[0] + 1))
            times = (t_idx + t0 + 1 + nn.lag) * self.h
            weights = per_gen[g_idx, t_idx]
            gens.set([{"spike_times": times[a:b], "spike_weights": weights[a:b]}
                      for a, b in zip(bounds[:-1], bounds[1:], strict=True)])

    # ------------------------------------------------------------------ reading
    def collect(self, wants: Mapping[str, set[str]]) -> dict[str, dict[str, np.ndarray]]:
        """Node -> recorded name -> ``[batch, steps, size]`` on the contract's time axis."""
        out: dict[str, dict[str, np.ndarray]] = {}
        for name, rec in self.recorders.items():
            nn = self.plan.nodes[name]
            ev = self._gathered(rec.get("events"), ("senders", "times"))
            t, el = self._index(name, nn, ev["senders"], ev["times"])
            z = np.zeros((self.batch * nn.size, self.steps), dtype=bool)
            ok = (t >= 0) & (t < self.steps)
            z[el[ok], t[ok]] = True
            out.setdefault(name, {})["spikes"] = _batched(z, self.batch, nn.size)
        for name, meter in self.meters.items():
            nn = self.plan.nodes[name]
            ev = self._gathered(meter.get("events"), ("senders", "times", *(
                r for st in sorted(wants[name] - {"spikes"}) for r in nn.neuron.states[st])))
            t, el = self._index(name, nn, ev["senders"], ev["times"])
            ok = (t >= 0) & (t < self.steps)
            for state in sorted(wants[name] - {"spikes"}):
                a = np.zeros((self.batch * nn.size, self.steps))
                for r in nn.neuron.states[state]:
                    np.add.at(a, (el[ok], t[ok]), np.asarray(ev[r], np.float64)[ok])
                out.setdefault(name, {})[state] = _batched(a, self.batch, nn.size)
        return out

    def _gathered(self, events: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
        """Under MPI a recorder holds only the events of this rank's neurons: every rank
        gets all of them (mpi4py's allgather), so each rank's Result is the whole run.
        (Written for NEST builds with MPI; the PyPI wheel has none, so it is not run here.)"""
        if int(self.nest.NumProcesses()) == 1:
            return dict(events)
        try:
            from mpi4py import MPI
        except ImportError as exc:
            raise UnavailableError(
                "NEST runs under MPI but mpi4py is missing, so the ranks' recordings cannot "
                "be gathered; pip install mpi4py (built against the same MPI as NEST)") from exc
        parts = MPI.COMM_WORLD.allgather({k: np.asarray(events[k]) for k in keys})
        return {k: np.concatenate([p[k] for p in parts]) for k in keys}

    def _index(self, name: str, nn: NestNode, senders: Any, times: Any
               ) -> tuple[np.ndarray, np.ndarray]:
        """(contract step, element b * n + j) of each event. An event stamped ``(k + 1)
        h`` comes from NEST step ``k`` = contract step ``k - 1 - lag``."""
        ids = self.pops[name]
        el = np.asarray(senders, np.int64) - int(ids[0])  # ids of one Create are contiguous
        k = np.rint(np.asarray(times, np.float64) / self.h).astype(np.int64) - 1
        return k - 1 - nn.lag, el


def _batched(a: np.ndarray, batch: int, size: int) -> np.ndarray:
    """``[batch * size, steps]`` -> ``[batch, steps, size]``."""
    return a.reshape(batch, size, -1).transpose(0, 2, 1)


def _result(plan: Plan, inputs: Mapping[str, np.ndarray], streams: dict[str, list],
            data: dict[str, dict[str, np.ndarray]], steps: int, batch: int, record: RecordPlan,
            info: dict[str, Any], wall: float, build: float) -> Result:
    shapes = plan.graph.shapes()
    full = {s: np.concatenate(v, axis=1) for s, v in streams.items()}
    result = Result(backend="nest", dt=float(plan.graph.semantics.dt), info=info,
                    wall_time=wall, build_time=build)
    for node, names in record.items():
        for what in names:
            if node in full:
                arr = full[node] > 0.5 if what == "spikes" else full[node]
            else:
                arr = data[node][what]
            arr = arr.reshape(batch, steps, *shapes[node])
            if what == "spikes":
                result.spikes[node] = arr.astype(bool)
            else:
                result.traces.setdefault(node, {})[what] = arr
    sources = {n: inputs[n].reshape(batch, steps, -1) for n in inputs}
    sources.update(full)
    for n, nn in plan.nodes.items():
        what = "spikes" if nn.neuron.spiking else "v"
        if what in data.get(n, {}):
            sources[n] = data[n][what].astype(np.float64)
    for name, terms in plan.output_terms.items():
        size = math.prod(shapes[name])
        result.outputs[name] = output_values(terms, sources, batch, steps, size
                                             ).reshape(batch, steps, *shapes[name])
    return result
