"""Lowering a spikecore graph to a Lava network description (pure numpy, no Lava import).

The main process computes everything here, from :mod:`spikecore.discrete`'s coefficients,
so the contract lives in one place; the worker (``lava_worker.py``, Python 3.10) only
instantiates the Lava processes this plan describes and records them.

**Lava nodes.** Only Inputs (``RingBuffer``), neurons and Threshold nodes (``LIF``) become
Lava processes. Every stateless linear node (Affine, Linear, Scale, Flatten, Delay,
Output) is composed into the connections between Lava nodes: the input of a Lava node is

    x[t] = sum over terms (source s, delay d):  M[s, d] @ out_s[t - d]

where ``out_s`` is an Input's values, a neuron's spikes, or ``1`` for the constant source
``__one__`` that carries Affine biases (a bias is an input like any other, so it is
delayed and lag-aligned like one). Outputs are computed from the recorded source outputs
with the same terms, in numpy.

**Neurons.** Lava's float LIF does, per step (v after reset is what Monitor records)::

    u = u * (1 - du) + a_in
    v = v * (1 - dv) + u + bias;   s = v > vth;   v[s] = 0

The contract (``discrete.py``) ``i = a_syn i + b_syn x; v = a_mem v + k_new i + k_x x + c``
maps onto it in shifted, scaled voltage units ``v' = g (v - v_reset)`` (so reset to
``v_reset`` is Lava's reset to 0, and the threshold is one number ``vth = g (v_th -
v_reset)`` per process): ``dv = 1 - a_mem``; with a synaptic current ``du = 1 - a_syn``,
``u = g k_new i`` and incoming weights scaled by ``g k_new b_syn``; without one ``du = 1``
(``u = a_in``) and weights scaled by ``g k_x``; ``bias = g (c - (1 - a_mem) v_reset)``.
Neurons of one node with different ``du``/``dv`` are split into several LIF processes.

**Lag.** A Lava connection delivers in step k+1 what its source sent in step k, so a node
runs ``lag`` steps behind the contract: Lava step ``k`` is contract step ``k - lag``. The
lags are the smallest with ``lag[t] >= lag[s] + 1 - d`` for every term; a term then gets
``e = lag[t] - lag[s] - 1 + d`` extra steps (``DelayDense``/``DelaySparse``). A cycle
whose contract delays sum to fewer steps than it has connections cannot be realised and
is refused. Before its contract step 0 a node sees no input and sits at rest (its
initial state is the fixed point of the zero-input update), which is why resting above
threshold is refused for lagged nodes.

**Batch.** Batch copies are laid side by side in one Lava run (element ``b * n + j``),
connections block-diagonal; the bias source is shared.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ... import extensions as X
from ... import primitives as P
from ...discrete import NeuronCoefficients, neuron_coefficients
from ...errors import UnsupportedError
from ...extensions import REFRACTORY_TYPES, SOURCE_TYPES, refractory_steps
from ...graph import Graph
from ..base import no_lowering
from ..terms import ONE, StatelessCycle, Terms, assign_lags, compose
from .registry import RULES

#: Graded messages: Lava's Dense binarises its input when num_message_bits == 0.
GRADED_BITS = 24
#: Connections sparser than this (fraction of nonzero weights) use Sparse/DelaySparse.
SPARSE_DENSITY = 0.3
ARITHMETICS = ("floating_pt", "fixed_pt")

# Loihi fixed-point formats used by Lava's bit-accurate models (lava/proc/lif/models.py,
# lava/proc/dense/models.py, lava/utils/weightutils.py).
DECAY_UNITY = 4096            # du, dv are 12-bit: x * (4096 - d) >> 12
DECAY_MAX = 4095
VTH_SHIFT = 6                 # threshold and synaptic input are << 6 in the neuron
ACT_SHIFT = 6
VTH_MANT_MAX = 2**17 - 1      # 17-bit threshold mantissa
UV_LIMIT = 2**23              # 24-bit signed u, v
BIAS_MANT_MAX = 2**12 - 1     # 13-bit signed bias mantissa
BIAS_EXP_MAX = 7              # 3-bit bias exponent
WEIGHT_MAX_MIXED = 254        # 8-bit weights, mixed sign: LSB truncated -> even, [-256, 254]
WEIGHT_MAX_SINGLE = 255       # excitatory or inhibitory
WEIGHT_EXP_RANGE = (-8, 7)
A_IN_LIMIT = 2**15            # the LIF's a_in port is int16
#: fixed_pt: the voltage unit is chosen so that a spiking process's threshold is this many
#: LSBs (2^18 = 4096 << 6), leaving a factor 32 of headroom below the 24-bit saturation.
FIXED_VTH_TARGET = 2**18


# ================================================================= plan records
@dataclass
class Population:
    """One Lava LIF process: the elements ``index`` (flat, per batch copy) of ``node``."""

    name: str
    node: str
    index: np.ndarray
    du: float
    dv: float
    vth: float
    bias: np.ndarray          # per element, Lava units (v')
    v_init: np.ndarray        # Lava units
    gain: np.ndarray          # g: v' = g (v - offset)
    offset: np.ndarray        # v_reset (0 for non-spiking)
    i_gain: np.ndarray        # u' = i_gain * i (0 where there is no synaptic current)
    in_scale: np.ndarray      # incoming weights are multiplied by this (per element)
    spiking: bool
    lag: int = 0
    refractory: int = 0       # LIFRefractory's refractory_period (0: plain LIF)
    # fixed_pt only
    fixed: dict[str, Any] = field(default_factory=dict)


@dataclass
class Connection:
    source: str               # an Input name, ONE, or a population name
    target: str               # a population name
    weights: np.ndarray       # (target size, source size), one batch copy
    delay: int                # extra Lava steps (0: plain Dense)
    graded: bool
    weight_exp: int = 0


@dataclass
class LavaNode:
    """A graph node that becomes Lava processes, and its lag behind the contract."""

    name: str
    kind: str                 # "input" | "neuron"
    size: int
    spiking: bool
    populations: list[Population] = field(default_factory=list)
    terms: Terms = field(default_factory=dict)
    lag: int = 0


@dataclass
class Plan:
    graph: Graph
    arithmetic: str
    nodes: dict[str, LavaNode]
    output_terms: dict[str, Terms]
    connections: list[Connection] = field(default_factory=list)
    max_lag: int = 0

    @property
    def populations(self) -> list[Population]:
        return [p for n in self.nodes.values() for p in n.populations]


# ================================================================ neuron lowering
@dataclass
class NeuronLowering:
    """Per-element Lava parameters of one neuron node (before splitting by du/dv)."""

    du: np.ndarray
    dv: np.ndarray
    vth: np.ndarray
    bias: np.ndarray
    v_init: np.ndarray
    gain: np.ndarray
    offset: np.ndarray
    i_gain: np.ndarray
    in_scale: np.ndarray
    spiking: bool
    refractory: np.ndarray | None = None   # steps per element (refractory neurons)


def _uniform_threshold(width: np.ndarray) -> float:
    """The common Lava threshold: the node's own when uniform (gain 1, exact), else 1."""
    return float(width.flat[0]) if np.all(width == width.flat[0]) else 1.0


