"""Dialects: how a foreign NIR file was meant to be simulated by the library that wrote it.

NIR files carry no dt, integrator or reset mode. A dialect supplies those choices the
way the producing library makes them, and may rewrite parameters into the contract's
form. Register new dialects with :func:`register_dialect`.

A dialect reproduces the producing library's *own* discrete dynamics under the contract
of :mod:`spikecore.discrete`; where a library does something the contract has no option
for, the dialect's description says so (e.g. Sinabs/Rockpool emit several spikes in one
step when ``v >= 2 * v_threshold`` and fire on ``v >= v_threshold``; the contract emits at
most one spike per step and fires on ``v > v_threshold``).
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import nir
import numpy as np

from .errors import DialectError, DialectWarning
from .semantics import Semantics

#: Where the delay of a foreign cycle can sit (see Dialect.recurrent_delay_on).
DELAY_PLACES = ("spikes", "weights")


@dataclass(frozen=True)
class Dialect:
    """Defaults that reproduce one library's reading of a NIR file.

    Attributes:
        name: registry key, e.g. ``"norse"``.
        description: what the producing library does, in one or two sentences.
        default_dt: seconds, used when ``read(..., dt=None)``; ``None`` means dt is required
            (unless ``infer_dt`` can read it from the file).
        choices: Semantics fields (other than dt) the dialect fixes.
        rewrite: optional ``nir_graph -> nir_graph`` or ``(nir_graph, semantics) ->
            nir_graph`` applied before conversion (parameter conventions of the producer,
            which often depend on dt); must not mutate its argument.
        infer_dt: optional ``nir_graph -> seconds`` for producers that encode dt in the
            parameters (Rockpool); used when no dt is given.
        recurrent_delay_on: where a cycle's one-step delay sits: ``"spikes"`` (the
            recurrent weights act on last step's spikes in this step, bias included) or
            ``"weights"`` (the weights' output arrives a step late; how nirtorch-based
            importers run a cycle). See :func:`spikecore.nir_io.from_nir`.
    """

    name: str
    description: str
    default_dt: float | None
    choices: dict = field(default_factory=dict)
    rewrite: Callable | None = None
    infer_dt: Callable | None = None
    recurrent_delay_on: str = "spikes"

    def __post_init__(self) -> None:
        if self.recurrent_delay_on not in DELAY_PLACES:
            raise DialectError(f"dialect {self.name!r}: recurrent_delay_on="
                               f"{self.recurrent_delay_on!r}, expected one of {DELAY_PLACES}")

    def semantics(self, dt: float | None = None, **overrides) -> Semantics:
        if dt is None:
            dt = self.default_dt
        if dt is None:
            raise DialectError(f"dialect {self.name!r} has no default dt: pass dt=... (seconds)")
        return Semantics(dt=dt, **{**self.choices, **overrides})

    def prepare(self, nir_graph: nir.NIRGraph, dt: float | None = None,
                **overrides) -> tuple[nir.NIRGraph, Semantics]:
        """The semantics this dialect gives ``nir_graph`` and the graph rewritten into the
        contract's parameter conventions (the argument is not mutated)."""
        if dt is None and self.infer_dt is not None:
            dt = self.infer_dt(nir_graph)
            warnings.warn(
                f"dialect {self.name!r} inferred dt = {dt:g} s from the neuron parameters "
                "alone (NIR files carry no dt); pass dt=... (seconds) to state the "
                "producer's step", DialectWarning, stacklevel=4)
        semantics = self.semantics(dt, **overrides)
        if self.rewrite is not None:
            if len(inspect.signature(self.rewrite).parameters) >= 2:
                nir_graph = self.rewrite(nir_graph, semantics)
            else:
                nir_graph = self.rewrite(nir_graph)
        fast = coarse_time_constants(nir_graph, float(semantics.dt))
        if fast:
            warnings.warn(
                f"dialect {self.name!r} at dt = {float(semantics.dt):g} s: dt/tau > "
                f"{MAX_DT_OVER_TAU:g} for {', '.join(fast)}. Fewer than "
                f"{1 / MAX_DT_OVER_TAU:g} steps per time constant is implausible for a "
                "trained model (forward Euler is unstable above 2): is dt in seconds and "
                "is it the producer's step? Pass dt=... to set it", DialectWarning,
                stacklevel=4)
        return nir_graph, semantics


