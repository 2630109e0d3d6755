"""Torch lowerings of NIR's own primitives: each type's op class (:mod:`.ops`) and note."""

from __future__ import annotations

from ... import primitives as P
from ...semantics import Semantics
from .ops import (
    AffineOp,
    ConvOp,
    DelayOp,
    FlattenOp,
    NeuronOp,
    PassOp,
    PoolOp,
    ScaleOp,
    Shape,
    ThresholdOp,
    as_tuple,
)
from .registry import BUILDERS, Builder


def check_conv(name: str, node: P.NIRNode, in_shape: Shape, sem: Semantics) -> list[str]:
    pad = node.padding
    if isinstance(pad, str):
        if pad not in ("same", "valid"):
            return [f"{name!r} ({P.type_name(node)}): padding={pad!r} not understood; "
                    "expected an integer, a tuple, 'same' or 'valid'"]
        if pad == "same" and any(s != 1 for s in as_tuple(node.stride, len(in_shape) - 1)):
            return [f"{name!r} ({P.type_name(node)}): padding='same' needs stride 1 "
                    f"(torch), got stride={node.stride!r}; give explicit padding"]
    return []


BUILDERS.update({
    P.Input: Builder(PassOp, "y = input[t]"),
    P.Output: Builder(PassOp, "y = x (recorded in outputs)"),
    P.Affine: Builder(AffineOp, "y = W x + b; event-driven option for spike inputs"),
    P.Linear: Builder(AffineOp, "y = W x; event-driven option for spike inputs"),
    P.Scale: Builder(ScaleOp, "y = s*x"),
    P.Threshold: Builder(ThresholdOp, "y = x > threshold (surrogate gradient)"),
    P.Flatten: Builder(FlattenOp, "reshape per NIR"),
    P.Conv1d: Builder(ConvOp, "torch conv1d", check_conv),
    P.Conv2d: Builder(ConvOp, "torch conv2d", check_conv),
    P.SumPool2d: Builder(PoolOp, "window sum"),
    P.AvgPool2d: Builder(PoolOp, "window mean, count_include_pad=True"),
    P.Delay: Builder(DelayOp, "per-element delay in whole steps (ring buffer)"),
    P.I: Builder(NeuronOp, "euler/exact, as spikecore.discrete"),
    P.IF: Builder(NeuronOp, "euler/exact; reset to_value/subtract"),
    P.LI: Builder(NeuronOp, "euler/exact; input current/increment"),
    P.LIF: Builder(NeuronOp, "euler/exact; reset to_value/subtract"),
    P.CubaLI: Builder(NeuronOp, "euler (current_first/voltage_first) or exact"),
    P.CubaLIF: Builder(NeuronOp, "euler (current_first/voltage_first) or exact"),
})
