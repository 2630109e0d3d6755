"""Paper check: a Hebbian E->E rule in a stabilised supralinear network (SSN; Ahmadian,
Rubin & Miller 2013, Neural Comput. 25:1994; Rubin, Van Hooser & Miller 2015, Neuron
85:402).

Four E and two I :class:`RateUnit` s with the SSN's power law ``r = k [x]_+^n``, ``k =
0.04``, ``n = 2`` (the brief attributes these to Rubin et al. 2015; the paper text was not
at hand to confirm them), ``tau_E = 20 ms``, ``tau_I = 10 ms`` and the two-population
couplings ``W_EE = 1.25``, ``W_EI = 0.65``, ``W_IE = 1.2``, ``W_II = 0.5`` (as transcribed
from Hennequin et al. 2018's E-I model in the public Jan10e/SSN code; here split evenly over
the presynaptic units, recurrent edges with delay 1). E units 0, 1 get input 20, units 2,
3 get 10; both I units 20. E->E is a :class:`HebbianLinear` (``eta = 2e-3``, ``theta = 5``
Hz, ``W`` in ``[0, 0.35]``: Dale by clipping; 0.35 per synapse keeps the learned E->E sum
``1.4`` with ``W_EE W_II < W_EI W_IE``, the 2-D SSN's stability condition; at 0.5 the run
diverged).

Measured (3 s of learning, torch float64): weights onto the co-driven units 0, 1 rise to the
bound 0.35, weights from units 0, 1 onto the weak units fall to 0 (their rate is below
``theta``), the rates stay bounded (E below 25 Hz throughout, I 17-19 Hz, tracking E). The
inhibition-stabilised signature, the paradoxical response, holds before and after learning:
raising the I input by 1 lowers the I rate (18.72 -> 17.94 Hz before, 17.17 -> 17.04 Hz after
learning, frozen weights). Weight trajectories are equal on Brian2 and torch.
"""

from __future__ import annotations

import numpy as np
import torch

import spikecore as sc
from spikecore import primitives as P
from spikecore.extensions import RateUnit
from spikecore.extensions.plasticity import HebbianLinear, stdp_connection
from spikecore.testing import assert_close_arrays

NE, NI, DT, K, N = 4, 2, 1e-3, 0.04, 2.0
W_EE, W_EI, W_IE, W_II = 1.25, 0.65, 1.2, 0.5
ETA, THETA, W_MAX = 2e-3, 5.0, 0.35
#: Brian2 vs torch (float64): the weight update is the same operations in the same order;
#: y = W p and the Linear couplings are summed in another order (ulps), which the smooth
#: rate dynamics carry but do not amplify over a short run.
W_ATOL = 1e-12


def _units(n: int, tau: float) -> RateUnit:
    return RateUnit(tau=np.full(n, tau), x0=np.zeros(n), phi="power", k=np.full(n, K),
                    n=np.full(n, N))


def ssn_graph(eta: float = ETA, weight: np.ndarray | None = None) -> sc.Graph:
    """The SSN with a plastic E->E (``eta = 0``: frozen at ``weight``)."""
    w = np.full((NE, NE), W_EE / NE) if weight is None else weight
    nodes, edges = stdp_connection(
        "ee", HebbianLinear(weight=w, eta=eta, theta=THETA, w_min=0.0, w_max=W_MAX),
        "E", "E", out_delay=1)
    nodes.update(
        hE=P.Input(np.array([NE])), hI=P.Input(np.array([NI])),
        E=_units(NE, 0.02), I=_units(NI, 0.01),
        ie=P.Linear(np.full((NI, NE), W_IE / NE)), ei=P.Linear(np.full((NE, NI), -W_EI / NI)),
        ii=P.Linear(np.full((NI, NI), -W_II / NI)),
        outE=P.Output(np.array([NE])), outI=P.Output(np.array([NI])))
    edges += [("hE", "E", 0), ("hI", "I", 0), ("E", "ie", 1), ("ie", "I", 0),
              ("I", "ei", 1), ("ei", "E", 0), ("I", "ii", 1), ("ii", "I", 0),
              ("E", "outE", 0), ("I", "outI", 0)]
    return sc.Graph(nodes, edges, sc.Semantics(dt=DT, integrator="exact"), name="ssn_hebb")


