"""The Norse/PyTorch backend: a spikecore graph as a stateful, batched ``torch.nn.Module``.

:func:`to_torch` lowers a graph to a :class:`SpikecoreModule`; ``simulate(...,
backend="norse")`` runs that module in float64 (:class:`NorseBackend`);
:func:`from_torch` writes a (trained) module's parameters back into a graph.

Exact update (per step ``t``, nodes in ``graph.topological_order()`` over delay-0 edges):

* ``x_n[t] = sum over edges (s -> n, d) of y_s[t - d]`` (0 before step 0);
* Input ``y = input[t]``; Output ``y = x``; Affine ``y = W x + b``; Linear ``y = W x``;
  Scale ``y = s*x``; Threshold ``y = (x > thr)``; Flatten per NIR; Conv1d/Conv2d as
  ``torch.nn.functional.conv*d``; SumPool2d sum and AvgPool2d mean over the window
  (``count_include_pad=True``); Delay ``y[t] = x[t - round(delay/dt)]`` per element;
* neurons (I, IF, LI, LIF, CubaLI, CubaLIF), with the coefficients of
  :func:`spikecore.discrete.neuron_coefficients`::

      i[t] = a_syn*i[t-1] + b_syn*x[t]
      v[t] = a_mem*v[t-1] + k_old*i[t-1] + k_new*i[t] + k_x*x[t] + c
      z[t] = v[t] - v_threshold > 0          (== v > v_threshold for IEEE floats)
      v[t] = (1 - z)*v[t] + z*v_reset        (to_value; exact for z in {0, 1})
      v[t] = v[t] - z*(v_threshold - v_reset) (subtract)

  evaluated in the same operation order as :func:`spikecore.discrete.neuron_step`, so in
  float64 a neuron's states are bit-identical to the numpy contract (terms whose
  coefficient is structurally zero are skipped: adding ``+0.0`` changes no value).

Why own torch code rather than Norse's step functions (norse 1.1.0)
-----------------------------------------------------------------
No Norse neuron step equals the contract bit for bit, so none is used for lowering:

* ``lif_box_feed_forward_step`` computes ``v + dt*tau_inv*((v_leak - v) + x)``: the
  contract's Euler LIF with ``r = 1`` but rounded differently (and no ``r``).
* ``lif_feed_forward_step`` adds the input to the current as a jump *before* the membrane
  update (``j = i + x; v += dt/tau_mem*(v_leak - v + j); i = j*(1 - dt/tau_syn)``). In the
  pre-decay current ``j`` that is the contract's Euler CubaLIF, ``current_first``, with
  ``b_syn = 1``, i.e. ``w_in = tau_syn/dt`` and ``r = 1``: a NIR CubaLIF with ``w_in = 1``
  read literally integrates ``x`` through the synaptic ODE (``b_syn = dt/tau_syn``) and is
  *not* Norse's update. The tests check this correspondence against Norse itself.
* Norse's ``SuperSpike`` backward ignores its ``alpha``; see :mod:`.torch_surrogate`.

Norse is still used: the tests run Norse's functions to prove the readings above, and
``benchmarks/bench_norse.py`` measures Norse's modules next to this one.

The per-node torch operations (:class:`~.torch_ops.NodeOp` and the NIR primitives' ops,
including the contract's neuron update in torch) are in :mod:`.torch_ops`; this module
holds the registry, the stateful module that runs them, the conversions and the backend.

Device: CPU unless ``device=`` is given (``to_torch(g, device="cuda")``); nothing moves
to a GPU on its own. Recording: ``module(x, record=...)`` fills ``module.recording``.
Training: surrogate gradients from :mod:`.torch_surrogate`; e-prop in :mod:`.torch_eprop`.

Speed: the "static prefix" of a graph (Inputs and stateless nodes fed only by them, e.g.
the input projection ``W_in x``) is evaluated for all steps at once before the time
loop; optional event-driven Linear/Affine nodes accumulate only the rows of ``W^T`` of
the neurons that spiked (``event_driven=True``).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import primitives as P
from ..discrete import neuron_coefficients
from ..errors import InputError, SpikecoreError, UnsupportedError
from ..graph import Graph
from ..result import Result
from ..semantics import Semantics
from .base import Availability, RecordPlan
from .torch_ops import (
    _NEURON_PARAMS,
    DEFAULT_TRAINABLE,
    AffineOp,
    BuildOptions,
    ConvOp,
    DelayOp,
    FlattenOp,
    NeuronOp,
    NodeOp,
    PassOp,
    PoolOp,
    ScaleOp,
    Shape,
    State,
    ThresholdOp,
    _tuple,
)
from .torch_surrogate import spike_function


# ============================================================================ registry
@dataclass(frozen=True)
class Builder:
    """How one primitive type is lowered: the op class, a parameter check (returns the
    problems, one line each), and a note for :meth:`NorseBackend.supported`."""

    op: type[NodeOp]
    note: str
    check: Callable[[str, P.NIRNode, Shape, Semantics], list[str]] | None = None


def _check_conv(name: str, node: P.NIRNode, in_shape: Shape, sem: Semantics) -> list[str]:
    pad = node.padding
    if isinstance(pad, str):
        if pad not in ("same", "valid"):
            return [f"{name!r} ({P.type_name(node)}): padding={pad!r} not understood; "
                    "expected an integer, a tuple, 'same' or 'valid'"]
        if pad == "same" and any(s != 1 for s in _tuple(node.stride, len(in_shape) - 1)):
            return [f"{name!r} ({P.type_name(node)}): padding='same' needs stride 1 "
                    f"(torch), got stride={node.stride!r}; give explicit padding"]
    return []


#: primitive type -> builder. Register extension primitives here.
BUILDERS: dict[type, Builder] = {
    P.Input: Builder(PassOp, "y = input[t]"),
    P.Output: Builder(PassOp, "y = x (recorded in outputs)"),
    P.Affine: Builder(AffineOp, "y = W x + b; event-driven option for spike inputs"),
    P.Linear: Builder(AffineOp, "y = W x; event-driven option for spike inputs"),
    P.Scale: Builder(ScaleOp, "y = s*x"),
    P.Threshold: Builder(ThresholdOp, "y = x > threshold (surrogate gradient)"),
    P.Flatten: Builder(FlattenOp, "reshape per NIR"),
    P.Conv1d: Builder(ConvOp, "torch conv1d", _check_conv),
    P.Conv2d: Builder(ConvOp, "torch conv2d", _check_conv),
    P.SumPool2d: Builder(PoolOp, "window sum"),
    P.AvgPool2d: Builder(PoolOp, "window mean, count_include_pad=True"),
    P.Delay: Builder(DelayOp, "per-element delay in whole steps (ring buffer)"),
    P.I: Builder(NeuronOp, "euler/exact, as spikecore.discrete"),
    P.IF: Builder(NeuronOp, "euler/exact; reset to_value/subtract"),
    P.LI: Builder(NeuronOp, "euler/exact; input current/increment"),
    P.LIF: Builder(NeuronOp, "euler/exact; reset to_value/subtract"),
    P.CubaLI: Builder(NeuronOp, "euler (current_first/voltage_first) or exact"),
    P.CubaLIF: Builder(NeuronOp, "euler (current_first/voltage_first) or exact"),
}


def register_builder(node_type: type, builder: Builder) -> None:
    """Add (or replace) the lowering of a primitive type."""
    BUILDERS[node_type] = builder


def check_graph(graph: Graph) -> list[str]:
    """Every node or parameter of the flat ``graph`` this backend cannot lower."""
    problems: list[str] = []
    shapes = graph.shapes()
    in_shapes = _input_shapes(graph, shapes)
    supported = ", ".join(sorted(t.__name__ for t in BUILDERS))
    for n in sorted(graph.nodes):
        node = graph.nodes[n]
        b = BUILDERS.get(type(node))
        if b is None:
            problems.append(f"{n!r} ({P.type_name(node)}): no lowering; supported: {supported}")
        elif b.check is not None:
            problems += b.check(n, node, in_shapes[n], graph.semantics)
    return problems


def _input_shapes(graph: Graph, shapes: Mapping[str, Shape]) -> dict[str, Shape]:
    """Shape of what arrives at each node (its own shape when nothing arrives, except
    matrices, which take ``weight.shape[1]`` inputs)."""
    out = {n: shapes[n] for n in graph.nodes}
    for n, node in graph.nodes.items():
        if isinstance(node, (P.Affine, P.Linear)):
            out[n] = (int(np.shape(node.weight)[1]),)
    for e in graph.edges:
        out[e.target] = shapes[e.source]
    return out


# ============================================================================ the module
def _key(name: str) -> str:
    """ModuleDict key of a node: '.' is not allowed there, and a prefix keeps names
    like 'pop' or 'keys' from clashing with ModuleDict's own attributes."""
    return "node_" + name.replace(".", "__")


