"""Extension primitives: registry, validation, exact updates, streams, files, plain NIR.

Expected values come from tests/extension_reference.py (docs/semantics.md §7 transcribed)
and from the documented stream scheme; statistical checks use the distributions' own
formulas with bounds stated below.
"""

from __future__ import annotations

import nir
import numpy as np
import pytest
from extension_reference import (
    DT,
    SEMANTICS,
    alif_graph,
    documented_stream,
    rate_graph,
    reference,
    refractory_graph,
)

import spikecore as sc
from spikecore import extensions as X
from spikecore import primitives as P
from spikecore.discrete import neuron_coefficients
from spikecore.errors import GraphError, UnsupportedError
from spikecore.extensions import (
    alif_coefficients,
    alif_step,
    rate_coefficients,
    rate_step,
    refractory_step,
    refractory_steps,
    source_stream,
)
from spikecore.testing import assert_close_arrays


def _same_node(a, b) -> None:
    assert type(a) is type(b)
    fa, fb = a.fields(), b.fields()
    assert fa.keys() == fb.keys()
    for k in fa:
        if isinstance(fa[k], np.ndarray):
            assert fa[k].dtype == fb[k].dtype and np.array_equal(fa[k], fb[k]), k
        else:
            assert fa[k] == fb[k] and type(fa[k]) is type(fb[k]), k


# ====================================================================== registry
def test_every_extension_is_registered_with_its_states() -> None:
    assert set(X.EXTENSION_TYPES.values()) <= set(P.SPECS)
    assert P.SPECS[X.RefractoryLIF].states == ("v",) and P.SPECS[X.RefractoryLIF].spiking
    assert P.SPECS[X.RefractoryCubaLIF].states == ("i", "v")
    assert P.SPECS[X.ALIF].states == ("v", "a")
    assert P.SPECS[X.RateUnit].states == ("x",) and not P.SPECS[X.RateUnit].spiking
    assert P.SPECS[X.PoissonSource].kind == "source" and P.SPECS[X.PoissonSource].spiking
    assert P.SPECS[X.OUSource].time_constants == ("tau",)


# ====================================================================== validation
def test_validation_reports_every_extension_problem_at_once() -> None:
    g = refractory_graph("RefractoryLIF", sc.Semantics(dt=DT))
    g.nodes["n"].t_ref = np.array([0, 1.5e-3, 0, 0, 0])
    g.nodes["drive"].rate = np.array([300.0, 2000.0])
    g.nodes["drive"].seed = -1
    g.nodes["noise"] = X.WhiteNoiseSource(mean=np.zeros(2), sigma=np.array([1.0, -1.0]),
                                          seed=1.5)
    g.nodes["rate"] = X.RateUnit(tau=np.ones(2) * 0.01, x0=np.zeros(2), phi="sigmoid")
    g.edges.append(sc.Edge("in", "drive"))
    with pytest.raises(GraphError) as err:
        g.validate()
    text = "\n".join(err.value.problems)
    assert "'n' (RefractoryLIF): t_ref=[0.     0.0015 0.    ] s is not a whole number" in text
    assert "'drive' (PoissonSource): rate * dt = 2 > 1" in text
    assert "'drive' (PoissonSource): seed=-1; expected an integer >= 0" in text
    assert "'noise' (WhiteNoiseSource): seed=1.5" in text
    assert "'noise' (WhiteNoiseSource): 'sigma' has negative value(s)" in text
    assert "'rate' (RateUnit): phi='sigmoid'; expected one of 'tanh', 'relu', 'power'" in text
    assert "edge 'in' -> 'drive': a PoissonSource is a source and takes no edges" in text


def test_a_source_without_edges_is_not_warned_about_missing_input() -> None:
    g = rate_graph("tanh", sc.Semantics(dt=DT))
    _, warns = g.problems()
    assert not any("'ou'" in w and "receives no edge" in w for w in warns)