def _lower_neuron_coefficients(co: NeuronCoefficients) -> NeuronLowering:
    n = co.a_mem.size
    flat = {k: np.asarray(getattr(co, k), dtype=np.float64).ravel()
            for k in ("a_syn", "b_syn", "a_mem", "k_old", "k_new", "k_x", "c", "v_initial")}
    if co.spiking:
        vr = np.asarray(co.v_reset, dtype=np.float64).ravel()
        width = np.asarray(co.v_threshold, dtype=np.float64).ravel() - vr
        vth = _uniform_threshold(width)
        gain = vth / width
    else:
        vr = np.zeros(n)
        gain = np.ones(n)
        vth = math.inf
    if co.has_current:
        du = 1.0 - flat["a_syn"]
        i_gain = gain * flat["k_new"]
        in_scale = i_gain * flat["b_syn"]
    else:
        du = np.ones(n)
        i_gain = np.zeros(n)
        in_scale = gain * flat["k_x"]
    dv = 1.0 - flat["a_mem"]
    bias = gain * (flat["c"] - dv * vr)
    return NeuronLowering(du, dv, np.full(n, vth), bias, gain * (flat["v_initial"] - vr),
                          gain, vr, i_gain, in_scale, co.spiking)


def _neuron_problems(name: str, node: Any, co: NeuronCoefficients, semantics) -> list[str]:
    tn = P.type_name(node)
    out = []
    if co.has_current:
        if np.any(co.k_old != 0) or np.any(co.k_x != 0):
            why = ("the exact integrator couples v to the previous step's current and to x"
                   if semantics.integrator == "exact" else
                   "update_order='voltage_first' drives v with the previous step's current")
            out.append(f"{name!r} ({tn}): not representable by Lava's LIF ({why}; Lava "
                       "updates u first and drives v with the new u); use integrator='euler' "
                       "and update_order='current_first'")
        elif np.any(co.k_new == 0):
            out.append(f"{name!r} ({tn}): r=0 (or dt*r/tau_mem=0) not representable: Lava "
                       "adds u to v with weight 1, so the current cannot be scaled to 0")
    if co.spiking:
        if co.reset == "subtract":
            out.append(f"{name!r} ({tn}): reset='subtract' not representable (Lava's LIF "
                       "resets v to 0, i.e. to v_reset); use reset='to_value'")
        width = np.asarray(co.v_threshold) - np.asarray(co.v_reset)
        if np.any(width <= 0):
            out.append(f"{name!r} ({tn}): v_threshold <= v_reset for some neurons; Lava's "
                       "threshold is measured from the reset value and must be above it")
    return out