class SpikecoreModule(nn.Module):
    """A lowered graph. ``module(x) -> (outputs, state)`` over ``[batch, steps, ...]``.

    Call it with one tensor (graph with one Input) or a dict by Input name, each
    ``[batch, steps, *shape]``. ``outputs`` is one tensor ``[batch, steps, *shape]`` when
    the graph has one Output node, else a dict by Output name. Pass the returned
    ``state`` back in to continue a run. ``record=`` (``True``, ``"spikes"``, ``"v"``,
    ``"i"``, ``"node:what"`` or a list of those) stores every asked-for spike train and
    state trace in :attr:`recording` (``node -> name -> [batch, steps, *shape]``).

    :meth:`step` is the single-step form; :func:`graph_step` the pure function behind it.
    """

    def __init__(self, graph: Graph, opts: BuildOptions):
        super().__init__()
        self.graph = graph
        self.opts = opts
        self.semantics = graph.semantics
        shapes = graph.shapes()
        self.shapes = shapes
        in_shapes = _input_shapes(graph, shapes)
        self.ops = nn.ModuleDict()
        self.names = list(graph.topological_order())
        keys = [_key(n) for n in self.names]
        if len(set(keys)) != len(keys):
            raise SpikecoreError(f"graph {graph.name!r}: node names collide once '.' is "
                                 "replaced by '__'; rename the nodes")
        for n in self.names:
            node = graph.nodes[n]
            self.ops[_key(n)] = BUILDERS[type(node)].op(n, node, in_shapes[n], shapes[n], opts)
        self.op: dict[str, NodeOp] = {n: self.ops[_key(n)] for n in self.names}
        self.incoming: dict[str, list[tuple[str, int]]] = {n: [] for n in self.names}
        for e in graph.edges:
            self.incoming[e.target].append((e.source, int(e.delay_steps)))
        self.depth: dict[str, int] = {}
        for e in graph.edges:
            if e.delay_steps:
                self.depth[e.source] = max(self.depth.get(e.source, 0), int(e.delay_steps))
        self.input_names = graph.input_names
        self.output_names = graph.output_names
        # Static prefix: Inputs and stateless nodes whose every source is static.
        static: set[str] = set()
        changed = True
        while changed:
            changed = False
            for n in self.names:
                op = self.op[n]
                if n in static or op.kind == "stateful":
                    continue
                if isinstance(graph.nodes[n], P.Input) or (
                        self.incoming[n] and all(s in static for s, _ in self.incoming[n])):
                    static.add(n)
                    changed = True
        self.static = [n for n in self.names if n in static]
        self.dynamic = [n for n in self.names if n not in static]
        if opts.event_driven:
            for n in self.names:
                op = self.op[n]
                if isinstance(op, AffineOp) and len(self.incoming[n]) == 1:
                    src = self.incoming[n][0][0]
                    op.event_driven = self.op[src].spiking and n not in static
        self.recording: dict[str, dict[str, torch.Tensor]] = {}

    # ------------------------------------------------------------------ helpers
    @property
    def dtype(self) -> torch.dtype:
        """The float dtype of the parameters (follows ``module.double()`` etc.)."""
        for t in (*self.parameters(), *self.buffers()):
            if t.is_floating_point():
                return t.dtype
        return self.opts.dtype

    @property
    def device(self) -> torch.device:
        for t in self.buffers():
            return t.device
        for t in self.parameters():
            return t.device
        return torch.device("cpu")

    def _apply(self, fn, *args, **kwargs):
        self._dtype_device = None  # .to()/.double()/.cuda() change them
        return super()._apply(fn, *args, **kwargs)

    def prepare(self) -> dict[str, Any]:
        """Per-forward tensors derived from the parameters, by node (the ``params`` of
        :func:`graph_step`)."""
        # dtype/device walk every parameter; fix them once per forward for the step loop.
        self._dtype_device = (self.dtype, self.device)
        return {n: self.op[n].prepare() for n in self.names}

    def init_state(self, batch: int = 1) -> State:
        """Initial state: neurons at ``v_initial`` (``i = 0``), delay buffers at 0."""
        nodes = {n: self.op[n].init_state(batch) for n in self.names}
        hist = {s: tuple(self._zeros(batch, self.shapes[s]) for _ in range(d))
                for s, d in self.depth.items()}
        return {"nodes": nodes, "hist": hist}

    def _zeros(self, batch: int, shape: Shape) -> torch.Tensor:
        dtype, device = getattr(self, "_dtype_device", None) or (self.dtype, self.device)
        return torch.zeros((batch, *shape), dtype=dtype, device=device)

    def _inputs(self, x: Any, steps: int | None) -> tuple[dict[str, torch.Tensor], int, int]:
        if x is None:
            x = {}
        if not isinstance(x, Mapping):
            if len(self.input_names) != 1:
                raise InputError(f"graph {self.graph.name!r} has Input nodes "
                                 f"{self.input_names}: pass a dict {{name: tensor}}")
            x = {self.input_names[0]: x}
        unknown = sorted(set(x) - set(self.input_names))
        missing = sorted(set(self.input_names) - set(x))
        if unknown or missing:
            raise InputError(f"graph {self.graph.name!r}: inputs do not match its Input nodes "
                             f"{self.input_names}; unknown: {unknown}; missing: {missing}")
        out = {}
        for n in self.input_names:
            t = torch.as_tensor(x[n], device=self.device).to(self.dtype)
            shape = self.shapes[n]
            if t.dim() == len(shape) + 1:
                t = t.unsqueeze(0)
            if t.dim() != len(shape) + 2 or tuple(t.shape[2:]) != tuple(shape):
                raise InputError(f"input {n!r}: got shape {tuple(t.shape)}, expected "
                                 f"[batch, steps, {', '.join(map(str, shape))}]")
            out[n] = t
        if out:
            batches = {t.shape[0] for t in out.values()}
            lengths = {t.shape[1] for t in out.values()}
            if len(batches) > 1 or len(lengths) > 1:
                raise InputError(f"inputs disagree in batch size or length: "
                                 f"{ {k: tuple(v.shape[:2]) for k, v in out.items()} }")
            batch, length = batches.pop(), lengths.pop()
            if steps is not None and steps != length:
                raise InputError(f"steps={steps} but the inputs have {length} steps")
            return out, batch, length
        if steps is None:
            raise InputError(f"graph {self.graph.name!r} has no Input node: give steps=...")
        return out, 1, int(steps)

    # ------------------------------------------------------------------ running
    def forward(self, x: Any = None, state: State | None = None,
                record: Any = None, steps: int | None = None, batch: int | None = None
                ) -> tuple[torch.Tensor | dict[str, torch.Tensor], State]:
        inputs, b, T = self._inputs(x, steps)
        if not inputs and batch is not None:
            b = int(batch)
        plan = self._plan(record)
        state = self.init_state(b) if state is None else state
        prep = self.prepare()
        outputs, state, rec = _run(self, prep, inputs, state, b, T, plan)
        self.recording = rec
        if len(self.output_names) == 1:
            return outputs[self.output_names[0]], state
        return outputs, state

    def run(self, x: Any = None, state: State | None = None, record: Any = None,
            steps: int | None = None, batch: int | None = None
            ) -> tuple[dict[str, torch.Tensor], State, dict[str, dict[str, torch.Tensor]]]:
        """Like ``forward`` but always returns ``(outputs dict, state, recording)``."""
        inputs, b, T = self._inputs(x, steps)
        if not inputs and batch is not None:
            b = int(batch)
        state = self.init_state(b) if state is None else state
        outputs, state, rec = _run(self, self.prepare(), inputs, state, b, T,
                                   self._plan(record))
        self.recording = rec
        return outputs, state, rec

    def step(self, x: Any, state: State | None = None
             ) -> tuple[dict[str, torch.Tensor], State]:
        """One step: ``x`` is ``[batch, *shape]`` (or a dict by Input name); returns the
        outputs of every Output node at this step and the new state."""
        if not isinstance(x, Mapping):
            x = {self.input_names[0]: x} if self.input_names else {}
        x = {k: torch.as_tensor(v, device=self.device).to(self.dtype) for k, v in x.items()}
        b = next(iter(x.values())).shape[0] if x else 1
        state = self.init_state(b) if state is None else state
        return graph_step(self, self.prepare(), x, state)

    def _plan(self, record: Any) -> dict[str, tuple[str, ...]]:
        if record is None or record is False:
            return {}
        from ..simulate import record_plan

        if record is True or record == "all":
            record = ("spikes", "v", "i")
        return record_plan(self.graph, record)

    def extra_repr(self) -> str:
        return (f"graph={self.graph.name!r}, {self.semantics.describe()}, "
                f"static={self.static}")


