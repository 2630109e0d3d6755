"""The torch operations of lowered nodes: one ``nn.Module`` per graph node.

:class:`NodeOp` is the interface :class:`~.norse_.SpikecoreModule` drives (``apply`` for
stateless ops, ``init_state``/``step`` for stateful ones); the ops here cover NIR's
primitives. :class:`NeuronOp` and :func:`neuron_update` are the contract's neuron update
(:func:`spikecore.discrete.neuron_step`) in torch, operation for operation, so float64
states are bit-identical to numpy. Extension primitives add their ops in their own
modules and register them with :func:`.norse_.register_builder`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ... import primitives as P
from ...discrete import neuron_coefficients
from ...graph import delay_steps_of
from ...semantics import Semantics

Shape = tuple[int, ...]
State = dict[str, Any]

#: Parameters trained by default: the weights. Add neuron parameters by name, e.g.
#: ``trainable=("weight", "bias", "tau_mem", "v_threshold")``, or pass ``"all"``.
DEFAULT_TRAINABLE = ("weight", "bias", "scale")
NEURON_PARAMS = ("tau", "tau_syn", "tau_mem", "r", "v_leak", "w_in", "v_threshold", "v_reset")


# ============================================================================ options
@dataclass
class BuildOptions:
    """Choices made once for a whole lowered graph (see :func:`to_torch`)."""

    semantics: Semantics
    dtype: torch.dtype = torch.float32
    device: torch.device | None = None
    trainable: frozenset[str] = frozenset(DEFAULT_TRAINABLE)
    spike: Callable[[torch.Tensor], torch.Tensor] = field(default=None)  # type: ignore
    detach_reset: bool = False
    event_driven: bool = False

    def tensor(self, value: Any) -> torch.Tensor:
        return torch.as_tensor(np.array(value, dtype=np.float64), dtype=self.dtype,
                               device=self.device)


# ============================================================================ node ops
class NodeOp(nn.Module):
    """One lowered node. Stateless ops implement :meth:`apply` (any leading batch size);
    stateful ones :meth:`init_state` and :meth:`step`. :meth:`prepare` computes, once per
    forward call, the tensors derived from the parameters (coefficients, transposes)."""

    kind = "stateless"
    state_names: tuple[str, ...] = ()
    spiking = False

    def __init__(self, name: str, node: P.NIRNode, in_shape: Shape, out_shape: Shape,
                 opts: BuildOptions):
        super().__init__()
        self.node_name = name
        self.template = node
        self.in_shape = tuple(in_shape)
        self.out_shape = tuple(out_shape)
        self._exported: list[str] = []

    def _add(self, attr: str, value: Any, opts: BuildOptions, shape: Shape | None = None,
             param_name: str | None = None) -> None:
        """Register a NIR parameter as an ``nn.Parameter`` (trainable) or a buffer."""
        arr = np.asarray(value, dtype=np.float64)
        if shape is not None:
            arr = np.broadcast_to(arr, shape).copy()
        t = opts.tensor(arr)
        if (param_name or attr) in opts.trainable:
            self.register_parameter(attr, nn.Parameter(t))
        else:
            self.register_buffer(attr, t)
        self._exported.append(attr)

    def prepare(self) -> Any:
        return None

    def init_state(self, batch: int) -> tuple[torch.Tensor, ...]:
        return ()

    def apply(self, x: torch.Tensor, prep: Any) -> torch.Tensor:  # stateless
        raise NotImplementedError

    def step(self, x: torch.Tensor, state: tuple, prep: Any) -> tuple[torch.Tensor, tuple]:
        return self.apply(x, prep), state

    def export(self) -> P.NIRNode:
        """The NIR node with this op's current parameter values (float64 numpy)."""
        node = copy.deepcopy(self.template)
        for attr in self._exported:
            value = getattr(self, attr).detach().cpu().to(torch.float64).numpy().copy()
            old = getattr(self.template, attr, None)
            if old is not None and np.ndim(old) != value.ndim and np.size(old) == value.size:
                value = value.reshape(np.shape(old))
            setattr(node, attr, value)
        return node

    def _like(self, batch: int, shape: Shape) -> torch.Tensor:
        """Zeros ``[batch, *shape]`` with this op's float dtype and device."""
        ref = next((t for t in (*self.parameters(), *self.buffers())
                    if t.is_floating_point()), None)
        kwargs = {"dtype": ref.dtype, "device": ref.device} if ref is not None else {}
        return torch.zeros((batch, *shape), **kwargs)


