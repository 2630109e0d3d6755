"""Reading and writing NIR: lossless for spikecore graphs, dialect-driven for foreign ones.

spikecore stores what NIR cannot say (semantics, per-edge delays, the graph's name) as
one JSON string under the NIR graph metadata key ``"spikecore"``. Plain NIR readers
ignore it; spikecore reads it back exactly. Files are written atomically.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py
import nir
import numpy as np

from . import extensions as X
from . import primitives as P
from .atomic import UnsafeTargetError, write_atomically
from .dialects import DELAY_PLACES, EXPLICIT, REQUIRED_EXPLICIT, choices_message, get_dialect
from .errors import DialectError, FileRepairWarning, GraphError, NIRFileError, UnsupportedError
from .file_metadata import FORMAT, METADATA_KEY
from .file_metadata import parse as parse_record
from .graph import Edge, Graph, kahn_order
from .hdf5_reader import check_regular_file, load_tree
from .semantics import Semantics, as_seconds

_NIR_TYPES = {name: getattr(nir, name) for name in (
    "Input", "Output", "Affine", "Linear", "Scale", "Threshold", "Delay", "Flatten",
    "Conv1d", "Conv2d", "SumPool2d", "AvgPool2d", "I", "IF", "LI", "LIF", "CubaLI",
    "CubaLIF",
)}


# ============================================================== graph <-> NIR objects
def _plain(value: Any) -> Any:
    """Torch tensors (Norse exports them) and numpy scalars to numpy arrays/py values."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        return value.detach().cpu().numpy()
    return value


def _normalised(node: P.NIRNode, own: bool = False) -> P.NIRNode:
    """``node`` with torch tensors as numpy arrays; a deep copy unless the caller owns
    the NIR graph (``read`` does: copying every weight matrix would double the peak)."""
    node = copy.copy(node) if own else copy.deepcopy(node)
    for f in dataclasses.fields(node):
        if f.name in ("input_type", "output_type", "metadata"):
            continue
        v = getattr(node, f.name, None)
        pv = _plain(v)
        if pv is not v:
            setattr(node, f.name, pv)
    return node


def _back_edges(nodes: Mapping[str, Any], edges: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """Edges closing a cycle in a depth-first search from the Input nodes (names sorted),
    then from any node not yet visited. Deterministic for a given set of names/edges."""
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    for s, t in edges:
        if s in succ and t in succ:
            succ[s].append(t)
    for v in succ.values():
        v.sort()
    roots = sorted(n for n, v in nodes.items() if isinstance(v, nir.Input))
    roots += sorted(n for n in nodes if n not in roots)
    state: dict[str, int] = {}  # 1 on stack, 2 done
    back: set[tuple[str, str]] = set()
    for root in roots:
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(succ[root]))]
        while stack:
            v, it = stack[-1]
            advanced = False
            for w in it:
                if state.get(w) == 1:
                    back.add((v, w))
                elif w not in state:
                    state[w] = 1
                    stack.append((w, iter(succ[w])))
                    advanced = True
                    break
            if not advanced:
                state[v] = 2
                stack.pop()
    return back


def _spike_edge(nodes: Mapping[str, Any], edges: list[tuple[str, str]],
                back: tuple[str, str]) -> tuple[str, str]:
    """The edge of a cycle that gets its recurrent delay (``recurrent_delay_on="spikes"``,
    the default): the back edge moved upstream
    over the stateless nodes (Affine, Linear, ...) before it, to the edge leaving the
    last neuron. Producers delay the *spikes* of the previous step and pass them through
    the recurrent weights in the current step, so an Affine's bias reaches the neuron in
    step 0 too; delaying the weights' output instead would drop it there."""
    preds: dict[str, list[str]] = {}
    for s, t in edges:
        preds.setdefault(t, []).append(s)
    edge, cur = back, back[0]
    while cur != back[1] and len(preds.get(cur, [])) == 1:
        spec = P.spec_of(nodes.get(cur))
        if spec is None or spec.kind != "stateless":
            break
        edge, cur = (preds[cur][0], cur), preds[cur][0]
    return edge


