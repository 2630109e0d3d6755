"""Torch lowering of :class:`spikecore.extensions.sparse.SparseLinear` (batched, any device).

``y[b, i] = sum over synapses k of row i of weights[k] * x[b, indices[k]]``, computed as
an ``index_add`` over the synapses of the *active* inputs only (those with a nonzero
value in some batch element): for spike trains that is the event-driven sum (Brunel's
12,500 neurons send ~40 spikes per step, so ~50,000 of 15.6 M synapses are touched), for
dense float inputs it is every synapse. Synapses are kept sorted by input (stable, so
within one input they keep their CSR order); the sum for one output is accumulated in
that order, starting from 0. The dense ``W`` is never formed.

``weights`` is an ``nn.Parameter`` when ``"weight"`` is trainable (the default), so
gradients reach it through ``index_add``; :meth:`export` writes the trained weights back.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse
import torch

from ...extensions.sparse import SparseLinear
from .ops import NodeOp
from .registry import Builder, register_builder

#: Largest ``rows x synapses`` block gathered at once (float64: 256 MiB).
_MAX_BLOCK = 2**25


class SparseLinearOp(NodeOp):
    """Stateless ``y = W x`` with ``W`` in CSR (see the module docstring)."""

    def __init__(self, name, node: SparseLinear, in_shape, out_shape, opts):
        super().__init__(name, node, in_shape, out_shape, opts)
        self.n_in, self.n_out = node.n_in, node.n_out
        self.in_shape = (self.n_in,)
        # CSR -> CSC by scipy's counting sort (O(nnz), stable: within one input the
        # synapses keep their CSR order); data = synapse number gives the permutation.
        csc = scipy.sparse.csr_array(
            (np.arange(node.nnz, dtype=np.int64), np.asarray(node.indices, np.int64),
             np.asarray(node.indptr, np.int64)), shape=(self.n_out, self.n_in)).tocsc()
        by_pre = csc.data
        ptr = csc.indptr.astype(np.int64)
        pre = np.repeat(np.arange(self.n_in, dtype=np.int64), np.diff(ptr))
        dev = opts.device

        def idx(a: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(np.ascontiguousarray(a, dtype=np.int64), device=dev)

        self.register_buffer("perm", idx(by_pre))
        self.register_buffer("pre", idx(pre))
        self.register_buffer("post", idx(csc.indices))
        self.register_buffer("pre_ptr", idx(ptr))
        self.add_tensor("weights", node.weights, opts, param_name="weight")

    def prepare(self) -> Any:
        return self.weights[self.perm]  # weights in by-input order (keeps the gradient)

    def _synapses(self, active: torch.Tensor) -> torch.Tensor:
        """Indices (by-input order) of the synapses of the ``active`` inputs."""
        if active.numel() == self.n_in:
            return torch.arange(self.pre.numel(), device=self.pre.device)
        starts = self.pre_ptr[active]
        counts = self.pre_ptr[active + 1] - starts
        shift = starts - (torch.cumsum(counts, 0) - counts)
        total = int(counts.sum())
        return torch.repeat_interleave(shift, counts, output_size=total) + torch.arange(
            total, device=self.pre.device)

    def apply(self, x: torch.Tensor, prep: Any) -> torch.Tensor:
        lead = x.shape[:-1]
        xf = x.reshape(-1, self.n_in)
        active = (xf != 0).any(0).nonzero().squeeze(1)
        syn = self._synapses(active)
        post, w = self.post[syn], prep[syn]
        if xf.shape[0] == 1 and not (torch.is_grad_enabled() and xf.requires_grad) and bool(
                (xf.index_select(1, active) == 1).all()):
            # One sample of spikes: every active input is 1 and w * 1 == w exactly, so
            # the product (and the gather of the inputs) is skipped.
            y = torch.zeros((1, self.n_out), dtype=w.dtype, device=w.device)
            return y.index_add(1, post, w.unsqueeze(0)).reshape(*lead, self.n_out)
        pre = self.pre[syn]
        rows = max(1, _MAX_BLOCK // max(1, syn.numel()))
        parts = []
        for r0 in range(0, xf.shape[0], rows):
            chunk = xf[r0:r0 + rows]
            y = torch.zeros((chunk.shape[0], self.n_out), dtype=w.dtype, device=w.device)
            parts.append(y.index_add(1, post, chunk.index_select(1, pre).to(w.dtype) * w))
        y = parts[0] if len(parts) == 1 else torch.cat(parts, 0)
        return y.reshape(*lead, self.n_out)


register_builder(SparseLinear, Builder(
    SparseLinearOp, "y = W x over the synapses of active inputs (index_add, CSR never "
    "densified); event-driven for spikes"))
