"""Brian2 lowering of :class:`spikecore.extensions.sparse.SparseLinear`.

A ``SparseLinear`` is one more linear map of :mod:`.maps`: its synapses
``(pre = indices[k], post = row of k, w = weights[k])`` (zero weights dropped, as for a
dense ``Linear``) go through the same ``build_linear`` as ``Linear``, so it gets the same
paths: summed variables for non-spiking sources, ``on_pre`` spike pathways for spiking
sources and 0/1 inputs, and fusion into the consuming neuron. Only the map differs: it
is built from the CSR arrays without ever forming the dense matrix.
"""

from __future__ import annotations

import numpy as np

from ...extensions.sparse import SparseLinear
from .maps import MAP_BUILDERS, LinearMap
from .nir_primitives import MAP_NOTE, build_linear
from .registry import BUILDERS, Lowerer


def sparse_map(node: SparseLinear, in_shape: tuple[int, ...] | None = None) -> LinearMap:
    """The synapses of ``node`` in CSR order (output by output), zero weights dropped."""
    w = np.asarray(node.weights, dtype=np.float64)
    keep = w != 0.0
    return LinearMap(np.asarray(node.indices, np.int64)[keep], node.rows()[keep], w[keep],
                     node.n_in, node.n_out)


MAP_BUILDERS[SparseLinear] = sparse_map
BUILDERS[SparseLinear] = Lowerer(build_linear, MAP_NOTE + "; CSR synapses")
