"""The backend-neutral network graph.

A :class:`Graph` is a set of named nodes (NIR primitives, or nested ``Graph`` objects),
a list of :class:`Edge` objects each carrying a delay in steps, and a
:class:`~spikecore.semantics.Semantics` record. Node order is always derived from the
edges (never from dict order), so a graph read from a file, whose nodes ``nir.read``
returns alphabetically, behaves exactly like the graph that was written.
"""

from __future__ import annotations

import copy
import heapq
import math
import warnings
import weakref
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from . import primitives as P
from .errors import GraphError
from .semantics import Semantics

NESTING_SEPARATOR = "."
#: Largest edge delay (steps) a graph may state: 2**62, so step arithmetic stays in int64.
MAX_EDGE_DELAY_STEPS = 2**62


class GraphWarning(UserWarning):
    """A graph is valid but probably not what was meant (e.g. dt >= a time constant)."""


@dataclass(frozen=True)
class Edge:
    """A directed connection. ``delay_steps``: steps between send and receive (>= 0)."""

    source: str
    target: str
    delay_steps: int = 0

    @classmethod
    def coerce(cls, e: Edge | tuple) -> Edge:
        if isinstance(e, Edge):
            return e
        if isinstance(e, (tuple, list)) and len(e) in (2, 3):
            return cls(*e)
        raise GraphError(
            f"edge {e!r}: expected Edge(source, target, delay_steps) or a (source, target"
            "[, delay_steps]) tuple"
        )


