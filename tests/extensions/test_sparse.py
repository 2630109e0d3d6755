"""SparseLinear: construction, validation, files (exact round trip), plain-NIR export
(dense decomposition below the limit, refusal above), and the Brunel model's sparse form."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse

import spikecore as sc
from spikecore import extensions as X
from spikecore import primitives as P
from spikecore.errors import GraphError, UnsupportedError
from spikecore.extensions import sparse as S
from spikecore.extensions.sparse import SparseLinear


def _matrix(seed: int = 0, shape=(6, 8), density: float = 0.35) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=shape) * (rng.random(shape) < density)


def _graph(node, n_in: int | None = None, name: str = "g") -> sc.Graph:
    n_in = node.n_in if n_in is None else n_in
    return sc.Graph({"in": P.Input(np.array([n_in])), "w": node,
                     "out": P.Output(np.array([node.n_out]))},
                    [("in", "w"), ("w", "out")], sc.Semantics(dt=1e-3), name=name)


def test_from_dense_and_from_coo_describe_the_same_matrix() -> None:
    W = _matrix()
    a = SparseLinear.from_dense(W)
    np.testing.assert_array_equal(a.dense(), W)
    assert a.nnz == np.count_nonzero(W) and a.indices.dtype == np.int64
    r, c = np.nonzero(W)
    perm = np.random.default_rng(1).permutation(r.size)  # any order of triplets
    b = SparseLinear.from_coo(r[perm], c[perm], W[r, c][perm], W.shape)
    np.testing.assert_array_equal(b.dense(), W)
    # the documented meaning, checked with scipy
    np.testing.assert_array_equal(
        scipy.sparse.csr_array((a.weights, a.indices, a.indptr), shape=W.shape).toarray(), W)


def test_duplicates_are_refused_or_summed_on_request() -> None:
    with pytest.raises(ValueError, match=r"duplicate entry \(row 1, col 2\)"):
        SparseLinear.from_coo([1, 0, 1], [2, 0, 2], [0.5, 1.0, 0.25], (2, 3))
    s = SparseLinear.from_coo([1, 0, 1], [2, 0, 2], [0.5, 1.0, 0.25], (2, 3),
                              sum_duplicates=True)
    np.testing.assert_array_equal(s.dense(), [[1.0, 0, 0], [0, 0, 0.75]])
    # A node built directly with a duplicate is reported by validation, with the fix.
    dup = SparseLinear(shape=[2, 3], indptr=[0, 1, 3], indices=[0, 2, 2], weights=[1, 2, 3])
    errors, _ = _graph(dup).problems()
    assert any("1 duplicate synapse(s), first (row 1, col 2)" in e and "sum_duplicates=True"
               in e for e in errors), errors


@pytest.mark.parametrize("fields, expected", [
    (dict(indices=[0, 9, 1]), "'indices' holds 9, outside [0, n_in = 3)"),
    (dict(indices=[0, -1, 1]), "'indices' holds -1, outside [0, n_in = 3)"),
    (dict(indptr=[0, 2]), "'indptr' has 2 entries; expected n_out + 1 = 3"),
    (dict(indptr=[0, 2, 1]), "'indptr' must start at 0, never decrease"),
    (dict(weights=[1.0, 2.0]), "'indices' has 3 entries but 'weights' has 2"),
    (dict(indices=[0.5, 1.0, 2.0]), "'indices' must be a 1-D integer array, got dtype float64"),
    (dict(weights=[1.0, np.inf, 2.0]), "parameter 'weights' has 1 NaN/inf value(s)"),
    (dict(shape=[2, 3, 4]), "'shape'=[2, 3, 4]: expected two integers (n_out, n_in)"),
])
def test_validation_names_node_and_field(fields: dict, expected: str) -> None:
    base = dict(shape=[2, 3], indptr=[0, 2, 3], indices=[0, 2, 1], weights=[1.0, 2.0, 3.0])
    node = SparseLinear(**{**base, **fields})
    g = sc.Graph({"in": P.Input(np.array([3])), "w": node}, [("in", "w")], sc.Semantics(dt=1e-3))
    errors, _ = g.problems()
    assert any(e.startswith("node 'w' (SparseLinear)") and expected in e for e in errors), errors
    with pytest.raises(GraphError, match="SparseLinear"):
        g.validate()


def test_input_shape_must_match_n_in() -> None:
    errors, _ = _graph(SparseLinear.from_dense(_matrix()), n_in=5).problems()
    assert any("input shape (5,) != (8,)" in e for e in errors), errors


def test_spikecore_file_round_trip_is_exact(tmp_path) -> None:
    W = _matrix(2, (40, 30), 0.2)
    node = SparseLinear.from_dense(W, metadata={"note": "recurrent"})
    empty = SparseLinear(shape=[3, 30], indptr=[0, 0, 0, 0], indices=[], weights=[])
    g = sc.Graph({"in": P.Input(np.array([30])), "w": node, "e": empty,
                  "o1": P.Output(np.array([40])), "o2": P.Output(np.array([3]))},
                 [("in", "w"), ("w", "o1"), ("in", "e"), ("e", "o2")], sc.Semantics(dt=1e-3))
    path = tmp_path / "sparse.nir"
    sc.write(g, path)
    back = sc.read(path)
    for name in ("w", "e"):
        a, b = g.nodes[name], back.nodes[name]
        assert type(b) is SparseLinear
        for f in ("shape", "indptr", "indices"):
            assert getattr(b, f).dtype == np.int64, f
            np.testing.assert_array_equal(getattr(b, f), getattr(a, f))
        assert b.weights.dtype == np.float64
        np.testing.assert_array_equal(b.weights, a.weights)  # bit for bit
    assert back.nodes["w"].metadata == {"note": "recurrent"}


def test_plain_export_writes_a_dense_linear_below_the_limit(tmp_path) -> None:
    W = _matrix(3)
    g = _graph(SparseLinear.from_dense(W))
    plain = sc.to_nir(g, plain=True)
    assert type(plain.nodes["w"]) is P.Linear
    np.testing.assert_array_equal(plain.nodes["w"].weight, W)
    assert X.EXTENSIONS_KEY not in (plain.metadata or {})
    # the original graph is untouched
    assert type(g.nodes["w"]) is SparseLinear


def test_plain_export_refuses_above_the_limit_naming_node_and_size(monkeypatch) -> None:
    big = SparseLinear(shape=[20000, 20000], indptr=np.zeros(20001, np.int64), indices=[],
                       weights=[])
    assert 20000 * 20000 > S.PLAIN_DENSE_LIMIT
    g = _graph(big, name="big")
    with pytest.raises(UnsupportedError) as info:
        sc.to_nir(g, plain=True)
    msg = str(info.value)
    assert "'w' (SparseLinear): its dense nir.Linear would hold 20000 x 20000 = 400000000 " \
           "entries (3052 MiB), above the plain-NIR limit of 67108864 entries" in msg, msg
    sc.to_nir(g)  # without plain=True: stored exactly, no error
    # the limit is the documented constant
    monkeypatch.setattr(S, "PLAIN_DENSE_LIMIT", 10)
    with pytest.raises(UnsupportedError, match="limit of 10 entries"):
        sc.to_nir(_graph(SparseLinear.from_dense(_matrix())), plain=True)


def test_brunel_sparse_and_dense_forms_hold_the_same_synapses() -> None:
    from spikecore.models import brunel2000

    kw = dict(N_E=400, epsilon=0.1, J=0.2e-3, seed=5)
    dense = brunel2000(**kw, sparse=False)
    sparse = brunel2000(**kw, sparse=True)
    assert type(dense.nodes["recurrent"]) is P.Linear
    rec = sparse.nodes["recurrent"]
    assert type(rec) is SparseLinear
    assert type(brunel2000(**kw).nodes["recurrent"]) is P.Linear  # default: dense when small
    np.testing.assert_array_equal(rec.dense(), dense.nodes["recurrent"].weight)
    assert np.all(np.diff(rec.indptr) == 40 + 10)  # fixed in-degree C_E + C_I
    assert sparse.problems()[0] == []


def test_brunel_default_is_sparse_above_the_threshold() -> None:
    from spikecore.models import networks

    n_e = int(networks.BRUNEL_SPARSE_ABOVE / 1.25) + 8  # N = 1.25 N_E just above
    g = networks.brunel2000(N_E=n_e, epsilon=0.01, J=1e-3, seed=0)
    assert type(g.nodes["recurrent"]) is SparseLinear
