"""Lowering a spikecore graph to a NEST network description (pure numpy, no NEST import).

**NEST nodes.** Neurons become NEST populations (:mod:`.models`); every stateless linear
node is composed into the connections between them (:mod:`spikecore.backends.terms`):
the input of a neuron node is ``x[t] = sum M[s, d] @ out_s[t - d]``. A term whose source
is a neuron becomes NEST connections (weight ``in_factor * M``, one delay); the terms
whose source is an Input, a seeded source or the constant bias source are summed, in
numpy, into the node's *drive* and replayed by one ``spike_generator`` per driven
element (a spike of weight ``in_factor * drive[t]`` in every step where the drive is not
zero). Outputs are computed from the recorded sources with the same terms, in numpy.

**Time.** NEST's smallest delay is one step, and a spike generator cannot emit at time
0. So a neuron node runs ``1 + lag`` NEST steps behind the contract: NEST step ``k`` is
contract step ``k - 1 - lag``. The lags are the smallest with ``lag[t] >= lag[s] + 1 -
d`` (:func:`spikecore.backends.terms.assign_lags`); a connection then has the NEST delay
``d + lag[t] - lag[s] >= 1`` steps, and the drive of contract step ``t`` leaves its
generator at time ``(t + 1 + lag) * dt`` with a delay of one step. Before its step 0 a
node sees no input and rests (its initial state is the fixed point of the zero-input
update), which is why resting above threshold is refused.

**Batch.** Batch copies of every population are laid side by side (element ``b * n +
j``), with their own connections and generators.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from ... import extensions as X
from ... import primitives as P
from ...errors import UnsupportedError
from ...extensions import SOURCE_TYPES
from ...extensions.sparse import SparseLinear
from ...graph import Graph
from ..base import no_lowering
from ..terms import ONE, StatelessCycle, Terms, assign_lags, compose
from .registry import NEURON_MAPPERS, RULES, NestNeuron, NestRule, register_rule

for _t in SOURCE_TYPES:
    register_rule(_t, NestRule("source", "replayed by spike_generators (the seeded stream "
                                         "computed in the main process)"))
register_rule(P.Input, NestRule("source", "replayed by spike_generators (one per driven "
                                          "element, weighted spikes)"))
register_rule(P.Output, NestRule("output", "computed from the recorded sources in numpy"))
register_rule(P.Affine, NestRule("linear", "folded into connection weights; the bias is "
                                           "replayed like an input"))
register_rule(P.Linear, NestRule("linear", "folded into connection weights"))
register_rule(P.Scale, NestRule("linear", "folded into connection weights"))
register_rule(P.Flatten, NestRule("linear", "identity on the flat element order"))
register_rule(P.Delay, NestRule("linear", "folded into connection delays"))
register_rule(SparseLinear, NestRule("linear", "folded into connection weights (CSR, never "
                                               "densified)"))


#: Types NEST refuses, with the reason (NEST has models of some of these neurons, but
#: their numerics are NEST's, not the contract's discrete update).
UNSUPPORTED_REASONS: dict[type, str] = {
    X.ALIF: "NEST 3.10 has no model with the contract's ALIF threshold update (its "
            "adaptive models, e.g. amat2_psc_exp or aeif_*, adapt differently)",
    X.RateUnit: "NEST neurons send spikes; its rate models use their own integration",
    X.CondLIF: "NEST's iaf_cond_exp integrates with an adaptive GSL solver, not the "
               "contract's step update",
    X.Izhikevich: "NEST's izhikevich model has its own Euler scheme (its "
                  "consistent_integration flag picks one of two), not checked against the "
                  "contract's update",
    X.MorrisLecar: "NEST 3.10 has no Morris-Lecar model",
    X.MorrisLecarGraded: "NEST 3.10 has no Morris-Lecar model, and its neurons send spikes, "
                         "not a graded s_inf(V)",
    X.LTCLIF: "NEST's models have fixed time constants; LTC gates recompute them every step",
    X.STDPLinear: "NEST's stdp_synapse/stdp_triplet_synapse update a weight when a spike "
                  "arrives, with NEST's dendritic-delay timing and its own traces; not "
                  "checked against the contract's per-step update",
    X.HebbianLinear: "NEST's rate-model connections (rate_connection_instantaneous/delayed) "
                     "have fixed weights: NEST has no plastic rate synapse",
    X.VogelsLinear: "NEST's vogels_sprekeler_synapse updates a weight when a spike arrives, "
                    "with NEST's dendritic-delay timing; not checked against the contract's "
                    "per-step update",
    P.Threshold: "a Threshold sends x > threshold every step; a NEST neuron integrates",
    P.Conv1d: "not composed into connections by this backend yet (a dense or sparse matrix "
              "would do it); flatten to Linear first",
    P.Conv2d: "not composed into connections by this backend yet; flatten to Linear first",
    P.SumPool2d: "not composed into connections by this backend yet",
    P.AvgPool2d: "not composed into connections by this backend yet",
}


@dataclass
class NestNode:
    """A neuron node: its NEST model, the terms of its input split into neuron sources
    (connections) and drive sources (replayed), and its lag behind the contract."""

    name: str
    size: int
    neuron: NestNeuron
    connections: Terms = field(default_factory=dict)
    drive: Terms = field(default_factory=dict)
    lag: int = 0

    def driven_elements(self) -> np.ndarray:
        """The elements that receive any drive (they get a spike generator each)."""
        rows = np.zeros(self.size, dtype=bool)
        for m in self.drive.values():
            rows[np.flatnonzero(np.diff(m.indptr))] = True
        return np.flatnonzero(rows)


@dataclass
class Plan:
    graph: Graph
    nodes: dict[str, NestNode]
    sources: list[str]
    output_terms: dict[str, Terms]

    @property
    def max_lag(self) -> int:
        return max((n.lag for n in self.nodes.values()), default=0)


def supported_names() -> list[str]:
    return sorted(t.__name__ for t in RULES)


def check_graph(graph: Graph) -> list[str]:
    return _plan(graph)[1]


def build_plan(graph: Graph) -> Plan:
    """The NEST network for a flat, validated ``graph``; raises
    :class:`UnsupportedError` listing every problem at once."""
    plan, problems = _plan(graph)
    if problems:
        raise UnsupportedError(f"backend 'nest' cannot lower graph {graph.name!r}:", problems)
    return plan


def _semantics_problems(graph: Graph) -> list[str]:
    sem = graph.semantics
    out = []
    if sem.integrator != "exact":
        out.append(f"semantics integrator={sem.integrator!r}: NEST integrates the "
                   "sub-threshold ODEs exactly (the contract's 'exact'); use "
                   "Semantics(integrator='exact'), e.g. graph.with_semantics(integrator="
                   "'exact'), or another backend for forward Euler")
    return out


def _plan(graph: Graph) -> tuple[Plan | None, list[str]]:
    problems = _semantics_problems(graph)
    shapes = graph.shapes()
    neurons: dict[str, NestNeuron] = {}
    for name in sorted(graph.nodes):
        node = graph.nodes[name]
        rule = RULES.get(type(node))
        if rule is None:
            problems.append(no_lowering(name, node, supported_names(),
                                        UNSUPPORTED_REASONS.get(type(node))))
        elif rule.role == "neuron":
            low, probs = NEURON_MAPPERS[type(node)](name, node, graph, shapes[name])
            problems += probs
            if low is not None:
                neurons[name] = low
    if problems:
        return None, problems
    roles = {n: RULES[type(v)].role for n, v in graph.nodes.items()}
    try:
        terms, output_terms = compose(graph, roles)
    except StatelessCycle as exc:
        return None, [f"{exc.node!r}: part of a cycle of stateless nodes (no neuron on it); "
                      "NEST cannot realise it"]
    nodes = {}
    for name, low in neurons.items():
        nn = NestNode(name, math.prod(shapes[name]), low)
        for (s, d), m in terms[name].items():
            if roles.get(s) == "neuron":
                if not neurons[s].spiking:
                    problems.append(
                        f"{name!r} ({P.type_name(graph.nodes[name])}): its input comes from "
                        f"non-spiking {s!r} ({P.type_name(graph.nodes[s])}), whose output is "
                        "v; NEST neurons send only spikes, so only an Output may read it")
                nn.connections[(s, d)] = m
            else:
                nn.drive[(s, d)] = m
        nodes[name] = nn
    if problems:
        return None, sorted(set(problems))
    lags, problems = assign_lags({n: nn.connections for n, nn in nodes.items()}, "NEST")
    if problems:
        return None, problems
    for n, v in lags.items():
        nodes[n].lag = v
    sources = sorted(n for n, r in roles.items() if r == "source")
    return Plan(graph, nodes, sources, output_terms), []


def add_drive(out: np.ndarray, node: NestNode, source: str, window: np.ndarray | None,
              t0: int, history: int) -> None:
    """Adds to ``out`` (``[batch, t1 - t0, size]``, contract steps ``t0 .. t1-1``) the
    node's drive from ``source``: ``sum_d M[source, d] @ x[t - d]``.

    ``window`` holds the source's outputs for steps ``t0 - history .. t1 - 1``
    (``[batch, history + t1 - t0, n_s]``, zeros before step 0); ``None`` for :data:`ONE`.
    One source at a time, so a block never holds every source's values at once.
    """
    batch, n_t = out.shape[0], out.shape[1]
    for (s, d), m in node.drive.items():
        if s != source:
            continue
        if s == ONE:
            first = max(t0, d)
            if first < t0 + n_t:
                out[:, first - t0:] += m.toarray()[:, 0]
            continue
        x = window[:, history - d: history - d + n_t]          # steps t0-d .. t1-1-d
        diag = diagonal_of(m)
        if diag is not None:  # a Scale (or identity): elementwise, no sparse product
            out += x * diag
            continue
        flat = x.reshape(-1, m.shape[1])
        out += np.asarray((m @ flat.T).T).reshape(batch, n_t, node.size)


def diagonal_of(m: sp.csr_array) -> np.ndarray | None:
    """The diagonal of ``m`` when ``m`` is square with one entry per row, on the diagonal
    (else ``None``)."""
    n = m.shape[0]
    if m.shape != (n, n) or m.nnz != n or not np.array_equal(m.indptr, np.arange(n + 1)) \
            or not np.array_equal(m.indices, np.arange(n)):
        return None
    return np.asarray(m.data, np.float64)


def csr_blocks(m: sp.csr_array, chunk: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Rows, columns and values of the nonzeros of ``m``, row block by row block of about
    ``chunk`` entries each: straight from the CSR arrays, so a matrix of 10^8 synapses
    never has a whole-matrix COO copy (or int64 index copies) next to it."""
    indptr = np.asarray(m.indptr, np.int64)
    n = m.shape[0]
    r0 = 0
    while r0 < n:
        # the last row whose block still fits (at least one row per block)
        r1 = max(r0 + 1, int(np.searchsorted(indptr, indptr[r0] + chunk, side="right")) - 1)
        r1 = min(r1, n)
        a, b = int(indptr[r0]), int(indptr[r1])
        rows = np.repeat(np.arange(r0, r1), np.diff(indptr[r0:r1 + 1]))
        cols, vals = np.asarray(m.indices[a:b], np.int64), np.asarray(m.data[a:b])
        keep = vals != 0
        if not keep.all():
            rows, cols, vals = rows[keep], cols[keep], vals[keep]
        if vals.size:
            yield rows, cols, vals
        r0 = r1
