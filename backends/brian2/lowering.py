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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ... import primitives as P
from ...discrete import NEURON_TYPES
from ...graph import Graph
from ...names import safe_identifiers
from ..base import RecordPlan
from .maps import MAP_BUILDERS
from .registry import STATE_NAMES, STATE_VARS, lowerer_for

#: Largest lag (in internal steps) realised with history variables; each lag level costs
#: one variable and one copy per element and step.
MAX_HISTORY = 256
#: Slot width per node in the ``order`` of Brian2's ``groups`` slot.
SLOT = 100


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


class Lowering:
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
        self.bname: dict[str, str] = safe_identifiers(self.order, "sc_")
        self.groups: dict[str, Any] = {}
        self.objects: list[Any] = []
        self.namespace: dict[str, Any] = {}
        self.deferred: list[Callable[[], None]] = []
        self.history: dict[str, dict[str, int]] = {n: {} for n in graph.nodes}
        self.incoming: dict[str, list[_In]] = {n: [] for n in graph.nodes}
        self.events_from: set[str] = set()
        self.spike_monitors: dict[str, Any] = {}
        self.state_monitors: dict[str, Any] = {}
        #: node -> state -> (Brian2 object, variable, shape per batch element): states
        #: held outside the node's group (a plastic connection's weights on its Synapses),
        #: element ``b * size + k`` being batch element ``b``, flat index ``k``.
        self.held: dict[str, dict[str, tuple[Any, str, tuple[int, ...]]]] = {}
        #: (node, state) -> monitor of a held state
        self.held_monitors: dict[tuple[str, str], Any] = {}
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
            lowerer_for(type(node), self.mode).build(self, name, node)
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
            held = self.held.get(name, {})
            for s in self.record.get(name, ()):
                if s in held:
                    obj, var, _ = held[s]
                    m = b2.StateMonitor(obj, var, record=True, when="start", order=-1,
                                        clock=self.record_clock,
                                        name=self.bname[name] + f"__held_{s}")
                    self.held_monitors[(name, s)] = m
                    self.objects.append(m)
            variables = [STATE_VARS[s] for s in self.record.get(name, ())
                         if s != "spikes" and s not in held]
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
                    traces.setdefault(name, {})[STATE_NAMES[var]] = vals
        for (name, state), m in self.held_monitors.items():
            shape = self.held[name][state][2]
            vals = np.asarray(getattr(m, m.record_variables[0]), np.float64)[:, 1:self.steps + 1]
            vals = vals.reshape(self.B, math.prod(shape), self.steps).transpose(0, 2, 1)
            traces.setdefault(name, {})[state] = vals.reshape(self.B, self.steps, *shape)
        return spikes, traces, outputs

