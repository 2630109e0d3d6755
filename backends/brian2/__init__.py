"""The Brian2 backend: spikecore's reference simulation (discrete contract and continuous ODEs).

Importing the package registers every lowering: :mod:`.nir_primitives` (NIR's own types),
:mod:`.extensions` and :mod:`.continuous_ext` (spikecore's extension primitives), :mod:`.ltc`
and :mod:`.sparse`. Each of them writes into the leaf :mod:`.registry`; none imports this
package's ``__init__``.
"""

from . import (  # noqa: F401,I001  (register extension lowerings)
    continuous_ext,  # noqa: F401  (wraps extension lowerings with continuous mode)
    extensions,
    ltc,
    nir_primitives,  # noqa: F401  (registers NIR primitives first)
    sparse,
)
from .backend import Brian2Backend

__all__ = ["Brian2Backend"]
