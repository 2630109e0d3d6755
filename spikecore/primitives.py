"""What spikecore knows about each primitive: kind, states, parameters, shape rule.

Primitive node classes are NIR's own (``nir.LIF``, ``nir.Affine``...), re-exported here
so that ``spikecore.primitives.LIF`` and ``nir.LIF`` are the same class: a graph built
with either is plain NIR. Each type is described by a :class:`PrimitiveSpec` in the
:data:`SPECS` registry; backends, validation and NIR I/O look types up there instead of
chaining ``isinstance`` tests. Extension primitives register themselves the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import nir
import numpy as np
from nir import (  # noqa: F401  (re-exported)
    IF,
    LI,
    LIF,
    Affine,
    AvgPool2d,
    Conv1d,
    Conv2d,
    CubaLI,
    CubaLIF,
    Delay,
    Flatten,
    I,
    Input,
    Linear,
    NIRNode,
    Output,
    Scale,
    SumPool2d,
    Threshold,
)
from nir.ir.utils import calc_flatten_output, calculate_conv_output

Shape = tuple[int, ...]


class ShapeError(ValueError):
    """Raised by a shape rule; the message names the parameter and the expectation."""


@dataclass(frozen=True)
class PrimitiveSpec:
    """Facts about one primitive type.

    Attributes:
        kind: ``source`` (Input), ``sink`` (Output), ``stateless`` or ``stateful``.
        states: names of the state variables, in update order (e.g. ``("i", "v")``).
        spiking: whether the output is a spike (0/1) train.
        time_constants: fields that are time constants in seconds (must be > 0).
        array_params: fields holding per-neuron/per-weight numeric arrays.
        output_shape: ``(node, input_shape) -> output_shape``; raises :class:`ShapeError`.
    """

    kind: str
    output_shape: Callable[[NIRNode, Shape | None], Shape]
    states: tuple[str, ...] = ()
    spiking: bool = False
    time_constants: tuple[str, ...] = ()
    array_params: tuple[str, ...] = ()
    notes: str = ""
    extra: dict = field(default_factory=dict)


SPECS: dict[type, PrimitiveSpec] = {}


def register(node_type: type, spec: PrimitiveSpec) -> None:
    """Register (or replace) the spec of a primitive type."""
    SPECS[node_type] = spec


def spec_of(node: NIRNode) -> PrimitiveSpec | None:
    return SPECS.get(type(node))


def type_name(node: object) -> str:
    return type(node).__name__


def as_shape(x) -> Shape:
    """A shape as a tuple of non-negative ints; :class:`ShapeError` for anything else
    (NaN, inf, fractions, negative sizes, strings) instead of a raw numpy/int error."""
    try:
        arr = np.atleast_1d(np.asarray(x)).ravel()
        values = arr.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise ShapeError(f"shape {x!r} is not a list of integers") from exc
    if not np.all(np.isfinite(values)) or np.any(values < 0) or np.any(values != np.round(values)):
        raise ShapeError(f"shape {arr.tolist()!r} must hold non-negative whole numbers")
    return tuple(int(v) for v in values)


def same_as(param: str) -> Callable[[NIRNode, Shape | None], Shape]:
    def rule(node: NIRNode, in_shape: Shape | None) -> Shape:
        shape = tuple(np.shape(getattr(node, param)))
        if shape == ():
            shape = (1,)
        if in_shape is not None and tuple(in_shape) != shape:
            raise ShapeError(f"input shape {tuple(in_shape)} != shape of {param!r} {shape}")
        return shape

    return rule


def _input_shape(node: nir.Input, in_shape: Shape | None) -> Shape:
    return as_shape(node.input_type["input"])


def _squeezed(shape: Shape) -> Shape:
    return tuple(d for d in shape if d != 1)


def _output_shape(node: nir.Output, in_shape: Shape | None) -> Shape:
    declared = node.output_type.get("output") if node.output_type else None
    if declared is not None and in_shape is not None and as_shape(declared) != tuple(in_shape):
        # Legacy exporters (Rockpool, NIR paper files) declare extra singleton axes such
        # as (1, 1, n): same elements in the same order, so accept them.
        if _squeezed(as_shape(declared)) != _squeezed(tuple(in_shape)):
            raise ShapeError(
                f"declared shape {as_shape(declared)} != incoming shape {tuple(in_shape)}"
            )
    if in_shape is not None:
        return tuple(in_shape)
    return as_shape(declared)


def _matrix(node: NIRNode, in_shape: Shape | None) -> Shape:
    w = np.asarray(node.weight)
    if w.ndim != 2:
        raise ShapeError(f"'weight' must be 2-D (out, in), got shape {w.shape}")
    if in_shape is not None and tuple(in_shape) != (w.shape[1],):
        raise ShapeError(
            f"input shape {tuple(in_shape)} != ({w.shape[1]},) from 'weight' {w.shape}"
        )
    bias = getattr(node, "bias", None)
    if bias is not None and np.shape(bias) not in ((), (1,), (w.shape[0],)):
        raise ShapeError(f"'bias' has shape {np.shape(bias)}, expected ({w.shape[0]},) (one "
                         "value per output) or a scalar")
    return (int(w.shape[0]),)


def _conv(ndim: int) -> Callable[[NIRNode, Shape | None], Shape]:
    def rule(node: NIRNode, in_shape: Shape | None) -> Shape:
        w = np.asarray(node.weight)
        if w.ndim != ndim + 2:
            raise ShapeError(f"'weight' must be {ndim + 2}-D, got shape {w.shape}")
        if in_shape is None:
            if node.input_shape is None:
                raise ShapeError("input shape unknown: set 'input_shape' or connect an input")
            spatial = as_shape(node.input_shape)
            in_shape = (int(w.shape[1]) * int(node.groups), *spatial)
        if len(in_shape) != ndim + 1:
            raise ShapeError(f"input must be (C, {'N' if ndim == 1 else 'H, W'}), got {in_shape}")
        groups = int(node.groups)
        if in_shape[0] != w.shape[1] * groups:
            raise ShapeError(
                f"input has {in_shape[0]} channels, weight expects {w.shape[1]} x groups={groups}"
            )
        if w.shape[0] % groups:
            raise ShapeError(f"{w.shape[0]} output channels not divisible by groups={groups}")
        if node.input_shape is not None and as_shape(node.input_shape) != tuple(in_shape[1:]):
            raise ShapeError(
                f"'input_shape' {as_shape(node.input_shape)} != incoming {tuple(in_shape[1:])}"
            )
        spatial_in = in_shape[1] if ndim == 1 else tuple(in_shape[1:])
        out = calculate_conv_output(
            spatial_in, node.padding, node.dilation, w.shape[2:] if ndim == 2 else w.shape[2],
            node.stride,
        )
        out = as_shape(out)
        if min(out) < 1:
            raise ShapeError(f"output spatial shape {out} is empty")
        return (int(w.shape[0]), *out)

    return rule


def _pool(node: NIRNode, in_shape: Shape | None) -> Shape:
    if in_shape is None:
        raise ShapeError("input shape unknown: connect an input")
    if len(in_shape) != 3:
        raise ShapeError(f"input must be (C, H, W), got {in_shape}")
    k = as_shape(node.kernel_size)
    k = k * 2 if len(k) == 1 else k
    out = as_shape(calculate_conv_output(in_shape[1:], as_shape(node.padding) * (
        2 if np.size(node.padding) == 1 else 1), 1, k, as_shape(node.stride) * (
        2 if np.size(node.stride) == 1 else 1)))
    if min(out) < 1:
        raise ShapeError(f"output spatial shape {out} is empty")
    return (in_shape[0], *out)


def _flatten(node: nir.Flatten, in_shape: Shape | None) -> Shape:
    if in_shape is None:
        declared = node.input_type.get("input")
        if declared is None:
            raise ShapeError("input shape unknown: connect an input or set 'input_type'")
        in_shape = as_shape(declared)
    out = as_shape(calc_flatten_output(list(in_shape), int(node.start_dim), int(node.end_dim)))
    if int(np.prod(out)) != int(np.prod(in_shape)):
        raise ShapeError(f"flattening {in_shape} with start_dim={node.start_dim}, "
                         f"end_dim={node.end_dim} changes the number of elements")
    return out


_NEURON_COMMON = ("r", "v_leak")
register(nir.Input, PrimitiveSpec("source", _input_shape))
register(nir.Output, PrimitiveSpec("sink", _output_shape))
register(nir.Affine, PrimitiveSpec("stateless", _matrix, array_params=("weight", "bias")))
register(nir.Linear, PrimitiveSpec("stateless", _matrix, array_params=("weight",)))
register(nir.Scale, PrimitiveSpec("stateless", same_as("scale"), array_params=("scale",)))
register(nir.Threshold, PrimitiveSpec("stateless", same_as("threshold"), spiking=True,
                                      array_params=("threshold",)))
register(nir.Delay, PrimitiveSpec("stateful", same_as("delay"), array_params=("delay",),
                                  notes="delay in seconds; must be a multiple of dt"))
register(nir.Flatten, PrimitiveSpec("stateless", _flatten))
register(nir.Conv1d, PrimitiveSpec("stateless", _conv(1), array_params=("weight", "bias")))
register(nir.Conv2d, PrimitiveSpec("stateless", _conv(2), array_params=("weight", "bias")))
register(nir.SumPool2d, PrimitiveSpec("stateless", _pool))
register(nir.AvgPool2d, PrimitiveSpec("stateless", _pool))
register(nir.I, PrimitiveSpec("stateful", same_as("r"), states=("v",), array_params=("r",)))
register(nir.IF, PrimitiveSpec("stateful", same_as("r"), states=("v",), spiking=True,
                               array_params=("r", "v_threshold", "v_reset")))
register(nir.LI, PrimitiveSpec("stateful", same_as("tau"), states=("v",),
                               time_constants=("tau",), array_params=("tau", *_NEURON_COMMON)))
register(nir.LIF, PrimitiveSpec("stateful", same_as("tau"), states=("v",), spiking=True,
                                time_constants=("tau",),
                                array_params=("tau", *_NEURON_COMMON, "v_threshold", "v_reset")))
register(nir.CubaLI, PrimitiveSpec("stateful", same_as("tau_mem"), states=("i", "v"),
                                   time_constants=("tau_syn", "tau_mem"),
                                   array_params=("tau_syn", "tau_mem", *_NEURON_COMMON, "w_in")))
register(nir.CubaLIF, PrimitiveSpec("stateful", same_as("tau_mem"), states=("i", "v"),
                                    spiking=True, time_constants=("tau_syn", "tau_mem"),
                                    array_params=("tau_syn", "tau_mem", *_NEURON_COMMON,
                                                  "v_threshold", "v_reset", "w_in")))


def param(node: NIRNode, name: str, shape: Shape | None = None) -> np.ndarray:
    """A numeric parameter as a float64 array, broadcast to ``shape`` when given."""
    value = np.asarray(getattr(node, name), dtype=np.float64)
    if shape is not None:
        value = np.broadcast_to(value, shape).copy()
    return value


def spiking_types() -> list[str]:
    return sorted(t.__name__ for t, s in SPECS.items() if s.spiking)