def _gather(m: SpikecoreModule, n: str, t: int, outs: Mapping[str, torch.Tensor],
            seqs: Mapping[str, torch.Tensor], hist: Mapping[str, tuple],
            hist0: Mapping[str, tuple], batch: int) -> torch.Tensor:
    """``x_n[t]``: the sum of what the incoming edges deliver at step ``t``."""
    x = None
    for src, d in m.incoming[n]:
        if d == 0:
            y = outs[src] if src in outs else seqs[src][:, t]
        elif src in seqs:  # static source: its whole sequence is known
            y = seqs[src][:, t - d] if t >= d else hist0[src][d - t - 1]
        else:
            y = hist[src][d - 1]
        x = y if x is None else x + y
    if x is None:
        x = m._zeros(batch, m.op[n].in_shape)
    return x


def _shifted(seq: torch.Tensor, d: int, past: tuple) -> torch.Tensor:
    """``seq`` delayed by ``d`` steps, the first ``d`` steps taken from ``past`` (most
    recent first)."""
    if d == 0:
        return seq
    prefix = torch.stack(tuple(reversed(past[:d])), dim=1)
    return torch.cat((prefix, seq), dim=1)[:, : seq.shape[1]]


def _run(m: SpikecoreModule, prep: Mapping[str, Any], inputs: Mapping[str, torch.Tensor],
         state: State, batch: int, T: int, plan: Mapping[str, tuple[str, ...]]):
    hist0 = state["hist"]
    nstate = dict(state["nodes"])
    hist = dict(hist0)
    seqs: dict[str, torch.Tensor] = {}
    # 1) the static prefix, all steps at once
    for n in m.static:
        op = m.op[n]
        if n in inputs:
            seqs[n] = inputs[n]
            continue
        x = None
        for src, d in m.incoming[n]:
            y = _shifted(seqs[src], d, hist0.get(src, ()))
            x = y if x is None else x + y
        if isinstance(op, PassOp):
            seqs[n] = x
        else:
            flat = x.reshape(batch * T, *op.in_shape)
            seqs[n] = op.apply(flat, prep[n]).reshape(batch, T, *op.out_shape)
    # 2) the time loop over the rest
    rec: dict[str, dict[str, list]] = {n: {w: [] for w in plan[n]} for n in plan
                                       if n in m.dynamic}
    out_lists: dict[str, list] = {n: [] for n in m.output_names if n not in seqs}
    dyn = [(n, m.op[n], prep[n]) for n in m.dynamic]
    pushes = [s for s in m.depth if s not in seqs]
    for t in range(T):
        outs: dict[str, torch.Tensor] = {}
        for n, op, p in dyn:
            x = _gather(m, n, t, outs, seqs, hist, hist0, batch)
            y, st = op.step(x, nstate.get(n, ()), p)
            outs[n] = y
            if st:
                nstate[n] = st
            if n in rec:
                r = rec[n]
                for w in r:
                    r[w].append(y if w == "spikes" else st[op.state_names.index(w)])
        for s in pushes:
            hist[s] = (outs[s], *hist[s][:-1])
        for n, lst in out_lists.items():
            lst.append(outs[n])
    # 3) buffers of static sources for a later call
    for s, depth in m.depth.items():
        if s in seqs:
            last = [seqs[s][:, T - 1 - k] for k in range(min(T, depth))]
            hist[s] = tuple((last + list(hist0[s]))[:depth])
    outputs = {n: (seqs[n] if n in seqs else torch.stack(out_lists[n], 1))
               for n in m.output_names}
    recording: dict[str, dict[str, torch.Tensor]] = {}
    for n, whats in plan.items():
        if n in rec:
            recording[n] = {w: torch.stack(v, 1) if v else m._zeros(batch, (0,))
                            for w, v in rec[n].items()}
        elif n in seqs and "spikes" in whats:
            recording[n] = {"spikes": seqs[n]}
    return outputs, {"nodes": nstate, "hist": hist}, recording


