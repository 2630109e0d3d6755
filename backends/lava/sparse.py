"""Lava lowering of :class:`spikecore.extensions.sparse.SparseLinear` (main-process plan only).

The Lava plan composes every stateless linear node into the weight matrix of each
connection between Lava processes (:mod:`spikecore.backends.terms`, where a
``SparseLinear`` multiplies the incoming terms by its CSR matrix, so ``W`` itself is never
densified; the composed per-connection matrix is made dense, as for every Lava
connection here). Connections sparser than ``lowering.SPARSE_DENSITY`` then become Lava
``Sparse``/``DelaySparse`` processes, the others ``Dense``/``DelayDense``. Registered in
:mod:`.registry`.
"""

from __future__ import annotations

from ...extensions.sparse import SparseLinear
from .registry import LavaRule, register_rule

register_rule(SparseLinear, LavaRule("linear", "folded into Dense/Sparse weights (CSR product)"))
