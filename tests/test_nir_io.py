"""NIR I/O: lossless round trips of every primitive, dialects, malformed files."""

from __future__ import annotations

import dataclasses
import os
import shutil
import warnings

import h5py
import nir
import numpy as np
import pytest
from prerequisites import shared_fixture

import spikecore as sc
from spikecore import primitives as P
from spikecore.extensions import EXTENSION_TYPES
from spikecore.nir_io import METADATA_KEY, read_nir

# Fields nir derives from the others; compared through the shapes instead.
DERIVED_FIELDS = ("input_type", "output_type", "metadata")


# ============================================================== graph builders
def _lif(n, rng, dtype=np.float64):
    return nir.LIF(tau=rng.uniform(5e-3, 2e-2, n).astype(dtype),
                   r=rng.uniform(0.5, 2, n).astype(dtype),
                   v_leak=rng.normal(size=n).astype(dtype),
                   v_threshold=rng.uniform(1, 2, n).astype(dtype),
                   v_reset=rng.normal(size=n).astype(dtype))


def every_primitive_graph(seed: int = 0) -> sc.Graph:
    """A valid graph holding every NIR 1.0 primitive, a nested graph with two inputs, a
    recurrent edge and non-zero edge delays; random parameters, some float32."""
    rng = np.random.default_rng(seed)
    n = 5
    sub = sc.Graph(
        {
            "x": nir.Input(input_type=np.array([n])),
            "y": nir.Input(input_type=np.array([n])),
            "cell": _lif(n, rng),
            "o": nir.Output(output_type=np.array([n])),
        },
        [("x", "cell"), ("y", "cell", 2), ("cell", "o", 1)],
        name="inner", metadata={"level": "nested"},
    )
    nodes = {
        "img": nir.Input(input_type=np.array([2, 6, 6])),
        "conv2": nir.Conv2d(input_shape=(6, 6), weight=rng.normal(size=(4, 1, 3, 3)),
                            stride=1, padding=1, dilation=1, groups=2, bias=rng.normal(size=4)),
        "sump": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                              padding=np.array([0, 0])),
        "avgp": nir.AvgPool2d(kernel_size=np.array([3, 3]), stride=np.array([1, 1]),
                              padding=np.array([1, 1])),
        "flat2": nir.Flatten(input_type={"input": np.array([4, 3, 3])}, start_dim=0, end_dim=-1),
        "lin": nir.Linear(weight=rng.normal(size=(n, 36))),
        "cubalif": nir.CubaLIF(tau_syn=rng.uniform(2e-3, 5e-3, n),
                               tau_mem=rng.uniform(1e-2, 2e-2, n),
                               r=rng.uniform(0.5, 2, n), v_leak=rng.normal(size=n),
                               v_threshold=rng.uniform(1, 2, n), v_reset=rng.normal(size=n),
                               w_in=rng.uniform(0.5, 2, n)),
        "seq": nir.Input(input_type=np.array([2, 10])),
        "conv1": nir.Conv1d(input_shape=10, weight=rng.normal(size=(4, 2, 3)).astype(np.float32),
                            stride=2, padding=1, dilation=1, groups=1,
                            bias=rng.normal(size=4).astype(np.float32)),
        "flat1": nir.Flatten(input_type={"input": np.array([4, 5])}, start_dim=0, end_dim=-1),
        "aff": nir.Affine(weight=rng.normal(size=(n, 20)), bias=rng.normal(size=n)),
        "lif": _lif(n, rng, np.float32),
        "scale": nir.Scale(scale=rng.normal(size=n)),
        "thr": nir.Threshold(threshold=rng.normal(size=n)),
        "delay": nir.Delay(delay=np.array([0.0, 1e-3, 2e-3, 3e-3, 5e-3])),
        "if_": nir.IF(r=rng.uniform(0.5, 2, n), v_threshold=rng.uniform(1, 2, n),
                      v_reset=rng.normal(size=n)),
        "integ": nir.I(r=rng.uniform(0.5, 2, n)),
        "li": nir.LI(tau=rng.uniform(5e-3, 2e-2, n), r=rng.uniform(0.5, 2, n),
                     v_leak=rng.normal(size=n)),
        "cubali": nir.CubaLI(tau_syn=rng.uniform(2e-3, 5e-3, n), tau_mem=rng.uniform(1e-2, 2e-2, n),
                             r=rng.uniform(0.5, 2, n), v_leak=rng.normal(size=n),
                             w_in=rng.uniform(0.5, 2, n)),
        "sub": sub,
        "out_a": nir.Output(output_type=np.array([n])),
        "out_b": nir.Output(output_type=np.array([n])),
    }
    edges = [
        ("img", "conv2"), ("conv2", "sump"), ("sump", "avgp"), ("avgp", "flat2"),
        ("flat2", "lin"), ("lin", "cubalif"), ("cubalif", "out_a"),
        ("seq", "conv1"), ("conv1", "flat1"), ("flat1", "aff"), ("aff", "lif"),
        ("lif", "lif", 1), ("cubalif", "lif", 3), ("lif", "scale"), ("scale", "thr"),
        ("thr", "delay"), ("delay", "if_"), ("if_", "integ"), ("integ", "li"),
        ("li", "cubali"), ("cubali", "sub.x"), ("lif", "sub.y", 4), ("sub", "out_b"),
    ]
    sem = sc.Semantics(dt=1e-3, integrator="exact", reset="subtract", input_meaning="increment",
                       update_order="voltage_first")
    return sc.Graph(nodes, edges, sem, name="zoo",
                    metadata={"author": "test", "version": 3, "gain": 0.25,
                              "vector": np.arange(4.0)})