def graph_step(m: SpikecoreModule, params: Mapping[str, Any], x: Mapping[str, torch.Tensor],
               state: State) -> tuple[dict[str, torch.Tensor], State]:
    """The pure per-step function ``(x, state, params) -> (outputs, state)``.

    ``params`` is ``m.prepare()`` (coefficients and weights as tensors); ``x`` maps each
    Input name to ``[batch, *shape]``. Nothing in ``m`` or ``state`` is modified.
    """
    batch = next(iter(x.values())).shape[0] if x else next(
        (s[0].shape[0] for s in state["nodes"].values() if s), 1)
    outs: dict[str, torch.Tensor] = {}
    nstate = dict(state["nodes"])
    hist = dict(state["hist"])
    for n in m.names:
        op = m.op[n]
        if n in m.input_names:
            outs[n] = x[n]
            continue
        inc = None
        for src, d in m.incoming[n]:
            y = outs[src] if d == 0 else state["hist"][src][d - 1]
            inc = y if inc is None else inc + y
        if inc is None:
            inc = m._zeros(batch, op.in_shape)
        y, st = op.step(inc, nstate.get(n, ()), params[n])
        outs[n] = y
        if st:
            nstate[n] = st
    for s, d in m.depth.items():
        hist[s] = (outs[s], *state["hist"][s][: d - 1])
    return {n: outs[n] for n in m.output_names}, {"nodes": nstate, "hist": hist}


