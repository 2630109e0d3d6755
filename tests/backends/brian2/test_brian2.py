"""Brian2 backend: every primitive, both modes, analytic checks and the NIR paper fixture.

Expected values come from the contract, never from the backend: a plain numpy (+ torch for
conv/pool) interpreter of the semantics contract written here (per step, nodes in
topological order, x[t] = sum of the sources' outputs sent at t - delay, neurons through
``spikecore.discrete.neuron_step``), closed-form ODE solutions, and torch.nn.functional.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
import warnings

import nir
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from contract_reference import contract_step
from prerequisites import installed_library
from spikecore.backends.brian2.backend import MAX_HISTORY, Brian2Backend, default_cache_dir
from spikecore.backends.brian2.maps import MAP_BUILDERS
from spikecore.backends.brian2.registry import BUILDERS

import spikecore as sc
from spikecore import primitives as P
from spikecore.discrete import NEURON_TYPES, neuron_coefficients
from spikecore.errors import UnsupportedError
from spikecore.graph import Graph, GraphWarning
from spikecore.result import Result
from spikecore.semantics import Semantics
from spikecore.testing import assert_close_arrays, assert_same_spikes


# ============================================================================ reference
def _pair(v, n):
    a = np.atleast_1d(np.asarray(v)).astype(int).ravel()
    return tuple(int(x) for x in (np.repeat(a, n) if a.size == 1 else a))


def _stateless(node, x: np.ndarray, out_shape) -> np.ndarray:
    """``x``: [batch, *in_shape] -> [batch, *out_shape] by the primitive's definition."""
    t = type(node)
    B = x.shape[0]
    if t is P.Affine:
        return x @ np.asarray(node.weight, np.float64).T + np.asarray(node.bias, np.float64)
    if t is P.Linear:
        return x @ np.asarray(node.weight, np.float64).T
    if t is P.Scale:
        return np.asarray(node.scale, np.float64) * x
    if t is P.Threshold:
        return (x > np.asarray(node.threshold, np.float64)).astype(np.float64)
    if t is P.Flatten:
        return x.reshape(B, *out_shape)
    xt = torch.from_numpy(np.ascontiguousarray(x))
    if t in (P.Conv1d, P.Conv2d):
        fn = F.conv1d if t is P.Conv1d else F.conv2d
        nd = 1 if t is P.Conv1d else 2
        pad = node.padding if isinstance(node.padding, str) else _pair(node.padding, nd)
        bias = None if node.bias is None else torch.from_numpy(
            np.asarray(node.bias, np.float64).ravel().copy())
        y = fn(xt, torch.from_numpy(np.asarray(node.weight, np.float64)), bias,
               stride=_pair(node.stride, nd), padding=pad, dilation=_pair(node.dilation, nd),
               groups=int(node.groups))
        return y.numpy()
    if t in (P.AvgPool2d, P.SumPool2d):
        k = _pair(node.kernel_size, 2)
        y = F.avg_pool2d(xt, k, _pair(node.stride, 2), _pair(node.padding, 2),
                         count_include_pad=True)
        return (y * (k[0] * k[1]) if t is P.SumPool2d else y).numpy()
    raise NotImplementedError(t.__name__)


def reference(graph: Graph, inputs: dict[str, np.ndarray], steps: int) -> dict:
    """Returns {"spikes": {node: bool[B,T,*s]}, "traces": {node: {"v"/"i": ...}},
    "outputs": {node: ...}}."""
    g = graph.flatten()
    sem = g.semantics
    order = g.topological_order()
    shapes = g.shapes()
    B = next(iter(inputs.values())).shape[0] if inputs else 1
    sent = {n: np.zeros((steps, B, *shapes[n])) for n in g.nodes}
    received = {n: np.zeros((steps, B, *shapes[n])) for n in g.nodes}
    coeffs, state = {}, {}
    for n, node in g.nodes.items():
        if type(node) in NEURON_TYPES:
            co = neuron_coefficients(node, sem, shapes[n])
            coeffs[n] = co
            state[n] = (np.zeros((B, *shapes[n])), np.broadcast_to(co.v_initial,
                                                                   (B, *shapes[n])).copy())
    spikes = {n: np.zeros((B, steps, *shapes[n]), bool) for n in g.nodes
              if P.SPECS[type(g.nodes[n])].spiking}
    traces = {n: {"v": np.zeros((B, steps, *shapes[n])), "i": np.zeros((B, steps, *shapes[n]))}
              for n in coeffs}
    outputs = {}
    for t in range(steps):
        for n in order:
            node = g.nodes[n]
            in_shape = None
            x = 0.0
            for e in g.incoming(n):
                in_shape = shapes[e.source]
                if t - e.delay_steps >= 0:
                    x = x + sent[e.source][t - e.delay_steps]
            if in_shape is not None and np.isscalar(x):
                x = np.zeros((B, *in_shape))
            if isinstance(node, P.Input):
                y = inputs[n][:, t]
            elif isinstance(node, P.Output):
                y = x
            elif n in coeffs:
                i, v = state[n]
                z, i, v = contract_step(coeffs[n], i, v, x)
                state[n] = (i, v)
                traces[n]["v"][:, t], traces[n]["i"][:, t] = v, i
                y = z.astype(np.float64) if coeffs[n].spiking else v
            elif isinstance(node, P.Delay):
                received[n][t] = x
                k = np.broadcast_to(np.round(np.asarray(node.delay, np.float64) / sem.dt)
                                    .astype(int), shapes[n])
                y = np.zeros((B, *shapes[n]))
                for idx in np.ndindex(*shapes[n]):
                    if t - k[idx] >= 0:
                        y[(slice(None), *idx)] = received[n][t - k[idx]][(slice(None), *idx)]
            else:
                y = _stateless(node, x, shapes[n])
            sent[n][t] = y
            if n in spikes:
                spikes[n][:, t] = y > 0.5
    for n, node in g.nodes.items():
        if isinstance(node, P.Output):
            outputs[n] = np.moveaxis(sent[n], 0, 1)
    return {"spikes": spikes, "traces": traces, "outputs": outputs,
            "size": {n: math.prod(s) for n, s in shapes.items()}}