def _convert(nir_graph: nir.NIRGraph, semantics: Semantics | None, recurrent_delay: int,
             name: str, delay_on: str = "spikes", own: bool = False) -> Graph:
    meta = parse_record(nir_graph.metadata, name)
    nodes: dict[str, Any] = {}
    for n, node in nir_graph.nodes.items():
        if isinstance(node, nir.NIRGraph):
            nodes[n] = _convert(node, None, recurrent_delay, n, delay_on, own)
        else:
            nodes[n] = _normalised(node, own)
    raw_edges = [(str(s), str(t)) for s, t in nir_graph.edges]
    if meta is None:
        raw_edges = _repair_dangling_name(nodes, raw_edges, name)
    ext = (nir_graph.metadata or {}).get(X.EXTENSIONS_KEY) if meta is not None else None
    if ext is not None:
        nodes.update(_extension_nodes(ext, name))
    if meta is not None:
        delays = {(s, t): d for s, t, d in meta.get("edge_delays", [])}
        name = meta.get("name", name)
    else:
        back = _back_edges(nir_graph.nodes, raw_edges)
        if delay_on == "spikes":
            back = {_spike_edge(nir_graph.nodes, raw_edges, e) for e in back}
        delays = dict.fromkeys(back, recurrent_delay)
    edges = [Edge(s, t, delays.get((s, t), 0)) for s, t in raw_edges]
    if meta is not None and "edges" in meta:
        # A graph with extension nodes stores every edge (in order, with its delay):
        # its NIR edge list holds only the edges between plain NIR nodes.
        edges = [Edge(s, t, d) for s, t, d in meta["edges"]]
    # nir.read returns nodes alphabetically: restore the written order, or (foreign
    # files) derive one from the edges.
    stored = meta.get("node_order", []) if meta is not None else []
    if sorted(stored) == sorted(nodes):
        order = stored
    else:
        order = _edge_order(nodes, [(e.source, e.target) for e in edges if e.delay_steps == 0])
    nodes = {n: nodes[n] for n in order}
    user_meta = {k: v for k, v in (nir_graph.metadata or {}).items()
                 if k not in (METADATA_KEY, X.EXTENSIONS_KEY)}
    return Graph(nodes, edges, semantics, name=name, metadata=user_meta)


def _repair_dangling_name(nodes: Mapping[str, Any], edges: list[tuple[str, str]],
                          graph_name: str) -> list[tuple[str, str]]:
    """Edges of a foreign graph, with one known exporter slip undone: NIR 0.2 files of
    snnTorch's recurrent layers store the subgraph's neuron under one key (``lif1``) and
    name it differently in the edges (``lif``). Only when exactly one edge name matches
    no node (nor ``sub.port`` of a nested graph) and exactly one non-Input/Output node is
    on no edge is the reading unique; then the edges are renamed, with a warning.
    Anything else is left for validation to report."""
    def known(end: str) -> bool:
        return end in nodes or any(
            end[:k] in nodes and isinstance(nodes[end[:k]], Graph)
            for k, c in enumerate(end) if c == ".")

    dangling = sorted({e for edge in edges for e in edge if not known(e)})
    on_edges = {e for edge in edges for e in edge}
    unused = sorted(n for n, v in nodes.items() if n not in on_edges
                    and not isinstance(v, (nir.Input, nir.Output, P.Input, P.Output)))
    if len(dangling) != 1 or len(unused) != 1:
        return edges
    (old,), (new,) = dangling, unused
    warnings.warn(
        f"graph {graph_name!r}: the edges name {old!r}, which is no node, and node {new!r} "
        f"({type(nodes[new]).__name__}) is on no edge: read {old!r} as {new!r} (a slip of "
        "NIR 0.2 exporters in recurrent subgraphs); rewrite the file with spikecore.write "
        "to store it consistently", FileRepairWarning, stacklevel=4)
    return [(new if s == old else s, new if t == old else t) for s, t in edges]


def _extension_nodes(ext: Any, graph_name: str) -> dict[str, Any]:
    """The extension nodes stored under ``metadata[EXTENSIONS_KEY]`` (one group each)."""
    if not isinstance(ext, Mapping):
        raise NIRFileError(f"graph {graph_name!r}: metadata '{X.EXTENSIONS_KEY}' is not a group "
                           "of extension nodes")
    out = {}
    for n, rec in ext.items():
        if not isinstance(rec, Mapping):
            raise NIRFileError(f"graph {graph_name!r}: extension node {n!r} is not a group")
        try:
            out[str(n)] = X.from_record(rec, str(n))
        except (TypeError, ValueError, AssertionError) as exc:
            raise NIRFileError(f"graph {graph_name!r}: {exc}") from exc
    return out