def _threshold_lowering(node: P.Threshold, size: int) -> NeuronLowering:
    """Threshold ``y = x > thr`` as a LIF with du = dv = 1 (v = a_in + bias, no memory).

    v' = x - thr, so the comparison ``x - thr > 0`` has the sign of ``x > thr`` exactly."""
    thr = np.broadcast_to(np.asarray(node.threshold, dtype=np.float64).ravel(), (size,))
    uniform = np.all(thr == thr[0])
    ones = np.ones(size)
    if uniform:
        return NeuronLowering(ones, ones, np.full(size, thr[0]), np.zeros(size),
                              np.zeros(size), ones, np.zeros(size), np.zeros(size), ones, True)
    return NeuronLowering(ones, ones, np.zeros(size), -thr.copy(), np.zeros(size), ones,
                          thr.copy(), np.zeros(size), ones, True)


# ================================================================ checks
#: Measured against LearningDense (docs/learning.md, "Plasticity on Lava").
_LEARNING_LAG = (
    "Lava 0.10's LearningDense computes a step's output W s_in before that step's learning "
    "phase and receives a post spike of step t-1 only with the pre spikes of step t, so a "
    "post spike's potentiation reaches transmission one step later than the contract's "
    "(its weights alone can be matched, its output cannot; it has no w_max or soft bound)")

#: Why a primitive has no Lava lowering (added to check()'s message).
UNSUPPORTED_REASONS: dict[type, str] = {
    X.ALIF: "Lava 0.10 has no adaptive-threshold LIF process",
    X.RateUnit: "Lava's LIF sends spikes, not a graded phi(x)",
    X.CondLIF: "Lava 0.10's LIF is current-based; conductance input multiplies (e - v)",
    X.Izhikevich: "Lava 0.10 has no quadratic (Izhikevich) neuron process",
    X.MorrisLecar: "Lava 0.10 has no Morris-Lecar (conductance ODE) process",
    X.MorrisLecarGraded: "Lava 0.10 has no Morris-Lecar process and its LIF sends spikes, "
                         "not a graded s_inf(V)",
    X.LTCLIF: "Lava 0.10's LIF has fixed decays; LTC gates recompute them every step from "
              "sigmoids of the input and the state",
    X.STDPLinear: _LEARNING_LAG,
    X.HebbianLinear: "Lava's LIF sends spikes, not graded rates, and its learning engine "
                     "updates once per learning epoch, not the contract's per-step rate rule",
    X.VogelsLinear: _LEARNING_LAG,
}


def supported_names() -> list[str]:
    return sorted(t.__name__ for t in RULES)


def _lowering_of(name: str, node: Any, graph: Graph, shape: tuple[int, ...]
                 ) -> tuple[NeuronLowering | None, list[str]]:
    if isinstance(node, P.Threshold):
        return _threshold_lowering(node, math.prod(shape)), []
    refractory = type(node) in REFRACTORY_TYPES
    co = neuron_coefficients(node.base() if refractory else node, graph.semantics, shape)
    problems = _neuron_problems(name, node, co, graph.semantics)
    if problems:
        return None, problems
    low = _lower_neuron_coefficients(co)
    if refractory:
        # LIFRefractory holds v (0 in Lava units = v_reset) for refractory_period steps
        # after a spike while u keeps integrating: the contract's refractory update.
        low.refractory = refractory_steps(node, float(graph.semantics.dt), shape).ravel()
    return low, []


