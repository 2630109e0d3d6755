"""The torch backend: a spikecore graph as a stateful, batched ``torch.nn.Module``.

:func:`to_torch` lowers a graph to a :class:`SpikecoreModule`; ``simulate(...,
backend="torch")`` runs that module in float64 (:class:`~.backend.TorchBackend`);
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
      z[t] = v[t] > v_threshold   (training: surrogate(v[t] - v_threshold), same 0/1)
      v[t] = (1 - z)*v[t] + z*v_reset        (to_value; exact for z in {0, 1})
      v[t] = v[t] - z*(v_threshold - v_reset) (subtract)

  computed by :func:`spikecore.discrete.neuron_step` itself (``xp=torch``), so in
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
* Norse's ``SuperSpike`` backward ignores its ``alpha``; see :mod:`.surrogate`.

Norse is still used: the tests run Norse's functions to prove the readings above, and
``benchmarks/bench_norse.py`` measures Norse's modules next to this one.

The per-node torch operations (:class:`~.ops.NodeOp` and the NIR primitives' ops; the
neuron op runs the contract's own :func:`spikecore.discrete.neuron_step` with
``xp=torch``) are in :mod:`.ops`; the lowering table is :mod:`.registry`; this module
holds the stateful module that runs the ops and the conversions; :mod:`.backend` the
backend.

Device: CPU unless ``device=`` is given (``to_torch(g, device="cuda")``); nothing moves
to a GPU on its own. Recording: ``module(x, record=...)`` fills ``module.recording``.
Training: surrogate gradients from :mod:`.surrogate`; e-prop in :mod:`.eprop`.

Speed: the "static prefix" of a graph (Inputs and stateless nodes fed only by them, e.g.
the input projection ``W_in x``) is evaluated for all steps at once before the time
loop; optional event-driven Linear/Affine nodes accumulate only the rows of ``W^T`` of
the neurons that spiked (``event_driven=True``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from ... import primitives as P
from ...errors import InputError, SpikecoreError, UnsupportedError
from ...graph import Graph, delay_steps_of
from ...layout import needs_swap
from ...names import safe_identifiers
from ...numerics import NonFinite, earliest, first_nonfinite
from ..base import no_lowering
from .devices import as_input_tensor, resolve_device
from .ops import (
    DEFAULT_TRAINABLE,
    NEURON_PARAMS,
    AffineOp,
    BuildOptions,
    NodeOp,
    PassOp,
    Shape,
    State,
)
from .registry import BUILDERS
from .surrogate import spike_function


def check_graph(graph: Graph) -> list[str]:
    """Every node or parameter of the flat ``graph`` this backend cannot lower."""
    problems: list[str] = []
    shapes = graph.shapes()
    in_shapes = _input_shapes(graph, shapes)
    supported = [t.__name__ for t in BUILDERS]
    for n in sorted(graph.nodes):
        node = graph.nodes[n]
        b = BUILDERS.get(type(node))
        if b is None:
            problems.append(no_lowering(n, node, supported))
        elif b.check is not None:
            problems += b.check(n, node, in_shapes[n], graph.semantics)
    dt = float(graph.semantics.dt)
    for n, node in sorted(graph.nodes.items()):
        if isinstance(node, P.Delay):
            d = int(np.max(delay_steps_of(node, dt), initial=0))
            if d > MAX_DELAY_STEPS:
                problems.append(f"{n!r} (Delay): {d} steps of delay > {MAX_DELAY_STEPS}, the "
                                "deepest history this backend keeps (one tensor per step)")
    for e in graph.edges:
        if e.delay_steps > MAX_DELAY_STEPS:
            problems.append(f"edge {e.source!r} -> {e.target!r}: delay {e.delay_steps} steps "
                            f"> {MAX_DELAY_STEPS}, the deepest history this backend keeps")
    return problems


#: Deepest delay (steps) the torch lowering keeps: its histories hold one tensor per step
#: of delay and stack them every step, so cost grows with the depth.
MAX_DELAY_STEPS = 10_000


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
        # ModuleDict keys may not contain '.'; the prefix keeps names like 'pop' or 'keys'
        # from clashing with ModuleDict's own attributes.
        self.op_keys = safe_identifiers(self.names, "node_")
        for n in self.names:
            node = graph.nodes[n]
            self.ops[self.op_keys[n]] = BUILDERS[type(node)].op(n, node, in_shapes[n], shapes[n],
                                                             opts)
        self.op: dict[str, NodeOp] = {n: self.ops[self.op_keys[n]] for n in self.names}
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
        #: First NaN/inf of the last ``run(..., check_every=k)`` (None: none, or unchecked).
        self.nonfinite: NonFinite | None = None

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

    def normalize_inputs(self, x: Any, steps: int | None,
                         layout: str | None = None
                         ) -> tuple[dict[str, torch.Tensor], int, int]:
        """``x`` (one tensor, or a dict by Input name) as ``name -> [batch, steps,
        *shape]`` tensors in the module's dtype and device, with the batch size and the
        number of steps; raises :class:`InputError` when they do not fit the graph."""
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
            t = as_input_tensor(x[n], f"input {n!r}", self.dtype, self.device)
            shape = self.shapes[n]
            if needs_swap(tuple(t.shape), len(shape), layout, f"input {n!r}"):
                t = t.transpose(0, 1)
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
                record: Any = None, steps: int | None = None, batch: int | None = None,
                layout: str | None = None
                ) -> tuple[torch.Tensor | dict[str, torch.Tensor], State]:
        """``layout="tbn"``: inputs are ``[steps, batch, ...]`` (Norse, snnTorch) and the
        outputs come back the same way; default ``[batch, steps, ...]``
        (:mod:`spikecore.layout`)."""
        inputs, b, T = self.normalize_inputs(x, steps, layout)
        if not inputs and batch is not None:
            b = int(batch)
        plan = self._plan(record)
        state = self.init_state(b) if state is None else state
        prep = self.prepare()
        outputs, state, rec = _run(self, prep, inputs, state, b, T, plan)
        self.recording = rec
        if layout == "tbn":
            outputs = {k: v.transpose(0, 1) for k, v in outputs.items()}
        if len(self.output_names) == 1:
            return outputs[self.output_names[0]], state
        return outputs, state

    def run(self, x: Any = None, state: State | None = None, record: Any = None,
            steps: int | None = None, batch: int | None = None, check_every: int = 0,
            progress: Callable[[int], Any] | None = None, layout: str | None = None
            ) -> tuple[dict[str, torch.Tensor], State, dict[str, dict[str, torch.Tensor]]]:
        """Like ``forward`` but always returns ``(outputs dict, state, recording)``.

        ``check_every=k > 0``: look for NaN/inf in every state and sent value once per
        ``k`` steps (one device sync each) and store the first one, located to its step,
        node, state and element, in :attr:`nonfinite`. ``progress(done)``: called after
        every step with the steps done (see :class:`spikecore.progress.Progress`).
        ``layout``: of the inputs only (outputs and recording are ``[batch, steps, ...]``)."""
        inputs, b, T = self.normalize_inputs(x, steps, layout)
        if not inputs and batch is not None:
            b = int(batch)
        state = self.init_state(b) if state is None else state
        found: list[NonFinite] = []
        outputs, state, rec = _run(self, self.prepare(), inputs, state, b, T,
                                   self._plan(record), check_every, found, progress)
        self.recording = rec
        self.nonfinite = found[0] if found else None
        return outputs, state, rec

    def step(self, x: Any, state: State | None = None
             ) -> tuple[dict[str, torch.Tensor], State]:
        """One step: ``x`` is ``[batch, *shape]`` (or a dict by Input name); returns the
        outputs of every Output node at this step and the new state."""
        if not isinstance(x, Mapping):
            x = {self.input_names[0]: x} if self.input_names else {}
        x = {k: as_input_tensor(v, f"input {k!r}", self.dtype, self.device)
             for k, v in x.items()}
        b = next(iter(x.values())).shape[0] if x else 1
        state = self.init_state(b) if state is None else state
        return graph_step(self, self.prepare(), x, state)

    def _plan(self, record: Any) -> dict[str, tuple[str, ...]]:
        if record is None or record is False:
            return {}
        from ...simulate import record_plan

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
         state: State, batch: int, T: int, plan: Mapping[str, tuple[str, ...]],
         check_every: int = 0, found: list | None = None,
         progress: Callable[[int], Any] | None = None):
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

    def advance(t: int, nstate: dict, hist: dict, keep: bool) -> dict[str, torch.Tensor]:
        outs: dict[str, torch.Tensor] = {}
        for n, op, p in dyn:
            x = _gather(m, n, t, outs, seqs, hist, hist0, batch)
            y, st = op.step(x, nstate.get(n, ()), p)
            outs[n] = y
            if st:
                nstate[n] = st
            if keep and n in rec:
                r = rec[n]
                for w in r:
                    r[w].append(y if w == "spikes" else st[op.state_names.index(w)])
        for s in pushes:
            hist[s] = (outs[s], *hist[s][:-1])
        if keep:
            for n, lst in out_lists.items():
                lst.append(outs[n])
        return outs

    # Finiteness: every state and sent value once per block (one sync); a bad block is
    # replayed from its start (states are never modified in place, so a shallow copy of
    # the dicts is the snapshot) checking after every step.
    checking = check_every > 0 and found is not None
    start, snapshot = 0, (dict(nstate), dict(hist))
    for t in range(T):
        outs = advance(t, nstate, hist, True)
        if progress is not None:
            progress(t + 1)
        if checking and ((t + 1) % check_every == 0 or t == T - 1):
            if not _all_finite(nstate, outs):
                ns, hs = dict(snapshot[0]), dict(snapshot[1])
                for tt in range(start, t + 1):
                    bad = _first_bad(m, ns, advance(tt, ns, hs, False), tt)
                    if bad is not None:
                        found.append(bad)
                        break
                checking = False
            start, snapshot = t + 1, (dict(nstate), dict(hist))
    if check_every > 0 and found is not None:
        bad = earliest(first_nonfinite(seqs[n].detach().cpu().numpy(), n, "y")
                       for n in m.static if n not in inputs and seqs[n].is_floating_point())
        if bad is not None and (not found or bad.step <= found[0].step):
            found[:] = [bad]
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


def _tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value] if value.is_floating_point() else []
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in _tensors(v)]
    return []


def _all_finite(nstate: Mapping[str, Any], outs: Mapping[str, torch.Tensor]) -> bool:
    """Whether every float state and sent value is finite: one sync for all of them."""
    flags = [torch.isfinite(t).all() for v in (*nstate.values(), *outs.values())
             for t in _tensors(v)]
    return bool(torch.stack(flags).all()) if flags else True


def _first_bad(m: SpikecoreModule, nstate: Mapping[str, Any],
               outs: Mapping[str, torch.Tensor], t: int) -> NonFinite | None:
    """The first non-finite state (nodes in topological order, states before the sent
    value) after step ``t``, located to its batch entry and element."""
    for n in m.dynamic:
        op = m.op[n]
        st = nstate.get(n, ())
        st = st if isinstance(st, tuple) else (st,)
        named = [(op.state_names[k] if k < len(op.state_names) else f"state{k}", v)
                 for k, v in enumerate(st)]
        named.append(("y", outs.get(n)))
        for name, value in named:
            for k, tensor in enumerate(_tensors(value)):
                if bool(torch.isfinite(tensor).all()):
                    continue
                a = tensor.detach().cpu().numpy()
                label = name if k == 0 else f"{name}[{k}]"
                return first_nonfinite(a[:, None], n, label, a.shape[1:], step_offset=t)
    return None


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
    module = lower(graph.flatten(), dtype, device, surrogate, surrogate_scale, trainable,
                    detach_reset, event_driven)
    module.source_graph = graph
    return module


def lower(flat: Graph, dtype: torch.dtype, device: str | torch.device | None,
           surrogate: str = "superspike", surrogate_scale: float | None = None,
           trainable: Iterable[str] | str = DEFAULT_TRAINABLE, detach_reset: bool = False,
           event_driven: bool = False) -> SpikecoreModule:
    """:func:`to_torch` for a graph that is already flat and validated."""
    problems = check_graph(flat)
    if problems:
        raise UnsupportedError(
            f"backend 'torch' cannot lower {len(problems)} item(s) of graph {flat.name!r}:",
            problems)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise SpikecoreError(f"dtype={dtype!r}: expected a torch floating dtype, e.g. "
                             "torch.float32 or torch.float64")
    if trainable == "all":
        names = frozenset(DEFAULT_TRAINABLE + NEURON_PARAMS + ("threshold",))
    elif isinstance(trainable, str):
        names = frozenset((trainable,))
    else:
        names = frozenset(trainable)
    known = set(DEFAULT_TRAINABLE + NEURON_PARAMS + ("threshold",))
    if names - known:
        raise SpikecoreError(f"trainable={sorted(names - known)}: unknown parameter name(s); "
                             f"choose from {sorted(known)} or 'all'")
    opts = BuildOptions(
        semantics=flat.semantics, dtype=dtype,
        device=resolve_device(device),
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
    delays, semantics and metadata are those of the graph given to :func:`to_torch`.
    A ``DistributedDataParallel`` (or ``DataParallel``) wrapper is looked through."""
    if isinstance(module, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
        module = module.module  # data-parallel training wraps the spikecore module
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


def detach_state(state: Any) -> Any:
    """``state`` (as returned by ``module(x)``) with every tensor detached: carry it into
    the next chunk without back-propagating into the previous one (truncated BPTT, FPTT,
    data-parallel chunks). Tensors, mappings, named tuples, tuples and lists are walked."""
    if isinstance(state, torch.Tensor):
        return state.detach()
    if isinstance(state, Mapping):
        return {k: detach_state(v) for k, v in state.items()}
    if isinstance(state, tuple) and hasattr(state, "_fields"):  # named tuple states
        return type(state)(*(detach_state(v) for v in state))
    if isinstance(state, (tuple, list)):
        return type(state)(detach_state(v) for v in state)
    return state
