"""Intel Loihi 2 as a target: constants, quantisation, fit check and cost estimates.

The arithmetic is that of lava-nc 0.10's bit-accurate models, which Lava states mimic
Loihi bit by bit (``lava/proc/lif/models.py`` ``PyLifModelBitAcc``,
``lava/proc/dense/models.py`` ``PyDenseModelBitAcc``, ``lava/utils/weightutils.py``).
Per step, for a population with integer state ``u``, ``v`` (24-bit)::

    a_in[t] = sum over connections c of  shift(W_c @ s_c[t], weight_exp_c)     (int32)
    u[t]    = wrap24( trunc(u[t-1] * (4096 - (du + 1)) / 2**12) + (a_in[t] << 6) )
    v[t]    = clip24( trunc(v[t-1] * (4096 - dv) / 2**12) + u[t] + (bias_mant << bias_exp) )
    z[t]    = v[t] > (vth << 6);        v[t] = 0 where z[t]

``shift(x, e)`` is ``x << e`` for e > 0 and ``x >> -e`` (floor) otherwise; ``trunc``
rounds toward zero; ``wrap24`` maps ``x > 2**23`` to ``x - 2**24`` and ``x <= -2**23``
to ``x + 2**24`` (once); ``clip24`` clips to ``[-(2**23 - 1), 2**23 - 1]``. Weights are
clipped and truncated per sign mode (mixed: even values in [-256, 254]; excitatory:
[0, 255]; inhibitory: [-255, 0]).

A spikecore neuron node maps onto it exactly when its contract update (see
:mod:`spikecore.discrete`) has the form ``i = a_syn i + b_syn x; v = a_mem v + k_new i +
k_x x + c`` with ``k_old = 0`` (Euler with ``current_first``; exact LIF). In integer
units ``V = s (v - v_off)`` with a power-of-two scale ``s`` per node and ``v_off`` the
reset value (so that Loihi's reset to 0 is the contract's reset to ``v_reset``)::

    u-decay a_syn ~ (4095 - du) / 4096     v-decay a_mem ~ (4096 - dv) / 4096
    W_c * (k_new b_syn or k_x) * s / 64 ~ mantissa * 2**weight_exp   (per connection)
    s (c - (1 - a_mem) v_off)          ~ bias_mant << bias_exp       (per neuron)
    s (v_threshold - v_off) / 64       ~ vth                         (per node)
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from ... import primitives as P
from ...backends.lava.lowering import check_graph as lava_problems
from ...discrete import NEURON_TYPES, neuron_coefficients
from ...errors import InputError, SpikecoreError, UnsupportedError
from ...graph import Graph
from ...result import Result

_LIF_MODELS = "lava-nc 0.10 lava/proc/lif/models.py AbstractPyLifModelFixed"
_DENSE_MODELS = "lava-nc 0.10 lava/proc/dense/models.py AbstractPyDenseModelBitAcc.run_spk"
_WEIGHTUTILS = "lava-nc 0.10 lava/utils/weightutils.py"
_BRIEF = "Intel Loihi 2 technology brief (2021)"


@dataclass(frozen=True)
class HardwareTarget:
    """A neuromorphic chip's numeric formats and capacities. Immutable.

    Every figure is a named field; ``sources`` maps each field name to where the figure
    comes from (a file/function of lava-nc 0.10, or the vendor's brief, or a derivation).
    """

    name: str
    # ---------------------------------------------------------- state formats
    uv_bits: int                 # signed width of u and v
    decay_bits: int              # width of du, dv (unsigned)
    decay_shift: int             # decays act as x * (2**decay_shift - d) >> decay_shift
    du_offset: int               # ds_offset: u decays by (2**12 - (du + du_offset))
    dv_offset: int               # dm_offset
    vth_bits: int                # unsigned threshold mantissa width
    vth_shift: int               # threshold is MSB-aligned: vth << vth_shift
    act_shift: int               # synaptic input is MSB-aligned: a_in << act_shift
    bias_mant_bits: int          # signed bias mantissa width
    bias_exp_bits: int           # unsigned bias exponent width
    # ---------------------------------------------------------- synapses
    weight_bits: int             # weight mantissa width (magnitude, 8 bits)
    weight_exp_min: int
    weight_exp_max: int
    activation_bits: int         # signed width of the dendritic accumulator sent to u
    max_delay_steps: int
    # ---------------------------------------------------------- capacity
    neurocores: int
    neurons_per_chip: int
    synapses_per_chip: int
    neurons_per_core: int
    synapses_per_core: int
    max_fan_in: int
    synapse_bits: int            # memory per stored dense synapse (weight only)
    sources: Mapping[str, str] = field(default_factory=dict)

    def source(self, name: str) -> str:
        return self.sources.get(name, "")

    def __reduce__(self):
        # ``sources`` is a read-only MappingProxyType, which does not pickle: send a dict.
        fields = {f: getattr(self, f) for f in self.__dataclass_fields__}
        fields["sources"] = dict(self.sources)
        return (_target_from_fields, (fields,))

    def describe(self) -> list[str]:
        """One line per figure: ``name = value  (source)``."""
        out = []
        for f in self.__dataclass_fields__:
            if f in ("name", "sources"):
                continue
            out.append(f"{f} = {getattr(self, f)}  ({self.source(f)})")
        return out

    # ------------------------------------------------------- derived ranges
    @property
    def uv_max(self) -> int:
        """2**23: u wraps above it, v saturates at uv_max - 1."""
        return 2 ** (self.uv_bits - 1)

    @property
    def decay_unity(self) -> int:
        return 2 ** self.decay_shift

    @property
    def decay_max(self) -> int:
        return 2 ** self.decay_bits - 1

    @property
    def vth_max(self) -> int:
        return 2 ** self.vth_bits - 1

    @property
    def bias_mant_range(self) -> tuple[int, int]:
        h = 2 ** (self.bias_mant_bits - 1)
        return -h, h - 1

    @property
    def bias_exp_max(self) -> int:
        return 2 ** self.bias_exp_bits - 1

    @property
    def activation_range(self) -> tuple[int, int]:
        h = 2 ** (self.activation_bits - 1)
        return -h, h - 1


def _target_from_fields(fields: dict) -> HardwareTarget:
    """A :class:`HardwareTarget` from its pickled fields (``sources`` read-only again)."""
    return HardwareTarget(**{**fields, "sources": MappingProxyType(dict(fields["sources"]))})


LOIHI2 = HardwareTarget(
    name="loihi2",
    uv_bits=24, decay_bits=12, decay_shift=12, du_offset=1, dv_offset=0,
    vth_bits=17, vth_shift=6, act_shift=6, bias_mant_bits=13, bias_exp_bits=3,
    weight_bits=8, weight_exp_min=-8, weight_exp_max=7, activation_bits=16,
    max_delay_steps=63,
    neurocores=128, neurons_per_chip=1_048_576, synapses_per_chip=120_000_000,
    neurons_per_core=8192, synapses_per_core=937_500, max_fan_in=937_500, synapse_bits=8,
    sources=MappingProxyType({
        "uv_bits": f"{_LIF_MODELS}.__init__: uv_bitwidth = 24 (u, v LavaPyType precision=24)",
        "decay_bits": f"{_LIF_MODELS}: du, dv LavaPyType(np.uint16, precision=12)",
        "decay_shift": f"{_LIF_MODELS}.__init__: decay_shift = 12",
        "du_offset": f"{_LIF_MODELS}.__init__: ds_offset = 1 (so du = 4095 decays u fully)",
        "dv_offset": f"{_LIF_MODELS}.__init__: dm_offset = 0",
        "vth_bits": "lava-nc 0.10 lava/proc/lif/models.py PyLifModelBitAcc docstring: vth "
                    "unsigned 17-bit",
        "vth_shift": f"{_LIF_MODELS}.__init__: vth_shift = 6",
        "act_shift": f"{_LIF_MODELS}.__init__: act_shift = 6",
        "bias_mant_bits": f"{_LIF_MODELS}: bias_mant LavaPyType precision=13",
        "bias_exp_bits": f"{_LIF_MODELS}: bias_exp LavaPyType precision=3",
        "weight_bits": f"{_DENSE_MODELS}: clip_weights(num_bits=8), truncate_weights; "
                       f"{_WEIGHTUTILS} clip_weights/truncate_weights",
        "weight_exp_min": "Loihi weight exponent range -8..7 (NxSDK/Loihi 1 convention; "
                          "Lava's Dense accepts any int, the chip register does not)",
        "weight_exp_max": "Loihi weight exponent range -8..7 (as weight_exp_min)",
        "activation_bits": f"{_DENSE_MODELS}: a_out LavaPyType(np.int32, precision=16)",
        "max_delay_steps": f"{_BRIEF}: synaptic delays 0-63 steps (DESIGN.md §6)",
        "neurocores": f"{_BRIEF}: 128 neuromorphic cores per chip",
        "neurons_per_chip": f"{_BRIEF}: up to 1M neurons per chip (1,048,576 = 128 x 8192)",
        "synapses_per_chip": f"{_BRIEF}: up to 120M synapses per chip",
        "neurons_per_core": "derived: neurons_per_chip / neurocores",
        "synapses_per_core": "derived: synapses_per_chip / neurocores",
        "max_fan_in": "derived: all synapses of one neuron live in its core, so fan-in <= "
                      "synapses_per_core",
        "synapse_bits": "estimate: one 8-bit weight per dense synapse (index/routing "
                        "overheads not modelled)",
    }),
)

#: name -> target, for ``spikecore check --target NAME``.
TARGETS: dict[str, HardwareTarget] = {"loihi2": LOIHI2}

#: Contract resets the chip can realise (Lava's LIF sets v to 0; spikecore shifts v by
#: v_reset so that 0 on chip is v_reset in the graph).
SUPPORTED_RESETS = ("to_value",)

# Sign modes, as lava.utils.weightutils.SignMode names them.
MIXED, EXCITATORY, INHIBITORY = "mixed", "excitatory", "inhibitory"


# ====================================================================== structure
def _role(node: object) -> str | None:
    return _ROLES.get(type(node))


#: primitive type -> role in a Loihi 2 network (the registry check() and quantize() use).
_ROLES: dict[type, str] = {
    P.Input: "input", P.Output: "output",
    P.Linear: "connection", P.Affine: "connection", P.Scale: "connection",
    **{t: "neuron" for t in NEURON_TYPES},
}
#: what each supported type becomes on chip (for messages and docs).
SUPPORTED = {
    "Input": "spike source (values != 0 are spikes)",
    "Output": "records spikes (spiking source) or v (non-spiking source)",
    "Linear": "Dense connection (8-bit mantissa + shared exponent)",
    "Affine": "Dense connection; bias folded into the target's bias (LIF/LI/IF/I only)",
    "Scale": "one-to-one Dense connection",
    "LIF": "LIF with du = 4095 (no current)", "IF": "LIF with du = 4095, dv = 0",
    "CubaLIF": "LIF", "LI": "non-spiking LIF (v read out)", "I": "non-spiking, dv = 0",
    "CubaLI": "non-spiking LIF (v read out)",
}


def _connection_matrix(node: object, n_in: int) -> np.ndarray:
    if isinstance(node, P.Scale):
        return np.diag(np.broadcast_to(P.param(node, "scale"), (n_in,)).astype(np.float64))
    return P.param(node, "weight")


def _conn_bias(node: object, n_out: int) -> np.ndarray:
    b = getattr(node, "bias", None)
    if b is None:
        return np.zeros(n_out)
    return np.broadcast_to(np.asarray(b, dtype=np.float64), (n_out,)).copy()


@dataclass(frozen=True)
class Synapse:
    """A connection of the chip network: ``source`` (Input or neuron node) to ``target``
    (neuron node) through the graph node ``via`` (None: direct, identity weights)."""

    source: str
    target: str
    via: str | None
    delay_steps: int
    weight: np.ndarray          # float (out, in), graph units
    bias: np.ndarray            # float (out,), graph units (Affine only)


def _synapses(flat: Graph, shapes: dict[str, tuple[int, ...]]) -> tuple[list[Synapse], list[str]]:
    """Connections source -> [connection node] -> neuron node, and structural problems."""
    syn: list[Synapse] = []
    problems: list[str] = []
    nodes = flat.nodes
    for e in flat.edges:
        src, dst = nodes.get(e.source), nodes.get(e.target)
        rs, rd = _role(src), _role(dst)
        if rs is None or rd is None:
            continue  # unsupported primitive: reported per node
        if rd == "connection":
            if rs not in ("input", "neuron"):
                problems.append(
                    f"edge {e.source!r} -> {e.target!r}: a {P.type_name(dst)} must be fed by "
                    f"an Input or a neuron, not a {P.type_name(src)}; fold consecutive "
                    "weight layers into one")
            continue
        if rd == "neuron":
            if rs in ("input", "neuron"):
                n = int(math.prod(shapes[e.source]))
                syn.append(Synapse(e.source, e.target, None, e.delay_steps, np.eye(n),
                                   np.zeros(n)))
            elif rs == "connection":
                ins = flat.incoming(e.source)
                n_in = int(math.prod(shapes[ins[0].source])) if ins else 0
                w = _connection_matrix(src, n_in)
                for ie in ins:
                    if _role(nodes.get(ie.source)) in ("input", "neuron"):
                        syn.append(Synapse(ie.source, e.target, e.source,
                                           ie.delay_steps + e.delay_steps, w,
                                           _conn_bias(src, w.shape[0])))
            continue
        if rd == "output":
            if rs == "connection":
                problems.append(
                    f"edge {e.source!r} -> {e.target!r}: Output fed by a {P.type_name(src)}; "
                    "on chip only neurons (spikes or v) can be read out")
            elif rs == "input":
                problems.append(f"edge {e.source!r} -> {e.target!r}: Input wired straight to "
                                "an Output; nothing runs on chip")
    return syn, problems


# ====================================================================== check
@dataclass
class ResourceEstimate:
    """What a graph occupies on one chip (simple model, see each field)."""

    neurons: int = 0
    synapses: int = 0               # stored dense synapses (every matrix entry)
    nonzero_synapses: int = 0
    synaptic_memory_bits: int = 0   # synapses * synapse_bits
    neurocores: int = 0             # per node max(ceil(n/neurons_per_core), ceil(syn/syn_per_core))
    cores_per_node: dict[str, int] = field(default_factory=dict)
    max_fan_in: int = 0
    chips: int = 1

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def estimate_resources(graph: Graph, target: HardwareTarget = LOIHI2) -> ResourceEstimate:
    """Neurons, synapses, synaptic memory and neurocores the graph needs.

    Model: every neuron node is placed on its own cores; a core holds at most
    ``neurons_per_core`` neurons and ``synapses_per_core`` incoming synapses (dense
    matrices count every entry, zeros included, as Lava's ``Dense`` stores them).
    """
    flat = graph.flatten()
    shapes = flat.shapes()
    syn, _ = _synapses(flat, shapes)
    est = ResourceEstimate()
    fan_in: dict[str, np.ndarray] = {}
    syn_per_node: dict[str, int] = {}
    for s in syn:
        est.synapses += int(s.weight.size)
        est.nonzero_synapses += int(np.count_nonzero(s.weight))
        syn_per_node[s.target] = syn_per_node.get(s.target, 0) + int(s.weight.size)
        f = np.count_nonzero(s.weight, axis=1)
        fan_in[s.target] = fan_in.get(s.target, 0) + f
    for name, node in flat.nodes.items():
        if _role(node) != "neuron":
            continue
        n = int(math.prod(shapes[name]))
        est.neurons += n
        cores = max(math.ceil(n / target.neurons_per_core),
                    math.ceil(syn_per_node.get(name, 0) / target.synapses_per_core), 1)
        est.cores_per_node[name] = cores
        est.neurocores += cores
        if name in fan_in:
            est.max_fan_in = max(est.max_fan_in, int(np.max(fan_in[name])))
    est.synaptic_memory_bits = est.synapses * target.synapse_bits
    est.chips = max(1, math.ceil(est.neurocores / target.neurocores))
    return est


def _uniform(values: np.ndarray) -> bool:
    v = np.asarray(values)
    return v.size == 0 or bool(np.all(v == v.flat[0]))


def check(graph: Graph, target: HardwareTarget = LOIHI2) -> list[str]:
    """Every reason ``graph`` cannot run on ``target``, all at once ([] = it fits).

    Checks: unsupported primitives; wiring (weights must sit between a spike source and
    a neuron); integrator/update order the chip lacks (needs ``k_old = 0``); reset modes;
    decays outside [0, 1]; per-node du/dv/threshold heterogeneity (Lava's LIF holds one
    of each per population); Affine biases into current-based neurons; delays above
    ``max_delay_steps``; neuron, synapse, core and fan-in capacity.
    """
    if graph.semantics is None:
        return ["graph has no semantics (dt, integrator, reset...); set Semantics(dt=...)"]
    flat = graph.flatten()
    try:
        shapes = flat.shapes()
    except SpikecoreError as exc:
        return [str(exc)]
    sem = flat.semantics
    out: list[str] = []
    supported = ", ".join(sorted(SUPPORTED))
    for name in sorted(flat.nodes):
        node = flat.nodes[name]
        if _role(node) is None:
            out.append(f"{name!r} ({P.type_name(node)}): no Loihi 2 mapping; supported: "
                       f"{supported}")
    syn, problems = _synapses(flat, shapes)
    out += problems
    for name in sorted(flat.nodes):
        node = flat.nodes[name]
        if _role(node) != "neuron":
            continue
        out += [f"{name!r} ({P.type_name(node)}): {p}"
                for p in _neuron_problems(node, sem, shapes[name], target)]
    for s in syn:
        if s.delay_steps > target.max_delay_steps:
            out.append(f"connection {s.source!r} -> {s.target!r}"
                       f"{f' via {s.via!r}' if s.via else ''}: delay {s.delay_steps} steps > "
                       f"{target.max_delay_steps} (the chip's synaptic delay limit)")
        if np.any(s.bias != 0) and P.SPECS[type(flat.nodes[s.target])].states == ("i", "v"):
            out.append(f"{s.via!r} ({P.type_name(flat.nodes[s.via])}): bias into "
                       f"{P.type_name(flat.nodes[s.target])} {s.target!r} has no Loihi 2 "
                       "form (the chip has no current bias); use Linear or a LIF target")
    # One verdict with the Lava backend, through which a model reaches the chip: whatever
    # its fixed-point lowering refuses does not fit either (e.g. a neuron resting above
    # its threshold behind a lagged connection).
    if not out:  # the chip's own reasons come first; Lava's would repeat them
        out += [f"Lava (fixed_pt) refuses {p}" for p in lava_problems(flat, "fixed_pt")]
    est = estimate_resources(flat, target)
    if est.neurons > target.neurons_per_chip:
        out.append(f"{est.neurons} neurons > {target.neurons_per_chip} per chip")
    if est.synapses > target.synapses_per_chip:
        out.append(f"{est.synapses} synapses > {target.synapses_per_chip} per chip")
    if est.neurocores > target.neurocores:
        out.append(f"needs {est.neurocores} neurocores > {target.neurocores} per chip")
    if est.max_fan_in > target.max_fan_in:
        out.append(f"fan-in {est.max_fan_in} > {target.max_fan_in} synapses per neuron")
    return out


def _neuron_problems(node: object, sem, shape: tuple[int, ...],
                     target: HardwareTarget) -> list[str]:
    co = neuron_coefficients(node, sem, shape)
    out = []
    if np.any(co.k_old != 0) or (co.has_current and np.any(co.k_x != 0)):
        out.append(
            f"integrator={sem.integrator!r}, update_order={sem.update_order!r}, input="
            f"{sem.input_meaning!r}: v would depend on the previous current or on the "
            "input directly; Loihi 2 computes v from the new u only (use integrator='euler' "
            "with update_order='current_first')")
    if co.spiking and sem.reset not in SUPPORTED_RESETS:
        out.append(f"reset={sem.reset!r}: Loihi 2 (Lava LIF) resets v to a value; "
                   "use reset='to_value'")
    for nm, a in (("a_mem", co.a_mem), *((("a_syn", co.a_syn),) if co.has_current else ())):
        if np.any(a < 0) or np.any(a > 1):
            out.append(f"decay factor {nm} in [{a.min():g}, {a.max():g}] outside [0, 1] "
                       "(dt larger than a time constant?); the chip decays by (4096-d)/4096")
    het = [nm for nm, a in (("a_mem", co.a_mem), ("a_syn", co.a_syn)) if not _uniform(a)]
    if co.spiking and not _uniform(co.v_threshold - co.v_reset):
        het.append("v_threshold - v_reset")
    if co.spiking and not _uniform(co.v_reset):
        het.append("v_reset")
    if het:
        out.append(f"{', '.join(het)} differ(s) across neurons; Lava's LIF holds one du, "
                   "dv and vth per population: split the node")
    if co.spiking and np.any(co.v_threshold <= co.v_reset):
        out.append("v_threshold <= v_reset: the chip needs a positive threshold above reset")
    return out


# ====================================================================== quantisation
@dataclass(frozen=True)
class FixedNeuron:
    """A population in Loihi 2 integer form (arrays are flat, length ``n``)."""

    name: str
    type_name: str
    shape: tuple[int, ...]
    spiking: bool
    du: int
    dv: int
    vth: int
    bias_mant: np.ndarray
    bias_exp: np.ndarray
    v_init: np.ndarray
    u_init: np.ndarray
    scale: float            # integer units per unit of v (a power of two)
    v_offset: float         # v = V / scale + v_offset

    @property
    def n(self) -> int:
        return int(math.prod(self.shape))

    def to_float(self, v_int: np.ndarray) -> np.ndarray:
        """Integer v back to graph units."""
        return np.asarray(v_int, dtype=np.float64) / self.scale + self.v_offset


@dataclass(frozen=True)
class FixedConnection:
    """A ``Dense`` in Loihi 2 form: ``a_in += shift(weights @ s, weight_exp)``."""

    source: str
    target: str
    via: str | None
    delay_steps: int
    weights: np.ndarray     # int64 mantissas (out, in), as given to Lava's Dense
    weight_exp: int
    sign_mode: str


@dataclass(frozen=True)
class Loihi2Network:
    """A whole graph in Loihi 2 integer form: what the chip (or Lava fixed_pt) runs."""

    name: str
    dt: float
    inputs: dict[str, tuple[int, ...]]
    neurons: dict[str, FixedNeuron]
    connections: tuple[FixedConnection, ...]
    outputs: dict[str, str]          # Output node -> neuron node it reads
    order: tuple[str, ...]           # neuron evaluation order within a step


@dataclass
class ParamError:
    """Error one parameter picked up in quantisation (graph units)."""

    node: str
    parameter: str
    max_abs_error: float
    max_rel_error: float
    lsb: float                       # one quantisation step (graph units)
    note: str = ""
    max_abs_value: float = 0.0       # largest |exact value|: the parameter's range

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class QuantReport:
    """What :func:`quantize` did: the integer network and the error per parameter."""

    target: str
    network: Loihi2Network
    errors: list[ParamError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def error(self, node: str, parameter: str) -> ParamError:
        for e in self.errors:
            if e.node == node and e.parameter == parameter:
                return e
        raise KeyError(f"no error recorded for {node!r}.{parameter!r}")

    def table(self) -> str:
        rows = [f"{'node':<24} {'parameter':<16} {'max |err|':>12} {'max rel':>10} {'lsb':>10}"]
        for e in self.errors:
            rows.append(f"{e.node:<24} {e.parameter:<16} {e.max_abs_error:>12.4g} "
                        f"{e.max_rel_error:>10.3g} {e.lsb:>10.3g}")
        return "\n".join(rows + [f"note: {n}" for n in self.notes])


def _record(errors: list[ParamError], node: str, param: str, exact: np.ndarray,
            quant: np.ndarray, lsb: float, note: str = "") -> None:
    exact = np.asarray(exact, dtype=np.float64)
    quant = np.asarray(quant, dtype=np.float64)
    err = np.abs(quant - exact)
    denom = np.abs(exact)
    rel = np.where(denom > 0, err / np.where(denom > 0, denom, 1.0), np.where(err > 0, np.inf, 0))
    errors.append(ParamError(node, param, float(err.max(initial=0.0)),
                             float(rel.max(initial=0.0)), float(lsb), note,
                             float(np.abs(exact).max(initial=0.0))))


def _pow2_floor(x: float) -> float:
    if not (math.isfinite(x) and x > 0):
        return x  # the caller refuses it, naming the node
    return 2.0 ** math.floor(math.log2(x))


def sign_mode_of(w: np.ndarray) -> str:
    """Lava's ``determine_sign_mode``: excitatory if all >= 0, inhibitory if all <= 0."""
    if np.min(w, initial=0) >= 0:
        return EXCITATORY
    if np.max(w, initial=0) <= 0:
        return INHIBITORY
    return MIXED


def clip_truncate(w: np.ndarray, target: HardwareTarget = LOIHI2) -> np.ndarray:
    """The weights Lava's bit-accurate Dense actually uses (clip to 8 bits per sign
    mode, then drop the LSB in mixed mode), as ``weightutils.clip_weights`` and
    ``truncate_weights`` with ``num_weight_bits=8``."""
    w = np.asarray(w).astype(np.int64)
    mode = sign_mode_of(w)
    top = 2 ** target.weight_bits
    if mode == MIXED:
        return (np.clip(w, -top, top - 1) >> 1) << 1
    if mode == INHIBITORY:
        return -np.clip(-w, 0, top - 1)
    return np.clip(w, 0, top - 1)


def _quantize_weights(w_int: np.ndarray, target: HardwareTarget) -> tuple[np.ndarray, int, str]:
    """Ideal integer weights -> (mantissas, exponent, sign mode), round to nearest."""
    mode = sign_mode_of(w_int)
    top = 2 ** target.weight_bits
    m_max = top - 2 if mode == MIXED else top - 1    # mixed mantissas are even
    peak = float(np.max(np.abs(w_int), initial=0.0))
    if peak == 0:
        return np.zeros(w_int.shape, dtype=np.int64), 0, mode
    exp = math.ceil(math.log2(peak / m_max))
    exp = min(max(exp, target.weight_exp_min), target.weight_exp_max)
    step = 2.0 if mode == MIXED else 1.0
    mant = np.round(w_int / 2.0 ** exp / step) * step
    mant = np.clip(mant, -m_max if mode != EXCITATORY else 0, m_max if mode != INHIBITORY else 0)
    return mant.astype(np.int64), int(exp), mode


#: Thresholds never get fewer mantissa bits than this to make room for input headroom.
MIN_VTH_BITS = 8


def _choose_scale(co, v_off: np.ndarray, drive: float, target: HardwareTarget) -> float:
    """A power-of-two scale ``s`` (integer units per unit of v), the largest that keeps:
    the threshold mantissa <= 2**16 (v keeps one bit of headroom below 24 bits); the
    bias within its 13+3-bit format; a non-spiking v within 2**22 in the worst case;
    and, unless that leaves the threshold fewer than :data:`MIN_VTH_BITS` bits, the
    worst-case input of one step (every source spiking) within the 16-bit activation."""
    limits = []
    if co.spiking:
        span = float(np.max(co.v_threshold - v_off))
        s_vth = (target.vth_max + 1) / 2 * 2 ** target.vth_shift / span
        limits.append(s_vth)
        if drive > 0:
            s_act = target.activation_range[1] * 2 ** target.act_shift / drive
            limits.append(max(s_act, s_vth / 2 ** (target.vth_bits - 1 - MIN_VTH_BITS)))
    else:
        leak = 1.0 - float(np.min(co.a_mem))
        worst = drive / leak if leak > 0 else drive * 1e3
        if co.has_current:
            leak_s = 1.0 - float(np.min(co.a_syn))
            worst = worst / leak_s if leak_s > 0 else worst * 1e3
        worst = max(worst, float(np.max(np.abs(co.v_initial - v_off))))
        if worst > 0:
            limits.append(target.uv_max / 2 / worst)
    bias = np.abs(co.c - (1 - co.a_mem) * v_off)
    if np.max(bias, initial=0) > 0:
        lo, hi = target.bias_mant_range
        limits.append(hi * 2 ** target.bias_exp_max / float(np.max(bias)))
    return _pow2_floor(min(limits)) if limits else 2.0 ** 16


def quantize(graph: Graph, target: HardwareTarget = LOIHI2, *,
             scales: Mapping[str, float] | None = None) -> tuple[Graph, QuantReport]:
    """Map ``graph`` to the chip's integer formats.

    Returns a graph of the same structure whose float parameters are the values the
    integers represent (simulate it anywhere to see the effect of parameter
    quantisation alone), and a :class:`QuantReport` holding the integer network
    (:class:`Loihi2Network`, what ``loihi2_torch`` and Lava fixed_pt run) and the error
    of every parameter. ``scales`` overrides the power-of-two state scale of nodes.
    Raises :class:`UnsupportedError` listing every violation when :func:`check` finds any
    (capacity violations excepted: a network too big for one chip still quantises).

    Per neuron node, in topological order: its integer parameters
    (:func:`_quantize_neuron`), the weights of every incoming connection
    (:func:`_quantize_synapse`), then the node's float parameters in the returned graph
    (:func:`_dequantize_neuron`).
    """
    problems = [p for p in check(graph, target) if not _is_capacity(p)]
    if problems:
        raise UnsupportedError(
            f"graph {graph.name!r} cannot be quantised for {target.name} "
            f"({len(problems)} problem(s)):", problems)
    flat = graph.flatten()
    shapes = flat.shapes()
    sem = flat.semantics
    syn, _ = _synapses(flat, shapes)
    errors: list[ParamError] = []
    notes: list[str] = []
    neurons: dict[str, FixedNeuron] = {}
    conns: list[FixedConnection] = []
    qgraph = flat.copy()
    for name in [n for n in flat.topological_order() if _role(flat.nodes[n]) == "neuron"]:
        node = flat.nodes[name]
        co = neuron_coefficients(node, sem, shapes[name])
        incoming = [s for s in syn if s.target == name]
        s = float(scales[name]) if scales and name in scales else None
        fx, nq = _quantize_neuron(name, node, co, shapes[name], incoming, s, target, errors)
        neurons[name] = fx
        for sy in incoming:
            conns.append(_quantize_synapse(sy, name, nq.gain, fx.scale, target, qgraph,
                                           errors, notes))
        _dequantize_neuron(qgraph.nodes[name], name, co, sem, nq.a_mem_q, nq.a_syn_q, fx,
                           nq.bias_q - nq.affine, notes)
    net = Loihi2Network(graph.name, float(sem.dt),
                        {i: shapes[i] for i in flat.input_names}, neurons, tuple(conns),
                        _output_map(flat), tuple(neurons))
    qgraph.metadata = {**qgraph.metadata, "hardware_target": target.name}
    return qgraph, QuantReport(target.name, net, errors, notes)


@dataclass(frozen=True)
class _NeuronQuant:
    """What the rest of :func:`quantize` needs of one quantised neuron node."""

    gain: np.ndarray       # input gain per neuron (k_new b_syn, or k_x): weight -> v units
    a_mem_q: float         # the quantised decays
    a_syn_q: float
    bias_q: np.ndarray     # quantised constant drive (graph units, Affine biases included)
    affine: np.ndarray     # the Affine biases' part of it


def _quantize_neuron(name: str, node: object, co, shape: tuple[int, ...],
                     incoming: list[Synapse], scale: float | None, target: HardwareTarget,
                     errors: list[ParamError]) -> tuple[FixedNeuron, _NeuronQuant]:
    """One neuron node in integer form: its state scale (``scale``, else
    :func:`_choose_scale`), decays, threshold, bias and initial v, each error recorded in
    ``errors``."""
    n = int(math.prod(shape))
    gain = (co.k_new * co.b_syn if co.has_current else co.k_x).reshape(-1)
    v_off = (co.v_reset if co.spiking else np.zeros(shape)).reshape(-1)
    drive = float(sum(np.max(np.abs(s.weight * gain[:, None]).sum(axis=1), initial=0)
                      for s in incoming))
    s = scale if scale is not None else _choose_scale(co, v_off, drive, target)
    if not (math.isfinite(s) and 2.0 ** -1000 < s < 2.0 ** 1000):
        # e.g. v_threshold - v_reset = 5e-324: no integer grid can hold that threshold
        raise UnsupportedError(
            f"node {name!r}: no fixed-point scale exists for its parameters (scale {s:g} "
            "integer units per unit of v); v_threshold - v_reset, the biases and the input "
            "drive must be representable numbers well away from 0 and 1e300")
    du, dv, a_mem_q, a_syn_q = _quantize_decays(name, co, n, target, errors)
    vth = _quantize_threshold(name, co, s, v_off, target, errors)
    # Constant drive per step: c, the reset offset, and Affine biases (LIF types).
    affine = sum((gain * sy.bias for sy in incoming), np.zeros(n))
    bias_mant, bias_exp, bias_q = _quantize_bias(name, co, s, v_off, affine, target, errors)
    v_init = _quantize_v_initial(name, co, s, v_off, target, errors)
    fx = FixedNeuron(name, type(node).__name__, shape, co.spiking, du, dv, vth, bias_mant,
                     bias_exp, v_init, np.zeros(n, dtype=np.int64), s,
                     float(v_off[0]) if v_off.size else 0.0)
    return fx, _NeuronQuant(gain, a_mem_q, a_syn_q, bias_q, affine)


def _quantize_decays(name: str, co, n: int, target: HardwareTarget,
                     errors: list[ParamError]) -> tuple[int, int, float, float]:
    """``(du, dv, a_mem_q, a_syn_q)``: the 12-bit decays (du at its maximum without a
    synaptic current) and the decay factors they represent."""
    unity = target.decay_unity
    a_mem = co.a_mem.reshape(-1)
    dv = int(np.clip(np.round(unity - unity * a_mem[0]), 0, target.decay_max))
    a_mem_q = (unity - dv - target.dv_offset) / unity
    if co.has_current:
        a_syn = co.a_syn.reshape(-1)
        du = int(np.clip(np.round(unity - target.du_offset - unity * a_syn[0]), 0,
                         target.decay_max))
        a_syn_q = (unity - du - target.du_offset) / unity
        _record(errors, name, "a_syn", a_syn, np.full(n, a_syn_q), 1 / unity)
    else:
        du, a_syn_q = target.decay_max, 0.0
    _record(errors, name, "a_mem", a_mem, np.full(n, a_mem_q), 1 / unity)
    return du, dv, a_mem_q, a_syn_q


def _quantize_threshold(name: str, co, s: float, v_off: np.ndarray, target: HardwareTarget,
                        errors: list[ParamError]) -> int:
    """The threshold mantissa ``vth`` (``vth << vth_shift`` in units of ``s``); the largest
    for a non-spiking node."""
    if not co.spiking:
        return target.vth_max
    span = float((co.v_threshold - co.v_reset).reshape(-1)[0])
    vth = int(np.clip(np.round(span * s / 2 ** target.vth_shift), 1, target.vth_max))
    vth_q = vth * 2 ** target.vth_shift / s + v_off
    _record(errors, name, "v_threshold", co.v_threshold.reshape(-1), vth_q,
            2 ** target.vth_shift / s)
    return vth


def _quantize_bias(name: str, co, s: float, v_off: np.ndarray, affine: np.ndarray,
                   target: HardwareTarget, errors: list[ParamError]
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(bias_mant, bias_exp, bias_q)`` of the constant drive per step ``c - (1 - a_mem)
    v_off + affine``: the smallest exponent that fits the mantissa, and the value it
    represents (graph units)."""
    a_mem = co.a_mem.reshape(-1)
    bias_f = co.c.reshape(-1) - (1 - a_mem) * v_off + affine
    b_int = bias_f * s
    lo, hi = target.bias_mant_range
    need = np.ceil(np.log2(np.maximum(np.abs(b_int), 1) / hi)).clip(0, target.bias_exp_max)
    bias_exp = need.astype(np.int64)
    bias_mant = np.clip(np.round(b_int / 2.0 ** bias_exp), lo, hi).astype(np.int64)
    bias_q = (bias_mant * 2.0 ** bias_exp) / s
    _record(errors, name, "bias", bias_f, bias_q, float(2.0 ** bias_exp.max()) / s,
            "c - (1 - a_mem) v_reset + Affine bias, per step")
    return bias_mant, bias_exp, bias_q


def _quantize_v_initial(name: str, co, s: float, v_off: np.ndarray, target: HardwareTarget,
                        errors: list[ParamError]) -> np.ndarray:
    """The initial v in integer units (rounded, saturated to 24 bits)."""
    v0 = (co.v_initial.reshape(-1) - v_off) * s
    v_init = np.clip(np.round(v0), -(target.uv_max - 1), target.uv_max - 1).astype(np.int64)
    _record(errors, name, "v_initial", co.v_initial.reshape(-1), v_init / s + v_off, 1 / s)
    return v_init


def _quantize_synapse(sy: Synapse, name: str, gain: np.ndarray, s: float,
                      target: HardwareTarget, qgraph: Graph, errors: list[ParamError],
                      notes: list[str]) -> FixedConnection:
    """One connection into neuron node ``name`` as an 8-bit ``Dense`` (mantissas and a
    shared exponent); writes the represented weights into ``qgraph`` (its ``via`` node)
    and records the error and the notes."""
    w_int = sy.weight * gain[:, None] * s / 2 ** target.act_shift
    mant, exp, mode = _quantize_weights(w_int, target)
    mant = clip_truncate(mant, target)
    conn = FixedConnection(sy.source, name, sy.via, sy.delay_steps, mant, exp,
                           sign_mode_of(mant))
    w_q = np.divide(mant * 2.0 ** exp * 2 ** target.act_shift, gain[:, None] * s,
                    out=np.zeros(mant.shape), where=gain[:, None] != 0)
    label = sy.via or f"{sy.source}->{name}"
    _record(errors, label, "weight", sy.weight, w_q,
            float((2.0 if mode == MIXED else 1.0) * 2.0 ** exp * 2 ** target.act_shift
                  / np.min(np.abs(gain)) / s),
            f"exponent {exp}, {mode}")
    if sy.via is not None:
        _set_weight(qgraph, sy.via, w_q)
    elif np.any(np.abs(w_q - sy.weight) > 0):
        notes.append(f"direct edge {sy.source!r} -> {name!r}: weight quantised to "
                     f"{np.unique(np.round(np.diag(w_q), 12))[:4]} (not representable "
                     "in the returned graph, which keeps identity weights)")
    notes += _weight_notes(label, w_int, mant, exp, target)
    return conn


def _weight_notes(label: str, w_int: np.ndarray, mant: np.ndarray, exp: int,
                  target: HardwareTarget) -> list[str]:
    """Warnings about one connection's weights: clipped, too few mantissa bits, or a
    worst-case input per step beyond the activation width."""
    notes = []
    peak = float(np.max(np.abs(w_int), initial=0.0))
    if peak > 255 * 2.0 ** target.weight_exp_max:
        notes.append(f"{label}: weights clipped (exponent at its maximum "
                     f"{target.weight_exp_max})")
    elif exp == target.weight_exp_min and peak < 64 * 2.0 ** exp:
        notes.append(f"{label}: weights use fewer than 7 mantissa bits (exponent at "
                     f"its minimum {exp})")
    worst = float(np.max(np.maximum(np.clip(mant, 0, None).sum(axis=1),
                                    -np.clip(mant, None, 0).sum(axis=1)),
                         initial=0)) * 2.0 ** exp
    if worst > target.activation_range[1]:
        notes.append(f"{label}: worst-case input per step {worst:.0f} exceeds the "
                     f"{target.activation_bits}-bit activation (Lava's simulation "
                     "keeps 32 bits; the chip may not)")
    return notes


def _output_map(flat: Graph) -> dict[str, str]:
    """Output node -> the neuron node it reads (the first, if several)."""
    out_map = {}
    for o in flat.output_names:
        srcs = [e.source for e in flat.incoming(o) if _role(flat.nodes[e.source]) == "neuron"]
        if srcs:
            out_map[o] = srcs[0]
    return out_map


def _is_capacity(problem: str) -> bool:
    return any(k in problem for k in ("per chip", "synapses per neuron"))


def _set_weight(g: Graph, name: str, w: np.ndarray) -> None:
    node = g.nodes[name]
    if isinstance(node, P.Scale):
        node.scale = np.diag(w).copy()
    else:
        node.weight = w


def _dequantize_neuron(node: object, name: str, co, sem, a_mem_q: float, a_syn_q: float,
                       fx: FixedNeuron, bias_q: np.ndarray, notes: list[str]) -> None:
    """Write into ``node`` the parameter values the integers represent, so that the
    float contract on the returned graph runs the quantised parameters in exact
    arithmetic. Input gains (``k_x``, ``k_new * b_syn``) are kept: their quantisation
    lives in the connection weights. ``bias_q``: quantised c - (1 - a_mem) v_off."""
    dt = float(sem.dt)
    exact = sem.integrator == "exact"
    c_q = (bias_q + (1.0 - a_mem_q) * fx.v_offset).reshape(fx.shape)
    tau_field = "tau" if hasattr(node, "tau") else "tau_mem" if hasattr(node, "tau_mem") else None
    if tau_field is not None:
        tau = P.param(node, tau_field, fx.shape)
        if not 0.0 < a_mem_q < 1.0:
            notes.append(f"{name!r}: a_mem quantised to {a_mem_q:g}; no finite positive "
                         f"{tau_field} gives it, the returned graph keeps {tau_field}")
        else:
            tau_q = -dt / math.log(a_mem_q) if exact else dt / (1.0 - a_mem_q)
            r = P.param(node, "r", fx.shape)
            if exact and sem.input_meaning == "current":
                node.r = r * (1.0 - co.a_mem) / (1.0 - a_mem_q)      # k_x = r (1 - a)
            else:
                node.r = r * tau_q / tau                            # k = dt r / tau
            setattr(node, tau_field, np.full(fx.shape, tau_q))
            node.v_leak = c_q / (1.0 - a_mem_q) if exact else c_q * tau_q / dt
    if hasattr(node, "tau_syn") and 0.0 < a_syn_q < 1.0:
        tau_s = P.param(node, "tau_syn", fx.shape)
        tau_sq = dt / (1.0 - a_syn_q)
        node.tau_syn = np.full(fx.shape, tau_sq)
        node.w_in = P.param(node, "w_in", fx.shape) * tau_sq / tau_s   # b_syn kept
    if fx.spiking:
        node.v_threshold = np.full(fx.shape, fx.vth * 64 / fx.scale + fx.v_offset)


# ====================================================================== operations
@dataclass
class OperationsEstimate:
    """Work per step, counted from recorded spikes (event-driven synapses)."""

    steps: int
    synaptic_ops_per_step: float      # mean over batch and steps
    neuron_updates_per_step: int      # every neuron is updated every step
    synaptic_ops_total: float
    per_connection: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def estimate_operations(graph: Graph, result: Result,
                        inputs: Mapping[str, np.ndarray] | None = None) -> OperationsEstimate:
    """Synaptic operations (one per nonzero synapse reached by each spike) and neuron
    updates (every neuron, every step), from the spikes recorded in ``result``.

    Input spikes are taken from ``inputs`` (Input name -> array ``[batch, steps, *shape]``,
    nonzero = spike); a connection whose source spikes are in neither gets ``nan`` in
    ``per_connection`` and is left out of the totals.
    """
    flat = graph.flatten()
    shapes = flat.shapes()
    syn, _ = _synapses(flat, shapes)
    steps = result.steps
    batch = max(result.batch, 1)
    total = 0.0
    per: dict[str, float] = {}
    inputs = dict(inputs or {})
    for s in syn:
        if s.source in result.spikes:
            z = result.spikes[s.source]
        elif s.source in inputs:
            z = np.asarray(inputs[s.source]) != 0
        else:
            per[f"{s.source}->{s.target}"] = float("nan")
            continue
        z = z.reshape(z.shape[0], z.shape[1], -1).astype(np.float64)
        fan_out = np.count_nonzero(s.weight, axis=0).astype(np.float64)  # per source neuron
        ops = float((z * fan_out).sum())
        per[f"{s.source}->{s.target}"] = ops / (batch * max(steps, 1))
        total += ops
    neurons = sum(int(math.prod(shapes[n])) for n, v in flat.nodes.items()
                  if _role(v) == "neuron")
    return OperationsEstimate(steps, total / (batch * max(steps, 1)), neurons,
                              total / batch, per)


# ====================================================================== CLI hook
def main_check(path: str, target_name: str = "loihi2", json_output: bool = False) -> int:
    """``spikecore check --target NAME model.nir``: print fit and cost; 0 if it fits."""
    from ...nir_io import read

    if target_name not in TARGETS:
        raise InputError(f"--target {target_name!r}: unknown target; choose one of "
                         f"{', '.join(sorted(TARGETS))}")
    return report_fit(read(path), target_name, json_output)


#: A parameter whose quantisation error exceeds this fraction of its largest value (its
#: range: tiny entries always lose most of themselves) is named in a warning by
#: ``spikecore check`` (the model fits, but computes something else).
QUANT_WARN_REL = 0.1


def report_fit(graph: Graph, target_name: str = "loihi2", json_output: bool = False) -> int:
    """Print whether ``graph`` fits ``target_name`` and what it costs; 0 if it fits, 1 if
    not; an unknown target is an :class:`~spikecore.errors.InputError`."""
    if target_name not in TARGETS:
        raise InputError(f"--target {target_name!r}: unknown target; choose one of "
                         f"{', '.join(sorted(TARGETS))}")
    target = TARGETS[target_name]
    violations = check(graph, target)
    try:
        est = estimate_resources(graph, target).as_dict()
    except SpikecoreError as exc:
        est = {"error": str(exc)}
    quant, warnings_ = None, []
    if not violations:
        _, report = quantize(graph, target)
        quant = [e.as_dict() for e in report.errors]
        warnings_ = [f"{e['node']}.{e['parameter']}: quantisation error up to "
                     f"{e['max_abs_error'] / e['max_abs_value']:.3g} of the parameter's "
                     f"largest value (above {QUANT_WARN_REL:g}); rescale the node or train "
                     "with to_torch(graph, arithmetic='loihi2')"
                     for e in quant if e["max_abs_value"] > 0
                     and e["max_abs_error"] > QUANT_WARN_REL * e["max_abs_value"]]
    if json_output:
        print(json.dumps({"target": target.name, "graph": graph.name, "fits": not violations,
                          "violations": violations, "warnings": warnings_,
                          "resources": est, "quantisation": quant}, indent=2,
                         default=float))
    else:
        print(f"graph {graph.name!r} on {target.name}: "
              f"{'fits' if not violations else f'does NOT fit ({len(violations)} problem(s))'}")
        for v in violations:
            print(f"  - {v}")
        for w in warnings_:
            print(f"  warning: {w}")
        for k, v in est.items():
            if k != "cores_per_node":
                print(f"  {k}: {v}")
        if quant:
            print("  largest quantisation errors:")
            for e in sorted(quant, key=lambda e: -e["max_rel_error"])[:5]:
                print(f"    {e['node']}.{e['parameter']}: |err| <= {e['max_abs_error']:.3g} "
                      f"(rel {e['max_rel_error']:.3g})")
    return 0 if not violations else 1


__all__ = [
    "LOIHI2", "TARGETS", "HardwareTarget", "FixedNeuron", "FixedConnection", "Loihi2Network",
    "ParamError", "QuantReport", "ResourceEstimate", "OperationsEstimate", "check", "quantize",
    "estimate_resources", "estimate_operations", "main_check", "clip_truncate", "sign_mode_of",
]