def _param_fields(node) -> list[str]:
    return [f.name for f in dataclasses.fields(node) if f.name not in DERIVED_FIELDS]


def assert_same_node(a, b, where: str) -> None:
    assert type(a) is type(b), f"{where}: type {type(a).__name__} became {type(b).__name__}"
    if isinstance(a, sc.Graph):
        assert_same_graph(a, b, where)
        return
    for f in _param_fields(a):
        x, y = getattr(a, f), getattr(b, f)
        if x is None or y is None:
            assert x is None and y is None, f"{where}.{f}: {x!r} vs {y!r}"
            continue
        xa, ya = np.asarray(x), np.asarray(y)
        if xa.dtype.kind == "f":
            assert ya.dtype == xa.dtype, f"{where}.{f}: dtype {xa.dtype} became {ya.dtype}"
            assert xa.shape == ya.shape, f"{where}.{f}: shape {xa.shape} became {ya.shape}"
            # bit-identical, not merely close
            assert xa.tobytes() == ya.tobytes(), f"{where}.{f}: values changed"
        else:
            # ints given as python scalars/tuples come back as numpy arrays: compare values
            assert np.array_equal(np.broadcast_to(xa, np.broadcast_shapes(xa.shape, ya.shape)),
                                  np.broadcast_to(ya, np.broadcast_shapes(xa.shape, ya.shape))), \
                f"{where}.{f}: {x!r} became {y!r}"
    assert (a.metadata or {}) .keys() == (b.metadata or {}).keys(), f"{where}: node metadata"


def assert_same_metadata(a: dict, b: dict, where: str) -> None:
    assert set(a) == set(b), f"{where}: metadata keys {sorted(a)} became {sorted(b)}"
    for k, v in a.items():
        assert np.array_equal(np.asarray(v), np.asarray(b[k])), f"{where}: metadata {k!r}"


def assert_same_graph(a: sc.Graph, b: sc.Graph, where: str = "graph") -> None:
    assert list(a.nodes) == list(b.nodes), f"{where}: node order {list(a.nodes)} -> {list(b.nodes)}"
    assert a.edges == b.edges, f"{where}: edges {a.edges} -> {b.edges}"
    assert a.semantics == b.semantics, f"{where}: semantics {a.semantics} -> {b.semantics}"
    assert a.name == b.name
    assert_same_metadata(a.metadata, b.metadata, where)
    for name in a.nodes:
        assert_same_node(a.nodes[name], b.nodes[name], f"{where}.{name}")


