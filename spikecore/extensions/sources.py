"""Seeded sources: Poisson spike trains, white noise and Ornstein-Uhlenbeck currents.

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
from typing import Any

import numpy as np

from .. import primitives as P
from ..semantics import Semantics
from .base import (
    Extension,
    as_array,
    nonnegative_problems,
    register_extension,
    seed_problems,
)


@dataclass(eq=False)
class PoissonSource(Extension):
    """Seeded spike trains: ``z[t] = u[t] < rate * dt`` with ``u`` uniform in [0, 1)
    (Bernoulli per step, ``rate`` in Hz, ``rate * dt <= 1``). Receives no input."""

    rate: np.ndarray
    seed: int = 0
    shape_param = "rate"
    array_fields = ("rate",)


@dataclass(eq=False)
class WhiteNoiseSource(Extension):
    """Seeded white-noise current held for each step: ``y[t] = mean + sigma * xi[t] /
    sqrt(dt)``, ``xi`` standard normal. Its integral over a step has variance
    ``sigma^2 dt`` (``sigma``: noise intensity, current x sqrt(second))."""

    mean: np.ndarray
    sigma: np.ndarray
    seed: int = 0
    shape_param = "mean"
    array_fields = ("mean", "sigma")


@dataclass(eq=False)
class OUSource(Extension):
    """Seeded Ornstein-Uhlenbeck current ``tau dy = (mean - y) dt + sigma sqrt(2 tau) dW``
    (stationary mean ``mean``, std ``sigma``), starting at ``y = mean``. Exact:
    ``y[t] = mean + a (y[t-1] - mean) + sigma sqrt(1 - a^2) xi[t]``, ``a = exp(-dt/tau)``;
    Euler: ``y[t] = y[t-1] + dt/tau (mean - y[t-1]) + sigma sqrt(2 dt / tau) xi[t]``."""

    mean: np.ndarray
    sigma: np.ndarray
    tau: np.ndarray
    seed: int = 0
    shape_param = "mean"
    array_fields = ("mean", "sigma", "tau")


def _check_poisson(name: str, node: Any, dt: float | None) -> list[str]:
    out = seed_problems(name, node) + nonnegative_problems(name, node, "rate")
    r = as_array(node.rate)
    if dt is not None and np.all(np.isfinite(r)) and np.any(r * dt > 1):
        out.append(f"node {name!r} (PoissonSource): rate * dt = {float(np.max(r) * dt):g} > 1; "
                   "at most one spike per step: lower the rate or dt")
    return out


def _check_noise(name: str, node: Any, dt: float | None) -> list[str]:
    return seed_problems(name, node) + nonnegative_problems(name, node, "sigma")


register_extension(PoissonSource, P.PrimitiveSpec(
    "source", P.same_as("rate"), spiking=True, array_params=("rate",),
    notes="seeded Bernoulli(rate*dt) per step", extra={"check": _check_poisson}))


register_extension(WhiteNoiseSource, P.PrimitiveSpec(
    "source", P.same_as("mean"), array_params=("mean", "sigma"),
    notes="seeded white noise mean + sigma*xi/sqrt(dt)", extra={"check": _check_noise}))


register_extension(OUSource, P.PrimitiveSpec(
    "source", P.same_as("mean"), time_constants=("tau",), array_params=("mean", "sigma", "tau"),
    notes="seeded Ornstein-Uhlenbeck current", extra={"check": _check_noise}))


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


def _poisson_block(node: PoissonSource, name: str, dt: float, integrator: str, batch: int,
                   t0: int, t1: int, shape: tuple[int, ...], state: np.ndarray | None
                   ) -> tuple[np.ndarray, None]:
    """``z = u < rate * dt`` with ``u`` the uniform draws."""
    u = _draws(node.seed, name, batch, t0, t1, int(np.prod(shape)), "uniform")
    p = P.param(node, "rate", shape).ravel() * dt
    return (u < p).astype(np.float64).reshape(batch, t1 - t0, *shape), None


def _normal(node, name, batch, t0, t1, shape) -> np.ndarray:
    xi = _draws(node.seed, name, batch, t0, t1, int(np.prod(shape)), "normal")
    return xi.reshape(batch, t1 - t0, *shape)


def _white_block(node: WhiteNoiseSource, name: str, dt: float, integrator: str, batch: int,
                 t0: int, t1: int, shape: tuple[int, ...], state: np.ndarray | None
                 ) -> tuple[np.ndarray, None]:
    """``y = mean + sigma * xi / sqrt(dt)`` with ``xi`` the normal draws."""
    xi = _normal(node, name, batch, t0, t1, shape)
    mean, sigma = P.param(node, "mean", shape), P.param(node, "sigma", shape)
    return mean + (sigma / np.sqrt(dt)) * xi, None


def _ou_block(node: OUSource, name: str, dt: float, integrator: str, batch: int, t0: int,
              t1: int, shape: tuple[int, ...], state: np.ndarray | None
              ) -> tuple[np.ndarray, np.ndarray]:
    """exact: ``y = mean + a (y - mean) + sigma sqrt(1 - a^2) xi`` with ``a = exp(-dt/tau)``;
    euler: ``y = y + h (mean - y) + sigma sqrt(2 h) xi`` with ``h = dt / tau``."""
    xi = _normal(node, name, batch, t0, t1, shape)
    mean, sigma = P.param(node, "mean", shape), P.param(node, "sigma", shape)
    tau = P.param(node, "tau", shape)
    y = source_initial_state(node, batch, shape) if state is None else np.array(state)
    out = np.empty_like(xi)
    if integrator == "exact":
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


#: source type -> its block function ``(node, name, dt, integrator, batch, t0, t1, shape,
#: state) -> (values, state)``.
STREAMS = {PoissonSource: _poisson_block, WhiteNoiseSource: _white_block, OUSource: _ou_block}


def source_stream(node: object, name: str, semantics: Semantics, batch: int, t0: int, t1: int,
                  shape: tuple[int, ...] | None = None, state: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray | None]:
    """Steps ``t0 .. t1-1`` of a source's output, ``[batch, t1 - t0, *shape]`` float64,
    and the state after them (pass it back for the next block; ``None`` at ``t0 = 0``
    means the initial state). Blocks concatenate to the stream computed in one call."""
    block = STREAMS.get(type(node))
    if block is None:
        raise TypeError(f"{type(node).__name__} is not a source primitive")
    if shape is None:
        shape = P.SPECS[type(node)].output_shape(node, None)
    return block(node, name, float(semantics.dt), semantics.integrator, batch, t0, t1,
                 tuple(shape), state)


def graph_streams(graph, batch: int, steps: int) -> dict[str, np.ndarray]:
    """Every source node of the flat ``graph``: name -> ``[batch, steps, *shape]``."""
    shapes = graph.shapes()
    out = {}
    for n, node in graph.nodes.items():
        if type(node) in SOURCE_TYPES:
            out[n] = source_stream(node, n, graph.semantics, batch, 0, steps, shapes[n])[0]
    return out


SOURCE_TYPES = tuple(STREAMS)
