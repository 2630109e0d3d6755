"""The array namespace the discrete updates are written over: numpy or torch.

Every coefficient computation and every step function of the contract takes ``xp`` (the
module ``numpy`` or ``torch``) as its first argument and uses only operations both
namespaces spell the same way (``xp.exp``, ``xp.expm1``, ``xp.where``, ``xp.tanh``,
``xp.cosh``, arithmetic, ``@``, ``.reshape``). The numpy call is the contract's reference
(float64); the torch call is the backend's op, differentiable. The few operations the two
spell differently are here, each in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

#: ``spike_fn(u) -> z``: a surrogate spike function (Heaviside forward, smooth backward).
SpikeFn = Callable[[Any], Any]


def is_numpy(xp: Any) -> bool:
    return xp is np


def relu(xp: Any, u: Any) -> Any:
    """``max(u, 0)`` (torch: ``clamp``, whose gradient is 1 for ``u >= 0``)."""
    return np.maximum(u, 0.0) if xp is np else xp.clamp(u, min=0.0)


def sigmoid(xp: Any, u: Any) -> Any:
    """``1 / (1 + exp(-u))``. numpy: that expression (overflow of ``exp`` for very
    negative ``u`` gives 0); torch: ``torch.sigmoid`` (same value to rounding, and a
    gradient that stays finite where ``exp(-u)`` overflows)."""
    if xp is np:
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + np.exp(-u))
    return xp.sigmoid(u)


def decay(xp: Any, dt: float, tau: Any, exact: bool) -> Any:
    """Decay per step of ``tau x' = -x``: ``exp(-dt / tau)`` (exact) or ``1 - dt / tau``
    (forward Euler)."""
    return xp.exp(-dt / tau) if exact else 1.0 - dt / tau


def spike_and_reset(xp: Any, v: Any, threshold: Any, v_reset: Any, amount: Any, reset: str,
                    spike_fn: SpikeFn | None = None, detach_reset: bool = False
                    ) -> tuple[Any, Any]:
    """The spike ``z = v > threshold`` and the reset of the neurons that spiked; returns
    ``(z, v)``.

    Without ``spike_fn`` (the reference, and torch without autograd): ``z`` is boolean and
    ``v = where(z, v_reset, v)`` (``reset='to_value'``) or ``where(z, v - amount, v)``
    (``'subtract'``). With ``spike_fn`` (training): ``z = spike_fn(v - threshold)`` (0/1
    forward for IEEE floats, ``v - threshold > 0`` iff ``v > threshold``) and the reset is
    arithmetic, ``(1 - zr) v + zr v_reset`` or ``v - zr amount``, exact for ``zr`` in
    {0, 1}; ``zr = z`` or ``z.detach()`` if ``detach_reset``. ``v_reset=None`` means 0
    (a caller that knows it is zero saves the ``zr v_reset`` term: adding 0 changes no value).
    """
    if spike_fn is None:
        fired = v > threshold
        if reset == "to_value":
            return fired, xp.where(fired, 0.0 if v_reset is None else v_reset, v)
        return fired, xp.where(fired, v - amount, v)
    z = spike_fn(v - threshold)
    zr = z.detach() if detach_reset else z
    if reset == "to_value":
        kept = (1.0 - zr) * v
        return z, kept if v_reset is None else kept + zr * v_reset
    return z, v - zr * amount
