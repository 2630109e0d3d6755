"""spikecore.learning.networks: the LIF RNN is the contract's network (its graph gives
the same readout on the torch backend and the same spikes on Brian2), the rate RNN is
Marschall et al.'s eq. 1-2, the local derivatives are the cell's exact Jacobian."""

from __future__ import annotations

import numpy as np
import pytest
import torch

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


@pytest.mark.parametrize("reset", ["to_value", "subtract"])
def test_lif_rnn_graph_on_torch_backend(reset):
    """``to_graph`` lowered by ``to_torch`` (float64) gives the same readout, exactly."""
    net = LIFRNN(3, 8, 2, seed=1, semantics=sc.Semantics(dt=1e-3, reset=reset))
    xs = _inputs()
    assert float(_spikes(net, xs).sum()) > 10
    out, _ = sc.to_torch(net.to_graph(), dtype=torch.float64)(xs[None])
    with torch.no_grad():
        assert torch.equal(out[0], net(xs))


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