# ============================================================================ helpers
DT = 1e-3
RNG_SEED = 1234
STATE_ATOL = 1e-12  # float64 on both sides, same update: rounding only


def _u(rng, lo, hi, n):
    return rng.uniform(lo, hi, n)


def make_neuron(kind: str, n: int, rng) -> object:
    """A neuron node with different parameters per element (all of them used)."""
    u = lambda lo, hi: _u(rng, lo, hi, n)  # noqa: E731
    if kind == "LIF":
        return nir.LIF(tau=u(5e-3, 2e-2), r=u(0.5, 2), v_leak=u(-0.1, 0.1),
                       v_threshold=u(0.5, 1), v_reset=u(-0.2, 0.1))
    if kind == "LI":
        return nir.LI(tau=u(5e-3, 2e-2), r=u(0.5, 2), v_leak=u(-0.1, 0.1))
    if kind == "IF":
        return nir.IF(r=u(25, 100), v_threshold=u(0.5, 1), v_reset=u(-0.2, 0.1))
    if kind == "I":
        return nir.I(r=u(0.5, 2))
    if kind == "CubaLIF":
        return nir.CubaLIF(tau_syn=u(3e-3, 1e-2), tau_mem=u(5e-3, 2e-2), r=u(0.5, 2),
                           v_leak=u(-0.1, 0.1), v_threshold=u(0.2, 0.5), v_reset=u(-0.2, 0.1),
                           w_in=u(0.5, 2))
    if kind == "CubaLI":
        return nir.CubaLI(tau_syn=u(3e-3, 1e-2), tau_mem=u(5e-3, 2e-2), r=u(0.5, 2),
                          v_leak=u(-0.1, 0.1), w_in=u(0.5, 2))
    raise ValueError(kind)


def run_brian2(graph: Graph, x, record=("spikes", "v", "i"), **options) -> Result:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GraphWarning)
        return sc.simulate(graph, x, backend="brian2", record=record, **options)


def assert_matches_reference(graph: Graph, x: np.ndarray | dict, **options) -> Result:
    """Brian2 vs the numpy contract: identical spikes, states and outputs to rounding."""
    inputs = x if isinstance(x, dict) else {graph.flatten().input_names[0]: x}
    steps = next(iter(inputs.values())).shape[1]
    r = run_brian2(graph, x, **options)
    ref = reference(graph, inputs, steps)
    expected = Result(spikes=ref["spikes"], backend="numpy reference")
    if ref["spikes"]:
        assert_same_spikes(r, expected, nodes=sorted(ref["spikes"]))
    for n, states in ref["traces"].items():
        for s, a in states.items():
            if s in r.traces.get(n, {}):
                assert_close_arrays(r.traces[n][s], a, STATE_ATOL, f"{n}:{s}")
    assert sorted(r.outputs) == sorted(ref["outputs"])
    for n, a in ref["outputs"].items():
        assert_close_arrays(r.outputs[n], a, STATE_ATOL, f"output {n}")
    return r


def chain(neuron, n_in: int, n: int, rng, semantics: Semantics) -> Graph:
    return Graph({"in": nir.Input(np.array([n_in])),
                  "aff": nir.Affine(np.abs(rng.normal(size=(n, n_in))), rng.normal(size=n)),
                  "n": neuron, "out": nir.Output(np.array([n]))},
                 [("in", "aff"), ("aff", "n"), ("n", "out")], semantics, name="chain")


SEMANTICS = {
    "euler": dict(),
    "exact-subtract": dict(integrator="exact", reset="subtract"),
    "euler-increment-voltage_first": dict(input_meaning="increment",
                                          update_order="voltage_first"),
    "exact-increment": dict(integrator="exact", input_meaning="increment"),
}


# ============================================================================ backend API
def test_availability_runs_brian2_and_reports_version():
    a = Brian2Backend().availability()
    assert a.available, a.reason
    import brian2

    assert a.version == brian2.__version__


def test_supported_lists_every_builder_and_every_registered_primitive():
    supported = Brian2Backend().supported()
    assert set(supported) == {t.__name__ for t in BUILDERS}
    assert set(supported) == {t.__name__ for t in P.SPECS}
    assert all(isinstance(v, str) and v for v in supported.values())


# ============================================================================ primitives
@pytest.mark.parametrize("sem", sorted(SEMANTICS))
@pytest.mark.parametrize("kind", ["I", "IF", "LI", "LIF", "CubaLI", "CubaLIF"])
def test_every_neuron_matches_the_contract(kind, sem):
    rng = np.random.default_rng(RNG_SEED)
    g = chain(make_neuron(kind, 5, rng), 3, 5, rng, Semantics(dt=DT, **SEMANTICS[sem]))
    x = rng.uniform(0, 3, size=(2, 60, 3))
    r = assert_matches_reference(g, x)
    if P.SPECS[type(g.nodes["n"])].spiking:
        # The comparison is only meaningful if the neurons actually spike and reset.
        assert r.spikes["n"].sum() >= 3


