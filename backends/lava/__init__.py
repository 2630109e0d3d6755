"""The Lava backend: Loihi-style execution (float and bit-accurate fixed point).

Lava 0.10 imports only on Python 3.10, so the lowering (:mod:`.lowering`, pure numpy)
runs here and the Lava processes are built by :mod:`.scripts.worker` in a sidecar
interpreter (:mod:`.sidecar`, :mod:`.process`). Importing the package imports every module
in it (:func:`spikecore.backends.plugins.import_all`); :mod:`.registry` is the leaf
registry the lowering modules fill (:mod:`.lowering` its built-in rules, :mod:`.sparse`
SparseLinear). The sidecar scripts are not imported: they run by path.
"""

from ..plugins import import_all

import_all(__name__, __path__)

from .backend import LavaBackend  # noqa: E402

__all__ = ["LavaBackend"]