def _inputs(steps: int, d_inh: float = 0.0) -> dict[str, np.ndarray]:
    h_e = np.zeros((steps, NE))
    h_e[:, :2], h_e[:, 2:] = 20.0, 10.0
    h_i = np.full((steps, NI), 20.0)
    h_i[steps // 2:] += d_inh                 # a step in the I input half way
    return {"hE": h_e, "hI": h_i}


def _run(g: sc.Graph, steps: int, backend: str = "torch", d_inh: float = 0.0):
    opts = {"dtype": torch.float64} if backend == "torch" else {}
    r = sc.simulate(g, _inputs(steps, d_inh), backend=backend, steps=steps,
                    record=("w", "E:x", "I:x"), **opts)
    rate = {u: K * np.maximum(r.traces[u]["x"][0], 0.0) ** N for u in ("E", "I")}
    return r, rate


def test_hebbian_ee_learns_while_the_ssn_stays_stable_and_paradoxical() -> None:
    r, rate = _run(ssn_graph(), 3000)
    w = r.traces["ee"]["w"][0]                # [steps, post, pre]
    w0, w_end = W_EE / NE, w[-1]
    # co-driven units (post 0, 1: rate ~15 Hz > theta) potentiate every input to the bound;
    # the threshold term is applied after the clip, so a weight at the bound ends each step
    # eta dt theta r_pre below it (1.6e-4 here)
    below = ETA * DT * THETA * rate["E"][-1]
    np.testing.assert_allclose(w_end[:2], np.broadcast_to(W_MAX - below, (2, NE)), rtol=0,
                               atol=1e-9)
    # weak units (post 2, 3: rate < theta) lose the input from the driven units, and keep
    # less than they started with from each other
    np.testing.assert_array_equal(w_end[2:, :2], 0.0)
    assert np.all(w_end[2:, 2:] < w0) and np.all(w_end[2:, 2:] > 0.25), w_end
    assert w.min() >= 0.0 and w.max() <= W_MAX            # Dale and the bound
    # stable: rates bounded, I tracks E
    assert rate["E"].max() < 25.0 and 15.0 < rate["I"][-1].min() < 20.0, (
        rate["E"].max(), rate["I"][-1])
    assert 14.0 < rate["E"][-1, 0] < 17.0 and rate["E"][-1, 2:].max() < 0.1
    # the paradoxical response (inhibition-stabilised), with frozen weights before and after
    half = 999
    for weight, (before, after) in ((None, (18.72, 17.94)), (w_end, (17.17, 17.04))):
        _, fr = _run(ssn_graph(0.0, weight), 2000, d_inh=1.0)
        got = fr["I"][half, 0], fr["I"][-1, 0]
        np.testing.assert_allclose(got, (before, after), atol=0.01)
        assert got[1] < got[0]                # more input to I, lower I rate


def test_weight_trajectories_equal_on_brian2_and_torch() -> None:
    g = ssn_graph(eta=2e-2)                   # faster learning: weights move in 300 steps
    rt, rate_t = _run(g, 300)
    rb, rate_b = _run(g, 300, backend="brian2")
    w = rt.traces["ee"]["w"]
    assert w.shape == (1, 300, NE, NE) and np.abs(w[0, -1] - W_EE / NE).max() > 0.01
    assert_close_arrays(w, rb.traces["ee"]["w"], W_ATOL, "ee:w (torch vs brian2)")
    assert_close_arrays(rate_t["E"], rate_b["E"], 1e-9, "E rate (torch vs brian2)")
