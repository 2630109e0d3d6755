"""Training through the torch lowering: surrogate gradients, BPTT, export back to NIR."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from contract_reference import contract_step
from spikecore.backends.torch.surrogate import SURROGATES, spike_function

import spikecore as sc
from spikecore import primitives as P
from spikecore.discrete import neuron_coefficients
from spikecore.testing import assert_close_arrays, assert_same_spikes


def _reference_module():
    """The numpy contract reference of test_torch.py, loaded by path (works whether or
    not tests/ is a package)."""
    spec = importlib.util.spec_from_file_location(
        "_norse_contract_reference", Path(__file__).with_name("test_torch.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# ================================================================ surrogates
def _expected_derivative(name: str, u: np.ndarray, s: float) -> np.ndarray:
    """The published pseudo-derivatives, written independently of the module."""
    if name == "superspike":
        return (1.0 + s * np.abs(u)) ** -2.0
    if name == "atan":
        return s / 2.0 / (1.0 + (math.pi / 2.0 * s * u) ** 2)
    if name == "sigmoid":
        sg = 1.0 / (1.0 + np.exp(-s * u))
        return s * sg * (1.0 - sg)
    if name == "triangle":
        return s * np.maximum(0.0, 1.0 - s * np.abs(u))
    raise KeyError(name)


@pytest.mark.parametrize("name", ["superspike", "atan", "sigmoid", "triangle"])
@pytest.mark.parametrize("scale", [0.5, 3.0, 25.0])
def test_surrogate_forward_is_the_step_and_backward_the_scaled_derivative(name, scale):
    u_np = np.concatenate([np.linspace(-2, 2, 41), [0.0, 1e-300, -1e-300]])
    u = torch.tensor(u_np, dtype=torch.float64, requires_grad=True)
    z = spike_function(name, scale)(u)
    assert z.detach().numpy().tolist() == (u_np > 0).astype(float).tolist()
    (g,) = torch.autograd.grad(z.sum(), u)
    assert_close_arrays(g.numpy(), _expected_derivative(name, u_np, scale), 1e-14,
                        f"{name} gradient at scale {scale}")
    assert_close_arrays(SURROGATES[name].derivative(u.detach(), scale).numpy(),
                        _expected_derivative(name, u_np, scale), 1e-14, f"{name} derivative")


def test_surrogate_scale_changes_the_gradient_and_defaults_apply():
    u = torch.tensor([0.3], dtype=torch.float64, requires_grad=True)
    grads = []
    for scale in (1.0, 10.0, None):
        (g,) = torch.autograd.grad(spike_function("superspike", scale)(u).sum(), u)
        grads.append(float(g))
    assert grads[0] == pytest.approx(1 / 1.3**2)
    assert grads[1] == pytest.approx(1 / 4.0**2)
    assert grads[2] == grads[1]  # default superspike scale is 10
    g = sc.Graph({"in": P.Input(np.array([1])),
                  "lif": P.LIF(tau=np.array([0.01]), r=np.ones(1), v_leak=np.zeros(1),
                               v_threshold=np.ones(1), v_reset=np.zeros(1)),
                  "out": P.Output(np.array([1]))}, [("in", "lif"), ("lif", "out")],
                 sc.Semantics(dt=1e-3))
    m = sc.to_torch(g, surrogate="atan", surrogate_scale=7.0)
    assert m.op["lif"].spike.surrogate == "atan" and m.op["lif"].spike.scale == 7.0


# ================================================================ BPTT
def small_recurrent(seed: int = 0, n_in: int = 5, n: int = 16, n_out: int = 2) -> sc.Graph:
    rng = np.random.default_rng(seed)
    sem = sc.Semantics(dt=1e-3)
    nodes = {
        "in": P.Input(np.array([n_in])),
        "w_in": P.Linear(weight=rng.normal(0.5, 1.0, (n, n_in))),
        "hid": P.CubaLIF(tau_syn=np.full(n, 5e-3), tau_mem=np.full(n, 1e-2), r=np.ones(n),
                         v_leak=np.zeros(n), v_threshold=np.ones(n), v_reset=np.zeros(n),
                         w_in=np.full(n, 5.0)),
        "w_rec": P.Linear(weight=rng.normal(0, 0.3, (n, n))),
        "w_out": P.Linear(weight=rng.normal(0, 0.3, (n_out, n))),
        "readout": P.LI(tau=np.full(n_out, 2e-2), r=np.ones(n_out), v_leak=np.zeros(n_out)),
        "out": P.Output(np.array([n_out])),
    }
    edges = [("in", "w_in"), ("w_in", "hid"), ("hid", "w_rec", 1), ("w_rec", "hid"),
             ("hid", "w_out"), ("w_out", "readout"), ("readout", "out")]
    return sc.Graph(nodes, edges, sem, name="small_recurrent")


def _task(seed: int = 1, batch: int = 16, steps: int = 40, n_in: int = 5):
    """Two classes of Poisson-like input: class k drives inputs with rate profile k."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (batch,), generator=g)
    rates = torch.tensor([[0.6, 0.6, 0.05, 0.05, 0.3], [0.05, 0.05, 0.6, 0.6, 0.3]])
    x = (torch.rand(batch, steps, n_in, generator=g) < rates[labels][:, None, :]).double()
    return x, labels