class Graph:
    """A spiking network: nodes, delayed edges and the semantics to simulate it.

    Args:
        nodes: name -> NIR primitive (``nir.LIF(...)``...) or nested ``Graph``. Names are
            any non-empty strings, as producers write them (``"lif1.lif"``, spaces,
            unicode); backends map them to safe identifiers of their own where needed.
        edges: ``Edge`` objects or ``(source, target)`` / ``(source, target, delay_steps)``
            tuples. Edges into a nested graph address its Input node (``"sub"`` when it
            has exactly one, else ``"sub.in_name"``); edges out of it its Output node.
        semantics: how to simulate; nested graphs may leave it ``None`` (inherited).
        name: used in messages and reports.
        metadata: free-form, kept through NIR round trips (str/number/array values).
    """

    def __init__(
        self,
        nodes: Mapping[str, object],
        edges: Iterable[Edge | tuple] = (),
        semantics: Semantics | None = None,
        name: str = "graph",
        metadata: Mapping | None = None,
    ):
        if not isinstance(nodes, Mapping):
            raise GraphError(f"graph {name!r}: 'nodes' must be a mapping name -> node")
        self.nodes: dict[str, object] = dict(nodes)
        self.edges: list[Edge] = [Edge.coerce(e) for e in edges]
        if semantics is not None and not isinstance(semantics, Semantics):
            raise GraphError(f"graph {name!r}: 'semantics' must be a spikecore.Semantics")
        self.semantics = semantics
        self.name = name
        self.metadata = dict(metadata or {})

    # ----------------------------------------------------------------- basics
    def __repr__(self) -> str:
        sem = self.semantics.describe() if self.semantics else "no semantics"
        return f"Graph({self.name!r}, {len(self.nodes)} nodes, {len(self.edges)} edges; {sem})"

    def copy(self) -> Graph:
        return copy.deepcopy(self)

    def with_semantics(self, semantics: Semantics | None = None, **changes) -> Graph:
        """A copy with new semantics (or the current one with fields changed)."""
        g = self.copy()
        base = semantics or self.semantics
        if base is None:
            if "dt" not in changes:
                raise GraphError(f"graph {self.name!r} has no semantics: give dt=...")
            base = Semantics(**changes)
        elif changes:
            base = base.replace(**changes)
        g.semantics = base
        return g

    @property
    def input_names(self) -> list[str]:
        return sorted(n for n, v in self.nodes.items() if isinstance(v, P.Input))

    @property
    def output_names(self) -> list[str]:
        return sorted(n for n, v in self.nodes.items() if isinstance(v, P.Output))

    def incoming(self, name: str) -> list[Edge]:
        return [e for e in self.edges if e.target == name]

    def outgoing(self, name: str) -> list[Edge]:
        return [e for e in self.edges if e.source == name]

    def is_flat(self) -> bool:
        return not any(isinstance(v, Graph) for v in self.nodes.values())

    def subgraph_items(self) -> Iterator[tuple[str, Graph]]:
        for n, v in self.nodes.items():
            if isinstance(v, Graph):
                yield n, v

    # -------------------------------------------------------------- flattening
    def flatten(self) -> Graph:
        """An equivalent graph without nested graphs.

        Inner nodes are renamed ``"sub.node"``. Inner Input/Output nodes disappear: the
        edges through them are joined and their delays added. Names are free text (a
        producer may write ``"lif1.lif"`` at the top level), so a joined name can collide
        with a name already taken: the top level keeps its names and the inner node gets
        the first free ``"sub.node#k"`` (k = 2, 3, ...); :meth:`validate` warns about it.
        """
        if self.is_flat():
            return self
        return _flattened(self)[0]

    # ------------------------------------------------------------ ordering
    def topological_order(self) -> list[str]:
        """Evaluation order within one step of the flattened graph.

        Kahn's algorithm over delay-0 edges; ties are broken by node name, so the order
        depends only on the edges and the names. Raises :class:`GraphError` naming the
        nodes of a zero-delay cycle.
        """
        g = self.flatten()
        order = kahn_order(g.nodes, [(e.source, e.target) for e in g.edges if e.delay_steps == 0])
        if len(order) != len(g.nodes):
            cycles = zero_delay_cycles(g)
            raise GraphError(
                f"graph {self.name!r} has no evaluation order:",
                [_cycle_message(c) for c in cycles],
            )
        return order

    # ------------------------------------------------------------ shapes
    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Output shape of every node of the flattened graph (raises on the first
        inconsistency; :meth:`validate` lists them all)."""
        shapes, problems = _infer_shapes(self.flatten())
        if problems:
            raise GraphError(f"graph {self.name!r}: shapes are inconsistent:", problems)
        return shapes

    # ------------------------------------------------------------ validation
    def problems(self) -> tuple[list[str], list[str]]:
        """``(errors, warnings)`` found in the graph, every one of them."""
        return _check(self)

    def validate(self, *, require_semantics: bool = True) -> Graph:
        """Raise one :class:`GraphError` listing every problem; emit warnings.

        Each warning is emitted once per graph object and message: validating the same
        graph again (``read``, then ``simulate``, ``compare``, ``to_torch``) does not repeat
        it (:meth:`problems` still lists it every time).

        Returns the graph, so ``g = Graph(...).validate()`` reads naturally.
        """
        errors, warns = _check(self, require_semantics=require_semantics)
        done = _WARNED.setdefault(self, set())
        for w in warns:
            message = f"graph {self.name!r}: {w}"
            if message not in done:
                warnings.warn(message, GraphWarning, stacklevel=2)
                done.add(message)           # after: a warning turned error raises again
        if errors:
            raise GraphError(f"graph {self.name!r} is invalid ({len(errors)} problem(s)):", errors)
        return self


#: Graph -> the warning messages :meth:`Graph.validate` has emitted for it (weak keys: an
#: entry goes with its graph).
_WARNED: weakref.WeakKeyDictionary[Graph, set[str]] = weakref.WeakKeyDictionary()


def kahn_order(names: Iterable[str], edges: Iterable[tuple[str, str]]) -> list[str]:
    """Kahn's topological order of ``names`` over ``edges``, ties broken by name.

    Nodes on (or behind) a cycle are left out; callers decide what that means.
    """
    indeg = {n: 0 for n in names}
    succ: dict[str, list[str]] = {n: [] for n in indeg}
    for s, t in edges:
        if s in succ and t in succ:
            succ[s].append(t)
            indeg[t] += 1
    ready = [n for n, d in indeg.items() if d == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        n = heapq.heappop(ready)
        order.append(n)
        for m in succ[n]:
            indeg[m] -= 1
            if indeg[m] == 0:
                heapq.heappush(ready, m)
    return order


# ------------------------------------------------------------------ nested graphs
def resolve_endpoint(graph: Graph, end: str, role: str) -> tuple[str, str | None]:
    """What an edge endpoint of ``graph`` addresses: ``(node, None)`` for a node of
    ``graph``, ``(sub, port)`` for the ``role`` node (``"Input"`` or ``"Output"``) named
    ``port`` of the nested graph ``sub``.

    An exact node name wins; a nested graph's name alone addresses its only ``role``
    node; else ``"sub.port"`` is split at the dot after which ``sub`` names a nested graph
    (names may contain dots themselves). Raises :class:`GraphError` saying why ``end``
    addresses nothing, or which readings make it ambiguous.
    """
    node = graph.nodes.get(end)
    if node is not None and not isinstance(node, Graph):
        return end, None
    if isinstance(node, Graph):
        ports = _ports(node, role)
        if len(ports) != 1:
            raise GraphError(f"nested graph {end!r} has {len(ports)} {role} nodes {ports}; "
                             f"address one as '{end}{NESTING_SEPARATOR}<name>'")
        return end, ports[0]
    splits = [(end[:k], end[k + 1:]) for k, c in enumerate(end) if c == NESTING_SEPARATOR
              and isinstance(graph.nodes.get(end[:k]), Graph)]
    found = [(sub, port) for sub, port in splits if port in _ports(graph.nodes[sub], role)]
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        readings = ", ".join(f"{role} {port!r} of {sub!r}" for sub, port in found)
        raise GraphError(f"{end!r} is ambiguous: it reads as {readings}; rename a node")
    if splits:
        sub = splits[-1][0]
        raise GraphError(f"{end!r} is not an {role} of nested graph {sub!r}; its {role}s: "
                         f"{_ports(graph.nodes[sub], role)}")
    raise GraphError(f"{end!r} is not a node (nodes: {', '.join(sorted(map(str, graph.nodes)))})")


def _ports(graph: Graph, role: str) -> list[str]:
    return graph.input_names if role == "Input" else graph.output_names


def _flattened(graph: Graph) -> tuple[Graph, list[str]]:
    """``graph`` without nested graphs, and a note for each inner node that had to be
    renamed because its joined name ``sub.node`` was taken (see :meth:`Graph.flatten`)."""
    taken = {n for n, v in graph.nodes.items() if not isinstance(v, Graph)}
    nodes: dict[str, object] = {}
    edges: list[Edge] = []
    notes: list[str] = []
    entry: dict[str, dict[str, list[tuple[str, int]]]] = {}  # sub -> in -> targets
    exit_: dict[str, dict[str, list[tuple[str, int]]]] = {}  # sub -> out -> sources
    for n, v in graph.nodes.items():
        if not isinstance(v, Graph):
            nodes[n] = v
            continue
        inner, inner_notes = _flattened(v) if not v.is_flat() else (v, [])
        notes += [f"in nested graph {n!r}: {note}" for note in inner_notes]
        ins, outs = set(inner.input_names), set(inner.output_names)
        entry[n] = {i: [] for i in ins}
        exit_[n] = {o: [] for o in outs}
        flat: dict[str, str] = {}
        for m, w in inner.nodes.items():
            if m in ins or m in outs:
                continue
            joined = name = f"{n}{NESTING_SEPARATOR}{m}"
            k = 2
            while name in taken:
                name, k = f"{joined}#{k}", k + 1
            if name != joined:
                notes.append(f"node {m!r} of nested graph {n!r} is named {name!r} in the "
                             f"flattened graph ({joined!r} is another node)")
            taken.add(name)
            flat[m] = name
            nodes[name] = w
        def flat_name(m: str, sub: str = n, table: dict = flat) -> str:
            # An inner edge to a missing node keeps its joined name: validation names it.
            return table.get(m, f"{sub}{NESTING_SEPARATOR}{m}")

        for e in inner.edges:
            src_in, dst_out = e.source in ins, e.target in outs
            if src_in and dst_out:
                raise GraphError(
                    f"nested graph {n!r}: edge {e.source!r} -> {e.target!r} joins an "
                    "Input directly to an Output; spikecore cannot flatten a pass-through"
                )
            if src_in:
                entry[n][e.source].append((flat_name(e.target), e.delay_steps))
            elif dst_out:
                exit_[n][e.target].append((flat_name(e.source), e.delay_steps))
            else:
                edges.append(Edge(flat_name(e.source), flat_name(e.target), e.delay_steps))

    def ends(name: str, table: dict, role: str) -> list[tuple[str, int]]:
        node, port = resolve_endpoint(graph, name, role)
        return [(node, 0)] if port is None else table[node][port]

    for e in graph.edges:
        try:
            for s, ds in ends(e.source, exit_, "Output"):
                for t, dt_ in ends(e.target, entry, "Input"):
                    edges.append(Edge(s, t, e.delay_steps + ds + dt_))
        except GraphError as exc:
            raise GraphError(f"graph {graph.name!r}: edge {e.source!r} -> {e.target!r}: "
                             f"{exc}") from None
    return Graph(nodes, edges, graph.semantics, graph.name, graph.metadata), notes



# ====================================================================== checks
def zero_delay_cycles(g: Graph) -> list[list[str]]:
    """Every strongly connected component of the delay-0 subgraph that forms a cycle,
    each returned as a closed node path (first node repeated last)."""
    succ: dict[str, list[str]] = {n: [] for n in g.nodes}
    for e in g.edges:
        if e.delay_steps == 0 and e.source in succ and e.target in succ:
            succ[e.source].append(e.target)
    return cycles_of(succ)


def cycles_of(succ: dict[str, list[str]]) -> list[list[str]]:
    """Every strongly connected component of the directed graph ``succ`` (node ->
    successors; every successor a key) that forms a cycle, as a closed path."""
    for s in succ.values():
        s.sort()
    # Tarjan, iterative (graphs from files can be deep).
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    comps: list[list[str]] = []
    counter = 0
    for root in sorted(succ):
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            v, i = work.pop()
            if i == 0:
                index[v] = low[v] = counter
                counter += 1
                stack.append(v)
                on_stack.add(v)
            recurse = False
            for j in range(i, len(succ[v])):
                w = succ[v][j]
                if w not in index:
                    work.append((v, j + 1))
                    work.append((w, 0))
                    recurse = True
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            if recurse:
                continue
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1 or v in succ[v]:
                    comps.append(_cycle_path(sorted(comp), succ))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
    return comps


def _cycle_path(comp: list[str], succ: dict[str, list[str]]) -> list[str]:
    members = set(comp)
    start = comp[0]
    # BFS back to start inside the component gives a shortest closed path.
    prev: dict[str, str] = {}
    frontier = [start]
    seen = {start}
    while frontier:
        nxt = []
        for v in frontier:
            for w in succ[v]:
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(prev[path[-1]])
                    return [*reversed(path), start]
                if w in members and w not in seen:
                    seen.add(w)
                    prev[w] = v
                    nxt.append(w)
        frontier = nxt
    return [*comp, comp[0]]


def _cycle_message(path: list[str]) -> str:
    return (
        "zero-delay cycle " + " -> ".join(repr(p) for p in path)
        + ": every cycle needs an edge with delay_steps >= 1 (e.g. read with recurrent_delay=1)"
    )


def _infer_shapes(g: Graph) -> tuple[dict[str, tuple[int, ...]], list[str]]:
    problems: list[str] = []
    shapes: dict[str, tuple[int, ...]] = {}
    incoming: dict[str, list[Edge]] = {n: [] for n in g.nodes}
    for e in g.edges:
        if e.target in incoming and e.source in g.nodes:
            incoming[e.target].append(e)
    # Sources first; then iterate to a fixed point so back edges need no special care.
    pending = set(g.nodes)
    progress = True
    while pending and progress:
        progress = False
        for n in sorted(pending):
            node = g.nodes[n]
            spec = P.spec_of(node)
            if spec is None:
                pending.discard(n)
                progress = True
                continue
            ins = incoming[n]
            known = [shapes[e.source] for e in ins if e.source in shapes]
            if ins and not known:
                # Wait for a predecessor, unless every one of them is waiting on us.
                continue
            in_shape = known[0] if known else None
            for e in ins:
                s = shapes.get(e.source)
                if s is not None and s != in_shape:
                    ref = next(x.source for x in ins if shapes.get(x.source) == in_shape)
                    problems.append(
                        f"node {n!r} ({P.type_name(node)}): inputs disagree in shape: "
                        f"{ref!r} gives {in_shape}, {e.source!r} gives {s}"
                    )
            try:
                shapes[n] = spec.output_shape(node, in_shape)
            except (P.ShapeError, ValueError, TypeError, IndexError, OverflowError) as exc:
                src = f" (from {ins[0].source!r})" if ins else ""
                problems.append(f"node {n!r} ({P.type_name(node)}): shape mismatch{src}: {exc}")
            pending.discard(n)
            progress = True
    for n in sorted(pending):
        # Nodes only reachable through a cycle with no entry point: try standalone.
        node = g.nodes[n]
        try:
            shapes[n] = P.spec_of(node).output_shape(node, None)
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            problems.append(f"node {n!r} ({P.type_name(node)}): shape unknown: {exc}")
    # A back edge's source may get its shape only after its target was shaped: check
    # every edge once all shapes are known.
    for n, ins in incoming.items():
        first = next((e for e in ins if e.source in shapes), None)
        for e in ins:
            if first is not None and e.source in shapes and shapes[e.source] != shapes[first.source]:
                msg = (f"node {n!r} ({P.type_name(g.nodes[n])}): inputs disagree in shape: "
                       f"{first.source!r} gives {shapes[first.source]}, {e.source!r} gives "
                       f"{shapes[e.source]}")
                if msg not in problems:
                    problems.append(msg)
    return shapes, problems


def _parameter_shape_problems(name: str, node: object, shape: tuple[int, ...] | None) -> list[str]:
    """Per-neuron parameters of a stateful node or a source must broadcast to the node's
    shape (a scalar, or one value per element); matrices are checked by their types."""
    spec = P.spec_of(node)
    if spec is None or shape is None or spec.kind not in ("stateful", "source"):
        return []
    out = []
    matrices = spec.extra.get("matrices", ())
    for p in spec.array_params:
        value = getattr(node, p, None)
        if value is None or p in matrices:
            continue
        s = tuple(np.shape(value))
        try:
            ok = np.broadcast_shapes(s, shape) == tuple(shape)
        except ValueError:
            ok = False
        if not ok:
            out.append(f"node {name!r} ({P.type_name(node)}): parameter {p!r} has shape {s}, "
                       f"expected {tuple(shape)} (one value per neuron) or a scalar")
    return out


def _finite_problems(name: str, node: object, spec: P.PrimitiveSpec) -> list[str]:
    out = []
    for p in spec.array_params:
        v = getattr(node, p, None)
        if v is None:
            continue
        raw = np.asarray(v)
        if raw.dtype == object or not (np.issubdtype(raw.dtype, np.number) or raw.dtype == bool):
            out.append(f"node {name!r} ({P.type_name(node)}): parameter {p!r} is not numeric "
                       f"(dtype {raw.dtype})")
            continue
        if np.iscomplexobj(raw):
            out.append(f"node {name!r} ({P.type_name(node)}): parameter {p!r} is complex; "
                       "parameters must be real numbers")
            continue
        if raw.dtype.kind == "f" and not np.isfinite(raw).all():  # no float64 copy
            bad = int(np.size(raw) - np.count_nonzero(np.isfinite(raw)))
            out.append(
                f"node {name!r} ({P.type_name(node)}): parameter {p!r} has {bad} NaN/inf "
                "value(s); every parameter must be finite"
            )
    return out


def _port_problem(graph: Graph, end: str, role: str) -> str | None:
    """Why ``end`` does not address a node (or a port of a nested graph), else None."""
    try:
        resolve_endpoint(graph, end, role)
    except GraphError as exc:
        return str(exc)
    return None


def _check_structure(graph: Graph) -> tuple[list[str], set[int]]:
    """Names, node types and edges of ``graph`` and (recursively) its nested graphs.

    Returns the problems and the indices of ``graph.edges`` that later checks must skip.
    """
    errors: list[str] = []
    bad_edges: set[int] = set()
    for n, v in graph.nodes.items():
        if not isinstance(n, str) or not n:
            errors.append(f"node name {n!r}: expected a non-empty string")
        if isinstance(v, Graph):
            sub_err, _ = _check_structure(v)
            errors += [f"in nested graph {n!r}: {p}" for p in sub_err]
            if v.semantics is not None and graph.semantics is not None and \
                    v.semantics != graph.semantics:
                errors.append(
                    f"nested graph {n!r} has semantics ({v.semantics.describe()}) different "
                    f"from its parent ({graph.semantics.describe()}); set it to None or match"
                )
        elif P.spec_of(v) is None:
            known = ", ".join(sorted(t.__name__ for t in P.SPECS))
            errors.append(f"node {n!r}: unknown primitive type {type(v).__name__}; known: {known}")

    seen: set[tuple[str, str]] = set()
    for k, e in enumerate(graph.edges):
        if not isinstance(e.source, str) or not isinstance(e.target, str):
            errors.append(f"edge {e.source!r} -> {e.target!r}: endpoints must be node names (str)")
            bad_edges.add(k)
            continue
        for end, role in ((e.source, "Output"), (e.target, "Input")):
            why = _port_problem(graph, end, role)
            if why is not None:
                errors.append(f"edge {e.source!r} -> {e.target!r}: {why}")
                bad_edges.add(k)
        if (e.source, e.target) in seen:
            errors.append(f"edge {e.source!r} -> {e.target!r} appears more than once")
        seen.add((e.source, e.target))
        if not isinstance(e.delay_steps, (int, np.integer)) or isinstance(e.delay_steps, bool) \
                or not 0 <= e.delay_steps <= MAX_EDGE_DELAY_STEPS:
            errors.append(
                f"edge {e.source!r} -> {e.target!r}: delay_steps={e.delay_steps!r}, expected "
                f"an integer from 0 to {MAX_EDGE_DELAY_STEPS}"
            )
            bad_edges.add(k)
        if isinstance(graph.nodes.get(e.target), P.Input):
            errors.append(f"edge {e.source!r} -> {e.target!r}: an Input node takes no edges")
            bad_edges.add(k)
        elif getattr(P.spec_of(graph.nodes.get(e.target)), "kind", "") == "source":
            errors.append(f"edge {e.source!r} -> {e.target!r}: a "
                          f"{P.type_name(graph.nodes[e.target])} is a source and takes no edges")
            bad_edges.add(k)
        if isinstance(graph.nodes.get(e.source), P.Output):
            errors.append(f"edge {e.source!r} -> {e.target!r}: an Output node sends no edges")
            bad_edges.add(k)
    return errors, bad_edges


def _check(graph: Graph, require_semantics: bool = True) -> tuple[list[str], list[str]]:
    errors: list[str] = []
    warns: list[str] = []
    if require_semantics and graph.semantics is None:
        errors.append(
            "no semantics: set Semantics(dt=...) (spikecore.read(..., dialect=...) sets it "
            "for foreign files)"
        )
    structural, bad_edges = _check_structure(graph)
    errors += structural
    # Keep checking what can be checked: parameters, shapes and cycles are reported
    # together with the structural problems, on the graph without its broken edges.
    usable = graph
    if bad_edges:
        usable = Graph(graph.nodes, [e for k, e in enumerate(graph.edges) if k not in bad_edges],
                       graph.semantics, graph.name, graph.metadata)
    try:
        flat, renamed = _flattened(usable) if not usable.is_flat() else (usable, [])
    except GraphError as exc:
        return errors + [str(exc)], warns
    warns += renamed

    dt = graph.semantics.dt if graph.semantics else None
    for n, node in flat.nodes.items():
        spec = P.spec_of(node)
        if spec is None:  # unknown type: reported above
            continue
        numeric = _finite_problems(n, node, spec)
        errors += numeric
        # a non-numeric or non-finite parameter is reported; its time constants cannot be
        for p in (() if numeric else spec.time_constants):
            tau = np.asarray(getattr(node, p), dtype=np.float64)
            finite = tau[np.isfinite(tau)]
            if finite.size and np.any(finite <= 0):
                errors.append(
                    f"node {n!r} ({P.type_name(node)}): time constant {p!r} has "
                    f"non-positive value(s) (min {finite.min():g}); expected seconds > 0"
                )
            elif dt is not None and finite.size and not np.all(np.isfinite(dt / finite)):
                errors.append(
                    f"node {n!r} ({P.type_name(node)}): time constant "
                    f"{p!r} = {finite.min():g} s is so small that dt/{p} overflows; "
                    "expected seconds well above 1e-300"
                )
            elif dt is not None and finite.size and np.any(finite <= dt):
                warns.append(
                    f"node {n!r} ({P.type_name(node)}): dt={dt:g} s is not smaller than "
                    f"{p}={finite.min():g} s; the discrete update will be far from the ODE"
                )
        if isinstance(node, P.Delay) and dt is not None:
            d = np.asarray(node.delay, dtype=np.float64)
            if np.all(np.isfinite(d)):
                steps = d / dt
                if np.any(d < 0):
                    errors.append(f"node {n!r} (Delay): negative delay")
                elif not np.allclose(steps, np.round(steps), rtol=0, atol=1e-6):
                    errors.append(
                        f"node {n!r} (Delay): delay {d.ravel()[:3]} s is not a multiple of "
                        f"dt={dt:g} s; choose delays in whole steps"
                    )
        hook = spec.extra.get("check")
        if hook is not None:  # a type's own rules (extension primitives)
            errors += hook(n, node, dt)
    for cycle in zero_delay_cycles(flat):
        errors.append(_cycle_message(cycle))
    shapes, shape_problems = _infer_shapes(flat)
    errors += shape_problems
    for n, node in flat.nodes.items():
        errors += _parameter_shape_problems(n, node, shapes.get(n))
    sources = {e.source for e in flat.edges}
    targets = {e.target for e in flat.edges}
    for n, node in flat.nodes.items():
        if P.spec_of(node) is None:
            continue
        if P.spec_of(node).kind != "source" and n not in targets:
            warns.append(f"node {n!r} ({P.type_name(node)}) receives no edge; its input is 0")
        if not isinstance(node, P.Output) and n not in sources and not isinstance(node, P.Input):
            spec = P.spec_of(node)
            if spec is not None and spec.kind != "stateful":
                warns.append(f"node {n!r} ({P.type_name(node)}) sends no edge")
    has_source = any(P.spec_of(v) is not None and P.spec_of(v).kind == "source"
                     for v in flat.nodes.values())
    if not has_source and graph.semantics is not None:
        warns.append("graph has no Input node and no source: nothing drives it but biases")
    return errors, warns


def delay_steps_of(node: P.Delay, dt: float) -> np.ndarray:
    """Per-element delay of a NIR Delay node in whole steps."""
    return np.round(np.asarray(node.delay, dtype=np.float64) / dt).astype(np.int64)


def total_neurons(graph: Graph) -> int:
    """Number of state-carrying elements (neurons) of the flattened graph."""
    flat = graph.flatten()
    shapes = flat.shapes()
    return sum(
        int(math.prod(shapes[n]))
        for n, v in flat.nodes.items()
        if P.spec_of(v) is not None and P.spec_of(v).states
    )
