"""LTCLIF (liquid time-constant LIF, Yin et al. 2023): registry, validation, the exact
update, files, plain NIR.

Expected values: a two-step case worked out by hand from the update in the docstring of
spikecore.extensions.ltc.LTCLIF (numbers derived in the comments), and a scalar-loop transcription of
the same update (``_scalar_update``: per neuron, per term, no matrix code).
"""

from __future__ import annotations

import math

import nir
import numpy as np
import pytest
from extension_reference import reference

import spikecore as sc
from spikecore import extensions as X
from spikecore import primitives as P
from spikecore.errors import GraphError, UnsupportedError
from spikecore.extensions.ltc import LTCLIF, ltc_coefficients, ltc_initial_state, ltc_step
from spikecore.testing import assert_close_arrays

DT = 1e-3


def _node(n: int = 2, seed: int = 0, **kw) -> LTCLIF:
    rng = np.random.default_rng(seed)
    p = dict(w_mem_in=rng.normal(0, 1, (n, n)), w_mem_v=rng.normal(0, 1, (n, n)),
             b_mem=rng.normal(-1, 0.5, n), w_adp_in=rng.normal(0, 1, (n, n)),
             w_adp_a=rng.normal(0, 1, (n, n)), b_adp=rng.normal(1, 0.5, n),
             r=rng.uniform(0.8, 1.2, n), v_leak=rng.normal(0, 0.02, n),
             v_threshold=np.full(n, 0.1), v_reset=np.full(n, -0.05), beta=np.full(n, 1.8))
    p.update(kw)
    return LTCLIF(**p)


def _graph(node: LTCLIF, sem: sc.Semantics | None, n_in: int = 3, seed: int = 1) -> sc.Graph:
    rng = np.random.default_rng(seed)
    n = node.n
    return sc.Graph({
        "in": P.Input(np.array([n_in])),
        "w": P.Linear(rng.uniform(0, 0.6, (n, n_in))),
        "ltc": node,
        "rec": P.Linear(rng.normal(0, 0.3, (n, n))),
        "out": P.Output(np.array([n])),
    }, [("in", "w"), ("w", "ltc"), ("ltc", "rec", 1), ("rec", "ltc"), ("ltc", "out")], sem,
        name="ltc")


# ====================================================================== registry
def test_ltclif_is_a_registered_spiking_extension_with_three_states() -> None:
    spec = P.SPECS[LTCLIF]
    assert spec.states == ("v", "a", "z") and spec.spiking and spec.kind == "stateful"
    assert X.EXTENSION_TYPES["LTCLIF"] is LTCLIF and X.LTCLIF is LTCLIF
    assert LTCLIF in X.NEURON_EXTENSIONS and X.is_extension(_node())
    assert "LTCLIF" in X.__all__


def test_defaults_are_the_papers_neuron() -> None:
    z = np.zeros((2, 2))
    node = LTCLIF(z, z, np.zeros(2), z, z, np.zeros(2))
    assert (float(node.r), float(node.v_leak), float(node.v_threshold), float(node.v_reset),
            float(node.beta)) == (1.0, 0.0, 0.1, 0.0, 1.8)
    assert all(getattr(node, f).dtype == np.float64 for f in node.array_fields)


# ====================================================================== validation
def test_validation_names_node_parameter_and_expectation_all_at_once() -> None:
    n = 3
    z = np.zeros((n, n))
    bad = LTCLIF(w_mem_in=np.zeros((n, 2)), w_mem_v=z, b_mem=np.zeros(n), w_adp_in=z,
                 w_adp_a=np.zeros((2, 2)), b_adp=np.zeros(4), beta=np.ones(5))
    g = _graph(bad, sc.Semantics(dt=DT))
    with pytest.raises(GraphError) as err:
        g.validate()
    msg = str(err.value)
    for line in [
        "node 'ltc' (LTCLIF): 'w_mem_in' has shape (3, 2); expected (3, 3) for 3 neuron(s) "
        "(n from 'b_mem'): give an n x n matrix (zeros to switch the term off)",
        "node 'ltc' (LTCLIF): 'w_adp_a' has shape (2, 2); expected (3, 3)",
        "node 'ltc' (LTCLIF): 'b_adp' has shape (4,); expected (3,) or a scalar",
        "node 'ltc' (LTCLIF): 'beta' has shape (5,); expected (3,) or a scalar",
    ]:
        assert line in msg, msg


def test_non_finite_gate_weight_and_two_dimensional_bias_are_reported() -> None:
    w = np.zeros((2, 2))
    w[0, 1] = np.nan
    g = _graph(_node(w_mem_v=w), sc.Semantics(dt=DT))
    with pytest.raises(GraphError, match=r"'ltc' \(LTCLIF\): parameter 'w_mem_v' has 1 NaN"):
        g.validate()
    node = _node(b_mem=np.zeros((2, 1)))
    problems = P.SPECS[LTCLIF].extra["check"]("x", node, DT)
    assert problems == ["node 'x' (LTCLIF): 'b_mem' has shape (2, 1); expected (n,): the "
                        "neurons of an LTCLIF form a vector (gates are n x n matrices)"]


