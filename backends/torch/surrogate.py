"""Surrogate-gradient spike functions for training spiking networks in torch.

Every function here is the exact spike condition of the contract in the forward pass,
``z = 1 if u > 0 else 0`` with ``u = v - v_threshold`` (for IEEE doubles ``v - v_th > 0``
holds exactly when ``v > v_th``, so the forward pass stays bit-exact), and replaces the
zero/undefined derivative of the step by a smooth pseudo-derivative ``dz/du = s(u)`` in
the backward pass. ``scale`` is the steepness parameter of each surrogate:

=============  ===========================================================  =============
name           pseudo-derivative ``s(u)``                                    default scale
=============  ===========================================================  =============
superspike     ``1 / (scale*|u| + 1)**2``  (Zenke & Ganguli 2018, beta)      10.0
atan           ``scale/2 / (1 + (pi/2*scale*u)**2)``  (Fang et al. 2021)     2.0
sigmoid        ``scale * sig(scale*u) * (1 - sig(scale*u))``                 5.0
triangle       ``scale * max(0, 1 - scale*|u|)``  (Bellec et al. 2018: the    1.0
               e-prop pseudo-derivative is ``0.3*max(0, 1-|u|/v_th)``)
heaviside      ``0`` (no gradient; inference)                                -
=============  ===========================================================  =============

Norse ships a ``SuperSpike`` too, but its backward pass (norse 1.1.0,
``norse/torch/functional/superspike.py``) ignores ``alpha``: it returns
``g / (|u| + 1)**2`` for every alpha. These functions honour ``scale``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ...errors import SpikecoreError


def _step(u: torch.Tensor) -> torch.Tensor:
    return (u > 0).to(u.dtype)


def _autograd_step(name: str, derivative: Callable[[torch.Tensor, float], torch.Tensor],
                   doc: str) -> type[torch.autograd.Function]:
    """An autograd function: the contract's Heaviside step forward, ``grad * derivative(u,
    scale)`` backward. One factory, so each pseudo-derivative is written once."""

    def forward(ctx, u: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.save_for_backward(u)
        ctx.scale = scale
        return _step(u)

    def backward(ctx, grad: torch.Tensor):
        (u,) = ctx.saved_tensors
        return grad * derivative(u, ctx.scale), None

    return type(name, (torch.autograd.Function,), {
        "__doc__": doc, "forward": staticmethod(forward), "backward": staticmethod(backward)})


@dataclass(frozen=True)
class Surrogate:
    """One registered surrogate: the autograd function, its default scale, and its
    pseudo-derivative as a plain function (used by e-prop, which needs ``s(u)`` itself)."""

    function: type[torch.autograd.Function] | None
    default_scale: float
    derivative: Callable[[torch.Tensor, float], torch.Tensor]


def _d_superspike(u: torch.Tensor, s: float) -> torch.Tensor:
    return 1.0 / (s * u.abs() + 1.0) ** 2


def _d_atan(u: torch.Tensor, s: float) -> torch.Tensor:
    return (s / 2.0) / (1.0 + (math.pi / 2.0 * s * u) ** 2)


def _d_sigmoid(u: torch.Tensor, s: float) -> torch.Tensor:
    sg = torch.sigmoid(s * u)
    return s * sg * (1.0 - sg)


def _d_triangle(u: torch.Tensor, s: float) -> torch.Tensor:
    return s * torch.clamp(1.0 - s * u.abs(), min=0.0)


SuperSpike = _autograd_step("SuperSpike", _d_superspike,
                            "Heaviside forward; ``dz/du = 1 / (scale*|u| + 1)**2`` backward.")
ATan = _autograd_step("ATan", _d_atan, "Heaviside forward; ``dz/du = scale/2 / (1 + "
                      "(pi/2*scale*u)**2)`` backward (derivative of atan(pi/2*scale*u)/pi + 1/2).")
Sigmoid = _autograd_step("Sigmoid", _d_sigmoid,
                         "Heaviside forward; derivative of ``sigmoid(scale*u)`` backward.")
Triangle = _autograd_step("Triangle", _d_triangle,
                          "Heaviside forward; ``dz/du = scale * max(0, 1 - scale*|u|)`` backward.")

#: name -> surrogate; extend with :func:`register_surrogate`.
SURROGATES: dict[str, Surrogate] = {
    "superspike": Surrogate(SuperSpike, 10.0, _d_superspike),
    "atan": Surrogate(ATan, 2.0, _d_atan),
    "sigmoid": Surrogate(Sigmoid, 5.0, _d_sigmoid),
    "triangle": Surrogate(Triangle, 1.0, _d_triangle),
    "heaviside": Surrogate(None, 0.0, lambda u, s: torch.zeros_like(u)),
}


def register_surrogate(name: str, surrogate: Surrogate) -> None:
    """Add (or replace) a surrogate selectable by name in ``to_torch(surrogate=...)``."""
    SURROGATES[name] = surrogate


def get_surrogate(name: str) -> Surrogate:
    if name not in SURROGATES:
        raise SpikecoreError(
            f"surrogate={name!r}: unknown surrogate gradient; choose one of "
            f"{', '.join(sorted(SURROGATES))} (or register one with register_surrogate)"
        )
    return SURROGATES[name]


def spike_function(name: str = "superspike", scale: float | None = None
                   ) -> Callable[[torch.Tensor], torch.Tensor]:
    """``u -> z``: the spike of ``u = v - v_threshold`` with the named surrogate gradient."""
    sur = get_surrogate(name)
    if scale is None:
        scale = sur.default_scale
    scale = float(scale)
    if not math.isfinite(scale) or scale <= 0 and sur.function is not None:
        raise SpikecoreError(f"surrogate_scale={scale!r}: expected a positive finite number")
    if sur.function is None:
        return _step
    return SpikeFunction(sur.function, scale, name)


class SpikeFunction:
    """``u -> z`` through an autograd surrogate at a fixed ``scale``: a module-level class
    (not a closure), so modules holding one pickle with ``torch.save``."""

    def __init__(self, function: type[torch.autograd.Function], scale: float, surrogate: str):
        self.function = function
        self.scale = scale
        self.surrogate = surrogate

    def __call__(self, u: torch.Tensor) -> torch.Tensor:
        return self.function.apply(u, self.scale)

    def __repr__(self) -> str:
        return f"SpikeFunction({self.surrogate!r}, scale={self.scale})"
