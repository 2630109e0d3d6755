"""Surrogate gradients through the torch ops of CondLIF, Izhikevich and Morris-Lecar.

What is checked (float64 throughout):
* with gradients on, the forward pass equals the no-gradient pass bit for bit (spikes and
  every state trace), so the cross-backend contract is untouched;
* d(loss)/d(weight) of the Linear feeding each spiking type is finite and nonzero;
* MorrisLecarGraded (no spike: smooth ``s_inf(V)`` output): autograd equals central finite
  differences of a smooth loss to 1e-6 relative, and so does the current+conductance form;
* Morris-Lecar's crossing surrogate: no gradient reaches ``V[t]`` through a "spike" of a
  step whose ``V[t-1]`` was already above threshold;
* a few dozen Adam steps reduce a spike-count loss of each spiking type by a clear margin
  (the assertion is the relative drop, never a hard-coded loss value).
"""

from __future__ import annotations

import nir
import numpy as np
import pytest
import torch
from spikecore.backends.torch.module import to_torch

import spikecore as sc
from spikecore import extensions as X
from spikecore import primitives as P
from spikecore.testing import assert_close_arrays

N_IN = 4
N = 3


def _cond_lif(n_in: int = N_IN, n: int = N) -> sc.Graph:
    full = lambda v: np.full(n, float(v))  # noqa: E731
    node = X.CondLIF(tau_mem=full(20e-3), r=full(1.0), v_leak=full(-60e-3),
                     v_threshold=full(-50e-3), v_reset=full(-60e-3), tau_exc=full(5e-3),
                     tau_inh=full(10e-3), e_exc=full(0.0), e_inh=full(-80e-3))
    w = np.zeros((2 * n, n_in))
    w[:n] = np.random.default_rng(1).uniform(0.01, 0.02, (n, n_in))
    return sc.Graph({"in": P.Input(np.array([n_in])), "syn": nir.Linear(weight=w), "nrn": node,
                     "out": P.Output(np.array([n]))},
                    [("in", "syn"), ("syn", "nrn"), ("nrn", "out")],
                    sc.Semantics(dt=1e-3, integrator="exact"), name="cond_grad")


def _izhikevich(n_in: int = N_IN, n: int = N) -> sc.Graph:
    full = lambda v: np.full(n, float(v))  # noqa: E731
    node = X.Izhikevich(a=full(0.02), b=full(0.2), c=full(-65.0), d=full(8.0), v0=full(-65.0),
                        u0=full(-13.0))
    w = np.random.default_rng(2).uniform(1.0, 3.0, (n, n_in))
    return sc.Graph({"in": P.Input(np.array([n_in])), "syn": nir.Linear(weight=w), "nrn": node,
                     "out": P.Output(np.array([n]))},
                    [("in", "syn"), ("syn", "nrn"), ("nrn", "out")],
                    sc.Semantics(dt=1e-3), name="izh_grad")


def _morris_lecar(graded: bool = False, conductance: bool = False, n_in: int = N_IN,
                  n: int = N) -> sc.Graph:
    kind = X.ML_CONDUCTANCE if conductance else X.ML_CURRENT
    node = X.MorrisLecar.of_type("I", n, v0=-35.0, w0=0.0,
                                 e_syn=np.resize([0.0, -80.0, -20.0], n), input_kind=kind)
    if graded:
        node = X.MorrisLecarGraded(**node.fields())
    rng = np.random.default_rng(3)
    w = rng.uniform(8.0, 14.0, (n, n_in))
    if conductance:  # rows 0..n-1: current; rows n..2n-1: conductance (mS/cm^2)
        w = np.vstack([w, rng.uniform(0.0, 0.5, (n, n_in))])
    return sc.Graph({"in": P.Input(np.array([n_in])), "syn": nir.Linear(weight=w), "nrn": node,
                     "out": P.Output(np.array([n]))},
                    [("in", "syn"), ("syn", "nrn"), ("nrn", "out")],
                    sc.Semantics(dt=2e-4), name="ml_grad")


