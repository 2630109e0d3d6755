"""Node names as producers write them: dots (snnTorch's ``lif1.lif``), spaces, unicode,
digits (Sinabs), and names that collide once nested graphs are flattened. Each is read,
kept for display and round trip, and runs on every backend; engines get safe identifiers
of their own (:mod:`spikecore.names`)."""

from __future__ import annotations

import warnings

import nir
import numpy as np
import pytest

import spikecore as sc
from spikecore.errors import FileRepairWarning, GraphError
from spikecore.graph import GraphWarning, resolve_endpoint
from spikecore.names import safe_identifiers
from spikecore.testing import assert_same_spikes

SEM = sc.Semantics(dt=1e-3)
ODD_NAMES = ["lif1.lif", "w 1", "神经元", "entrée", "0", "a.b.c", "x__history", "sc_x"]


def _lif(n: int, thr: float = 1.0) -> nir.LIF:
    return nir.LIF(tau=np.full(n, 0.01), r=np.ones(n), v_leak=np.zeros(n),
                   v_threshold=np.full(n, thr), v_reset=np.zeros(n))


def _chain(names: list[str], n: int = 3) -> sc.Graph:
    """Input -> Linear -> LIF -> ... with the given names for the LIF nodes."""
    nodes: dict = {"in put": nir.Input(np.array([n]))}
    edges = []
    prev = "in put"
    for k, name in enumerate(names):
        nodes[f"w{k}"] = nir.Linear(np.eye(n) * (6.0 if k == 0 else 30.0))
        nodes[name] = _lif(n)
        edges += [(prev, f"w{k}"), (f"w{k}", name)]
        prev = name
    nodes["out·put"] = nir.Output(np.array([n]))
    edges.append((prev, "out·put"))
    return sc.Graph(nodes, edges, SEM, name="odd names")


def _drive(n: int = 3, steps: int = 60) -> np.ndarray:
    return np.random.default_rng(7).random((2, steps, n)) * 0.8


def test_safe_identifiers_are_ascii_unique_and_leave_room_for_suffixes() -> None:
    names = ["a.b", "a b", "a_b", "a__b", "神经元", "神", "", "x", "x__history", "a_b_2"]
    ids = safe_identifiers(names, "sc_")
    assert len(set(ids.values())) == len(names), ids
    for name, ident in ids.items():
        assert ident.isascii() and ident.isidentifier(), (name, ident)
        # engines append '__suffix' for a node's helper objects: a node's own identifier
        # never contains '__', so 'x__history' cannot be node x's history object
        assert "__" not in ident, (name, ident)
    assert ids == safe_identifiers(names, "sc_"), "not deterministic"


@pytest.mark.parametrize("backend", ["brian2", "torch"])
def test_odd_names_run_and_are_kept(backend: str) -> None:
    g = _chain(ODD_NAMES).validate()
    r = sc.simulate(g, _drive(), backend=backend, record=("spikes", "v"))
    assert set(r.spikes) == set(ODD_NAMES)
    assert r.spikes["lif1.lif"].sum() > 0, "vacuous: the first layer never spiked"
    assert r.spikes[ODD_NAMES[-1]].sum() > 0, "vacuous: the last layer never spiked"


def test_odd_names_agree_across_backends() -> None:
    g = _chain(ODD_NAMES)
    x = _drive()
    ref = sc.simulate(g, x, backend="brian2", record=("spikes",))
    got = sc.simulate(g, x, backend="torch", record=("spikes",))
    assert_same_spikes(ref, got)


@pytest.mark.lava
def test_odd_names_run_on_lava(lava: str) -> None:
    g = _chain(ODD_NAMES)
    x = _drive()
    ref = sc.simulate(g, x, backend="brian2", record=("spikes",))
    got = sc.simulate(g, x, backend="lava", record=("spikes",))
    assert set(got.spikes) == set(ODD_NAMES)
    assert_same_spikes(ref, got)


def test_odd_names_round_trip_through_a_file(tmp_path) -> None:
    g = _chain(ODD_NAMES)
    path = sc.write(g, tmp_path / "odd.nir")
    back = sc.read(path)
    assert list(back.nodes) == list(g.nodes)
    assert [(e.source, e.target) for e in back.edges] == [(e.source, e.target) for e in g.edges]
    x = _drive()
    assert_same_spikes(sc.simulate(g, x, backend="torch"), sc.simulate(back, x, backend="torch"))


def _collision_graph() -> sc.Graph:
    """A top-level node 'a.b' next to a nested graph 'a' holding a node 'b'."""
    inner = sc.Graph({"in": nir.Input(np.array([2])), "b": _lif(2, 0.5),
                      "out": nir.Output(np.array([2]))}, [("in", "b"), ("b", "out")])
    nodes = {"x": nir.Input(np.array([2])), "w": nir.Linear(np.eye(2) * 4.0),
             "a.b": _lif(2), "a": inner, "y": nir.Output(np.array([2]))}
    # 'a.b' is the exact name of a node, so the edge addresses it, not a port of 'a'
    return sc.Graph(nodes, [("x", "w"), ("w", "a.b"), ("w", "a"), ("a.b", "y")], SEM)


