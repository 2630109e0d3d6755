"""Refractory LIF and CubaLIF: after a spike the membrane is held and ignores input for
``n = round(t_ref / dt)`` steps (the synaptic current keeps filtering).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import nir
import numpy as np

from .. import primitives as P
from ..discrete import NeuronCoefficients, neuron_step
from ..xp import SpikeFn
from .base import (
    NEURON_FIELDS,
    Extension,
    per_neuron,
    register_extension,
    whole_steps_problems,
)


@dataclass(eq=False)
class RefractoryLIF(Extension):
    """LIF with an absolute refractory period.

    ``tau dv/dt = (v_leak - v) + r x`` between spikes (the LIF update of
    :mod:`spikecore.discrete`). After a spike in step ``t`` (reset applied), for the
    ``n = round(t_ref / dt)`` steps ``t+1 .. t+n`` the membrane is held at its
    post-reset value (``v_reset`` under ``reset='to_value'``), its input is discarded
    and it cannot spike. ``t_ref`` (seconds, >= 0) must be a whole number of steps.
    """

    tau: np.ndarray
    r: np.ndarray
    v_leak: np.ndarray
    v_threshold: np.ndarray
    v_reset: np.ndarray
    t_ref: np.ndarray
    shape_param = "tau"
    array_fields = ("tau", "r", "v_leak", "v_threshold", "v_reset", "t_ref")

    def base(self) -> nir.LIF:
        """The plain LIF this neuron follows between refractory periods."""
        return nir.LIF(**per_neuron(self, "tau", "r", "v_leak", "v_threshold", "v_reset"))


@dataclass(eq=False)
class RefractoryCubaLIF(Extension):
    """CubaLIF with an absolute refractory period.

    The synaptic current ``i`` follows its update every step (it keeps filtering the
    input, as in Lava's ``LIFRefractory``); the membrane is held at its post-reset value
    for ``n = round(t_ref / dt)`` steps after a spike and cannot spike then.
    """

    tau_syn: np.ndarray
    tau_mem: np.ndarray
    r: np.ndarray
    v_leak: np.ndarray
    v_threshold: np.ndarray
    v_reset: np.ndarray
    w_in: np.ndarray
    t_ref: np.ndarray
    shape_param = "tau_mem"
    array_fields = ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset", "w_in",
                    "t_ref")

    def base(self) -> nir.CubaLIF:
        return nir.CubaLIF(**per_neuron(self, "tau_syn", "tau_mem", "r", "v_leak",
                                        "v_threshold", "v_reset", "w_in"))


def _check_refractory(name: str, node: Any, dt: float | None) -> list[str]:
    return whole_steps_problems(name, node, "t_ref", dt)


register_extension(RefractoryLIF, P.PrimitiveSpec(
    "stateful", P.same_as("tau"), states=("v",), spiking=True, time_constants=("tau",),
    array_params=("tau", *NEURON_FIELDS, "t_ref"), notes="LIF + refractory steps round(t_ref/dt)",
    extra={"check": _check_refractory}))


register_extension(RefractoryCubaLIF, P.PrimitiveSpec(
    "stateful", P.same_as("tau_mem"), states=("i", "v"), spiking=True,
    time_constants=("tau_syn", "tau_mem"),
    array_params=("tau_syn", "tau_mem", *NEURON_FIELDS, "w_in", "t_ref"),
    notes="CubaLIF + refractory steps round(t_ref/dt)", extra={"check": _check_refractory}))


REFRACTORY_TYPES = (RefractoryLIF, RefractoryCubaLIF)


def refractory_steps(node: RefractoryLIF | RefractoryCubaLIF, dt: float,
                     shape: tuple[int, ...]) -> np.ndarray:
    """``n = round(t_ref / dt)`` per neuron (float64 holding whole numbers)."""
    return np.round(P.param(node, "t_ref", shape) / float(dt))


class RefractoryState(NamedTuple):
    """RefractoryLIF: membrane, then refractory steps left."""

    v: Any
    ref: Any


class RefractorySynapticState(NamedTuple):
    """RefractoryCubaLIF: synaptic current, membrane, refractory steps left."""

    i: Any
    v: Any
    ref: Any


def refractory_step(xp: Any, co: NeuronCoefficients, n_ref: Any, state: tuple, x: Any,
                    spike_fn: SpikeFn | None = None, detach_reset: bool = False
                    ) -> tuple[Any, RefractoryState | RefractorySynapticState]:
    """``(state, x) -> (z, state)``; ``co`` from the base LIF/CubaLIF, ``state`` the base
    neuron's state followed by ``ref``, the refractory steps left.

    Where ``ref > 0`` the membrane keeps its value and cannot spike and ``ref`` drops by
    one; elsewhere the base update (:func:`~spikecore.discrete.neuron_step`) runs; a spike
    sets ``ref = n_ref``. The synaptic current always follows its update.
    """
    *base, ref = state
    active = ref <= 0
    z, new = neuron_step(xp, co, tuple(base), x, spike_fn, detach_reset)
    z = z * active
    v = xp.where(active, new[-1], base[-1])
    ref_new = xp.where(z != 0, n_ref, xp.where(ref > 0, ref - 1.0, ref))
    if co.has_current:
        return z, RefractorySynapticState(new[0], v, ref_new)
    return z, RefractoryState(v, ref_new)