#: name -> (graph builder, steps, input level); inputs are uniform in [0, 2 * level).
CASES = {"cond": (_cond_lif, 150, 1.0), "izh": (_izhikevich, 150, 1.0),
         "ml": (_morris_lecar, 400, 1.0)}


def _input(name: str, seed: int = 0) -> torch.Tensor:
    _, steps, level = CASES[name]
    x = np.random.default_rng(seed).uniform(0.0, 2.0 * level, (2, steps, N_IN))
    return torch.as_tensor(x, dtype=torch.float64)


def _module(graph: sc.Graph, **kw) -> torch.nn.Module:
    return to_torch(graph, dtype=torch.float64, **kw)


# ------------------------------------------------------------------ forward unchanged
@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("detach_reset", [False, True])
def test_gradient_path_forward_equals_the_no_grad_forward_bit_for_bit(name: str,
                                                                       detach_reset: bool
                                                                       ) -> None:
    graph = CASES[name][0]()
    m = _module(graph, detach_reset=detach_reset)
    x = _input(name)
    states = P.SPECS[type(graph.nodes["nrn"])].states
    rec = ["nrn:spikes", *[f"nrn:{s}" for s in states]]
    with torch.no_grad():
        out0, _, rec0 = m.run(x, record=rec)
    out1, _, rec1 = m.run(x, record=rec)
    assert out1["out"].requires_grad  # the gradient path was taken
    assert rec0["nrn"]["spikes"].sum() > 0  # spikes happen, so resets are exercised
    for what in rec0["nrn"]:
        assert_close_arrays(rec1["nrn"][what].detach().numpy(), rec0["nrn"][what].numpy(), 0.0,
                            f"{name} nrn:{what}")


# ------------------------------------------------------------------ gradients exist
@pytest.mark.parametrize("name", sorted(CASES))
def test_weight_gradient_is_finite_and_nonzero(name: str) -> None:
    m = _module(CASES[name][0]())
    out, _ = m(_input(name))
    out.sum().backward()
    grad = m.op["syn"].weight.grad
    assert grad is not None and torch.all(torch.isfinite(grad))
    if name == "cond":  # only the excitatory rows carry input here
        grad = grad[:N]
    assert torch.all(grad.abs().sum(dim=1) > 0), grad  # every neuron's row gets gradient


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_configured_surrogate_reaches_the_op(name: str) -> None:
    """``surrogate="heaviside"`` (no pseudo-derivative) leaves the spikes without a
    gradient path; two surrogates give different gradients: the op uses the option."""
    x = _input(name)
    grads = {}
    for sur in ("heaviside", "superspike", "atan"):
        m = _module(CASES[name][0](), surrogate=sur)
        out, _ = m(x)
        if sur == "heaviside":
            assert not out.requires_grad
            continue
        out.sum().backward()
        grads[sur] = m.op["syn"].weight.grad
    assert not torch.equal(grads["superspike"], grads["atan"])


def test_morris_lecar_crossing_surrogate_is_gated_by_the_previous_voltage() -> None:
    """``z = spike(V[t] - thr) * 1[V[t-1] <= thr]``: a neuron held above threshold the
    whole run sends no gradient through its (absent) spikes."""
    graph = _morris_lecar(n=1)
    node = graph.nodes["nrn"]
    node.v0 = np.array([40.0])
    node.w0 = np.array([0.0])
    m = _module(graph)
    x = torch.full((1, 3, N_IN), 30.0, dtype=torch.float64)  # V stays > 0 for 3 steps
    out, _ = m(x)
    out.sum().backward()
    assert float(out.detach().sum()) == 0.0
    assert torch.all(m.op["syn"].weight.grad == 0)


