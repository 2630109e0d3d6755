"""The Lava backend: Loihi-style execution (float and bit-accurate fixed point).

Lava 0.10 imports only on Python 3.10, so the lowering (:mod:`.lowering`, pure numpy)
runs here and the Lava processes are built by :mod:`.scripts.worker` in a sidecar
interpreter (:mod:`.sidecar`, :mod:`.process`). :mod:`.registry` is the leaf registry the
lowering modules fill (:mod:`.lowering` its built-in linear builders, :mod:`.sparse`
SparseLinear).
"""

from . import sparse  # noqa: F401  (registers SparseLinear into .registry)
from .backend import LavaBackend

__all__ = ["LavaBackend"]