def build_plan(graph: Graph, arithmetic: str = "floating_pt") -> Plan:
    """The Lava network for a flat, validated ``graph``; raises :class:`UnsupportedError`
    listing every problem at once."""
    plan, problems = _plan(graph, arithmetic)
    if problems:
        raise UnsupportedError(f"backend 'lava' cannot lower graph {graph.name!r}:", problems)
    return plan


def check_graph(graph: Graph, arithmetic: str = "floating_pt") -> list[str]:
    return _plan(graph, arithmetic)[1]


#: Largest (target x source) matrix the planner composes densely (float64 elements):
#: 2**26 is 512 MiB. Beyond it the plan alone would exhaust memory before Lava starts.
MAX_DENSE_TERM = 2**26


def _dense_size_problems(graph: Graph, shapes: dict) -> list[str]:
    """Edges whose composed weight matrix (target size x source size) the planner could
    not hold densely."""
    out = []
    for e in graph.edges:
        n = math.prod(shapes[e.target]) * math.prod(shapes[e.source])
        if n > MAX_DENSE_TERM:
            out.append(f"edge {e.source!r} -> {e.target!r}: its {math.prod(shapes[e.target])} "
                       f"x {math.prod(shapes[e.source])} weight matrix exceeds the "
                       f"{MAX_DENSE_TERM} elements the Lava planner composes densely; use a "
                       "smaller network or another backend")
    return out


def _plan(graph: Graph, arithmetic: str) -> tuple[Plan | None, list[str]]:
    """The plan and every problem found; the phases stop at the first that finds any
    (except the early-firing and fixed-point checks, which need the whole plan)."""
    if arithmetic not in ARITHMETICS:
        allowed = ", ".join(map(repr, ARITHMETICS))
        return None, [f"arithmetic={arithmetic!r}: expected one of {allowed}"]
    shapes = graph.shapes()
    problems = _dense_size_problems(graph, shapes)
    if problems:
        return None, problems
    lowerings, problems = _lower_neurons(graph, arithmetic, shapes)
    if problems:
        return None, problems
    try:
        nodes, output_terms = _compose(graph, lowerings)
    except StatelessCycle as exc:
        return None, [f"{exc.node!r}: part of a cycle of stateless nodes (no neuron on it); "
                      "Lava cannot realise it"]
    problems = _non_spiking_reader_problems(graph, nodes)
    if problems:
        return None, sorted(set(problems))
    lag_problems = _assign_lags(nodes)
    if lag_problems:
        return None, lag_problems
    problems = _early_firing_problems(graph, nodes, lowerings)
    plan = Plan(graph, arithmetic, nodes, output_terms)
    for name, ln in sorted(nodes.items()):
        if ln.kind == "neuron":
            ln.populations.extend(_split_populations(name, lowerings[name], ln.lag))
    plan.max_lag = max((ln.lag for ln in nodes.values()), default=0)
    plan.connections.extend(_connections(nodes))
    if arithmetic == "fixed_pt":
        problems += _to_fixed_point(plan)
    return (None if problems else plan), problems


def _arithmetic_problems(name: str, node: Any, arithmetic: str) -> list[str]:
    """Node types that have no Lava model for ``arithmetic`` (fixed_pt excludes some)."""
    if arithmetic != "fixed_pt":
        return []
    out = []
    if type(node) in REFRACTORY_TYPES:
        out.append(f"{name!r} ({P.type_name(node)}): not available with "
                   "arithmetic='fixed_pt' (Lava 0.10's LIFRefractory has only a "
                   "floating-point model); use 'floating_pt'")
    if type(node) in SOURCE_TYPES and not isinstance(node, X.PoissonSource):
        out.append(f"{name!r} ({P.type_name(node)}): not available with "
                   "arithmetic='fixed_pt' (Loihi messages are integers; this source "
                   "is real-valued); use 'floating_pt'")
    if isinstance(node, P.Threshold):
        out.append(f"{name!r} (Threshold): not available with arithmetic="
                   "'fixed_pt' (a 12-bit dv cannot clear v every step); use "
                   "'floating_pt'")
    return out