# ============================================================================ API
def to_torch(graph: Graph, dtype: torch.dtype = torch.float32,
             device: str | torch.device | None = None, *,
             surrogate: str = "superspike", surrogate_scale: float | None = None,
             trainable: Iterable[str] | str = DEFAULT_TRAINABLE, detach_reset: bool = False,
             event_driven: bool = False) -> SpikecoreModule:
    """Lower ``graph`` to a stateful, batched :class:`SpikecoreModule`.

    Args:
        graph: a spikecore graph with semantics (nested graphs are flattened).
        dtype: parameter and state dtype; ``torch.float64`` reproduces the contract's
            spikes exactly.
        device: where the module lives (default CPU; nothing moves to a GPU unless asked).
        surrogate: pseudo-derivative of the spike in training: ``"superspike"``,
            ``"atan"``, ``"sigmoid"``, ``"triangle"`` or ``"heaviside"`` (none).
        surrogate_scale: the surrogate's steepness (default per surrogate).
        trainable: names of NIR parameters that become ``nn.Parameter`` (the rest are
            buffers): default the weights (``weight``, ``bias``, ``scale``); add
            ``tau``, ``tau_mem``, ``tau_syn``, ``v_threshold``, ``v_leak``, ``r``,
            ``w_in``, ``v_reset``, ``threshold``; or ``"all"``.
        detach_reset: stop the gradient through the reset (as e-prop assumes).
        event_driven: Linear/Affine nodes fed by spikes accumulate only the rows of
            ``W^T`` of active inputs (fast when few neurons spike, batch 1).

    Raises :class:`~spikecore.errors.UnsupportedError` listing every node it cannot lower.
    """
    if not isinstance(graph, Graph):
        raise SpikecoreError(f"to_torch expects a spikecore.Graph, got {type(graph).__name__}")
    graph.validate()
    module = _lower(graph.flatten(), dtype, device, surrogate, surrogate_scale, trainable,
                    detach_reset, event_driven)
    module.source_graph = graph
    return module


