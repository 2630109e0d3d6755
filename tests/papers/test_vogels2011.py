"""Paper check: inhibitory STDP of Vogels, Sprekeler, Zenke, Clopath & Gerstner (2011,
Science 334:1569) restores a target rate.

Four LIF neurons (tau 20 ms, threshold 1) driven by 40 excitatory Poisson inputs (10 Hz,
fixed weights 3-5: ~52 Hz without inhibition) and 100 inhibitory Poisson inputs (10 Hz)
through a ``VogelsLinear`` starting at zero (``tau_stdp`` 20 ms, ``eta`` 0.3, sent through
``Scale(-1)``). The rule's fixed point for uncorrelated spikes is ``nu_post = rho0``
(mean weight drift ``eta tau nu_pre (2 nu_post - 2 rho0)``); in this small network the
rate settles near it within ~1 s. Checks: the rate after the transient lies within 40 %
of ``rho0`` for two targets (10 and 25 Hz) and orders with it; the weight trajectories
are equal on Brian2 and torch.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import spikecore as sc
from spikecore import primitives as P
from spikecore.extensions import PoissonSource
from spikecore.extensions.plasticity import VogelsLinear, stdp_connection
from spikecore.testing import assert_close_arrays, assert_same_spikes

N, N_E, N_I, DT = 4, 40, 100, 1e-3
#: Brian2 vs torch (float64): the weight updates are the same operations in the same order;
#: only y = W p is summed in another order (an ulp, which must not flip a spike).
W_ATOL = 1e-12


def ei_graph(rho0: float, eta: float = 0.3) -> sc.Graph:
    node = VogelsLinear(weight=np.zeros((N, N_I)), eta=eta, tau_stdp=0.02, rho0=rho0)
    nodes, edges = stdp_connection("inh", node, "p_inh", "post")
    # inhibitory: y = W p enters the neurons through a negative scale
    edges = [e for e in edges if e[:2] != ("inh", "post")] + [("inh", "neg"), ("neg", "post")]
    rng = np.random.default_rng(1)
    nodes.update(
        p_exc=PoissonSource(rate=np.full(N_E, 10.0), seed=1),
        p_inh=PoissonSource(rate=np.full(N_I, 10.0), seed=2),
        exc=P.Linear(rng.uniform(3.0, 5.0, (N, N_E))), neg=P.Scale(np.full(N, -1.0)),
        post=P.LIF(tau=np.full(N, 0.02), r=np.ones(N), v_leak=np.zeros(N),
                   v_threshold=np.ones(N), v_reset=np.zeros(N)),
        out=P.Output(np.array([N])))
    edges += [("p_exc", "exc"), ("exc", "post"), ("post", "out")]
    return sc.Graph(nodes, edges, sc.Semantics(dt=DT, integrator="exact"), name="vogels_ei")


def test_inhibitory_plasticity_moves_the_rate_to_the_target() -> None:
    steps, settle = 3000, 1500
    without = sc.simulate(ei_graph(10.0, eta=0.0), backend="torch", steps=1000,
                          record=("spikes",), dtype=torch.float64)
    free = without.spikes["post"].mean() / DT
    rates = {}
    for rho0 in (10.0, 25.0):
        r = sc.simulate(ei_graph(rho0), backend="torch", steps=steps, record=("spikes", "w"),
                        dtype=torch.float64)
        rates[rho0] = r.spikes["post"][0, settle:].mean() / DT
        assert rates[rho0] == pytest.approx(rho0, rel=0.4), (rho0, rates[rho0])
        assert r.traces["inh"]["w"].min() >= 0.0    # inhibitory strengths stay >= 0
    assert free > 45.0                              # ~52 Hz without the rule
    assert rates[10.0] < rates[25.0] < free


def test_weight_trajectories_equal_on_brian2_and_torch() -> None:
    g = ei_graph(10.0)
    rt = sc.simulate(g, backend="torch", steps=400, record=("spikes", "w"), dtype=torch.float64)
    rb = sc.simulate(g, backend="brian2", steps=400, record=("spikes", "w"))
    assert_same_spikes(rt, rb, nodes=["post"])
    w = rt.traces["inh"]["w"]
    assert w.shape == (1, 400, N, N_I) and w[0, -1].max() > 0.1
    assert_close_arrays(w, rb.traces["inh"]["w"], W_ATOL, "inh:w (torch vs brian2)")