def _lower_neurons(graph: Graph, arithmetic: str, shapes: dict[str, tuple[int, ...]]
                   ) -> tuple[dict[str, NeuronLowering], list[str]]:
    """Phase 1: every node type has a rule and is available with ``arithmetic``; every
    neuron node is representable. Returns its Lava parameters per neuron node and the
    problems (node by node, in name order)."""
    lowerings: dict[str, NeuronLowering] = {}
    problems: list[str] = []
    for name in sorted(graph.nodes):
        node = graph.nodes[name]
        rule = RULES.get(type(node))
        if rule is None:
            problems.append(no_lowering(name, node, supported_names(),
                                        UNSUPPORTED_REASONS.get(type(node))))
            continue
        problems += _arithmetic_problems(name, node, arithmetic)
        if rule.role == "neuron":
            low, probs = _lowering_of(name, node, graph, shapes[name])
            problems += probs
            if low is not None:
                lowerings[name] = low
    return lowerings, problems


def _compose(graph: Graph, lowerings: dict[str, NeuronLowering]
             ) -> tuple[dict[str, LavaNode], dict[str, Terms]]:
    """Phase 2: compose the stateless nodes into terms (:func:`spikecore.backends.terms.
    compose`). Returns the Lava nodes (Inputs and neurons, each with the nonzero terms
    of its input, as dense matrices: every Lava connection here is a dense matrix) and
    the (sparse) terms of every Output. Raises :class:`StatelessCycle`."""
    roles = {n: {"input": "source"}.get(RULES[type(v)].role, RULES[type(v)].role)
             for n, v in graph.nodes.items()}
    sizes = {n: math.prod(s) for n, s in graph.shapes().items()}
    neuron_terms, output_terms = compose(graph, roles)
    nodes: dict[str, LavaNode] = {}
    for name in sorted(graph.nodes):
        if roles[name] == "source":
            nodes[name] = LavaNode(name, "input", sizes[name], spiking=False)
        elif roles[name] == "neuron":
            nodes[name] = LavaNode(name, "neuron", sizes[name],
                                   spiking=lowerings[name].spiking,
                                   terms={k: m.toarray() for k, m in neuron_terms[name].items()})
    return nodes, output_terms


def _non_spiking_reader_problems(graph: Graph, nodes: dict[str, LavaNode]) -> list[str]:
    """Phase 3: non-spiking neurons only feed Outputs (Lava's LIF sends spikes, not v)."""
    problems = []
    for name, ln in sorted(nodes.items()):
        for (s, _d) in ln.terms:
            if s != ONE and nodes[s].kind == "neuron" and not nodes[s].spiking:
                problems.append(
                    f"{name!r} ({P.type_name(graph.nodes[name])}): its input comes from "
                    f"non-spiking {s!r} ({P.type_name(graph.nodes[s])}), whose output is v; "
                    "Lava's LIF sends only spikes, so only an Output may read it")
    return problems


def _early_firing_problems(graph: Graph, nodes: dict[str, LavaNode],
                           lowerings: dict[str, NeuronLowering]) -> list[str]:
    """Phase 4 (after :func:`_assign_lags`): a lagged node sits at rest before its contract
    step 0, so it must not rest above its threshold."""
    problems = []
    for name, ln in nodes.items():
        if ln.kind == "neuron" and ln.lag > 0:
            low = lowerings[name]
            if low.spiking and np.any(low.v_init > low.vth):
                problems.append(
                    f"{name!r} ({P.type_name(graph.nodes[name])}): rests above its threshold "
                    f"but runs {ln.lag} Lava step(s) behind the contract, so it would fire "
                    "before step 0; not supported")
    return problems


def _split_populations(name: str, low: NeuronLowering, lag: int) -> list[Population]:
    """Phase 5: one Lava LIF process per distinct (du, dv, refractory period) of the
    neuron node ``name`` (named ``name``, or ``name#k`` when there are several)."""
    ref = low.refractory if low.refractory is not None else np.zeros(low.du.size)
    keys = np.stack([low.du, low.dv, ref], axis=1)
    groups = np.unique(keys, axis=0)
    pops = []
    for gi, (du, dv, rf) in enumerate(groups):
        idx = np.flatnonzero((low.du == du) & (low.dv == dv) & (ref == rf))
        pname = name if len(groups) == 1 else f"{name}#{gi}"
        pops.append(Population(
            pname, name, idx, float(du), float(dv), float(low.vth[0]), low.bias[idx],
            low.v_init[idx], low.gain[idx], low.offset[idx], low.i_gain[idx],
            low.in_scale[idx], low.spiking, lag, refractory=int(rf)))
    return pops