def test_stateless_nodes_scale_threshold_flatten_delay():
    rng = np.random.default_rng(RNG_SEED)
    g = Graph({
        "in": nir.Input(np.array([2, 3])),
        "flat": nir.Flatten(input_type={"input": np.array([2, 3])}, start_dim=0),
        "sc": nir.Scale(rng.uniform(-2, 2, 6)),
        "th": nir.Threshold(rng.uniform(-0.5, 0.5, 6)),
        "dl": nir.Delay(np.array([0, 1, 3, 2, 0, 5]) * DT),
        "out_sc": nir.Output(np.array([6])),
        "out_th": nir.Output(np.array([6])),
        "out_dl": nir.Output(np.array([6])),
    }, [("in", "flat"), ("flat", "sc"), ("sc", "th"), ("sc", "out_sc"), ("th", "out_th"),
        ("sc", "dl"), ("dl", "out_dl")], Semantics(dt=DT))
    x = rng.normal(size=(2, 30, 2, 3))
    r = assert_matches_reference(g, x)
    # Independent of the reference: the Delay output is the Scale output shifted per element.
    sc_out, dl_out = r.outputs["out_sc"], r.outputs["out_dl"]
    for j, k in enumerate([0, 1, 3, 2, 0, 5]):
        assert_close_arrays(dl_out[:, k:, j], sc_out[:, :30 - k, j], 0.0, f"delay element {j}")
        assert not dl_out[:, :k, j].any()


def test_zero_delay_chain_settles_within_one_step_in_topological_order():
    # Names sort opposite to the data flow, so dict or alphabetical order would be wrong.
    lif = lambda: nir.LIF(tau=np.full(4, 1e-2), r=np.ones(4), v_leak=np.zeros(4),  # noqa: E731
                          v_threshold=np.full(4, 0.5), v_reset=np.zeros(4))
    g = Graph({"z_in": nir.Input(np.array([4])), "y_w": nir.Linear(np.eye(4) * 1000.0),
               "x_lif": lif(), "c_w": nir.Linear(np.eye(4) * 1000.0), "b_lif": lif(),
               "a_out": nir.Output(np.array([4]))},
              [("z_in", "y_w"), ("y_w", "x_lif"), ("x_lif", "c_w"), ("c_w", "b_lif"),
               ("b_lif", "a_out")], Semantics(dt=DT))
    x = np.zeros((1, 10, 4))
    x[0, 3, 1] = 1.0
    x[0, 7, 2] = 1.0
    r = assert_matches_reference(g, x)
    # One input pulse crosses both layers in the step it arrives.
    assert np.array_equal(np.argwhere(r.spikes["b_lif"][0]), [[3, 1], [7, 2]])
    assert np.array_equal(np.argwhere(r.outputs["a_out"][0]), [[3, 1], [7, 2]])


def test_recurrent_graph_with_edge_delays_matches_the_contract():
    rng = np.random.default_rng(RNG_SEED)
    n = 6
    g = Graph({
        "in": nir.Input(np.array([3])),
        "z_aff": nir.Affine(rng.normal(size=(n, 3)) * 2, rng.normal(size=n)),
        "b_lif": make_neuron("CubaLIF", n, rng),
        "rec": nir.Linear(rng.normal(size=(n, n)) * 0.6),
        "a_lif": make_neuron("LIF", n, rng),
        "li": make_neuron("LI", n, rng),
        "sc": nir.Scale(rng.uniform(0.5, 2, n)),
        "th": nir.Threshold(rng.uniform(0, 0.5, n)),
        "lin2": nir.Linear(rng.normal(size=(n, n))),
        "out": nir.Output(np.array([n])),
        "out2": nir.Output(np.array([n])),
    }, [("in", "z_aff"), ("z_aff", "b_lif"), ("b_lif", "rec"), ("rec", "b_lif", 1),
        ("rec", "a_lif", 2), ("a_lif", "a_lif", 1), ("b_lif", "sc"), ("sc", "th"),
        ("th", "lin2", 3), ("lin2", "a_lif"), ("a_lif", "out"), ("z_aff", "lin2", 2),
        ("a_lif", "li"), ("li", "li", 2), ("li", "out2", 4)], Semantics(dt=DT))
    x = rng.uniform(0, 3, size=(3, 80, 3)) * (rng.uniform(size=(3, 80, 3)) < 0.3)
    r = assert_matches_reference(g, x)
    assert r.spikes["b_lif"].sum() > 10 and r.spikes["a_lif"].sum() > 10


def test_nested_graph_runs_like_its_flattened_form():
    rng = np.random.default_rng(RNG_SEED)
    inner = Graph({"i": nir.Input(np.array([4])), "lif": make_neuron("LIF", 4, rng),
                   "o": nir.Output(np.array([4]))}, [("i", "lif"), ("lif", "o")])
    g = Graph({"in": nir.Input(np.array([2])), "w": nir.Linear(np.abs(rng.normal(size=(4, 2))) * 3),
               "sub": inner, "w2": nir.Linear(np.abs(rng.normal(size=(4, 4))) * 20),
               "sub2": inner.copy(), "out": nir.Output(np.array([4]))},
              [("in", "w"), ("w", "sub"), ("sub", "w2", 1), ("w2", "sub2"), ("sub2", "out")],
              Semantics(dt=DT))
    x = rng.uniform(0, 3, size=(2, 50, 2))
    r = assert_matches_reference(g, x)
    assert r.spikes["sub.lif"].sum() > 0 and r.spikes["sub2.lif"].sum() > 0


def test_batch_elements_are_independent_copies():
    rng = np.random.default_rng(RNG_SEED)
    g = chain(make_neuron("CubaLIF", 5, rng), 3, 5, rng, Semantics(dt=DT))
    g.nodes["rec"] = nir.Linear(rng.normal(size=(5, 5)))
    g.edges += [sc.Edge("n", "rec"), sc.Edge("rec", "n", 1)]
    x = rng.uniform(0, 3, size=(3, 40, 3))
    together = run_brian2(g, x)
    for b in range(3):
        alone = run_brian2(g, x[b:b + 1])
        assert np.array_equal(together.spikes["n"][b:b + 1], alone.spikes["n"]), f"batch {b}"
        assert_close_arrays(together.traces["n"]["v"][b:b + 1], alone.traces["n"]["v"], 0.0,
                            f"batch {b} v")