def _lower(flat: Graph, dtype: torch.dtype, device: str | torch.device | None,
           surrogate: str = "superspike", surrogate_scale: float | None = None,
           trainable: Iterable[str] | str = DEFAULT_TRAINABLE, detach_reset: bool = False,
           event_driven: bool = False) -> SpikecoreModule:
    """:func:`to_torch` for a graph that is already flat and validated."""
    problems = check_graph(flat)
    if problems:
        raise UnsupportedError(
            f"backend 'norse' cannot lower {len(problems)} item(s) of graph {flat.name!r}:",
            problems)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise SpikecoreError(f"dtype={dtype!r}: expected a torch floating dtype, e.g. "
                             "torch.float32 or torch.float64")
    if trainable == "all":
        names = frozenset(DEFAULT_TRAINABLE + _NEURON_PARAMS + ("threshold",))
    elif isinstance(trainable, str):
        names = frozenset((trainable,))
    else:
        names = frozenset(trainable)
    known = set(DEFAULT_TRAINABLE + _NEURON_PARAMS + ("threshold",))
    if names - known:
        raise SpikecoreError(f"trainable={sorted(names - known)}: unknown parameter name(s); "
                             f"choose from {sorted(known)} or 'all'")
    opts = BuildOptions(
        semantics=flat.semantics, dtype=dtype,
        device=torch.device(device) if device is not None else None,
        trainable=names, spike=spike_function(surrogate, surrogate_scale),
        detach_reset=bool(detach_reset), event_driven=bool(event_driven))
    module = SpikecoreModule(flat, opts)
    module.source_graph = flat
    if device is not None:
        module.to(device)
    return module


