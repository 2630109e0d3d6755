"""The torch backend: spikecore's own PyTorch implementation of the contract (training,
surrogate gradients, e-prop). ``"norse"`` is accepted as an alias of its name.

Importing the package imports every module in it (:func:`spikecore.backends.plugins.
import_all`), and each lowering module registers its primitive types into the leaf
:mod:`.registry`: :mod:`.nir_primitives` (NIR's own types), :mod:`.extensions`, :mod:`.ltc`,
:mod:`.sparse`. No module imports this ``__init__``.
"""

from ..plugins import import_all

import_all(__name__, __path__)

from .backend import TorchBackend  # noqa: E402
from .module import SpikecoreModule, from_torch, to_torch  # noqa: E402

__all__ = ["SpikecoreModule", "TorchBackend", "from_torch", "to_torch"]