def test_conv_pool_chain_matches_torch_reference():
    rng = np.random.default_rng(RNG_SEED)
    s = (4, 8, 8)
    g = Graph({
        "in": nir.Input(np.array([2, 8, 8])),
        "conv": nir.Conv2d(input_shape=(8, 8), weight=rng.normal(size=(4, 1, 3, 3)), stride=1,
                           padding=1, dilation=1, groups=2, bias=rng.normal(size=4)),
        "lif": nir.LIF(tau=np.full(s, 1e-2), r=np.ones(s), v_leak=np.zeros(s),
                       v_threshold=np.full(s, 0.1), v_reset=np.zeros(s)),
        "pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                              padding=np.array([0, 0])),
        "avg": nir.AvgPool2d(kernel_size=np.array([2, 2]), stride=np.array([1, 1]),
                             padding=np.array([1, 1])),
        "flat": nir.Flatten(input_type={"input": np.array([4, 5, 5])}, start_dim=0),
        "aff": nir.Affine(rng.normal(size=(5, 100)), rng.normal(size=5)),
        "out": nir.Output(np.array([5])),
    }, [("in", "conv"), ("conv", "lif"), ("lif", "pool"), ("pool", "avg"), ("avg", "flat"),
        ("flat", "aff"), ("aff", "out")], Semantics(dt=DT))
    x = rng.uniform(0, 3, size=(2, 15, 2, 8, 8))
    r = assert_matches_reference(g, x)
    assert 0 < r.spikes["lif"].mean() < 1


@pytest.mark.parametrize("kind", ["conv1d", "conv2d", "avg_pool2d", "sum_pool2d"])
def test_conv_and_pool_graphs_equal_torch_functional(kind):
    rng = np.random.default_rng(RNG_SEED)
    if kind == "conv1d":
        w, b = rng.normal(size=(4, 1, 3)), rng.normal(size=4)
        node = nir.Conv1d(input_shape=11, weight=w, stride=2, padding=2, dilation=2, groups=2,
                          bias=b)
        in_shape = (2, 11)
        expect = lambda x: F.conv1d(x, torch.tensor(w), torch.tensor(b), stride=2,  # noqa: E731
                                    padding=2, dilation=2, groups=2)
    elif kind == "conv2d":
        w, b = rng.normal(size=(6, 3, 3, 2)), rng.normal(size=6)
        node = nir.Conv2d(input_shape=(7, 9), weight=w, stride=(2, 1), padding=(1, 2),
                          dilation=(1, 2), groups=1, bias=b)
        in_shape = (3, 7, 9)
        expect = lambda x: F.conv2d(x, torch.tensor(w), torch.tensor(b), stride=(2, 1),  # noqa: E731
                                    padding=(1, 2), dilation=(1, 2))
    elif kind == "avg_pool2d":
        node = nir.AvgPool2d(kernel_size=np.array([2, 3]), stride=np.array([2, 2]),
                             padding=np.array([1, 1]))
        in_shape = (3, 7, 9)
        expect = lambda x: F.avg_pool2d(x, (2, 3), (2, 2), (1, 1),  # noqa: E731
                                        count_include_pad=True)
    else:
        node = nir.SumPool2d(kernel_size=np.array([3, 3]), stride=np.array([2, 2]),
                             padding=np.array([0, 0]))
        in_shape = (3, 7, 9)
        # torch has no sum pool: a depthwise conv with a kernel of ones is its definition.
        expect = lambda x: F.conv2d(x, torch.ones(3, 1, 3, 3, dtype=torch.float64),  # noqa: E731
                                    stride=2, groups=3)
    x = rng.normal(size=(3, 4, *in_shape))
    want = np.stack([expect(torch.tensor(x[:, t])).numpy() for t in range(4)], axis=1)
    g = Graph({"in": nir.Input(np.array(in_shape)), "op": node,
               "out": nir.Output(np.array(want.shape[2:]))},
              [("in", "op"), ("op", "out")], Semantics(dt=DT))
    r = run_brian2(g, x, record=())
    assert_close_arrays(r.outputs["out"], want, 1e-12, f"{kind} vs torch")


def test_index_maps_are_vectorised_and_equal_torch_on_random_inputs():
    # The maps alone, larger than the end-to-end graphs above (no Brian2 involved).
    rng = np.random.default_rng(RNG_SEED)
    w, b = rng.normal(size=(8, 2, 3, 3)), rng.normal(size=8)
    node = nir.Conv2d(input_shape=(12, 10), weight=w, stride=2, padding="valid", dilation=1,
                      groups=2, bias=b)
    m = MAP_BUILDERS[nir.Conv2d](node, (4, 12, 10))
    x = rng.normal(size=(4, 12, 10))
    want = F.conv2d(torch.tensor(x)[None], torch.tensor(w), torch.tensor(b), stride=2,
                    groups=2)[0].numpy()
    got = np.zeros(m.n_out)
    np.add.at(got, m.post, m.w * x.ravel()[m.pre])
    assert_close_arrays(got + m.bias, want.ravel(), 1e-12, "conv2d map")
    same = nir.Conv2d(input_shape=(12, 10), weight=w, stride=1, padding="same", dilation=2,
                      groups=2, bias=None)
    m = MAP_BUILDERS[nir.Conv2d](same, (4, 12, 10))
    want = F.conv2d(torch.tensor(x)[None], torch.tensor(w), padding="same", dilation=2,
                    groups=2)[0].numpy()
    assert_close_arrays(m.dense() @ x.ravel(), want.ravel(), 1e-12, "conv2d 'same' map")


