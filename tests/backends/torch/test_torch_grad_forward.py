"""Training does not change the forward pass: with autograd on (surrogate spikes,
arithmetic resets) every NIR neuron gives the no-autograd spikes and states bit for bit,
for a nonzero ``v_reset`` under both reset modes, and the states equal the numpy
contract's. A gradient-path reset that drops ``v_reset`` (``(1 - z) v`` instead of
``(1 - z) v + z v_reset``) or subtracts the wrong amount fails here.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from contract_reference import contract_step

import spikecore as sc
from spikecore import primitives as P
from spikecore.discrete import neuron_coefficients
from spikecore.testing import assert_close_arrays

N, STEPS = 4, 60
V_RESET = -0.3   # nonzero, below rest: a dropped v_reset leaves v at 0 instead
V_TH = 0.7


def _neuron(kind: str) -> P.NIRNode:
    n = np.ones(N)
    common = dict(v_threshold=V_TH * n, v_reset=V_RESET * n)
    if kind == "IF":
        return P.IF(r=50.0 * n, **common)
    if kind == "LIF":
        return P.LIF(tau=0.02 * n, r=n, v_leak=0.1 * n, **common)
    return P.CubaLIF(tau_syn=0.005 * n, tau_mem=0.02 * n, r=n, v_leak=0.1 * n, w_in=n,
                     **common)


def _graph(kind: str, reset: str, integrator: str) -> sc.Graph:
    rng = np.random.default_rng(11)
    w = rng.uniform(0.5, 2.0, (N, 3))
    sem = sc.Semantics(dt=1e-3, reset=reset, integrator=integrator)
    return sc.Graph({"in": P.Input(np.array([3])), "w": P.Linear(weight=w), "n": _neuron(kind),
                     "out": P.Output(np.array([N]))},
                    [("in", "w"), ("w", "n"), ("n", "out")], sem, name=f"grad-{kind}")


def _input() -> np.ndarray:
    return np.random.default_rng(5).uniform(0.0, 3.0, (2, STEPS, 3))


@pytest.mark.parametrize("integrator", ["euler", "exact"])
@pytest.mark.parametrize("reset", ["to_value", "subtract"])
@pytest.mark.parametrize("kind", ["IF", "LIF", "CubaLIF"])
def test_autograd_forward_equals_no_grad_forward_and_the_contract(kind, reset, integrator):
    g = _graph(kind, reset, integrator)
    m = sc.to_torch(g, dtype=torch.float64, trainable="all")
    x = torch.as_tensor(_input())
    states = P.SPECS[type(g.nodes["n"])].states
    rec = ["n:spikes", *[f"n:{s}" for s in states]]
    with torch.no_grad():
        _, _, plain = m.run(x, record=rec)
    out, _, graded = m.run(x, record=rec)
    assert out["out"].requires_grad, "the autograd path was not taken"
    assert plain["n"]["spikes"].sum() > 5, "too few spikes to exercise the reset"
    for what in plain["n"]:
        assert_close_arrays(graded["n"][what].detach().numpy(), plain["n"][what].numpy(), 0.0,
                            f"{kind}/{reset}/{integrator} n:{what} (autograd vs no_grad)")
    # and both are the numpy contract's (independent of the torch module's code path)
    co = neuron_coefficients(g.nodes["n"], g.semantics, (N,))
    drive = _input() @ g.nodes["w"].weight.T
    i = np.zeros((2, N))
    v = np.broadcast_to(co.v_initial, (2, N)).copy()
    for t in range(STEPS):
        z, i, v = contract_step(co, i, v, drive[:, t])
        assert np.array_equal(z, plain["n"]["spikes"][:, t].numpy().astype(bool)), (kind, t)
        assert_close_arrays(plain["n"]["v"][:, t].numpy(), v, 1e-12,
                            f"{kind}/{reset}/{integrator} v[{t}] vs contract")
    fired = plain["n"]["spikes"].numpy().astype(bool)
    if reset == "to_value":  # the reset value is really v_reset after every spike
        assert np.all(plain["n"]["v"].numpy()[fired] == V_RESET)
