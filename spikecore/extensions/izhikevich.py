"""The Izhikevich (2003) neuron (a, b, c, d; mV and ms as in the paper).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from .. import primitives as P
from ..semantics import Semantics
from ..xp import SpikeFn
from .base import (
    Extension,
    register_extension,
)

#: Izhikevich's equations are written in milliseconds: ``h = dt / IZHIKEVICH_TIME_UNIT``.
IZHIKEVICH_TIME_UNIT = 1e-3


@dataclass(eq=False)
class Izhikevich(Extension):
    """Izhikevich (2003) neuron, in the paper's units (v in mV, t in ms, I in mV/ms)::

        dv/dt = 0.04 v^2 + 5 v + 140 - u + I,   du/dt = a (b v - u)
        if v > v_peak: v <- c, u <- u + d

    ``I`` is the node's input (held for the step). The discrete update is the paper's own
    scheme (two Euler half-steps for ``v``, then one Euler step for ``u`` with the new
    ``v``), with ``h = dt / 1 ms``; see ``docs/semantics.md`` §7.
    """

    a: np.ndarray
    b: np.ndarray
    c: np.ndarray
    d: np.ndarray
    v0: np.ndarray
    u0: np.ndarray
    v_peak: np.ndarray = 30.0
    shape_param = "a"
    array_fields = ("a", "b", "c", "d", "v0", "u0", "v_peak")


register_extension(Izhikevich, P.PrimitiveSpec(
    "stateful", P.same_as("a"), states=("v", "u"), spiking=True,
    array_params=("a", "b", "c", "d", "v0", "u0", "v_peak"),
    notes="Izhikevich 2003 (mV, ms; two half-steps for v)"))


def izhikevich_h(semantics: Semantics) -> float:
    """The step in the model's time unit (ms)."""
    return float(semantics.dt) / IZHIKEVICH_TIME_UNIT


@dataclass(frozen=True)
class IzhikevichCoefficients:
    """``h = dt / 1 ms`` and the model's per-neuron ``a, b, c, d, v_peak``."""

    h: float
    a: Any
    b: Any
    c: Any
    d: Any
    v_peak: Any


class IzhikevichState(NamedTuple):
    v: Any
    u: Any


def izhikevich_coefficients(node: Izhikevich, semantics: Semantics, shape: tuple[int, ...]
                            ) -> IzhikevichCoefficients:
    return IzhikevichCoefficients(izhikevich_h(semantics),
                                  *(P.param(node, f, shape) for f in ("a", "b", "c", "d",
                                                                     "v_peak")))


def izhikevich_step(xp: Any, co: IzhikevichCoefficients, state: tuple, x: Any,
                    spike_fn: SpikeFn | None = None, detach_reset: bool = False
                    ) -> tuple[Any, IzhikevichState]:
    """``((v, u), I) -> (z, (v, u))``, Izhikevich (2003)'s scheme with ``h = dt / 1 ms``::

        f(w) = ((((0.04 (w w)) + 5 w) + 140) - u) + I      (this evaluation order)
        v1 = v  + (h/2) f(v)
        v2 = v1 + (h/2) f(v1)
        u' = u + h (a (b v2 - u))
        z = v2 > v_peak ;  where z: v2 = c, u' = u' + d

    With ``spike_fn`` the reset is arithmetic, ``v = (1 - zr) v2 + zr c``,
    ``u = u' + zr d`` (the same values for ``zr`` in {0, 1}).
    """
    v, u = state
    hh = 0.5 * co.h

    def f(w: Any) -> Any:
        return 0.04 * (w * w) + 5.0 * w + 140.0 - u + x

    v1 = v + hh * f(v)
    v2 = v1 + hh * f(v1)
    u_new = u + co.h * (co.a * (co.b * v2 - u))
    if spike_fn is None:
        z = v2 > co.v_peak
        return z, IzhikevichState(xp.where(z, co.c, v2), xp.where(z, u_new + co.d, u_new))
    z = spike_fn(v2 - co.v_peak)
    zr = z.detach() if detach_reset else z
    return z, IzhikevichState((1.0 - zr) * v2 + zr * co.c, u_new + zr * co.d)