class PassOp(NodeOp):
    """Input and Output: ``y = x``."""

    def apply(self, x: torch.Tensor, prep: Any) -> torch.Tensor:
        return x


class AffineOp(NodeOp):
    """``y = x W^T + b`` (Affine) or ``y = x W^T`` (Linear). Event-driven variant: for
    0/1 inputs, ``y = sum of the rows of W^T of the active inputs (+ b)``."""

    def __init__(self, name, node, in_shape, out_shape, opts):
        super().__init__(name, node, in_shape, out_shape, opts)
        self._add("weight", node.weight, opts)
        self.has_bias = isinstance(node, P.Affine) and getattr(node, "bias", None) is not None
        if self.has_bias:
            self._add("bias", np.broadcast_to(np.asarray(node.bias, dtype=np.float64),
                                              (self.out_shape[0],)), opts)
        self.event_driven = False  # set by the builder when the source emits spikes

    def prepare(self) -> Any:
        if self.event_driven:
            return self.weight.t().contiguous()
        return None

    def apply(self, x: torch.Tensor, prep: Any) -> torch.Tensor:
        if prep is not None and x.dim() == 2:
            return self._events(x, prep)
        return F.linear(x, self.weight, self.bias if self.has_bias else None)

    def _events(self, z: torch.Tensor, wt: torch.Tensor) -> torch.Tensor:
        active = z.any(0).nonzero().squeeze(1)
        if z.shape[0] == 1:
            y = wt.index_select(0, active).sum(0, keepdim=True)
        else:
            y = z.index_select(1, active) @ wt.index_select(0, active)
        return y + self.bias if self.has_bias else y


class ScaleOp(NodeOp):
    def __init__(self, name, node, in_shape, out_shape, opts):
        super().__init__(name, node, in_shape, out_shape, opts)
        self._add("scale", node.scale, opts, self.out_shape)

    def apply(self, x, prep):
        return x * self.scale


class ThresholdOp(NodeOp):
    """``y = (x - thr > 0)``, with the surrogate gradient in training."""

    spiking = True

    def __init__(self, name, node, in_shape, out_shape, opts):
        super().__init__(name, node, in_shape, out_shape, opts)
        self._add("threshold", node.threshold, opts, self.out_shape)
        self.spike = opts.spike

    def apply(self, x, prep):
        if torch.is_grad_enabled():
            return self.spike(x - self.threshold)
        return (x > self.threshold).to(x.dtype)


class FlattenOp(NodeOp):
    def apply(self, x, prep):
        return x.reshape(x.shape[0], *self.out_shape)


class ConvOp(NodeOp):
    """Conv1d/Conv2d with torch semantics (stride, padding, dilation, groups, bias)."""

    def __init__(self, name, node, in_shape, out_shape, opts):
        super().__init__(name, node, in_shape, out_shape, opts)
        self._add("weight", node.weight, opts)
        self.has_bias = getattr(node, "bias", None) is not None
        if self.has_bias:
            self._add("bias", np.broadcast_to(np.asarray(node.bias, dtype=np.float64),
                                              (self.out_shape[0],)), opts)
        nd = len(self.in_shape) - 1
        self.conv = F.conv1d if nd == 1 else F.conv2d
        pad = node.padding
        self.padding = pad if isinstance(pad, str) else as_tuple(pad, nd)
        self.stride = as_tuple(node.stride, nd)
        self.dilation = as_tuple(node.dilation, nd)
        self.groups = int(node.groups)

    def apply(self, x, prep):
        return self.conv(x, self.weight, self.bias if self.has_bias else None, self.stride,
                         self.padding, self.dilation, self.groups)