# ------------------------------------------------------------------ finite differences
def _graded_loss(m, x, weight: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        m.op["syn"].weight.copy_(weight)
    out, _ = m(x)
    tgt = torch.linspace(0.0, 1.0, out.shape[1], dtype=torch.float64)[None, :, None]
    return ((out - tgt) ** 2).mean()


@pytest.mark.parametrize("conductance", [False, True], ids=["current", "conductance"])
def test_graded_morris_lecar_autograd_equals_central_differences(conductance: bool) -> None:
    """Neurons start depolarised (-10, -5, 0 mV) so that ``s_inf(V)`` sweeps its slope
    during the 40 ms run (a resting neuron's output is ~0 and its gradient ~1e-9 of the
    loss, below what differences resolve). ``eps = 1e-4`` on weights of order 10: the
    truncation error (``eps^2`` times a third derivative) and the rounding error
    (``1e-16 |loss| / eps``) both stay far below 1e-6 of each derivative."""
    graph = _morris_lecar(graded=True, conductance=conductance)
    graph.nodes["nrn"].v0 = np.array([-10.0, -5.0, 0.0])
    m = _module(graph)
    x = torch.as_tensor(np.random.default_rng(4).uniform(0.0, 2.0, (1, 200, N_IN)))
    w0 = m.op["syn"].weight.detach().clone()
    m.zero_grad()
    _graded_loss(m, x, w0).backward()
    auto = m.op["syn"].weight.grad.clone()
    eps = 1e-4
    fd = torch.zeros_like(w0)
    with torch.no_grad():
        for idx in np.ndindex(*w0.shape):
            wp, wm = w0.clone(), w0.clone()
            wp[idx] += eps
            wm[idx] -= eps
            fd[idx] = (_graded_loss(m, x, wp) - _graded_loss(m, x, wm)) / (2 * eps)
    assert torch.all(fd.abs() > 0)
    rel = ((auto - fd).abs() / fd.abs()).max()
    assert rel < 1e-6, f"max relative difference {float(rel):.3g}\nauto {auto}\nfd {fd}"


# ------------------------------------------------------------------ training
#: name -> (target spikes per neuron and batch element, Adam learning rate, iterations,
#: to_torch options). Izhikevich's v is in mV and jumps tens of mV per step near its
#: peak: the default superspike steepness (10 per unit of v - v_peak, made for
#: thresholds of order 1) leaves almost no gradient there, so it trains with 0.1 / mV.
#: Its BPTT gradients still spike (the quadratic upstroke multiplies them by up to ~20 per
#: step), hence the small number of iterations and a margin, not a convergence, test.
TRAINING = {"cond": (4.0, 0.001, 20, {}), "izh": (5.0, 0.3, 30, {"surrogate_scale": 0.1}),
            "ml": (3.0, 0.5, 20, {})}


@pytest.mark.parametrize("name", sorted(CASES))
def test_adam_reduces_a_spike_count_loss(name: str) -> None:
    target, lr, iters, opts = TRAINING[name]
    m = _module(CASES[name][0](), **opts)
    x = _input(name, seed=5)
    opt = torch.optim.Adam([m.op["syn"].weight], lr=lr)

    def loss_of(out: torch.Tensor) -> torch.Tensor:
        return ((out.sum(dim=1) - target) ** 2).mean()

    losses = []
    for _ in range(iters):
        opt.zero_grad()
        loss = loss_of(m(x)[0])
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    with torch.no_grad():
        final = float(loss_of(m(x)[0]))
    assert losses[0] >= 4.0, losses  # every neuron starts >= 2 spikes off target on average
    # The loss counts spikes (a few integer values) and the last iterate jumps between
    # them: the Izhikevich case ended at 1.33 or below 1.2 of 4.83 depending on the CPU's
    # rounding (its gradients grow ~20x per step). So the last five losses, averaged.
    tail = (sum(losses[-4:]) + final) / 5
    assert tail <= 0.25 * losses[0], losses + [final]
