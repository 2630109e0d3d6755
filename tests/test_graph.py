"""Graph IR: edges, deterministic topological order, nested-graph flattening, shapes."""

from __future__ import annotations

import itertools
import random

import nir
import numpy as np
import pytest

import spikecore as sc
from spikecore.graph import total_neurons, zero_delay_cycles


def lif(n: int = 2, tau: float = 0.01):
    return nir.LIF(tau=np.full(n, tau), r=np.ones(n), v_leak=np.zeros(n),
                   v_threshold=np.ones(n), v_reset=np.zeros(n))


def inp(n: int = 2):
    return nir.Input(input_type=np.array([n]))


def out(n: int = 2):
    return nir.Output(output_type=np.array([n]))


SEM = sc.Semantics(dt=1e-3)


# ============================================================== edges and basics
def test_edge_coercion():
    g = sc.Graph({"i": inp(), "a": lif(), "o": out()},
                 [("i", "a"), ["a", "o", 2], sc.Edge("i", "o")], SEM)
    assert g.edges == [sc.Edge("i", "a", 0), sc.Edge("a", "o", 2), sc.Edge("i", "o", 0)]
    assert g.incoming("o") == [sc.Edge("a", "o", 2), sc.Edge("i", "o", 0)]
    assert g.outgoing("i") == [sc.Edge("i", "a", 0), sc.Edge("i", "o", 0)]


@pytest.mark.parametrize("bad", [("a",), ("a", "b", 1, 2), "ab", 3])
def test_bad_edge_spec(bad):
    with pytest.raises(sc.GraphError, match="expected Edge"):
        sc.Graph({"a": lif()}, [bad])


def test_constructor_checks_types():
    with pytest.raises(sc.GraphError, match="mapping"):
        sc.Graph([("a", lif())])
    with pytest.raises(sc.GraphError, match="Semantics"):
        sc.Graph({"a": lif()}, semantics={"dt": 1e-3})


def test_input_output_names_sorted():
    g = sc.Graph({"z": inp(), "a": inp(), "q": out(), "b": out(), "c": lif()})
    assert g.input_names == ["a", "z"]
    assert g.output_names == ["b", "q"]


def test_with_semantics_copies():
    g = sc.Graph({"i": inp(), "o": out()}, [("i", "o")])
    with pytest.raises(sc.GraphError, match="dt="):
        g.with_semantics(reset="subtract")
    h = g.with_semantics(dt=1e-4)
    assert g.semantics is None and h.semantics == sc.Semantics(dt=1e-4)
    k = h.with_semantics(reset="subtract")
    assert k.semantics == sc.Semantics(dt=1e-4, reset="subtract")
    assert h.semantics.reset == "to_value"
    assert k.nodes["i"] is not h.nodes["i"]  # a copy, not a view


# ============================================================== topological order
def _chain_graph(nodes_order, edges_order):
    nodes = {"inp": inp(), "b": lif(), "a": lif(), "c": lif(), "out": out()}
    edges = [("inp", "b"), ("b", "a"), ("a", "c"), ("inp", "c"), ("c", "out"),
             ("c", "b", 1)]
    return sc.Graph({k: nodes[k] for k in nodes_order}, [edges[i] for i in edges_order], SEM)


def test_topological_order_follows_edges_not_names():
    g = _chain_graph(["inp", "b", "a", "c", "out"], range(6))
    assert g.topological_order() == ["inp", "b", "a", "c", "out"]


def test_topological_order_independent_of_insertion_order():
    rnd = random.Random(0)
    names = ["inp", "b", "a", "c", "out"]
    expected = _chain_graph(names, range(6)).topological_order()
    for _ in range(20):
        n, e = names[:], list(range(6))
        rnd.shuffle(n)
        rnd.shuffle(e)
        assert _chain_graph(n, e).topological_order() == expected