def from_torch(module: nn.Module, name: str | None = None) -> Graph:
    """The graph of a module made by :func:`to_torch`, with its current (trained)
    parameter values written back as float64 arrays. Structure (nesting included), edge
    delays, semantics and metadata are those of the graph given to :func:`to_torch`."""
    if not isinstance(module, SpikecoreModule):
        raise SpikecoreError(
            f"from_torch expects a module made by spikecore.to_torch, got "
            f"{type(module).__name__}; export other torch modules with nirtorch and read "
            "the file with spikecore.read(path, dialect=...)")
    exported = {n: module.op[n].export() for n in module.names}
    return _rebuild(module.source_graph, exported, "", name)


def _rebuild(graph: Graph, exported: Mapping[str, P.NIRNode], prefix: str,
             name: str | None = None) -> Graph:
    """``graph`` with each primitive replaced by its exported version (nested graphs
    rebuilt as fresh objects, so a subgraph used twice gets both sets of values)."""
    nodes: dict[str, Any] = {}
    for n, node in graph.nodes.items():
        if isinstance(node, Graph):
            nodes[n] = _rebuild(node, exported, f"{prefix}{n}.")
        else:
            nodes[n] = exported.get(prefix + n, copy.deepcopy(node))
    return Graph(nodes, list(graph.edges), graph.semantics, name or graph.name,
                 dict(graph.metadata))