# ====================================================================== exact updates
@pytest.mark.parametrize("sem", sorted(SEMANTICS))
def test_step_functions_equal_the_documented_update(sem: str) -> None:
    """The extension step functions (xp=numpy), driven here, equal the reference bit for bit."""
    semantics = sc.Semantics(dt=DT, **SEMANTICS[sem])
    rng = np.random.default_rng(3)
    steps = 120
    for kind in ("RefractoryLIF", "RefractoryCubaLIF"):
        g = refractory_graph(kind, semantics)
        node, shape = g.nodes["n"], g.shapes()["n"]
        x = rng.uniform(0, 3, (1, steps, 3))
        ref = reference(g, {"in": x}, steps)
        co = neuron_coefficients(node.base(), semantics, shape)
        n_ref = refractory_steps(node, DT, shape)
        state = (*((np.zeros(shape),) if co.has_current else ()), co.v_initial.copy(),
                 np.zeros(shape))
        for t in range(steps):
            inp = ref["received"]["n"][0, t]
            z, state = refractory_step(np, co, n_ref, state, inp)
            v = state.v
            assert np.array_equal(z, ref["spikes"]["n"][0, t]), (kind, t)
            assert np.array_equal(v, ref["traces"]["n"]["v"][0, t]), (kind, t)
        assert ref["spikes"]["n"].sum() > 10
    g = alif_graph(semantics)
    co = alif_coefficients(g.nodes["alif"], semantics, (5,))
    v, a = co.membrane.v_initial.copy(), np.zeros(5)
    ref = reference(g, {"in": rng.uniform(0, 3, (1, steps, 3))}, steps)
    for t in range(steps):
        inp = ref["received"]["alif"][0, t]
        z, (v, a) = alif_step(np, co, (v, a), inp)
        assert np.array_equal(z, ref["spikes"]["alif"][0, t]) and np.array_equal(
            a, ref["traces"]["alif"]["a"][0, t]), t
    for phi in X.PHIS:
        g = rate_graph(phi, semantics)
        node = g.nodes["x"]
        co = rate_coefficients(node, semantics, (6,))
        ref = reference(g, {}, steps)
        x_state = node.x0.copy()
        for t in range(steps):
            inp = ref["received"]["x"][0, t]
            y, (x_state,) = rate_step(np, co, (x_state,), inp)
            assert_close_arrays(x_state, ref["traces"]["x"]["x"][0, t], 0.0, f"{phi} x[{t}]")
            assert_close_arrays(y, ref["outputs"]["out"][0, t], 0.0, f"{phi} y = phi(x)[{t}]")


def test_refractory_neuron_is_silent_and_held_for_exactly_n_ref_steps() -> None:
    """Closed-form check: under strong constant drive a neuron with n_ref refractory steps
    fires once every n_ref + k steps, k the steps needed to reach threshold from v_reset."""
    n = 4
    n_ref = np.array([0, 1, 3, 7])
    tau, r, drive = 0.02, 1.0, 400.0
    node = X.RefractoryLIF(tau=np.full(n, tau), r=np.full(n, r), v_leak=np.zeros(n),
                           v_threshold=np.ones(n), v_reset=np.zeros(n), t_ref=n_ref * DT)
    sem = sc.Semantics(dt=DT)
    co = neuron_coefficients(node.base(), sem, (n,))
    # steps from v_reset = 0 to above threshold by the Euler map v -> a v + k x
    v, k = 0.0, 0
    while v <= 1.0:
        v = (1 - DT / tau) * v + DT * r / tau * drive
        k += 1
    v, ref = co.v_initial.copy(), np.zeros(n)
    z_all = []
    held_ok = True
    for _ in range(60):
        before = v.copy()
        z, (v, ref_new) = refractory_step(np, co, n_ref.astype(float), (v, ref), np.full(n, drive))
        held_ok &= bool(np.all(v[ref > 0] == before[ref > 0]))
        ref = ref_new
        z_all.append(z)
    z_all = np.array(z_all)
    for j in range(n):
        times = np.flatnonzero(z_all[:, j])
        assert np.all(np.diff(times) == n_ref[j] + k), (j, times)
    assert held_ok


# ====================================================================== streams
def test_streams_follow_the_documented_counter_scheme() -> None:
    sem = sc.Semantics(dt=DT)
    for node in (X.PoissonSource(rate=np.full((2, 3), 150.0), seed=4),
                 X.WhiteNoiseSource(mean=np.ones(3), sigma=np.full(3, 0.2), seed=4),
                 X.OUSource(mean=np.ones(3), sigma=np.full(3, 0.2), tau=np.full(3, 0.01),
                            seed=4)):
        for s in (sem, sem.replace(integrator="exact")):
            got, _ = source_stream(node, "src", s, 2, 0, 40)
            want = documented_stream(node, "src", s, 2, 40)
            assert_close_arrays(got, want, 0.0, type(node).__name__)


