"""Engines a spikecore graph can be lowered to: one module per engine.

``brian2_`` (reference simulation), ``norse_`` (PyTorch, training) and ``lava_``
(Loihi-style execution in a Python 3.10 sidecar). Each keeps a registry
``primitive type -> builder`` and reports everything it cannot lower up front.
"""

from .base import BACKENDS, Availability, Backend, RecordPlan, get_backend

__all__ = ["BACKENDS", "Availability", "Backend", "RecordPlan", "get_backend"]