# ============================================================== round trips
@pytest.fixture(scope="module")
def zoo() -> sc.Graph:
    return every_primitive_graph().validate()


def test_every_primitive_is_in_the_zoo(zoo):
    types = {type(v) for v in zoo.nodes.values()} | {
        type(v) for v in zoo.nodes["sub"].nodes.values()}
    # Extension primitives are not NIR nodes; tests/extensions/test_extensions.py round-trips them.
    missing = {t.__name__ for t in P.SPECS} - {t.__name__ for t in types} - set(EXTENSION_TYPES)
    assert not missing, f"round-trip graph lacks {missing}"
    assert sc.Graph in types


def test_file_round_trip_is_lossless(zoo, tmp_path):
    path = sc.write(zoo, tmp_path / "zoo.nir")
    back = sc.read(path)
    assert_same_graph(zoo, back)
    assert back.topological_order() == zoo.topological_order()
    assert back.shapes() == zoo.shapes()


def test_in_memory_round_trip_is_lossless(zoo):
    back = sc.from_nir(sc.to_nir(zoo))
    assert_same_graph(zoo, back)


def test_round_trip_twice_is_stable(zoo, tmp_path):
    once = sc.read(sc.write(zoo, tmp_path / "a.nir"))
    twice = sc.read(sc.write(once, tmp_path / "b.nir"))
    assert_same_graph(once, twice)


def test_node_metadata_round_trips(tmp_path):
    rng = np.random.default_rng(1)
    cell = _lif(3, rng)
    cell.metadata = {"note": "hello", "gain": 2.5}
    g = sc.Graph({"i": nir.Input(input_type=np.array([3])), "c": cell,
                  "o": nir.Output(output_type=np.array([3]))},
                 [("i", "c"), ("c", "o")], sc.Semantics(dt=1e-3))
    back = sc.read(sc.write(g, tmp_path / "m.nir"))
    assert_same_metadata(cell.metadata, back.nodes["c"].metadata, "c")


def test_written_file_is_plain_nir(zoo, tmp_path):
    """Other NIR readers see a normal graph; the spikecore record is one metadata string."""
    path = sc.write(zoo, tmp_path / "zoo.nir")
    plain = nir.read(path, type_check=False)
    assert set(plain.nodes) == set(zoo.nodes)
    assert sorted(plain.edges) == sorted((e.source, e.target) for e in zoo.edges)
    assert METADATA_KEY in plain.metadata


def test_node_order_does_not_come_from_nir(tmp_path):
    """nir.read sorts nodes by name; the written order (and evaluation order) survive."""
    rng = np.random.default_rng(2)
    nodes = {"zz_in": nir.Input(input_type=np.array([3])), "m_cell": _lif(3, rng),
             "b_cell": _lif(3, rng), "a_out": nir.Output(output_type=np.array([3]))}
    g = sc.Graph(nodes, [("zz_in", "m_cell"), ("m_cell", "b_cell"), ("b_cell", "a_out")],
                 sc.Semantics(dt=1e-3))
    assert list(read_nir(sc.write(g, tmp_path / "o.nir")).nodes) == sorted(nodes)
    back = sc.read(tmp_path / "o.nir")
    assert list(back.nodes) == list(nodes)
    assert back.topological_order() == ["zz_in", "m_cell", "b_cell", "a_out"]


def test_foreign_file_nodes_ordered_by_edges(tmp_path):
    rng = np.random.default_rng(3)
    ng = nir.NIRGraph(nodes={"zz_in": nir.Input(input_type=np.array([3])), "m": _lif(3, rng),
                             "b": _lif(3, rng), "a_out": nir.Output(output_type=np.array([3]))},
                      edges=[("b", "a_out"), ("m", "b"), ("zz_in", "m")], type_check=False)
    nir.write(tmp_path / "f.nir", ng)
    g = sc.read(tmp_path / "f.nir", dialect="norse")
    assert list(g.nodes) == ["zz_in", "m", "b", "a_out"]


