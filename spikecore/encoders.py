"""Spike encoders: values to spike trains that spikecore graphs take as input.

Each encoder takes numpy arrays (torch tensors are accepted and converted to numpy) and
returns a float64 numpy array of 0/1 (``delta``: also -1 in its ``"signed"`` form) in
spikecore's layout ``[batch, steps, *shape]``, ready for :func:`spikecore.simulate`,
:func:`spikecore.compare` or a module from :func:`spikecore.to_torch`. Each docstring
states the exact rule; ``tests/test_encoders.py`` checks it.

- :func:`rate`: Bernoulli ("Poisson") spikes, ``p = x * max_rate_hz * dt`` per step, seeded.
- :func:`latency`: one spike per input, earlier for larger values (linear or RC/log map).
- :func:`delta`: on/off events when a signal over time moves away from its last
  reference by more than a threshold (as an event camera's pixel does).

Event-camera recordings (``tonic``) become frames with
:func:`spikecore.events.events_to_frames`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import InputError

__all__ = ["rate", "latency", "delta", "as_numpy"]


def as_numpy(x: Any, name: str = "x") -> np.ndarray:
    """``x`` (numpy array, torch tensor, nested sequence or scalar) as a float64 array."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor, without importing torch
        x = x.detach().cpu().numpy()
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name}: cannot be read as a numeric array ({exc})") from None
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{name}: contains NaN or inf")
    return arr


def _check_steps(steps: Any) -> int:
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise InputError(f"steps={steps!r}: expected a positive integer")
    return int(steps)


def _batched(x: Any, name: str) -> np.ndarray:
    arr = as_numpy(x, name)
    if arr.ndim < 1:
        raise InputError(f"{name}: expected [batch, *shape], got a scalar (pass e.g. x[None] "
                         "for a single sample)")
    return arr


def _unit_interval(arr: np.ndarray, name: str) -> None:
    if arr.size and (arr.min() < 0.0 or arr.max() > 1.0):
        raise InputError(f"{name}: values must lie in [0, 1], got [{arr.min():g}, {arr.max():g}]; "
                         "scale the data first (e.g. x / x.max())")


def _generator(seed: Any) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def rate(x: Any, steps: int, max_rate_hz: float = 100.0, dt: float = 1e-3,
         seed: int | np.random.Generator | None = 0) -> np.ndarray:
    """Rate code: independent Bernoulli spikes with a per-step probability set by ``x``.

    Rule: for input ``x`` of shape ``[batch, *shape]`` with values in ``[0, 1]``, the rate
    of element ``i`` is ``x[i] * max_rate_hz`` (Hz) and its spike probability in each step
    is ``p[i] = x[i] * max_rate_hz * dt``. With ``u`` drawn as
    ``numpy.random.default_rng(seed).random((batch, steps, *shape))``,
    ``out[b, t, i] = 1.0 if u[b, t, i] < p[b, i] else 0.0``. So the spike count of one
    element over ``steps`` steps is Binomial(``steps``, ``p``) (the discrete-time Poisson
    process; a Poisson count's mean with at most one spike per step), ``x = 0`` never
    spikes and ``p = 1`` spikes every step.

    Args:
        x: intensities in ``[0, 1]``, ``[batch, *shape]`` (numpy or torch).
        steps: number of time steps.
        max_rate_hz: the rate of ``x = 1``, in Hz.
        dt: the step in seconds (the graph's ``Semantics.dt``).
        seed: an int or ``None`` for ``numpy.random.default_rng``, or a Generator; the same
            seed gives the same spikes.

    Returns:
        float64 ``[batch, steps, *shape]`` of 0/1.

    Raises:
        InputError: values outside ``[0, 1]``, NaN, ``max_rate_hz < 0``, ``dt <= 0``, or a
            probability ``max_rate_hz * dt * max(x) > 1`` (more than one spike per step
            would be needed: lower ``max_rate_hz`` or ``dt``).
    """
    arr = _batched(x, "rate: x")
    steps = _check_steps(steps)
    _unit_interval(arr, "rate: x")
    if not (np.isfinite(max_rate_hz) and max_rate_hz >= 0):
        raise InputError(f"rate: max_rate_hz={max_rate_hz!r}: expected a finite rate >= 0")
    if not (np.isfinite(dt) and dt > 0):
        raise InputError(f"rate: dt={dt!r}: expected a step > 0 in seconds")
    p = arr * float(max_rate_hz) * float(dt)
    if p.size and p.max() > 1.0:
        raise InputError(
            f"rate: spike probability per step max(x) * max_rate_hz * dt = {p.max():g} > 1 "
            f"(max_rate_hz={max_rate_hz:g}, dt={dt:g}): at most one spike fits in a step, so "
            f"rates above 1/dt = {1.0 / dt:g} Hz cannot be encoded; lower max_rate_hz or dt")
    u = _generator(seed).random((arr.shape[0], steps, *arr.shape[1:]))
    return (u < p[:, None]).astype(np.float64)


