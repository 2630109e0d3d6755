"""The exact discrete updates of the extension primitives, and the seeded streams.

The companion of :mod:`spikecore.discrete` for :mod:`spikecore.extensions`: every
backend takes its coefficients and its random streams from here, and the ``*_step``
functions are the executable form of ``docs/semantics.md`` §7 (numpy, float64). Backends
must reproduce them operation for operation.

Streams: the random numbers of a source node are a pure function of ``(seed, node
name, batch element, step)``: a Philox-4x64 generator keyed by a hash of
``(seed, name, batch element)`` with its counter set to ``[0, t, 0, 0]`` draws step
``t``'s values. The stream is computed once in numpy in the main process and handed to
each backend, so every backend sees the identical stream, whatever the number of steps
or the batch size.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from . import primitives as P
from .discrete import NeuronCoefficients, neuron_coefficients, neuron_step
from .extensions import (
    ALIF,
    OUSource,
    PoissonSource,
    RateUnit,
    RefractoryCubaLIF,
    RefractoryLIF,
    WhiteNoiseSource,
)
from .semantics import Semantics

REFRACTORY_TYPES = (RefractoryLIF, RefractoryCubaLIF)


# =========================================================== refractory LIF / CubaLIF
def refractory_steps(node: RefractoryLIF | RefractoryCubaLIF, dt: float,
                     shape: tuple[int, ...]) -> np.ndarray:
    """``n = round(t_ref / dt)`` per neuron (float64 holding whole numbers)."""
    return np.round(P.param(node, "t_ref", shape) / float(dt))


def refractory_step(co: NeuronCoefficients, n_ref: np.ndarray, i: np.ndarray,
                    v: np.ndarray, ref: np.ndarray, x: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(i, v, ref, x) -> (z, i, v, ref)``; ``co`` from the base LIF/CubaLIF.

    ``ref`` counts the refractory steps left. Where ``ref > 0`` the membrane keeps its
    value and cannot spike and ``ref`` drops by one; elsewhere the base update runs; a
    spike sets ``ref = n_ref``. The synaptic current always follows its update.
    """
    active = ref <= 0
    z, i_new, v_cand = neuron_step(co, i, v, x)
    z = z & active
    v_new = np.where(active, v_cand, v)
    ref_new = np.where(z, n_ref, ref - (ref > 0))
    return z, i_new, v_new, ref_new


# ====================================================================== ALIF
@dataclass(frozen=True)
class ALIFCoefficients:
    """``membrane``: the LIF's coefficients (from an LI, so without threshold);
    ``rho``: adaptation decay per step; ``beta``, ``v_threshold``, ``v_reset`` arrays."""

    membrane: NeuronCoefficients
    rho: np.ndarray
    beta: np.ndarray
    v_threshold: np.ndarray
    v_reset: np.ndarray
    reset: str

    @property
    def reset_amount(self) -> np.ndarray:
        return self.v_threshold - self.v_reset


def alif_coefficients(node: ALIF, semantics: Semantics, shape: tuple[int, ...]
                      ) -> ALIFCoefficients:
    dt = float(semantics.dt)
    tau_a = P.param(node, "tau_adapt", shape)
    rho = np.exp(-dt / tau_a) if semantics.integrator == "exact" else 1.0 - dt / tau_a
    return ALIFCoefficients(neuron_coefficients(node.base(), semantics, shape), rho,
                            P.param(node, "beta", shape), P.param(node, "v_threshold", shape),
                            P.param(node, "v_reset", shape), semantics.reset)


