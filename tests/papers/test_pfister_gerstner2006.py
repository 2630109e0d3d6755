"""Paper check: triplet STDP (Pfister & Gerstner 2006, J. Neurosci. 26:9673), frequency
dependence of the pairing protocol (Sjöström et al. 2001, visual cortex; the paper's
Fig. 5 with the all-to-all parameter set of its Table 4).

Protocol: 60 pairings at frequency ``f`` (period ``T = 1/f``), the post spike ``Delta =
+10 ms`` after (pre-post) or ``10 ms`` before (post-pre) each pre spike. The prescribed
spike trains drive the plastic node directly (pre through its pre port, post through its
post port with the delay-1 edge), so the rule sees exactly these trains.

Analytic value (derived from the rule, independent of any simulator). With ``q_k =
exp(-T/tau_k)``, ``d = |Delta|`` and ``G(q, a, b) = sum_{n=a}^{b} q^n`` (a geometric
series), the traces just before the k-th spikes (k = 0..59) are, for ``Delta > 0``::

    r1(post_k) = e^{-d/tau_plus} G(q_plus, 0, k)      o1(pre_k) = e^{d/tau_minus} G(q_minus, 1, k)

and for ``Delta < 0``::

    r1(post_k) = e^{d/tau_plus} G(q_plus, 1, k)       o1(pre_k) = e^{-d/tau_minus} G(q_minus, 0, k)

(valid for ``T > d``), with the slow traces ``o2 = G(q_y, 1, k)``, ``r2 = G(q_x, 1, k)``;
``dw = sum_k r1 (A2+ + A3+ o2) - o1 (A2- + A3- r2)``.

With ``integrator='exact'`` spikes on the step grid give this value to rounding for any
``dt`` (the traces decay by ``exp(-dt/tau)`` per step), so the runs use ``dt = 2.5 ms``
(every period and ``Delta`` a whole number of steps) to stay fast.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import spikecore as sc
from spikecore import primitives as P
from spikecore.extensions.plasticity import (
    PFISTER_GERSTNER_VISUAL_CORTEX as PG,
)
from spikecore.extensions.plasticity import (
    STDPLinear,
    stdp_weight_change,
)
from spikecore.testing import assert_close_arrays

DT, DELTA, PAIRINGS, W0 = 2.5e-3, 10e-3, 60, 0.5
SIMULATED = (10.0, 20.0, 40.0, 50.0)       # Hz; 0.1 and 1 Hz would take 24k-240k steps
ALL = (0.1, 1.0, 10.0, 20.0, 40.0, 50.0)   # Hz, the analytic curve
#: simulated vs analytic: relative, from the traces being products of up to ~2400
#: per-step decays (each rounded) instead of one exp per spike pair.
REL = 1e-11


def _geo(q: float, lo: int, hi: int) -> float:
    return (q ** lo - q ** (hi + 1)) / (1.0 - q) if hi >= lo else 0.0


def pairing_change(f: float, delta: float, n: int = PAIRINGS, p: dict = PG) -> float:
    """The module docstring's geometric-series value of the weight change."""
    period, d = 1.0 / f, abs(delta)
    assert period > d
    q = {k: np.exp(-period / p[k]) for k in ("tau_plus", "tau_minus", "tau_x", "tau_y")}
    dw = 0.0
    for k in range(n):
        o2, r2 = _geo(q["tau_y"], 1, k), _geo(q["tau_x"], 1, k)
        if delta > 0:
            r1 = np.exp(-d / p["tau_plus"]) * _geo(q["tau_plus"], 0, k)
            o1 = np.exp(d / p["tau_minus"]) * _geo(q["tau_minus"], 1, k)
        else:
            r1 = np.exp(d / p["tau_plus"]) * _geo(q["tau_plus"], 1, k)
            o1 = np.exp(-d / p["tau_minus"]) * _geo(q["tau_minus"], 0, k)
        dw += r1 * (p["a2_plus"] + p["a3_plus"] * o2) - o1 * (p["a2_minus"] + p["a3_minus"] * r2)
    return dw


