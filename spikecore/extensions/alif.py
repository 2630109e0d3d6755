"""The adaptive-threshold LIF of e-prop (Bellec et al. 2020): threshold
``v_threshold + beta * a``, ``a`` decays with ``tau_adapt`` and grows by one per spike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import nir
import numpy as np

from .. import primitives as P
from ..discrete import NeuronCoefficients, neuron_coefficients, neuron_step
from ..semantics import Semantics
from ..xp import SpikeFn, decay, spike_and_reset
from .base import (
    NEURON_FIELDS,
    Extension,
    per_neuron,
    register_extension,
)


@dataclass(eq=False)
class ALIF(Extension):
    """Adaptive-threshold LIF (the ALIF of e-prop, Bellec et al. 2020).

    ``v`` follows the LIF update; the threshold in step ``t`` is
    ``b[t] = v_threshold + beta * a[t-1]``; ``z[t] = v[t] > b[t]``; the reset is the
    LIF's (``subtract`` removes ``v_threshold - v_reset``, the baseline, as in e-prop);
    then ``a[t] = rho * a[t-1] + z[t]`` with ``rho = exp(-dt/tau_adapt)`` (exact) or
    ``1 - dt/tau_adapt`` (Euler). ``a`` starts at 0.
    """

    tau: np.ndarray
    r: np.ndarray
    v_leak: np.ndarray
    v_threshold: np.ndarray
    v_reset: np.ndarray
    tau_adapt: np.ndarray
    beta: np.ndarray
    shape_param = "tau"
    array_fields = ("tau", "r", "v_leak", "v_threshold", "v_reset", "tau_adapt", "beta")

    def base(self) -> nir.LI:
        """The membrane without threshold (same coefficients as the LIF's)."""
        return nir.LI(**per_neuron(self, "tau", "r", "v_leak"))


register_extension(ALIF, P.PrimitiveSpec(
    "stateful", P.same_as("tau"), states=("v", "a"), spiking=True, time_constants=("tau", "tau_adapt"),
    array_params=("tau", *NEURON_FIELDS, "tau_adapt", "beta"),
    notes="adaptive threshold v_threshold + beta*a"))


@dataclass(frozen=True)
class ALIFCoefficients:
    """``membrane``: the LIF's coefficients (from an LI, so without threshold);
    ``rho``: adaptation decay per step; ``beta``, ``v_threshold``, ``v_reset`` arrays."""

    membrane: NeuronCoefficients
    rho: Any
    beta: Any
    v_threshold: Any
    v_reset: Any
    reset: str

    @property
    def reset_amount(self) -> Any:
        return self.v_threshold - self.v_reset


class ALIFState(NamedTuple):
    v: Any
    a: Any


def alif_coefficients(node: ALIF, semantics: Semantics, shape: tuple[int, ...]
                      ) -> ALIFCoefficients:
    rho = decay(np, float(semantics.dt), P.param(node, "tau_adapt", shape),
                semantics.integrator == "exact")
    return ALIFCoefficients(neuron_coefficients(node.base(), semantics, shape), rho,
                            P.param(node, "beta", shape), P.param(node, "v_threshold", shape),
                            P.param(node, "v_reset", shape), semantics.reset)


def alif_step(xp: Any, co: ALIFCoefficients, state: tuple, x: Any,
              spike_fn: SpikeFn | None = None, detach_reset: bool = False
              ) -> tuple[Any, ALIFState]:
    """``((v, a), x) -> (z, (v, a))``::

        v = a_mem v + k_x x + c
        b = v_threshold + beta * a          (a of the previous step)
        z = v > b
        v = v_reset  (to_value)  |  v - (v_threshold - v_reset)  (subtract)   where z
        a = rho * a + z
    """
    v, a = state
    v_new, _ = neuron_step(xp, co.membrane, (v,), x)
    z, v_new = spike_and_reset(xp, v_new, co.v_threshold + co.beta * a, co.v_reset,
                               co.v_threshold - co.v_reset, co.reset, spike_fn, detach_reset)
    return z, ALIFState(v_new, co.rho * a + z)