def _edge_order(nodes: Mapping[str, Any], edges: list[tuple[str, str]]) -> list[str]:
    """Node names in topological order of ``edges`` (ties and cycle members by name)."""
    order = kahn_order(nodes, edges)
    done = set(order)
    return order + sorted(n for n in nodes if n not in done)


def from_nir(nir_graph: nir.NIRGraph, dialect: str | None = None, dt: float | None = None,
             recurrent_delay: int = 1, name: str = "graph",
             recurrent_delay_on: str | None = None, *, _owned: bool = False,
             **overrides: Any) -> Graph:
    """A spikecore :class:`Graph` from an in-memory ``nir.NIRGraph`` (its arrays are
    copied: the graph does not share memory with ``nir_graph``).

    A graph written by spikecore carries its semantics and edge delays; ``dt`` and
    ``overrides`` (Semantics fields) may still change them. A foreign graph needs a
    ``dialect`` (see :mod:`spikecore.dialects`); its cycles get ``recurrent_delay`` steps
    (0 is refused by validation, naming the cycle) on one edge each:
    ``recurrent_delay_on="spikes"`` delays the neuron's spikes, so the recurrent weights
    and their bias act in the current step (snnTorch's recurrent modules);
    ``"weights"`` delays the output of the weights, so a bias is missing in step 0 (NIR
    importers that run the graph through nirtorch: Norse's ``from_nir``). ``None``: the
    dialect's choice (``"spikes"`` for ``explicit``).
    """
    if recurrent_delay_on not in (None, *DELAY_PLACES):
        raise GraphError(f"recurrent_delay_on={recurrent_delay_on!r}: expected one of "
                         f"{', '.join(map(repr, DELAY_PLACES))}")
    if not isinstance(nir_graph, nir.NIRGraph):
        raise GraphError(f"expected a nir.NIRGraph, got {type(nir_graph).__name__}")
    if isinstance(recurrent_delay, bool) or not isinstance(recurrent_delay, (int, np.integer)) \
            or recurrent_delay < 0:
        raise GraphError(f"recurrent_delay={recurrent_delay!r}: expected an integer >= 0 (steps)")
    unknown = sorted(set(overrides) - set(Semantics.__dataclass_fields__) - {"dt"})
    if unknown:
        raise GraphError(
            f"unknown option(s) {', '.join(map(repr, unknown))}; overrides are Semantics "
            f"fields: {', '.join(f for f in Semantics.__dataclass_fields__ if f != 'dt')}"
        )
    dt = as_seconds(dt)  # a Brian2 time (0.1*ms) -> float seconds
    meta = parse_record(nir_graph.metadata, name)
    if meta is not None:
        if dialect is not None:
            stored = meta.get("semantics")
            raise DialectError(
                f"graph was written by spikecore and carries its semantics "
                f"({Semantics.from_dict(stored).describe() if stored else 'none'}); "
                f"dialect={dialect!r} would contradict it. Drop dialect=, or change single "
                "choices with dt=... / integrator=... / reset=..."
            )
        semantics = Semantics.from_dict(meta["semantics"]) if meta.get("semantics") else None
        changes = dict(overrides)
        if dt is not None:
            changes["dt"] = dt
        if changes:
            if semantics is None:
                semantics = Semantics(**changes)
            else:
                semantics = semantics.replace(**changes)
    elif dialect == EXPLICIT:
        missing = [k for k in REQUIRED_EXPLICIT if (dt if k == "dt" else overrides.get(k)) is None]
        if missing:
            raise DialectError(
                "dialect='explicit' needs every choice stated; missing: " + ", ".join(missing),
                choices_message(),
            )
        semantics = Semantics(dt=dt, **overrides)
    elif dialect is not None:
        # The dialect fixes the semantics and rewrites the producer's parameter
        # conventions (which may depend on dt, or encode it).
        d = get_dialect(dialect)
        nir_graph, semantics = d.prepare(nir_graph, dt, **overrides)
        recurrent_delay_on = recurrent_delay_on or d.recurrent_delay_on
    else:
        raise DialectError(
            "this NIR graph has no spikecore metadata, so nothing says how to simulate it "
            "(NIR carries no dt, integrator or reset mode). Choose:",
            choices_message(),
        )
    return _convert(nir_graph, semantics, int(recurrent_delay), name,
                    recurrent_delay_on or "spikes", own=_owned)


