"""spikecore.learning.networks: the LIF RNN is the contract's network (its graph gives
the same readout on the torch backend and the same spikes on Brian2), the rate RNN is
Marschall et al.'s eq. 1-2, the local derivatives are the cell's exact Jacobian."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from spikecore.models import rate_network

import spikecore as sc
from spikecore.errors import SpikecoreError
from spikecore.learning import LIFRNN, RateRNN


def _inputs(steps: int = 40, n_in: int = 3, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return 2.0 * (torch.rand(steps, n_in, generator=gen, dtype=torch.float64) < 0.4).double()


def _spikes(net: LIFRNN, xs: torch.Tensor) -> torch.Tensor:
    s, zs = net.initial_state(), []
    with torch.no_grad():
        for x in xs:
            s, _ = net.step(s, x)
            zs.append(s[1].clone())
    return torch.stack(zs)


@pytest.mark.parametrize("tau_adapt", [None, 50e-3])
@pytest.mark.parametrize("reset", ["to_value", "subtract"])
def test_lif_rnn_graph_on_torch_backend(reset, tau_adapt):
    """``to_graph`` lowered by ``to_torch`` (float64) gives the same readout, exactly
    (LIF, and ALIF with adaptation); ``from_graph`` reads it back unchanged."""
    net = LIFRNN(3, 8, 2, seed=1, semantics=sc.Semantics(dt=1e-3, reset=reset),
                 tau_adapt=tau_adapt, beta=1.0)
    xs = _inputs() * (2.0 if tau_adapt else 1.0)  # adaptation needs more drive to spike
    assert float(_spikes(net, xs).sum()) > 10
    graph = net.to_graph()
    assert type(graph.nodes["hidden"]).__name__ == ("ALIF" if tau_adapt else "LIF")
    out, _ = sc.to_torch(graph, dtype=torch.float64)(xs[None])
    back = LIFRNN.from_graph(graph)
    with torch.no_grad():
        assert torch.equal(out[0], net(xs))
        assert torch.equal(back(xs), net(xs))
    assert back.components == net.components


def test_lif_rnn_graph_spikes_on_brian2():
    """The contract's reference engine: Brian2 (numpy target) spikes where the online
    network spikes, step for step."""
    net = LIFRNN(3, 8, 2, seed=1)
    xs = _inputs()
    result = sc.simulate(net.to_graph(), xs.numpy(), backend="brian2", record=("spikes",),
                         codegen_target="numpy")
    np.testing.assert_array_equal(np.asarray(result.spikes["hidden"][0], dtype=float),
                                  _spikes(net, xs).numpy())


def test_to_graph_needs_euler():
    net = LIFRNN(2, 4, 1, semantics=sc.Semantics(dt=1e-3, integrator="exact"))
    with pytest.raises(SpikecoreError, match="integrator='euler'"):
        net.to_graph()


def test_rate_rnn_is_marschall_eq_1():
    net = RateRNN(2, 5, 1, alpha=0.25, seed=3)
    xs = torch.randn(6, 2, dtype=torch.float64)
    h = torch.zeros(5, dtype=torch.float64)
    with torch.no_grad():
        ys = net(xs)
        for t, x in enumerate(xs):
            h = 0.75 * h + 0.25 * torch.tanh(net.w_rec @ h + net.w_in @ x + net.b)
            assert torch.allclose(ys[t], net.w_out @ h + net.b_out, rtol=0, atol=1e-15)
    with pytest.raises(SpikecoreError, match="alpha"):
        RateRNN(1, 2, 1, alpha=1.5)


@pytest.mark.parametrize("make", [lambda: RateRNN(2, 6, 1, alpha=0.5, seed=2),
                                  lambda: LIFRNN(2, 6, 1, seed=2)])
def test_local_derivatives_are_the_cell_jacobian(make):
    """``L`` and ``D`` (autograd of sums; the rate RNN's closed form) equal the diagonal
    of the full Jacobian of the cell to rounding, and its off-diagonal is zero (the
    cell is elementwise)."""
    net = make()
    gen = torch.Generator().manual_seed(1)
    s = net.initial_state() + 0.5 * torch.rand(net.initial_state().shape, generator=gen,
                                               dtype=torch.float64)
    u = torch.randn(net.n, generator=gen, dtype=torch.float64)
    _, L, D = net.local_derivatives(s, u)
    Js, Ju = torch.autograd.functional.jacobian(lambda s_, u_: net.cell(s_, u_), (s, u))
    idx = torch.arange(net.n)
    C = net.components
    for c1 in range(C):
        torch.testing.assert_close(Ju[c1, idx, idx], D[c1], rtol=1e-15, atol=0)
        assert float((Ju[c1] - torch.diag(torch.diagonal(Ju[c1]))).abs().max()) == 0.0
        for c0 in range(C):
            torch.testing.assert_close(Js[c1, idx, c0, idx], L[c1, c0], rtol=1e-15, atol=0)
            block = Js[c1, :, c0, :]
            assert float((block - torch.diag(torch.diagonal(block))).abs().max()) == 0.0


def _graph(readout_tau: float = 1e-3, recurrent: bool = True, seed: int = 0) -> sc.Graph:
    """A recurrent LIF graph as users write it (per-neuron tau, r = 4, Affine input with
    bias, Linear recurrence with the delay on the second edge)."""
    rng = np.random.default_rng(seed)
    n, n_in, n_out = 10, 4, 2
    nodes = {
        "in": sc.primitives.Input(np.array([n_in])),
        "w_in": sc.primitives.Affine(weight=rng.normal(0.3, 1.0, (n, n_in)),
                                     bias=rng.normal(0, 0.1, n)),
        "hid": sc.primitives.LIF(tau=rng.uniform(8e-3, 2e-2, n), r=np.full(n, 4.0),
                                 v_leak=np.zeros(n), v_threshold=np.ones(n),
                                 v_reset=np.zeros(n)),
        "w_out": sc.primitives.Affine(weight=rng.normal(0, 0.5, (n_out, n)),
                                      bias=rng.normal(0, 0.1, n_out)),
        "ro": sc.primitives.LI(tau=np.full(n_out, readout_tau), r=np.ones(n_out),
                               v_leak=np.zeros(n_out)),
        "out": sc.primitives.Output(np.array([n_out])),
    }
    edges = [("in", "w_in"), ("w_in", "hid"), ("hid", "w_out"), ("w_out", "ro"), ("ro", "out")]
    if recurrent:
        nodes["w_rec"] = sc.primitives.Linear(weight=rng.normal(0, 0.5, (n, n)))
        edges += [("hid", "w_rec"), ("w_rec", "hid", 1)]
    return sc.Graph(nodes, edges, sc.Semantics(dt=1e-3), name="rlif")


def test_from_graph_rtrl_equals_bptt_through_to_torch():
    """A graph written by hand: ``LIFRNN.from_graph`` and exact RTRL give the gradient
    BPTT computes through the torch backend's own module (``to_torch``, float64, the
    same surrogate), parameter by parameter."""
    from spikecore.learning import RTRL, rule_gradients

    g = _graph()
    net = LIFRNN.from_graph(g)
    xs = _inputs(40, 4, seed=2)
    ys = torch.randn(40, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    module = sc.to_torch(g, dtype=torch.float64)
    out, _ = module(xs[None])
    (0.5 * ((out[0] - ys) ** 2).sum()).backward()
    p = dict(module.named_parameters())
    ref = {"w_in": p["ops.node_w_in.weight"].grad, "b": p["ops.node_w_in.bias"].grad,
           "w_rec": p["ops.node_w_rec.weight"].grad, "w_out": p["ops.node_w_out.weight"].grad,
           "b_out": p["ops.node_w_out.bias"].grad}
    assert float(_spikes(net, xs).sum()) > 20
    assert float(ref["w_rec"].abs().max()) > 1e-3
    from spikecore.learning import assert_gradients_close
    assert_gradients_close(rule_gradients(RTRL(net), xs, ys), ref, 1e-10)


def test_from_graph_round_trip_and_refusals():
    net = LIFRNN(3, 8, 2, seed=1, semantics=sc.Semantics(dt=1e-3, reset="subtract"))
    back = LIFRNN.from_graph(net.to_graph())
    assert back.semantics == net.semantics
    for k, v in net.state_dict().items():
        assert torch.equal(v, back.state_dict()[k]), k
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the static readout's tau = dt is not warned about
        no_rec = LIFRNN.from_graph(_graph(recurrent=False))
    fast = _graph()
    fast.nodes["hid"].tau[:] = 1e-3  # the hidden layer's tau = dt still is
    with pytest.warns(sc.GraphWarning, match="node 'hid'"):
        LIFRNN.from_graph(fast)
    assert float(no_rec.w_rec.detach().abs().max()) == 0.0
    with pytest.raises(SpikecoreError, match="'ro' \\(LI\\) is not static"):
        LIFRNN.from_graph(_graph(readout_tau=2e-2))
    with pytest.raises(SpikecoreError, match="exactly one LIF or ALIF population, found 0"):
        LIFRNN.from_graph(rate_network(np.eye(3), with_input=True))
