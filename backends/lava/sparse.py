"""Lava lowering of :class:`spikecore.extensions.sparse.SparseLinear` (main-process plan only).

The Lava plan (:mod:`.lowering`) composes every stateless linear node into the weight
matrix of each connection between Lava processes; a ``SparseLinear`` composes like
``Linear``, multiplying the incoming terms by its CSR matrix (scipy, so ``W`` itself is
never densified; the composed per-connection matrix is dense, as for every Lava
connection here). Connections sparser than ``lowering.SPARSE_DENSITY`` then become
Lava ``Sparse``/``DelaySparse`` processes, the others ``Dense``/``DelayDense``.
Registered in :mod:`.registry`.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse

from ...extensions.sparse import SparseLinear
from .registry import LavaRule, Terms, register_linear, register_rule


def _lin_sparse(node: SparseLinear, terms: Terms, size: int) -> Terms:
    w = scipy.sparse.csr_array((np.asarray(node.weights, np.float64), node.indices,
                                node.indptr), shape=(node.n_out, node.n_in))
    return {k: np.asarray(w @ m) for k, m in terms.items()}


register_linear(SparseLinear, _lin_sparse)
register_rule(SparseLinear, LavaRule("linear", "folded into Dense/Sparse weights (CSR product)"))