def test_streams_are_independent_of_length_batch_and_splitting() -> None:
    sem = sc.Semantics(dt=DT, integrator="exact")
    node = X.OUSource(mean=np.zeros(4), sigma=np.ones(4), tau=np.full(4, 0.02), seed=1)
    full, _ = source_stream(node, "ou", sem, 3, 0, 50)
    first, state = source_stream(node, "ou", sem, 3, 0, 20)
    rest, _ = source_stream(node, "ou", sem, 3, 20, 50, state=state)
    assert np.array_equal(np.concatenate([first, rest], axis=1), full)
    one, _ = source_stream(node, "ou", sem, 1, 0, 30)
    assert np.array_equal(one[0], full[0, :30])
    other_name, _ = source_stream(node, "ou2", sem, 1, 0, 30)
    other_seed, _ = source_stream(X.OUSource(mean=np.zeros(4), sigma=np.ones(4),
                                             tau=np.full(4, 0.02), seed=2), "ou", sem, 1, 0, 30)
    assert not np.array_equal(other_name, one) and not np.array_equal(other_seed, one)
    assert not np.array_equal(full[0], full[1])  # batch elements are independent draws


def test_stream_statistics_match_their_distributions() -> None:
    """Poisson count, white-noise variance, OU stationary variance and lag-1 correlation.

    Bounds: 5 standard errors of each estimator (false-failure odds below 1e-6 for a
    fixed seed, and the seed is fixed, so the test is deterministic)."""
    sem = sc.Semantics(dt=DT, integrator="exact")
    T, n = 4000, 50
    p = 40.0 * DT
    z, _ = source_stream(X.PoissonSource(rate=np.full(n, 40.0), seed=3), "p", sem, 1, 0, T)
    count = z.sum()
    assert abs(count - T * n * p) < 5 * np.sqrt(T * n * p * (1 - p))
    w, _ = source_stream(X.WhiteNoiseSource(mean=np.full(n, 2.0), sigma=np.full(n, 0.1),
                                            seed=3), "w", sem, 1, 0, T)
    var_expected = 0.1**2 / DT
    m = w.size
    assert abs(w.mean() - 2.0) < 5 * np.sqrt(var_expected / m)
    assert abs(w.var() / var_expected - 1) < 5 * np.sqrt(2 / m)
    tau = 0.005
    y, _ = source_stream(X.OUSource(mean=np.zeros(n), sigma=np.full(n, 1.0),
                                    tau=np.full(n, tau), seed=3), "y", sem, 1, 0, T)
    y = y[0, 200:]  # the start (y = mean) is forgotten after 200 steps = 40 tau
    e = np.exp(-DT / tau)
    eff = y.size * (1 - e * e) / (1 + e * e)  # effective sample size of an AR(1) variance
    assert abs(y.var() - 1.0) < 5 * np.sqrt(2 / eff)
    lag1 = np.mean(y[1:] * y[:-1]) / y.var()
    assert abs(lag1 - e) < 5 * np.sqrt((1 - e * e) / y.size) * 3


# ====================================================================== files
def _all_extensions_graph() -> sc.Graph:
    sem = sc.Semantics(dt=DT, integrator="exact")
    g = refractory_graph("RefractoryCubaLIF", sem)
    a = alif_graph(sem)
    r = rate_graph("power", sem)
    nodes = {**g.nodes, "alif": a.nodes["alif"], "noise": a.nodes["noise"],
             "ou": r.nodes["ou"], "x": r.nodes["x"], "J": r.nodes["J"],
             "lif": X.RefractoryLIF(tau=np.full(2, 0.02), r=np.ones(2), v_leak=np.zeros(2),
                                    v_threshold=np.ones(2), v_reset=np.zeros(2),
                                    t_ref=np.full(2, 2e-3), metadata={"note": "kept"})}
    edges = [*g.edges, ("noise", "alif", 2), ("ou", "x"), ("x", "J", 1), ("J", "x"),
             ("drive", "lif", 3)]
    return sc.Graph(nodes, edges, sem, name="all_ext", metadata={"user": "value"})


