"""The NEST backend: spikecore graphs on NEST 3.10, the field's large-scale simulator.

Neurons become NEST's exactly integrated ``iaf_psc_delta``/``iaf_psc_exp`` models
(:mod:`.models`), stateless linear nodes are composed into connections with delays and
Inputs and seeded sources are replayed by spike generators (:mod:`.lowering`).
Importing the package imports every module in it
(:func:`spikecore.backends.plugins.import_all`); :mod:`.registry` is the leaf registry
they fill. NEST itself is imported only when a graph runs.
"""

from ..plugins import import_all

import_all(__name__, __path__)

from .backend import NestBackend  # noqa: E402

__all__ = ["NestBackend"]
