"""The torch operations of lowered nodes: one ``nn.Module`` per graph node.

:class:`NodeOp` is the interface :class:`~.module.SpikecoreModule` drives (``apply`` for
stateless ops, ``init_state``/``step`` for stateful ones); the ops here cover NIR's
primitives. :class:`NeuronOp` runs the contract's neuron update,
:func:`spikecore.discrete.neuron_step`, with ``xp=torch``: the one function the numpy
reference runs with ``xp=numpy``, so float64 states are bit-identical to numpy. Extension
primitives add their ops in their own modules and register them with
:func:`.registry.register_builder`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ... import primitives as P
from ...discrete import (
    COEFFICIENTS,
    MembraneState,
    NeuronCoefficients,
    SynapticState,
    coefficients,
    neuron_coefficients,
    neuron_step,
)
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

    def add_tensor(self, attr: str, value: Any, opts: BuildOptions, shape: Shape | None = None,
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

    def zeros_state(self, batch: int, shape: Shape) -> torch.Tensor:
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
        self.add_tensor("weight", node.weight, opts)
        self.has_bias = isinstance(node, P.Affine) and getattr(node, "bias", None) is not None
        if self.has_bias:
            self.add_tensor("bias", np.broadcast_to(np.asarray(node.bias, dtype=np.float64),
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
        self.add_tensor("scale", node.scale, opts, self.out_shape)

    def apply(self, x, prep):
        return x * self.scale


class ThresholdOp(NodeOp):
    """``y = (x - thr > 0)``, with the surrogate gradient in training."""

    spiking = True

    def __init__(self, name, node, in_shape, out_shape, opts):
        super().__init__(name, node, in_shape, out_shape, opts)
        self.add_tensor("threshold", node.threshold, opts, self.out_shape)
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
        self.add_tensor("weight", node.weight, opts)
        self.has_bias = getattr(node, "bias", None) is not None
        if self.has_bias:
            self.add_tensor("bias", np.broadcast_to(np.asarray(node.bias, dtype=np.float64),
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
        self.add_tensor("delay", node.delay, opts, param_name="__never_trained__")

    def init_state(self, batch):
        return tuple(self.zeros_state(batch, self.out_shape) for _ in range(self.depth))

    def step(self, x, state, prep):
        if self.depth == 0:
            return x, state
        stacked = torch.stack((x, *state))
        index = self.steps.expand(1, x.shape[0], *self.out_shape)
        return stacked.gather(0, index)[0], (x, *state[:-1])


# ------------------------------------------------------------------------ neurons
class NeuronOp(NodeOp):
    """I, IF, LI, LIF, CubaLI, CubaLIF: :func:`spikecore.discrete.neuron_step` with
    ``xp=torch``.

    Coefficients are the contract's float64 numbers (:func:`~spikecore.discrete.
    neuron_coefficients`). When neuron parameters are trainable, the same formulas
    (:func:`~spikecore.discrete.coefficients`) run in torch for the gradient, and the
    forward values are snapped to the numpy ones (``t + (exact - t).detach()``: both
    differ by ulps at most, where ``torch.exp`` and ``numpy.exp`` round differently).
    Terms whose coefficient is structurally zero, or zero and not trained, are skipped.
    """

    kind = "stateful"

    def __init__(self, name, node, in_shape, out_shape, opts):
        super().__init__(name, node, in_shape, out_shape, opts)
        spec = P.SPECS[type(node)]
        self.sem = opts.semantics
        self.node_type = type(node)
        self.spiking = spec.spiking
        self.state_names = spec.states
        self.reset_mode = opts.semantics.reset
        self.spike = opts.spike
        self.detach_reset = opts.detach_reset
        self.param_names = [p for p in spec.array_params if hasattr(node, p)]
        for p in self.param_names:
            self.add_tensor(p, getattr(node, p), opts, self.out_shape)
        self.trained = any(p in opts.trainable for p in self.param_names)
        exact = neuron_coefficients(node, self.sem, self.out_shape)
        structural = coefficients(np, self.node_type, {
            p: P.param(node, p, self.out_shape) for p in self.param_names}, self.sem)
        self.terms = {k for k in COEFFICIENTS if getattr(structural, k) is not None}
        if not self.trained:
            self.terms = {k for k in self.terms if np.any(getattr(exact, k) != 0)
                          or k in ("a_mem", "a_syn", "b_syn")}
            for k in COEFFICIENTS:
                self.register_buffer(f"co_{k}", opts.tensor(getattr(exact, k)))

    def _numpy_coefficients(self) -> NeuronCoefficients:
        node = copy.deepcopy(self.template)
        for p in self.param_names:
            setattr(node, p, getattr(self, p).detach().cpu().to(torch.float64).numpy())
        return neuron_coefficients(node, self.sem, self.out_shape)

    def prepare(self) -> NeuronCoefficients:
        params = {p: getattr(self, p) for p in self.param_names}
        if self.trained:
            co = coefficients(torch, self.node_type, params, self.sem)
            exact = self._numpy_coefficients()
            values = {}
            for k in COEFFICIENTS:
                t = getattr(co, k)
                if t is None or k not in self.terms:
                    values[k] = None
                    continue
                ref = torch.as_tensor(getattr(exact, k), dtype=t.dtype, device=t.device)
                values[k] = t + (ref - t).detach()
            return replace(co, **values)
        v_th, v_reset = params.get("v_threshold"), params.get("v_reset")
        if self.sem.reset == "to_value" and v_reset is not None and \
                not isinstance(v_reset, nn.Parameter) and not bool(v_reset.any()):
            v_reset = None  # reset to 0: the "+ z v_reset" term changes no value, skip it
        return NeuronCoefficients(
            **{k: getattr(self, f"co_{k}") if k in self.terms else None for k in COEFFICIENTS},
            v_threshold=v_th, v_reset=v_reset, v_initial=None,
            has_current="i" in self.state_names, spiking=self.spiking, reset=self.sem.reset,
            reset_amount=v_th - params["v_reset"] if self.spiking and self.sem.reset == "subtract"
            else None)

    def init_state(self, batch):
        co_v0 = self.v_leak if hasattr(self, "v_leak") else torch.zeros_like(self.r)
        v = co_v0.expand(batch, *self.out_shape).clone()
        if "i" in self.state_names:
            return SynapticState(torch.zeros_like(v), v)
        return MembraneState(v)

    def step(self, x, state, co: NeuronCoefficients):
        y, new = neuron_step(torch, co, state, x, surrogate(self.spike), self.detach_reset)
        return as_float(y, x), new

    def apply(self, x, prep):  # pragma: no cover - neurons are stepped
        raise TypeError("neurons are stateful")


def surrogate(spike: Callable[[torch.Tensor], torch.Tensor]
              ) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The ``spike_fn`` to pass to a step function: the surrogate while autograd records,
    ``None`` (exact boolean spikes and ``where`` resets) otherwise."""
    return spike if torch.is_grad_enabled() else None


def register_arrays(op: nn.Module, record: Any, opts: BuildOptions, prefix: str = "co_"
                    ) -> None:
    """Register every numpy array field of a (frozen dataclass) coefficient record as a
    buffer ``prefix + field`` of ``op`` (so it follows ``.to(device/dtype)``)."""
    for f in fields(record):
        value = getattr(record, f.name)
        if isinstance(value, np.ndarray):
            op.register_buffer(prefix + f.name, opts.tensor(value))


def arrays_as_buffers(op: nn.Module, record: Any, prefix: str = "co_") -> Any:
    """``record`` with its array fields replaced by ``op``'s buffers (see
    :func:`register_arrays`)."""
    return replace(record, **{f.name: getattr(op, prefix + f.name) for f in fields(record)
                              if isinstance(getattr(record, f.name), np.ndarray)})


def as_float(y: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Boolean spikes (the no-autograd path of :func:`spikecore.xp.spike_and_reset`) as
    0/1 in ``like``'s float dtype; float outputs unchanged."""
    return y.to(like.dtype) if y.dtype == torch.bool else y


def as_tuple(value: Any, n: int) -> tuple[int, ...]:
    arr = np.atleast_1d(np.asarray(value)).astype(np.int64).ravel()
    if arr.size == 1:
        arr = np.repeat(arr, n)
    return tuple(int(v) for v in arr)