# ====================================================================== the update
def _hand_node() -> LTCLIF:
    """Gates without weights: g_m = sigmoid(b_mem) = (1/2, 3/4) (sigmoid(ln 3) = 3/4),
    rho = sigmoid(0) = 1/2; r = 1, v_leak = 0, v_threshold = 0.1, beta = 1.8, v_reset = 0."""
    z = np.zeros((2, 2))
    return LTCLIF(w_mem_in=z, w_mem_v=z, b_mem=np.array([0.0, math.log(3.0)]), w_adp_in=z,
                  w_adp_a=z, b_adp=np.zeros(2))


def _run_steps(node: LTCLIF, sem: sc.Semantics, inputs: list[list[float]]):
    co = ltc_coefficients(node, sem, (node.n,))
    v, a, z = ltc_initial_state(co, 1)
    out = []
    for x in inputs:
        fired, (v, a, _) = ltc_step(np, co, (v, a, z), np.array([x]))
        z = fired.astype(float)
        out.append((fired[0].tolist(), v[0].tolist(), a[0].tolist()))
    return out


def test_two_steps_worked_out_by_hand_euler_to_value() -> None:
    # step 0: a = 1/2*0 + 1/2*0 = 0, theta = 0.1; v~ = 0 + (1/2, 3/4)*(0.3, 0.1)
    #         = (0.15, 0.075): neuron 0 spikes and resets to 0.
    # step 1: a = 1/2*(0, 0) + 1/2*(1, 0) = (0.5, 0), theta = (0.1 + 1.8*0.5, 0.1) = (1.0, 0.1)
    #         v~ = (0 + 0.5*(0 - 0 + 0.3), 0.075 + 0.75*(0 - 0.075 + 0.1)) = (0.15, 0.09375)
    #         no spike (0.15 < 1.0: the adaptation holds neuron 0 back).
    (z0, v0, a0), (z1, v1, a1) = _run_steps(_hand_node(), sc.Semantics(dt=DT),
                                            [[0.3, 0.1], [0.3, 0.1]])
    assert z0 == [True, False] and v0 == pytest.approx([0.0, 0.075], abs=1e-15)
    assert a0 == [0.0, 0.0]
    assert z1 == [False, False] and a1 == pytest.approx([0.5, 0.0], abs=1e-15)
    assert v1 == pytest.approx([0.15, 0.09375], abs=1e-15)


def test_two_steps_worked_out_by_hand_exact_subtract() -> None:
    # exact: k = 1 - exp(-g_m). step 0: v~ = k*(0.3, 0.1); with k0 = 1 - e^-0.5 = 0.3935,
    # v~0 = 0.11804 > 0.1: spike, subtract 0.1 - 0 -> 0.01804; v~1 = 0.05276 (no spike).
    # step 1: a = (0.5, 0), theta = (1.0, 0.1); v~ = v + k*(0 - v + x), no spike.
    k = [1 - math.exp(-0.5), 1 - math.exp(-0.75)]
    (z0, v0, _), (z1, v1, a1) = _run_steps(
        _hand_node(), sc.Semantics(dt=DT, integrator="exact", reset="subtract"),
        [[0.3, 0.1], [0.3, 0.1]])
    v0_want = [k[0] * 0.3 - 0.1, k[1] * 0.1]
    assert z0 == [True, False] and v0 == pytest.approx(v0_want, abs=1e-15)
    assert v0_want[0] == pytest.approx(0.01804, abs=1e-5)
    assert z1 == [False, False] and a1 == pytest.approx([0.5, 0.0], abs=1e-15)
    x = [0.3, 0.1]
    assert v1 == pytest.approx([v0_want[j] + k[j] * (x[j] - v0_want[j]) for j in range(2)],
                               abs=1e-15)


def _sig(u: float) -> float:
    return 1.0 / (1.0 + math.exp(-u))


def _scalar_update(node: LTCLIF, exact: bool, to_value: bool, xs: np.ndarray):
    """The docstring's update, neuron by neuron and term by term (batch 1)."""
    n = node.n
    v = [float(node.v_leak[j]) for j in range(n)]
    a, z = [0.0] * n, [0.0] * n
    zs, vs, as_ = [], [], []
    for x in xs:
        new_v, new_a, new_z = [], [], []
        for i in range(n):
            um = node.b_mem[i] + sum(node.w_mem_in[i, j] * x[j] + node.w_mem_v[i, j] * v[j]
                                     for j in range(n))
            ua = node.b_adp[i] + sum(node.w_adp_in[i, j] * x[j] + node.w_adp_a[i, j] * a[j]
                                     for j in range(n))
            g, rho = _sig(um), _sig(ua)
            ai = rho * a[i] + (1 - rho) * z[i]
            k = 1 - math.exp(-g) if exact else g
            vt = v[i] + k * (node.v_leak[i] - v[i] + node.r[i] * x[i])
            zi = vt > node.v_threshold[i] + node.beta[i] * ai
            if zi:
                vt = node.v_reset[i] if to_value else vt - (node.v_threshold[i] - node.v_reset[i])
            new_v.append(vt)
            new_a.append(ai)
            new_z.append(float(zi))
        v, a, z = new_v, new_a, new_z
        zs.append(z)
        vs.append(v)
        as_.append(a)
    return np.array(zs, bool), np.array(vs), np.array(as_)