def to_nir(graph: Graph, plain: bool = False) -> nir.NIRGraph:
    """The graph as a ``nir.NIRGraph`` (semantics and delays in metadata).

    Conv and Flatten nodes get their input shapes filled in, so the file is
    self-describing for other NIR readers too. Extension primitives
    (:mod:`spikecore.extensions`) are stored in the graph metadata, not as NIR nodes, so
    ``nir.read`` still reads the file. ``plain=True`` promises a graph made only of NIR
    nodes and raises :class:`~spikecore.errors.UnsupportedError` naming every extension
    node (NIR 1.0 has no exact equivalent of any of them).
    """
    if plain:
        # Extensions with a documented exact decomposition (spec.extra["plain"], e.g.
        # SparseLinear -> dense Linear) are replaced first; the rest are refused.
        graph, found = _plain_decomposition(graph, "")
        found += _extension_nodes_of(graph, "")
        if found:
            raise UnsupportedError(
                f"graph {graph.name!r} cannot be written as plain NIR: {len(found)} node(s) "
                "are spikecore extensions without a NIR 1.0 equivalent (write without "
                "plain=True to keep them in spikecore metadata, or replace them):", found)
    return _to_nir(graph, top=True)


def _plain_decomposition(graph: Graph, prefix: str) -> tuple[Graph, list[str]]:
    """``graph`` with every node whose spec has a ``plain`` hook replaced by the hook's
    NIR node (nested graphs too), and the problems the hooks reported."""
    nodes: dict[str, Any] = {}
    problems: list[str] = []
    for n, node in graph.nodes.items():
        if isinstance(node, Graph):
            nodes[n], sub = _plain_decomposition(node, f"{prefix}{n}.")
            problems += sub
            continue
        spec = P.spec_of(node)
        hook = spec.extra.get("plain") if spec is not None else None
        if hook is None:
            nodes[n] = node
            continue
        try:
            nodes[n] = hook(f"{prefix}{n}", node)
        except UnsupportedError as exc:
            problems.append(str(exc).split("\n")[0])
            nodes[n] = node
    if all(nodes[n] is graph.nodes[n] for n in nodes):
        return graph, problems
    out = copy.copy(graph)
    out.nodes = nodes
    return out, problems


def _extension_nodes_of(graph: Graph, prefix: str) -> list[str]:
    out = []
    for n, node in graph.nodes.items():
        if isinstance(node, Graph):
            out += _extension_nodes_of(node, f"{prefix}{n}.")
        elif X.is_extension(node):
            out.append(f"'{prefix}{n}' ({P.type_name(node)}): {P.spec_of(node).notes}; "
                       "no NIR 1.0 node or composition is exact")
    return out


