"""Brian2 backend: spikecore's reference simulation, discrete and continuous.

Every node of the flat graph becomes one Brian2 ``NeuronGroup`` holding ``batch * n``
elements (sample ``b``, element ``j`` at index ``b * n + j``), whose variable ``y`` is
what the node sends. A step of the contract is realised inside one Brian2 time step by
giving every object its own slot: node number ``k`` of ``graph.topological_order()`` owns
the ``order`` values ``100 * (k + 1) + 0..99`` of the ``groups`` slot, so zero-delay
feed-forward chains settle within one step, in topological order.

Within a node's slot (discrete mode)::

    +0..9    summed-variable updaters (linear maps from non-spiking sources)
    +10      run_regularly: the node's update, e.g. for neurons
               isyn = a_syn*isyn + b_syn*x
               v    = a_mem*v + k_old*isyn_old + k_new*isyn + k_x*x + c_v
               y    = 0 (spiking) or v
    +20      thresholder   v > v_threshold   (spiking nodes)
    +30      resetter      v = v_reset  or  v = v - (v_threshold - v_reset);  y = 1
    +40..    synaptic pathways (linear maps from spiking sources: y_post += w)

The coefficients are those of :func:`spikecore.discrete.neuron_coefficients`, stored as
per-neuron parameters (``shared`` scalars when uniform), so the lowering cannot drift
from the contract. A node's input ``x`` is a subexpression summing linked variables, one
per incoming edge: the source's ``y`` or, for an edge delayed by ``d`` steps, the history
copy ``y_h<d>`` (= y[t - d]; copies shift at the start of every step). A delay-1 edge into
a node evaluated before its source reads ``y`` itself, which still holds last step's
value. Spiking sources feed linear maps through spike queues instead, delayed by ``d``
(``d - 1`` when the target is evaluated first: the queue is filled at the target's slot).

Two shortcuts in discrete mode, neither changing a value nor the order of additions: an
Input whose values are all 0/1 and which only feeds maps through spike queues (and is not
recorded) is a ``SpikeGeneratorGroup`` emitting in its thresholder's place; a linear map
without bias fed only by spike queues, whose one consumer is a neuron reading its ``y``
directly, has no group of its own: its pathways add into the neuron's variable ``x_k``,
which the neuron's update reads and then clears (as the map's ``y = 0`` did).

Continuous mode integrates the NIR ODEs with Brian2's exact (linear) solver, with units
(v in volt, currents in amp, r in ohm, time constants in second), on an internal step
``dt / substeps``. Inputs are held for the whole graph step (``input_meaning='current'``)
or arrive as a pulse of area ``x * dt`` in the last internal step of the graph step
(``'increment'``). A spike is a pulse of height ``substeps`` for one internal step, i.e.
area ``dt``: one spike carries the same charge as in the discrete contract. Edge and
Delay-node delays are ``delay_steps * substeps`` internal steps. The threshold is checked
once per internal step, so spike times are quantised to ``dt / substeps``. An Output
node reports the average over each graph step of what reaches it. With ``substeps=1``
and ``input_meaning='current'`` continuous mode equals the discrete contract under
``integrator='exact'``.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import primitives as P
from ..discrete import NEURON_TYPES, neuron_coefficients
from ..graph import Graph, delay_steps_of
from ..result import Result
from .base import Availability, RecordPlan
from .brian2_maps import MAP_BUILDERS, LinearMap

MODES = ("discrete", "continuous")
TARGETS = ("numpy", "cython", "cpp_standalone")
REPORTS = ("text", "stdout", "stderr")
#: Largest lag (in internal steps) realised with history variables; each lag level costs
#: one variable and one copy per element and step.
MAX_HISTORY = 256
#: Slot width per node in the ``order`` of Brian2's ``groups`` slot.
SLOT = 100
OPTION_HELP = {
    "mode": "'discrete' (default: the semantics contract step for step) or 'continuous' "
            "(the NIR ODEs integrated exactly)",
    "codegen_target": "'numpy' (default), 'cython' (compiled, cached) or 'cpp_standalone'",
    "cache_dir": "directory for compiled code (cython) and standalone projects; default "
                 "$SPIKECORE_CACHE_DIR/brian2 or ~/.cache/spikecore/brian2",
    "progress": "False (default), True/'text'/'stdout'/'stderr', or a Brian2 report "
                "callable(elapsed, completed, start, duration)",
    "substeps": "continuous mode only: internal Brian2 steps per graph step (int >= 1, "
                "default 1); spike times are resolved to dt/substeps",
}


def default_cache_dir() -> Path:
    """Where compiled Brian2 code is kept unless ``cache_dir=`` says otherwise."""
    root = os.environ.get("SPIKECORE_CACHE_DIR")
    base = Path(root) if root else Path.home() / ".cache" / "spikecore"
    return base / "brian2"


# ============================================================================ lowering
@dataclass(frozen=True)
class _In:
    """One incoming edge as the target sees it."""

    source: str
    lag: int        # spike-queue delay in internal steps: the edge delay, minus one if
                    # the target is evaluated before the source within a step
    var: str        # source variable to read: "y" or the history copy "y_h<delay>"
    event: bool     # delivered by a spike-triggered pathway instead of a summed variable


def _unit_line(name: str, values: np.ndarray, unit: str) -> tuple[str, bool]:
    """Declaration of a constant parameter: shared when uniform (cheaper, same value)."""
    flat = np.asarray(values, np.float64).ravel()
    shared = bool(flat.size) and bool(np.all(flat == flat[0]))
    flags = "shared, constant" if shared else "constant"
    return f"{name} : {unit} ({flags})", shared


class _Lowering:
    """Builds the Brian2 objects of one run. Nothing here touches Brian2 globals except
    through the caller's device/preference context."""

    def __init__(self, graph: Graph, inputs: Mapping[str, np.ndarray], steps: int,
                 record: RecordPlan, mode: str, substeps: int):
        import brian2 as b2

        self.b2 = b2
        self.graph = graph
        self.sem = graph.semantics
        self.mode = mode
        self.S = int(substeps)
        self.dt = float(self.sem.dt)
        self.h = self.dt / self.S
        self.steps = steps
        self.inputs = inputs
        self.record = record
        self.B = next(iter(inputs.values())).shape[0] if inputs else 1
        self.order = graph.topological_order()
        self.pos = {n: k for k, n in enumerate(self.order)}
        self.shapes = graph.shapes()
        self.size = {n: int(math.prod(s)) for n, s in self.shapes.items()}
        self.clock = b2.Clock(self.h * b2.second, name="spikecore_clock")
        self.record_clock = self.clock if self.S == 1 else b2.Clock(
            self.dt * b2.second, name="spikecore_record_clock")
        # Fixed, deterministic object names: they appear in the generated code, so equal
        # graphs give equal code and hit Brian2's compiled-code cache.
        self.bname: dict[str, str] = {}
        for n in self.order:
            base = _b2_name(n)
            self.bname[n] = base if base not in self.bname.values() else f"{base}_{len(self.bname)}"
        self.groups: dict[str, Any] = {}
        self.objects: list[Any] = []
        self.namespace: dict[str, Any] = {}
        self.deferred: list[Callable[[], None]] = []
        self.history: dict[str, dict[str, int]] = {n: {} for n in graph.nodes}
        self.incoming: dict[str, list[_In]] = {n: [] for n in graph.nodes}
        self.events_from: set[str] = set()
        self.spike_monitors: dict[str, Any] = {}
        self.state_monitors: dict[str, Any] = {}
        self._plan_edges()
        self.spike_inputs = self._plan_spike_inputs()
        #: fused linear map -> (neuron, index k of its input variable x_k)
        self.fused: dict[str, tuple[str, int]] = self._plan_fusion()
        self.fused_into: dict[str, dict[int, str]] = {}
        for lin, (neuron, k) in self.fused.items():
            self.fused_into.setdefault(neuron, {})[k] = lin

    # ------------------------------------------------------------------ planning
    def emits_spikes(self, name: str) -> bool:
        return P.SPECS[type(self.graph.nodes[name])].spiking

    def is_sparse_input(self, name: str) -> bool:
        data = self.inputs.get(name)
        return data is not None and np.count_nonzero(data) <= 0.5 * data.size

    def _plan_edges(self) -> None:
        for e in self.graph.edges:
            steps = e.delay_steps * self.S
            lag = steps if self.pos[e.source] < self.pos[e.target] else steps - 1
            linear = type(self.graph.nodes[e.target]) in MAP_BUILDERS
            src = self.graph.nodes[e.source]
            event = linear and (
                self.emits_spikes(e.source)
                or (isinstance(src, P.Input) and lag == 0 and self.is_sparse_input(e.source))
            )
            # History copies are shifted at the start of a step, so y_h<k> = y[t - k]
            # whatever the order; only a direct read of y depends on it.
            if lag > 0 and not event:
                hist = self.history[e.source]
                hist["y"] = max(hist.get("y", 0), steps)
            if event:
                self.events_from.add(e.source)
            var = "y" if (lag == 0 or event) else f"y_h{steps}"
            self.incoming[e.target].append(_In(e.source, lag, var, event))

    def _plan_spike_inputs(self) -> set[str]:
        """Inputs realised as a ``SpikeGeneratorGroup`` (discrete mode): all values 0/1,
        read only through spike pathways, not recorded. A value-1 element then is a spike
        and ``w * y_pre`` is ``w``; no per-step TimedArray read or thresholder is needed."""
        out = set()
        if self.mode != "discrete":
            return out
        for name, data in self.inputs.items():
            outs = [e for ins in self.incoming.values() for e in ins if e.source == name]
            if (outs and all(e.event for e in outs) and name not in self.record
                    and not self.history[name] and np.all((data == 0) | (data == 1))):
                out.add(name)
        return out

    def _plan_fusion(self) -> dict[str, tuple[str, int]]:
        """Linear maps fed only by spike pathways whose one consumer is a (discrete)
        neuron reading ``y`` directly: their pathways add straight into the neuron's input
        variable ``x_k``, which the neuron clears after its update. Same values, same
        order of additions, one group and one per-step update fewer."""
        fused: dict[str, tuple[str, int]] = {}
        if self.mode != "discrete":
            return fused
        for name in self.order:
            node = self.graph.nodes[name]
            if type(node) not in MAP_BUILDERS or name in self.record or self.history[name]:
                continue
            ins = self.incoming[name]
            if not ins or not all(e.event for e in ins):
                continue
            if getattr(node, "bias", None) is not None and np.any(np.asarray(node.bias) != 0):
                continue
            outs = [(t, k) for t, tins in self.incoming.items()
                    for k, e in enumerate(tins) if e.source == name]
            if len(outs) != 1:
                continue
            target, k = outs[0]
            e = self.incoming[target][k]
            if type(self.graph.nodes[target]) in NEURON_TYPES and e.lag == 0 and e.var == "y":
                fused[name] = (target, k)
        return fused

    def slot(self, name: str, sub: int) -> int:
        return SLOT * (self.pos[name] + 1) + sub

    # ------------------------------------------------------------------ groups
    def input_lines(self, name: str) -> list[str]:
        """Linked variables for the incoming edges and ``x``, their sum."""
        ins = self.incoming[name]
        fused = self.fused_into.get(name, {})
        # A fused input is the neuron's own variable, filled by the map's pathways.
        lines = [f"x_{k} : 1" if k in fused else f"x_{k} : 1 (linked)"
                 for k in range(len(ins))]
        total = " + ".join(f"x_{k}" for k in range(len(ins))) or "0"
        lines.append(f"x = {total} : 1")

        def link() -> None:
            g = self.groups[name]
            for k, e in enumerate(ins):
                if k not in fused:
                    setattr(g, f"x_{k}", self.b2.linked_var(self.groups[e.source], e.var))

        self.deferred.append(link)
        return lines

    def make_group(self, name: str, lines: list[str], params: Mapping[str, tuple] = (),
                   threshold: str | None = None, reset: str | None = None,
                   method: str | None = None, extra_history: Mapping[str, int] = (),
                   refractory: str | bool = False) -> Any:
        """A group of ``batch * size`` elements with ``y``, the given equations, the
        parameters ``{name: (per-sample values, unit)}``, history copies and spike
        machinery placed in this node's slot."""
        b2 = self.b2
        n = self.size[name]
        hist = dict(self.history[name])
        hist.update(extra_history)
        eqs = ["y : 1", *lines]
        shared = {}
        for p, (values, unit) in dict(params).items():
            line, shared[p] = _unit_line(p, values, unit)
            eqs.append(line)
        for var, depth in hist.items():
            eqs += [f"{var}_h{k} : {'1'}" for k in range(1, depth + 1)]
        kwargs: dict[str, Any] = {} if method is None else {"method": method}
        if refractory is not False:  # Brian2's refractoriness (continuous extensions)
            kwargs["refractory"] = refractory
        if threshold is not None and reset is None:
            reset = ""  # an event source without reset (Threshold, Input): not a bug
        g = b2.NeuronGroup(self.B * n, "\n".join(eqs), threshold=threshold, reset=reset,
                           clock=self.clock, name=self.bname[name], **kwargs)
        for p, (values, unit) in dict(params).items():
            arr = np.asarray(values, np.float64)
            arr = arr.ravel() if arr.size == n else np.broadcast_to(arr, self.shapes[name]).ravel()
            u = b2.Unit(1) if unit == "1" else getattr(b2, unit)
            setattr(g, p, (arr[0] if shared[p] else np.tile(arr, self.B)) * u)
        if threshold is not None:
            g.thresholder["spike"].when = "groups"
            g.thresholder["spike"].order = self.slot(name, 20)
        if reset:
            g.resetter["spike"].when = "groups"
            g.resetter["spike"].order = self.slot(name, 30)
        elif threshold is not None:
            # reset="" only silenced Brian2's missing-reset warning: drop the empty
            # resetter so it is neither compiled nor run every step.
            g.contained_objects.remove(g.resetter.pop("spike"))
        shifts = []
        for var, depth in hist.items():
            shifts += [f"{var}_h{k} = {var}_h{k - 1}" for k in range(depth, 1, -1)]
            shifts.append(f"{var}_h1 = {var}")
        if shifts:
            g.run_regularly("\n".join(shifts), when="start", order=0, clock=self.clock,
                            name=self.bname[name] + "__history")
        self.groups[name] = g
        self.objects.append(g)
        return g

    def timed_array(self, data: np.ndarray) -> str:
        """Name of a new ``TimedArray`` (step ``dt``) holding ``data`` ``[batch, steps,
        *shape]``: row ``t``, column ``b * n + j`` (the group's element order)."""
        name = f"sc_input_{len(self.namespace)}"
        values = data.reshape(self.B, self.steps, -1).transpose(1, 0, 2).reshape(self.steps, -1)
        self.namespace[name] = self.b2.TimedArray(np.ascontiguousarray(values),
                                                  dt=self.dt * self.b2.second, name=name)
        return name

    def update(self, name: str, code: str, sub: int = 10) -> None:
        self.groups[name].run_regularly(code, when="groups", order=self.slot(name, sub),
                                        clock=self.clock,
                                        name=self.bname[name] + f"__update{sub}")

    # ------------------------------------------------------------------ build
    def build(self) -> list[Any]:
        for name in self.order:
            node = self.graph.nodes[name]
            BUILDERS[type(node)].build(self, name, node)
        for fn in self.deferred:
            fn()
        self._monitors()
        return self.objects

    def _monitors(self) -> None:
        b2 = self.b2
        for name, what in self.record.items():
            g = self.groups[name]
            if "spikes" in what:
                m = b2.SpikeMonitor(g, when="end", name=self.bname[name] + "__spikes")
                self.spike_monitors[name] = m
                self.objects.append(m)
        for name in self.graph.nodes:
            variables = [_STATE_VARS[s] for s in self.record.get(name, ()) if s != "spikes"]
            if isinstance(self.graph.nodes[name], P.Output):
                variables.append("y")
            if variables:
                # Recorded at the start of the next step = the end of this one (after
                # reset); the first record (t = 0) is dropped. The run lasts one internal
                # step longer so the last step is recorded too.
                m = b2.StateMonitor(self.groups[name], variables, record=True, when="start",
                                    order=-1, clock=self.record_clock,
                                    name=self.bname[name] + "__states")
                self.state_monitors[name] = m
                self.objects.append(m)

    # ------------------------------------------------------------------ readout
    def collect(self) -> tuple[dict, dict, dict]:
        spikes, traces, outputs = {}, {}, {}
        internal_steps = self.steps * self.S
        for name, m in self.spike_monitors.items():
            n = self.size[name]
            idx = np.asarray(m.i[:], dtype=np.int64)
            ts = np.rint(np.asarray(m.t[:], dtype=np.float64) / self.h).astype(np.int64)
            keep = ts < internal_steps
            z = np.zeros((self.B, self.steps, n), dtype=bool)
            z[idx[keep] // n, ts[keep] // self.S, idx[keep] % n] = True
            spikes[name] = z.reshape(self.B, self.steps, *self.shapes[name])
        for name, m in self.state_monitors.items():
            n = self.size[name]
            for var in m.record_variables:
                vals = np.asarray(getattr(m, var), dtype=np.float64)[:, 1:self.steps + 1]
                vals = vals.reshape(self.B, n, self.steps).transpose(0, 2, 1)
                vals = vals.reshape(self.B, self.steps, *self.shapes[name])
                if var == "y":
                    outputs[name] = vals
                else:
                    traces.setdefault(name, {})[_STATE_NAMES[var]] = vals
        return spikes, traces, outputs


_STATE_VARS = {"v": "v", "i": "isyn"}  # Brian2 reserves ``i`` (the neuron index)
_STATE_NAMES = {v: k for k, v in _STATE_VARS.items()}


def _b2_name(node_name: str) -> str:
    safe = "".join(c if c.isalnum() else "_" for c in node_name)
    return f"sc_{safe}"


# ============================================================================ builders
@dataclass(frozen=True)
class Lowerer:
    """How one primitive type is lowered.

    ``build(lowering, name, node)`` creates the node's group and updates; ``problems(
    graph, name, node, options)`` lists what cannot be lowered (one line each)."""

    build: Callable[[_Lowering, str, Any], None]
    note: str
    problems: Callable[[Graph, str, Any, Mapping[str, Any]], list[str]] | None = None


def _build_input(low: _Lowering, name: str, node: Any) -> None:
    data = low.inputs[name]  # [batch, steps, *shape]
    if name in low.spike_inputs:
        # Element b * n + j spikes at step t where input[b, t, j] == 1, emitted in the
        # thresholder's place of this node's slot.
        b, t, j = np.nonzero(data.reshape(low.B, low.steps, -1))
        g = low.b2.SpikeGeneratorGroup(low.B * low.size[name], b * low.size[name] + j,
                                       t * low.dt * low.b2.second, clock=low.clock,
                                       when="groups", order=low.slot(name, 20),
                                       name=low.bname[name])
        low.groups[name] = g
        low.objects.append(g)
        return
    ta_name = low.timed_array(data)
    threshold = "y != 0" if name in low.events_from else None
    low.make_group(name, [], threshold=threshold)
    if low.mode == "continuous" and low.sem.input_meaning == "increment":
        code = f"y = {ta_name}(t, i) * {low.S} * int(t_in_timesteps % {low.S} == {low.S - 1})"
    else:
        code = f"y = {ta_name}(t, i)"
    low.update(name, code)


def _build_output(low: _Lowering, name: str, node: Any) -> None:
    low.make_group(name, low.input_lines(name))
    if low.mode == "continuous":
        # Average over the graph step of what arrives: restart at each step's first
        # internal step.
        low.update(name, f"y = y * int(t_in_timesteps % {low.S} != 0) + x / {low.S}")
    else:
        low.update(name, "y = x")


def _build_identity(low: _Lowering, name: str, node: Any) -> None:
    # Flatten keeps row-major element order: the flat index does not change.
    low.make_group(name, low.input_lines(name))
    low.update(name, "y = x")


def _build_scale(low: _Lowering, name: str, node: Any) -> None:
    low.make_group(name, low.input_lines(name),
                   params={"s": (P.param(node, "scale"), "1")})
    low.update(name, "y = s * x")


def _build_threshold(low: _Lowering, name: str, node: Any) -> None:
    low.make_group(name, low.input_lines(name), params={"thr": (P.param(node, "threshold"),
                                                                 "1")},
                   threshold="y > 0.5")
    low.update(name, "y = int(x > thr)")


def _build_delay(low: _Lowering, name: str, node: Any) -> None:
    lags = np.broadcast_to(delay_steps_of(node, low.dt), low.shapes[name]) * low.S
    depth = int(lags.max()) if lags.size else 0
    lines = [*low.input_lines(name), "xin : 1", "kd : integer (constant)"]
    g = low.make_group(name, lines, extra_history={"xin": depth} if depth else {})
    g.kd = np.tile(lags.ravel(), low.B)
    terms = [("xin" if k == 0 else f"xin_h{k}") + f" * int(kd == {k})"
             for k in sorted(set(lags.ravel().tolist()))]
    low.update(name, "xin = x\ny = " + " + ".join(terms))


def _build_linear(low: _Lowering, name: str, node: Any) -> None:
    ins = low.incoming[name]
    in_shape = low.shapes[ins[0].source] if ins else None
    if in_shape is None:  # no input: the map still needs its input shape
        in_shape = _declared_input_shape(node)
    m: LinearMap = MAP_BUILDERS[type(node)](node, tuple(in_shape))
    summed = [k for k, e in enumerate(ins) if not e.event]
    target, var = name, "y"
    if name in low.fused:
        neuron, kx = low.fused[name]
        target, var = neuron, f"x_{kx}"
    else:
        lines = [f"s_{k} : 1" for k in summed]
        bias = m.bias if m.bias is not None and np.any(m.bias != 0) else None
        params = {"bias": (bias, "1")} if bias is not None else {}
        low.make_group(name, lines, params=params)
        terms = (["bias"] if bias is not None else []) + [f"s_{k}" for k in summed]
        low.update(name, "y = " + (" + ".join(terms) or "0"))

    def connect() -> None:
        b2 = low.b2
        m_pre, m_post, m_w = m.pre, m.post, m.w
        if m_pre.size == 0:
            # An all-zero map (e.g. coupling 0): Brian2 cannot connect empty index arrays,
            # so one synapse of weight 0 keeps the pathway (and summed variables) defined.
            m_pre, m_post, m_w = np.zeros(1, int), np.zeros(1, int), np.zeros(1)
        offs_in = np.arange(low.B)[:, None] * m.n_in
        offs_out = np.arange(low.B)[:, None] * m.n_out
        pre = (offs_in + m_pre[None, :]).ravel()
        post = (offs_out + m_post[None, :]).ravel()
        for k, e in enumerate(ins):
            src = low.groups[e.source]
            w = m_w
            if e.event:
                spiking = low.emits_spikes(e.source)
                height = low.S if (spiking and _is_neuron(low.graph.nodes[e.source])
                                   and low.mode == "continuous") else 1
                w = w * height if height != 1 else w
                unit = spiking or e.source in low.spike_inputs
                on_pre = f"{var}_post += w" + ("" if unit else " * y_pre")
                syn = b2.Synapses(src, low.groups[target], "w : 1 (constant)", on_pre=on_pre,
                                  delay=e.lag * low.h * b2.second, clock=low.clock,
                                  name=low.bname[name] + f"__in{k}")
                path = syn._pathways[0]
                path.when = "groups"
                path.order = low.slot(name, 40 + k)
            else:
                syn = b2.Synapses(src, low.groups[name],
                                  f"w : 1 (constant)\ns_{k}_post = w * {e.var}_pre : 1 (summed)",
                                  clock=low.clock, name=low.bname[name] + f"__in{k}")
                for upd in syn.summed_updaters.values():
                    upd.when = "groups"
                    upd.order = low.slot(name, k % 10)
            syn.connect(i=pre, j=post)
            syn.w = np.tile(w, low.B)
            low.objects.append(syn)

    low.deferred.append(connect)


def _declared_input_shape(node: Any) -> tuple[int, ...]:
    t = node.input_type.get("input") if getattr(node, "input_type", None) else None
    return P.as_shape(t)


#: Spiking types whose continuous-mode spikes are pulses of height ``substeps`` for one
#: internal step (area ``dt``): the Linear lowering scales their event weights by
#: ``substeps``. Extension lowerings with a continuous builder add their types.
PULSE_TYPES: set[type] = set(NEURON_TYPES)


def _is_neuron(node: Any) -> bool:
    return type(node) in PULSE_TYPES


def reset_code(reset: str, v_reset: np.ndarray, amount: np.ndarray, params: dict,
               extra: str = "") -> str:
    """The resetter's code of a discrete spiking neuron (``v`` to ``v_reset``, or minus
    ``amount``; ``y = 1`` marks the spike), adding its parameters to ``params``."""
    if reset == "to_value":
        params["v_rs"] = (v_reset, "1")
        return "v = v_rs\ny = 1" + extra
    params["v_amt"] = (amount, "1")
    return "v = v - v_amt\ny = 1" + extra


def _build_neuron(low: _Lowering, name: str, node: Any) -> None:
    if low.mode == "continuous":
        _build_neuron_continuous(low, name, node)
        return
    shape = low.shapes[name]
    co = neuron_coefficients(node, low.sem, shape)
    lines = [*low.input_lines(name), "v : 1"]
    params: dict[str, tuple] = {"a_mem": (co.a_mem, "1")}
    code = []
    if co.has_current:
        lines.append("isyn : 1")
        params.update(a_syn=(co.a_syn, "1"), b_syn=(co.b_syn, "1"))
        if np.any(co.k_old):
            code.append("isyn_old = isyn")
        code.append("isyn = a_syn * isyn + b_syn * x")
    # Terms in neuron_step's order; all-zero coefficients are left out (adding +0 is exact).
    v_terms = ["a_mem * v"]
    for coef, term in (("k_old", "isyn_old"), ("k_new", "isyn"), ("k_x", "x"), ("c_v", "1")):
        values = getattr(co, "c" if coef == "c_v" else coef)
        if np.any(values):
            params[coef] = (values, "1")
            v_terms.append(coef if term == "1" else f"{coef} * {term}")
    code.append("v = " + " + ".join(v_terms))
    # Fused inputs were read above; clear them for the pathways of the coming step.
    code += [f"x_{k} = 0" for k in sorted(low.fused_into.get(name, {}))]
    threshold = reset = None
    if co.spiking:
        params["v_th"] = (co.v_threshold, "1")
        threshold = "v > v_th"
        reset = reset_code(co.reset, co.v_reset, co.reset_amount, params)
        code.append("y = 0")
    else:
        code.append("y = v")
    g = low.make_group(name, lines, params=params, threshold=threshold, reset=reset)
    g.v = np.tile(co.v_initial.ravel(), low.B)
    low.update(name, "\n".join(code))


def _equal_time_constants(node: Any, shape) -> np.ndarray:
    return np.isclose(P.param(node, "tau_syn", shape), P.param(node, "tau_mem", shape),
                      rtol=1e-9, atol=0.0)


def _build_neuron_continuous(low: _Lowering, name: str, node: Any) -> None:
    shape = low.shapes[name]
    t = type(node)
    par = lambda p: P.param(node, p, shape)  # noqa: E731
    lines = low.input_lines(name)
    params: dict[str, tuple] = {"r": (par("r"), "ohm")}
    v0 = np.zeros(shape)
    if t in (P.I, P.IF):
        # NIR: v' = R I. spikecore reads it with time in seconds (the discrete contract
        # v += dt * r * x), so the equation carries an explicit 1 s.
        lines.append("dv/dt = r * (x * amp) / second : volt")
    elif t in (P.LI, P.LIF):
        params.update(tau=(par("tau"), "second"), v_leak=(par("v_leak"), "volt"))
        lines.append("dv/dt = (v_leak - v + r * (x * amp)) / tau : volt")
        v0 = par("v_leak")
    else:
        tau_syn = "tau_mem" if np.all(_equal_time_constants(node, shape)) else "tau_syn"
        params.update(tau_mem=(par("tau_mem"), "second"), v_leak=(par("v_leak"), "volt"),
                      w_in=(par("w_in"), "1"))
        if tau_syn == "tau_syn":
            params["tau_syn"] = (par("tau_syn"), "second")
        lines += [f"disyn/dt = (w_in * (x * amp) - isyn) / {tau_syn} : amp",
                  "dv/dt = (v_leak - v + r * isyn) / tau_mem : volt"]
        v0 = par("v_leak")
    spiking = P.SPECS[t].spiking
    threshold = reset = None
    if spiking:
        params["v_th"] = (par("v_threshold"), "volt")
        threshold = "v > v_th"
        if low.sem.reset == "to_value":
            params["v_rs"] = (par("v_reset"), "volt")
            reset = f"v = v_rs\ny = {low.S}"
        else:
            params["v_amt"] = (par("v_threshold") - par("v_reset"), "volt")
            reset = f"v = v - v_amt\ny = {low.S}"
    # v' = R I does not depend on v: forward Euler is its exact solution (and Brian2's
    # symbolic solvers reject it as it does not depend on a state variable).
    method = "euler" if t in (P.I, P.IF) else "exact"
    g = low.make_group(name, lines, params=params, threshold=threshold, reset=reset,
                       method=method)
    g.v = np.tile(v0.ravel(), low.B) * low.b2.volt
    g.state_updater.when = "groups"
    g.state_updater.order = low.slot(name, 5)
    low.update(name, "y = 0" if spiking else "y = v / volt")


def _continuous_neuron_problems(graph: Graph, name: str, node: Any,
                                options: Mapping[str, Any]) -> list[str]:
    if options.get("mode", "discrete") != "continuous":
        return []
    if type(node) not in (P.CubaLI, P.CubaLIF):
        return []
    eq = _equal_time_constants(node, graph.shapes()[name])
    if np.any(eq) and not np.all(eq):
        return [f"{name!r} ({P.type_name(node)}): continuous mode needs tau_syn == tau_mem "
                "for all elements or for none (the exact solution differs between the two "
                f"cases); {int(eq.sum())} of {eq.size} are equal; split the node in two"]
    return []


def _delay_problems(graph: Graph, name: str, node: Any, options: Mapping[str, Any]) -> list[str]:
    lag = int(delay_steps_of(node, float(graph.semantics.dt)).max(initial=0))
    lag *= int(options.get("substeps", 1) or 1)
    if lag > MAX_HISTORY:
        return [f"{name!r} (Delay): {lag} internal steps of delay exceed the limit of "
                f"{MAX_HISTORY} history copies; use fewer substeps or shorter delays"]
    return []


def _linear_problems(graph: Graph, name: str, node: Any, options: Mapping[str, Any]
                     ) -> list[str]:
    if isinstance(node, P.Conv2d) and isinstance(node.padding, str) and node.padding == "same":
        stride = np.atleast_1d(np.asarray(node.stride))
        if np.any(stride != 1):
            return [f"{name!r} (Conv2d): padding='same' needs stride 1 (as in torch), got "
                    f"stride={node.stride!r}"]
    if isinstance(node, P.Conv1d) and isinstance(node.padding, str) and node.padding == "same":
        if np.any(np.atleast_1d(np.asarray(node.stride)) != 1):
            return [f"{name!r} (Conv1d): padding='same' needs stride 1 (as in torch), got "
                    f"stride={node.stride!r}"]
    return []


_NEURON_NOTE = ("discrete: the contract's update with spikecore.discrete coefficients as "
                "per-neuron parameters; continuous: exact integration of the NIR ODE with "
                "units")
_MAP_NOTE = "index-mapped Synapses (summed variable, or on_pre pathway for spiking sources)"

#: primitive type -> how it is lowered. Anything not here is reported by ``check``.
BUILDERS: dict[type, Lowerer] = {
    P.Input: Lowerer(_build_input, "TimedArray per batch element and step (0/1 inputs "
                     "feeding only maps: SpikeGeneratorGroup)"),
    P.Output: Lowerer(_build_output, "recorded every step (continuous: step average)"),
    P.Flatten: Lowerer(_build_identity, "identity on row-major flat indices"),
    P.Scale: Lowerer(_build_scale, "y = scale * x per element"),
    P.Threshold: Lowerer(_build_threshold, "y = x > threshold (0/1), recorded as spikes"),
    P.Delay: Lowerer(_build_delay, "per-element delay in whole steps (history copies, "
                     f"up to {MAX_HISTORY} internal steps)", _delay_problems),
    P.Affine: Lowerer(_build_linear, _MAP_NOTE + ", bias per output"),
    P.Linear: Lowerer(_build_linear, _MAP_NOTE),
    P.Conv1d: Lowerer(_build_linear, _MAP_NOTE + "; torch conv1d semantics", _linear_problems),
    P.Conv2d: Lowerer(_build_linear, _MAP_NOTE + "; torch conv2d semantics", _linear_problems),
    P.SumPool2d: Lowerer(_build_linear, _MAP_NOTE + "; window sum"),
    P.AvgPool2d: Lowerer(_build_linear, _MAP_NOTE + "; window mean, count_include_pad=True"),
    **{t: Lowerer(_build_neuron, _NEURON_NOTE, _continuous_neuron_problems)
       for t in NEURON_TYPES},
}


# ============================================================================ options
def _option_problems(options: Mapping[str, Any]) -> list[str]:
    out = []
    for k in sorted(set(options) - set(OPTION_HELP)):
        out.append(f"option {k!r} is unknown; brian2 options: "
                   + "; ".join(f"{name}: {help_}" for name, help_ in OPTION_HELP.items()))
    mode = options.get("mode", "discrete")
    if mode not in MODES:
        out.append(f"option mode={mode!r}: expected one of {MODES}")
    target = options.get("codegen_target", "numpy")
    if target not in TARGETS:
        out.append(f"option codegen_target={target!r}: expected one of {TARGETS}")
    sub = options.get("substeps", 1)
    if isinstance(sub, bool) or not isinstance(sub, (int, np.integer)) or sub < 1:
        out.append(f"option substeps={sub!r}: expected an integer >= 1")
    elif sub != 1 and mode == "discrete":
        out.append(f"option substeps={sub!r}: only meaningful with mode='continuous' "
                   "(discrete mode advances exactly one step of the contract per dt)")
    cache = options.get("cache_dir")
    if cache is not None and not isinstance(cache, (str, os.PathLike)):
        out.append(f"option cache_dir={cache!r}: expected a path (str or os.PathLike)")
    progress = options.get("progress", False)
    if not (isinstance(progress, bool) or progress is None or progress in REPORTS
            or callable(progress)):
        out.append(f"option progress={progress!r}: expected a bool, one of {REPORTS} or a "
                   "callable")
    return out


def _edge_problems(graph: Graph, options: Mapping[str, Any]) -> list[str]:
    sub = options.get("substeps", 1)
    sub = sub if isinstance(sub, (int, np.integer)) and sub >= 1 else 1
    out = []
    for e in graph.edges:
        if e.delay_steps * sub > MAX_HISTORY:
            out.append(f"edge {e.source!r} -> {e.target!r}: delay of {e.delay_steps * sub} "
                       f"internal steps exceeds the limit of {MAX_HISTORY} history copies")
    return out


@contextmanager
def brian_context(target: str, cache_dir: Path):
    """Set Brian2's code-generation preferences for one run and restore them after;
    for cpp_standalone, switch the device and reset it afterwards."""
    import brian2 as b2

    prefs = b2.prefs
    saved = {k: prefs[k] for k in ("codegen.target", "codegen.runtime.cython.cache_dir",
                                   "codegen.loop_invariant_optimisations")}
    project = None
    try:
        prefs["codegen.target"] = "numpy" if target == "cpp_standalone" else target
        if target == "cython":
            cache_dir.mkdir(parents=True, exist_ok=True)
            prefs["codegen.runtime.cython.cache_dir"] = str(cache_dir / "cython")
        if target == "cpp_standalone":
            cache_dir.mkdir(parents=True, exist_ok=True)
            project = tempfile.mkdtemp(prefix="standalone_", dir=cache_dir)
            b2.set_device("cpp_standalone", build_on_run=False, directory=project)
        yield project
    finally:
        if target == "cpp_standalone":
            from brian2.devices.device import reset_device

            b2.get_device().reinit()
            reset_device("runtime")
            if project is not None:
                shutil.rmtree(project, ignore_errors=True)
        for k, v in saved.items():
            prefs[k] = v


# ============================================================================ backend
class Brian2Backend:
    """spikecore graphs on Brian2 (``name = "brian2"``); see the module docstring."""

    name = "brian2"

    def __init__(self) -> None:
        self._availability: Availability | None = None

    def availability(self) -> Availability:
        """Runs a 2-neuron network once per process (cached afterwards)."""
        if self._availability is None:
            self._availability = self._probe()
        return self._availability

    def _probe(self) -> Availability:
        try:
            import brian2 as b2

            with brian_context("numpy", default_cache_dir()):
                clock = b2.Clock(1e-3 * b2.second)
                g = b2.NeuronGroup(2, "dv/dt = (1.5 - v) / (10*ms) : 1", threshold="v > 1",
                                   reset="v = 0", method="exact", clock=clock)
                mon = b2.SpikeMonitor(g)
                b2.Network(g, mon).run(30 * b2.ms, namespace={})
                # v crosses 1 at 10 ms * ln 3 = 11 ms: two spikes per neuron in 30 ms
                if mon.num_spikes != 4:
                    raise RuntimeError(f"test network gave {mon.num_spikes} spikes, expected 4")
            return Availability(self.name, True, version=b2.__version__,
                                reason="ran a 2-neuron network on the numpy target")
        except Exception as exc:  # noqa: BLE001 - the reason is reported, not raised
            return Availability(self.name, False, reason=f"{type(exc).__name__}: {exc}",
                                fix="pip install 'brian2>=2.9,<2.10' (Python 3.11 needs 2.9.x)")

    def supported(self) -> dict[str, str]:
        return {t.__name__: lw.note for t, lw in sorted(BUILDERS.items(),
                                                        key=lambda kv: kv[0].__name__)}

    def check(self, graph: Graph, **options: Any) -> list[str]:
        problems = _option_problems(options)
        names = ", ".join(sorted(t.__name__ for t in BUILDERS))
        for name, node in graph.nodes.items():
            lowerer = BUILDERS.get(type(node))
            if lowerer is None:
                problems.append(f"{name!r} ({P.type_name(node)}): no lowering; supported: "
                                f"{names}")
            elif lowerer.problems is not None:
                problems += lowerer.problems(graph, name, node, options)
        problems += _edge_problems(graph, options)
        return problems

    def run(self, graph: Graph, inputs: dict[str, np.ndarray], steps: int,
            record: RecordPlan, **options: Any) -> Result:
        problems = self.check(graph, **options)
        if problems:
            from ..errors import UnsupportedError

            raise UnsupportedError(f"backend 'brian2' cannot run graph {graph.name!r}:",
                                   problems)
        import brian2 as b2

        mode = options.get("mode", "discrete")
        target = options.get("codegen_target", "numpy")
        substeps = int(options.get("substeps", 1))
        cache_dir = Path(options.get("cache_dir") or default_cache_dir()).expanduser()
        progress = options.get("progress", False)
        report = ("text" if progress is True else progress) or None

        t0 = time.perf_counter()
        with brian_context(target, cache_dir) as project:
            low = _Lowering(graph, inputs, steps, record, mode, substeps)
            objects = low.build()
            net = b2.Network(*objects, name="spikecore_network")
            duration = (steps * substeps + 1) * low.h * b2.second
            t1 = time.perf_counter()
            net.run(duration, namespace=dict(low.namespace), report=report)
            if target == "cpp_standalone":
                b2.get_device().build(directory=project, compile=True, run=True,
                                      with_output=False)
            t2 = time.perf_counter()
            loop = float(getattr(b2.get_device(), "_last_run_time", 0.0) or 0.0)
            spikes, traces, outputs = low.collect()
        wall = loop if 0 < loop <= t2 - t1 else t2 - t1
        return Result(spikes=spikes, traces=traces, outputs=outputs, dt=float(graph.semantics.dt),
                      backend=self.name, wall_time=wall, build_time=(t2 - t0) - wall,
                      info={"mode": mode, "codegen_target": target, "substeps": substeps,
                            "order": list(low.order), "brian2_objects": len(net.objects),
                            "monitors": sorted(m.name for m in (*low.spike_monitors.values(),
                                                                *low.state_monitors.values())),
                            "cache_dir": str(cache_dir)})


# Extension primitives register their lowerings into BUILDERS (kept in their own module).
from . import brian2_extensions as _extensions  # noqa: E402,F401