def test_writer_fills_missing_shapes(tmp_path):
    """Conv input_shape, Flatten input_type and Output shape left None are declared in the
    file from the inferred shapes, so any NIR reader can use it."""
    rng = np.random.default_rng(4)
    g = sc.Graph(
        {"i": nir.Input(input_type=np.array([2, 5, 5])),
         "c": nir.Conv2d(input_shape=None, weight=rng.normal(size=(3, 2, 3, 3)), stride=1,
                         padding=0, dilation=1, groups=1, bias=np.zeros(3)),
         "f": nir.Flatten(input_type=None, start_dim=0, end_dim=-1),
         "o": nir.Output(output_type=None)},
        [("i", "c"), ("c", "f"), ("f", "o")], sc.Semantics(dt=1e-3))
    assert g.shapes()["o"] == (27,)
    back = sc.read(sc.write(g, tmp_path / "s.nir"))
    assert tuple(back.nodes["c"].input_shape) == (5, 5)
    assert tuple(back.nodes["f"].input_type["input"]) == (3, 3, 3)
    assert tuple(back.nodes["o"].output_type["output"]) == (27,)
    assert back.shapes() == g.shapes()
    np.testing.assert_array_equal(back.nodes["c"].weight, g.nodes["c"].weight)


def test_edge_delays_and_semantics_survive(tmp_path):
    rng = np.random.default_rng(5)
    for sem in (sc.Semantics(dt=2.5e-4),
                sc.Semantics(dt=1e-3, integrator="exact", reset="subtract",
                             input_meaning="increment", update_order="voltage_first")):
        g = sc.Graph({"i": nir.Input(input_type=np.array([2])), "a": _lif(2, rng),
                      "b": _lif(2, rng), "o": nir.Output(output_type=np.array([2]))},
                     [("i", "a", 7), ("a", "b"), ("b", "a", 2), ("b", "o", 1)], sem)
        back = sc.read(sc.write(g, tmp_path / "d.nir"))
        assert back.edges == g.edges
        assert back.semantics == sem
        assert back.semantics.to_dict() == sem.to_dict()


def test_read_overrides_stored_semantics(zoo, tmp_path):
    path = sc.write(zoo, tmp_path / "zoo.nir")
    g = sc.read(path, dt=5e-4, reset="to_value")
    assert g.semantics == zoo.semantics.replace(dt=5e-4, reset="to_value")


def test_dialect_on_spikecore_file_is_refused(zoo, tmp_path):
    path = sc.write(zoo, tmp_path / "zoo.nir")
    with pytest.raises(sc.DialectError, match="written by spikecore") as info:
        sc.read(path, dialect="norse")
    assert str(path) in str(info.value)


def test_invalid_graph_is_not_written(tmp_path):
    g = sc.Graph({"i": nir.Input(input_type=np.array([2])),
                  "o": nir.Output(output_type=np.array([2]))}, [("i", "zz")],
                 sc.Semantics(dt=1e-3))
    with pytest.raises(sc.GraphError, match="'zz' is not a node"):
        sc.write(g, tmp_path / "bad.nir")
    assert not list(tmp_path.iterdir())


# ============================================================== atomic writes
def test_failed_write_keeps_existing_file_and_leaves_no_temp(zoo, tmp_path):
    path = sc.write(zoo, tmp_path / "zoo.nir")
    before = path.read_bytes()
    broken = zoo.copy()
    broken.metadata["unstorable"] = object()  # h5py has no type for it
    with pytest.raises(sc.NIRFileError, match="cannot write") as info:
        sc.write(broken, path)
    assert str(path) in str(info.value)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["zoo.nir"]
    assert_same_graph(zoo, sc.read(path))


def test_write_into_missing_directory(zoo, tmp_path):
    with pytest.raises(sc.NIRFileError, match="does not exist"):
        sc.write(zoo, tmp_path / "nope" / "zoo.nir")


def test_write_onto_a_directory(zoo, tmp_path):
    (tmp_path / "d.nir").mkdir()
    with pytest.raises(sc.NIRFileError, match="cannot write"):
        sc.write(zoo, tmp_path / "d.nir")
    assert [p.name for p in tmp_path.iterdir()] == ["d.nir"]


