"""Synaptic plasticity as a graph primitive: ``STDPLinear``, ``y = W x`` whose ``W`` learns
by spike-timing-dependent plasticity (pair STDP, and the triplet rule of Pfister &
Gerstner 2006 when its triplet amplitudes are nonzero); :class:`VogelsLinear` (inhibitory
STDP) and :class:`HebbianLinear` (a Hebbian rule on rates) run the same step with their own
coefficients.

**How the rule sees the post spikes.** spikecore edges carry no port names, so the node
takes one stacked input (as :class:`~spikecore.extensions.cond_lif.CondLIF` does): of its
``n_in + n_out`` elements the first ``n_in`` are the presynaptic spikes of this step
``p[t]``, the last ``n_out`` the spikes of the postsynaptic neurons it feeds, which
arrive over an edge with delay 1 (the node feeds the post neuron, so a delay-0 edge back
would close a zero-delay cycle): ``q[t] = z_post[t - 1]``. The rule uses each post spike
at its true step ``t - 1`` (it is paired with the pre trace as it was then), so with the
delay-1 feedback edge the update is exactly the event-driven STDP of the spike trains;
only the weight change of a post spike takes effect one step later, before this step's
transmission. :func:`stdp_connection` builds the two port maps and the edges.

**Exact discrete update** of step ``t`` (per batch element; ``a_* = exp(-dt/tau_*)`` with
``integrator='exact'``, ``1 - dt/tau_*`` with ``'euler'``; ``outer(u, v)[i, j] = u_i
v_j``; ``r1, r2`` are pre traces ``[n_in]``, ``o1, o2`` post traces ``[n_out]``)::

    # 1. post spikes of step t-1 (LTP), paired with pre spikes up to t-1
    o2h = a_y * o2                       (o2 at t-1 before the spike: triplet)
    fp  = q * (a2_plus + a3_plus * o2h)
    W   = bound_ltp(W, outer(fp, r1))
    o1  = a_minus * o1 + q;   o2 = o2h + q
    # 2. transmission with the weights as they stand
    y   = W p
    # 3. pre spikes of step t (LTD), paired with post spikes up to t-1
    r2h = a_x * r2                       (r2 at t before the spike: triplet)
    fm  = p * (a2_minus + a3_minus * r2h)
    W   = bound_ltd(W, outer(a_minus * o1, fm) [+ a_pre p])
    r1  = a_plus * r1 + p;    r2 = r2h + p

(``a_pre``, a constant depression per pre spike, is 0 for STDPLinear; :class:`VogelsLinear`
runs the same step with its own coefficients.)

Bounds: ``bound='hard'``: ``bound_ltp(W, d) = clip(W + d, w_min, w_max)``,
``bound_ltd(W, d) = clip(W - d, w_min, w_max)``; ``'soft'`` (multiplicative, finite
bounds): ``clip(W + (w_max - W) * d)``, ``clip(W - (W - w_min) * d)`` (the clip only acts
if an amplitude exceeds 1). Pair STDP is ``a3_plus = a3_minus = 0``: a pair of a pre
spike at step ``s`` and a post spike at ``u`` changes ``W`` by ``a2_plus *
a_plus^(u - s)`` if ``u >= s`` (simultaneous spikes count as pre-before-post) and by
``-a2_minus * a_minus^(s - u)`` if ``u < s``, summed over all pairs (all-to-all).

State ``(w, r1, r2, o1, o2)``: ``w`` is ``[n_out, n_in]`` per batch element (each batch
element learns on its own), starting at ``weight``; traces start at 0. Recorded ``o1``,
``o2`` at the end of step ``t`` hold the post spikes up to ``t - 1``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import nir
import numpy as np

from .. import primitives as P
from ..semantics import Semantics
from ..xp import decay
from .base import Extension, as_array, register_extension

#: Bound modes of the weights.
BOUNDS = ("hard", "soft")
#: Rate-like fields (amplitudes): must be >= 0.
AMPLITUDES = ("a2_plus", "a2_minus", "a3_plus", "a3_minus")
#: Time constants (seconds), in the order of the traces r1, o1, r2, o2.
TRACE_TAUS = ("tau_plus", "tau_minus", "tau_x", "tau_y")


#: Pfister & Gerstner (2006, J. Neurosci. 26:9673), Table 4: the triplet model fitted to
#: the visual-cortex pairing data of Sjöström et al. (2001), all-to-all interaction, full
#: model (seconds; amplitudes per pair/triplet). ``STDPLinear(weight=..., **PFISTER_GERSTNER
#: _VISUAL_CORTEX)``. Provenance (the paper's PDF was not at hand): all eight values
#: agree with an independent transcription of Table 4's all-to-all full set (the Julia
#: package SNNUtils, ``pfister_visualcortex``); NESTML's triplet synapse defaults share the
#: four taus and A2-, A3- but use A2+ = 7.5e-10, A3+ = 9.3e-3. A2+ is ~0 (the minimal
#: model drops it).
PFISTER_GERSTNER_VISUAL_CORTEX = {
    "tau_plus": 16.8e-3, "tau_minus": 33.7e-3, "tau_x": 101e-3, "tau_y": 125e-3,
    "a2_plus": 5e-10, "a3_plus": 6.2e-3, "a2_minus": 7e-3, "a3_minus": 2.3e-4}


class PlasticLinear(Extension):
    """Common ground of the plastic connections: ``weight`` ``(n_out, n_in)``, the stacked
    input ``[pre (n_in), post of the last step (n_out)]``, output ``n_out``. Subclasses
    are dataclasses whose first field is ``weight``."""

    def __post_init__(self) -> None:
        for f in self.array_fields:
            setattr(self, f, as_array(getattr(self, f)))
        n_out, n_in = self.dims()
        self.input_type = {"input": np.array([n_in + n_out])}
        self.output_type = {"output": np.array([n_out])}

    def dims(self) -> tuple[int, int]:
        """``(n_out, n_in)`` of ``weight`` (``(0, 0)`` if it is not 2-D)."""
        w = np.shape(self.weight)
        return (int(w[0]), int(w[1])) if len(w) == 2 else (0, 0)


@dataclass(eq=False)
class STDPLinear(PlasticLinear):
    """``y = W p`` with ``W`` (``weight`` initially, ``(n_out, n_in)``) learning by
    all-to-all pair/triplet STDP; input ``[p (n_in), q (n_out)]``. See the module
    docstring for the exact update and :func:`stdp_connection` to wire it.

    Triplet amplitudes ``a3_*`` default to 0 (pair STDP); ``tau_x``, ``tau_y`` (the slow
    traces, used only by the triplet terms) default to Pfister & Gerstner's (2006)
    101 ms and 125 ms (visual cortex, all-to-all; their Table 4).
    """

    weight: np.ndarray
    a2_plus: np.ndarray
    a2_minus: np.ndarray
    tau_plus: np.ndarray
    tau_minus: np.ndarray
    w_min: np.ndarray = -np.inf
    w_max: np.ndarray = np.inf
    a3_plus: np.ndarray = 0.0
    a3_minus: np.ndarray = 0.0
    tau_x: np.ndarray = 0.101
    tau_y: np.ndarray = 0.125
    bound: str = "hard"
    array_fields = ("weight", "a2_plus", "a2_minus", "tau_plus", "tau_minus", "w_min",
                    "w_max", "a3_plus", "a3_minus", "tau_x", "tau_y")


@dataclass(eq=False)
class VogelsLinear(PlasticLinear):
    """Inhibitory STDP of Vogels et al. (2011, Science 334:1569): a symmetric rule that
    drives the post neurons toward the target rate ``rho0`` (Hz). With traces ``x`` of
    time constant ``tau_stdp`` (+1 per spike) and ``alpha = 2 rho0 tau_stdp``::

        pre spike j:   W_ij += eta (x_post_i - alpha)
        post spike i:  W_ij += eta x_pre_j

    then ``clip(W, w_min, w_max)``. ``W >= 0`` is the strength of an inhibitory synapse:
    send ``y`` to the post neurons through a negative map (e.g. ``Scale(-1)``). The exact
    step is :func:`stdp_step` with ``a2_plus = eta``, ``a2_minus = -eta``, the constant
    depression ``a_pre = eta alpha`` per pre spike and ``tau_plus = tau_minus =
    tau_stdp`` (:func:`vogels_coefficients`), so the timing is STDPLinear's.
    """

    weight: np.ndarray
    eta: np.ndarray
    tau_stdp: np.ndarray
    rho0: np.ndarray
    w_min: np.ndarray = 0.0
    w_max: np.ndarray = np.inf
    array_fields = ("weight", "eta", "tau_stdp", "rho0", "w_min", "w_max")


@dataclass(eq=False)
class HebbianLinear(PlasticLinear):
    """Rate-based Hebbian plasticity with a post threshold: ``y = W p`` on rates, ``W``
    following ``dW_ij/dt = eta (r_post_i - theta) r_pre_j`` within ``[w_min, w_max]``.

    Same stacked input as STDPLinear: ``[p (n_in) = r_pre[t], q (n_out) = r_post[t-1]]``
    (wire it with :func:`stdp_connection`; for a recurrent connection pass
    ``out_delay=1``). The exact step is :func:`stdp_step` with all trace decays 0 (so
    ``r1 = p[t-1]``), ``a2_plus = eta dt``, ``a2_minus = 0`` and the constant depression
    ``a_pre = eta dt theta`` (:func:`hebbian_coefficients`), i.e.::

        W = clip(W + eta dt outer(q[t], p[t-1]), w_min, w_max)   # = r_post[t-1] r_pre[t-1]
        y = W p[t]
        W = clip(W - eta dt theta p[t], w_min, w_max)             # (broadcast over rows)

    The Hebbian product pairs the rates of one step (``t - 1``). The threshold term uses
    this step's ``p`` (one step later: ``O(dt)`` for smooth rates) and comes after the
    first clip, so a weight held at ``w_max`` ends each step ``eta dt theta p_j`` below it.
    Dale's law and bounds are the clip: excitatory ``w_min = 0``; an inhibitory
    connection keeps strengths ``W >= 0`` sent through a negative map (``Scale(-1)``),
    for which the same rule is homeostatic (the rate form of Vogels et al. 2011).
    """

    weight: np.ndarray
    eta: np.ndarray
    theta: np.ndarray = 0.0
    w_min: np.ndarray = 0.0
    w_max: np.ndarray = np.inf
    array_fields = ("weight", "eta", "theta", "w_min", "w_max")


# ---------------------------------------------------------------------- validation
def _check(name: str, node: Any, dt: float | None) -> list[str]:
    head = f"node {name!r} (STDPLinear):"
    out = []
    if np.ndim(node.weight) != 2:
        out.append(f"{head} 'weight' has shape {np.shape(node.weight)}; expected (n_out, n_in)")
    for f in (*AMPLITUDES, "w_min", "w_max", *TRACE_TAUS):
        if np.size(getattr(node, f)) != 1:
            out.append(f"{head} {f!r} has shape {np.shape(getattr(node, f))}; expected one "
                       "value (shared by all synapses)")
    if out:
        return out
    for f in AMPLITUDES:
        v = float(getattr(node, f))
        if np.isfinite(v) and v < 0:
            out.append(f"{head} {f}={v:g}; expected >= 0 (the sign is in the rule: "
                       "a*_plus potentiate, a*_minus depress)")
    lo, hi = float(node.w_min), float(node.w_max)
    if np.isnan(lo) or np.isnan(hi) or lo > hi:
        out.append(f"{head} w_min={lo:g} > w_max={hi:g}; expected w_min <= w_max")
    if node.bound not in BOUNDS:
        out.append(f"{head} bound={node.bound!r}; expected one of {BOUNDS}")
    elif node.bound == "soft" and not (np.isfinite(lo) and np.isfinite(hi)):
        out.append(f"{head} bound='soft' needs finite w_min and w_max (got {lo:g}, {hi:g}); "
                   "set both or use bound='hard'")
    w = as_array(node.weight)
    if not out and np.all(np.isfinite(w)) and (np.any(w < lo) or np.any(w > hi)):
        out.append(f"{head} 'weight' lies outside [w_min, w_max] = [{lo:g}, {hi:g}] (range "
                   f"{w.min():g} .. {w.max():g}); start inside the bounds")
    return out


#: per rate-style rule: its nonnegative fields, each with what it is.
_NONNEGATIVE = {"VogelsLinear": (("eta", "a learning rate"), ("rho0", "a target rate in Hz")),
                "HebbianLinear": (("eta", "a learning rate"),
                                  ("theta", "a post-rate threshold"))}


def _rule_check(name: str, node: Any, dt: float | None) -> list[str]:
    """Checks of VogelsLinear and HebbianLinear (one-value rule fields, signs, bounds)."""
    kind = type(node).__name__
    head = f"node {name!r} ({kind}):"
    out = []
    if np.ndim(node.weight) != 2:
        out.append(f"{head} 'weight' has shape {np.shape(node.weight)}; expected (n_out, n_in)")
    for f in node.array_fields[1:]:
        if np.size(getattr(node, f)) != 1:
            out.append(f"{head} {f!r} has shape {np.shape(getattr(node, f))}; expected one "
                       "value (shared by all synapses)")
    if out:
        return out
    for f, what in _NONNEGATIVE[kind]:
        v = float(getattr(node, f))
        if np.isfinite(v) and v < 0:
            out.append(f"{head} {f}={v:g}; expected >= 0 ({what})")
    lo, hi = float(node.w_min), float(node.w_max)
    if np.isnan(lo) or np.isnan(hi) or lo > hi:
        out.append(f"{head} w_min={lo:g} > w_max={hi:g}; expected w_min <= w_max")
    w = as_array(node.weight)
    if not out and np.all(np.isfinite(w)) and (np.any(w < lo) or np.any(w > hi)):
        out.append(f"{head} 'weight' lies outside [w_min, w_max] = [{lo:g}, {hi:g}]; start "
                   "inside the bounds (inhibitory strengths are >= 0)")
    return out


def _state_shapes(node: Any) -> dict[str, tuple[int, ...]]:
    """Elements of each state per batch element: ``w`` a matrix, the traces vectors."""
    n_out, n_in = node.dims()
    return {"w": (n_out, n_in), "r1": (n_in,), "r2": (n_in,), "o1": (n_out,), "o2": (n_out,)}


def _shape(node: Any, in_shape: P.Shape | None) -> P.Shape:
    w = np.shape(node.weight)
    if len(w) != 2:
        raise P.ShapeError(f"'weight' must be 2-D (n_out, n_in), got shape {w}")
    n_out, n_in = int(w[0]), int(w[1])
    if in_shape is not None and tuple(in_shape) != (n_in + n_out,):
        raise P.ShapeError(
            f"input shape {tuple(in_shape)} != ({n_in + n_out},): the input stacks the "
            f"{n_in} presynaptic spikes and the {n_out} postsynaptic spikes of the last "
            "step (use spikecore.extensions.stdp_connection to wire it)")
    return (n_out,)


register_extension(STDPLinear, P.PrimitiveSpec(
    "stateful", _shape, states=("w", "r1", "r2", "o1", "o2"),
    time_constants=TRACE_TAUS,
    # w_min/w_max may be infinite (no bound), so they skip the generic finiteness check
    array_params=tuple(f for f in STDPLinear.array_fields if f not in ("w_min", "w_max")),
    notes="y = W p; W learns by all-to-all pair/triplet STDP from [pre, post(t-1)] input",
    extra={"check": _check, "matrices": ("weight",), "state_shapes": _state_shapes}))
register_extension(VogelsLinear, P.PrimitiveSpec(
    "stateful", _shape, states=("w", "r1", "r2", "o1", "o2"), time_constants=("tau_stdp",),
    array_params=("weight", "eta", "tau_stdp", "rho0"),
    notes="y = W p; W learns by Vogels et al. (2011) inhibitory STDP toward rate rho0",
    extra={"check": _rule_check, "matrices": ("weight",), "state_shapes": _state_shapes}))
register_extension(HebbianLinear, P.PrimitiveSpec(
    "stateful", _shape, states=("w", "r1", "r2", "o1", "o2"),
    array_params=("weight", "eta", "theta"),
    notes="y = W p on rates; dW/dt = eta (r_post - theta) r_pre, clipped to [w_min, w_max]",
    extra={"check": _rule_check, "matrices": ("weight",), "state_shapes": _state_shapes}))


# ---------------------------------------------------------------------- the update
@dataclass(frozen=True)
class STDPCoefficients:
    """Decays per step (``a_plus`` of ``r1``, ``a_x`` of ``r2``, ``a_minus`` of ``o1``,
    ``a_y`` of ``o2``), amplitudes and bounds, as Python floats."""

    a_plus: float
    a_minus: float
    a_x: float
    a_y: float
    a2_plus: float
    a2_minus: float
    a3_plus: float
    a3_minus: float
    w_min: float
    w_max: float
    soft: bool
    #: depression per pre spike, independent of the post trace (Vogels' ``eta alpha``)
    a_pre: float = 0.0


class STDPState(NamedTuple):
    w: Any    # [batch, n_out, n_in]
    r1: Any   # [batch, n_in]
    r2: Any   # [batch, n_in]
    o1: Any   # [batch, n_out]
    o2: Any   # [batch, n_out]


def stdp_coefficients(node: STDPLinear, semantics: Semantics) -> STDPCoefficients:
    dt, exact = float(semantics.dt), semantics.integrator == "exact"
    a = {f: float(decay(np, dt, float(getattr(node, f)), exact)) for f in TRACE_TAUS}
    s = {f: float(getattr(node, f)) for f in (*AMPLITUDES, "w_min", "w_max")}
    return STDPCoefficients(a["tau_plus"], a["tau_minus"], a["tau_x"], a["tau_y"], **s,
                            soft=node.bound == "soft")


def vogels_coefficients(node: VogelsLinear, semantics: Semantics) -> STDPCoefficients:
    """Vogels' rule as :func:`stdp_step`'s coefficients (see :class:`VogelsLinear`)."""
    tau, eta = float(node.tau_stdp), float(node.eta)
    a = float(decay(np, float(semantics.dt), tau, semantics.integrator == "exact"))
    return STDPCoefficients(a, a, a, a, eta, -eta, 0.0, 0.0, float(node.w_min),
                            float(node.w_max), False, a_pre=eta * 2.0 * float(node.rho0) * tau)


def hebbian_coefficients(node: HebbianLinear, semantics: Semantics) -> STDPCoefficients:
    """The Hebbian rate rule as :func:`stdp_step`'s coefficients (see
    :class:`HebbianLinear`): decays 0, ``a2_plus = eta dt``, ``a_pre = eta dt theta``."""
    rate = float(node.eta) * float(semantics.dt)
    return STDPCoefficients(0.0, 0.0, 0.0, 0.0, rate, 0.0, 0.0, 0.0, float(node.w_min),
                            float(node.w_max), False, a_pre=rate * float(node.theta))


#: plastic node type -> its coefficients (the one step function runs them all).
COEFFICIENT_RULES: dict[type, Callable[[Any, Semantics], STDPCoefficients]] = {
    STDPLinear: stdp_coefficients, VogelsLinear: vogels_coefficients,
    HebbianLinear: hebbian_coefficients}


def plastic_coefficients(node: PlasticLinear, semantics: Semantics) -> STDPCoefficients:
    return COEFFICIENT_RULES[type(node)](node, semantics)


def stdp_initial_state(xp: Any, node: PlasticLinear, batch: int, like: Any = None) -> STDPState:
    """``W = weight`` (per batch element), traces 0; numpy float64, or ``like``'s torch
    dtype and device."""
    n_out, n_in = node.dims()
    w = np.broadcast_to(as_array(node.weight), (batch, n_out, n_in)).copy()
    arrays = (w, np.zeros((batch, n_in)), np.zeros((batch, n_in)), np.zeros((batch, n_out)),
              np.zeros((batch, n_out)))
    if xp is not np:
        arrays = tuple(xp.as_tensor(a, dtype=like.dtype, device=like.device) for a in arrays)
    return STDPState(*arrays)


def split_stdp_input(x: Any, n_in: int) -> tuple[Any, Any]:
    """``(p, q)``: presynaptic spikes ``[..., n_in]`` and last step's post spikes."""
    return x[..., :n_in], x[..., n_in:]