def test_ties_broken_by_name():
    g = sc.Graph({"i": inp(), "z": lif(), "m": lif(), "a": lif(), "o": out()},
                 [("i", "z"), ("i", "m"), ("i", "a"), ("a", "o")], SEM)
    assert g.topological_order() == ["i", "a", "m", "o", "z"]


def test_delayed_edges_do_not_order():
    """A delay >= 1 edge reads last step's value: it does not constrain the order, so a
    delayed cycle has an order, and a delayed back edge may point 'forward'."""
    g = sc.Graph({"i": inp(), "x": lif(), "y": lif(), "o": out()},
                 [("i", "y"), ("y", "x"), ("x", "y", 1), ("x", "o")], SEM)
    assert g.topological_order() == ["i", "y", "x", "o"]
    g2 = sc.Graph({"i": inp(), "x": lif(), "y": lif()}, [("i", "x", 1), ("y", "x", 0)], SEM)
    assert g2.topological_order() == ["i", "y", "x"]


def test_zero_delay_cycle_has_no_order():
    g = sc.Graph({"i": inp(), "x": lif(), "y": lif(), "z": lif()},
                 [("i", "x"), ("x", "y"), ("y", "z"), ("z", "x")], SEM)
    with pytest.raises(sc.GraphError, match="'x' -> 'y' -> 'z' -> 'x'"):
        g.topological_order()


def test_zero_delay_cycles_reported_in_cycle_order():
    g = sc.Graph({"i": inp(), "c": lif(), "b": lif(), "a": lif(), "s": lif(),
                  "p": lif(), "q": lif()},
                 [("i", "c"), ("c", "a"), ("a", "b"), ("b", "c"), ("s", "s"),
                  ("p", "q"), ("q", "p", 1)], SEM)
    # the first node (by name) of each cycle starts its path; edges are followed in order
    assert zero_delay_cycles(g) == [["a", "b", "c", "a"], ["s", "s"]]


def test_cycle_path_is_a_real_cycle():
    """Inside a bigger strongly connected component the reported path follows edges."""
    edges = [("a", "b"), ("b", "c"), ("c", "d"), ("d", "a"), ("b", "e"), ("e", "c"),
             ("d", "b")]
    g = sc.Graph({n: lif() for n in "abcde"}, edges, SEM)
    (path,) = zero_delay_cycles(g)
    assert path[0] == path[-1] == "a"
    for s, t in itertools.pairwise(path):
        assert (s, t) in edges


# ============================================================== nested graphs
def _sub(two_inputs: bool = False, inner_delay: int = 0):
    nodes = {"x": inp(), "cell": lif(), "o": out()}
    edges = [("x", "cell", inner_delay), ("cell", "o")]
    if two_inputs:
        nodes["y"] = inp()
        edges.append(("y", "cell", 2))
    return sc.Graph(nodes, edges, name="inner")


def test_flatten_renames_and_joins_edges():
    g = sc.Graph({"i": inp(), "sub": _sub(inner_delay=2), "o": out()},
                 [("i", "sub", 1), ("sub", "o", 3)], SEM)
    f = g.flatten()
    assert list(f.nodes) == ["i", "sub.cell", "o"]  # inner nodes take the subgraph's place
    # delays add up across the Input/Output boundary
    assert f.edges == [sc.Edge("i", "sub.cell", 3), sc.Edge("sub.cell", "o", 3)]
    assert f.semantics == SEM and f.is_flat() and not g.is_flat()
    # both joined edges are delayed, so only names order the step
    assert g.topological_order() == ["i", "o", "sub.cell"]
    assert f.flatten() is f


def test_multi_input_subgraph_addressed_by_port():
    g = sc.Graph({"i": inp(), "j": inp(), "sub": _sub(two_inputs=True), "o": out()},
                 [("i", "sub.x"), ("j", "sub.y", 1), ("sub", "o")], SEM).validate()
    f = g.flatten()
    assert sorted(f.edges, key=lambda e: e.source) == [
        sc.Edge("i", "sub.cell", 0), sc.Edge("j", "sub.cell", 3), sc.Edge("sub.cell", "o", 0)]