# ============================================================== recurrent_delay
def _foreign_cycle(seed: int = 6) -> nir.NIRGraph:
    rng = np.random.default_rng(seed)
    return nir.NIRGraph(
        nodes={"inp": nir.Input(input_type=np.array([2])), "x": _lif(2, rng),
               "w": nir.Linear(weight=rng.normal(size=(2, 2))), "y": _lif(2, rng),
               "out": nir.Output(output_type=np.array([2]))},
        edges=[("inp", "x"), ("x", "w"), ("w", "y"), ("y", "x"), ("y", "out")],
        type_check=False)


@pytest.mark.parametrize("delay", [1, 3])
def test_recurrent_delay_goes_on_the_back_edge(delay, tmp_path):
    nir.write(tmp_path / "cyc.nir", _foreign_cycle())
    g = sc.read(tmp_path / "cyc.nir", dialect="norse", recurrent_delay=delay)
    delays = {(e.source, e.target): e.delay_steps for e in g.edges}
    # DFS from the Input closes the cycle x -> w -> y -> x with the edge y -> x.
    assert delays == {("inp", "x"): 0, ("x", "w"): 0, ("w", "y"): 0, ("y", "x"): delay,
                      ("y", "out"): 0}
    assert g.topological_order() == ["inp", "x", "w", "y", "out"]


def test_back_edge_choice_does_not_depend_on_dict_order():
    ng = _foreign_cycle()
    shuffled = nir.NIRGraph(nodes=dict(reversed(list(ng.nodes.items()))),
                            edges=list(reversed(ng.edges)), type_check=False)
    a = sc.from_nir(ng, dialect="norse")
    b = sc.from_nir(shuffled, dialect="norse")
    assert {e for e in a.edges if e.delay_steps} == {e for e in b.edges if e.delay_steps}
    assert list(a.nodes) == list(b.nodes)


def test_recurrent_delay_zero_is_refused_naming_the_cycle(tmp_path):
    nir.write(tmp_path / "cyc.nir", _foreign_cycle())
    with pytest.raises(sc.GraphError) as info:
        sc.read(tmp_path / "cyc.nir", dialect="norse", recurrent_delay=0)
    msg = str(info.value)
    assert "zero-delay cycle 'w' -> 'y' -> 'x' -> 'w'" in msg
    assert str(tmp_path / "cyc.nir") in msg
    assert "recurrent_delay" in msg


def test_recurrent_delay_zero_in_memory_fails_validation():
    g = sc.from_nir(_foreign_cycle(), dialect="norse", recurrent_delay=0)
    assert all(e.delay_steps == 0 for e in g.edges)
    with pytest.raises(sc.GraphError, match="zero-delay cycle"):
        g.validate()


@pytest.mark.parametrize("bad", [-1, 1.5, True, "1"])
def test_recurrent_delay_must_be_a_step_count(bad):
    with pytest.raises(sc.GraphError, match="recurrent_delay"):
        sc.from_nir(_foreign_cycle(), dialect="norse", recurrent_delay=bad)


def test_self_loop_gets_the_recurrent_delay():
    rng = np.random.default_rng(7)
    ng = nir.NIRGraph(nodes={"i": nir.Input(input_type=np.array([2])), "c": _lif(2, rng),
                             "o": nir.Output(output_type=np.array([2]))},
                      edges=[("i", "c"), ("c", "c"), ("c", "o")], type_check=False)
    g = sc.from_nir(ng, dialect="norse", recurrent_delay=2).validate()
    assert sc.Edge("c", "c", 2) in g.edges