@pytest.mark.parametrize("integrator", ["euler", "exact"])
@pytest.mark.parametrize("reset", ["to_value", "subtract"])
def test_step_function_equals_the_scalar_transcription(integrator: str, reset: str) -> None:
    node = _node(n=4, seed=3)
    sem = sc.Semantics(dt=DT, integrator=integrator, reset=reset)
    xs = np.random.default_rng(4).uniform(0, 0.5, (80, 4))
    z_want, v_want, a_want = _scalar_update(node, integrator == "exact", reset == "to_value",
                                            xs)
    co = ltc_coefficients(node, sem, (4,))
    v, a, z = ltc_initial_state(co, 1)
    zs, vs, as_ = [], [], []
    for x in xs:
        fired, (v, a, _) = ltc_step(np, co, (v, a, z), x[None])
        z = fired.astype(float)
        zs.append(fired[0])
        vs.append(v[0])
        as_.append(a[0])
    assert 5 < z_want.sum() < z_want.size - 5  # both outcomes occur
    np.testing.assert_array_equal(np.array(zs), z_want)
    assert_close_arrays(np.array(vs), v_want, 1e-12, "v")
    assert_close_arrays(np.array(as_), a_want, 1e-12, "a")


def test_gates_read_the_input_and_the_previous_state() -> None:
    """Each gate matrix changes the result: switching one off changes v or a."""
    sem = sc.Semantics(dt=DT)
    xs = np.random.default_rng(5).uniform(0, 0.5, (30, 2))
    base = _scalar_update(_node(), False, True, xs)
    for f in ("w_mem_in", "w_mem_v", "w_adp_in", "w_adp_a"):
        node = _node(**{f: np.zeros((2, 2))})
        co = ltc_coefficients(node, sem, (2,))
        v, a, z = ltc_initial_state(co, 1)
        vs, as_ = [], []
        for x in xs:
            fired, (v, a, _) = ltc_step(np, co, (v, a, z), x[None])
            z = fired.astype(float)
            vs.append(v[0])
            as_.append(a[0])
        changed = max(np.abs(np.array(vs) - base[1]).max(), np.abs(np.array(as_) - base[2]).max())
        assert changed > 1e-6, f


def test_reference_interpreter_runs_the_graph_through_the_step_function() -> None:
    g = _graph(_node(n=3, seed=7), sc.Semantics(dt=DT))
    x = np.random.default_rng(8).uniform(0, 1, (2, 40, 3))
    ref = reference(g, {"in": x}, 40)
    assert set(ref["traces"]["ltc"]) == {"v", "a", "z"}
    np.testing.assert_array_equal(ref["traces"]["ltc"]["z"], ref["spikes"]["ltc"])
    assert ref["spikes"]["ltc"].sum() > 5
    np.testing.assert_array_equal(ref["outputs"]["out"], ref["spikes"]["ltc"].astype(float))


# ====================================================================== files
def test_ltc_graph_round_trips_through_a_file_exactly(tmp_path) -> None:
    g = _graph(_node(n=3, seed=9, beta=0.7), sc.Semantics(dt=DT, integrator="exact"))
    back = sc.read(sc.write(g, tmp_path / "ltc.nir"))
    a, b = g.nodes["ltc"], back.nodes["ltc"]
    assert type(b) is LTCLIF
    for f in a.array_fields:
        va, vb = getattr(a, f), getattr(b, f)
        assert va.shape == vb.shape and va.dtype == vb.dtype and np.array_equal(va, vb), f
    assert back.edges == g.edges and back.semantics == g.semantics
    assert np.array_equal(back.nodes["rec"].weight, g.nodes["rec"].weight)


def test_plain_nir_refuses_the_ltc_node_by_name(tmp_path) -> None:
    g = _graph(_node(), sc.Semantics(dt=DT))
    with pytest.raises(UnsupportedError) as err:
        sc.to_nir(g, plain=True)
    assert [p.split("'")[1] for p in err.value.problems] == ["ltc"]
    assert err.value.problems[0].startswith("'ltc' (LTCLIF): ")
    plain = nir.read(str(sc.write(g, tmp_path / "g.nir")))  # nir's own reader
    assert "ltc" not in plain.nodes and "ltc" in plain.metadata[X.EXTENSIONS_KEY]