# ============================================================================ analytic
def test_li_and_cubali_impulse_responses_equal_closed_forms():
    # Exact integrator, increment input: a charge q*dt arrives at the end of step 0.
    dt, q, tau, r = 1e-3, 2.0, 7e-3, 1.5
    ts, tm, w_in = 3e-3, 9e-3, 0.8
    sem = Semantics(dt=dt, integrator="exact", input_meaning="increment")
    g = Graph({"in": nir.Input(np.array([1])),
               "li": nir.LI(tau=np.array([tau]), r=np.array([r]), v_leak=np.zeros(1)),
               "cuba": nir.CubaLI(tau_syn=np.array([ts]), tau_mem=np.array([tm]),
                                  r=np.array([r]), v_leak=np.zeros(1), w_in=np.array([w_in]))},
              [("in", "li"), ("in", "cuba")], sem)
    x = np.zeros((1, 40, 1))
    x[0, 0, 0] = q
    res = run_brian2(g, x, record=("v", "i"))
    s = np.arange(40) * dt  # time since the impulse, at the end of each step
    v_li = dt * r * q / tau * np.exp(-s / tau)
    i0 = dt * w_in * q / ts
    i_cuba = i0 * np.exp(-s / ts)
    v_cuba = r * i0 * ts / (ts - tm) * (np.exp(-s / ts) - np.exp(-s / tm))
    assert_close_arrays(res.traces["li"]["v"][0, :, 0], v_li, 1e-12, "LI impulse response")
    assert_close_arrays(res.traces["cuba"]["i"][0, :, 0], i_cuba, 1e-12, "CubaLI current")
    assert_close_arrays(res.traces["cuba"]["v"][0, :, 0], v_cuba, 1e-12, "CubaLI voltage")


@pytest.mark.parametrize("substeps", [1, 3])
def test_continuous_step_responses_equal_closed_forms(substeps):
    # Continuous mode, constant current I switched on at t=0: the ODE's own solution.
    dt, current, tau, r = 1e-3, 0.7, 7e-3, 1.5
    ts, tm, w_in = 3e-3, 9e-3, 0.8
    g = Graph({"in": nir.Input(np.array([1])),
               "li": nir.LI(tau=np.array([tau]), r=np.array([r]), v_leak=np.zeros(1)),
               "cuba": nir.CubaLI(tau_syn=np.array([ts]), tau_mem=np.array([tm]),
                                  r=np.array([r]), v_leak=np.zeros(1), w_in=np.array([w_in])),
               "eq": nir.CubaLI(tau_syn=np.array([tm]), tau_mem=np.array([tm]),
                                r=np.array([r]), v_leak=np.zeros(1), w_in=np.array([w_in]))},
              [("in", "li"), ("in", "cuba"), ("in", "eq")], Semantics(dt=dt))
    x = np.full((1, 30, 1), current)
    res = run_brian2(g, x, record=("v", "i"), mode="continuous", substeps=substeps)
    t = (np.arange(30) + 1) * dt
    v_li = r * current * (1 - np.exp(-t / tau))
    i_inf = w_in * current
    v_cuba = r * i_inf * (1 - (ts * np.exp(-t / ts) - tm * np.exp(-t / tm)) / (ts - tm))
    v_eq = r * i_inf * (1 - np.exp(-t / tm) - t / tm * np.exp(-t / tm))  # tau_syn == tau_mem
    assert_close_arrays(res.traces["li"]["v"][0, :, 0], v_li, 1e-12, "LI step response")
    assert_close_arrays(res.traces["cuba"]["i"][0, :, 0], i_inf * (1 - np.exp(-t / ts)),
                        1e-12, "CubaLI current")
    assert_close_arrays(res.traces["cuba"]["v"][0, :, 0], v_cuba, 1e-12, "CubaLI voltage")
    assert_close_arrays(res.traces["eq"]["v"][0, :, 0], v_eq, 1e-12,
                        "CubaLI voltage, tau_syn == tau_mem")


def lif_constant_input_graph(currents: np.ndarray, dt: float, tau=1e-2, r=1.0, v_th=1.0,
                             reset="to_value") -> Graph:
    n = currents.size
    return Graph({"in": nir.Input(np.array([n])),
                  "lif": nir.LIF(tau=np.full(n, tau), r=np.full(n, r), v_leak=np.zeros(n),
                                 v_threshold=np.full(n, v_th), v_reset=np.zeros(n)),
                  "out": nir.Output(np.array([n]))},
                 [("in", "lif"), ("lif", "out")], Semantics(dt=dt, reset=reset))


@pytest.mark.parametrize("substeps", [1, 5])
def test_lif_time_to_first_spike_equals_tau_ln_ri_over_ri_minus_vth(substeps):
    dt, tau, r, v_th = 1e-3, 1e-2, 1.0, 1.0
    currents = np.array([1.1, 1.5, 2.0, 3.0, 5.0])
    g = lif_constant_input_graph(currents, dt, tau, r, v_th)
    steps = 60
    res = run_brian2(g, np.broadcast_to(currents, (1, steps, currents.size)),
                     mode="continuous", substeps=substeps)
    T = tau * np.log(r * currents / (r * currents - v_th))
    h = dt / substeps
    # The threshold is checked at the end of each internal step: the first check at or
    # after T fires, and the spike belongs to the graph step holding that internal step.
    first_internal = np.ceil(T / h - 1e-9).astype(int) - 1
    for j, t_exact in enumerate(T):
        steps_fired = np.flatnonzero(res.spikes["lif"][0, :, j])
        assert steps_fired.size, f"neuron {j} never spiked (T={t_exact:.5f} s)"
        assert steps_fired[0] == first_internal[j] // substeps, (
            f"neuron {j}: first spike in step {steps_fired[0]}, expected "
            f"{first_internal[j] // substeps} (T = {t_exact * 1e3:.4f} ms)")


