"""``SparseLinear``: a linear map ``y = W x`` whose ``W`` is stored in CSR form.

A dense ``nir.Linear`` of Brunel's full network (12,500 x 12,500 float64) takes 1.25 GB
for 15.6 M synapses (0.1 % of the entries); the same map in CSR takes ~190 MB. NIR 1.0
has no sparse node, so this is an extension primitive (:mod:`spikecore.extensions`).

Fields (CSR over the rows of ``W``, i.e. over the outputs, as ``scipy.sparse.csr_array``):

* ``shape``   ``(n_out, n_in)``;
* ``indptr``  int64 ``[n_out + 1]``, non-decreasing, ``indptr[0] = 0``,
  ``indptr[-1] = nnz``: the synapses onto output ``i`` are ``indptr[i] .. indptr[i+1]-1``;
* ``indices`` int64 ``[nnz]``: the input (column) index of each synapse, in ``[0, n_in)``;
* ``weights`` float64 ``[nnz]``: finite.

Update (stateless, per step)::

    y[i] = sum_{k = indptr[i]}^{indptr[i+1]-1} weights[k] * x[indices[k]]

Duplicates (two synapses with the same ``(i, j)``) are **refused** by validation, so a
``SparseLinear`` always equals exactly one dense matrix (:meth:`SparseLinear.dense`) and
the plain-NIR decomposition below is exact. :meth:`SparseLinear.from_coo` builds one from
``(row, col, weight)`` triplets and sums duplicates there, explicitly, if asked.

Agreement: every backend computes the sum above in float64, but the order of the
additions for one output differs (Brian2 adds one spike at a time in synapse order, torch
accumulates with ``index_add`` over the active inputs, the numpy reference with scipy).
States are therefore equal to within rounding of a sum of ``nnz_i`` terms (tests use
1e-12 relative to the largest partial sum); for 0/1 inputs and weights that are sums of
few equal values (as in Brunel's network) the sums are usually bit-identical, and spikes
are compared exactly.

Backends: Brian2 lowers it as one more index map (``backends/brian2/sparse.py``: spike
pathways, 0/1-input fast path), torch with ``index_add`` over the active inputs
(``backends/torch/sparse.py``), Lava by composing it into its connection weights
(``backends/lava/sparse.py``; sparse connections run as Lava ``Sparse`` processes).

Plain NIR: ``to_nir(graph, plain=True)`` writes a ``SparseLinear`` as the equivalent dense
``nir.Linear`` when ``n_out * n_in <= PLAIN_DENSE_LIMIT`` (64 Mi entries, 512 MB in
float64), else it raises :class:`~spikecore.errors.UnsupportedError` naming the node and
its dense size. In a spikecore file (``plain=False``) the node is stored exactly (int64
indices, float64 weights) under the extension metadata.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import nir
import numpy as np

from .. import primitives as P
from .base import Extension, register_extension

#: Largest dense size (n_out * n_in entries) written as a dense nir.Linear by plain export.
PLAIN_DENSE_LIMIT = 64 * 2**20


def _int_array(x: Any) -> np.ndarray:
    a = np.asarray(x)
    # Keep non-integer input as given: validation reports it with the node's name.
    return a.astype(np.int64) if a.dtype.kind in "iub" or a.size == 0 else a


@dataclass(eq=False)
class SparseLinear(Extension):
    """``y = W x`` with ``W`` (``shape = (n_out, n_in)``) in CSR form; see the module
    docstring for the fields and the exact update. Duplicate entries are refused."""

    shape: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    weights: np.ndarray
    int_fields = ("shape", "indptr", "indices")
    array_fields = ("weights",)

    def __post_init__(self) -> None:
        self.shape = _int_array(self.shape)
        self.indptr = _int_array(self.indptr)
        self.indices = _int_array(self.indices)
        self.weights = np.asarray(self.weights, dtype=np.float64)
        n_out, n_in = self._dims()
        self.input_type = {"input": np.array([n_in])}
        self.output_type = {"output": np.array([n_out])}

    def _dims(self) -> tuple[int, int]:
        s = np.asarray(self.shape).ravel()
        if s.size != 2 or s.dtype.kind not in "iu":
            return (0, 0)
        return int(s[0]), int(s[1])

    @property
    def n_out(self) -> int:
        return self._dims()[0]

    @property
    def n_in(self) -> int:
        return self._dims()[1]

    @property
    def nnz(self) -> int:
        return int(np.size(self.weights))

    def rows(self) -> np.ndarray:
        """The output (row) index of every synapse, int64 ``[nnz]``."""
        return np.repeat(np.arange(self.n_out, dtype=np.int64), np.diff(self.indptr))

    def dense(self) -> np.ndarray:
        """The equivalent dense ``(n_out, n_in)`` float64 matrix (no duplicates: exact)."""
        w = np.zeros((self.n_out, self.n_in))
        w[self.rows(), self.indices] = self.weights
        return w

    @classmethod
    def from_dense(cls, weight: np.ndarray, metadata: dict | None = None) -> SparseLinear:
        """The nonzero entries of a dense ``(n_out, n_in)`` matrix, row by row."""
        w = np.asarray(weight, dtype=np.float64)
        if w.ndim != 2:
            raise ValueError(f"weight must be 2-D (out, in), got shape {w.shape}")
        rows, cols = np.nonzero(w)
        indptr = np.zeros(w.shape[0] + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=w.shape[0]), out=indptr[1:])
        return cls(shape=np.array(w.shape), indptr=indptr, indices=cols, weights=w[rows, cols],
                   metadata=metadata or {})

    @classmethod
    def from_coo(cls, rows: Any, cols: Any, weights: Any, shape: tuple[int, int],
                 sum_duplicates: bool = False, metadata: dict | None = None) -> SparseLinear:
        """From triplets ``W[rows[k], cols[k]] = weights[k]``; synapses of one row keep
        their given order. Duplicate ``(row, col)`` pairs raise ``ValueError`` unless
        ``sum_duplicates=True`` (then they become one synapse with the summed weight,
        added in the given order, at the first one's place)."""
        r = np.asarray(rows, dtype=np.int64).ravel()
        c = np.asarray(cols, dtype=np.int64).ravel()
        w = np.asarray(weights, dtype=np.float64).ravel()
        if not r.size == c.size == w.size:
            raise ValueError(f"rows, cols, weights have {r.size}, {c.size}, {w.size} elements; "
                             "expected equal lengths")
        n_out, n_in = (int(v) for v in shape)
        if r.size and (r.min() < 0 or r.max() >= n_out or c.min() < 0 or c.max() >= n_in):
            raise ValueError(f"an index lies outside shape {(n_out, n_in)}")
        order = np.argsort(r, kind="stable")
        r, c, w = r[order], c[order], w[order]
        key = r * max(n_in, 1) + c
        uniq, first, inverse = np.unique(key, return_index=True, return_inverse=True)
        if uniq.size != key.size:
            if not sum_duplicates:
                k = int(np.flatnonzero(np.bincount(inverse) > 1)[0])
                raise ValueError(f"duplicate entry (row {int(uniq[k] // max(n_in, 1))}, col "
                                 f"{int(uniq[k] % max(n_in, 1))}); pass sum_duplicates=True "
                                 "to add them")
            summed = np.zeros(uniq.size)
            np.add.at(summed, inverse, w)
            keep = np.sort(first)  # first occurrence of each pair, in the given order
            w = summed[inverse[keep]]
            r, c = r[keep], c[keep]
        indptr = np.zeros(n_out + 1, dtype=np.int64)
        np.cumsum(np.bincount(r, minlength=n_out), out=indptr[1:])
        return cls(shape=np.array([n_out, n_in]), indptr=indptr, indices=c, weights=w,
                   metadata=metadata or {})


# ---------------------------------------------------------------------- validation
def structure_problems(name: str, node: SparseLinear) -> list[str]:
    """Every structural problem of the CSR fields (one line each, naming node and field)."""
    head = f"node {name!r} (SparseLinear):"
    s = np.asarray(node.shape).ravel()
    if s.size != 2 or s.dtype.kind not in "iu" or np.any(s < 0):
        return [f"{head} 'shape'={s.tolist()}: expected two integers (n_out, n_in) >= 0"]
    n_out, n_in = int(s[0]), int(s[1])
    out = []
    ptr, idx, w = np.asarray(node.indptr), np.asarray(node.indices), np.asarray(node.weights)
    for f, a in (("indptr", ptr), ("indices", idx)):
        if a.ndim != 1 or a.dtype.kind not in "iu":
            out.append(f"{head} {f!r} must be a 1-D integer array, got dtype {a.dtype} and "
                       f"shape {a.shape}")
    if w.ndim != 1:
        out.append(f"{head} 'weights' must be 1-D, got shape {w.shape}")
    if out:
        return out
    if ptr.size != n_out + 1:
        out.append(f"{head} 'indptr' has {ptr.size} entries; expected n_out + 1 = {n_out + 1}")
    elif ptr[0] != 0 or np.any(np.diff(ptr) < 0) or ptr[-1] != idx.size:
        out.append(f"{head} 'indptr' must start at 0, never decrease and end at "
                   f"len(indices) = {idx.size}; got start {int(ptr[0])}, end {int(ptr[-1])}")
    if idx.size != w.size:
        out.append(f"{head} 'indices' has {idx.size} entries but 'weights' has {w.size}; "
                   "expected one weight per synapse")
    if idx.size and (idx.min() < 0 or idx.max() >= n_in):
        bad = int(idx[(idx < 0) | (idx >= n_in)][0])
        out.append(f"{head} 'indices' holds {bad}, outside [0, n_in = {n_in}); every column "
                   "index must address an input")
    if not out and idx.size:
        key = np.repeat(np.arange(n_out, dtype=np.int64), np.diff(ptr)) * max(n_in, 1) + idx
        k = np.sort(key)
        dup = np.flatnonzero(k[1:] == k[:-1])
        if dup.size:
            row, col = divmod(int(k[dup[0]]), max(n_in, 1))
            out.append(f"{head} {dup.size} duplicate synapse(s), first (row {row}, col {col}); "
                       "duplicates are refused: merge them (SparseLinear.from_coo(..., "
                       "sum_duplicates=True))")
    return out


def _check(name: str, node: Any, dt: float | None) -> list[str]:
    return structure_problems(name, node)


def _shape(node: Any, in_shape: P.Shape | None) -> P.Shape:
    n_out, n_in = node._dims()
    s = np.asarray(node.shape).ravel()
    if s.size != 2 or s.dtype.kind not in "iu":
        raise P.ShapeError(f"'shape' must be (n_out, n_in) integers, got {s.tolist()}")
    if in_shape is not None and tuple(in_shape) != (n_in,):
        raise P.ShapeError(f"input shape {tuple(in_shape)} != ({n_in},) from 'shape' "
                           f"{(n_out, n_in)}")
    return (n_out,)


# ---------------------------------------------------------------------- plain NIR
def plain_equivalent(name: str, node: SparseLinear) -> nir.Linear:
    """The dense ``nir.Linear`` written by ``to_nir(plain=True)``; raises
    :class:`~spikecore.errors.UnsupportedError` above :data:`PLAIN_DENSE_LIMIT`."""
    from ..errors import UnsupportedError

    size = node.n_out * node.n_in
    if size > PLAIN_DENSE_LIMIT:
        raise UnsupportedError(
            f"'{name}' (SparseLinear): its dense nir.Linear would hold {node.n_out} x "
            f"{node.n_in} = {size} entries ({size * 8 / 2**20:.0f} MiB), above the plain-NIR "
            f"limit of {PLAIN_DENSE_LIMIT} entries; write without plain=True (exact, "
            "sparse) or split the map")
    return nir.Linear(weight=node.dense(), metadata=dict(node.metadata or {}))


register_extension(SparseLinear, P.PrimitiveSpec(
    "stateless", _shape, array_params=("weights",),
    notes="y = W x, W in CSR (indptr, indices, weights); duplicates refused",
    extra={"check": _check, "plain": plain_equivalent}))

__all__ = ["PLAIN_DENSE_LIMIT", "SparseLinear", "plain_equivalent", "structure_problems"]
