"""Stateless linear nodes composed into the connections between stateful ones.

Backends whose engine has populations and weighted, delayed connections (Lava, NEST)
do not run Affine, Linear, Scale, SparseLinear, Flatten, Delay or Output nodes as
objects of their own: they compose them. The input of a stateful node ``n`` is

    x_n[t] = sum over terms (source s, delay d):  M[s, d] @ out_s[t - d]

where ``s`` is a source (an Input, a seeded source), a neuron, or :data:`ONE`, the
constant 1 that carries Affine biases (a bias is an input like any other, so it is
delayed and aligned like one; it is 0 before step ``d``). ``M`` is a
``scipy.sparse.csr_array`` (target elements x source elements, flat C order), so a
network of 10^5 neurons with a sparse recurrent matrix is composed without a dense
``N x N`` array. An Output's value is computed from the recorded source outputs with
the same terms (:func:`output_values`).

This module is the algebra only: which node types are stateful is the backend's
decision (``roles``). Each stateless type registers its builder in
:data:`LINEAR_BUILDERS`; a backend that meets a type without one refuses it by name.

**Lags.** An engine whose connections take at least one step (Lava's Dense, NEST's
minimum delay) runs a stateful node ``lag`` steps behind the contract. The smallest
lags with ``lag[t] >= lag[s] + 1 - d`` for every term are found by
:func:`assign_lags`; a term then needs ``lag[t] - lag[s] + d >= 1`` engine steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import scipy.sparse as sp

from .. import primitives as P
from ..extensions.sparse import SparseLinear
from ..graph import Graph, delay_steps_of

#: The constant source that carries Affine biases.
ONE = "__one__"

#: (source, delay in steps) -> sparse matrix (target elements x source elements).
Terms = dict[tuple[str, int], sp.csr_array]

#: (node, incoming terms, output size) -> output terms.
LinearBuilder = Callable[[Any, Terms, int], Terms]

#: stateless type -> its builder. Delay composes as the identity here; its per-element
#: delays need dt and are applied by :func:`compose`.
LINEAR_BUILDERS: dict[type, LinearBuilder] = {}


def register_linear(node_type: type, fn: LinearBuilder) -> None:
    """Register (or replace) how the stateless ``node_type`` composes incoming terms."""
    LINEAR_BUILDERS[node_type] = fn


def identity(n: int) -> sp.csr_array:
    return sp.eye_array(n, format="csr")


def is_identity(m: sp.csr_array) -> bool:
    """``m`` is a square identity matrix (checked in O(n), without a product)."""
    n = m.shape[0]
    return (m.shape == (n, n) and m.nnz == n and np.array_equal(m.indptr, np.arange(n + 1))
            and np.array_equal(m.indices, np.arange(n)) and bool(np.all(m.data == 1.0)))


def _times(w: Any, terms: Terms) -> Terms:
    """``w @ m`` for every term; ``w`` dense (made sparse once) or sparse. ``w @ I`` is
    ``w`` itself, not a product: at 10^8 synapses the product would copy gigabytes."""
    w = sp.csr_array(w) if sp.issparse(w) else sp.csr_array(np.asarray(w, dtype=np.float64))
    return {k: w if is_identity(m) else sp.csr_array(w @ m) for k, m in terms.items()}


def _lin_linear(node: P.Linear, terms: Terms, size: int) -> Terms:
    return _times(node.weight, terms)


def _lin_affine(node: P.Affine, terms: Terms, size: int) -> Terms:
    out = _times(node.weight, terms)
    b = np.broadcast_to(np.asarray(node.bias, dtype=np.float64).ravel(), (size,))
    if np.any(b != 0):
        add(out, (ONE, 0), sp.csr_array(b[:, None]))
    return out


def _lin_scale(node: P.Scale, terms: Terms, size: int) -> Terms:
    s = np.broadcast_to(np.asarray(node.scale, dtype=np.float64).ravel(), (size,))
    return _times(sp.diags_array(s, format="csr"), terms)


def _lin_identity(node: Any, terms: Terms, size: int) -> Terms:
    return dict(terms)  # Flatten (C order), Delay (see compose) and Output keep the order


def _lin_sparse(node: SparseLinear, terms: Terms, size: int) -> Terms:
    w = sp.csr_array((np.asarray(node.weights, np.float64), node.indices, node.indptr),
                     shape=(node.n_out, node.n_in))
    return _times(w, terms)


register_linear(P.Affine, _lin_affine)
register_linear(P.Linear, _lin_linear)
register_linear(P.Scale, _lin_scale)
register_linear(P.Flatten, _lin_identity)
register_linear(P.Output, _lin_identity)
register_linear(P.Delay, _lin_identity)
register_linear(SparseLinear, _lin_sparse)


def add(terms: Terms, key: tuple[str, int], m: sp.csr_array) -> None:
    terms[key] = sp.csr_array(terms[key] + m) if key in terms else m


class StatelessCycle(Exception):
    """A cycle of stateless nodes (no stateful node on it): it has no finite expansion."""

    def __init__(self, node: str):
        super().__init__(node)
        self.node = node


def split_by_delay(terms: Terms, steps: np.ndarray) -> Terms:
    """A Delay's terms: each element's rows moved to the terms of its own delay."""
    split: Terms = {}
    for d in np.unique(steps):
        mask = sp.diags_array((steps == d).astype(np.float64), format="csr")
        for (s, d0), m in terms.items():
            add(split, (s, d0 + int(d)), sp.csr_array(mask @ m))
    return split


def compose(graph: Graph, roles: Mapping[str, str]) -> tuple[dict[str, Terms], dict[str, Terms]]:
    """The terms of the input of every stateful node and of every Output.

    ``roles``: node -> ``"source"`` (Inputs, seeded sources), ``"neuron"`` (stateful,
    an engine object), ``"output"`` or ``"linear"`` (composed; its type must be in
    :data:`LINEAR_BUILDERS`). Returns ``(neuron terms, output terms)``; terms whose
    matrix is all zero are dropped from the neuron terms. Raises
    :class:`StatelessCycle` on a cycle of stateless nodes.
    """
    sizes = {n: math.prod(s) for n, s in graph.shapes().items()}
    dt = float(graph.semantics.dt)
    memo: dict[str, Terms] = {}
    visiting: set[str] = set()

    def incoming_terms(name: str) -> Terms:
        terms: Terms = {}
        for e in graph.incoming(name):
            src = e.source
            if roles[src] in ("source", "neuron"):
                add(terms, (src, e.delay_steps), identity(sizes[src]))
            else:
                for (s, d), m in stateless_terms(src).items():
                    add(terms, (s, d + e.delay_steps), m)
        return terms

    def stateless_terms(name: str) -> Terms:
        if name in memo:
            return memo[name]
        if name in visiting:
            raise StatelessCycle(name)
        visiting.add(name)
        node = graph.nodes[name]
        terms = LINEAR_BUILDERS[type(node)](node, incoming_terms(name), sizes[name])
        if isinstance(node, P.Delay):
            steps = np.broadcast_to(delay_steps_of(node, dt).ravel(), (sizes[name],))
            terms = split_by_delay(terms, steps)
        visiting.discard(name)
        memo[name] = terms
        return terms

    neurons: dict[str, Terms] = {}
    outputs: dict[str, Terms] = {}
    for name in sorted(graph.nodes):
        if roles[name] == "neuron":
            neurons[name] = {k: m for k, m in incoming_terms(name).items() if m.count_nonzero()}
        elif roles[name] == "output":
            outputs[name] = stateless_terms(name)
    return neurons, outputs


def assign_lags(terms_of: Mapping[str, Terms], engine: str) -> tuple[dict[str, int], list[str]]:
    """The smallest lags with ``lag[t] >= lag[s] + 1 - d`` for every term of every
    stateful node in ``terms_of`` (Bellman-Ford on longest paths; sources and
    :data:`ONE` have lag 0). Returns ``(lags, problems)``: a cycle whose delays sum to
    fewer steps than it has connections cannot be realised; ``engine`` names the
    engine in that message."""
    lag = {n: 0 for n in terms_of}
    edges = [(s, t, d) for t, terms in terms_of.items() for (s, d) in terms]
    for s, _t, _d in edges:
        lag.setdefault(s, 0)
    for _ in range(len(lag) + 1):
        changed = False
        for s, t, d in edges:
            want = lag[s] + 1 - d
            if want > lag[t]:
                lag[t] = want
                changed = True
        if not changed:
            return {n: lag[n] for n in terms_of}, []
    succ: dict[str, set[str]] = {}
    for s, t, _d in edges:
        succ.setdefault(s, set()).add(t)

    def reach(a: str) -> set[str]:
        seen, todo = set(), [a]
        while todo:
            for w in succ.get(todo.pop(), ()):
                if w not in seen:
                    seen.add(w)
                    todo.append(w)
        return seen

    violated = {t for s, t, d in edges if lag[s] + 1 - d > lag[t]}
    bad = sorted({m for v in violated for m in reach(v) if v in reach(m)})
    return {}, [f"cycle through {', '.join(map(repr, bad))}: {engine} adds one step per "
                "connection, and this cycle's edge delays sum to fewer steps than it has "
                "connections between neurons; give its edges delay_steps >= 1 each"]


def output_values(terms: Terms, sources: Mapping[str, np.ndarray], batch: int, steps: int,
                  size: int) -> np.ndarray:
    """``y[t] = sum M @ out_s[t - d]`` in numpy (0 before step ``d``); ``sources[s]`` is
    ``[batch, steps, n_s]``."""
    y = np.zeros((batch, steps, size))
    for (s, d), m in terms.items():
        if d >= steps:
            continue
        if s == ONE:
            y[:, d:] += m.toarray()[:, 0]
            continue
        x = sources[s][:, :steps - d].reshape(-1, m.shape[1])
        y[:, d:] += np.asarray((m @ x.T).T).reshape(batch, steps - d, size)
    return y
