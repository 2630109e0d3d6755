"""graph.validate(): one GraphError listing every problem; GraphWarning for doubtful graphs."""

from __future__ import annotations

import warnings

import nir
import numpy as np
import pytest

import spikecore as sc

SEM = sc.Semantics(dt=1e-3)


def lif(n: int = 2, tau: float = 0.01, **changes):
    p = dict(tau=np.full(n, tau), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n),
             v_reset=np.zeros(n))
    p.update({k: np.asarray(v, dtype=float) for k, v in changes.items()})
    node = nir.LIF(**{k: np.full(n, 1.0) for k in p})
    for k, v in p.items():  # set after construction: nir would assert on some shapes
        setattr(node, k, v)
    return node


def inp(n=2):
    return nir.Input(input_type=np.array([n]))


def out(n=2):
    return nir.Output(output_type=np.array([n]))


def chain(**extra_nodes):
    """i -> a -> o plus extra nodes; valid."""
    return {"i": inp(), "a": lif(), "o": out(), **extra_nodes}


def problems_of(graph: sc.Graph) -> list[str]:
    """The problems of the single GraphError validate() raises (warnings silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sc.GraphWarning)
        with pytest.raises(sc.GraphError) as info:
            graph.validate()
    err = info.value
    assert type(err) is sc.GraphError
    assert f"({len(err.problems)} problem(s))" in str(err)
    for p in err.problems:
        assert p in str(err)
    return err.problems


def one_problem(graph: sc.Graph, *fragments: str) -> str:
    probs = problems_of(graph)
    assert len(probs) == 1, probs
    for f in fragments:
        assert f in probs[0], probs[0]
    return probs[0]


def warnings_of(graph: sc.Graph) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        graph.validate()
    assert all(issubclass(w.category, sc.GraphWarning) for w in caught)
    return [str(w.message) for w in caught]


# ============================================================== valid graphs
def test_valid_graph_returns_itself_without_warnings():
    g = sc.Graph(chain(), [("i", "a"), ("a", "o")], SEM)
    assert warnings_of(g) == []
    assert g.validate() is g
    assert g.problems() == ([], [])


# ============================================================== each error alone
def test_missing_semantics():
    g = sc.Graph(chain(), [("i", "a"), ("a", "o")])
    one_problem(g, "no semantics", "dt=")
    assert g.validate(require_semantics=False) is g


def test_dangling_edge():
    g = sc.Graph(chain(), [("i", "a"), ("a", "o"), ("a", "ghost")], SEM)
    one_problem(g, "'a' -> 'ghost'", "'ghost' is not a node", "nodes: a, i, o")


def test_dangling_source():
    g = sc.Graph(chain(), [("i", "a"), ("a", "o"), ("ghost", "a")], SEM)
    one_problem(g, "'ghost' is not a node")


def test_duplicate_edge():
    g = sc.Graph(chain(), [("i", "a"), ("a", "o"), ("i", "a", 2)], SEM)
    one_problem(g, "'i' -> 'a' appears more than once")


def test_affine_shape_mismatch():
    rng = np.random.default_rng(0)
    g = sc.Graph({"i": inp(3), "w": nir.Affine(weight=rng.normal(size=(2, 4)), bias=np.zeros(2)),
                  "o": out()}, [("i", "w"), ("w", "o")], SEM)
    one_problem(g, "node 'w' (Affine)", "from 'i'", "input shape (3,) != (4,)")


def test_affine_output_mismatch():
    rng = np.random.default_rng(1)
    g = sc.Graph({"i": inp(4), "w": nir.Affine(weight=rng.normal(size=(3, 4)), bias=np.zeros(3)),
                  "a": lif(2), "o": out()}, [("i", "w"), ("w", "a"), ("a", "o")], SEM)
    one_problem(g, "node 'a' (LIF)", "from 'w'", "(3,)", "(2,)")


def test_affine_bias_size():
    rng = np.random.default_rng(2)
    w = nir.Affine(weight=rng.normal(size=(2, 2)), bias=np.zeros(2))
    w.bias = np.zeros(5)
    g = sc.Graph({"i": inp(), "w": w, "o": out()}, [("i", "w"), ("w", "o")], SEM)
    one_problem(g, "'bias' has shape (5,), expected (2,)")


def test_conv_channel_mismatch():
    rng = np.random.default_rng(3)
    g = sc.Graph({"i": nir.Input(input_type=np.array([3, 8, 8])),
                  "c": nir.Conv2d(input_shape=None, weight=rng.normal(size=(4, 2, 3, 3)), stride=1,
                                  padding=0, dilation=1, groups=1, bias=np.zeros(4)),
                  "o": nir.Output(output_type=None)}, [("i", "c"), ("c", "o")], SEM)
    probs = problems_of(g)
    assert any("node 'c' (Conv2d)" in p and "3 channels" in p for p in probs), probs


def test_conv_declared_input_shape_mismatch():
    rng = np.random.default_rng(4)
    g = sc.Graph({"i": nir.Input(input_type=np.array([2, 8, 8])),
                  "c": nir.Conv2d(input_shape=(6, 6), weight=rng.normal(size=(4, 2, 3, 3)),
                                  stride=1, padding=0, dilation=1, groups=1, bias=np.zeros(4)),
                  "o": nir.Output(output_type=np.array([4, 6, 6]))},
                 [("i", "c"), ("c", "o")], SEM)
    probs = problems_of(g)
    assert any("'input_shape' (6, 6) != incoming (8, 8)" in p for p in probs), probs


def test_flatten_mismatch():
    g = sc.Graph({"i": nir.Input(input_type=np.array([2, 3])),
                  "f": nir.Flatten(input_type={"input": np.array([3, 3])}, start_dim=0, end_dim=-1),
                  "o": nir.Output(output_type=np.array([9]))}, [("i", "f"), ("f", "o")], SEM)
    probs = problems_of(g)
    assert any("node 'o' (Output)" in p and "(9,)" in p and "(6,)" in p for p in probs), probs


def test_output_declared_shape_mismatch():
    g = sc.Graph(chain(o=out(3)), [("i", "a"), ("a", "o")], SEM)
    one_problem(g, "node 'o' (Output)", "declared shape (3,) != incoming shape (2,)")


def test_output_singleton_axes_are_legacy_not_errors():
    """Rockpool writes Output shapes like (1, 1, n): same elements, accepted."""
    o = nir.Output(output_type=np.array([1, 2, 1]))
    g = sc.Graph(chain(o=o), [("i", "a"), ("a", "o")], SEM).validate()
    assert g.shapes()["o"] == (2,)


def test_inputs_disagree_in_shape():
    g = sc.Graph({"i": inp(2), "j": inp(3), "a": lif(2), "o": out()},
                 [("i", "a"), ("j", "a"), ("a", "o")], SEM)
    probs = problems_of(g)
    assert any("inputs disagree in shape" in p and "'j' gives (3,)" in p for p in probs), probs


def test_zero_delay_cycle_named_in_order():
    g = sc.Graph({"i": inp(), "c": lif(), "b": lif(), "a": lif(), "o": out()},
                 [("i", "c"), ("c", "a"), ("a", "b"), ("b", "c"), ("b", "o")], SEM)
    one_problem(g, "zero-delay cycle 'a' -> 'b' -> 'c' -> 'a'", "delay_steps >= 1")


def test_zero_delay_self_loop():
    g = sc.Graph(chain(), [("i", "a"), ("a", "a"), ("a", "o")], SEM)
    one_problem(g, "zero-delay cycle 'a' -> 'a'")


def test_delayed_cycle_is_fine():
    g = sc.Graph(chain(b=lif()), [("i", "a"), ("a", "b"), ("b", "a", 1), ("a", "o")], SEM)
    assert warnings_of(g) == []


@pytest.mark.parametrize("tau", [0.0, -1e-3])
def test_non_positive_time_constant(tau):
    g = sc.Graph(chain(a=lif(tau=tau)), [("i", "a"), ("a", "o")], SEM)
    one_problem(g, "node 'a' (LIF)", "time constant 'tau'", "non-positive", "> 0")


def test_non_positive_synaptic_time_constant():
    n = 2
    cuba = nir.CubaLIF(tau_syn=np.array([1e-2, -1e-2]), tau_mem=np.full(n, 1e-2), r=np.ones(n),
                       v_leak=np.zeros(n), v_threshold=np.ones(n), v_reset=np.zeros(n))
    g = sc.Graph(chain(a=cuba), [("i", "a"), ("a", "o")], SEM)
    one_problem(g, "time constant 'tau_syn'", "min -0.01")


@pytest.mark.parametrize("param, value", [("r", np.nan), ("v_threshold", np.inf),
                                          ("v_leak", -np.inf), ("tau", np.nan)])
def test_nan_inf_parameter(param, value):
    node = lif(**{param: [1e-2 if param == "tau" else 0.5, value]})
    g = sc.Graph(chain(a=node), [("i", "a"), ("a", "o")], SEM)
    one_problem(g, "node 'a' (LIF)", f"parameter {param!r} has 1 NaN/inf", "finite")


def test_nan_weight():
    w = np.eye(2)
    w[0, 1] = np.nan
    g = sc.Graph({"i": inp(), "w": nir.Linear(weight=w), "o": out()},
                 [("i", "w"), ("w", "o")], SEM)
    one_problem(g, "node 'w' (Linear)", "'weight'")


@pytest.mark.parametrize("delay", [-1, 1.5, True, "1", None])
def test_bad_delay_steps(delay):
    g = sc.Graph(chain(), [("i", "a"), sc.Edge("a", "o", delay)], SEM)
    one_problem(g, "'a' -> 'o'", f"delay_steps={delay!r}", "an integer from 0 to")


def test_numpy_integer_delay_accepted():
    g = sc.Graph(chain(), [("i", "a", np.int64(2)), ("a", "o")], SEM)
    assert warnings_of(g) == []


def test_edge_into_input():
    g = sc.Graph(chain(), [("i", "a"), ("a", "o"), ("a", "i", 1)], SEM)
    one_problem(g, "'a' -> 'i'", "Input node takes no edges")


def test_edge_out_of_output():
    g = sc.Graph(chain(b=lif()), [("i", "a"), ("a", "o"), ("o", "b"), ("a", "b")], SEM)
    one_problem(g, "'o' -> 'b'", "Output node sends no edges")


def test_unknown_node_type():
    g = sc.Graph(chain(x=object()), [("i", "a"), ("a", "o")], SEM)
    one_problem(g, "node 'x'", "unknown primitive type object", "CubaLIF", "Threshold")


@pytest.mark.parametrize("name", [""])
def test_bad_node_name(name):
    g = sc.Graph(chain(**{name: lif()}), [("i", "a"), ("a", "o"), ("a", name)], SEM)
    probs = problems_of(g)
    assert any(f"node name {name!r}" in p for p in probs), probs


def test_delay_node_not_whole_steps():
    g = sc.Graph(chain(d=nir.Delay(delay=np.array([1e-3, 1.5e-3]))),
                 [("i", "d"), ("d", "a"), ("a", "o")], SEM)
    one_problem(g, "node 'd' (Delay)", "not a multiple of dt")


def test_delay_node_negative():
    g = sc.Graph(chain(d=nir.Delay(delay=np.array([1e-3, -1e-3]))),
                 [("i", "d"), ("d", "a"), ("a", "o")], SEM)
    one_problem(g, "node 'd' (Delay)", "negative delay")


def test_nested_semantics_must_match():
    sub = sc.Graph({"x": inp(), "c": lif(), "y": out()}, [("x", "c"), ("c", "y")],
                   semantics=sc.Semantics(dt=1e-4))
    g = sc.Graph({"i": inp(), "sub": sub, "o": out()}, [("i", "sub"), ("sub", "o")], SEM)
    one_problem(g, "nested graph 'sub' has semantics", "dt=0.0001", "dt=0.001")


def test_problems_inside_nested_graph_use_flat_names():
    sub = sc.Graph({"x": inp(), "c": lif(tau=-1.0), "y": out(), "z": object()},
                   [("x", "c"), ("c", "y"), ("c", "nowhere")])
    g = sc.Graph({"i": inp(), "sub": sub, "o": out()}, [("i", "sub"), ("sub", "o")], SEM)
    probs = problems_of(g)
    assert any(p.startswith("in nested graph 'sub': edge 'c' -> 'nowhere'") for p in probs)
    assert any(p.startswith("in nested graph 'sub': node 'z'") for p in probs)
    assert any("node 'sub.c' (LIF): time constant 'tau'" in p for p in probs)
    assert len(probs) == 3, probs


# ============================================================== warnings
def test_dt_not_smaller_than_tau_warns():
    g = sc.Graph(chain(a=lif(tau=1e-3)), [("i", "a"), ("a", "o")], SEM)
    (w,) = warnings_of(g)
    assert "node 'a' (LIF)" in w and "dt=0.001" in w and "tau=0.001" in w
    g2 = sc.Graph(chain(a=lif(tau=5e-4)), [("i", "a"), ("a", "o")], SEM)
    with pytest.warns(sc.GraphWarning, match="not smaller than tau"):
        g2.validate()


def test_node_receiving_nothing_warns():
    g = sc.Graph(chain(lonely=lif()), [("i", "a"), ("a", "o"), ("lonely", "o", 1)], SEM)
    (w,) = warnings_of(g)
    assert "node 'lonely' (LIF) receives no edge" in w


def test_stateless_node_sending_nothing_warns():
    rng = np.random.default_rng(5)
    g = sc.Graph(chain(w=nir.Linear(weight=rng.normal(size=(2, 2)))),
                 [("i", "a"), ("a", "o"), ("a", "w")], SEM)
    (w,) = warnings_of(g)
    assert "node 'w' (Linear) sends no edge" in w


def test_graph_without_input_warns():
    g = sc.Graph({"a": lif(), "o": out()}, [("a", "o")], SEM)
    ws = warnings_of(g)
    assert any("no Input node" in w for w in ws)


def test_warnings_do_not_hide_errors():
    g = sc.Graph(chain(a=lif(tau=1e-3), lonely=lif(tau=-1.0)), [("i", "a"), ("a", "o")], SEM)
    with pytest.raises(sc.GraphError) as info, pytest.warns(sc.GraphWarning) as rec:
        g.validate()
    assert len(info.value.problems) == 1
    msgs = " ".join(str(w.message) for w in rec)
    assert "not smaller than tau" in msgs and "'lonely' (LIF) receives no edge" in msgs


# ============================================================== all at once
def test_every_problem_reported_at_once():
    rng = np.random.default_rng(6)
    nodes = {
        "i": inp(),
        "a": lif(r=[np.nan, 1.0]),
        "b": lif(tau=-1e-3),
        "c": lif(),
        "w": nir.Affine(weight=rng.normal(size=(3, 4)), bias=np.zeros(3)),
        "x": object(),
        "o": out(),
    }
    edges = [("i", "a"), ("a", "b"), ("b", "c"), ("c", "a"),  # zero-delay cycle
             ("i", "w"),                                      # shape mismatch
             ("a", "ghost"),                                  # dangling
             ("i", "a"),                                      # duplicate
             ("o", "c", 1),                                   # out of an Output
             ("c", "i", 1),                                   # into an Input
             sc.Edge("c", "o", -2)]                           # bad delay
    probs = problems_of(sc.Graph(nodes, edges, SEM))
    expected = [
        "'ghost' is not a node",
        "'i' -> 'a' appears more than once",
        "an Output node sends no edges",
        "an Input node takes no edges",
        "delay_steps=-2",
        "unknown primitive type object",
        "node 'a' (LIF): parameter 'r' has 1 NaN/inf",
        "node 'b' (LIF): time constant 'tau' has non-positive",
        "zero-delay cycle 'a' -> 'b' -> 'c' -> 'a'",
        "node 'w' (Affine): shape mismatch",
    ]
    for frag in expected:
        assert sum(frag in p for p in probs) == 1, (frag, probs)
    assert len(probs) == len(expected), probs


def test_problems_method_matches_validate():
    g = sc.Graph(chain(a=lif(tau=1e-3), b=lif(tau=0.0)), [("i", "a"), ("a", "o"), ("a", "b")],
                 SEM)
    errors, warns = g.problems()
    assert len(errors) == 1 and "time constant" in errors[0]
    assert any("not smaller than tau" in w for w in warns)
