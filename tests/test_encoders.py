"""Spike encoders (spikecore.encoders) against their stated rules (events from tonic: test_events.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from spikecore import encoders as E
from spikecore.errors import InputError


# ================================================================= rate
def test_rate_is_the_stated_bernoulli_rule_exactly():
    x = np.array([[0.0, 0.25, 0.5, 1.0], [0.1, 0.2, 0.3, 0.4]])
    out = E.rate(x, steps=50, max_rate_hz=400.0, dt=1e-3, seed=7)
    u = np.random.default_rng(7).random((2, 50, 4))
    p = x * 400.0 * 1e-3
    np.testing.assert_array_equal(out, (u < p[:, None]).astype(np.float64))
    assert out.dtype == np.float64 and out.shape == (2, 50, 4)


def test_rate_edges_never_and_always():
    out = E.rate(np.array([[0.0, 1.0]]), steps=200, max_rate_hz=1000.0, dt=1e-3, seed=1)
    assert out[0, :, 0].sum() == 0 and out[0, :, 1].sum() == 200


def test_rate_counts_within_binomial_bounds():
    """Each element's count over T steps is Binomial(T, p): every count, and the total,
    within the two-sided 1e-6 (Bonferroni over elements) quantiles."""
    steps, dt, rmax = 2000, 1e-3, 250.0
    x = np.tile(np.linspace(0.0, 1.0, 11), (3, 1)).reshape(3, 11)
    out = E.rate(x, steps, max_rate_hz=rmax, dt=dt, seed=123)
    p = x * rmax * dt
    counts = out.sum(axis=1)
    alpha = 1e-6 / x.size
    lo, hi = stats.binom.ppf(alpha / 2, steps, p), stats.binom.ppf(1 - alpha / 2, steps, p)
    assert np.all((counts >= lo) & (counts <= hi)), (counts, lo, hi)
    n_total, p_mean = steps * x.size, p.mean()
    lo_t, hi_t = stats.binom.ppf(5e-7, n_total, p_mean), stats.binom.ppf(1 - 5e-7, n_total, p_mean)
    assert lo_t <= counts.sum() <= hi_t


def test_rate_seeds_reproduce_and_differ():
    x = np.full((2, 5), 0.5)
    a = E.rate(x, 100, 200.0, 1e-3, seed=3)
    np.testing.assert_array_equal(a, E.rate(x, 100, 200.0, 1e-3, seed=3))
    np.testing.assert_array_equal(a, E.rate(x, 100, 200.0, 1e-3,
                                            seed=np.random.default_rng(3)))
    assert not np.array_equal(a, E.rate(x, 100, 200.0, 1e-3, seed=4))


def test_rate_accepts_torch_and_keeps_the_shape():
    x = np.random.default_rng(0).random((2, 3, 4))
    a = E.rate(torch.as_tensor(x, dtype=torch.float64), 10, 100.0, 1e-3, seed=0)
    np.testing.assert_array_equal(a, E.rate(x, 10, 100.0, 1e-3, seed=0))
    assert a.shape == (2, 10, 3, 4)


@pytest.mark.parametrize("kwargs, match", [
    (dict(x=[[0.5]], steps=5, max_rate_hz=3000.0, dt=1e-3), r"probability .* = 1.5 > 1"),
    (dict(x=[[1.2]], steps=5), r"\[0, 1\]"),
    (dict(x=[[-0.1]], steps=5), r"\[0, 1\]"),
    (dict(x=[[np.nan]], steps=5), "NaN"),
    (dict(x=[[0.5]], steps=0), "steps"),
    (dict(x=[[0.5]], steps=5, dt=0.0), "dt"),
    (dict(x=0.5, steps=5), "scalar"),
])
def test_rate_refuses_with_a_clear_error(kwargs, match):
    with pytest.raises(InputError, match=match):
        E.rate(**kwargs)


# ================================================================= latency
def test_latency_linear_hand_case():
    # steps 5: k = floor((1 - x) * 4 + 0.5): 1 -> 0, 0.75 -> 1, 0.5 -> 2, 0.25 -> 3, 0.125 -> 4
    # (3.5 rounds half up), 0.01 (= threshold) and 0 -> silent.
    x = np.array([[1.0, 0.75, 0.5, 0.25, 0.125, 0.01, 0.0]])
    out = E.latency(x, steps=5)
    expected = np.zeros((1, 5, 7))
    for i, k in enumerate([0, 1, 2, 3, 4]):
        expected[0, k, i] = 1.0
    np.testing.assert_array_equal(out, expected)


def test_latency_log_hand_case():
    # k = floor(tau * ln(x / (x - 0.25)) + 0.5) with tau = 4:
    # x = 1: 4 ln(4/3) = 1.15 -> 1; x = 0.5: 4 ln 2 = 2.77 -> 3; x = 0.3: 4 ln 6 = 7.17 -> 7
    # (>= steps 6: silent); x = 0.25: silent.
    x = np.array([[1.0, 0.5, 0.3, 0.25]])
    out = E.latency(x, steps=6, mode="log", threshold=0.25, tau=4.0)
    expected = np.zeros((1, 6, 4))
    expected[0, 1, 0] = expected[0, 3, 1] = 1.0
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("mode", ["linear", "log"])
def test_latency_one_spike_earlier_for_larger(mode):
    x = np.random.default_rng(0).random((4, 3, 5))
    out = E.latency(x, steps=30, mode=mode)
    assert out.shape == (4, 30, 3, 5)
    counts = out.sum(axis=1)
    assert counts.max() <= 1
    fired = counts == 1
    first = out.argmax(axis=1)
    xs, ks = x[fired], first[fired]
    order = np.argsort(xs)
    assert np.all(np.diff(ks[order]) <= 0), "a larger value fired later"


def test_latency_refusals():
    with pytest.raises(InputError, match="mode"):
        E.latency([[0.5]], 5, mode="exp")
    with pytest.raises(InputError, match="threshold"):
        E.latency([[0.5]], 5, mode="log", threshold=0.0)
    with pytest.raises(InputError, match="tau"):
        E.latency([[0.5]], 5, tau=3.0)
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        E.latency([[2.0]], 5)


# ================================================================= delta
def test_delta_hand_case_tracks_a_reference():
    # threshold 0.5; reference starts at x[0] = 0.
    # t1 0.25 (d 0.25) -; t2 0.75 (d 0.75) on, r 0.75; t3 1.0 (d 0.25) -; t4 1.5 (d 0.75) on,
    # r 1.5; t5 1.0 (d -0.5, not beyond) -; t6 0.75 (d -0.75) off, r 0.75; t7 0.75 -.
    x = np.array([[0.0, 0.25, 0.75, 1.0, 1.5, 1.0, 0.75, 0.75]])
    signed = E.delta(x, threshold=0.5, output="signed")
    np.testing.assert_array_equal(signed, [[0, 0, 1, 0, 1, 0, -1, 0]])
    split = E.delta(x[..., None], threshold=0.5)
    assert split.shape == (1, 8, 2, 1)
    np.testing.assert_array_equal(split[0, :, 0, 0], [0, 0, 0, 0, 0, 0, 1, 0])  # off
    np.testing.assert_array_equal(split[0, :, 1, 0], [0, 0, 1, 0, 1, 0, 0, 0])  # on


def test_delta_initial_reference_and_slow_drift():
    x = np.array([[0.5, 0.5, 0.5]])
    np.testing.assert_array_equal(E.delta(x, 0.25, output="signed", initial=0.0), [[1, 0, 0]])
    np.testing.assert_array_equal(E.delta(x, 0.25, output="signed"), [[0, 0, 0]])
    drift = np.arange(10)[None, :] * 0.125  # a ramp of 0.125 per step, threshold 0.3
    # events at cumulative change > 0.3: steps 3 (0.375), 6 (0.375 after r = 0.375), 9.
    np.testing.assert_array_equal(np.nonzero(E.delta(drift, 0.3, output="signed")[0])[0],
                                  [3, 6, 9])


def test_delta_torch_input_and_refusals():
    x = np.random.default_rng(0).normal(size=(2, 20, 3))
    np.testing.assert_array_equal(E.delta(torch.as_tensor(x), 0.5), E.delta(x, 0.5))
    with pytest.raises(InputError, match="threshold"):
        E.delta(x, 0.0)
    with pytest.raises(InputError, match="batch, steps"):
        E.delta(np.zeros(5), 0.1)
    with pytest.raises(InputError, match="output"):
        E.delta(x, 0.1, output="both")