def protocol(freqs, signs=(1, -1)) -> tuple[np.ndarray, np.ndarray]:
    """Pre and post spike trains ``[len(freqs) * len(signs), steps, 1]`` (frequency-major)."""
    periods = [int(round(1.0 / (f * DT))) for f in freqs]
    d = int(round(DELTA / DT))
    steps = (PAIRINGS - 1) * max(periods) + 2 * d + 2   # the last post spike is paired too
    pre = np.zeros((len(freqs) * len(signs), steps, 1))
    post = np.zeros_like(pre)
    for b, (period, s) in enumerate((pp, s) for pp in periods for s in signs):
        k = np.arange(PAIRINGS) * period + d
        pre[b, k, 0] = 1.0
        post[b, k + s * d, 0] = 1.0
    return pre, post


def pairing_graph() -> sc.Graph:
    eye = np.eye(2)
    return sc.Graph(
        {"pre": P.Input(np.array([1])), "post": P.Input(np.array([1])),
         "pre_port": P.Linear(eye[:, :1].copy()), "post_port": P.Linear(eye[:, 1:].copy()),
         "syn": STDPLinear(weight=np.array([[W0]]), **PG), "out": P.Output(np.array([1]))},
        [("pre", "pre_port"), ("pre_port", "syn"), ("post", "post_port"),
         ("post_port", "syn", 1), ("syn", "out")],
        sc.Semantics(dt=DT, integrator="exact"), name="pairing")


@pytest.mark.parametrize("backend", ["torch", "brian2"])
def test_pairing_weight_changes_equal_the_geometric_series(backend: str) -> None:
    pre, post = protocol(SIMULATED)
    opts = {"dtype": torch.float64} if backend == "torch" else {}
    r = sc.simulate(pairing_graph(), {"pre": pre, "post": post}, backend=backend,
                    record=("syn:w",), **opts)
    got = r.traces["syn"]["w"][:, -1, 0, 0] - W0
    want = np.array([pairing_change(f, s * DELTA) for f in SIMULATED for s in (1, -1)])
    assert_close_arrays(got, want, 0.0, f"weight change on {backend} vs analytic "
                        f"(rows: {SIMULATED} Hz x (+10, -10) ms)", rtol=REL)


def test_the_frequency_dependence_has_the_papers_shape() -> None:
    """Sjöström et al. (2001) / Pfister & Gerstner (2006) Fig. 5: post-pre pairing
    depresses at low frequency and potentiates at high frequency; pre-post is ~0 at
    0.1 Hz and potentiates more the higher the frequency; pre-post >= post-pre."""
    plus = np.array([pairing_change(f, DELTA) for f in ALL])
    minus = np.array([pairing_change(f, -DELTA) for f in ALL])
    # the series agrees with the explicit sums over all spike pairs
    for f, sign, got in ((0.1, -1, minus[0]), (50.0, 1, plus[-1])):
        k = np.arange(PAIRINGS) / f
        node = STDPLinear(weight=np.array([[W0]]), **PG)
        assert stdp_weight_change(node, k, k + sign * DELTA) == pytest.approx(got, rel=1e-12)
    assert abs(plus[0]) < 0.01                      # 0.1 Hz pre-post: no change
    assert np.all(minus[:4] < -0.25)                # post-pre LTD up to 20 Hz (-31..-35 %)
    assert minus[-1] > 0.5 and minus[-2] > 0        # ... LTP at 40 and 50 Hz
    assert np.all(np.diff(plus) > 0)                # pre-post LTP grows with frequency
    assert plus[2] > 0.1 and plus[-1] > 0.7         # 13 % at 10 Hz, 74 % at 50 Hz
    assert np.all(plus >= minus)