def test_recurrent_delay_sits_on_the_spikes_not_on_the_weights():
    """A foreign RNN i -> lif <-> w_rec (Affine): the delay goes on lif -> w_rec, so the
    recurrent bias reaches the neuron in step 0 already (snnTorch's recurrent(0) = b)."""
    n = 2
    lif = nir.LIF(tau=np.full(n, 0.01), r=np.ones(n), v_leak=np.zeros(n),
                  v_threshold=np.ones(n), v_reset=np.zeros(n))
    for names in (("lif", "w_rec"), ("b", "a")):  # either DFS order
        ln, wn = names
        ng = nir.NIRGraph(nodes={"i": nir.Input(input_type=np.array([n])), ln: lif,
                                 wn: nir.Affine(np.zeros((n, n)), np.full(n, 500.0)),
                                 "o": nir.Output(output_type=np.array([n]))},
                          edges=[("i", ln), (ln, wn), (wn, ln), (ln, "o")], type_check=False)
        g = sc.from_nir(ng, dialect="explicit", dt=1e-3, integrator="euler",
                        reset="to_value").validate()
        assert sc.Edge(ln, wn, 1) in g.edges and sc.Edge(wn, ln, 0) in g.edges, g.edges
        # v(0) = 0.1 * 500 = 50 > 1: the bias alone makes the first step spike
        r = sc.simulate(g, np.zeros((1, 3, n)), backend="torch")
        assert r.spikes[ln][0, 0].tolist() == [1.0, 1.0]
        # the importers' reading (nirtorch): the weights' output arrives a step late
        g = sc.from_nir(ng, dialect="explicit", dt=1e-3, integrator="euler",
                        reset="to_value", recurrent_delay_on="weights").validate()
        assert sc.Edge(wn, ln, 1) in g.edges and sc.Edge(ln, wn, 0) in g.edges, g.edges
        r = sc.simulate(g, np.zeros((1, 3, n)), backend="torch")
        assert r.spikes[ln][0, :2].tolist() == [[0.0, 0.0], [1.0, 1.0]]
        assert sc.Edge(wn, ln, 1) in sc.from_nir(ng, dialect="norse").edges
    with pytest.raises(sc.GraphError, match="recurrent_delay_on='both'"):
        sc.from_nir(ng, dialect="norse", recurrent_delay_on="both")


def test_from_nir_rejects_other_objects():
    with pytest.raises(sc.GraphError, match="nir.NIRGraph"):
        sc.from_nir({"nodes": {}}, dialect="norse")


# ============================================================== malformed files
@pytest.fixture
def valid_file(tmp_path):
    rng = np.random.default_rng(8)
    g = sc.Graph({"i": nir.Input(input_type=np.array([3])), "cell": _lif(3, rng),
                  "o": nir.Output(output_type=np.array([3]))},
                 [("i", "cell"), ("cell", "o")], sc.Semantics(dt=1e-3))
    return sc.write(g, tmp_path / "valid.nir")


def _damaged(valid_file, edit) -> str:
    path = valid_file.with_name("damaged.nir")
    shutil.copy(valid_file, path)
    with h5py.File(path, "a") as f:
        edit(f)
    return str(path)


def _expect_file_error(path, *fragments, **read_kwargs) -> sc.NIRFileError:
    with pytest.raises(sc.NIRFileError) as info:
        sc.read(path, **read_kwargs)
    msg = str(info.value)
    assert str(path) in msg, msg
    for frag in fragments:
        assert frag in msg, msg
    assert isinstance(info.value, sc.SpikecoreError)
    return info.value


def test_not_hdf5(tmp_path):
    p = tmp_path / "text.nir"
    p.write_text("this is not a NIR file\n")
    _expect_file_error(p, "not an HDF5 file")


def test_empty_file(tmp_path):
    p = tmp_path / "empty.nir"
    p.touch()
    _expect_file_error(p, "not an HDF5 file")


@pytest.mark.parametrize("fraction", [0.05, 0.5, 0.9, 0.99])
def test_truncated_file(valid_file, fraction):
    data = valid_file.read_bytes()
    p = valid_file.with_name("truncated.nir")
    p.write_bytes(data[: int(len(data) * fraction)])
    _expect_file_error(p)


def test_hdf5_without_node_group(tmp_path):
    p = tmp_path / "other.h5"
    with h5py.File(p, "w") as f:
        f["data"] = np.arange(3)
    _expect_file_error(p, "'node'")


def test_root_not_a_graph(tmp_path):
    p = tmp_path / "root.nir"
    with h5py.File(p, "w") as f:
        f["node/type"] = b"LIF"
    _expect_file_error(p, "'NIRGraph'")