def _to_nir(graph: Graph, top: bool) -> nir.NIRGraph:
    errors, _ = graph.problems() if top else ([], [])
    errors = [e for e in errors if not e.startswith("no semantics")]
    if errors:
        raise GraphError(f"graph {graph.name!r} cannot be written:", errors)
    try:
        local_shapes = _local_shapes(graph)
    except GraphError:
        local_shapes = {}
    nodes: dict[str, Any] = {}
    extensions: dict[str, Any] = {}
    for n, node in graph.nodes.items():
        if isinstance(node, Graph):
            nodes[n] = _to_nir(node, top=False)
            continue
        if X.is_extension(node):
            extensions[n] = X.to_record(node)
            continue
        node = copy.deepcopy(node)
        in_shape = local_shapes.get(("in", n))
        if isinstance(node, (nir.Conv1d, nir.Conv2d)) and node.input_shape is None and in_shape:
            spatial = in_shape[1:]
            node = type(node)(input_shape=spatial[0] if isinstance(node, nir.Conv1d) else spatial,
                              weight=node.weight, stride=node.stride, padding=node.padding,
                              dilation=node.dilation, groups=node.groups, bias=node.bias,
                              metadata=node.metadata)
        if isinstance(node, nir.Flatten) and node.input_type.get("input") is None and in_shape:
            node = nir.Flatten(input_type={"input": np.array(in_shape)}, start_dim=node.start_dim,
                               end_dim=node.end_dim, metadata=node.metadata)
        if isinstance(node, nir.Output) and node.output_type.get("output") is None and in_shape:
            # nir.write cannot store a shape of None: declare the inferred one.
            node = nir.Output(output_type=np.array(in_shape), metadata=node.metadata)
        nodes[n] = node
    meta = {
        "format": FORMAT,
        "name": graph.name,
        "node_order": [str(n) for n in graph.nodes],
        "semantics": graph.semantics.to_dict() if graph.semantics else None,
        "edge_delays": [[e.source, e.target, int(e.delay_steps)] for e in graph.edges
                        if e.delay_steps],
    }
    edges = [(e.source, e.target) for e in graph.edges]
    metadata = dict(graph.metadata)
    if extensions:
        # nir cannot hold these nodes: they live in metadata, and so do the edges that
        # touch them (the full list, to keep the order in which inputs are summed).
        meta["edges"] = [[e.source, e.target, int(e.delay_steps)] for e in graph.edges]
        plain = {n for n in nodes}
        edges = [(s, t) for s, t in edges if s.partition(".")[0] in plain
                 and t.partition(".")[0] in plain]
        metadata[X.EXTENSIONS_KEY] = extensions
    metadata[METADATA_KEY] = json.dumps(meta, sort_keys=True)
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata, type_check=False)


def _local_shapes(graph: Graph) -> dict[tuple[str, str], tuple[int, ...]]:
    """Input shape of each top-level node of ``graph`` (nested graphs' own nodes are
    handled when they are written)."""
    flat = graph.flatten()
    shapes = flat.shapes()
    out: dict[tuple[str, str], tuple[int, ...]] = {}
    for e in flat.edges:
        out.setdefault(("in", e.target), shapes[e.source])
    return out


# ====================================================================== files
def write(graph: Graph, path: str | os.PathLike, plain: bool = False) -> Path:
    """Write ``graph`` to a NIR (HDF5) file, atomically (:mod:`spikecore.atomic`: an
    existing file is replaced only once the new one is complete, keeps its permissions,
    and special files such as ``/dev/null`` are refused). ``plain=True``: see
    :func:`to_nir`. Returns the path written."""
    nir_graph = to_nir(graph, plain=plain)
    try:
        return write_atomically(path, lambda tmp: nir.write(tmp, nir_graph), "NIR file")
    except UnsafeTargetError as exc:
        raise NIRFileError(str(exc)) from None
    except (OSError, TypeError, ValueError) as exc:
        raise NIRFileError(f"cannot write {os.fspath(path)!r}: {exc}") from exc


def _decode(x: Any) -> Any:
    if isinstance(x, bytes):
        return x.decode("utf8")
    if isinstance(x, np.ndarray) and x.dtype == object:
        return np.vectorize(_decode, otypes=[object])(x)
    return x


def _node_from_dict(d: dict, where: str, path: str) -> Any:
    t = _decode(d.get("type"))
    if isinstance(t, np.ndarray):
        t = t.item() if t.shape == () else None
    if t == "NIRGraph":
        return _graph_from_dict(d, where, path)
    if t not in _NIR_TYPES:
        raise NIRFileError(
            f"{path}: node {where!r} has unknown type {t!r}; spikecore reads NIR 1.0 types: "
            + ", ".join(sorted([*_NIR_TYPES, "NIRGraph"]))
        )
    d = {k: _decode(v) for k, v in d.items()}
    if "metadata" in d and not isinstance(d["metadata"], dict):
        d.pop("metadata")
    try:
        node = nir.dict2NIRNode(dict(d))
    except TypeError as exc:
        raise NIRFileError(f"{path}: node {where!r} ({t}): {exc}; the file may be from an "
                           "older NIR version or damaged") from exc
    except (AssertionError, ValueError, KeyError, IndexError, AttributeError) as exc:
        detail = str(exc) or f"{type(exc).__name__} in nir"
        raise NIRFileError(f"{path}: node {where!r} ({t}) is malformed: {detail}") from exc
    return node