def test_continuous_spike_times_converge_to_exact_solution_as_dt_shrinks():
    # Periodic firing under constant current: exact spike times k*T. Measured spike time =
    # end of the step that fired. The error must shrink ~linearly with dt.
    tau, r, v_th = 1e-2, 1.0, 1.0
    currents = np.linspace(1.3, 4.0, 12)
    T = tau * np.log(r * currents / (r * currents - v_th))
    duration, n_spikes = 0.05, 3
    errors = []
    dts = [1e-3, 5e-4, 2.5e-4, 1.25e-4]
    for dt in dts:
        steps = int(round(duration / dt))
        g = lif_constant_input_graph(currents, dt, tau, r, v_th)
        res = run_brian2(g, np.broadcast_to(currents, (1, steps, currents.size)),
                         record=("spikes",), mode="continuous")
        err = []
        for j in range(currents.size):
            fired = (np.flatnonzero(res.spikes["lif"][0, :, j])[:n_spikes] + 1) * dt
            assert fired.size == n_spikes, f"dt={dt}: neuron {j} fired {fired.size} times"
            exact = T[j] * np.arange(1, n_spikes + 1)
            assert np.all(fired >= exact - 1e-12)  # a spike is never reported early
            err.append(np.abs(fired - exact).max())
        errors.append(float(np.mean(err)))
        assert errors[-1] <= n_spikes * dt, f"dt={dt}: mean error {errors[-1]:.2e} s"
    slope = np.polyfit(np.log(dts), np.log(errors), 1)[0]
    assert 0.7 < slope < 1.3, f"error ~ dt^{slope:.2f}; errors {errors}"


@pytest.mark.parametrize("mode", ["discrete", "continuous"])
@pytest.mark.parametrize("reset", ["to_value", "subtract"])
def test_if_integrates_and_resets(mode, reset):
    dt, r, v_th, v_reset, x = 1e-3, 40.0, 1.0, -0.3, 3.3
    g = Graph({"in": nir.Input(np.array([1])),
               "if": nir.IF(r=np.array([r]), v_threshold=np.array([v_th]),
                            v_reset=np.array([v_reset]))},
              [("in", "if")], Semantics(dt=dt, reset=reset))
    res = run_brian2(g, np.full((1, 20, 1), x), record=("spikes", "v"), mode=mode)
    v = res.traces["if"]["v"][0, :, 0]
    free = (np.arange(20) + 1) * dt * r * x  # v' = R I from v = 0, before any spike
    k = int(np.flatnonzero(free > v_th)[0])  # first step above threshold
    assert_close_arrays(v[:k], free[:k], 1e-12, "IF integration before the first spike")
    assert np.flatnonzero(res.spikes["if"][0, :, 0])[0] == k
    after = v_reset if reset == "to_value" else free[k] - (v_th - v_reset)
    assert v[k] == pytest.approx(after, abs=1e-12), f"{reset}: v right after the spike"
    assert v[k + 1] == pytest.approx(after + dt * r * x, abs=1e-12)


# ============================================================================ NIR paper
def test_nir_paper_lif_fixture_reproduces_norse_column(shared_fixtures):
    folder = shared_fixtures / "nir_paper_lif"
    g = sc.read(folder / "lif_norse.nir", dialect="norse", dt=1e-4)
    data = np.loadtxt(folder / "lif_norse.csv", delimiter=",")
    res = run_brian2(g, data[None, :1000, :1], record=("spikes", "1:v"))
    assert np.flatnonzero(res.spikes["1"][0, :, 0]).tolist() == [460, 510, 710, 760]
    assert_close_arrays(res.traces["1"]["v"][0, :, 0], data[:1000, 1], 1e-6,
                        "voltage vs lif_norse.csv column 1")
    assert np.flatnonzero(res.outputs["output"][0, :, 0]).tolist() == [460, 510, 710, 760]


# ============================================================================ modes
def test_continuous_with_one_substep_equals_discrete_exact_integration():
    # Exact integration with inputs held for dt is the discrete contract under
    # integrator='exact': continuous mode must reproduce it (to the rounding of the
    # symbolic solution) on a recurrent graph with delays.
    rng = np.random.default_rng(RNG_SEED)
    n = 6
    g = Graph({"in": nir.Input(np.array([3])),
               "aff": nir.Affine(rng.normal(size=(n, 3)) * 2, rng.normal(size=n)),
               "cuba": make_neuron("CubaLIF", n, rng), "rec": nir.Linear(rng.normal(size=(n, n))),
               "lif": make_neuron("LIF", n, rng), "li": make_neuron("LI", n, rng),
               "out": nir.Output(np.array([n]))},
              [("in", "aff"), ("aff", "cuba"), ("cuba", "rec"), ("rec", "cuba", 1),
               ("rec", "lif", 2), ("lif", "li"), ("li", "out")],
              Semantics(dt=DT, integrator="exact"))
    x = rng.uniform(0, 3, size=(2, 60, 3))
    disc = run_brian2(g, x)
    cont = run_brian2(g, x, mode="continuous", substeps=1)
    assert disc.spikes["cuba"].sum() > 10
    assert_same_spikes(disc, cont)
    for n_ in ("cuba", "lif", "li"):
        assert_close_arrays(cont.traces[n_]["v"], disc.traces[n_]["v"], 1e-10, f"{n_}:v")
    assert_close_arrays(cont.outputs["out"], disc.outputs["out"], 1e-10, "output")


def test_recording_creates_monitors_only_for_the_plan_and_always_fills_outputs():
    rng = np.random.default_rng(RNG_SEED)
    g = chain(make_neuron("CubaLIF", 4, rng), 2, 4, rng, Semantics(dt=DT))
    x = rng.uniform(0, 3, size=(1, 20, 2))
    none = run_brian2(g, x, record=())
    assert none.spikes == {} and none.traces == {}
    assert set(none.outputs) == {"out"} and none.outputs["out"].shape == (1, 20, 4)
    assert none.info["monitors"] == ["sc_out__states"]
    only_v = run_brian2(g, x, record=("n:v",))
    assert set(only_v.traces) == {"n"} and set(only_v.traces["n"]) == {"v"}
    assert only_v.spikes == {}
    assert_close_arrays(only_v.outputs["out"], none.outputs["out"], 0.0, "outputs")