def _connections(nodes: dict[str, LavaNode]) -> list[Connection]:
    """Phase 6: the connections between Lava processes, one per (term, target population,
    source population) with a nonzero weight; the delay is the term's extra Lava steps
    (``lag[t] - lag[s] - 1 + d``)."""
    out = []
    pops_of = {n: ln.populations for n, ln in nodes.items()}
    for _name, ln in sorted(nodes.items()):
        for (s, d), m in sorted(ln.terms.items()):
            src_lag = 0 if s == ONE else nodes[s].lag
            extra = ln.lag - src_lag - 1 + d
            graded = s == ONE or nodes[s].kind == "input"
            for pop in ln.populations:
                rows = m[pop.index] * pop.in_scale[:, None]
                if s == ONE or nodes[s].kind == "input":
                    sources = [(s, np.arange(m.shape[1]))]
                else:
                    sources = [(sp.name, sp.index) for sp in pops_of[s]]
                for sname, sidx in sources:
                    w = rows[:, sidx]
                    if np.any(w != 0):
                        out.append(Connection(sname, pop.name, w, extra, graded))
    return out


def _assign_lags(nodes: dict[str, LavaNode]) -> list[str]:
    """Smallest lags with lag[t] >= lag[s] + 1 - d (:func:`spikecore.backends.terms.
    assign_lags`); Inputs keep lag 0."""
    lags, problems = assign_lags({n: ln.terms for n, ln in nodes.items()
                                  if ln.kind == "neuron"}, "Lava")
    for n, v in lags.items():
        nodes[n].lag = v
    return problems


# ==================================================================== fixed point
def _weight_exp(maxabs: float, mixed: bool) -> int:
    limit = WEIGHT_MAX_MIXED if mixed else WEIGHT_MAX_SINGLE
    if maxabs == 0:
        return 0
    if not math.isfinite(maxabs):  # overflowed at the voltage scale: too large
        return WEIGHT_EXP_RANGE[1] + 1
    return max(WEIGHT_EXP_RANGE[0], math.ceil(math.log2(maxabs / limit)))