class PoolOp(NodeOp):
    """SumPool2d (window sum) and AvgPool2d (window mean, zero padding counted)."""

    def __init__(self, name, node, in_shape, out_shape, opts):
        super().__init__(name, node, in_shape, out_shape, opts)
        self.kernel = as_tuple(node.kernel_size, 2)
        self.stride = as_tuple(node.stride, 2)
        self.padding = as_tuple(node.padding, 2)
        # divisor 1 turns torch's average into the exact window sum
        self.divisor = 1 if isinstance(node, P.SumPool2d) else None

    def apply(self, x, prep):
        return F.avg_pool2d(x, self.kernel, self.stride, self.padding, ceil_mode=False,
                            count_include_pad=True, divisor_override=self.divisor)


class DelayOp(NodeOp):
    """``y[t] = x[t - d]`` per element, ``d = round(delay/dt)``; state: the last ``D``
    inputs, most recent first (a ring buffer as a tuple)."""

    kind = "stateful"

    def __init__(self, name, node, in_shape, out_shape, opts):
        super().__init__(name, node, in_shape, out_shape, opts)
        steps = np.broadcast_to(delay_steps_of(node, float(opts.semantics.dt)),
                                self.out_shape)
        self.depth = int(steps.max()) if steps.size else 0
        self.register_buffer("steps", torch.as_tensor(steps.copy(), device=opts.device))
        self._add("delay", node.delay, opts, param_name="__never_trained__")

    def init_state(self, batch):
        return tuple(self._like(batch, self.out_shape) for _ in range(self.depth))

    def step(self, x, state, prep):
        if self.depth == 0:
            return x, state
        stacked = torch.stack((x, *state))
        index = self.steps.expand(1, x.shape[0], *self.out_shape)
        return stacked.gather(0, index)[0], (x, *state[:-1])


# ------------------------------------------------------------------------ neurons
@dataclass
class NeuronCo:
    """Per-forward coefficients of one neuron node (tensors of the node's shape)."""

    a_syn: torch.Tensor | None
    b_syn: torch.Tensor | None
    a_mem: torch.Tensor
    k_old: torch.Tensor | None
    k_new: torch.Tensor | None
    k_x: torch.Tensor | None
    c: torch.Tensor | None
    v_threshold: torch.Tensor | None
    v_reset: torch.Tensor | None
    amount: torch.Tensor | None


def _torch_coefficients(node_type: type, p: Mapping[str, torch.Tensor], sem: Semantics,
                        shape: Shape) -> dict[str, torch.Tensor | None]:
    """The formulas of :func:`spikecore.discrete.neuron_coefficients` in torch (for the
    gradient with respect to neuron parameters); ``None`` marks a structural zero."""
    dt = float(sem.dt)
    exact = sem.integrator == "exact"
    increment = sem.input_meaning == "increment"
    out: dict[str, torch.Tensor | None] = dict.fromkeys(
        ("a_syn", "b_syn", "a_mem", "k_old", "k_new", "k_x", "c"))
    if node_type in (P.I, P.IF):
        out["a_mem"] = torch.ones_like(p["r"])
        out["k_x"] = dt * p["r"]
    elif node_type in (P.LI, P.LIF):
        tau, r, v_leak = p["tau"], p["r"], p["v_leak"]
        if exact:
            a = torch.exp(-dt / tau)
            out["k_x"] = dt * r / tau if increment else r * (1.0 - a)
            out["c"] = v_leak * (1.0 - a)
        else:
            a = 1.0 - dt / tau
            out["k_x"] = dt * r / tau
            out["c"] = dt * v_leak / tau
        out["a_mem"] = a
    else:
        ts, tm, r, v_leak, w_in = p["tau_syn"], p["tau_mem"], p["r"], p["v_leak"], p["w_in"]
        if exact:
            a_s, a_m = torch.exp(-dt / ts), torch.exp(-dt / tm)
            close = torch.isclose(ts, tm, rtol=1e-9, atol=0.0)
            general = ts / torch.where(close, torch.ones_like(ts), ts - tm) * (a_s - a_m)
            K = torch.where(close, dt / tm * a_m, general)
            out["c"] = v_leak * (1.0 - a_m)
            out["k_old"] = r * K
            if increment:
                out["b_syn"] = dt * w_in / ts
            else:
                out["b_syn"] = w_in * (1.0 - a_s)
                out["k_x"] = r * (1.0 - a_m - K) * w_in
        else:
            a_s, a_m = 1.0 - dt / ts, 1.0 - dt / tm
            out["b_syn"] = dt * w_in / ts
            k = dt * r / tm
            out["c"] = dt * v_leak / tm
            if sem.update_order == "current_first":
                out["k_new"] = k
            else:
                out["k_old"] = k
        out["a_syn"], out["a_mem"] = a_s, a_m
    return out