def test_names_that_collide_after_flattening_are_kept_apart() -> None:
    g = _collision_graph()
    with pytest.warns(GraphWarning, match=r"named 'a\.b#2' in the flattened graph"):
        g.validate()
    flat = g.flatten()
    assert set(flat.nodes) == {"x", "w", "a.b", "a.b#2", "y"}
    assert flat.incoming("a.b") == [sc.Edge("w", "a.b", 0)]
    assert flat.incoming("a.b#2") == [sc.Edge("w", "a.b#2", 0)]
    x = np.full((1, 40, 2), 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GraphWarning)
        rb = sc.simulate(g, x, backend="brian2", record=("spikes",))
        rt = sc.simulate(g, x, backend="torch", record=("spikes",))
    # different thresholds, so the two nodes really are two different neurons
    assert rb.spikes["a.b#2"].sum() > rb.spikes["a.b"].sum() > 0
    assert_same_spikes(rb, rt)


def test_endpoint_with_dots_resolves_to_a_nested_port() -> None:
    inner = sc.Graph({"in.put": nir.Input(np.array([2])), "b": _lif(2),
                      "out": nir.Output(np.array([2]))}, [("in.put", "b"), ("b", "out")])
    g = sc.Graph({"x": nir.Input(np.array([2])), "sub.graph": inner,
                  "y": nir.Output(np.array([2]))},
                 [("x", "sub.graph.in.put"), ("sub.graph", "y")], SEM)
    assert resolve_endpoint(g, "sub.graph.in.put", "Input") == ("sub.graph", "in.put")
    assert resolve_endpoint(g, "sub.graph", "Output") == ("sub.graph", "out")
    g.validate()
    assert "sub.graph.b" in g.flatten().nodes


def test_ambiguous_endpoint_is_an_error_naming_both_readings() -> None:
    def sub(inp: str) -> sc.Graph:
        return sc.Graph({inp: nir.Input(np.array([2])), "n": _lif(2),
                         "o": nir.Output(np.array([2]))}, [(inp, "n"), ("n", "o")])

    g = sc.Graph({"x": nir.Input(np.array([2])), "a": sub("b.c"), "a.b": sub("c"),
                  "y": nir.Output(np.array([2]))},
                 [("x", "a.b.c"), ("a", "y"), ("a.b", "y")], SEM)
    with pytest.raises(GraphError, match=r"'a\.b\.c' is ambiguous.*Input 'b\.c' of 'a'.*"
                                         r"Input 'c' of 'a\.b'"):
        g.validate()


def _slipped_subgraph_file() -> nir.NIRGraph:
    """What NIR 0.2 exporters wrote for snnTorch's recurrent layer: the neuron is keyed
    'lif1' in the subgraph, the subgraph's edges call it 'lif'."""
    n = 3
    cuba = nir.CubaLIF(tau_syn=np.full(n, 2e-3), tau_mem=np.full(n, 1e-2), r=np.ones(n),
                       v_leak=np.zeros(n), v_threshold=np.ones(n), w_in=np.ones(n))
    inner = nir.NIRGraph(nodes={"input": nir.Input(np.array([n])), "lif1": cuba,
                                "lin": nir.Linear(np.eye(n) * 0.1),
                                "output": nir.Output(np.array([n]))},
                         edges=[("input", "lif"), ("lif", "lin"), ("lin", "lif"),
                                ("lif", "output")], type_check=False)
    return nir.NIRGraph(nodes={"input": nir.Input(np.array([n])), "fc": nir.Linear(np.eye(n) * 40),
                               "lif1": inner, "output": nir.Output(np.array([n]))},
                        edges=[("input", "fc"), ("fc", "lif1"), ("lif1", "output")],
                        type_check=False)


def test_exporter_name_slip_is_repaired_with_a_warning() -> None:
    with pytest.warns(FileRepairWarning, match=r"edges name 'lif'.*node 'lif1' \(CubaLIF\)"):
        g = sc.from_nir(_slipped_subgraph_file(), dialect="norse")
    g.validate()
    inner = g.nodes["lif1"]
    assert ("lif1", "lin") in [(e.source, e.target) for e in inner.edges]
    r = sc.simulate(g, np.ones((1, 30, 3)), backend="torch", record=("spikes",))
    assert r.spikes["lif1.lif1"].sum() > 0


def test_name_slip_without_a_unique_reading_is_an_error() -> None:
    bad = _slipped_subgraph_file()
    inner = bad.nodes["lif1"]
    inner.edges = [("input", "lif"), ("lif", "lon"), ("lin", "lif"), ("lif", "output")]
    with pytest.raises(GraphError, match="'lif' is not a node"):
        sc.from_nir(bad, dialect="norse").validate()
