"""e-prop on a to_torch module (spikecore.learning.graph_eprop): equal to BPTT where it is
exact (no recurrence), it learns; the shared interface (online steps, accumulation into
.grad, errors) and the old import path."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import spikecore as sc
from spikecore import primitives as P
from spikecore.extensions import ALIF
from spikecore.learning import EProp
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


def alif_graph(seed: int = 0, n: int = 12, recurrent: str = "random", reset: str = "to_value",
               beta: float = 0.5) -> sc.Graph:
    """``rlif_graph`` with an ALIF hidden layer (an LSNN): tau_adapt 50-200 ms."""
    g = rlif_graph(seed=seed, n=n, recurrent=recurrent, reset=reset)
    h = g.nodes["hid"]
    rng = np.random.default_rng(seed + 100)
    g.nodes["hid"] = ALIF(tau=h.tau, r=h.r, v_leak=h.v_leak, v_threshold=h.v_threshold,
                          v_reset=h.v_reset, tau_adapt=rng.uniform(5e-2, 2e-1, n),
                          beta=np.full(n, beta))
    return g


def _data(seed=1, batch=6, steps=30, n_in=5):
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (batch,), generator=g)
    rates = torch.tensor([[0.5, 0.5, 0.05, 0.05, 0.3], [0.05, 0.05, 0.5, 0.5, 0.3]])
    x = (torch.rand(batch, steps, n_in, generator=g) < rates[labels][:, None]).double()
    target = torch.nn.functional.one_hot(labels, 2).double()[:, None].expand(-1, steps, -1)
    return x, labels, target


def _bptt_loss(m, x, labels, target, loss, mask=None):
    out, _ = m(x)
    w = torch.ones(x.shape[:2], dtype=out.dtype) if mask is None else mask.expand(x.shape[0], -1)
    if loss == "mse":
        return 0.5 * (((out - target) ** 2).sum(-1) * w).sum() / x.shape[0]
    T = x.shape[1]
    return (torch.nn.functional.cross_entropy(
        out.reshape(-1, out.shape[-1]), labels.repeat_interleave(T), reduction="none"
    ) * w.reshape(-1)).sum() / x.shape[0]


def _assert_grads_equal(m_b, m_e, names, rel=1e-10):
    """e-prop's ``.grad`` equals BPTT's to ``rel`` times the largest BPTT entry."""
    for n in names:
        for attr in ("weight", "bias"):
            pb, pe = getattr(m_b.op[n], attr, None), getattr(m_e.op[n], attr, None)
            if not isinstance(pb, torch.nn.Parameter):
                continue
            scale = float(pb.grad.abs().max())
            assert scale > 0, f"{n}.{attr}: BPTT gradient is zero; the test needs spikes"
            assert_close_arrays(pe.grad.numpy(), pb.grad.numpy(), rel * scale,
                                f"e-prop vs BPTT d/d {n}.{attr}")


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
    assert value == pytest.approx(_bptt_loss(m_b, x, labels, target, loss).item(), rel=1e-12)
    assert m_b.recording == {} and float(m_b.op["w_in"].weight.grad.abs().sum()) > 0
    _assert_grads_equal(m_b, m_e, ["w_in", "w_out"] + (["w_rec"] if recurrent == "zero" else []))


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
    with pytest.raises(sc.SpikecoreError, match="exactly one LIF or ALIF population"):
        EProp(sc.to_torch(g))
    g2 = rlif_graph()
    g2.edges = [e for e in g2.edges if e.source != "ro"]
    g2.nodes.pop("out")
    g2.nodes["ro"] = P.Scale(scale=np.ones(2))
    g2.nodes["out"] = P.Output(np.array([2]))
    g2.edges.append(sc.Edge("ro", "out"))
    with pytest.raises(sc.SpikecoreError, match="LI readout"):
        EProp(sc.to_torch(g2))


# ------------------------------------------------------------------ ALIF (LSNN) e-prop
# BPTT reference: to_torch(detach_reset=True) stops exactly one path, the reset's
# dependence on the spike (d v[t] / d z[t]); the adaptation loop z[t] -> a[t] ->
# threshold[t+1] stays, in BPTT and in e-prop (its eligibility ea, the paper's eps^a).
_SUR = dict(dtype=torch.float64, surrogate="superspike", surrogate_scale=3.0)


@pytest.mark.parametrize("loss", ["ce", "mse"])
@pytest.mark.parametrize("recurrent,reset", [("none", "to_value"), ("zero", "to_value"),
                                             ("none", "subtract")])
def test_eprop_alif_gradient_equals_bptt_without_recurrence(recurrent, reset, loss):
    g = alif_graph(recurrent=recurrent, reset=reset)
    x, labels, target = _data(steps=60)
    tgt = labels if loss == "ce" else target
    m_b = sc.to_torch(g, detach_reset=True, **_SUR)
    m_e = sc.to_torch(g, **_SUR)
    _bptt_loss(m_b, x, labels, target, loss).backward()
    value = EProp(m_e).backward(x, tgt, loss=loss)
    assert value == pytest.approx(_bptt_loss(m_b, x, labels, target, loss).item(), rel=1e-12)
    _assert_grads_equal(m_b, m_e, ["w_in", "w_out"] + (["w_rec"] if recurrent == "zero" else []))
    # the adaptation eligibility carries part of it (spikes did raise thresholds):
    # without ea, e-prop is off by more than 1 % of the largest entry
    m_n = sc.to_torch(g, **_SUR)
    EProp(m_n, adaptation_trace=False).backward(x, tgt, loss=loss)
    gb, gn = m_b.op["w_in"].weight.grad, m_n.op["w_in"].weight.grad
    assert float((gn - gb).abs().max()) > 1e-2 * float(gb.abs().max())


def test_eprop_alif_mask_weights_the_loss_per_step():
    g = alif_graph(recurrent="none")
    x, labels, target = _data(steps=40)
    mask = (torch.arange(40) >= 25).double()
    m_b = sc.to_torch(g, detach_reset=True, **_SUR)
    m_e = sc.to_torch(g, **_SUR)
    _bptt_loss(m_b, x, labels, target, "ce", mask).backward()
    value = EProp(m_e).backward(x, labels, loss="ce", mask=mask)
    assert value == pytest.approx(_bptt_loss(m_b, x, labels, target, "ce", mask).item(),
                                  rel=1e-12)
    _assert_grads_equal(m_b, m_e, ["w_in", "w_out"])
    with pytest.raises(sc.SpikecoreError, match="mask"):
        EProp(m_e).backward(x, labels, loss="ce", mask=torch.ones(39))


@pytest.mark.parametrize("reset", ["to_value", "subtract"])
def test_eprop_alif_with_recurrence_points_like_bptt(reset):
    g = alif_graph(recurrent="random", reset=reset)
    x, labels, _ = _data(steps=60)
    m_b = sc.to_torch(g, detach_reset=True, **_SUR)
    m_e = sc.to_torch(g, **_SUR)
    _bptt_loss(m_b, x, labels, None, "ce").backward()
    EProp(m_e).backward(x, labels, loss="ce")
    for n in ("w_rec", "w_in"):
        gb = m_b.op[n].weight.grad.flatten()
        ge = m_e.op[n].weight.grad.flatten()
        assert not torch.allclose(gb, ge, rtol=1e-6, atol=0)  # the e-prop approximation
        cos = float(gb @ ge / (gb.norm() * ge.norm()))
        assert cos > 0.95, (n, cos)  # measured 0.992 - 0.996


# delayed recall: a cue (10 steps) on channel 0 or 1, an 80-step delay (8 tau_mem, also
# 8 times the readout's tau) with only sparse background input, then a recall cue (20
# steps, channel 2); the class must be read out in the recall window. Only the threshold
# adaptation (tau_adapt = 500 ms) can carry the cue across the delay.
_CUE, _DELAY, _RECALL = 10, 80, 20


def recall_graph(hidden: str, seed: int = 0, n: int = 40) -> sc.Graph:
    rng = np.random.default_rng(seed)
    tau = np.full(n, 1e-2)
    common = dict(tau=tau, r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n),
                  v_reset=np.zeros(n))
    hid = ALIF(**common, tau_adapt=np.full(n, 0.5), beta=np.ones(n)) if hidden == "alif" \
        else P.LIF(**common)
    nodes = {
        "in": P.Input(np.array([4])),
        "w_in": P.Affine(weight=rng.normal(0, 3.0, (n, 4)), bias=np.zeros(n)),
        "hid": hid,
        "w_out": P.Affine(weight=rng.normal(0, 0.3, (2, n)), bias=np.zeros(2)),
        "ro": P.LI(tau=np.full(2, 1e-2), r=np.full(2, 20.0), v_leak=np.zeros(2)),
        "out": P.Output(np.array([2])),
    }
    edges = [("in", "w_in"), ("w_in", "hid"), ("hid", "w_out"), ("w_out", "ro"), ("ro", "out")]
    return sc.Graph(nodes, edges, sc.Semantics(dt=1e-3, reset="subtract"), name="recall")


def _recall_data(seed, batch):
    g = torch.Generator().manual_seed(seed)
    steps = _CUE + _DELAY + _RECALL
    labels = torch.randint(0, 2, (batch,), generator=g)
    r = torch.rand(batch, steps, 4, generator=g, dtype=torch.float64)
    x = torch.zeros(batch, steps, 4, dtype=torch.float64)
    cue = (r[:, :_CUE, :2] < 0.5).double()
    cue[torch.arange(batch), :, 1 - labels] = 0.0  # only the label's channel
    x[:, :_CUE, :2] = cue
    x[:, _CUE + _DELAY:, 2] = (r[:, _CUE + _DELAY:, 2] < 0.5).double()
    x[:, :, 3] = (r[:, :, 3] < 0.05).double()
    return x, labels


def _train_recall(hidden, iters=80):
    torch.manual_seed(0)
    m = sc.to_torch(recall_graph(hidden), dtype=torch.float64, surrogate="triangle",
                    surrogate_scale=1.0)
    rule = EProp(m)
    opt = torch.optim.Adam(m.parameters(), lr=0.005)
    mask = (torch.arange(_CUE + _DELAY + _RECALL) >= _CUE + _DELAY).double()
    for it in range(iters):
        x, labels = _recall_data(it, 32)
        opt.zero_grad()
        rule.backward(x, labels, loss="ce", mask=mask)
        opt.step()
    xt, lt = _recall_data(999, 200)
    with torch.no_grad():
        out, _ = m(xt)
    return float((out[:, _CUE + _DELAY:].mean(1).argmax(-1) == lt).double().mean())


def test_eprop_alif_learns_delayed_recall_where_lif_cannot():
    acc_alif = _train_recall("alif")
    acc_lif = _train_recall("lif")  # control: the same network without adaptation
    assert acc_alif >= 0.8, (acc_alif, acc_lif)  # measured 0.965 (chance 0.5)
    assert acc_lif <= 0.65, (acc_alif, acc_lif)  # measured 0.475: the task needs memory


@pytest.mark.parametrize("w_rec_scale", [0.0, 1.0])
def test_eprop_trains_the_lsnn_model(w_rec_scale):
    """``models.networks.lsnn`` (LIF and ALIF neurons in one ALIF node, beta = 0 for the
    LIF ones, v_th = 0.01): exact without recurrence, close to BPTT with it."""
    from spikecore.models.networks import lsnn

    g = lsnn(n_in=6, n_lif=8, n_alif=8, w_rec_scale=w_rec_scale, seed=1)
    gen = torch.Generator().manual_seed(0)
    x = (torch.rand(4, 80, 6, generator=gen) < 0.1).double()
    labels = torch.tensor([0, 1, 0, 1])
    kw = dict(dtype=torch.float64, surrogate="triangle", surrogate_scale=1.0)
    m_b = sc.to_torch(g, detach_reset=True, **kw)
    m_e = sc.to_torch(g, **kw)
    _bptt_loss(m_b, x, labels, None, "ce").backward()
    EProp(m_e).backward(x, labels, loss="ce")
    if w_rec_scale == 0.0:
        _assert_grads_equal(m_b, m_e, ["w_in", "w_rec", "w_out"])
        return
    for n in ("w_in", "w_rec"):
        gb = m_b.op[n].weight.grad.flatten()
        ge = m_e.op[n].weight.grad.flatten()
        cos = float(gb @ ge / (gb.norm() * ge.norm()))
        assert 0.95 < cos < 1 - 1e-6, (n, cos)  # measured 0.994


# ------------------------------------------------------------------ the shared interface
def test_eprop_of_a_module_is_the_graph_rule_with_the_shared_interface():
    """``spikecore.learning.EProp(module)`` is the graph rule; stepping it online over a
    sequence adds what ``run`` adds; ``.grad`` accumulates (as ``loss.backward()``);
    the carried memory does not grow with the steps."""
    from spikecore.learning import GraphEProp, Rule

    m = sc.to_torch(alif_graph(), dtype=torch.float64, surrogate="superspike",
                    surrogate_scale=3.0)
    rule = EProp(m, loss="ce")
    assert isinstance(rule, GraphEProp) and isinstance(rule, Rule)
    x, labels, _ = _data(batch=4, steps=20)
    total = rule.run(x, labels)
    whole = {k: p.grad.clone() for k, p in m.named_parameters()}
    assert total > 0 and all(float(g.abs().sum()) > 0 for g in whole.values())
    m.zero_grad(set_to_none=True)
    rule.reset()
    memory = []
    online = 0.0
    for t in range(20):
        online += rule.step(x[:, t], labels)
        memory.append(rule.memory_floats())
    assert abs(online - total) <= 1e-12 * total
    assert len(set(memory)) == 1 and memory[0] > 0
    for k, p in m.named_parameters():
        scale = 1e-12 * float(whole[k].abs().max())
        assert_close_arrays(p.grad.numpy(), whole[k].numpy(), scale, what=k)
    rule.run(x, labels)  # no zero_grad: the second estimate is added
    for k, p in m.named_parameters():
        assert_close_arrays(p.grad.numpy(), 2 * whole[k].numpy(),
                            1e-12 * float(whole[k].abs().max()), what=k)


def test_eprop_step_errors_name_what_was_expected():
    m = sc.to_torch(rlif_graph(), dtype=torch.float64)
    rule = EProp(m)
    with pytest.raises(sc.SpikecoreError, match=r"expected \[batch, 5\]"):
        rule.step(torch.zeros(2, 3))
    rule.step(torch.zeros(2, 5))
    with pytest.raises(sc.SpikecoreError, match="call reset"):
        rule.step(torch.zeros(3, 5))
    with pytest.raises(sc.SpikecoreError, match=r"mse target of a step.*\[2, 2\]"):
        rule.step(torch.zeros(2, 5), torch.zeros(2, 3))
    with pytest.raises(sc.SpikecoreError, match="loss='hinge'"):
        rule.step(torch.zeros(2, 5), torch.zeros(2, 2), loss="hinge")
    with pytest.raises(sc.SpikecoreError, match="options by name"):
        EProp(m, 3)
    with pytest.raises(sc.SpikecoreError, match=r"is not static(.|\n)*EProp\(sc.to_torch"):
        EProp(rlif_graph())  # a Graph whose LI readout leaks: the graph rule's form


def test_old_import_path_warns_and_gives_the_same_rule():
    import importlib

    old = importlib.import_module("spikecore.backends.torch.eprop")
    with pytest.warns(DeprecationWarning, match="moved to spikecore.learning"):
        cls = old.EProp
    from spikecore.learning import GraphEProp

    assert cls is GraphEProp
