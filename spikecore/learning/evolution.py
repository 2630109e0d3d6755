"""Evolution strategies: forward-only training of a graph's parameters on any backend.

A strategy proposes parameter vectors (candidates); each candidate is written into a copy
of the graph (:class:`ParameterSpace`), run by :func:`spikecore.simulate` on the chosen
backend (Brian2, torch, Lava, NEST) and scored by a user ``fitness(result) -> float``
(higher is better). No gradient is taken, so ES trains exactly what the engine runs,
stiff or non-differentiable dynamics included.

- :class:`OpenAIES`: Salimans, Ho, Chen, Sidor & Sutskever (2017), "Evolution Strategies
  as a Scalable Alternative to Reinforcement Learning", arXiv:1703.03864: Gaussian
  perturbations with antithetic (mirrored) pairs, fitness shaped by centred ranks, an
  Adam or SGD ascent step on the search-gradient estimate, optional L2 weight decay.
- :class:`CMAES`: Hansen & Ostermeier (2001) CMA-ES through the ``cma`` package
  (``cma.CMAEvolutionStrategy`` ask/tell); no CMA is written here.

Populations are evaluated in-process one after the other (``executor=None``) or on Dask
distributed (a ``distributed.Client``, ``"local"`` for a ``LocalCluster`` of processes, a
scheduler address): Dask schedules, spikecore only maps. Every candidate is a
deterministic simulation, so both give the same fitness values, and a seed gives the same
candidates on every call.

Example::

    space = ParameterSpace(graph, {"rec": "weight", "inp": "weight"})
    out = evolve(graph, space, fitness, inputs, backend="brian2", strategy="cma",
                 generations=20, population=16, sigma=0.5, seed=0)
    out.graph      # the best candidate, written into a copy of the graph
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InputError, NumericalError, SpikecoreError, UnavailableError
from ..graph import Graph
from ..result import Result
from ..simulate import simulate
from ..sweep import CONNECT_TIMEOUT_S

__all__ = ["CMAES", "PULSE_TASK", "EvolutionResult", "Generation", "OpenAIES", "ParameterSpace",
           "PulseCountFitness", "morris_lecar_classifier", "pulse_count_task",
           "evaluate_population", "evolve"]

Fitness = Callable[[Result], float]


# ============================================================================ parameters
@dataclass(frozen=True)
class _Slot:
    node: str
    field: str
    shape: tuple[int, ...]
    start: int
    stop: int


class ParameterSpace:
    """Which parameters of which nodes are evolved, as one flat float64 vector.

    ``params`` maps a node name of ``graph`` (top level) to a field name or a list of
    field names, e.g. ``{"rec": "weight", "inp": "weight", "ml": ["v1", "phi"]}``. The
    vector is the concatenation of the fields in that order, each flattened C-order.
    :meth:`apply` writes a vector into a *copy* of the graph (``graph.copy()`` and
    ``dataclasses.replace`` on each changed node, so the node's own checks run again);
    the caller's graph is never changed.
    """

    def __init__(self, graph: Graph, params: Mapping[str, str | Sequence[str]]):
        if not isinstance(graph, Graph):
            raise InputError(f"graph: got {type(graph).__name__}; expected a spikecore.Graph")
        if not isinstance(params, Mapping) or not params:
            raise InputError(f"params={params!r}: expected a non-empty mapping node name -> "
                             "field name or list of field names, e.g. {'rec': 'weight'}")
        self.graph = graph
        slots: list[_Slot] = []
        start = 0
        for node_name, fields in params.items():
            if node_name not in graph.nodes:
                raise InputError(f"params: no node {node_name!r} in graph {graph.name!r}; "
                                 f"its nodes are {sorted(graph.nodes)}")
            node = graph.nodes[node_name]
            if not dataclasses.is_dataclass(node):
                raise InputError(f"params[{node_name!r}]: node of type {type(node).__name__} "
                                 "is not a primitive dataclass (a nested graph?); name a "
                                 "primitive node of the top-level graph")
            names = [fields] if isinstance(fields, str) else list(fields)
            known = {f.name for f in dataclasses.fields(node) if f.init}
            for f in names:
                value = getattr(node, f, None) if f in known else None
                if value is None or isinstance(value, str):
                    numeric = sorted(k for k in known if _numeric(getattr(node, k, None)))
                    raise InputError(f"params[{node_name!r}]: {f!r} is not a numeric field of "
                                     f"{type(node).__name__}; choose among {numeric}")
                shape = tuple(np.shape(value))
                size = int(np.prod(shape, dtype=np.int64))
                slots.append(_Slot(node_name, f, shape, start, start + size))
                start += size
        self.slots: tuple[_Slot, ...] = tuple(slots)
        self.size = start

    @property
    def names(self) -> list[str]:
        """``"node.field"`` of each evolved parameter array, in vector order."""
        return [f"{s.node}.{s.field}" for s in self.slots]

    def vector(self, graph: Graph | None = None) -> np.ndarray:
        """The evolved parameters of ``graph`` (default: the space's graph) as one vector."""
        g = self.graph if graph is None else graph
        return np.concatenate([np.asarray(getattr(g.nodes[s.node], s.field),
                                          dtype=np.float64).ravel() for s in self.slots])

    def apply(self, vector: Any, graph: Graph | None = None) -> Graph:
        """A copy of ``graph`` (default: the space's graph) holding ``vector``'s values."""
        x = self.check(vector, "vector")
        g = (self.graph if graph is None else graph).copy()
        changes: dict[str, dict[str, np.ndarray]] = {}
        for s in self.slots:
            changes.setdefault(s.node, {})[s.field] = x[s.start:s.stop].reshape(s.shape).copy()
        for node_name, new in changes.items():
            g.nodes[node_name] = dataclasses.replace(g.nodes[node_name], **new)
        return g

    def check(self, vector: Any, what: str) -> np.ndarray:
        """``vector`` as a finite float64 vector of :attr:`size`, else :class:`InputError`."""
        x = np.asarray(vector, dtype=np.float64)
        if x.shape != (self.size,):
            raise InputError(f"{what}: shape {x.shape}; expected ({self.size},), one value per "
                             f"evolved parameter ({', '.join(self.names)})")
        if not np.all(np.isfinite(x)):
            raise InputError(f"{what}: holds NaN or inf; candidates must be finite")
        return x


def _numeric(value: Any) -> bool:
    if isinstance(value, (str, bytes, dict)) or value is None:
        return False
    try:
        return np.asarray(value).dtype.kind in "fiu"
    except (TypeError, ValueError):
        return False


# ============================================================================ evaluation
def _run_candidate(vector: np.ndarray, space: ParameterSpace, fitness: Fitness, inputs: Any,
                   backend: str, steps: int | None, record: Any, options: dict[str, Any]
                   ) -> float:
    """The fitness of one candidate; a run that produces NaN/inf scores ``-inf`` (the
    worst) instead of stopping the search, and so does a non-finite fitness."""
    try:
        result = simulate(space.apply(vector), inputs, backend=backend, steps=steps,
                          record=record, **options)
    except NumericalError:
        return -math.inf
    return _finite_or_worst(fitness(result))


def _finite_or_worst(value: Any) -> float:
    value = float(value)
    return value if math.isfinite(value) else -math.inf


@dataclass(frozen=True)
class _Candidates:
    """``build_fn`` of the sweep: candidate ``i`` written into a copy of the graph."""

    space: ParameterSpace
    rows: tuple[np.ndarray, ...]

    def __call__(self, candidate: int) -> Graph:
        return self.space.apply(self.rows[candidate])


@dataclass(frozen=True)
class _Measure:
    """``measure`` of the sweep: the user's fitness as the column ``fitness``."""

    fitness: Fitness

    def __call__(self, result: Result, point: dict[str, Any]) -> dict[str, float]:
        return {"fitness": float(self.fitness(result))}


def evaluate_population(space: ParameterSpace, candidates: Any, fitness: Fitness,
                        inputs: Any = None, *, backend: str = "brian2",
                        steps: int | None = None, record: Any = (),
                        executor: Any = None, **simulate_options: Any) -> np.ndarray:
    """Fitness of each row of ``candidates`` (``[population, space.size]``).

    Each candidate is ``simulate(space.apply(candidate), inputs, backend=backend,
    steps=steps, record=record, **simulate_options)`` scored by ``fitness(result)``;
    a run that raises :class:`~spikecore.errors.NumericalError` (NaN/inf) or a non-finite
    fitness scores ``-inf``; any other error is raised. ``executor``: ``None`` runs in
    this process in order; a ``distributed.Client``, ``"local"``, a scheduler address or
    a Dask cluster runs the candidates as one :func:`spikecore.sweep.sweep` (Dask
    schedules; results come back in candidate order): the same values as in-process,
    since each run is deterministic. With process workers ``fitness`` must pickle
    (cloudpickle: lambdas and closures are fine).
    """
    X = np.asarray(candidates, dtype=np.float64)
    if X.ndim != 2:
        raise InputError(f"candidates: shape {X.shape}; expected [population, {space.size}]")
    rows = tuple(space.check(x, f"candidates[{i}]") for i, x in enumerate(X))
    if not callable(fitness):
        raise InputError(f"fitness={fitness!r}: expected a callable fitness(result) -> float")
    options = dict(simulate_options)
    if executor is None:
        return np.array([_run_candidate(x, space, fitness, inputs, backend, steps, record,
                                        options) for x in rows])
    from ..sweep import SweepWarning, sweep

    with warnings.catch_warnings():
        # Failed runs are looked at below, row by row; the sweep's summary would repeat it.
        warnings.simplefilter("ignore", SweepWarning)
        table = sweep(_Candidates(space, rows), [{"candidate": i} for i in range(len(rows))],
                      backend=backend, steps=steps, inputs=inputs, record=record,
                      measure=_Measure(fitness), executor=executor, **options)
    out = np.empty(len(rows))
    for i, row in enumerate(table.itertuples(index=False)):
        if row.status == "ok":
            out[i] = _finite_or_worst(row.fitness)
        elif row.error_type == NumericalError.__name__:
            out[i] = -math.inf
        else:  # what would have been raised in-process
            raise SpikecoreError(f"candidate {i} failed on a Dask worker: {row.error_type}: "
                                 f"{row.error}")
    return out


# ============================================================================ strategies
def centered_ranks(values: np.ndarray) -> np.ndarray:
    """Fitness shaping of Salimans et al. (2017): each value replaced by its rank, scaled
    to ``[-0.5, 0.5]`` (lowest -0.5). Invariant to any monotone change of the fitness and
    insensitive to outliers (``-inf`` included). Ties take the order of appearance."""
    v = np.asarray(values, dtype=np.float64)
    ranks = np.empty(v.size)
    ranks[np.argsort(v, kind="stable")] = np.arange(v.size)
    return ranks / max(v.size - 1, 1) - 0.5


class OpenAIES:
    """OpenAI-ES (Salimans et al. 2017, Algorithm 2 with antithetic sampling), maximising.

    Generation ``k`` with centre ``theta`` draws ``population / 2`` directions
    ``eps_i ~ N(0, I)`` from a seeded ``numpy.random.Generator`` and proposes the mirrored
    pairs ``theta + sigma eps_i`` and ``theta - sigma eps_i`` (rows ``2i`` and ``2i+1``).
    :meth:`tell` replaces the fitness values by centred ranks ``u`` (:func:`centered_ranks`)
    and estimates the search gradient ``g = sum_i (u_2i - u_2i+1) eps_i / (population
    sigma)``, then ascends: ``theta += lr g`` (``optimizer="sgd"``) or an Adam step
    (Kingma & Ba 2015; ``beta1 = 0.9``, ``beta2 = 0.999``, ``eps = 1e-8``, as in the
    paper's code), with ``g - weight_decay theta`` as the ascent direction.
    """

    def __init__(self, x0: Any, sigma: float = 0.1, lr: float = 0.05, population: int = 16,
                 optimizer: str = "adam", weight_decay: float = 0.0, seed: int = 0):
        self.theta = np.array(x0, dtype=np.float64).ravel()
        if self.theta.size == 0 or not np.all(np.isfinite(self.theta)):
            raise InputError("x0: expected a non-empty finite vector of parameters")
        _positive("sigma", sigma)
        _positive("lr", lr)
        if isinstance(population, bool) or not isinstance(population, (int, np.integer)) \
                or population < 2 or population % 2:
            raise InputError(f"population={population!r}: OpenAI-ES samples mirrored pairs; "
                             "expected an even integer >= 2")
        if optimizer not in ("adam", "sgd"):
            raise InputError(f"optimizer={optimizer!r}: expected 'adam' or 'sgd'")
        if not (math.isfinite(weight_decay) and weight_decay >= 0):
            raise InputError(f"weight_decay={weight_decay!r}: expected a number >= 0")
        self.sigma, self.lr, self.population = float(sigma), float(lr), int(population)
        self.optimizer, self.weight_decay = optimizer, float(weight_decay)
        self.rng = np.random.default_rng(seed)
        self._m = np.zeros_like(self.theta)
        self._v = np.zeros_like(self.theta)
        self._t = 0
        self._eps: np.ndarray | None = None

    @property
    def mean(self) -> np.ndarray:
        """The current centre of the search distribution (the solution)."""
        return self.theta.copy()

    def ask(self) -> np.ndarray:
        """``[population, dim]`` candidates: mirrored pairs around the centre."""
        self._eps = self.rng.standard_normal((self.population // 2, self.theta.size))
        X = np.empty((self.population, self.theta.size))
        X[0::2] = self.theta + self.sigma * self._eps
        X[1::2] = self.theta - self.sigma * self._eps
        return X

    def tell(self, fitness: Any) -> None:
        """Update the centre from the fitness of the last :meth:`ask`'s candidates."""
        if self._eps is None:
            raise InputError("tell() before ask(): ask for candidates first")
        f = np.asarray(fitness, dtype=np.float64).ravel()
        if f.size != self.population or np.any(np.isnan(f)):
            raise InputError(f"fitness: {f.size} value(s); expected {self.population} "
                             "(one per candidate of the last ask()), none NaN")
        u = centered_ranks(f)
        g = (u[0::2] - u[1::2]) @ self._eps / (self.population * self.sigma)
        g = g - self.weight_decay * self.theta
        if self.optimizer == "sgd":
            self.theta = self.theta + self.lr * g
        else:
            self._t += 1
            self._m = 0.9 * self._m + 0.1 * g
            self._v = 0.999 * self._v + 0.001 * g * g
            m_hat = self._m / (1 - 0.9 ** self._t)
            v_hat = self._v / (1 - 0.999 ** self._t)
            self.theta = self.theta + self.lr * m_hat / (np.sqrt(v_hat) + 1e-8)
        self._eps = None


class CMAES:
    """CMA-ES (Hansen & Ostermeier 2001; Hansen 2016, arXiv:1604.00772) through the
    ``cma`` package, maximising: ``cma.CMAEvolutionStrategy(x0, sigma, {"seed": seed + 1,
    "popsize": population})`` with ``ask()``/``tell(X, -fitness)`` (cma minimises).

    Reproducibility: cma draws from NumPy's *global* generator and treats seed 0 as "seed
    from the clock", so the seed is shifted by one and the global generator's state is
    kept per instance (restored around every ask/tell): other code drawing from
    ``np.random`` in between cannot change the candidates. ``-inf`` fitness values (failed
    runs) are told as just worse than the worst finite one (CMA uses ranks only).
    ``options``: further ``cma`` options (e.g. ``{"bounds": [lo, hi]}``).
    """

    def __init__(self, x0: Any, sigma: float = 0.1, population: int | None = None,
                 seed: int = 0, options: Mapping[str, Any] | None = None):
        import cma

        x0 = np.array(x0, dtype=np.float64).ravel()
        if x0.size < 2 or not np.all(np.isfinite(x0)):
            raise InputError("x0: expected a finite vector of at least 2 parameters "
                             "(cma does not optimise in one dimension)")
        _positive("sigma", sigma)
        opts: dict[str, Any] = {"seed": int(seed) + 1, "verbose": -9}
        if population is not None:
            if isinstance(population, bool) or not isinstance(population, (int, np.integer)) \
                    or population < 2:
                raise InputError(f"population={population!r}: expected an integer >= 2")
            opts["popsize"] = int(population)
        opts.update(options or {})
        saved = np.random.get_state()  # noqa: NPY002 - cma draws from it
        try:
            self.es = cma.CMAEvolutionStrategy(x0, float(sigma), opts)
            self._state = np.random.get_state()  # noqa: NPY002 - cma draws from it
        finally:
            np.random.set_state(saved)  # noqa: NPY002
        self.population = int(self.es.popsize)
        self._asked: list[np.ndarray] | None = None

    @property
    def mean(self) -> np.ndarray:
        """The current centre of the search distribution."""
        return np.array(self.es.mean, dtype=np.float64)

    def _own_random(self, fn: Callable[[], Any]) -> Any:
        saved = np.random.get_state()  # noqa: NPY002 - cma draws from it
        np.random.set_state(self._state)  # noqa: NPY002
        try:
            return fn()
        finally:
            self._state = np.random.get_state()  # noqa: NPY002 - cma draws from it
            np.random.set_state(saved)  # noqa: NPY002

    def ask(self) -> np.ndarray:
        """``[population, dim]`` candidates sampled by cma."""
        self._asked = self._own_random(self.es.ask)
        return np.array(self._asked, dtype=np.float64)

    def tell(self, fitness: Any) -> None:
        """Pass the (negated) fitness of the last :meth:`ask`'s candidates to cma."""
        if self._asked is None:
            raise InputError("tell() before ask(): ask for candidates first")
        f = np.asarray(fitness, dtype=np.float64).ravel()
        if f.size != len(self._asked) or np.any(np.isnan(f)):
            raise InputError(f"fitness: {f.size} value(s); expected {len(self._asked)} "
                             "(one per candidate of the last ask()), none NaN")
        finite = f[np.isfinite(f)]
        floor = (finite.min() - 1.0) if finite.size else 0.0
        f = np.where(np.isfinite(f), f, floor)
        asked = self._asked
        self._own_random(lambda: self.es.tell(asked, list(-f)))
        self._asked = None


def _positive(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) \
            or not (math.isfinite(value) and value > 0):
        raise InputError(f"{name}={value!r}: expected a finite number > 0")


# ============================================================================ the loop
@dataclass(frozen=True)
class Generation:
    """One generation: the population's fitness and the centre's (if evaluated)."""

    index: int
    fitness: np.ndarray
    center_fitness: float | None
    wall_time: float

    @property
    def best(self) -> float:
        return float(np.max(self.fitness))

    @property
    def mean(self) -> float:
        f = self.fitness[np.isfinite(self.fitness)]
        return float(f.mean()) if f.size else -math.inf


@dataclass
class EvolutionResult:
    """What :func:`evolve` found.

    ``vector``/``fitness``: the best candidate evaluated (the centre included, when
    evaluated) and its fitness; ``graph``: that candidate written into a copy of the
    graph; ``center``: the search distribution's final centre; ``history``: one
    :class:`Generation` per generation; ``evaluations``: simulations run.
    """

    graph: Graph
    vector: np.ndarray
    fitness: float
    center: np.ndarray
    space: ParameterSpace
    history: list[Generation] = field(default_factory=list)
    evaluations: int = 0
    wall_time: float = 0.0

    def curve(self, which: str = "center") -> np.ndarray:
        """Per-generation fitness: ``"center"``, ``"best"`` or ``"mean"`` of the population."""
        if which == "center":
            return np.array([np.nan if g.center_fitness is None else g.center_fitness
                             for g in self.history])
        if which in ("best", "mean"):
            return np.array([getattr(g, which) for g in self.history])
        raise InputError(f"which={which!r}: expected 'center', 'best' or 'mean'")


STRATEGIES = ("openai", "cma")


def evolve(graph: Graph, params: Mapping[str, str | Sequence[str]] | ParameterSpace,
           fitness: Fitness, inputs: Any = None, *, strategy: str | Any = "openai",
           generations: int = 20, population: int = 16, sigma: float = 0.1,
           lr: float = 0.05, seed: int = 0, x0: Any = None, backend: str = "brian2",
           steps: int | None = None, record: Any = (), executor: Any = None,
           evaluate_center: bool = True,
           callback: Callable[[Generation], Any] | None = None,
           **simulate_options: Any) -> EvolutionResult:
    """Maximise ``fitness(simulate(graph with params set, inputs, backend=...))`` by an
    evolution strategy.

    Args:
        graph: the network; never modified (candidates are written into copies).
        params: what is evolved (:class:`ParameterSpace` or its ``params`` mapping).
        fitness: ``fitness(result) -> float`` of a :class:`~spikecore.Result`, higher is
            better; must pickle for Dask process workers.
        inputs: the inputs of every candidate's run (as for :func:`spikecore.simulate`).
        strategy: ``"openai"`` (:class:`OpenAIES`, Adam, ``lr``), ``"cma"``
            (:class:`CMAES`), or an object with ``ask()``, ``tell(fitness)`` and ``mean``.
        generations: the number of generations (the search budget).
        population: candidates per generation (even for OpenAI-ES).
        sigma: the initial step size (OpenAI-ES: fixed; CMA-ES: adapted).
        lr: OpenAI-ES's Adam learning rate (CMA-ES has none).
        seed: the seed of the strategy's random numbers.
        x0: the starting vector (default: the graph's current values).
        backend: any spikecore backend; the same seed gives the same search everywhere
            the backends agree (they do under the contract).
        steps: steps per run (default: the inputs' length).
        record: what each run records (default ``()``: the Output nodes only).
        executor: ``None`` (in-process), a ``distributed.Client``, ``"local"`` or a
            scheduler address (:func:`evaluate_population`). A ``"local"`` cluster or an
            address is opened once for the whole search.
        evaluate_center: also run the centre each generation (one more simulation, in
            the same map): the learning curve of the solution itself.
        callback: called with each :class:`Generation` as it finishes.
        **simulate_options: further keywords of :func:`spikecore.simulate` (e.g.
            ``dtype=torch.float64`` on torch).
    """
    space = params if isinstance(params, ParameterSpace) else ParameterSpace(graph, params)
    start = space.vector(graph) if x0 is None else space.check(x0, "x0")
    if isinstance(generations, bool) or not isinstance(generations, (int, np.integer)) \
            or generations < 1:
        raise InputError(f"generations={generations!r}: expected an integer >= 1")
    es = _strategy(strategy, start, sigma, lr, population, seed)
    with _open_executor(executor) as ex:
        return _loop(es, space, fitness, inputs, generations, backend, steps, record, ex,
                     evaluate_center, callback, simulate_options)


@contextmanager
def _open_executor(executor: Any) -> Iterator[Any]:
    """``"local"`` or a scheduler address opened once for a whole search (a cluster per
    generation would cost seconds each); anything else is passed on as given."""
    if not isinstance(executor, str):
        yield executor
        return
    try:
        import distributed
    except ImportError as exc:
        raise UnavailableError(f"executor={executor!r} needs dask distributed ({exc}); fix: "
                               "pip install 'spikecore[scale]', or executor=None") from exc
    if executor == "local":
        # Processes with one thread each: Brian2 runs one simulation per process at a time.
        with distributed.LocalCluster(threads_per_worker=1, processes=True,
                                      dashboard_address=":0") as cluster, \
                distributed.Client(cluster) as client:
            yield client
        return
    with distributed.Client(executor, timeout=CONNECT_TIMEOUT_S) as client:
        yield client


def _strategy(strategy: Any, x0: np.ndarray, sigma: float, lr: float, population: int,
              seed: int) -> Any:
    if strategy == "openai":
        return OpenAIES(x0, sigma=sigma, lr=lr, population=population, seed=seed)
    if strategy == "cma":
        return CMAES(x0, sigma=sigma, population=population, seed=seed)
    if all(hasattr(strategy, a) for a in ("ask", "tell", "mean")):
        return strategy
    raise InputError(f"strategy={strategy!r}: expected 'openai', 'cma' or an object with "
                     "ask(), tell(fitness) and mean")


def _loop(es: Any, space: ParameterSpace, fitness: Fitness, inputs: Any, generations: int,
          backend: str, steps: int | None, record: Any, executor: Any,
          evaluate_center: bool, callback: Callable[[Generation], Any] | None,
          options: dict[str, Any]) -> EvolutionResult:
    t0 = time.perf_counter()
    best_x, best_f = np.asarray(es.mean, dtype=np.float64), -math.inf
    history: list[Generation] = []
    evaluations = 0
    for k in range(int(generations)):
        tg = time.perf_counter()
        X = np.asarray(es.ask(), dtype=np.float64)
        batch = np.vstack([X, np.asarray(es.mean)[None]]) if evaluate_center else X
        f_all = evaluate_population(space, batch, fitness, inputs, backend=backend,
                                    steps=steps, record=record, executor=executor, **options)
        evaluations += len(batch)
        f = f_all[:len(X)]
        center_f = float(f_all[-1]) if evaluate_center else None
        # Best over everything evaluated; the centre first, so it wins ties.
        for x, v in ([(batch[-1], center_f)] if evaluate_center else []) + list(zip(X, f, strict=True)):
            if v > best_f:
                best_x, best_f = np.array(x), float(v)
        es.tell(f)
        gen = Generation(k, f, center_f, time.perf_counter() - tg)
        history.append(gen)
        if callback is not None:
            callback(gen)
    return EvolutionResult(space.apply(best_x), best_x, best_f, np.asarray(es.mean).copy(),
                           space, history, evaluations, time.perf_counter() - t0)


# ============================================================================ a task
#: The pulse-count task of :func:`pulse_count_task` (issue 14's check): step, slot and
#: pulse lengths (s), slots per trial, pulse amplitude (uA/cm^2), pulse probabilities.
PULSE_TASK = {"dt": 0.25e-3, "slot": 5e-3, "pulse": 2e-3, "slots": 8, "tail": 5e-3,
              "amplitude": 30.0, "p_more": 0.6, "p_fewer": 0.3}


def pulse_count_task(trials: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Stimulus integration: which of two channels sent more pulses?

    Each trial has :data:`PULSE_TASK` ``slots`` slots of ``slot`` s; in each slot each
    channel sends a current pulse (``pulse`` s of ``amplitude``) with probability
    ``p_more`` for the trial's stronger channel and ``p_fewer`` for the other (drawn
    fairly), then ``tail`` s of silence; trials with equal counts are drawn again.
    Returns ``inputs`` ``[trials, steps, 2]`` and ``labels`` (+1: channel 0 sent more,
    -1: channel 1), from ``numpy.random.default_rng(seed)``.
    """
    if isinstance(trials, bool) or not isinstance(trials, (int, np.integer)) or trials < 1:
        raise InputError(f"trials={trials!r}: expected a positive integer")
    t = PULSE_TASK
    slot, pulse = round(t["slot"] / t["dt"]), round(t["pulse"] / t["dt"])
    steps = t["slots"] * slot + round(t["tail"] / t["dt"])
    rng = np.random.default_rng(seed)
    x = np.zeros((trials, steps, 2))
    labels = np.zeros(trials)
    for k in range(trials):
        while True:
            p = np.full(2, t["p_fewer"])
            p[rng.integers(2)] = t["p_more"]
            sent = rng.random((t["slots"], 2)) < p
            counts = sent.sum(axis=0)
            if counts[0] != counts[1]:
                break
        labels[k] = 1.0 if counts[0] > counts[1] else -1.0
        for s, c in zip(*np.nonzero(sent), strict=True):
            x[k, s * slot:s * slot + pulse, c] = t["amplitude"]
    return x, labels


def morris_lecar_classifier(n: int = 8, seed: int = 0, gain: float = 10.0) -> Graph:
    """A recurrent Morris-Lecar network for :func:`pulse_count_task`.

    ``in`` (2 channels) -> ``inp`` (``Affine``, weights ``N(0, 1)``, bias 35 uA/cm^2: just
    below the type I firing onset near 40) -> ``ml`` (:class:`MorrisLecarGraded`, type I,
    ``v_syn = -30`` mV, ``k_syn = 8`` mV so the graded output also follows
    sub-threshold depolarisation) -> ``rec`` (``Linear``, zero, delay 1 step) -> ``ml``;
    ``ml`` -> ``readout`` (``Affine``, zero) -> ``gain`` (``Scale``, fixed ``gain``) ->
    ``out``. Exact integrator for ``w``, ``dt`` from :data:`PULSE_TASK`. The decision is
    the sign of ``out`` averaged over the trial (:class:`PulseCountFitness`).
    """
    from .. import extensions as X
    from .. import primitives as P
    from ..semantics import Semantics

    rng = np.random.default_rng(seed)
    ml = X.MorrisLecarGraded.of_type("I", n, v0=-60.0, w0=0.0, v_syn=-30.0, k_syn=8.0)
    nodes = {"in": P.Input(np.array([2])),
             "inp": P.Affine(rng.normal(0.0, 1.0, (n, 2)), np.full(n, 35.0)), "ml": ml,
             "rec": P.Linear(np.zeros((n, n))),
             "readout": P.Affine(np.zeros((1, n)), np.zeros(1)),
             "gain": P.Scale(np.full(1, float(gain))), "out": P.Output(np.array([1]))}
    edges = [("in", "inp"), ("inp", "ml"), ("ml", "rec"), ("rec", "ml", 1),
             ("ml", "readout"), ("readout", "gain"), ("gain", "out")]
    return Graph(nodes, edges, Semantics(dt=PULSE_TASK["dt"], integrator="exact"),
                 name="morris_lecar_classifier").validate()


class PulseCountFitness:
    """``fitness(result)`` for :func:`pulse_count_task`: the mean over trials of
    ``tanh(label * y)``, ``y`` the ``output`` averaged over the trial: a soft accuracy in
    [-1, 1] (bounded, so one confident trial cannot outweigh many wrong ones).
    Picklable, for Dask process workers."""

    def __init__(self, labels: Any, output: str = "out"):
        self.labels = np.asarray(labels, dtype=np.float64)
        self.output = output

    def decision(self, result: Result) -> np.ndarray:
        """``y`` per trial: the readout averaged over the trial."""
        return np.asarray(result.outputs[self.output], dtype=np.float64)[:, :, 0].mean(axis=1)

    def __call__(self, result: Result) -> float:
        return float(np.mean(np.tanh(self.labels * self.decision(result))))

    def accuracy(self, result: Result) -> float:
        """Fraction of trials whose decision has the label's sign."""
        return float(np.mean(np.sign(self.decision(result)) == self.labels))
