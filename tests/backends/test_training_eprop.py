"""e-prop: equal to BPTT where it is exact (no recurrence), and it learns."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from spikecore.backends.torch_eprop import EProp

import spikecore as sc
from spikecore import primitives as P
from spikecore.testing import assert_close_arrays


def rlif_graph(seed: int = 0, n_in: int = 5, n: int = 12, n_out: int = 2,
               recurrent: str = "random", reset: str = "to_value") -> sc.Graph:
    rng = np.random.default_rng(seed)
    sem = sc.Semantics(dt=1e-3, reset=reset)
    nodes = {
        "in": P.Input(np.array([n_in])),
        "w_in": P.Affine(weight=rng.normal(0.3, 1.0, (n, n_in)), bias=rng.normal(0, 0.1, n)),
        "hid": P.LIF(tau=rng.uniform(8e-3, 2e-2, n), r=np.full(n, 4.0),
                     v_leak=np.zeros(n), v_threshold=np.ones(n), v_reset=np.zeros(n)),
        "w_out": P.Affine(weight=rng.normal(0, 0.5, (n_out, n)), bias=np.zeros(n_out)),
        "ro": P.LI(tau=np.full(n_out, 2e-2), r=np.ones(n_out), v_leak=np.zeros(n_out)),
        "out": P.Output(np.array([n_out])),
    }
    edges = [("in", "w_in"), ("w_in", "hid"), ("hid", "w_out"), ("w_out", "ro"), ("ro", "out")]
    if recurrent != "none":
        w = rng.normal(0, 0.3, (n, n)) if recurrent == "random" else np.zeros((n, n))
        nodes["w_rec"] = P.Linear(weight=w)
        edges += [("hid", "w_rec", 1), ("w_rec", "hid")]
    return sc.Graph(nodes, edges, sem, name="rlif")


def _data(seed=1, batch=6, steps=30, n_in=5):
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (batch,), generator=g)
    rates = torch.tensor([[0.5, 0.5, 0.05, 0.05, 0.3], [0.05, 0.05, 0.5, 0.5, 0.3]])
    x = (torch.rand(batch, steps, n_in, generator=g) < rates[labels][:, None]).double()
    target = torch.nn.functional.one_hot(labels, 2).double()[:, None].expand(-1, steps, -1)
    return x, labels, target


def _bptt_loss(m, x, labels, target, loss):
    out, _ = m(x)
    if loss == "mse":
        return 0.5 * ((out - target) ** 2).sum() / x.shape[0]
    T = x.shape[1]
    return torch.nn.functional.cross_entropy(
        out.reshape(-1, out.shape[-1]), labels.repeat_interleave(T), reduction="sum"
    ) / x.shape[0]


@pytest.mark.parametrize("loss", ["ce", "mse"])
@pytest.mark.parametrize("recurrent,reset", [("none", "to_value"), ("zero", "to_value"),
                                             ("none", "subtract")])
def test_eprop_gradient_equals_bptt_without_recurrence(recurrent, reset, loss):
    g = rlif_graph(recurrent=recurrent, reset=reset)
    x, labels, target = _data()
    m_b = sc.to_torch(g, dtype=torch.float64, detach_reset=True, surrogate="superspike",
                      surrogate_scale=3.0)
    m_e = sc.to_torch(g, dtype=torch.float64, surrogate="superspike", surrogate_scale=3.0)
    _bptt_loss(m_b, x, labels, target, loss).backward()
    value = EProp(m_e).backward(x, labels if loss == "ce" else target, loss=loss)
    assert value == pytest.approx(float(_bptt_loss(m_b, x, labels, target, loss)), rel=1e-12)
    assert m_b.recording == {} and float(m_b.op["w_in"].weight.grad.abs().sum()) > 0
    names = ["w_in", "w_out"] + (["w_rec"] if recurrent == "zero" else [])
    for n in names:
        for attr in ("weight", "bias"):
            pb, pe = getattr(m_b.op[n], attr, None), getattr(m_e.op[n], attr, None)
            if not isinstance(pb, torch.nn.Parameter):
                continue
            scale = float(pb.grad.abs().max())
            assert scale > 0, f"{n}.{attr}: BPTT gradient is zero; the test needs spikes"
            assert_close_arrays(pe.grad.numpy(), pb.grad.numpy(), 1e-10 * scale,
                                f"e-prop vs BPTT d/d {n}.{attr}")


def test_eprop_differs_from_bptt_with_recurrence_but_points_the_same_way():
    g = rlif_graph(recurrent="random")
    x, labels, target = _data()
    m_b = sc.to_torch(g, dtype=torch.float64, detach_reset=True)
    m_e = sc.to_torch(g, dtype=torch.float64)
    _bptt_loss(m_b, x, labels, target, "ce").backward()
    EProp(m_e).backward(x, labels, loss="ce")
    gb, ge = m_b.op["w_rec"].weight.grad.flatten(), m_e.op["w_rec"].weight.grad.flatten()
    assert not torch.allclose(gb, ge, rtol=1e-6, atol=0)  # the e-prop approximation
    cos = float(gb @ ge / (gb.norm() * ge.norm()))
    assert cos > 0.5, cos


@pytest.mark.parametrize("feedback", ["symmetric", "random"])
def test_eprop_learns_a_two_class_task(feedback):
    torch.manual_seed(0)
    g = rlif_graph(seed=3, n=24)
    m = sc.to_torch(g, dtype=torch.float64, surrogate="triangle", surrogate_scale=1.0)
    rule = EProp(m, feedback=feedback, seed=1)
    opt = torch.optim.Adam(m.parameters(), lr=0.01)
    x, labels, _ = _data(seed=4, batch=32, steps=30)
    xt, lt, _ = _data(seed=5, batch=64, steps=30)

    def accuracy():
        with torch.no_grad():
            out, _ = m(xt)
        return float((out.mean(1).argmax(-1) == lt).double().mean())

    acc0 = accuracy()
    losses = []
    for _ in range(40):
        opt.zero_grad()
        losses.append(rule.backward(x, labels, loss="ce"))
        opt.step()
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:3]), losses
    assert accuracy() >= max(0.85, acc0), (acc0, accuracy())


def test_eprop_refuses_networks_it_cannot_train():
    g = rlif_graph()
    g.nodes["hid"] = P.CubaLIF(tau_syn=np.full(12, 5e-3), tau_mem=np.full(12, 1e-2),
                               r=np.ones(12), v_leak=np.zeros(12), v_threshold=np.ones(12),
                               v_reset=np.zeros(12), w_in=np.ones(12))
    with pytest.raises(sc.SpikecoreError, match="exactly one LIF population"):
        EProp(sc.to_torch(g))
    g2 = rlif_graph()
    g2.edges = [e for e in g2.edges if e.source != "ro"]
    g2.nodes.pop("out")
    g2.nodes["ro"] = P.Scale(scale=np.ones(2))
    g2.nodes["out"] = P.Output(np.array([2]))
    g2.edges.append(sc.Edge("ro", "out"))
    with pytest.raises(sc.SpikecoreError, match="LI readout"):
        EProp(sc.to_torch(g2))