DIALECTS: dict[str, Dialect] = {}


def register_dialect(d: Dialect) -> None:
    DIALECTS[d.name] = d


def get_dialect(name: str) -> Dialect:
    if name not in DIALECTS:
        raise DialectError(
            f"unknown dialect {name!r}; known: {', '.join(sorted(DIALECTS))}"
        )
    return DIALECTS[name]


#: Above this dt/tau a dialect warns: fewer than two steps per time constant.
MAX_DT_OVER_TAU = 0.5

_TAU_FIELDS = ("tau", "tau_mem", "tau_syn")


def coarse_time_constants(g: nir.NIRGraph, dt: float, prefix: str = "") -> list[str]:
    """``"node.param (dt/tau = x)"`` for every neuron time constant of ``g`` (nested
    graphs too) with dt/tau above :data:`MAX_DT_OVER_TAU` (the largest ratio per
    parameter)."""
    out = []
    for n, node in g.nodes.items():
        if isinstance(node, nir.NIRGraph):
            out += coarse_time_constants(node, dt, f"{prefix}{n}.")
            continue
        for f in _TAU_FIELDS:
            tau = getattr(node, f, None)
            if tau is None:
                continue
            tau = np.asarray(_np(tau), dtype=np.float64)
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.nanmax(np.where(tau > 0, dt / tau, 0.0)) if tau.size else 0.0
            if ratio > MAX_DT_OVER_TAU:
                out.append(f"'{prefix}{n}'.{f} (dt/tau = {ratio:.3g})")
    return out


