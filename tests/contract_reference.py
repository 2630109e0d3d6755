"""The numpy contract stepped over ``(i, v)`` pairs, for reference loops in tests.

Reference loops keep ``(i, v)`` for every neuron type (``i`` unused without a synaptic
current); this runs :func:`spikecore.discrete.neuron_step` with ``xp=numpy`` on the state
the type has and returns ``(z, i, v)`` (``z`` all False for non-spiking types).
"""

from __future__ import annotations

import numpy as np

from spikecore.discrete import NeuronCoefficients, neuron_step


def contract_step(co: NeuronCoefficients, i: np.ndarray, v: np.ndarray, x: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    state = (i, v) if co.has_current else (v,)
    y, new = neuron_step(np, co, state, x)
    z = y if co.spiking else np.zeros(np.shape(new.v), dtype=bool)
    return z, (new.i if co.has_current else i), new.v
