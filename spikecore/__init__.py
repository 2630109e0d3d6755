"""spikecore: one spiking-network graph, an explicit semantics contract, three engines.

Quick start::

    import spikecore as sc
    g = sc.read("lif.nir", dialect="norse", dt=1e-4)   # foreign file: say how it was meant
    r = sc.simulate(g, x, backend="brian2", record=("spikes", "v"))
    report = sc.compare(g, x, backends=("brian2", "norse", "lava"))
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import extensions, plot, primitives  # extensions registers its primitives in SPECS
from .compare import ComparisonReport, Tolerance, compare
from .demo import bundled_file
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
from .sweep import sweep

if TYPE_CHECKING:
    from collections.abc import Iterable

    import torch

__version__ = "0.1.0"

__all__ = [
    "BackendProcessError", "ComparisonReport", "DIALECTS", "Dialect", "DialectError", "Edge",
    "Graph", "GraphError", "GraphWarning", "InputError", "NIRFileError", "Result",
    "Semantics", "SpikecoreError", "Tolerance", "UnavailableError", "UnsupportedError",
    "available_backends", "bundled_file", "compare", "extensions", "from_nir", "plot",
    "primitives", "read",
    "register_dialect",
    "simulate", "sweep", "to_nir", "write",
]


def to_torch(graph: Graph, dtype: torch.dtype | None = None,
             device: str | torch.device | None = None, *, arithmetic: str = "float",
             surrogate: str = "superspike", surrogate_scale: float | None = None,
             trainable: Iterable[str] | str = ("weight", "bias", "scale"),
             detach_reset: bool = False, event_driven: bool = False,
             train_weights: bool = True, fused: bool = True) -> torch.nn.Module:
    """The graph as a stateful, batched ``torch.nn.Module``; both arithmetics are called
    alike: ``out, state = module(x)`` with ``x`` ``[batch, steps, *shape]`` (a dict by
    Input name for several Input nodes), and ``module(x2, state)`` continues.

    Args:
        graph: a spikecore :class:`~spikecore.graph.Graph` with semantics.
        dtype: float arithmetic: parameter and state dtype (None: ``torch.float32``;
            ``torch.float64`` reproduces the contract's spikes exactly).
        device: float arithmetic: where the module lives (default CPU).
        arithmetic: ``"float"`` (default): the contract in floating point
            (:func:`spikecore.backends.torch.to_torch`, a
            :class:`~spikecore.backends.torch.SpikecoreModule`). ``"loihi2"``: Loihi 2's
            fixed-point CUBA-LIF and dense accumulation, bit-exact with Lava's
            bit-accurate models, with straight-through gradients
            (:func:`spikecore.hardware.loihi2.emulation.loihi2_module`, a
            :class:`~spikecore.hardware.loihi2.emulation.Loihi2Module`).
        surrogate: the spike's pseudo-derivative in training (both arithmetics):
            ``"superspike"``, ``"atan"``, ``"sigmoid"``, ``"triangle"`` or ``"heaviside"``.
        surrogate_scale: the surrogate's steepness (default per surrogate).
        trainable: float arithmetic: the NIR parameters that become ``nn.Parameter``
            (default the weights), or ``"all"``.
        detach_reset: float arithmetic: stop the gradient through the reset.
        event_driven: float arithmetic: Linear/Affine nodes fed by spikes accumulate only
            the rows of active inputs.
        train_weights: loihi2 arithmetic: weights as trainable parameters (else buffers).
        fused: loihi2 arithmetic: without gradients, run all populations in one pipelined
            step when the network allows (same bits).

    Raises:
        SpikecoreError: an unknown ``arithmetic``, or an option the chosen arithmetic
            does not have.
    """
    float_only = {"dtype": (dtype, None), "device": (device, None),
                  "trainable": (trainable, ("weight", "bias", "scale")),
                  "detach_reset": (detach_reset, False), "event_driven": (event_driven, False)}
    loihi2_only = {"train_weights": (train_weights, True), "fused": (fused, True)}
    if arithmetic not in ("float", "loihi2"):
        raise SpikecoreError(f"arithmetic={arithmetic!r}: expected 'float' or 'loihi2'")
    foreign = loihi2_only if arithmetic == "float" else float_only
    given = sorted(k for k, (v, default) in foreign.items()
                   if v is not default and not (type(v) is type(default) and v == default))
    if given:
        raise SpikecoreError(f"to_torch(arithmetic={arithmetic!r}) has no option(s) {given}")
    if arithmetic == "float":
        from .backends.torch import to_torch as _to_torch

        kwargs = {} if dtype is None else {"dtype": dtype}
        return _to_torch(graph, device=device, surrogate=surrogate, surrogate_scale=surrogate_scale,
                         trainable=trainable, detach_reset=detach_reset, event_driven=event_driven,
                         **kwargs)
    from .hardware.loihi2.emulation import loihi2_module

    return loihi2_module(graph, surrogate=surrogate, surrogate_scale=surrogate_scale,
                         train_weights=train_weights, fused=fused)


def from_torch(module: Any, *args: Any, **kwargs: Any) -> Graph:
    """A graph from a module made by :func:`to_torch` (trained parameters written back
    losslessly; see :func:`spikecore.backends.torch.from_torch`)."""
    from .backends.torch import from_torch as _from_torch

    return _from_torch(module, *args, **kwargs)


__all__ += ["from_torch", "to_torch"]