def _to_fixed_point(plan: Plan) -> list[str]:
    """Integer parameters for Lava's bit-accurate models (a plain deterministic mapping,
    not an optimising quantiser; hardware/ owns that).

    Per process a voltage unit ``S`` (Lava LSBs per unit of v') is chosen: spiking
    processes get ``vth * S = 2^18``; non-spiking ones scale their largest expected
    |v'| (initial value, bias/dv, summed |weights|) to 2^18. Then
    ``du_int = round(4096 du) - 1`` (Lava adds 1), ``dv_int = round(4096 dv)``, both
    clipped to [0, 4095]; ``vth_int = round(vth S / 64)``; ``bias = mant << exp``;
    ``v_int = round(v' S)``; each connection's weights ``w S / 64 = w_int * 2^exp`` with
    8-bit ``w_int`` (even when signs are mixed) and one exponent per connection.
    Inputs must be integers (Loihi messages are integers).
    """
    problems: list[str] = []
    incoming: dict[str, list[Connection]] = {}
    for c in plan.connections:
        incoming.setdefault(c.target, []).append(c)
    for pop in plan.populations:
        if math.isfinite(pop.vth):
            unit = FIXED_VTH_TARGET / pop.vth
        else:
            level = max([float(np.max(np.abs(pop.v_init), initial=0.0)),
                         float(np.max(np.abs(pop.bias), initial=0.0)) / max(pop.dv, 1 / 4096)]
                        + [float(np.max(np.abs(c.weights).sum(axis=1), initial=0.0))
                           for c in incoming.get(pop.name, [])])
            unit = FIXED_VTH_TARGET / level if level > 0 else 1.0
        if not (math.isfinite(unit) and unit > 0):  # e.g. v_threshold = 5e-324
            problems.append(f"{pop.node!r}: no fixed-point scale: 2**18 / "
                            f"{pop.vth if math.isfinite(pop.vth) else 'level'} is {unit:g} "
                            "in fixed_pt; use a threshold of a usual size")
            unit = 1.0
        du_int = int(np.clip(round(pop.du * DECAY_UNITY) - 1, 0, DECAY_MAX))
        dv_int = int(np.clip(round(pop.dv * DECAY_UNITY), 0, DECAY_MAX))
        vth_int = (int(round(pop.vth * unit / 2**VTH_SHIFT)) if math.isfinite(pop.vth)
                   else VTH_MANT_MAX)
        if vth_int > VTH_MANT_MAX:
            problems.append(f"{pop.node!r}: threshold does not fit 17 bits in fixed_pt")
        with np.errstate(over="ignore", invalid="ignore"):
            b = pop.bias * unit
            v_scaled = pop.v_init * unit
        if not (np.all(np.isfinite(b)) and np.all(np.isfinite(v_scaled))):
            problems.append(f"{pop.node!r}: bias or initial v overflows at the voltage scale "
                            f"({unit:g} LSB per unit) in fixed_pt")
            b = np.where(np.isfinite(b), b, 0.0)
            v_scaled = np.where(np.isfinite(v_scaled), v_scaled, 0.0)
        bexp = np.zeros(b.shape, dtype=int)
        big = np.abs(b) > BIAS_MANT_MAX
        bexp[big] = np.ceil(np.log2(np.abs(b[big]) / BIAS_MANT_MAX)).astype(int)
        if np.any(bexp > BIAS_EXP_MAX):
            problems.append(f"{pop.node!r}: bias too large for 13-bit mantissa << 3-bit "
                            "exponent in fixed_pt")
        bmant = np.rint(b / 2.0**bexp).astype(int)
        v_init = np.rint(v_scaled).astype(int)
        if np.any(np.abs(v_init) >= UV_LIMIT):
            problems.append(f"{pop.node!r}: initial v does not fit 24 bits in fixed_pt")
        pop.fixed = {"unit": unit, "du": du_int, "dv": dv_int, "vth": vth_int,
                     "bias_mant": bmant, "bias_exp": bexp, "v_init": v_init}
    units = {p.name: p.fixed["unit"] for p in plan.populations}
    for c in plan.connections:
        with np.errstate(over="ignore", invalid="ignore"):
            x = c.weights * units[c.target] / 2**ACT_SHIFT
        mixed = bool(np.any(x > 0) and np.any(x < 0))
        e = _weight_exp(float(np.max(np.abs(x))), mixed)
        if e > WEIGHT_EXP_RANGE[1]:
            problems.append(f"connection {c.source!r} -> {c.target!r}: weights too large "
                            "for 8-bit mantissa << 7 in fixed_pt")
        if not np.all(np.isfinite(x)):
            x = np.zeros_like(x)  # refused above; keep the arithmetic below quiet
        q = x / 2.0**min(e, WEIGHT_EXP_RANGE[1])
        q = 2 * np.rint(q / 2) if mixed else np.rint(q)
        c.weights, c.weight_exp = q.astype(np.int64).astype(np.float64), e
    return problems


# ============================================================ job serialisation
def _batched_coo(w: np.ndarray, batch: int, shared: bool
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, int]]:
    """The nonzeros (row-major order) of the weights of ``batch`` copies of a connection:
    stacked rows from one shared source (``shared``), else the block-diagonal matrix.
    Built from ``w``'s nonzeros, never as a dense (batch*out, batch*in) matrix (which at
    batch 1e5 would need tens of GiB)."""
    out_n, in_n = w.shape
    r, c = np.nonzero(w)
    offsets = np.arange(batch)[:, None]
    rows = (r[None, :] + out_n * offsets).ravel()
    cols = np.tile(c, batch) if shared else (c[None, :] + in_n * offsets).ravel()
    shape = (batch * out_n, in_n if shared else batch * in_n)
    return rows, cols, np.tile(w[r, c], batch), shape


