"""Rate units ``tau dx/dt = -x + input`` with output ``phi(x)`` (tanh, relu or power).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import nir
import numpy as np

from .. import primitives as P
from ..discrete import NeuronCoefficients, neuron_coefficients, neuron_step
from ..semantics import Semantics
from ..xp import relu
from .base import (
    Extension,
    nonnegative_problems,
    register_extension,
)

#: Output nonlinearities of :class:`RateUnit`.
PHIS = ("tanh", "relu", "power")


@dataclass(eq=False)
class RateUnit(Extension):
    """Rate unit ``tau dx/dt = -x + input``; output ``y = phi(x)``.

    ``phi``: ``"tanh"``, ``"relu"`` (``max(x, 0)``) or ``"power"``
    (``k * max(x, 0) ** n``). ``x`` starts at ``x0``. The discrete update of ``x`` is
    the LI update with ``r = 1``, ``v_leak = 0``. Recurrent coupling ``J phi(x)`` is
    built in the graph: a ``Linear(J)`` from the unit back to itself with delay 1.
    """

    tau: np.ndarray
    x0: np.ndarray
    phi: str = "tanh"
    k: np.ndarray = 1.0
    n: np.ndarray = 1.0
    shape_param = "tau"
    array_fields = ("tau", "x0", "k", "n")

    def base(self) -> nir.LI:
        shape = np.shape(self.tau)
        return nir.LI(tau=self.tau, r=np.ones(shape), v_leak=np.zeros(shape))


def _check_rate(name: str, node: Any, dt: float | None) -> list[str]:
    out = []
    if node.phi not in PHIS:
        out.append(f"node {name!r} (RateUnit): phi={node.phi!r}; expected one of "
                   + ", ".join(map(repr, PHIS)))
    elif node.phi == "power":
        out += nonnegative_problems(name, node, "n")
    return out


register_extension(RateUnit, P.PrimitiveSpec(
    "stateful", P.same_as("tau"), states=("x",), time_constants=("tau",),
    array_params=("tau", "x0", "k", "n"), notes="tau dx/dt = -x + input; y = phi(x)",
    extra={"check": _check_rate}))


@dataclass(frozen=True)
class RateCoefficients:
    """The LI coefficients of the unit's ``x`` (``r = 1``, ``v_leak = 0``) and its output
    nonlinearity ``phi`` (``'tanh'``, ``'relu'`` or ``'power'`` with ``k``, ``n``)."""

    membrane: NeuronCoefficients
    phi: str
    k: Any
    n: Any


class RateState(NamedTuple):
    x: Any


def rate_coefficients(node: RateUnit, semantics: Semantics, shape: tuple[int, ...]
                      ) -> RateCoefficients:
    return RateCoefficients(neuron_coefficients(node.base(), semantics, shape), node.phi,
                            P.param(node, "k", shape), P.param(node, "n", shape))


def phi(xp: Any, co: RateCoefficients, x: Any) -> Any:
    """The unit's output nonlinearity: ``tanh(x)``, ``max(x, 0)`` or ``k max(x, 0)^n``."""
    if co.phi == "tanh":
        return xp.tanh(x)
    if co.phi == "relu":
        return relu(xp, x)
    return co.k * relu(xp, x) ** co.n


def rate_step(xp: Any, co: RateCoefficients, state: tuple, inp: Any
              ) -> tuple[Any, RateState]:
    """``((x,), input) -> (y, (x,))``: ``x = a_mem x + k_x input + c``; ``y = phi(x)``."""
    x_new, _ = neuron_step(xp, co.membrane, tuple(state), inp)
    return phi(xp, co, x_new), RateState(x_new)
