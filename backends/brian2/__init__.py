"""The Brian2 backend: spikecore's reference simulation (discrete contract and continuous ODEs).

Importing the package imports every module in it (:func:`spikecore.backends.plugins.
import_all`), and each lowering module registers its primitive types into the leaf
:mod:`.registry`: :mod:`.nir_primitives` (NIR's own types), :mod:`.extensions` and
:mod:`.continuous_ext` (spikecore's extension primitives, discrete and continuous),
:mod:`.ltc`, :mod:`.sparse`. No module imports this ``__init__``.
"""

from ..plugins import import_all

import_all(__name__, __path__)

from .backend import Brian2Backend  # noqa: E402

__all__ = ["Brian2Backend"]
