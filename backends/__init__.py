"""Engines a spikecore graph can be lowered to: one module per engine.

``brian2`` (reference simulation), ``torch`` (spikecore's own PyTorch code: training;
``norse`` is an alias) and ``lava`` (Loihi-style execution in a Python 3.10 sidecar): one
subpackage each. Each keeps a leaf registry ``primitive type -> builder`` that its
lowering modules fill, and reports everything it cannot lower up front.
"""

from .base import ALIASES, BACKENDS, Availability, Backend, RecordPlan, canonical_name, get_backend

__all__ = ["ALIASES", "BACKENDS", "Availability", "Backend", "RecordPlan", "canonical_name",
           "get_backend"]