def _assert_same_graph(a: sc.Graph, b: sc.Graph) -> None:
    assert list(a.nodes) == list(b.nodes)
    assert a.edges == b.edges and a.semantics == b.semantics and a.name == b.name
    for n in a.nodes:
        if X.is_extension(a.nodes[n]):
            _same_node(a.nodes[n], b.nodes[n])
            assert a.nodes[n].metadata == b.nodes[n].metadata


def test_extension_graph_round_trips_through_a_file_exactly(tmp_path) -> None:
    g = _all_extensions_graph()
    path = sc.write(g, tmp_path / "g.nir")
    back = sc.read(path)
    back.name = g.name
    _assert_same_graph(g, back)
    assert back.metadata == {"user": "value"}
    # in memory too
    _assert_same_graph(g, sc.from_nir(sc.to_nir(g), name="all_ext"))


def test_nested_graph_with_extensions_round_trips(tmp_path) -> None:
    inner = rate_graph("relu", None)
    inner.nodes = {"in": P.Input(np.array([6])), **inner.nodes, "out": P.Output(np.array([6]))}
    inner.edges = [*inner.edges, sc.Edge("in", "x")]
    g = sc.Graph({"src": P.Input(np.array([6])), "sub": inner, "o": P.Output(np.array([6]))},
                 [("src", "sub"), ("sub", "o")], sc.Semantics(dt=DT), name="nested")
    back = sc.read(sc.write(g, tmp_path / "n.nir"))
    assert isinstance(back.nodes["sub"].nodes["x"], X.RateUnit)
    _same_node(inner.nodes["x"], back.nodes["sub"].nodes["x"])
    assert back.nodes["sub"].edges == inner.edges
    assert back.flatten().topological_order() == g.flatten().topological_order()


def test_plain_nir_reads_the_file_without_the_extension_nodes(tmp_path) -> None:
    g = _all_extensions_graph()
    path = sc.write(g, tmp_path / "g.nir")
    plain = nir.read(str(path))  # nir's own reader, type checks on
    ext_names = {n for n, v in g.nodes.items() if X.is_extension(v)}
    assert not ext_names & set(plain.nodes)
    assert {"in", "w", "wd", "out", "J"} <= set(plain.nodes)
    assert all(s not in ext_names and t not in ext_names for s, t in plain.edges)
    stored = plain.metadata[X.EXTENSIONS_KEY]
    assert set(stored) == ext_names


def test_plain_export_raises_naming_every_extension_node(tmp_path) -> None:
    g = _all_extensions_graph()
    with pytest.raises(UnsupportedError) as err:
        sc.to_nir(g, plain=True)
    names = sorted(p.split("'")[1] for p in err.value.problems)
    assert names == sorted(n for n, v in g.nodes.items() if X.is_extension(v))
    assert "'lif' (RefractoryLIF): LIF + refractory steps round(t_ref/dt); no NIR 1.0 node " \
           "or composition is exact" in err.value.problems
    with pytest.raises(UnsupportedError):
        sc.write(g, tmp_path / "p.nir", plain=True)
    assert not (tmp_path / "p.nir").exists()


def test_graph_without_extensions_writes_exactly_as_before() -> None:
    g = sc.Graph({"in": P.Input(np.array([2])), "o": P.Output(np.array([2]))}, [("in", "o")],
                 sc.Semantics(dt=DT))
    a, b = sc.to_nir(g), sc.to_nir(g, plain=True)
    assert list(a.metadata) == ["spikecore"] and a.metadata == b.metadata
    assert "edges" not in __import__("json").loads(a.metadata["spikecore"])


def test_damaged_extension_metadata_is_a_file_error(tmp_path) -> None:
    g = _all_extensions_graph()
    ng = sc.to_nir(g)
    ng.metadata[X.EXTENSIONS_KEY]["alif"]["type"] = "Mystery"
    with pytest.raises(sc.NIRFileError, match="extension node 'alif' has type 'Mystery'"):
        sc.from_nir(ng)
    ng = sc.to_nir(g)
    del ng.metadata[X.EXTENSIONS_KEY]["alif"]["beta"]
    with pytest.raises(sc.NIRFileError, match=r"'alif' \(ALIF\) lacks field 'beta'"):
        sc.from_nir(ng)