class NeuronOp(NodeOp):
    """I, IF, LI, LIF, CubaLI, CubaLIF: the update in the module docstring.

    Coefficients come from :func:`spikecore.discrete.neuron_coefficients` (float64 numpy,
    the contract's own numbers). When neuron parameters are trainable, they are also
    computed in torch for the gradient and snapped to the contract's values in the
    forward pass (``t + (exact - t).detach()``, exact because both differ by ulps).
    """

    kind = "stateful"

    def __init__(self, name, node, in_shape, out_shape, opts):
        super().__init__(name, node, in_shape, out_shape, opts)
        spec = P.SPECS[type(node)]
        self.sem = opts.semantics
        self.node_type = type(node)
        self.spiking = spec.spiking
        self.state_names = spec.states
        self.has_current = "i" in spec.states
        self.reset_mode = opts.semantics.reset
        self.spike = opts.spike
        self.detach_reset = opts.detach_reset
        self.param_names = [p for p in spec.array_params if hasattr(node, p)]
        for p in self.param_names:
            self._add(p, getattr(node, p), opts, self.out_shape)
        self.trained = any(p in opts.trainable for p in self.param_names)
        # Structural zeros of the update under this semantics (skipped terms).
        co = neuron_coefficients(node, self.sem, self.out_shape)
        structural = _torch_coefficients(self.node_type, {
            p: torch.as_tensor(P.param(node, p, self.out_shape)) for p in self.param_names
        }, self.sem, self.out_shape)
        self.terms = {k for k, v in structural.items() if v is not None}
        if not self.trained:
            self.terms = {k for k in self.terms if np.any(getattr(co, k) != 0)
                          or k in ("a_mem", "a_syn", "b_syn")}
            for k in ("a_syn", "b_syn", "a_mem", "k_old", "k_new", "k_x", "c"):
                self.register_buffer(f"co_{k}", opts.tensor(getattr(co, k)))

    def _numpy_coefficients(self):
        node = copy.deepcopy(self.template)
        for p in self.param_names:
            setattr(node, p, getattr(self, p).detach().cpu().to(torch.float64).numpy())
        return neuron_coefficients(node, self.sem, self.out_shape)

    def prepare(self) -> NeuronCo:
        vals: dict[str, torch.Tensor | None] = {}
        if self.trained:
            torch_co = _torch_coefficients(
                self.node_type, {p: getattr(self, p) for p in self.param_names}, self.sem,
                self.out_shape)
            exact = self._numpy_coefficients()
            for k, t in torch_co.items():
                if t is None or k not in self.terms:
                    vals[k] = None
                    continue
                ref = torch.as_tensor(getattr(exact, k), dtype=t.dtype, device=t.device)
                vals[k] = t + (ref - t).detach()
        else:
            for k in ("a_syn", "b_syn", "a_mem", "k_old", "k_new", "k_x", "c"):
                vals[k] = getattr(self, f"co_{k}") if k in self.terms else None
        v_th = self.v_threshold if self.spiking else None
        v_reset = self.v_reset if self.spiking else None
        if v_reset is not None and not isinstance(v_reset, nn.Parameter) and \
                self.reset_mode == "to_value" and not bool(v_reset.any()):
            v_reset = None  # "+ z*0" changes no value: skip it
        amount = v_th - v_reset if self.spiking and self.reset_mode == "subtract" else None
        return NeuronCo(vals["a_syn"], vals["b_syn"], vals["a_mem"], vals["k_old"],
                        vals["k_new"], vals["k_x"], vals["c"], v_th, v_reset, amount)

    def init_state(self, batch):
        v0 = self.v_leak if hasattr(self, "v_leak") else torch.zeros_like(self.r)
        v = v0.expand(batch, *self.out_shape).clone()
        if self.has_current:
            return (torch.zeros_like(v), v)
        return (v,)

    def step(self, x, state, co: NeuronCo):
        return neuron_update(co, x, state, self.has_current, self.spiking, self.reset_mode,
                             self.spike, self.detach_reset)

    def apply(self, x, prep):  # pragma: no cover - neurons are stepped
        raise TypeError("neurons are stateful")


