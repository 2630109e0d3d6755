"""The torch backend: spikecore's own PyTorch implementation of the contract (training,
surrogate gradients, e-prop). ``"norse"`` is accepted as an alias of its name.

Importing the package registers every lowering into the leaf :mod:`.registry`:
:mod:`.nir_primitives` (NIR's own types), :mod:`.extensions`, :mod:`.ltc` and
:mod:`.sparse`.
"""

from . import extensions, ltc, nir_primitives, sparse  # noqa: F401  (register lowerings)
from .backend import TorchBackend
from .module import SpikecoreModule, from_torch, to_torch

__all__ = ["SpikecoreModule", "TorchBackend", "from_torch", "to_torch"]