def test_directory_path(tmp_path):
    _expect_file_error(tmp_path, "directory")


def test_missing_file(tmp_path):
    _expect_file_error(tmp_path / "absent.nir", "no such file")


def test_unknown_node_type(valid_file):
    def edit(f):
        del f["node/nodes/cell/type"]
        f["node/nodes/cell/type"] = b"Spooky"
    err = _expect_file_error(_damaged(valid_file, edit), "'cell'", "'Spooky'", "LIF")
    assert "CubaLIF" in str(err)  # lists what is known


def test_node_without_type(valid_file):
    _expect_file_error(_damaged(valid_file, lambda f: f["node/nodes/cell"].pop("type")), "'cell'")


def test_missing_parameter(valid_file):
    _expect_file_error(_damaged(valid_file, lambda f: f["node/nodes/cell"].pop("tau")),
                       "'cell'", "tau")


def test_parameters_of_different_shapes(valid_file):
    """nir asserts tau, r, ... share a shape: the AssertionError must not escape."""
    def edit(f):
        del f["node/nodes/cell/r"]
        f["node/nodes/cell/r"] = np.ones(4)
    _expect_file_error(_damaged(valid_file, edit), "'cell'", "LIF")


def test_non_numeric_weight(tmp_path):
    rng = np.random.default_rng(9)
    g = sc.Graph({"i": nir.Input(input_type=np.array([2])),
                  "w": nir.Affine(weight=rng.normal(size=(2, 2)), bias=np.zeros(2)),
                  "o": nir.Output(output_type=np.array([2]))},
                 [("i", "w"), ("w", "o")], sc.Semantics(dt=1e-3))
    path = sc.write(g, tmp_path / "w.nir")

    def edit(f):
        del f["node/nodes/w/weight"]
        f["node/nodes/w/weight"] = b"abc"
    _expect_file_error(_damaged(path, edit), "'w'")


def test_edges_of_wrong_shape(valid_file):
    def edit(f):
        del f["node/edges"]
        f["node/edges"] = np.array([b"i", b"cell", b"o"])
    _expect_file_error(_damaged(valid_file, edit), "edges")


def test_damaged_spikecore_metadata(valid_file):
    def edit(f):
        del f[f"node/metadata/{METADATA_KEY}"]
        f[f"node/metadata/{METADATA_KEY}"] = b"{not json"
    _expect_file_error(_damaged(valid_file, edit), "JSON")


def test_foreign_format_version(valid_file):
    def edit(f):
        del f[f"node/metadata/{METADATA_KEY}"]
        f[f"node/metadata/{METADATA_KEY}"] = b'{"format": "spikecore-nir/99"}'
    _expect_file_error(_damaged(valid_file, edit), "spikecore-nir/99")


def test_shape_inconsistent_file_names_file_and_node(valid_file):
    """A structurally readable file whose shapes disagree: GraphError naming both."""
    def edit(f):
        del f["node/nodes/i/shape"]
        f["node/nodes/i/shape"] = np.array([4])
    path = _damaged(valid_file, edit)
    with pytest.raises(sc.GraphError) as info:
        sc.read(path)
    assert path in str(info.value) and "'cell'" in str(info.value)


# ============================================================== the NIR paper file
@pytest.fixture
def paper():
    """The NIR paper's LIF folder (fails in CI, skips elsewhere, when absent)."""
    return shared_fixture("nir_paper_lif", "lif_norse.nir").parent


def test_paper_file_with_norse_dialect(paper):
    g = sc.read(paper / "lif_norse.nir", dialect="norse", dt=1e-4)
    assert g.semantics == sc.Semantics(dt=1e-4, integrator="euler", reset="to_value",
                                       input_meaning="current", update_order="current_first")
    assert g.name == "lif_norse"
    assert g.topological_order() == ["input", "0", "1", "output"]
    assert list(g.nodes) == ["input", "0", "1", "output"]
    lif = g.nodes["1"]
    assert isinstance(lif, nir.LIF)
    assert np.asarray(lif.tau).item() == pytest.approx(2.5e-3)
    assert np.asarray(lif.v_threshold).item() == pytest.approx(0.1)


