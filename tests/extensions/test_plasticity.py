"""STDPLinear (and VogelsLinear, HebbianLinear): weight trajectories equal on Brian2 and
torch (pair and triplet, hard and soft bounds, batches), the discrete rule equal to the pair
sums over spike times (HebbianLinear: to its stated update), lossless files, refusals
(plain NIR, Lava, NEST, continuous mode) and input checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from spikecore.backends import get_backend

import spikecore as sc
from spikecore import primitives as P
from spikecore.errors import GraphError, UnsupportedError
from spikecore.extensions import PoissonSource, RateUnit
from spikecore.extensions.plasticity import (
    HebbianLinear,
    STDPLinear,
    VogelsLinear,
    stdp_connection,
    stdp_weight_change,
)
from spikecore.testing import assert_close_arrays, assert_same_spikes

N_IN, N_OUT, DT = 8, 3, 1e-3

#: Brian2 vs torch, float64. The weight and trace updates are the same operations in the
#: same order on both (one Brian2 statement per operation), so they agree bit for bit as
#: long as the post spikes agree; only ``y = W p`` is summed in a different order (Brian2's
#: summed variable vs a matrix product), which can move ``y`` by an ulp. The tolerance
#: allows that ulp to propagate through a run without a spike flip.
W_ATOL = 1e-12


def _node(**kw) -> STDPLinear:
    rng = np.random.default_rng(0)
    args = dict(weight=rng.uniform(0.2, 0.6, (N_OUT, N_IN)), a2_plus=0.01, a2_minus=0.012,
                tau_plus=0.02, tau_minus=0.02, w_min=0.0, w_max=1.0)
    args.update(kw)
    return STDPLinear(**args)


def _graph(node: STDPLinear, rate: float = 40.0, threshold: float = 0.05,
           poisson: bool = True) -> sc.Graph:
    nodes, edges = stdp_connection("syn", node, "src", "post")
    nodes["src"] = PoissonSource(rate=np.full(N_IN, rate), seed=3) if poisson else \
        P.Input(np.array([N_IN]))
    nodes["post"] = P.LIF(tau=np.full(N_OUT, 0.01), r=np.ones(N_OUT), v_leak=np.zeros(N_OUT),
                          v_threshold=np.full(N_OUT, threshold), v_reset=np.zeros(N_OUT))
    nodes["out"] = P.Output(np.array([N_OUT]))
    edges.append(("post", "out", 0))
    return sc.Graph(nodes, edges, sc.Semantics(dt=DT, integrator="exact"), name="stdp")


def _both(g: sc.Graph, steps: int = 400, record=("spikes", "w")):
    rt = sc.simulate(g, backend="torch", steps=steps, record=record, dtype=torch.float64)
    rb = sc.simulate(g, backend="brian2", steps=steps, record=record)
    return rt, rb


@pytest.mark.parametrize("kw", [
    {},                                                               # pair, hard bounds
    {"bound": "soft", "a2_plus": 0.05, "a2_minus": 0.06},             # pair, soft bounds
    {"a2_plus": 5e-3, "a3_plus": 6e-3, "a3_minus": 2e-3},             # triplet
], ids=["pair-hard", "pair-soft", "triplet"])
def test_weight_trajectories_equal_on_brian2_and_torch(kw) -> None:
    g = _graph(_node(**kw))
    rt, rb = _both(g, record=("spikes", "w", "syn:r1", "syn:o2"))
    assert_same_spikes(rt, rb, nodes=["post", "src"])
    assert rt.spikes["post"].sum() > 20  # the rule had post spikes to work with
    w = rt.traces["syn"]["w"]
    assert w.shape == (1, 400, N_OUT, N_IN)
    assert np.abs(w[0, -1] - w[0, 0]).max() > 0.05  # and the weights moved
    for s in ("w", "r1", "o2"):
        assert_close_arrays(rt.traces["syn"][s], rb.traces["syn"][s], W_ATOL,
                            f"syn:{s} (torch vs brian2)")
    assert w.min() >= 0.0 and w.max() <= 1.0


def test_discrete_rule_equals_the_pair_sums_over_spike_times() -> None:
    """Unbounded weights: W[T-1] - W0 equals, per synapse, the continuous-time pair (and
    triplet) sums over the recorded spike times, post spikes up to step T-2 (a post spike
    is paired in the step after it, over the delay-1 edge)."""
    node = _node(w_min=-np.inf, w_max=np.inf, a3_plus=4e-3, a3_minus=1e-3)
    T = 300
    r = sc.simulate(_graph(node), backend="torch", steps=T, record=("spikes", "w"),
                    dtype=torch.float64)
    pre, post = r.spikes["src"][0], r.spikes["post"][0]
    w = r.traces["syn"]["w"][0]
    assert post.sum() > 10
    for i in range(N_OUT):
        for j in range(N_IN):
            want = stdp_weight_change(node, np.flatnonzero(pre[:, j]) * DT,
                                      np.flatnonzero(post[:T - 1, i]) * DT)
            assert abs((w[-1, i, j] - node.weight[i, j]) - want) < 1e-13, (i, j)


def test_batches_learn_independently_and_equal_across_backends() -> None:
    g = _graph(_node(), poisson=False)
    x = (np.random.default_rng(5).random((2, 200, N_IN)) < 0.04).astype(np.float64)
    rt = sc.simulate(g, x, backend="torch", record=("spikes", "w"), dtype=torch.float64)
    rb = sc.simulate(g, x, backend="brian2", record=("spikes", "w"))
    w = rt.traces["syn"]["w"]
    assert w.shape == (2, 200, N_OUT, N_IN)
    assert_close_arrays(w, rb.traces["syn"]["w"], W_ATOL, "syn:w (torch vs brian2)")
    assert np.abs(w[0, -1] - w[1, -1]).max() > 1e-3  # different inputs, different weights
    one = sc.simulate(g, x[1:], backend="torch", record=("spikes", "w"), dtype=torch.float64)
    np.testing.assert_array_equal(one.traces["syn"]["w"][0], w[1])


def test_files_round_trip_exactly_and_plain_nir_refuses(tmp_path) -> None:
    node = _node(bound="soft", a3_plus=1e-3, tau_x=0.05)
    g = _graph(node)
    path = sc.write(g, tmp_path / "stdp.nir")
    back = sc.read(path)
    got = back.nodes["syn"]
    assert isinstance(got, STDPLinear) and got.bound == "soft"
    for f, v in node.fields().items():
        if isinstance(v, str):
            assert getattr(got, f) == v
        else:
            np.testing.assert_array_equal(getattr(got, f), v, err_msg=f)
            assert np.shape(getattr(got, f)) == np.shape(v), f
    assert back.edges == g.edges
    a = sc.simulate(g, backend="torch", steps=100, record=("spikes", "w"), dtype=torch.float64)
    b = sc.simulate(back, backend="torch", steps=100, record=("spikes", "w"),
                    dtype=torch.float64)
    np.testing.assert_array_equal(a.traces["syn"]["w"], b.traces["syn"]["w"])
    with pytest.raises(UnsupportedError, match="'syn'.*STDPLinear|STDPLinear.*'syn'"):
        sc.to_nir(g, plain=True)


def test_lava_nest_and_continuous_mode_refuse_it_by_name() -> None:
    flat = _graph(_node()).flatten()
    lava = get_backend("lava").check(flat)
    assert any("'syn' (STDPLinear): no lowering (Lava 0.10's LearningDense computes a step's output" in p
               for p in lava), lava
    nest = "\n".join(get_backend("nest").check(flat))
    assert "'syn' (STDPLinear): no lowering (NEST's stdp_synapse" in nest, nest
    cont = get_backend("brian2").check(flat, mode="continuous")
    assert any("'syn' (STDPLinear): runs in mode='discrete' only" in p for p in cont), cont


@pytest.mark.parametrize("kw, message", [
    ({"a2_plus": -0.01}, "a2_plus=-0.01; expected >= 0"),
    ({"w_min": 1.0, "w_max": 0.5}, "w_min=1 > w_max=0.5"),
    ({"bound": "cubic"}, "bound='cubic'; expected one of ('hard', 'soft')"),
    ({"bound": "soft", "w_max": np.inf}, "bound='soft' needs finite w_min and w_max"),
    ({"w_max": 0.3}, "'weight' lies outside [w_min, w_max]"),
    ({"tau_plus": np.array([0.02, 0.03])}, "'tau_plus' has shape (2,); expected one value"),
], ids=["negative-amplitude", "bounds-order", "bound-mode", "soft-infinite", "outside",
        "per-synapse-tau"])
def test_bad_parameters_are_named(kw, message) -> None:
    with pytest.raises(GraphError) as err:
        _graph(_node(**kw)).validate()
    assert "'syn' (STDPLinear)" in str(err.value) and message in str(err.value), str(err.value)


def test_an_unstacked_input_is_refused_with_the_fix() -> None:
    node = _node()
    g = sc.Graph({"src": PoissonSource(rate=np.full(N_IN, 10.0), seed=1), "syn": node,
                  "out": P.Output(np.array([N_OUT]))}, [("src", "syn"), ("syn", "out")],
                 sc.Semantics(dt=DT))
    with pytest.raises(GraphError, match="stdp_connection"):
        g.validate()


def test_vogels_files_refusals_and_checks(tmp_path) -> None:
    node = VogelsLinear(weight=np.full((N_OUT, N_IN), 0.1), eta=1e-3, tau_stdp=0.02, rho0=5.0)
    g = _graph(node)
    back = sc.read(sc.write(g, tmp_path / "vogels.nir"))
    for f, v in node.fields().items():
        np.testing.assert_array_equal(getattr(back.nodes["syn"], f), v, err_msg=f)
    with pytest.raises(UnsupportedError, match="VogelsLinear"):
        sc.to_nir(g, plain=True)
    flat = g.flatten()
    assert any("'syn' (VogelsLinear): no lowering (Lava 0.10's LearningDense computes a step's output" in p
               for p in get_backend("lava").check(flat))
    assert "'syn' (VogelsLinear): no lowering (NEST's vogels_sprekeler_synapse" in \
        "\n".join(get_backend("nest").check(flat))
    bad = VogelsLinear(weight=np.full((N_OUT, N_IN), -0.1), eta=-1.0, tau_stdp=0.02, rho0=5.0)
    with pytest.raises(GraphError) as err:
        _graph(bad).validate()
    assert "'syn' (VogelsLinear): eta=-1; expected >= 0 (a learning rate)" in str(err.value)


def test_the_memory_estimate_counts_the_weight_matrix() -> None:
    from spikecore.simulate import estimate_bytes, record_plan

    g = _graph(_node()).flatten()
    base = estimate_bytes(g, 2, 100, record_plan(g, ("spikes",)))
    with_w = estimate_bytes(g, 2, 100, record_plan(g, ("spikes", "w")))
    assert with_w - base == 8 * 2 * 100 * N_OUT * N_IN   # [batch, steps, n_out, n_in]


def _hebbian_graph(node: HebbianLinear) -> sc.Graph:
    """Given pre rates (an Input) -> HebbianLinear -> a ReLU rate unit (the post rates)."""
    nodes, edges = stdp_connection("syn", node, "src", "post")
    nodes["src"] = P.Input(np.array([N_IN]))
    nodes["post"] = RateUnit(tau=np.full(N_OUT, 0.01), x0=np.zeros(N_OUT), phi="relu")
    nodes["out"] = P.Output(np.array([N_OUT]))
    edges.append(("post", "out", 0))
    return sc.Graph(nodes, edges, sc.Semantics(dt=DT, integrator="exact"), name="hebb")


def _hebbian_node(**kw) -> HebbianLinear:
    args = dict(weight=np.random.default_rng(0).uniform(0.2, 0.6, (N_OUT, N_IN)), eta=0.05,
                theta=4.0, w_min=0.0, w_max=1.0)
    args.update(kw)
    return HebbianLinear(**args)


def test_hebbian_follows_its_stated_update_on_both_backends() -> None:
    """The docstring's update written out with numpy (post rates from the run), and the
    weights equal on Brian2 and torch; both bounds act in this run."""
    w0 = _hebbian_node().weight
    w0[2] = 0.02                      # post 2 stays below theta: its weights fall to 0
    node = _hebbian_node(weight=w0)
    g = _hebbian_graph(node)
    steps = 200
    pre = np.random.default_rng(1).uniform(0.0, 20.0, (steps, N_IN))
    rt = sc.simulate(g, pre, backend="torch", record=("w", "post:x"), dtype=torch.float64)
    rb = sc.simulate(g, pre, backend="brian2", record=("w", "post:x"))
    w_t = rt.traces["syn"]["w"][0]
    assert_close_arrays(rt.traces["syn"]["w"], rb.traces["syn"]["w"], W_ATOL,
                        "syn:w (torch vs brian2)")
    post = np.maximum(rt.traces["post"]["x"][0], 0.0)
    w, c = node.weight.copy(), 0.05 * DT
    for t in range(steps):
        if t >= 1:   # q[t] = post[t-1] paired with p[t-1]
            w = np.clip(w + c * np.outer(post[t - 1], pre[t - 1]), 0.0, 1.0)
        w = np.clip(w - c * 4.0 * pre[t][None, :], 0.0, 1.0)
        np.testing.assert_allclose(w_t[t], w, rtol=0, atol=1e-12, err_msg=f"step {t}")
    assert (w_t[-1] == 0.0).any() and (w_t[-1] > 0.99).any()    # both bounds reached


def test_hebbian_files_refusals_and_checks(tmp_path) -> None:
    node = _hebbian_node()
    g = _hebbian_graph(node)
    back = sc.read(sc.write(g, tmp_path / "hebb.nir"))
    assert isinstance(back.nodes["syn"], HebbianLinear) and back.edges == g.edges
    for f, v in node.fields().items():
        np.testing.assert_array_equal(getattr(back.nodes["syn"], f), v, err_msg=f)
        assert np.shape(getattr(back.nodes["syn"], f)) == np.shape(v), f
    pre = np.ones((20, N_IN))
    a, b = (sc.simulate(x, pre, backend="torch", record=("w",), dtype=torch.float64)
            for x in (g, back))
    np.testing.assert_array_equal(a.traces["syn"]["w"], b.traces["syn"]["w"])
    with pytest.raises(UnsupportedError, match="HebbianLinear"):
        sc.to_nir(g, plain=True)
    flat = g.flatten()
    assert any("'syn' (HebbianLinear): no lowering (Lava's LIF sends spikes" in p
               for p in get_backend("lava").check(flat))
    assert "'syn' (HebbianLinear): no lowering (NEST's rate-model connections" in \
        "\n".join(get_backend("nest").check(flat))
    assert any("'syn' (HebbianLinear): runs in mode='discrete' only" in p
               for p in get_backend("brian2").check(flat, mode="continuous"))


@pytest.mark.parametrize("kw, message", [
    ({"eta": -1.0}, "eta=-1; expected >= 0 (a learning rate)"),
    ({"theta": -2.0}, "theta=-2; expected >= 0 (a post-rate threshold)"),
    ({"w_min": 1.0, "w_max": 0.5}, "w_min=1 > w_max=0.5"),
    ({"w_max": 0.3}, "'weight' lies outside [w_min, w_max]"),
    ({"eta": np.array([0.1, 0.2])}, "'eta' has shape (2,); expected one value"),
], ids=["negative-eta", "negative-theta", "bounds-order", "outside", "per-synapse-eta"])
def test_hebbian_bad_parameters_are_named(kw, message) -> None:
    with pytest.raises(GraphError) as err:
        _hebbian_graph(_hebbian_node(**kw)).validate()
    assert "'syn' (HebbianLinear)" in str(err.value) and message in str(err.value), \
        str(err.value)