def stdp_step(xp: Any, co: STDPCoefficients, state: tuple, x: Any) -> tuple[Any, STDPState]:
    """One step (module docstring): ``(state, [p, q]) -> (y, state)``; ``x`` is
    ``[batch, n_in + n_out]``. Each product is formed in the order written there, which the
    Brian2 lowering repeats statement by statement (float64: equal states)."""
    w, r1, r2, o1, o2 = state
    p, q = split_stdp_input(x, w.shape[-1])
    o2h = co.a_y * o2
    fp = q * (co.a2_plus + co.a3_plus * o2h)
    d = fp[..., :, None] * r1[..., None, :]
    if co.soft:
        d = d * (co.w_max - w)
    w = xp.clip(w + d, co.w_min, co.w_max)
    o1 = co.a_minus * o1 + q
    o2 = o2h + q
    y = (w @ p[..., :, None])[..., 0]
    r2h = co.a_x * r2
    fm = p * (co.a2_minus + co.a3_minus * r2h)
    d = (co.a_minus * o1)[..., :, None] * fm[..., None, :]
    if co.a_pre:
        d = d + (co.a_pre * p)[..., None, :]
    if co.soft:
        d = d * (w - co.w_min)
    w = xp.clip(w - d, co.w_min, co.w_max)
    r1 = co.a_plus * r1 + p
    r2 = r2h + p
    return y, STDPState(w, r1, r2, o1, o2)