def neuron_update(co: NeuronCo, x: torch.Tensor, state: tuple[torch.Tensor, ...],
                  has_current: bool, spiking: bool, reset: str,
                  spike: Callable[[torch.Tensor], torch.Tensor], detach_reset: bool = False,
                  ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """One step of the contract for one neuron population (pure function).

    ``state`` is ``(i, v)`` (CubaLI/CubaLIF) or ``(v,)``; returns ``(y, new_state)`` with
    ``y = z`` for spiking types and ``y = v`` otherwise. Same operation order as
    :func:`spikecore.discrete.neuron_step`.
    """
    if has_current:
        i, v = state
        i_new = co.a_syn * i + co.b_syn * x
    else:
        (v,) = state
        i = i_new = None
    v_new = co.a_mem * v
    if co.k_old is not None:
        v_new = v_new + co.k_old * i
    if co.k_new is not None:
        v_new = v_new + co.k_new * i_new
    if co.k_x is not None:
        v_new = v_new + co.k_x * x
    if co.c is not None:
        v_new = v_new + co.c
    if not spiking:
        return v_new, ((i_new, v_new) if has_current else (v_new,))
    if torch.is_grad_enabled():
        z = spike(v_new - co.v_threshold)
        zr = z.detach() if detach_reset else z
        if reset == "to_value":
            v_new = (1.0 - zr) * v_new
            if co.v_reset is not None:
                v_new = v_new + zr * co.v_reset
        else:
            v_new = v_new - zr * co.amount
    else:
        fired = v_new > co.v_threshold
        z = fired.to(v_new.dtype)
        if reset == "to_value":
            v_new = torch.where(fired, 0.0 if co.v_reset is None else co.v_reset, v_new)
        else:
            v_new = v_new - z * co.amount
    return z, ((i_new, v_new) if has_current else (v_new,))


def spike_and_reset(v_new: torch.Tensor, threshold: Any, v_reset: Any, amount: Any,
                    reset: str, spike: Callable[[torch.Tensor], torch.Tensor],
                    detach_reset: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """``z = v_new > threshold`` and the reset of the spiking neurons: ``v = v_reset``
    (``to_value``) or ``v = v_new - amount`` (``subtract``); returns ``(z, v)``.

    With autograd on, ``z`` comes from the surrogate ``spike(v_new - threshold)`` (the same
    0/1 forward for IEEE floats) and the reset is arithmetic, ``(1 - z) v_new + z v_reset``
    or ``v_new - z amount`` (``z`` detached there if ``detach_reset``); without, the same
    values through ``torch.where`` (exact for 0/1 ``z``)."""
    if torch.is_grad_enabled():
        z = spike(v_new - threshold)
        zr = z.detach() if detach_reset else z
        if reset == "to_value":
            return z, (1.0 - zr) * v_new + zr * v_reset
        return z, v_new - zr * amount
    fired = v_new > threshold
    z = fired.to(v_new.dtype)
    if reset == "to_value":
        return z, torch.where(fired, v_reset, v_new)
    return z, torch.where(fired, v_new - amount, v_new)


def as_tuple(value: Any, n: int) -> tuple[int, ...]:
    arr = np.atleast_1d(np.asarray(value)).astype(np.int64).ravel()
    if arr.size == 1:
        arr = np.repeat(arr, n)
    return tuple(int(v) for v in arr)


