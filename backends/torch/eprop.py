"""Moved: e-prop on a ``to_torch`` module lives in :mod:`spikecore.learning.graph_eprop`
with every other learning rule, under one interface; ``spikecore.learning.EProp(module)``
returns it. Old imports (``from spikecore.backends.torch.eprop import EProp``) still work
and warn (DeprecationWarning). The names resolve on first use, as the backend package
imports this module while ``spikecore.learning`` may still be loading."""

from __future__ import annotations

import warnings
from typing import Any

_MOVED = {"EProp": "GraphEProp", "GraphEProp": "GraphEProp", "HIDDEN": "HIDDEN",
          "LOSSES": "LOSSES"}


def __getattr__(name: str) -> Any:
    if name not in _MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(f"spikecore.backends.torch.eprop.{name} moved to spikecore.learning "
                  "(spikecore.learning.EProp(module) or spikecore.learning.GraphEProp)",
                  DeprecationWarning, stacklevel=2)
    from ...learning import graph_eprop

    return getattr(graph_eprop, _MOVED[name])