@pytest.mark.parametrize("surrogate", ["superspike", "atan"])
def test_bptt_loss_decreases_with_finite_nonzero_gradients(surrogate):
    torch.manual_seed(0)
    m = sc.to_torch(small_recurrent(), dtype=torch.float64, surrogate=surrogate,
                    trainable=("weight", "tau_mem", "v_threshold"))
    opt = torch.optim.Adam(m.parameters(), lr=0.02)
    x, y = _task()
    losses = []
    for it in range(25):
        out, _ = m(x)
        loss = torch.nn.functional.cross_entropy(out.mean(1) * 20.0, y)
        opt.zero_grad()
        loss.backward()
        if it == 0:
            for name, p in m.named_parameters():
                assert p.grad is not None, name
                assert torch.isfinite(p.grad).all(), name
                assert p.grad.abs().sum() > 0, f"{name} got a zero gradient"
        opt.step()
        losses.append(float(loss))
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:3]), losses


def test_bptt_gradient_matches_finite_differences_of_a_smooth_readout():
    """Through a non-spiking path (Linear -> LI), BPTT is the exact gradient."""
    rng = np.random.default_rng(2)
    g = sc.Graph({"in": P.Input(np.array([3])), "lin": P.Linear(rng.normal(0, 1, (2, 3))),
                  "li": P.CubaLI(tau_syn=np.full(2, 4e-3), tau_mem=np.full(2, 9e-3),
                                 r=np.ones(2), v_leak=np.zeros(2), w_in=np.ones(2)),
                  "out": P.Output(np.array([2]))},
                 [("in", "lin"), ("lin", "li"), ("li", "out")], sc.Semantics(dt=1e-3))
    m = sc.to_torch(g, dtype=torch.float64, trainable=("weight", "tau_syn"))
    x = torch.as_tensor(rng.normal(0, 1, (2, 20, 3)))

    def loss() -> torch.Tensor:
        out, _ = m(x)
        return (out**2).sum()

    loss().backward()
    w = m.op["lin"].weight
    tau = m.op["li"].tau_syn
    for p, idx in ((w, (1, 2)), (tau, (0,))):
        h = 1e-6 * max(1.0, abs(float(p[idx])))
        with torch.no_grad():
            p[idx] += h
            up = float(loss())
            p[idx] -= 2 * h
            down = float(loss())
            p[idx] += h
        assert float(p.grad[idx]) == pytest.approx((up - down) / (2 * h), rel=1e-5)