def stdp_weight_change(node: STDPLinear, pre: Any, post: Any) -> float:
    """The weight change of one synapse under the rule in continuous time, from explicit
    sums over spike pairs (no traces, no steps): ``pre``, ``post`` are spike times in
    seconds. With ``e_k(s) = exp(-s / tau_k)``::

        dW = sum_post u  (a2_plus + a3_plus sum_{u' < u} e_y(u - u')) sum_{s <= u} e_plus(u - s)
           - sum_pre s   (a2_minus + a3_minus sum_{s' < s} e_x(s - s')) sum_{u < s} e_minus(s - u)

    Unbounded (check that ``w_min``/``w_max`` never act). A discrete run with spikes on the
    step grid and ``integrator='exact'`` gives this value to rounding, counting the post
    spikes up to the second-to-last step (the last one is paired in the step after)."""
    pre = np.sort(np.asarray(pre, np.float64).ravel())
    post = np.sort(np.asarray(post, np.float64).ravel())
    f = {k: float(getattr(node, k)) for k in (*AMPLITUDES, *TRACE_TAUS)}
    dw = 0.0
    for u in post:
        r1 = np.exp(-(u - pre[pre <= u]) / f["tau_plus"]).sum()
        o2 = np.exp(-(u - post[post < u]) / f["tau_y"]).sum()
        dw += r1 * (f["a2_plus"] + f["a3_plus"] * o2)
    for s in pre:
        o1 = np.exp(-(s - post[post < s]) / f["tau_minus"]).sum()
        r2 = np.exp(-(s - pre[pre < s]) / f["tau_x"]).sum()
        dw -= o1 * (f["a2_minus"] + f["a3_minus"] * r2)
    return float(dw)


