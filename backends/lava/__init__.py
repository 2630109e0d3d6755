"""The Lava backend: Loihi-style execution (float and bit-accurate fixed point).

Lava 0.10 imports only on Python 3.10, so the lowering (:mod:`.lowering`, pure numpy)
runs here and the Lava processes are built by :mod:`.scripts.worker` in a sidecar
interpreter (:mod:`.sidecar`, :mod:`.process`). :mod:`.sparse` registers SparseLinear.
"""

from . import sparse  # noqa: F401  (registers SparseLinear into the lowering's registry)
from .backend import LavaBackend

__all__ = ["LavaBackend"]