def latency(x: Any, steps: int, mode: str = "linear", threshold: float = 0.01,
            tau: float | None = None) -> np.ndarray:
    """Latency code: one spike per input above ``threshold``, earlier for larger values.

    Rule (``x`` of shape ``[batch, *shape]`` with values in ``[0, 1]``; an element with
    ``x <= threshold`` never spikes; every other element spikes exactly once, at step ``k``):

    - ``mode="linear"``: ``k = floor((1 - x) * (steps - 1) + 0.5)`` (``(1 - x)`` scaled to
      the window and rounded half up), so ``x = 1`` fires at step 0 and values just above
      ``threshold`` near step ``steps - 1``.
    - ``mode="log"``: the time an RC membrane ``tau dv/dt = -v + x`` (``v(0) = 0``) takes to
      reach ``threshold``, ``k = floor(tau * ln(x / (x - threshold)) + 0.5)`` with ``tau``
      in steps (default ``steps - 1``); strong inputs crowd the first steps, weak ones
      spread out. An element whose ``k`` falls at or beyond ``steps`` does not spike in
      the window.

    Args:
        x: intensities in ``[0, 1]``, ``[batch, *shape]`` (numpy or torch).
        steps: number of time steps (the window the spikes are placed in).
        mode: ``"linear"`` or ``"log"``.
        threshold: inputs at or below it are silent; in ``[0, 1)`` (``"log"``: ``> 0``).
        tau: ``"log"`` only: the RC time constant in steps (default ``steps - 1``).

    Returns:
        float64 ``[batch, steps, *shape]`` of 0/1, at most one 1 per element.
    """
    arr = _batched(x, "latency: x")
    steps = _check_steps(steps)
    _unit_interval(arr, "latency: x")
    if mode not in ("linear", "log"):
        raise InputError(f"latency: mode={mode!r}: expected 'linear' or 'log'")
    if not (0.0 <= threshold < 1.0) or (mode == "log" and threshold <= 0.0):
        raise InputError(f"latency: threshold={threshold!r}: expected 0 <= threshold < 1 "
                         "(> 0 for mode='log')")
    if tau is not None and mode != "log":
        raise InputError("latency: tau is a parameter of mode='log' only")
    fires = arr > threshold
    if mode == "linear":
        k = np.floor((1.0 - arr) * (steps - 1) + 0.5)
    else:
        t = float(steps - 1) if tau is None else float(tau)
        if not (np.isfinite(t) and t > 0):
            raise InputError(f"latency: tau={tau!r}: expected a time constant > 0 in steps")
        with np.errstate(divide="ignore", invalid="ignore"):
            k = np.floor(t * np.log(arr / (arr - threshold)) + 0.5)
        fires &= k < steps
    out = np.zeros((arr.shape[0], steps, *arr.shape[1:]))
    b_idx, *e_idx = np.nonzero(fires)
    out[(b_idx, k[fires].astype(np.int64), *e_idx)] = 1.0
    return out


def delta(x_over_time: Any, threshold: float, output: str = "split",
          initial: float | None = None) -> np.ndarray:
    """Delta (send-on-change) code: on/off events when a signal moves by more than ``threshold``.

    Rule, for ``x_over_time`` of shape ``[batch, steps, *shape]``, per element: a reference
    ``r`` starts at ``initial`` (default ``None``: the first sample ``x[:, 0]``, so step 0
    has no event). At each step ``t`` (from 0 when ``initial`` is given, else from 1), with
    ``d = x[t] - r``: ``d > threshold`` is an **on** event, ``d < -threshold`` an **off**
    event, and after an event ``r = x[t]``; otherwise nothing and ``r`` is kept. So a slow
    drift produces an event once it has accumulated past ``threshold`` (as an event
    camera's pixel, not a step-to-step difference), and one step carries at most one event
    per element however large the change.

    Args:
        x_over_time: ``[batch, steps, *shape]`` (numpy or torch).
        threshold: the change that triggers an event (strictly exceeded), ``> 0``.
        output: ``"split"``: ``[batch, steps, 2, *shape]`` with channel 0 = off, 1 = on
            (the polarity order of tonic's frames, ``p = 0`` off, ``p = 1`` on);
            ``"signed"``: ``[batch, steps, *shape]`` with +1 on, -1 off.
        initial: the reference before step 0, or ``None`` (the first sample).

    Returns:
        float64 array as described by ``output``.
    """
    arr = as_numpy(x_over_time, "delta: x_over_time")
    if arr.ndim < 2:
        raise InputError(f"delta: x_over_time: expected [batch, steps, *shape], got shape "
                         f"{arr.shape} (pass x[None] for a single sample)")
    if not (np.isfinite(threshold) and threshold > 0):
        raise InputError(f"delta: threshold={threshold!r}: expected a change > 0")
    if output not in ("split", "signed"):
        raise InputError(f"delta: output={output!r}: expected 'split' or 'signed'")
    steps = arr.shape[1]
    signed = np.zeros_like(arr)
    if initial is None:
        ref = arr[:, 0].copy()
        first = 1
    else:
        ref = np.full_like(arr[:, 0], float(initial))
        first = 0
    for t in range(first, steps):
        d = arr[:, t] - ref
        on, off = d > threshold, d < -threshold
        signed[:, t][on] = 1.0
        signed[:, t][off] = -1.0
        moved = on | off
        ref[moved] = arr[:, t][moved]
    if output == "signed":
        return signed
    return np.stack([(signed < 0).astype(np.float64), (signed > 0).astype(np.float64)], axis=2)