def test_ambiguous_port_is_an_error():
    g = sc.Graph({"i": inp(), "sub": _sub(two_inputs=True), "o": out()},
                 [("i", "sub"), ("sub", "o")], SEM)
    with pytest.raises(sc.GraphError, match=r"'sub' has 2 Input nodes \['x', 'y'\]"):
        g.flatten()
    with pytest.raises(sc.GraphError, match=r"'sub' has 2 Input nodes"), \
            pytest.warns(sc.GraphWarning, match="receives no edge"):
        g.validate()


def test_unknown_port_is_an_error():
    g = sc.Graph({"i": inp(), "sub": _sub(), "o": out()},
                 [("i", "sub.nope"), ("sub", "o")], SEM)
    with pytest.raises(sc.GraphError, match=r"'sub.nope' is not an Input of nested graph 'sub'"):
        g.flatten()
    with pytest.raises(sc.GraphError, match=r"its Inputs: \['x'\]"), \
            pytest.warns(sc.GraphWarning, match="receives no edge"):
        g.validate()


def test_doubly_nested_graph():
    inner = sc.Graph({"a": inp(), "sub": _sub(), "b": out()}, [("a", "sub", 1), ("sub", "b", 1)])
    g = sc.Graph({"i": inp(), "outer": inner, "o": out()},
                 [("i", "outer"), ("outer", "o")], SEM).validate()
    f = g.flatten()
    assert list(f.nodes) == ["i", "outer.sub.cell", "o"]
    assert f.edges == [sc.Edge("i", "outer.sub.cell", 1), sc.Edge("outer.sub.cell", "o", 1)]


def test_pass_through_subgraph_is_refused():
    sub = sc.Graph({"x": inp(), "o": out()}, [("x", "o")])
    g = sc.Graph({"i": inp(), "sub": sub, "o": out()}, [("i", "sub"), ("sub", "o")], SEM)
    with pytest.raises(sc.GraphError, match="pass-through"):
        g.flatten()
    with pytest.raises(sc.GraphError, match="pass-through"):
        g.validate()


def test_cycle_through_nested_graph_found():
    g = sc.Graph({"i": inp(), "sub": _sub(), "back": lif()},
                 [("i", "back"), ("back", "sub"), ("sub", "back")], SEM)
    with pytest.raises(sc.GraphError, match="'back' -> 'sub.cell' -> 'back'"):
        g.validate()
    g.edges[-1] = sc.Edge("sub", "back", 1)
    assert g.validate().topological_order() == ["i", "back", "sub.cell"]


# ============================================================== shapes
def test_shapes_through_every_layer():
    rng = np.random.default_rng(0)
    g = sc.Graph({
        "i": nir.Input(input_type=np.array([3, 9, 9])),
        "c": nir.Conv2d(input_shape=None, weight=rng.normal(size=(6, 1, 3, 3)), stride=2,
                        padding=1, dilation=1, groups=3, bias=np.zeros(6)),
        "p": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([1, 1]),
                           padding=np.array([0, 0])),
        "a": nir.AvgPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                           padding=np.array([1, 1])),
        "f": nir.Flatten(input_type=None, start_dim=1, end_dim=2),
        "o": nir.Output(output_type=None)},
        [("i", "c"), ("c", "p"), ("p", "a"), ("a", "f"), ("f", "o")], SEM)
    s = g.validate().shapes()
    # torch: conv (9 + 2 - 3) // 2 + 1 = 5; pool k2 s1: 4; pool k2 s2 p1: (4 + 2 - 2) // 2 + 1 = 3
    assert s == {"i": (3, 9, 9), "c": (6, 5, 5), "p": (6, 4, 4), "a": (6, 3, 3),
                 "f": (6, 9), "o": (6, 9)}