def alif_step(co: ALIFCoefficients, v: np.ndarray, a: np.ndarray, x: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(v, a, x) -> (z, v, a)``::

        v = a_mem v + k_x x + c
        b = v_threshold + beta * a          (a of the previous step)
        z = v > b
        v = v_reset  (to_value)  |  v - (v_threshold - v_reset)  (subtract)   where z
        a = rho * a + z
    """
    _, _, v_new = neuron_step(co.membrane, v, v, x)
    b = co.v_threshold + co.beta * a
    z = v_new > b
    if co.reset == "to_value":
        v_new = np.where(z, co.v_reset, v_new)
    else:
        v_new = np.where(z, v_new - co.reset_amount, v_new)
    return z, v_new, co.rho * a + z


# ====================================================================== rate units
def rate_coefficients(node: RateUnit, semantics: Semantics, shape: tuple[int, ...]
                      ) -> NeuronCoefficients:
    """The LI coefficients with ``r = 1``, ``v_leak = 0`` (``c`` is then 0)."""
    return neuron_coefficients(node.base(), semantics, shape)


def phi(node: RateUnit, x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The unit's output nonlinearity."""
    if node.phi == "tanh":
        return np.tanh(x)
    if node.phi == "relu":
        return np.maximum(x, 0.0)
    return P.param(node, "k", shape) * np.maximum(x, 0.0) ** P.param(node, "n", shape)


def rate_step(node: RateUnit, co: NeuronCoefficients, x: np.ndarray, inp: np.ndarray,
              shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """``(x, input) -> (y, x)``: ``x = a_mem x + k_x input + c``; ``y = phi(x)``."""
    _, _, x_new = neuron_step(co, x, x, inp)
    return phi(node, x_new, shape), x_new


# ====================================================================== streams
def philox_key(seed: int, name: str, batch_index: int) -> np.ndarray:
    """The 128-bit Philox key of one (seed, node name, batch element) stream."""
    digest = hashlib.sha256(f"spikecore/{int(seed)}/{name}/{int(batch_index)}".encode()).digest()
    return np.frombuffer(digest[:16], dtype=np.uint64).copy()


def _draws(seed: int, name: str, batch: int, t0: int, t1: int, size: int, kind: str
           ) -> np.ndarray:
    """``[batch, t1 - t0, size]`` uniform [0, 1) or standard normal draws."""
    out = np.empty((batch, t1 - t0, size))
    for b in range(batch):
        key = philox_key(seed, name, b)
        for t in range(t0, t1):
            gen = np.random.Generator(np.random.Philox(key=key, counter=[0, t, 0, 0]))
            out[b, t - t0] = gen.random(size) if kind == "uniform" else gen.standard_normal(size)
    return out


def source_initial_state(node: object, batch: int, shape: tuple[int, ...]) -> np.ndarray | None:
    """State carried between blocks of a stream (the OU value), ``None`` if stateless."""
    if isinstance(node, OUSource):
        return np.broadcast_to(P.param(node, "mean", shape), (batch, *shape)).copy()
    return None


def source_stream(node: object, name: str, semantics: Semantics, batch: int, t0: int, t1: int,
                  shape: tuple[int, ...] | None = None, state: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray | None]:
    """Steps ``t0 .. t1-1`` of a source's output, ``[batch, t1 - t0, *shape]`` float64,
    and the state after them (pass it back for the next block; ``None`` at ``t0 = 0``
    means the initial state). Blocks concatenate to the stream computed in one call."""
    if shape is None:
        shape = P.SPECS[type(node)].output_shape(node, None)
    size = int(np.prod(shape))
    dt = float(semantics.dt)
    if isinstance(node, PoissonSource):
        u = _draws(node.seed, name, batch, t0, t1, size, "uniform")
        p = P.param(node, "rate", shape).ravel() * dt
        return (u < p).astype(np.float64).reshape(batch, t1 - t0, *shape), None
    xi = _draws(node.seed, name, batch, t0, t1, size, "normal").reshape(batch, t1 - t0, *shape)
    mean, sigma = P.param(node, "mean", shape), P.param(node, "sigma", shape)
    if isinstance(node, WhiteNoiseSource):
        return mean + (sigma / np.sqrt(dt)) * xi, None
    if not isinstance(node, OUSource):
        raise TypeError(f"{type(node).__name__} is not a source primitive")
    tau = P.param(node, "tau", shape)
    y = source_initial_state(node, batch, shape) if state is None else np.array(state)
    out = np.empty_like(xi)
    if semantics.integrator == "exact":
        a = np.exp(-dt / tau)
        s = sigma * np.sqrt(1.0 - a * a)
        for k in range(t1 - t0):
            y = mean + a * (y - mean) + s * xi[:, k]
            out[:, k] = y
    else:
        h = dt / tau
        s = sigma * np.sqrt(2.0 * h)
        for k in range(t1 - t0):
            y = y + h * (mean - y) + s * xi[:, k]
            out[:, k] = y
    return out, y


def graph_streams(graph, batch: int, steps: int) -> dict[str, np.ndarray]:
    """Every source node of the flat ``graph``: name -> ``[batch, steps, *shape]``."""
    shapes = graph.shapes()
    out = {}
    for n, node in graph.nodes.items():
        if type(node) in SOURCE_TYPES:
            out[n] = source_stream(node, n, graph.semantics, batch, 0, steps, shapes[n])[0]
    return out


SOURCE_TYPES = (PoissonSource, WhiteNoiseSource, OUSource)