def test_runs_leave_no_brian2_global_state_behind(capsys):
    import brian2

    before = {k: brian2.prefs[k] for k in ("codegen.target", "codegen.runtime.cython.cache_dir")}
    device = brian2.get_device()
    rng = np.random.default_rng(RNG_SEED)
    g = chain(make_neuron("LIF", 3, rng), 2, 3, rng, Semantics(dt=DT))
    x = rng.uniform(0, 3, size=(1, 30, 2))
    first = run_brian2(g, x, progress="text")
    assert "Starting simulation" in capsys.readouterr().out  # Brian2's text report
    second = run_brian2(g, x)
    assert_same_spikes(first, second)
    assert {k: brian2.prefs[k] for k in before} == before
    assert brian2.get_device() is device
    assert first.build_time > 0 and first.wall_time > 0
    assert first.info["codegen_target"] == "numpy" and first.info["mode"] == "discrete"


# ============================================================================ errors
class Mystery(nir.NIRNode):
    """A primitive spikecore knows (registered in the test) but Brian2 cannot lower."""

    def __init__(self):
        self.input_type = {"input": np.array([2])}
        self.output_type = {"output": np.array([2])}
        self.metadata = {}


def test_everything_unsupported_is_reported_at_once(monkeypatch):
    monkeypatch.setitem(P.SPECS, Mystery, P.PrimitiveSpec("stateless", lambda n, s: (2,)))
    rng = np.random.default_rng(RNG_SEED)
    cuba = nir.CubaLIF(tau_syn=np.array([1e-2, 3e-3]), tau_mem=np.array([1e-2, 5e-3]),
                       r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.ones(2),
                       v_reset=np.zeros(2), w_in=np.ones(2))
    g = Graph({"in": nir.Input(np.array([2])), "odd": Mystery(), "cuba": cuba,
               "late": nir.Delay(np.array([1.0, 0.0])), "in2": nir.Input(np.array([2, 1])),
               "conv": nir.Conv1d(input_shape=1, weight=rng.normal(size=(1, 2, 1)), stride=2,
                                  padding="same", dilation=1, groups=1, bias=None)},
              [("in", "odd"), ("odd", "cuba"), ("cuba", "late"), ("in2", "conv")],
              Semantics(dt=DT))
    with pytest.raises(UnsupportedError) as err:
        run_brian2(g, {"in": np.zeros((1, 5, 2)), "in2": np.zeros((1, 5, 2, 1))},
                   mode="continuous", substeps=2, colour="blue")
    problems = err.value.problems
    text = "\n".join(problems)
    assert "'odd' (Mystery): no lowering; supported: " in text
    assert "option 'colour' is unknown" in text
    assert "'cuba' (CubaLIF): continuous mode needs tau_syn == tau_mem" in text
    assert "'late' (Delay): 2000 internal steps" in text
    assert "'conv' (Conv1d): padding='same' needs stride 1" in text
    assert len(problems) == 5, text


@pytest.mark.parametrize("options, fragment", [
    ({"mode": "analog"}, "option mode='analog'"),
    ({"codegen_target": "gpu"}, "option codegen_target='gpu'"),
    ({"substeps": 4}, "only meaningful with mode='continuous'"),
    ({"substeps": 0, "mode": "continuous"}, "option substeps=0"),
    ({"progress": 3}, "option progress=3"),
    ({"cache_dir": 5}, "option cache_dir=5"),
])
def test_bad_options_raise_unsupported_error_naming_the_option(options, fragment):
    rng = np.random.default_rng(RNG_SEED)
    g = chain(make_neuron("LIF", 2, rng), 2, 2, rng, Semantics(dt=DT))
    with pytest.raises(UnsupportedError, match=re.escape(fragment)):
        run_brian2(g, np.zeros((1, 3, 2)), **options)
    assert Brian2Backend().check(g.flatten()) == []


def test_long_edge_delay_beyond_history_limit_is_reported():
    g = Graph({"in": nir.Input(np.array([1])), "out": nir.Output(np.array([1]))},
              [("in", "out", MAX_HISTORY + 1)], Semantics(dt=DT))
    problems = Brian2Backend().check(g)
    assert len(problems) == 1 and "edge 'in' -> 'out'" in problems[0]


# ============================================================================ cython
@pytest.mark.slow
def test_cython_target_gives_the_numpy_results():
    # Compiles about eight small modules on the first run (tens of seconds on a loaded
    # machine); later runs hit the cache in spikecore's default cache directory.
    installed_library("Cython")
    rng = np.random.default_rng(RNG_SEED)
    g = chain(make_neuron("LIF", 3, rng), 2, 3, rng, Semantics(dt=DT))
    x = rng.uniform(0, 3, size=(1, 30, 2))
    ref = run_brian2(g, x, record=("spikes", "v"))
    cache = default_cache_dir()
    cy = run_brian2(g, x, record=("spikes", "v"), codegen_target="cython", cache_dir=cache)
    assert ref.spikes["n"].sum() > 0
    assert_same_spikes(ref, cy)
    assert_close_arrays(cy.traces["n"]["v"], ref.traces["n"]["v"], STATE_ATOL, "cython v")
    assert cy.info["codegen_target"] == "cython"
    assert any(p.suffix == ".so" for p in (cache / "cython").iterdir()), \
        "compiled code was not cached in cache_dir"


def test_all_zero_linear_is_lowered_as_silence() -> None:
    """An all-zero weight matrix (e.g. coupling switched off) must run, and deliver 0."""
    import nir

    g = sc.Graph({"input": nir.Input(input_type=np.array([3])),
                  "lin": nir.Linear(weight=np.zeros((2, 3))),
                  "lif": nir.LIF(tau=np.full(2, 0.01), r=np.ones(2), v_leak=np.zeros(2),
                                 v_threshold=np.ones(2), v_reset=np.zeros(2)),
                  "output": nir.Output(output_type=np.array([2]))},
                 [("input", "lin"), ("lin", "lif"), ("lif", "output")], sc.Semantics(dt=1e-3))
    x = np.ones((2, 20, 3))
    r = sc.simulate(g, x, backend="brian2", record=("spikes", "v"))
    assert not r.spikes["lif"].any()
    assert np.array_equal(r.traces["lif"]["v"], np.zeros((2, 20, 2)))