# ============================================================ rewrite helpers
def _np(value: Any) -> Any:
    """Torch tensors (Norse, Sinabs, Rockpool export them) to float64 numpy arrays."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return value.astype(np.float64)
    return value


def _params(node: Any) -> dict[str, Any]:
    """The constructor arguments of a NIR neuron node, as float64 numpy arrays."""
    skip = {"input_type", "output_type", "metadata"}
    return {f.name: _np(copy.deepcopy(getattr(node, f.name))) for f in dataclasses.fields(node)
            if f.init and f.name not in skip}


def _rebuild(node: Any, **changes: Any) -> Any:
    params = _params(node)
    params.update(changes)
    return type(node)(**params, metadata=dict(node.metadata or {}))


def _map_graph(g: nir.NIRGraph, fn: Callable[[str, Any], dict[str, Any]]) -> nir.NIRGraph:
    """A new graph whose nodes are ``fn(name, node)`` (a dict of replacement nodes), same
    edges; recurses into subgraphs."""
    nodes: dict[str, Any] = {}
    for n, node in g.nodes.items():
        if isinstance(node, nir.NIRGraph):
            nodes[n] = _map_graph(node, fn)
            continue
        try:
            nodes.update(fn(n, node))
        except (AssertionError, ValueError, TypeError) as exc:
            # nir's constructors assert on parameter shapes: name the node instead.
            raise DialectError(
                f"node {n!r} ({type(node).__name__}) cannot be read: "
                f"{exc or type(exc).__name__}",
                ["every neuron parameter must be a scalar or one value per neuron, all of "
                 "the same shape"]) from None
    return nir.NIRGraph(nodes=nodes, edges=list(g.edges), metadata=dict(g.metadata or {}),
                        type_check=False)


def _map_neurons(g: nir.NIRGraph, fn: Callable[..., Any]) -> nir.NIRGraph:
    """``_map_graph`` over the neurons only; ``fn(node)``, or ``fn(path, node)`` when it
    takes two arguments (``path``: the node's name, ``sub.node`` inside nested graphs)."""
    neuron_types = (nir.I, nir.IF, nir.LI, nir.LIF, nir.CubaLI, nir.CubaLIF)
    named = len(inspect.signature(fn).parameters) == 2

    def one(n: str, node: Any) -> dict[str, Any]:
        if not isinstance(node, neuron_types):
            return {n: node}  # shared, not copied: rewrites never mutate a node
        return {n: fn(n, node) if named else fn(node)}

    return _map_graph(g, one)


def _require_zero_leak(node: Any, library: str) -> None:
    v_leak = _np(getattr(node, "v_leak", 0.0))
    if np.any(np.asarray(v_leak) != 0):
        raise DialectError(
            f"{type(node).__name__} node has v_leak != 0, which {library} cannot represent "
            "(its neurons leak to 0)",
            [f"read it with another dialect, e.g. dialect='norse', or set v_leak=0 in the "
             f"file if {library} wrote it"])


# ================================================================== norse
def _dropped(where: str, node: Any, param: str, value: float, why: str) -> str | None:
    """A note when ``node``'s parameter ``param`` differs from what the reading uses."""
    v = np.asarray(_np(getattr(node, param)), dtype=np.float64)
    if v.size and np.all(v == value):
        return None
    return f"{where!r}.{param} (mean {float(np.mean(v)):g}) {why}"


def _norse_from_nir(g: nir.NIRGraph, s: Semantics) -> nir.NIRGraph:
    """What Norse 1.1's ``norse.torch.from_nir(graph, dt=...)`` builds, in the contract's
    terms (norse/torch/utils/import_nir.py):

    - IF -> ``IAFCell``: ``v += x`` (no dt, r ignored): r := 1/dt.
    - LIF -> ``LIFBoxCell``: ``v += dt/tau*(v_leak - v + x)`` (r ignored): r := 1.
    - LI has no import in Norse; read as ``LIBoxCell``, the cell Norse exports as LI:
      ``v += dt/tau*(v_leak - v + x)``, r := 1.
    - CubaLIF -> ``w_in*x`` into ``LIBoxCell(tau_syn, v_leak)``, ``r*`` its output into
      ``LIFBoxCell(tau_mem, v_leak)``: the contract's Euler CubaLIF (current first) when
      v_leak = 0; Norse also leaks the synaptic current towards v_leak, which the contract
      cannot, so v_leak != 0 is refused.
    - No cell receives v_reset: every reset goes to 0 (v_reset := 0).
    Parameters Norse ignores are replaced, with a :class:`DialectWarning` naming them.
    """
    dt = float(s.dt)
    dropped: list[str] = []

    def fix(where: str, node: Any) -> Any:
        def note(param: str, value: float, why: str) -> None:
            msg = _dropped(where, node, param, value, why)
            if msg is not None:
                dropped.append(msg)

        p = _params(node)
        if isinstance(node, (nir.IF, nir.LIF, nir.LI, nir.CubaLIF)) and "v_reset" in p:
            note("v_reset", 0.0, "is not passed to Norse's cells, which reset to 0")
            p["v_reset"] = np.zeros_like(p["v_reset"])
        if isinstance(node, nir.IF):
            note("r", 1.0, "is ignored by Norse's IAFCell (v += x)")
            return _rebuild(node, r=np.full_like(p["r"], 1.0 / dt), v_reset=p["v_reset"])
        if isinstance(node, (nir.LIF, nir.LI)):
            note("r", 1.0, f"is ignored by Norse's {type(node).__name__}BoxCell")
            changes = dict(r=np.ones_like(p["r"]))
            if "v_reset" in p:
                changes["v_reset"] = p["v_reset"]
            return _rebuild(node, **changes)
        if isinstance(node, nir.CubaLIF):
            if np.any(np.asarray(p["v_leak"]) != 0):
                raise DialectError(
                    f"CubaLIF node {where!r} has v_leak != 0: Norse's from_nir leaks its synaptic "
                    "current towards v_leak as well (LIBoxCell), which spikecore's CubaLIF "
                    "cannot represent",
                    ["read it with dialect='explicit' (integrator='euler', "
                     "update_order='current_first') for the NIR definition, or set v_leak=0"])
            return _rebuild(node, v_reset=p["v_reset"])
        return _rebuild(node)

    out = _map_neurons(g, fix)
    if dropped:
        warnings.warn("dialect 'norse' follows Norse's from_nir, which drops parameters of "
                      "this file: " + "; ".join(dropped) + ". Read with dialect='explicit' "
                      "to keep them (the NIR definition)", DialectWarning, stacklevel=5)
    return out


register_dialect(Dialect(
    "norse",
    "Norse (1.1) from_nir(graph, dt): forward Euler, dt = 1 ms unless given. LIF and LI "
    "are Norse's box cells v += dt/tau*(v_leak - v + x) with r ignored; IF is IAFCell, "
    "v += x (no dt, r ignored); CubaLIF feeds w_in*x through a leaky synapse into r*i, "
    "current first; every cell resets to 0 (v_reset is not passed), fires on v > "
    "v_threshold. Dropped parameters are named in a warning; CubaLIF with v_leak != 0 is "
    "refused (Norse leaks its synaptic current too). Cycles run through nirtorch: the "
    "recurrent weights' output arrives a step late (recurrent_delay_on='weights').",
    default_dt=1e-3,
    choices=dict(integrator="euler", reset="to_value", input_meaning="current",
                 update_order="current_first"),
    rewrite=_norse_from_nir,
    recurrent_delay_on="weights",
))


def _norse_export_fix(g: nir.NIRGraph, s: Semantics) -> nir.NIRGraph:
    """Undo Norse 1.1.0's export: it wrote ``tau = dt / tau_inv = dt * tau`` (LIBoxCell,
    LIFBoxCell, LIFCell), ``w_in = 1`` for a LIFCell whose current jumps by the input each
    step, and ``r = 1`` for an IAFCell, whose ``v += x`` has no dt (the contract's IF adds
    ``dt * r * x``: r := r / dt)."""
    dt = float(s.dt)

    def fix(node: Any) -> Any:
        p = _params(node)
        if isinstance(node, nir.IF):
            return _rebuild(node, r=p["r"] / dt)
        if isinstance(node, (nir.LI, nir.LIF)):
            return _rebuild(node, tau=p["tau"] / dt)
        if isinstance(node, (nir.CubaLI, nir.CubaLIF)):
            tau_syn = p["tau_syn"] / dt
            # Norse's LIFCell: j <- (1 - dt/tau_syn)*j + x, v sees the new j: b_syn = 1.
            return _rebuild(node, tau_syn=tau_syn, tau_mem=p["tau_mem"] / dt,
                            w_in=p["w_in"] * tau_syn / dt)
        return _rebuild(node)

    return _map_neurons(g, fix)


register_dialect(Dialect(
    "norse-1.1-export",
    "Files written by Norse 1.1.0's own to_nir(module, sample, dt=...): that exporter "
    "writes tau = dt/tau_inv = dt*tau (10^3-10^4 too small) and w_in = 1 for LIFCell. This "
    "dialect divides every tau by dt (pass the dt given to Norse's to_nir, default 1 ms), "
    "sets w_in = tau_syn/dt: Norse's LIFCell adds the input to the current undecayed "
    "(j = i + x), integrates v with that j, then decays it (current_first); and r = r/dt "
    "for IF (IAFCell: v += x, no dt). Not recoverable: every cell's v_reset (written as "
    "0) and LICell (written as no node).",
    default_dt=1e-3,
    choices=dict(integrator="euler", reset="to_value", input_meaning="current",
                 update_order="current_first"),
    rewrite=_norse_export_fix,
))


# =============================================================== snnTorch
#: snnTorch's import_from_nir hard-codes this step (snntorch/import_nir.py, 1.0.0).
SNNTORCH_DT = 1e-4


def _snntorch_warned(g: nir.NIRGraph, s: Semantics) -> nir.NIRGraph:
    """The ``snntorch`` dialect: :func:`_snntorch_import`, and a warning that the file does
    not say which reset the network was trained with."""
    out = _snntorch_import(g, s)
    if s.reset == "to_value":
        warnings.warn(
            "dialect 'snntorch' reads the file as snnTorch's import_from_nir builds it: "
            "reset to zero in the same step. NIR files do not record the reset: a network "
            "built with snnTorch's defaults (Leaky/Synaptic reset_mechanism='subtract', "
            "reset_delay=True) is read exactly with dialect='snntorch-defaults'",
            DialectWarning, stacklevel=5)
    return out


def _snntorch_import(g: nir.NIRGraph, s: Semantics) -> nir.NIRGraph:
    """What snnTorch's ``import_from_nir`` does: ``Leaky(beta = 1 - dt/tau)`` adds the
    input undecayed (``mem = beta*mem + x``) and, when ``r*dt/tau != 1``, divides the
    threshold by that factor instead of scaling the input ("hack_w_scale"). Here: r :=
    tau/dt and v_threshold := v_threshold / (r*dt/tau), so voltages are snnTorch's."""
    dt = float(s.dt)

    def fix(node: Any) -> Any:
        p = _params(node)
        if isinstance(node, nir.LIF):
            _require_zero_leak(node, "snnTorch")
            w_scale = p["r"] * dt / p["tau"]
            return _rebuild(node, r=p["tau"] / dt, v_threshold=p["v_threshold"] / w_scale,
                            v_reset=p["v_reset"] / w_scale)
        if isinstance(node, nir.CubaLIF):
            _require_zero_leak(node, "snnTorch")
            w_scale = p["w_in"] * dt / p["tau_syn"]
            return _rebuild(node, w_in=p["tau_syn"] / dt, r=p["tau_mem"] / dt,
                            v_threshold=p["v_threshold"] / w_scale,
                            v_reset=p["v_reset"] / w_scale)
        return _rebuild(node)

    return _map_neurons(g, fix)


register_dialect(Dialect(
    "snntorch",
    "snnTorch (1.0) import_from_nir: dt = 1e-4 s hard-coded; Leaky(beta = 1 - dt/tau) and "
    "Synaptic(alpha = 1 - dt/tau_syn) add the input undecayed (mem = beta*mem + x; syn = "
    "alpha*syn + x, mem = beta*mem + syn), the threshold divided by r*dt/tau (resp. "
    "w_in*dt/tau_syn), reset to zero in the same step (reset_delay=False). Its exporter "
    "writes tau = dt/(1-beta), r = tau/dt, so its own files read unchanged; voltages are in "
    "snnTorch's units. User-built Leaky defaults (reset_delay=True, subtract) are not "
    "what import_from_nir builds and are not in the file: read such a network with "
    "dialect 'snntorch-defaults' (a DialectWarning says so on every read).",
    default_dt=SNNTORCH_DT,
    choices=dict(integrator="euler", reset="to_value", input_meaning="current",
                 update_order="current_first"),
    rewrite=_snntorch_warned,
))


def _snntorch_defaults(g: nir.NIRGraph, s: Semantics) -> nir.NIRGraph:
    """snnTorch's ``Leaky``/``Synaptic`` with their defaults (``reset_mechanism=
    "subtract"``, ``reset_delay=True``): ``reset = H(mem_prev - thr)``, ``mem = beta*mem +
    x - reset*thr``, ``spk = H(mem - thr)``. The threshold of a spike in step t is taken
    off in step t+1, undecayed. Under the contract's subtract reset the amount taken off
    in step t decays by beta before step t+1, so it must be ``thr/beta``: v_reset :=
    thr*(1 - 1/beta), beta = 1 - dt/tau_mem. Spikes are snnTorch's exactly; the recorded v
    after a spike is snnTorch's mem minus thr/beta (snnTorch shows it before the reset)."""
    g = _snntorch_import(g, s)
    dt = float(s.dt)

    def fix(node: Any) -> Any:
        p = _params(node)
        if isinstance(node, (nir.LIF, nir.CubaLIF)):
            tau = p["tau"] if isinstance(node, nir.LIF) else p["tau_mem"]
            beta = 1.0 - dt / tau
            if np.any(beta <= 0):
                raise DialectError(
                    f"{type(node).__name__} node has dt/tau >= 1 (beta = 1 - dt/tau <= 0): "
                    "snnTorch's delayed reset cannot be written as a subtraction",
                    ["check dt (snnTorch's import uses 1e-4 s)"])
            return _rebuild(node, v_reset=p["v_threshold"] * (1.0 - 1.0 / beta))
        return _rebuild(node)

    return _map_neurons(g, fix)


register_dialect(Dialect(
    "snntorch-defaults",
    "snnTorch networks built with Leaky/Synaptic's defaults, reset_mechanism='subtract' "
    "and reset_delay=True (the file does not say; dialect 'snntorch' reproduces "
    "import_from_nir, which builds reset-to-zero neurons): the threshold of a spike is "
    "subtracted in the next step, undecayed, written as the contract's subtract reset with "
    "v_reset = v_threshold*(1 - 1/beta). Spikes exact; v after a spike is snnTorch's mem "
    "minus threshold/beta. dt = 1e-4 s as snnTorch's exporter.",
    default_dt=SNNTORCH_DT,
    choices=dict(integrator="euler", reset="subtract", input_meaning="current",
                 update_order="current_first"),
    rewrite=_snntorch_defaults,
))


# ================================================================= Sinabs
def _sinabs_import(g: nir.NIRGraph, s: Semantics) -> nir.NIRGraph:
    """Sinabs adds the input undecayed (``norm_input=False``: v = alpha*v + x with
    alpha = exp(-dt/tau)) and ignores ``r``: exact integrator with increments and
    r := tau/dt (LI, LIF), r := 1/dt (IF: v = v + x)."""
    dt = float(s.dt)

    def fix(node: Any) -> Any:
        p = _params(node)
        if isinstance(node, (nir.LI, nir.LIF)):
            _require_zero_leak(node, "Sinabs")
            return _rebuild(node, r=p["tau"] / dt)
        if isinstance(node, nir.IF):
            return _rebuild(node, r=np.full_like(p["r"], 1.0 / dt))
        raise DialectError(
            f"Sinabs has no import for {type(node).__name__}",
            ["Sinabs (2.x) from_nir reads LI, LIF and IF neurons only"])

    return _map_neurons(g, fix)


register_dialect(Dialect(
    "sinabs",
    "Sinabs (2.x) from_nir: time in steps (tau is a number of steps, so dt = 1 by "
    "default; pass dt in seconds when tau is in seconds, as the NIR paper did), exact decay "
    "v = exp(-dt/tau)*v + x with the input added undecayed and r ignored, subtractive "
    "reset. Not representable: Sinabs fires on v >= threshold and can emit several spikes "
    "per step (MultiSpike) when v >= 2*threshold; IAF clips v at -threshold.",
    default_dt=1.0,
    choices=dict(integrator="exact", reset="subtract", input_meaning="increment",
                 update_order="current_first"),
    rewrite=_sinabs_import,
))


# =============================================================== Rockpool
def _lambert_w(y: float) -> float:
    """Principal branch of W(y) for y > 0 (solves u*exp(u) = y) by Newton's method."""
    u = math.log1p(y)
    for _ in range(100):
        e = math.exp(u)
        step = (u * e - y) / (e * (u + 1.0))
        u -= step
        if abs(step) <= 1e-16 * max(1.0, abs(u)):
            break
    return u


def _rockpool_dt(g: nir.NIRGraph) -> float:
    """Rockpool's exporter writes r = tau*exp(-dt/tau)/dt: with u = dt/tau, r*u =
    exp(-u), so u = W(1/r). Rounded to 6 significant digits (files are float32)."""
    found: list[float] = []

    def visit(graph: nir.NIRGraph) -> None:
        for node in graph.nodes.values():
            if isinstance(node, nir.NIRGraph):
                visit(node)
            elif isinstance(node, (nir.LIF, nir.CubaLIF)):
                tau = _np(node.tau if isinstance(node, nir.LIF) else node.tau_mem)
                try:
                    tau, r = (np.ravel(a) for a in np.broadcast_arrays(tau, _np(node.r)))
                except ValueError:
                    raise DialectError(
                        f"{type(node).__name__} node: tau and r have shapes "
                        f"{np.shape(tau)} and {np.shape(node.r)}, which do not broadcast",
                        ["pass dt=... (seconds), and give one value per neuron"]) from None
                found.extend(float(t) * _lambert_w(1.0 / float(ri)) for t, ri in zip(tau, r, strict=True))

    visit(g)
    if not found:
        raise DialectError("dialect 'rockpool' reads dt from the LIF/CubaLIF parameters "
                           "(r = tau*exp(-dt/tau)/dt) but the graph has none: pass dt=...")
    dts = np.array(found)
    if np.ptp(dts) > 1e-4 * dts.mean():
        raise DialectError("the Rockpool parameters encode different dt values "
                           f"({dts.min():g} .. {dts.max():g} s): pass dt=... explicitly")
    dt = float(np.median(dts))
    return float(f"{dt:.6g}")


def _rockpool_import(g: nir.NIRGraph, s: Semantics) -> nir.NIRGraph:
    """Rockpool's LIFTorch/LIFNeuronTorch: i <- exp(-dt/tau_syn)*(i + x);
    v <- exp(-dt/tau_mem)*v + i (+ bias). Written as forward Euler (current_first) with
    effective time constants tau' = dt/(1 - exp(-dt/tau)), so 1 - dt/tau' is the exact
    decay, and r := tau_mem'/dt, w_in := exp(-dt/tau_syn)*tau_syn'/dt so the input enters
    undecayed into i and i undecayed into v."""
    dt = float(s.dt)

    def eff(tau: np.ndarray) -> np.ndarray:
        return dt / -np.expm1(-dt / tau)

    def fix(node: Any) -> Any:
        p = _params(node)
        if isinstance(node, nir.LIF):
            _require_zero_leak(node, "Rockpool")
            tm = eff(p["tau"])
            return _rebuild(node, tau=tm, r=tm / dt)
        if isinstance(node, nir.CubaLIF):
            _require_zero_leak(node, "Rockpool")
            tm, ts = eff(p["tau_mem"]), eff(p["tau_syn"])
            return _rebuild(node, tau_mem=tm, tau_syn=ts, r=tm / dt,
                            w_in=p["w_in"] * np.exp(-dt / p["tau_syn"]) * ts / dt)
        raise DialectError(
            f"no Rockpool reading of {type(node).__name__}",
            ["the rockpool dialect covers LIF (LIFNeuronTorch) and CubaLIF (LIFTorch)"])

    neuron_types = (nir.I, nir.IF, nir.LI, nir.LIF, nir.CubaLI, nir.CubaLIF)

    def node_fix(n: str, node: Any) -> dict[str, Any]:
        if isinstance(node, neuron_types):
            return {n: fix(node)}
        # Rockpool's exporter writes the sample's batch dimension into Input/Output
        # types ([1, n]); its modules see [n].
        if isinstance(node, (nir.Input, nir.Output)):
            key = "input" if isinstance(node, nir.Input) else "output"
            types = node.input_type if isinstance(node, nir.Input) else node.output_type
            shape = np.asarray(_np(types.get(key)))
            if shape.ndim == 1 and shape.size >= 2 and shape[0] == 1:
                return {n: type(node)(np.asarray(shape[1:]), metadata=dict(node.metadata or {}))}
        return {n: copy.deepcopy(node)}

    return _map_graph(g, node_fix)


register_dialect(Dialect(
    "rockpool",
    "Rockpool (3.x) LIFTorch/LIFNeuronTorch: exponential decays, input added undecayed "
    "(i = beta*(i + x), v = alpha*v + i), subtractive reset; dt is read from the file "
    "(its exporter writes r = tau*exp(-dt/tau)/dt), so the exported module is reproduced. "
    "Rockpool's own from_nir instead guesses a dt per layer, min(tau/(1 + r)), off by "
    "O(dt/tau) and different in each layer: not reproduced. Not representable: several "
    "spikes per step when v >= "
    "2*threshold, firing on v >= threshold.",
    default_dt=None,
    choices=dict(integrator="euler", reset="subtract", input_meaning="current",
                 update_order="current_first"),
    rewrite=_rockpool_import,
    infer_dt=_rockpool_dt,
))


# ========================================================== Lava (paper)
def _lava_dense_latency(g: nir.NIRGraph, s: Semantics) -> nir.NIRGraph:
    """Lava 0.10's Dense sends its output one step later: a one-step Delay node after
    every Affine/Linear node (edges are re-routed through it)."""
    def walk(graph: nir.NIRGraph) -> nir.NIRGraph:
        nodes: dict[str, Any] = {}
        renamed: dict[str, str] = {}
        for n, node in graph.nodes.items():
            if isinstance(node, nir.NIRGraph):
                nodes[n] = walk(node)
                continue
            nodes[n] = copy.deepcopy(node)
            if isinstance(node, (nir.Affine, nir.Linear)):
                renamed[n] = f"{n}__lava_latency"
                out = np.asarray(_np(node.weight)).shape[0]
                nodes[renamed[n]] = nir.Delay(delay=np.full(out, float(s.dt)))
        edges = [(renamed.get(a, a), b) for a, b in graph.edges]
        edges += list(renamed.items())
        return nir.NIRGraph(nodes=nodes, edges=edges, metadata=dict(graph.metadata or {}),
                            type_check=False)

    return walk(g)


register_dialect(Dialect(
    "lava-paper",
    "Raw Lava 0.10 output as in the NIR paper's Lava column: the Euler LIF of the norse "
    "dialect (folded into Lava's u/v update), but every Dense (Affine/Linear) delivers one "
    "step late, so spikes come one step later per layer (461, 511, ... for the paper's "
    "LIF). dt = 1e-4 s, the paper's conversion step. spikecore's own Lava backend removes "
    "this latency; this dialect puts it back for comparison with raw Lava results.",
    default_dt=1e-4,
    choices=dict(integrator="euler", reset="to_value", input_meaning="current",
                 update_order="current_first"),
    rewrite=_lava_dense_latency,
))

#: Explicit reading: the caller states every choice (dt, integrator, reset) at read time.
EXPLICIT = "explicit"
REQUIRED_EXPLICIT = ("dt", "integrator", "reset")


def choices_message() -> list[str]:
    """The choices a foreign file leaves open, for error messages."""
    return [
        f"dialect: one of {', '.join(sorted(DIALECTS))} (the library that wrote the file), or",
        "dialect='explicit' with dt=<seconds>, integrator='euler'|'exact', "
        "reset='to_value'|'subtract' (and optionally input_meaning='current'|'increment', "
        "update_order='current_first'|'voltage_first')",
        "recurrent_delay=<steps> for the back edges of cycles (default 1), and "
        "recurrent_delay_on='spikes'|'weights' for where it sits (default: the dialect's)",
    ]