def test_trainable_neuron_parameters_keep_the_forward_pass_exact():
    """With tau/thresholds as parameters the forward pass still equals the contract."""
    sem = sc.Semantics(dt=1e-3, integrator="exact")
    rng = np.random.default_rng(3)
    n = 5
    node = P.CubaLIF(tau_syn=rng.uniform(2e-3, 8e-3, n), tau_mem=rng.uniform(8e-3, 2e-2, n),
                     r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n),
                     v_reset=np.zeros(n), w_in=np.full(n, 2.0))
    g = sc.Graph({"in": P.Input(np.array([n])), "pop": node, "out": P.Output(np.array([n]))},
                 [("in", "pop"), ("pop", "out")], sem)
    m = sc.to_torch(g, dtype=torch.float64, trainable="all")
    x = rng.uniform(0, 200, (1, 50, n))
    z, _ = m(torch.as_tensor(x), record=("v",))
    co = neuron_coefficients(node, sem)
    i, v = np.zeros(n), co.v_initial
    vs, zs = [], []
    for t in range(50):
        zz, i, v = contract_step(co, i, v, x[0, t])
        vs.append(v)
        zs.append(zz)
    assert np.array_equal(z.detach().numpy()[0] > 0, np.array(zs)) and np.sum(zs) > 5
    assert_close_arrays(m.recording["pop"]["v"].detach().numpy()[0], np.array(vs), 0.0, "v")


# ================================================================ export round trip
def test_train_export_write_read_simulate_gives_identical_spikes(tmp_path):
    torch.manual_seed(1)
    m = sc.to_torch(small_recurrent(seed=4), dtype=torch.float64,
                    trainable=("weight", "tau_mem", "tau_syn", "v_threshold", "v_leak"))
    taus = [p for n, p in m.named_parameters() if n.split(".")[-1].startswith("tau")]
    rest = [p for n, p in m.named_parameters() if not n.split(".")[-1].startswith("tau")]
    # time constants are in seconds: they need a step size of their own
    opt = torch.optim.Adam([{"params": rest, "lr": 0.05}, {"params": taus, "lr": 2e-4}])
    x, y = _task(seed=5, batch=8)
    for _ in range(5):
        out, _ = m(x)
        loss = torch.nn.functional.cross_entropy(out.mean(1) * 20.0, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    before = small_recurrent(seed=4)
    assert not np.allclose(m.op["w_in"].weight.detach().numpy(), before.nodes["w_in"].weight)
    assert not np.allclose(m.op["hid"].tau_mem.detach().numpy(), before.nodes["hid"].tau_mem)

    with torch.no_grad():
        out, _ = m(x, record=("spikes", "v"))
    trained_spikes = m.recording["hid"]["spikes"].numpy() > 0
    trained_v = m.recording["hid"]["v"].numpy()
    assert trained_spikes.sum() > 20

    exported = sc.from_torch(m)
    np.testing.assert_array_equal(exported.nodes["hid"].tau_mem,
                                  m.op["hid"].tau_mem.detach().numpy())
    path = sc.write(exported, tmp_path / "trained.nir")
    reloaded = sc.read(path)
    res = sc.simulate(reloaded, x.numpy(), backend="torch", record=("spikes", "v"))
    np.testing.assert_array_equal(res.spikes["hid"], trained_spikes)
    assert_close_arrays(res.traces["hid"]["v"], trained_v, 0.0, "hid v after reload")
    assert_close_arrays(res.outputs["out"], out.numpy(), 0.0, "readout after reload")
    # and the contract's numpy reference agrees with the reloaded file
    ref = _reference_module().reference_run(reloaded, {"in": x.numpy()}, x.shape[1])
    assert_same_spikes(ref, res)


def test_from_torch_keeps_nesting_and_gives_each_copy_its_values():
    rng = np.random.default_rng(6)
    inner = sc.Graph({"i": P.Input(np.array([2])), "lin": P.Linear(rng.normal(0, 1, (2, 2))),
                      "o": P.Output(np.array([2]))}, [("i", "lin"), ("lin", "o")], None,
                     name="inner")
    g = sc.Graph({"in": P.Input(np.array([2])), "a": inner, "b": inner,
                  "out": P.Output(np.array([2]))},
                 [("in", "a"), ("a", "b"), ("b", "out")], sc.Semantics(dt=1e-3))
    m = sc.to_torch(g, dtype=torch.float64)
    with torch.no_grad():
        m.op["a.lin"].weight.mul_(2.0)
    back = sc.from_torch(m)
    assert isinstance(back.nodes["a"], sc.Graph) and back.nodes["a"] is not back.nodes["b"]
    np.testing.assert_array_equal(back.nodes["a"].nodes["lin"].weight,
                                  2.0 * np.asarray(inner.nodes["lin"].weight))
    np.testing.assert_array_equal(back.nodes["b"].nodes["lin"].weight, inner.nodes["lin"].weight)