def _graph_from_dict(d: dict, where: str, path: str) -> nir.NIRGraph:
    nodes_d = d.get("nodes")
    if not isinstance(nodes_d, dict):
        raise NIRFileError(f"{path}: graph {where!r} has no 'nodes' group")
    nodes = {}
    for name, nd in nodes_d.items():
        if not isinstance(nd, dict):
            raise NIRFileError(f"{path}: node {name!r} of {where!r} is not a group")
        nodes[name] = _node_from_dict(nd, name if where == "<root>" else f"{where}.{name}", path)
    raw = d.get("edges", np.zeros((0, 2), dtype=object))
    raw = np.asarray(_decode(raw), dtype=object)
    if raw.size == 0:
        raw = raw.reshape(0, 2)
    if raw.ndim != 2 or raw.shape[1] != 2:
        raise NIRFileError(
            f"{path}: graph {where!r}: 'edges' has shape {raw.shape}, expected (n, 2)"
        )
    edges = [(str(_decode(s)), str(_decode(t))) for s, t in raw]
    metadata = d.get("metadata", {})
    metadata = {k: _decode(v) for k, v in metadata.items()} if isinstance(metadata, dict) else {}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata, type_check=False)


def read_nir(path: str | os.PathLike) -> nir.NIRGraph:
    """Read a NIR file into a ``nir.NIRGraph`` without nir's type inference (which adds
    nodes and does not reach nested graphs); every failure is a :class:`NIRFileError`.
    Links, external storage, oversized arrays and special files are refused before any
    data is read (:mod:`spikecore.hdf5_reader`)."""
    if not isinstance(path, (str, os.PathLike)):
        raise NIRFileError(f"expected a file path (str or pathlib.Path), got "
                           f"{type(path).__name__}; write the data to a file first")
    p = os.fspath(path)
    if isinstance(p, bytes):
        p = os.fsdecode(p)
    check_regular_file(p)
    try:
        is_hdf5 = h5py.is_hdf5(p)
    except OSError as exc:
        raise NIRFileError(f"{p}: cannot open: {exc}") from exc
    if not is_hdf5:
        raise NIRFileError(f"{p}: not an HDF5 file, so not a NIR file")
    try:
        with h5py.File(p, "r") as f:
            if "node" not in f or not isinstance(f.get("node", getlink=True), h5py.HardLink) \
                    or not isinstance(f["node"], h5py.Group):
                raise NIRFileError(f"{p}: HDF5 file without a 'node' group; not a NIR file")
            data = load_tree(f, "node", p)
    except NIRFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - h5py raises many types for damaged files
        raise NIRFileError(f"{p}: cannot read (truncated or damaged HDF5?): {exc}") from exc
    t = _decode(data.get("type"))
    if not (isinstance(t, str) and t == "NIRGraph"):
        raise NIRFileError(f"{p}: root node has type {_short(t)}, expected 'NIRGraph'")
    return _graph_from_dict(data, "<root>", p)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def read(path: str | os.PathLike, dialect: str | None = None, dt: float | None = None,
         recurrent_delay: int = 1, recurrent_delay_on: str | None = None,
         **overrides: Any) -> Graph:
    """Read a NIR file into a validated :class:`Graph`.

    Args:
        path: the ``.nir`` file.
        dialect: how a foreign file is meant (``"norse"``, ``"snntorch"``, ...,
            ``"explicit"``); not needed for files written by spikecore.
        dt: step in seconds, or a Brian2 time such as ``0.1*ms`` (overrides the dialect
            default or the stored one).
        recurrent_delay: steps given to one edge of each cycle of a foreign file.
        recurrent_delay_on: ``"spikes"`` or ``"weights"``: which edge (see
            :func:`from_nir`); default: the dialect's choice.
        overrides: Semantics fields (``integrator=``, ``reset=``, ...).
    """
    nir_graph = read_nir(path)
    name = Path(path).stem
    try:
        graph = from_nir(nir_graph, dialect=dialect, dt=dt, recurrent_delay=recurrent_delay,
                         name=name, recurrent_delay_on=recurrent_delay_on, _owned=True,
                         **overrides)
        del nir_graph  # the graph now holds the arrays
        graph.validate()
    except GraphError as exc:
        new = type(exc)(f"{os.fspath(path)}: {exc}")
        new.problems = exc.problems
        raise new from exc
    return graph