def _fusion_graph() -> sc.Graph:
    """Spike input and graded input through their own maps into a CubaLIF, recurrent maps
    with delay 1 (fused into the neuron) and delay 2 (not fused), and an LI readout."""
    import nir

    rng = np.random.default_rng(21)
    n = 12
    nodes = {
        "spk_in": nir.Input(input_type=np.array([5])),
        "cur_in": nir.Input(input_type=np.array([3])),
        "w_spk": nir.Linear(weight=rng.normal(0, 1.5, (n, 5))),
        "w_cur": nir.Affine(weight=rng.normal(0, 1.0, (n, 3)), bias=np.zeros(n)),
        "rec": nir.CubaLIF(tau_syn=np.full(n, 4e-3), tau_mem=np.full(n, 9e-3), r=np.ones(n),
                           v_leak=np.zeros(n), v_threshold=np.full(n, 0.4),
                           v_reset=np.zeros(n), w_in=np.full(n, 3.0)),
        "w_rec1": nir.Linear(weight=rng.normal(0, 0.6, (n, n))),
        "w_rec2": nir.Linear(weight=rng.normal(0, 0.6, (n, n))),
        "w_out": nir.Linear(weight=rng.normal(0, 1.0, (2, n))),
        "readout": nir.LI(tau=np.full(2, 5e-3), r=np.ones(2), v_leak=np.zeros(2)),
        "output": nir.Output(output_type=np.array([2])),
    }
    edges = [("spk_in", "w_spk"), ("w_spk", "rec"), ("cur_in", "w_cur"), ("w_cur", "rec"),
             ("rec", "w_rec1"), ("w_rec1", "rec", 1), ("rec", "w_rec2"), ("w_rec2", "rec", 2),
             ("rec", "w_out"), ("w_out", "readout"), ("readout", "output")]
    return sc.Graph(nodes, edges, sc.Semantics(dt=1e-3), name="fusion")


@pytest.mark.parametrize("spiking_input", ["poisson", "all_zero"])
def test_spike_inputs_and_fused_maps_keep_the_contract(spiking_input: str) -> None:
    """The fast paths (0/1 inputs as spike generators, linear maps fused into their
    neuron) must give what the plain lowering gives: compared with the torch backend."""
    from spikecore.testing import assert_close_arrays, assert_same_spikes

    g = _fusion_graph()
    rng = np.random.default_rng(5)
    steps = 120
    spikes = (rng.random((2, steps, 5)) < 0.2).astype(float)
    if spiking_input == "all_zero":
        spikes[:] = 0.0
    cur = np.where(rng.random((2, steps, 3)) < 0.3, rng.normal(0.5, 1.0, (2, steps, 3)), 0.0)
    x = {"spk_in": spikes, "cur_in": cur}
    a = sc.simulate(g, x, backend="brian2", record=("spikes", "v", "i"))
    b = sc.simulate(g, x, backend="torch", record=("spikes", "v", "i"))
    assert_same_spikes(a, b)
    for state in ("v", "i"):
        assert_close_arrays(a.traces["rec"][state], b.traces["rec"][state], 1e-12, f"rec:{state}")
    assert_close_arrays(a.outputs["output"], b.outputs["output"], 1e-12, "output")
    if spiking_input == "poisson":
        assert a.spikes["rec"].any(), "the test network should spike"


def test_threads_with_different_targets_do_not_collide() -> None:
    """Brian2 keeps process-wide state (preferences, the device, object names): runs from
    several threads are serialised by a lock. Without it, a cpp_standalone thread and
    numpy threads break each other (unique-name errors, 'standalone before run')."""
    import threading

    n = 3
    lif = nir.LIF(tau=np.full(n, 0.01), r=np.ones(n), v_leak=np.zeros(n),
                  v_threshold=np.ones(n), v_reset=np.zeros(n))
    g = sc.Graph({"i": nir.Input(np.array([n])), "a": lif, "o": nir.Output(np.array([n]))},
                 [("i", "a"), ("a", "o")], sc.Semantics(dt=1e-3))
    x = np.random.default_rng(0).random((1, 50, n)) * 60
    ref = sc.simulate(g, x, backend="brian2")
    results, errors = {}, []

    def run(k: int, target: str) -> None:
        try:
            results[k] = sc.simulate(g, x, backend="brian2", codegen_target=target)
        except Exception as exc:  # noqa: BLE001 - collected and reported below
            errors.append(f"thread {k} ({target}): {exc!r}")

    threads = [threading.Thread(target=run, args=(k, t))
               for k, t in enumerate(["cpp_standalone", "numpy", "numpy"])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for r in results.values():
        assert_same_spikes(ref, r)
    assert ref.spikes["a"].sum() > 0


def test_first_use_from_a_worker_thread() -> None:
    """Brian2's import installs a SIGINT handler, which Python allows only on the main
    thread: a process whose first Brian2 run happens in a worker thread (a Dask worker, a
    thread pool) must still get a run, not an 'unavailable' backend for good."""
    code = (
        "import threading, spikecore as sc\n"
        "from spikecore.models import feedforward_lif, poisson_input\n"
        "g = feedforward_lif(sizes=(3, 4, 2), seed=2)\n"
        "x = poisson_input(3, 40, 300.0, g.semantics.dt, seed=2)\n"
        "out = {}\n"
        "def run():\n"
        "    try:\n"
        "        out['r'] = sc.simulate(g, x, backend='brian2')\n"
        "    except Exception as exc:\n"
        "        out['e'] = repr(exc)\n"
        "t = threading.Thread(target=run); t.start(); t.join()\n"
        "assert 'brian2' not in out.get('e', ''), out\n"
        "print('ok', out['r'].steps, sc.available_backends()['brian2'].available)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert proc.stdout.split()[-3:] == ["ok", "40", "True"], proc.stdout