def plan_to_job(plan: Plan, inputs: dict[str, np.ndarray], steps: int, batch: int,
                record: dict[str, set[str]], raw: bool) -> tuple[dict, dict[str, np.ndarray]]:
    """(JSON description, arrays) for the worker. ``record``: population-level probes are
    derived from node-level wishes ``{node: {"spikes", "v", "i"}}``."""
    total = steps + (0 if raw else plan.max_lag)
    fixed = plan.arithmetic == "fixed_pt"
    arrays: dict[str, np.ndarray] = {}
    spec: dict[str, Any] = {"arithmetic": plan.arithmetic, "steps": total, "batch": batch,
                            "sources": [], "populations": [], "connections": [], "probes": []}
    used_sources = {c.source for c in plan.connections}
    for name, ln in sorted(plan.nodes.items()):
        if ln.kind == "input" and name in used_sources:
            x = inputs[name].reshape(batch, steps, -1)             # [b, t, n]
            data = np.zeros((batch * ln.size, total))
            data[:, :steps] = x.transpose(0, 2, 1).reshape(batch * ln.size, steps)
            if fixed:
                data = np.rint(data)
            key = f"src_{len(spec['sources'])}"
            arrays[key] = data
            spec["sources"].append({"name": name, "data": key, "shared": False})
    if ONE in used_sources:
        key = f"src_{len(spec['sources'])}"
        arrays[key] = np.ones((1, total))
        spec["sources"].append({"name": ONE, "data": key, "shared": True})
    for i, pop in enumerate(plan.populations):
        tile = lambda a: np.tile(np.asarray(a), batch)  # noqa: E731
        entry = {"name": pop.name, "node": pop.node, "size": int(pop.index.size * batch),
                 "node_type": P.type_name(plan.graph.nodes[pop.node]),
                 "node_size": int(plan.nodes[pop.node].size)}
        if pop.refractory:
            entry["refractory"] = int(pop.refractory)
        if fixed:
            f = pop.fixed
            entry.update(du=f["du"], dv=f["dv"], vth=f["vth"])
            arrays[f"bias_{i}"] = tile(f["bias_mant"])
            arrays[f"bias_exp_{i}"] = tile(f["bias_exp"])
            arrays[f"v_{i}"] = tile(f["v_init"])
        else:
            entry.update(du=pop.du, dv=pop.dv, vth=pop.vth if math.isfinite(pop.vth) else None)
            arrays[f"bias_{i}"] = tile(pop.bias)
            arrays[f"bias_exp_{i}"] = np.zeros(pop.index.size * batch)
            arrays[f"v_{i}"] = tile(pop.v_init)
        entry.update(bias=f"bias_{i}", bias_exp=f"bias_exp_{i}", v=f"v_{i}")
        spec["populations"].append(entry)
    shared = {s["name"] for s in spec["sources"] if s["shared"]}
    for i, c in enumerate(plan.connections):
        rows, cols, vals, shape = _batched_coo(c.weights, batch, c.source in shared)
        arrays[f"w_{i}"] = np.stack([rows, cols]).astype(np.int64)
        arrays[f"wv_{i}"] = vals
        density = rows.size / max(math.prod(shape), 1)
        spec["connections"].append({
            "source": c.source, "target": c.target, "shape": list(shape),
            "weights": f"w_{i}", "values": f"wv_{i}", "delay": int(c.delay),
            "num_message_bits": GRADED_BITS if c.graded else 0,
            "sparse": bool(density < SPARSE_DENSITY), "weight_exp": int(c.weight_exp)})
    for node, wants in sorted(record.items()):
        for pop in plan.nodes[node].populations:
            for what in sorted(wants):
                var = {"spikes": "s_out", "v": "v", "i": "u"}[what]
                spec["probes"].append({"population": pop.name, "var": var})
    return spec, arrays


def results_from_job(plan: Plan, data: dict[str, np.ndarray], steps: int, batch: int,
                     record: dict[str, set[str]], raw: bool) -> dict[str, dict[str, np.ndarray]]:
    """Node-level arrays ``{node: {"spikes"|"v"|"i": [batch, steps, n]}}`` in contract
    units, realigned to the contract's time axis unless ``raw``."""
    out: dict[str, dict[str, np.ndarray]] = {}
    fixed = plan.arithmetic == "fixed_pt"
    for node, wants in record.items():
        ln = plan.nodes[node]
        start = 0 if raw else ln.lag
        for what in wants:
            full = np.zeros((batch, steps, ln.size))
            var = {"spikes": "s_out", "v": "v", "i": "u"}[what]
            for pop in ln.populations:
                a = data[f"{pop.name}/{var}"][start:start + steps]       # [steps, b*m]
                a = a.reshape(steps, batch, pop.index.size).transpose(1, 0, 2).astype(np.float64)
                unit = pop.fixed["unit"] if fixed else 1.0
                if what == "spikes":
                    a = a > 0.5
                elif what == "v":
                    a = a / unit / pop.gain + pop.offset
                else:
                    with np.errstate(divide="ignore", invalid="ignore"):
                        a = np.where(pop.i_gain != 0, a / unit / pop.i_gain, 0.0)
                full[:, :, pop.index] = a
            out.setdefault(node, {})[what] = full.astype(bool) if what == "spikes" else full
    return out
