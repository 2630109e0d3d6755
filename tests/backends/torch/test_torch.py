"""The Norse/PyTorch backend against the contract.

Expected values come from a numpy reference written here from the contract
(``spikecore.discrete.neuron_step`` for neurons, plain loops for convolutions and
pooling), never from the code under test.
"""

from __future__ import annotations

import nir
import numpy as np
import pytest
import torch
from contract_reference import contract_step
from prerequisites import shared_fixture
from spikecore.backends.torch import TorchBackend
from spikecore.backends.torch import module as nb
from spikecore.backends.torch import ops as torch_ops

import spikecore as sc
from spikecore import primitives as P
from spikecore.discrete import neuron_coefficients
from spikecore.graph import delay_steps_of
from spikecore.testing import assert_close_arrays, assert_same_spikes


# =========================================================== numpy reference (contract)
def _conv_ref(x: np.ndarray, node) -> np.ndarray:
    """Naive cross-correlation with torch's stride/padding/dilation/groups rules.
    ``x`` is [batch, C, *spatial] (1-D or 2-D)."""
    w = np.asarray(node.weight, dtype=np.float64)
    one_d = w.ndim == 3
    if one_d:
        x, w = x[..., None], w[..., None]
    nd = 2
    stride = torch_ops.as_tuple(node.stride, nd if not one_d else 1) + ((1,) if one_d else ())
    dil = torch_ops.as_tuple(node.dilation, nd if not one_d else 1) + ((1,) if one_d else ())
    pad = torch_ops.as_tuple(node.padding, nd if not one_d else 1) + ((0,) if one_d else ())
    groups = int(node.groups)
    b, c, h, wd = x.shape
    xp = np.zeros((b, c, h + 2 * pad[0], wd + 2 * pad[1]))
    xp[:, :, pad[0]:pad[0] + h, pad[1]:pad[1] + wd] = x
    co, ci_g, kh, kw = w.shape
    oh = (h + 2 * pad[0] - dil[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd + 2 * pad[1] - dil[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((b, co, oh, ow))
    per_group = co // groups
    for o in range(co):
        g = o // per_group
        for i in range(oh):
            for j in range(ow):
                patch = xp[:, g * ci_g:(g + 1) * ci_g,
                           i * stride[0]: i * stride[0] + dil[0] * (kh - 1) + 1: dil[0],
                           j * stride[1]: j * stride[1] + dil[1] * (kw - 1) + 1: dil[1]]
                out[:, o, i, j] = np.sum(patch * w[o], axis=(1, 2, 3))
    if node.bias is not None:
        out += np.broadcast_to(np.asarray(node.bias, dtype=np.float64), (co,))[None, :, None,
                                                                                None]
    return out[..., 0] if one_d else out


def _pool_ref(x: np.ndarray, node, mean: bool) -> np.ndarray:
    k = torch_ops.as_tuple(node.kernel_size, 2)
    s = torch_ops.as_tuple(node.stride, 2)
    p = torch_ops.as_tuple(node.padding, 2)
    b, c, h, w = x.shape
    xp = np.zeros((b, c, h + 2 * p[0], w + 2 * p[1]))
    xp[:, :, p[0]:p[0] + h, p[1]:p[1] + w] = x
    oh = (h + 2 * p[0] - k[0]) // s[0] + 1
    ow = (w + 2 * p[1] - k[1]) // s[1] + 1
    out = np.zeros((b, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            win = xp[:, :, i * s[0]: i * s[0] + k[0], j * s[1]: j * s[1] + k[1]]
            out[:, :, i, j] = win.sum(axis=(2, 3)) / (k[0] * k[1] if mean else 1)
    return out


def reference_run(graph: sc.Graph, inputs: dict[str, np.ndarray], steps: int):
    """The contract, step by step, in numpy: (spikes, traces, outputs) like a Result."""
    g = graph.flatten()
    shapes = g.shapes()
    order = g.topological_order()
    sem = g.semantics
    batch = next(iter(inputs.values())).shape[0] if inputs else 1
    co = {n: neuron_coefficients(v, sem, shapes[n]) for n, v in g.nodes.items()
          if type(v) in (P.I, P.IF, P.LI, P.LIF, P.CubaLI, P.CubaLIF)}
    state = {n: [np.zeros((batch, *shapes[n])), np.broadcast_to(c.v_initial,
                                                                 (batch, *shapes[n])).copy()]
             for n, c in co.items()}
    delay_hist = {n: [] for n, v in g.nodes.items() if isinstance(v, P.Delay)}
    ys: dict[str, list[np.ndarray]] = {n: [] for n in g.nodes}
    spikes = {n: [] for n, v in g.nodes.items() if P.SPECS[type(v)].spiking}
    traces = {n: {"i": [], "v": []} for n in co}
    for t in range(steps):
        for n in order:
            node = g.nodes[n]
            x = None
            for e in g.incoming(n):
                y = (ys[e.source][t - e.delay_steps] if t >= e.delay_steps
                     else np.zeros((batch, *shapes[e.source])))
                x = y if x is None else x + y
            if isinstance(node, P.Input):
                y = inputs[n][:, t]
            elif x is None and not isinstance(node, P.Input):
                if isinstance(node, (P.Affine, P.Linear)):
                    x = np.zeros((batch, np.shape(node.weight)[1]))
                else:
                    x = np.zeros((batch, *shapes[n]))
            if isinstance(node, P.Input):
                pass
            elif isinstance(node, P.Output):
                y = x
            elif isinstance(node, (P.Affine, P.Linear)):
                y = x @ np.asarray(node.weight, dtype=np.float64).T
                if isinstance(node, P.Affine) and node.bias is not None:
                    y = y + np.asarray(node.bias, dtype=np.float64)
            elif isinstance(node, P.Scale):
                y = x * np.asarray(node.scale, dtype=np.float64)
            elif isinstance(node, P.Threshold):
                y = (x > np.asarray(node.threshold, dtype=np.float64)).astype(np.float64)
            elif isinstance(node, P.Flatten):
                y = x.reshape(batch, *shapes[n])
            elif isinstance(node, (P.Conv1d, P.Conv2d)):
                y = _conv_ref(x, node)
            elif isinstance(node, (P.SumPool2d, P.AvgPool2d)):
                y = _pool_ref(x, node, isinstance(node, P.AvgPool2d))
            elif isinstance(node, P.Delay):
                d = np.broadcast_to(delay_steps_of(node, sem.dt), shapes[n])
                delay_hist[n].append(x)
                y = np.zeros_like(x)
                for idx in np.ndindex(*shapes[n]):
                    k = t - int(d[idx])
                    if k >= 0:
                        y[(slice(None), *idx)] = delay_hist[n][k][(slice(None), *idx)]
            else:
                c = co[n]
                z, i_new, v_new = contract_step(c, state[n][0], state[n][1], x)
                state[n] = [i_new, v_new]
                traces[n]["v"].append(v_new)
                if c.has_current:
                    traces[n]["i"].append(i_new)
                y = z.astype(np.float64) if c.spiking else v_new
            ys[n].append(np.asarray(y, dtype=np.float64))
            if n in spikes:
                spikes[n].append(ys[n][-1] > 0.5)
    res = sc.Result(dt=sem.dt, backend="numpy-contract")
    res.spikes = {n: np.stack(v, 1) for n, v in spikes.items()}
    res.traces = {n: {k: np.stack(a, 1) for k, a in tr.items() if a} for n, tr in traces.items()}
    res.outputs = {n: np.stack(ys[n], 1) for n in g.output_names}
    return res


def assert_matches_reference(graph, inputs, steps=None, state_atol=1e-12, **opts):
    arrays = inputs if isinstance(inputs, dict) else {graph.flatten().input_names[0]: inputs}
    steps = steps or next(iter(arrays.values())).shape[1]
    ref = reference_run(graph, arrays, steps)
    res = sc.simulate(graph, arrays, backend="torch", steps=steps,
                      record=("spikes", "v", "i"), **opts)
    if ref.spikes:
        assert_same_spikes(ref, res)
    for n, tr in ref.traces.items():
        for s, a in tr.items():
            assert_close_arrays(res.traces[n][s], a, state_atol, f"{n}:{s}")
    for n, a in ref.outputs.items():
        assert_close_arrays(res.outputs[n], a, state_atol, f"output {n}")
    return ref, res


# ================================================================= graphs under test
def _neuron(kind: str, n: int, rng: np.random.Generator):
    ones = np.ones(n)
    tau = rng.uniform(5e-3, 20e-3, n)
    if kind == "I":
        return P.I(r=rng.uniform(0.5, 2, n))
    if kind == "IF":
        return P.IF(r=rng.uniform(0.5, 2, n), v_threshold=ones, v_reset=np.zeros(n))
    if kind == "LI":
        return P.LI(tau=tau, r=rng.uniform(0.5, 2, n), v_leak=rng.uniform(-0.1, 0.1, n))
    if kind == "LIF":
        return P.LIF(tau=tau, r=rng.uniform(0.5, 2, n), v_leak=rng.uniform(-0.1, 0.1, n),
                     v_threshold=ones, v_reset=rng.uniform(-0.2, 0.1, n))
    tau_syn = rng.uniform(2e-3, 10e-3, n)
    tau_syn[0] = tau[0]  # the equal-time-constant limit of the exact propagator
    kw = dict(tau_syn=tau_syn, tau_mem=tau, r=rng.uniform(0.5, 2, n),
              v_leak=rng.uniform(-0.1, 0.1, n), w_in=rng.uniform(0.5, 2, n))
    if kind == "CubaLI":
        return P.CubaLI(**kw)
    return P.CubaLIF(**kw, v_threshold=ones, v_reset=rng.uniform(-0.2, 0.1, n))


def single_population(kind: str, sem: sc.Semantics, n: int = 6, seed: int = 0) -> sc.Graph:
    rng = np.random.default_rng(seed)
    return sc.Graph({"in": P.Input(np.array([n])), "pop": _neuron(kind, n, rng),
                     "out": P.Output(np.array([n]))},
                    [("in", "pop"), ("pop", "out")], sem, name=f"single_{kind}")


SEMANTICS = [
    sc.Semantics(dt=1e-3),
    sc.Semantics(dt=1e-3, reset="subtract", update_order="voltage_first"),
    sc.Semantics(dt=1e-3, integrator="exact"),
    sc.Semantics(dt=1e-3, integrator="exact", input_meaning="increment", reset="subtract"),
]


@pytest.mark.parametrize("sem", SEMANTICS, ids=lambda s: s.describe()[:60])
@pytest.mark.parametrize("kind", ["I", "IF", "LI", "LIF", "CubaLI", "CubaLIF"])
def test_neuron_states_bit_identical_to_contract(kind, sem):
    g = single_population(kind, sem)
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 120, (2, 80, 6))  # drives every neuron type across threshold
    ref, res = assert_matches_reference(g, x, state_atol=0.0)
    if P.SPECS[type(g.nodes["pop"])].spiking:
        assert res.spikes["pop"].sum() > 10, "test input should make the neurons spike"


def recurrent_graph(sem: sc.Semantics, seed: int = 3) -> sc.Graph:
    rng = np.random.default_rng(seed)
    n_in, n = 4, 12
    nodes = {
        "in": P.Input(np.array([n_in])),
        "w_in": P.Affine(weight=rng.normal(0, 1.5, (n, n_in)), bias=rng.normal(0, 0.1, n)),
        "lif": _neuron("CubaLIF", n, rng),
        "w_rec": P.Linear(weight=rng.normal(0, 0.4, (n, n))),
        "scale": P.Scale(scale=rng.uniform(0.5, 1.5, n)),
        "delay": P.Delay(delay=rng.integers(0, 4, n) * sem.dt),
        "thr": P.Threshold(threshold=np.full(n, 0.5)),
        "li": P.LI(tau=np.full(n, 0.02), r=np.ones(n), v_leak=np.zeros(n)),
        "out": P.Output(np.array([n])),
        "spk": P.Output(np.array([n])),
    }
    edges = [("in", "w_in"), ("w_in", "lif"), ("lif", "w_rec", 1), ("w_rec", "lif"),
             ("lif", "delay"), ("delay", "scale", 2), ("scale", "li"), ("li", "out"),
             ("in", "thr", 0), ("lif", "spk")]
    # Threshold fed from a 1-D projection of the input
    nodes["proj"] = P.Linear(weight=rng.normal(0, 1, (n, n_in)))
    edges = [e for e in edges if e[:2] != ("in", "thr")] + [("in", "proj"), ("proj", "thr"),
                                                            ("thr", "li", 1)]
    return sc.Graph(nodes, edges, sem, name="recurrent")


@pytest.mark.parametrize("sem", SEMANTICS[:3], ids=lambda s: s.describe()[:60])
def test_recurrent_graph_with_delays_matches_contract(sem):
    g = recurrent_graph(sem)
    x = np.random.default_rng(4).uniform(0, 60, (3, 60, 4))
    ref, res = assert_matches_reference(g, x, state_atol=1e-10)
    assert res.spikes["lif"].sum() > 20
    assert res.spikes["thr"].any()


def conv_graph() -> sc.Graph:
    rng = np.random.default_rng(5)
    sem = sc.Semantics(dt=1e-3)
    nodes = {
        "in": P.Input(np.array([2, 7, 7])),
        "conv": P.Conv2d(input_shape=None, weight=rng.normal(0, 1, (4, 1, 3, 3)), stride=1,
                         padding=1, dilation=1, groups=2, bias=rng.normal(0, 0.1, 4)),
        "lif1": P.LIF(tau=np.full((4, 7, 7), 0.01), r=np.full((4, 7, 7), 5.0),
                      v_leak=np.zeros((4, 7, 7)), v_threshold=np.full((4, 7, 7), 0.3),
                      v_reset=np.zeros((4, 7, 7))),
        "sum": P.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                           padding=np.array([1, 1])),
        "avg": P.AvgPool2d(kernel_size=np.array([2, 2]), stride=np.array([1, 1]),
                           padding=np.array([0, 0])),
        "flat": P.Flatten(input_type=None, start_dim=0, end_dim=-1),
        "fc": P.Affine(weight=rng.normal(0.2, 1.0, (5, 4 * 3 * 3)), bias=np.zeros(5)),
        "cuba": P.CubaLIF(tau_syn=np.full(5, 5e-3), tau_mem=np.full(5, 0.01), r=np.ones(5),
                          v_leak=np.zeros(5), v_threshold=np.full(5, 0.2),
                          v_reset=np.zeros(5), w_in=np.full(5, 20.0)),
        "out": P.Output(np.array([5])),
        "in1": P.Input(np.array([3, 10])),
        "conv1": P.Conv1d(input_shape=None, weight=rng.normal(0, 1, (2, 3, 3)), stride=2,
                          padding=1, dilation=2, groups=1, bias=None),
        "out1": P.Output(np.array([2, 4])),
    }
    edges = [("in", "conv"), ("conv", "lif1"), ("lif1", "sum"), ("sum", "avg"),
             ("avg", "flat"), ("flat", "fc"), ("fc", "cuba"), ("cuba", "out"),
             ("in1", "conv1"), ("conv1", "out1")]
    return sc.Graph(nodes, edges, sem, name="conv")


def test_conv_pool_flatten_graph_matches_contract():
    g = conv_graph()
    rng = np.random.default_rng(6)
    x = {"in": (rng.random((2, 25, 2, 7, 7)) < 0.3).astype(float),
         "in1": rng.normal(0, 1, (2, 25, 3, 10))}
    ref, res = assert_matches_reference(g, x, state_atol=1e-10)
    assert res.spikes["lif1"].sum() > 50 and res.spikes["cuba"].sum() > 0


def test_nested_graph_is_flattened_and_matches_contract():
    rng = np.random.default_rng(7)
    sem = sc.Semantics(dt=1e-3)
    inner = sc.Graph({"i": P.Input(np.array([3])), "lin": P.Linear(rng.normal(0, 2, (3, 3))),
                      "lif": _neuron("LIF", 3, rng), "o": P.Output(np.array([3]))},
                     [("i", "lin"), ("lin", "lif"), ("lif", "o")], None, name="inner")
    g = sc.Graph({"in": P.Input(np.array([3])), "sub": inner, "sub2": inner.copy(),
                  "out": P.Output(np.array([3]))},
                 [("in", "sub"), ("sub", "sub2", 1), ("sub2", "out")], sem, name="outer")
    m = sc.to_torch(g, dtype=torch.float64)
    assert "sub.lif" in m.names and "sub2.lif" in m.names
    x = rng.uniform(0, 80, (2, 40, 3))
    assert_matches_reference(g, x)


def test_nir_paper_lif_fixture_norse_dialect():
    folder = shared_fixture("nir_paper_lif", "lif_norse.nir").parent
    g = sc.read(folder / "lif_norse.nir", dialect="norse", dt=1e-4)
    data = np.loadtxt(folder / "lif_norse.csv", delimiter=",")
    assert data.shape == (1000, 3)
    res = sc.simulate(g, data[:, 0][:, None], backend="torch", record=("spikes", "v"))
    (lif,) = [n for n, v in g.nodes.items() if isinstance(v, P.LIF)]
    steps = np.flatnonzero(res.spikes[lif][0, :, 0])
    assert steps.tolist() == [460, 510, 710, 760]
    assert_close_arrays(res.traces[lif]["v"][0, :, 0], data[:, 1], 1e-6, "v vs Norse's csv")
    assert np.flatnonzero(data[:, 2]).tolist() == steps.tolist()
    ref = reference_run(g, {"input": data[:, 0][None, :, None]}, 1000)
    assert_same_spikes(ref, res)


# ================================================================= module behaviour
def test_module_state_continues_a_run_and_step_api_agrees():
    g = recurrent_graph(sc.Semantics(dt=1e-3))
    m = sc.to_torch(g, dtype=torch.float64)
    x = torch.as_tensor(np.random.default_rng(8).uniform(0, 60, (2, 30, 4)))
    torch.set_grad_enabled(False)
    try:
        _check_split_and_step(m, x)
    finally:
        torch.set_grad_enabled(True)


def _check_split_and_step(m, x):
    whole, _ = m(x, record=True)
    lif_whole = m.recording["lif"]["v"]
    first, st = m(x[:, :13])
    second, st = m(x[:, 13:], st)
    for k in whole:
        assert_close_arrays(torch.cat([first[k], second[k]], 1).numpy(), whole[k].numpy(),
                            1e-12, f"output {k} split run")
    # the pure per-step function, step by step
    state = m.init_state(2)
    params = m.prepare()
    vs = []
    for t in range(30):
        out, new_state = nb.graph_step(m, params, {"in": x[:, t]}, state)
        assert new_state is not state
        state = new_state
        vs.append(state["nodes"]["lif"][1])
    assert_close_arrays(torch.stack(vs, 1).numpy(), lif_whole.numpy(), 1e-12, "graph_step v")


def test_outputs_dict_for_several_outputs_and_recording_names():
    g = recurrent_graph(sc.Semantics(dt=1e-3))
    m = sc.to_torch(g)
    assert m.dtype == torch.float32 and next(m.parameters()).dtype == torch.float32
    out, state = m(torch.rand(1, 5, 4), record=("spikes", "lif:i"))
    assert set(out) == {"out", "spk"} and out["out"].shape == (1, 5, 12)
    assert set(m.recording["lif"]) == {"spikes", "i"}
    assert m.recording["thr"]["spikes"].shape == (1, 5, 12)  # static prefix is recorded too
    assert "proj" in m.static and "lif" in m.dynamic


def test_event_driven_path_matches_dense():
    g = recurrent_graph(sc.Semantics(dt=1e-3))
    x = np.random.default_rng(9).uniform(0, 60, (1, 50, 4))
    dense = sc.simulate(g, x, backend="torch", record=("spikes", "v"))
    events = sc.simulate(g, x, backend="torch", record=("spikes", "v"), event_driven=True)
    assert nb.to_torch(g, event_driven=True).op["w_rec"].event_driven
    assert_same_spikes(dense, events)
    assert_close_arrays(events.traces["lif"]["v"], dense.traces["lif"]["v"], 1e-12, "v")


def test_check_lists_every_unsupported_item_at_once(monkeypatch):
    g = conv_graph()
    g.nodes["conv"] = P.Conv2d(input_shape=None, weight=np.ones((4, 1, 3, 3)), stride=2,
                               padding="same", dilation=1, groups=2, bias=None)
    monkeypatch.delitem(nb.BUILDERS, P.SumPool2d)
    monkeypatch.delitem(nb.BUILDERS, P.Conv1d)
    backend = TorchBackend()
    problems = backend.check(g.flatten(), colour="blue")
    text = "\n".join(problems)
    assert "'sum' (SumPool2d): no lowering; supported: " in text
    assert "'conv1' (Conv1d): no lowering" in text
    assert "'conv' (Conv2d): padding='same' needs stride 1" in text
    assert "option(s) ['colour']" in text
    with pytest.raises(sc.UnsupportedError) as info:
        sc.to_torch(g)
    assert len(info.value.problems) == 3


def test_bad_user_input_raises_spikecore_errors():
    g = single_population("LIF", sc.Semantics(dt=1e-3))
    m = sc.to_torch(g)
    with pytest.raises(sc.InputError, match=r"expected \[batch, steps, 6\]"):
        m(torch.zeros(1, 4, 5))
    with pytest.raises(sc.SpikecoreError, match="unknown surrogate"):
        sc.to_torch(g, surrogate="nope")
    with pytest.raises(sc.SpikecoreError, match="unknown parameter name"):
        sc.to_torch(g, trainable=("tua",))
    with pytest.raises(sc.SpikecoreError, match="to_torch expects a spikecore.Graph"):
        sc.to_torch("graph.nir")
    with pytest.raises(sc.SpikecoreError, match="from_torch expects a module made by"):
        sc.from_torch(torch.nn.Linear(2, 2))


def test_backend_availability_and_supported_cover_every_primitive():
    b = TorchBackend()
    a = b.availability()
    assert a.available, a.reason
    assert "matched the contract" in a.reason
    assert set(b.supported()) == {t.__name__ for t in P.SPECS}


def test_float32_on_explicit_device_keeps_spikes_of_simple_graph():
    g = single_population("LIF", sc.Semantics(dt=1e-3))
    x = np.random.default_rng(10).uniform(0, 100, (1, 50, 6))
    r64 = sc.simulate(g, x, backend="torch")
    r32 = sc.simulate(g, x, backend="torch", dtype=torch.float32, device="cpu")
    assert r32.info["dtype"] == "torch.float32" and r32.info["device"] == "cpu"
    agreement = (r32.spikes["pop"] == r64.spikes["pop"]).mean()
    assert agreement > 0.95  # float32 rounding may move a spike near threshold


# ============================================================ Norse's own updates
def test_norse_lif_box_is_contract_euler_lif_with_r_1():
    from norse.torch.functional.lif_box import (
        LIFBoxFeedForwardState,
        LIFBoxParameters,
        lif_box_feed_forward_step,
    )

    n, dt, tau = 5, 1e-3, 0.01
    lif = P.LIF(tau=np.full(n, tau), r=np.ones(n), v_leak=np.full(n, 0.05),
                v_threshold=np.ones(n), v_reset=np.zeros(n))
    co = neuron_coefficients(lif, sc.Semantics(dt=dt))
    p = LIFBoxParameters(tau_mem_inv=torch.tensor(1 / tau, dtype=torch.float64),
                         v_leak=torch.tensor(0.05, dtype=torch.float64),
                         v_th=torch.tensor(1.0, dtype=torch.float64),
                         v_reset=torch.tensor(0.0, dtype=torch.float64))
    x = np.random.default_rng(11).uniform(0, 40, (60, n))
    s = LIFBoxFeedForwardState(v=torch.full((n,), 0.05, dtype=torch.float64))
    i = v = co.v_initial
    zs, zn = [], []
    for t in range(60):
        z, s = lif_box_feed_forward_step(torch.as_tensor(x[t]), s, p, dt=dt)
        zc, i, v = contract_step(co, i, v, x[t])
        zs.append(zc)
        zn.append(z.numpy() > 0)
        assert_close_arrays(s.v.numpy(), v, 1e-12, f"Norse lif_box v at step {t}")
    assert np.array_equal(np.array(zs), np.array(zn)) and np.array(zs).sum() > 5


def test_norse_cuba_lif_is_current_first_with_w_in_tau_syn_over_dt():
    """Norse adds the input to the current as a jump, then updates v with that current:
    the contract's Euler CubaLIF (current_first) with w_in = tau_syn/dt, r = 1."""
    from norse.torch.functional.lif import (
        LIFFeedForwardState,
        LIFParameters,
        lif_feed_forward_step,
    )

    n, dt, ts, tm = 4, 1e-3, 5e-3, 1e-2
    f64 = dict(dtype=torch.float64)
    p = LIFParameters(tau_syn_inv=torch.tensor(1 / ts, **f64),
                      tau_mem_inv=torch.tensor(1 / tm, **f64),
                      v_leak=torch.tensor(0.0, **f64), v_th=torch.tensor(1.0, **f64),
                      v_reset=torch.tensor(0.0, **f64))
    x = (np.random.default_rng(12).random((80, n)) < 0.3) * 0.8
    matched = P.CubaLIF(tau_syn=np.full(n, ts), tau_mem=np.full(n, tm), r=np.ones(n),
                        v_leak=np.zeros(n), v_threshold=np.ones(n), v_reset=np.zeros(n),
                        w_in=np.full(n, ts / dt))
    literal = P.CubaLIF(tau_syn=np.full(n, ts), tau_mem=np.full(n, tm), r=np.ones(n),
                        v_leak=np.zeros(n), v_threshold=np.ones(n), v_reset=np.zeros(n),
                        w_in=np.ones(n))

    def contract(node, order):
        co = neuron_coefficients(node, sc.Semantics(dt=dt, update_order=order))
        i = np.zeros(n)
        v = co.v_initial
        vs = []
        for t in range(80):
            _, i, v = contract_step(co, i, v, x[t])
            vs.append(v)
        return np.array(vs)

    s = LIFFeedForwardState(v=torch.zeros(n, **f64), i=torch.zeros(n, **f64))
    vn = []
    for t in range(80):
        _, s = lif_feed_forward_step(torch.as_tensor(x[t]), s, p, dt=dt)
        vn.append(s.v.numpy())
    vn = np.array(vn)
    assert vn.max() > 0.5
    assert_close_arrays(vn, contract(matched, "current_first"), 1e-12, "Norse vs contract")
    assert np.abs(vn - contract(matched, "voltage_first")).max() > 1e-3
    assert np.abs(vn - contract(literal, "current_first")).max() > 1e-2


# ============================================================ against Brian2
def test_against_brian2():
    """Brian2 is a core dependency and its backend part of spikecore: a backend that does
    not import, is unavailable or cannot lower this graph fails the test (never a skip)."""
    from spikecore.backends.base import get_backend

    avail = get_backend("brian2").availability()
    assert avail.available, f"Brian2 unavailable: {avail.reason} (fix: {avail.fix})"
    g = recurrent_graph(sc.Semantics(dt=1e-3))
    g = sc.Graph({k: v for k, v in g.nodes.items() if k not in ("delay",)},
                 [e for e in g.edges if "delay" not in (e.source, e.target)]
                 + [sc.Edge("lif", "scale", 2)], g.semantics, name="rec_b2")
    x = np.random.default_rng(13).uniform(0, 60, (1, 40, 4))
    rb = sc.simulate(g, x, backend="brian2", record=("spikes", "v"))
    rn = sc.simulate(g, x, backend="torch", record=("spikes", "v"))
    assert_same_spikes(rb, rn)
    assert_close_arrays(rn.traces["lif"]["v"], rb.traces["lif"]["v"], 1e-9, "lif v")


# ------------------------------------------------------------ inputs and devices
def _lif_chain() -> sc.Graph:
    n = 3
    lif = nir.LIF(tau=np.full(n, 0.01), r=np.ones(n), v_leak=np.zeros(n),
                  v_threshold=np.ones(n), v_reset=np.zeros(n))
    return sc.Graph({"i": nir.Input(np.array([n])), "a": lif, "o": nir.Output(np.array([n]))},
                    [("i", "a"), ("a", "o")], sc.Semantics(dt=1e-3))


@pytest.mark.parametrize("backend", ["torch", "brian2"])
def test_sparse_and_half_precision_tensors_are_accepted(backend: str) -> None:
    g = _lif_chain()
    x = torch.rand(2, 40, 3, dtype=torch.float64) * 60
    ref = sc.simulate(g, x.to(torch.bfloat16).double(), backend=backend)
    for t in (x.to(torch.bfloat16), x.to(torch.bfloat16).double().to_sparse()):
        got = sc.simulate(g, t, backend=backend)
        assert_same_spikes(ref, got)
    assert ref.spikes["a"].sum() > 0
    module = sc.to_torch(g)
    out, _ = module(x.to(torch.bfloat16).double().to_sparse())
    assert torch.equal(out, module(x.to(torch.bfloat16).double())[0])


@pytest.mark.parametrize("bad, phrase", [
    (lambda: torch.ones(1, 5, 3, device="meta"), "a meta tensor holds no data"),
    (lambda: torch.ones(1, 5, 3, dtype=torch.complex64), "complex values"),
])
def test_unusable_tensors_are_input_errors(bad, phrase: str) -> None:
    g = _lif_chain()
    for run in (lambda: sc.simulate(g, bad(), backend="torch"),
                lambda: sc.simulate(g, bad(), backend="brian2"),
                lambda: sc.to_torch(g)(bad())):
        with pytest.raises(sc.errors.InputError, match=phrase):
            run()


@pytest.mark.parametrize("device, phrase", [
    ("meta", "holds no data"), ("nonsense", "is not a torch device"),
    ("cuda:99", "CUDA"),
    ("xla", "not usable with this torch"),  # fuzz case torch:949755087 (raw RuntimeError)
])
def test_unusable_devices_are_input_errors(device: str, phrase: str) -> None:
    g = _lif_chain()
    with pytest.raises(sc.errors.InputError, match=phrase):
        sc.to_torch(g, device=device)
    with pytest.raises(sc.errors.InputError, match=phrase):
        sc.simulate(g, np.ones((1, 5, 3)), backend="torch", device=device)


def test_cuda_without_cuda_says_so() -> None:
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present: the refusal cannot be observed here")
    with pytest.raises(sc.errors.InputError, match="torch.cuda.is_available"):
        sc.to_torch(_lif_chain(), device="cuda")
