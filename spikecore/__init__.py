"""spikecore: one spiking-network graph, an explicit semantics contract, three engines.

Quick start::

    import spikecore as sc
    g = sc.read("lif.nir", dialect="norse", dt=1e-4)   # foreign file: say how it was meant
    r = sc.simulate(g, x, backend="brian2", record=("spikes", "v"))
    report = sc.compare(g, x, backends=("brian2", "norse", "lava"))
"""

from . import extensions, primitives  # extensions registers its primitives in SPECS
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
    "available_backends", "compare", "extensions", "from_nir", "primitives", "read", "register_dialect",
    "simulate", "to_nir", "write",
]


def to_torch(graph, *args, arithmetic: str = "float", **kwargs):
    """The graph as a stateful, batched ``torch.nn.Module``.

    ``arithmetic="float"`` (default): the contract in floating point
    (:func:`spikecore.backends.torch.to_torch`). ``arithmetic="loihi2"``: Loihi 2's
    fixed-point CUBA-LIF and dense accumulation, bit-exact with Lava's bit-accurate models,
    with straight-through gradients (:func:`spikecore.hardware.loihi2.emulation.loihi2_module`).
    """
    if arithmetic == "float":
        from .backends.torch import to_torch as _to_torch

        return _to_torch(graph, *args, **kwargs)
    if arithmetic == "loihi2":
        from .hardware.loihi2.emulation import loihi2_module

        return loihi2_module(graph, *args, **kwargs)
    raise SpikecoreError(f"arithmetic={arithmetic!r}: expected 'float' or 'loihi2'")


def from_torch(module, *args, **kwargs):
    """A graph from a module made by :func:`to_torch` (trained parameters written back
    losslessly; see :func:`spikecore.backends.torch.from_torch`)."""
    from .backends.torch import from_torch as _from_torch

    return _from_torch(module, *args, **kwargs)


__all__ += ["from_torch", "to_torch"]
