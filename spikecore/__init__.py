"""spikecore: one spiking-network graph, an explicit semantics contract, three engines.

Quick start::

    import spikecore as sc
    g = sc.read("lif.nir", dialect="norse", dt=1e-4)   # foreign file: say how it was meant
    r = sc.simulate(g, x, backend="brian2", record=("spikes", "v"))
    report = sc.compare(g, x, backends=("brian2", "norse", "lava"))
"""

from . import primitives
from .compare import ComparisonReport, Tolerance, compare
from .dialects import DIALECTS, Dialect, register_dialect
from .errors import (
    BackendProcessError,
    DialectError,
    GraphError,
    InputError,
    NIRFileError,
    SpikecoreError,
    UnavailableError,
    UnsupportedError,
)
from .graph import Edge, Graph, GraphWarning
from .nir_io import from_nir, read, to_nir, write
from .result import Result
from .semantics import Semantics
from .simulate import available_backends, simulate

__version__ = "0.1.0"

__all__ = [
    "BackendProcessError", "ComparisonReport", "DIALECTS", "Dialect", "DialectError", "Edge",
    "Graph", "GraphError", "GraphWarning", "InputError", "NIRFileError", "Result",
    "Semantics", "SpikecoreError", "Tolerance", "UnavailableError", "UnsupportedError",
    "available_backends", "compare", "from_nir", "primitives", "read", "register_dialect",
    "simulate", "to_nir", "write",
]