def test_conv1d_shape():
    rng = np.random.default_rng(1)
    g = sc.Graph({"i": nir.Input(input_type=np.array([2, 20])),
                  "c": nir.Conv1d(input_shape=None, weight=rng.normal(size=(4, 2, 5)), stride=3,
                                  padding=2, dilation=2, groups=1, bias=np.zeros(4)),
                  "o": nir.Output(output_type=None)},
                 [("i", "c"), ("c", "o")], SEM)
    # torch: (20 + 4 - 2 * 4 - 1) // 3 + 1 = 6
    assert g.flatten().shapes()["c"] == (4, 6)


def test_shapes_raises_listing_problems():
    g = sc.Graph({"i": inp(3), "a": lif(2), "b": lif(4), "o": out(3)},
                 [("i", "a"), ("i", "b"), ("i", "o")], SEM)
    with pytest.raises(sc.GraphError) as info:
        g.shapes()
    assert len(info.value.problems) == 2


def test_total_neurons():
    rng = np.random.default_rng(2)
    g = sc.Graph({"i": inp(3), "w": nir.Linear(weight=rng.normal(size=(4, 3))), "a": lif(4),
                  "sub": _sub(), "o": out(4)},
                 [("i", "w"), ("w", "a"), ("a", "o"), ("i", "sub")], SEM)
    g.nodes["sub"].nodes["x"] = inp(3)
    g.nodes["sub"].nodes["cell"] = lif(3)
    g.nodes["sub"].nodes["o"] = out(3)
    assert total_neurons(g) == 4 + 3


def test_repr_mentions_semantics():
    g = sc.Graph({"i": inp()}, name="tiny", semantics=sc.Semantics(dt=2e-4))
    assert "tiny" in repr(g) and "dt=0.0002" in repr(g)
    assert "no semantics" in repr(sc.Graph({}))


def test_validate_warns_once_per_graph_and_message() -> None:
    """A warning about one graph is emitted once however often the graph is validated
    (read, then simulate, compare, to_torch...); ``problems`` still lists it; another
    graph, or another message, warns anew."""
    import warnings

    n = 2
    lif = dict(tau=np.full(n, 0.01), r=np.ones(n), v_leak=np.zeros(n),
               v_threshold=np.ones(n), v_reset=np.zeros(n))

    def graph() -> sc.Graph:
        return sc.Graph({"i": nir.Input(np.array([n])), "a": nir.LIF(**lif),
                         "b": nir.LIF(**lif), "o": nir.Output(np.array([n]))},
                        [("i", "a"), ("a", "o")], sc.Semantics(dt=1e-3), name="once")

    g = graph()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        g.validate()
        g.validate()
        sc.simulate(g, np.ones((1, 4, 2)), backend="torch")
        g.validate()
    got = [str(w.message) for w in caught if issubclass(w.category, sc.GraphWarning)]
    assert got == ["graph 'once': node 'b' (LIF) receives no edge; its input is 0"]
    assert any("receives no edge" in w for w in g.problems()[1])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        graph().validate()                      # another graph: its own warning
        g.nodes["c"] = nir.LIF(**lif)          # a new message for the same graph
        g.validate()
    got = [str(w.message) for w in caught if issubclass(w.category, sc.GraphWarning)]
    assert got == ["graph 'once': node 'b' (LIF) receives no edge; its input is 0",
                   "graph 'once': node 'c' (LIF) receives no edge; its input is 0"]


def test_a_graph_warning_turned_error_raises_every_time() -> None:
    import warnings

    n = 2
    g = sc.Graph({"i": nir.Input(np.array([n])), "o": nir.Output(np.array([n])),
                  "b": nir.LIF(tau=np.full(n, 0.01), r=np.ones(n), v_leak=np.zeros(n),
                               v_threshold=np.ones(n), v_reset=np.zeros(n))},
                 [("i", "o")], sc.Semantics(dt=1e-3))
    with warnings.catch_warnings():
        warnings.simplefilter("error", sc.GraphWarning)
        for _ in range(2):
            with pytest.raises(sc.GraphWarning, match="receives no edge"):
                g.validate()