def test_paper_file_norse_default_dt(paper):
    assert sc.read(paper / "lif_norse.nir", dialect="norse").semantics.dt == 1e-3


def test_paper_file_round_trip_keeps_dt(paper, tmp_path):
    g = sc.read(paper / "lif_norse.nir", dialect="norse", dt=1e-4)
    back = sc.read(sc.write(g, tmp_path / "lif.nir"))  # no dialect needed any more
    assert back.semantics.dt == 1e-4
    assert_same_graph(g, back)


def test_paper_file_without_dialect_lists_choices(paper):
    with pytest.raises(sc.DialectError) as info:
        sc.read(paper / "lif_norse.nir")
    msg = str(info.value)
    for choice in ("norse", "snntorch", "explicit", "dt=", "integrator=", "reset=",
                   "recurrent_delay"):
        assert choice in msg, msg
    assert str(paper / "lif_norse.nir") in msg
    assert len(info.value.problems) >= 3


@pytest.mark.parametrize("given, missing", [
    ({}, "dt, integrator, reset"),
    ({"dt": 1e-4}, "integrator, reset"),
    ({"dt": 1e-4, "integrator": "euler"}, "reset"),
    ({"integrator": "exact", "reset": "subtract"}, "dt"),
])
def test_explicit_dialect_needs_every_choice(paper, given, missing):
    with pytest.raises(sc.DialectError, match=f"missing: {missing}$|missing: {missing}\n"):
        sc.read(paper / "lif_norse.nir", dialect="explicit", **given)


def test_explicit_dialect_complete(paper):
    g = sc.read(paper / "lif_norse.nir", dialect="explicit", dt=2e-4, integrator="exact",
                reset="subtract", update_order="voltage_first")
    assert g.semantics == sc.Semantics(dt=2e-4, integrator="exact", reset="subtract",
                                       update_order="voltage_first")


def test_snntorch_dialect_defaults_dt(paper):
    g = sc.read(paper / "lif_norse.nir", dialect="snntorch")
    assert g.semantics.dt == 1e-4
    assert g.semantics.integrator == "euler" and g.semantics.reset == "to_value"


def test_unknown_dialect_is_named(paper):
    with pytest.raises(sc.DialectError, match="unknown dialect 'brainscales'.*norse"):
        sc.read(paper / "lif_norse.nir", dialect="brainscales")


def test_unknown_override_is_an_error(paper):
    with pytest.raises(sc.GraphError, match="'integrater'"):
        sc.read(paper / "lif_norse.nir", dialect="norse", integrater="exact")


@pytest.mark.parametrize("bad", [{"dt": -1e-4}, {"dt": "fast"}, {"reset": "zero"}])
def test_bad_semantics_at_read_time(paper, bad):
    with pytest.raises(sc.GraphError, match="invalid semantics"):
        sc.read(paper / "lif_norse.nir", dialect="norse", **bad)


@pytest.mark.parametrize("kwargs", [
    {"dialect": "norse", "dt": 1e-4},
    {"dialect": "explicit", "dt": 1e-4, "integrator": "exact", "reset": "subtract"},
])
def test_rockpool_paper_file_reads(paper, kwargs):
    """Rockpool declares the Output as (1, 1, 1) and omits v_reset; both are read."""
    path = shared_fixture("nir_paper_lif", "lif_rockpool.nir")
    with warnings.catch_warnings():
        warnings.simplefilter("error", sc.GraphWarning)
        g = sc.read(path, **kwargs)
    assert g.shapes()["output"] == (1,)
    assert g.topological_order() == ["input", "0_LinearTorch", "1_LIFNeuronTorch", "output"]
    np.testing.assert_array_equal(np.asarray(g.nodes["1_LIFNeuronTorch"].v_reset), [0.0])
    with pytest.raises(sc.DialectError):
        sc.read(path)


def test_read_accepts_str_and_pathlike(paper):
    a = sc.read(str(paper / "lif_norse.nir"), dialect="norse")
    b = sc.read(os.fspath(paper / "lif_norse.nir"), dialect="norse")
    assert_same_graph(a, b)