# ============================================================================ backend
class NorseBackend:
    """``simulate(..., backend="norse")``: the graph as a torch module, float64 by
    default (option ``dtype=torch.float32``), CPU unless ``device=`` is given."""

    name = "norse"

    def __init__(self) -> None:
        self._availability: Availability | None = None

    def availability(self) -> Availability:
        if self._availability is not None:
            return self._availability
        try:
            import norse

            norse_version = norse.__version__
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            norse_version = f"not importable ({type(exc).__name__}: {exc})"
        try:
            self._availability = Availability(
                self.name, True, f"torch {torch.__version__}, norse {norse_version}",
                reason=_tiny_run())
        except Exception as exc:  # noqa: BLE001 - any failure means unavailable
            self._availability = Availability(
                self.name, False, f"torch {getattr(torch, '__version__', '?')}",
                reason=f"a 3-step LIF run failed: {type(exc).__name__}: {exc}",
                fix="pip install 'torch==2.13.0' (CPU build) and norse==1.1.0")
        return self._availability

    def supported(self) -> dict[str, str]:
        return {t.__name__: b.note for t, b in sorted(BUILDERS.items(),
                                                      key=lambda kv: kv[0].__name__)}

    def check(self, graph: Graph, **options: Any) -> list[str]:
        problems = check_graph(graph)
        unknown = sorted(set(options) - set(_RUN_OPTIONS))
        if unknown:
            problems.append(f"option(s) {unknown} not understood by backend 'norse'; "
                            f"known: {sorted(_RUN_OPTIONS)}")
        return problems

    def run(self, graph: Graph, inputs: dict[str, np.ndarray], steps: int,
            record: RecordPlan, **options: Any) -> Result:
        dtype = options.get("dtype", torch.float64)
        device = options.get("device")
        t0 = time.perf_counter()
        module = _lower(graph, dtype=dtype, device=device,
                        event_driven=bool(options.get("event_driven", False)))
        x = {k: torch.as_tensor(v, dtype=dtype, device=module.device)
             for k, v in inputs.items()}
        batch = next(iter(x.values())).shape[0] if x else 1
        build = time.perf_counter() - t0
        t1 = time.perf_counter()
        with torch.no_grad():
            outputs, _, rec = module.run(x, record=None, steps=steps, batch=batch) if not \
                record else module.run(x, record=[f"{n}:{w}" for n, ws in record.items()
                                                  for w in ws], steps=steps, batch=batch)
        wall = time.perf_counter() - t1
        res = Result(dt=float(graph.semantics.dt), backend=self.name, wall_time=wall,
                     build_time=build,
                     info={"dtype": str(dtype), "device": str(module.device),
                           "static_prefix": list(module.static)})
        for n, whats in rec.items():
            for w, a in whats.items():
                arr = a.detach().cpu().numpy()
                if w == "spikes":
                    res.spikes[n] = arr.astype(bool)
                else:
                    res.traces.setdefault(n, {})[w] = arr.astype(np.float64)
        res.outputs = {n: o.detach().cpu().numpy().astype(np.float64)
                       for n, o in outputs.items()}
        return res


_RUN_OPTIONS = ("dtype", "device", "event_driven")


def _tiny_run() -> str:
    """Run one LIF neuron for 3 steps against the contract; returns what was checked."""
    sem = Semantics(dt=1e-3)
    lif = P.LIF(tau=np.array([0.01]), r=np.array([1.0]), v_leak=np.array([0.0]),
                v_threshold=np.array([0.5]), v_reset=np.array([0.0]))
    g = Graph({"in": P.Input(np.array([1])), "lif": lif, "out": P.Output(np.array([1]))},
              [("in", "lif"), ("lif", "out")], sem, name="availability")
    m = to_torch(g, dtype=torch.float64)
    x = torch.full((1, 3, 1), 3.0, dtype=torch.float64)  # spikes at step 1 only
    with torch.no_grad():
        z, _ = m(x)
    co = neuron_coefficients(lif, sem)
    i = v = co.v_initial
    expect = []
    for _ in range(3):
        zz, i, v = _np_step(co, i, v, np.array([3.0]))
        expect.append(float(zz[0]))
    got = [float(a) for a in z[0, :, 0]]
    if got != expect or sum(got) != 1:
        raise RuntimeError(f"spikes {got} != contract {expect}")
    return f"3-step LIF run matched the contract (spikes {got})"


def _np_step(co, i, v, x):
    from ..discrete import neuron_step

    return neuron_step(co, i, v, x)



# Extension primitives register their builders into BUILDERS (kept in their own module).
from . import norse_extensions as _extensions  # noqa: E402,F401