# ---------------------------------------------------------------------- wiring
def stdp_connection(name: str, node: PlasticLinear, pre: str, post: str, out_delay: int = 0
                    ) -> tuple[dict[str, Any], list[tuple[str, str, int]]]:
    """Nodes and edges that connect ``pre`` (``n_in`` spikes) to ``post`` (``n_out``
    neurons) through the plastic ``node``: two port maps (``nir.Linear`` embeddings into
    the stacked input: ``<name>_pre_port`` and ``<name>_post_port``), the edges ``pre ->
    pre_port -> name -> post`` (delay 0) and ``post -> post_port -> name`` with delay 1 on
    the last edge. Add them to your graph's nodes and edges. ``out_delay`` is the delay
    of ``name -> post``: 1 for a recurrent connection (``pre`` is ``post``), which would
    otherwise close a zero-delay cycle."""
    n_out, n_in = node.dims()
    eye = np.eye(n_in + n_out)
    pre_port, post_port = f"{name}_pre_port", f"{name}_post_port"
    nodes = {name: node, pre_port: nir.Linear(weight=eye[:, :n_in].copy()),
             post_port: nir.Linear(weight=eye[:, n_in:].copy())}
    edges = [(pre, pre_port, 0), (pre_port, name, 0), (name, post, out_delay),
             (post, post_port, 0),
             (post_port, name, 1)]
    return nodes, edges


__all__ = ["BOUNDS", "COEFFICIENT_RULES", "HebbianLinear", "PFISTER_GERSTNER_VISUAL_CORTEX",
           "PlasticLinear", "hebbian_coefficients",
           "STDPCoefficients", "STDPLinear", "STDPState", "VogelsLinear", "plastic_coefficients",
           "split_stdp_input", "vogels_coefficients",
           "stdp_coefficients", "stdp_connection", "stdp_initial_state", "stdp_step",
           "stdp_weight_change"]
