"""Comparison helpers on synthetic results: where two runs diverge, and by how much."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import spikecore as sc
from spikecore.compare import (
    DEFAULT_TOLERANCES,
    ComparisonReport,
    Tolerance,
    _tolerance_for,
    coincidence_fraction,
    compare_results,
    first_divergence,
    spike_time_error,
)
from spikecore.testing import assert_close_arrays, assert_same_spikes, assert_same_traces


def random_spikes(rng, shape, p=0.1):
    return rng.random(shape) < p


def result(backend, spikes=None, traces=None, outputs=None, dt=1e-3):
    return sc.Result(spikes=spikes or {}, traces=traces or {}, outputs=outputs or {}, dt=dt,
                     backend=backend, wall_time=0.5, build_time=0.1)


def brute_coincidence(a, b, k):
    """Reference: loop over every spike and look for a partner within +-k steps."""
    a2 = a.reshape(a.shape[0], a.shape[1], -1)
    b2 = b.reshape(b.shape[0], b.shape[1], -1)
    total = matched = 0
    for x, y in ((a2, b2), (b2, a2)):
        for bi, t, n in zip(*np.nonzero(x), strict=True):
            total += 1
            lo, hi = max(0, t - k), min(x.shape[1], t + k + 1)
            matched += bool(y[bi, lo:hi, n].any())
    return 1.0 if total == 0 else matched / total


# ============================================================== first_divergence
def test_no_divergence():
    rng = np.random.default_rng(0)
    a = random_spikes(rng, (2, 30, 3, 4))
    assert first_divergence(a, a.copy(), "n") is None


def test_first_divergence_earliest_step_then_batch_then_neuron():
    rng = np.random.default_rng(1)
    a = random_spikes(rng, (3, 40, 3, 4))
    b = a.copy()
    b[0, 25, 0, 0] ^= True   # later step
    b[2, 12, 1, 3] ^= True   # earliest step, batch 2
    b[1, 12, 2, 1] ^= True   # earliest step, batch 1: wins
    b[1, 12, 2, 3] ^= True   # same batch, higher neuron
    d = first_divergence(a, b, "cells")
    assert (d.node, d.batch, d.neuron, d.step) == ("cells", 1, 2 * 4 + 1, 12)
    assert d.values == (bool(a[1, 12, 2, 1]), bool(b[1, 12, 2, 1]))
    text = str(d)
    assert "'cells'" in text and "batch 1" in text and "neuron 9" in text and "step 12" in text


def test_first_divergence_on_floats():
    a = np.zeros((1, 5, 2))
    b = a.copy()
    b[0, 3, 1] = 0.5
    d = first_divergence(a, b, "v")
    assert (d.step, d.neuron, d.values) == (3, 1, (0.0, 0.5))


# ============================================================== coincidence
def test_coincidence_simple_cases():
    a = np.zeros((1, 50, 1), bool)
    b = np.zeros((1, 50, 1), bool)
    assert coincidence_fraction(a, b, 1) == 1.0  # no spikes at all
    a[0, 10, 0] = True
    assert coincidence_fraction(a, b, 3) == 0.0
    b[0, 11, 0] = True
    assert coincidence_fraction(a, b, 0) == 0.0
    assert coincidence_fraction(a, b, 1) == 1.0
    a[0, 20, 0] = True
    b[0, 40, 0] = True
    assert coincidence_fraction(a, b, 1) == 0.5


def test_coincidence_does_not_cross_batches_or_neurons():
    a = np.zeros((2, 10, 2), bool)
    b = np.zeros((2, 10, 2), bool)
    a[0, 5, 0] = True
    b[1, 5, 0] = True  # other batch
    b[0, 5, 1] = True  # other neuron
    assert coincidence_fraction(a, b, 2) == 0.0


@pytest.mark.parametrize("k", [0, 1, 2, 5])
def test_coincidence_matches_brute_force(k):
    rng = np.random.default_rng(2 + k)
    a = random_spikes(rng, (2, 60, 3, 2), 0.05)
    b = random_spikes(rng, (2, 60, 3, 2), 0.05)
    assert coincidence_fraction(a, b, k) == pytest.approx(brute_coincidence(a, b, k), abs=1e-15)


# ============================================================== compare_results
def test_identical_results_are_ok():
    rng = np.random.default_rng(3)
    s = random_spikes(rng, (2, 50, 4))
    v = rng.normal(size=(2, 50, 4))
    a = result("x", {"n": s}, {"n": {"v": v}}, {"o": v[..., :2]})
    b = result("y", {"n": s.copy()}, {"n": {"v": v.copy()}}, {"o": v[..., :2].copy()})
    rep = compare_results(a, b, Tolerance())
    assert rep.ok and rep.failures == []
    assert rep.spike_agreement == 1.0 and rep.coincidence == 1.0
    assert rep.first_divergence is None
    assert rep.max_state_abs_diff == {"n:v": 0.0, "o:output": 0.0}
    np.testing.assert_array_equal(rep.spike_count_diff["n"], np.zeros((2, 4), int))


def test_divergent_spikes_measured_and_failed():
    rng = np.random.default_rng(4)
    s1 = random_spikes(rng, (2, 50, 4))
    s2 = s1.copy()
    s2[1, 30, 2] ^= True
    s2[0, 31, 0] ^= True
    t1 = random_spikes(rng, (2, 50, 3))
    t2 = t1.copy()
    t2[0, 10, 1] ^= True  # the earliest divergence, in a second node
    a = result("brian2", {"n": s1, "m": t1})
    b = result("torch", {"n": s2, "m": t2})
    rep = compare_results(a, b, Tolerance(min_spike_agreement=1.0))
    total = s1.size + t1.size
    assert rep.spike_agreement == pytest.approx((total - 3) / total)
    d = rep.first_divergence
    assert (d.node, d.batch, d.neuron, d.step) == ("m", 0, 1, 10)
    expected_counts = s1.sum(axis=1).astype(int) - s2.sum(axis=1).astype(int)
    np.testing.assert_array_equal(rep.spike_count_diff["n"], expected_counts)
    assert not rep.ok
    assert len(rep.failures) == 1 and "spike agreement" in rep.failures[0]
    assert "node 'm'" in rep.failures[0]
    # the same numbers pass a looser tolerance
    assert compare_results(a, b, Tolerance(min_spike_agreement=0.99)).ok


def test_coincidence_in_report_weighted_by_spikes():
    a = np.zeros((1, 20, 2), bool)
    b = np.zeros((1, 20, 2), bool)
    a[0, 5, 0] = b[0, 6, 0] = True  # coincident within 1
    a[0, 10, 1] = True              # unmatched
    rep = compare_results(result("a", {"n": a}), result("b", {"n": b}),
                          Tolerance(min_spike_agreement=0.0, coincidence_steps=1))
    assert rep.coincidence == pytest.approx(2 / 3)
    assert rep.ok


def test_state_tolerance():
    rng = np.random.default_rng(5)
    v = rng.normal(size=(1, 20, 3))
    w = v.copy()
    w[0, 7, 2] += 3e-9
    a = result("a", traces={"n": {"v": v, "i": v}}, outputs={"o": v})
    b = result("b", traces={"n": {"v": w, "i": v}}, outputs={"o": v})
    rep = compare_results(a, b, Tolerance(max_state_abs_diff=1e-9))
    assert rep.max_state_abs_diff["n:v"] == pytest.approx(3e-9, rel=1e-6)
    assert rep.max_state_abs_diff["n:i"] == 0.0
    assert rep.failures == [f"n:v: max |difference| {rep.max_state_abs_diff['n:v']:.3g} > 1e-09"]
    assert compare_results(a, b, Tolerance(max_state_abs_diff=1e-8)).ok
    assert compare_results(a, b, Tolerance(max_state_abs_diff=None)).ok


def test_nan_state_difference_fails():
    v = np.zeros((1, 5, 2))
    w = v.copy()
    w[0, 2, 1] = np.nan
    rep = compare_results(result("a", traces={"n": {"v": v}}),
                          result("b", traces={"n": {"v": w}}), Tolerance())
    assert not rep.ok and "n:v" in rep.failures[0]


def test_shape_mismatches_are_failures():
    a = result("a", {"n": np.zeros((1, 10, 2), bool)}, {"n": {"v": np.zeros((1, 10, 2))}})
    b = result("b", {"n": np.zeros((1, 11, 2), bool)}, {"n": {"v": np.zeros((1, 10, 3))}})
    rep = compare_results(a, b, Tolerance())
    assert len(rep.failures) == 2
    assert "spike arrays differ in shape" in rep.failures[0]
    assert "n:v: shapes differ" in rep.failures[1]


def test_pair_report_to_dict_is_json():
    rng = np.random.default_rng(6)
    s = random_spikes(rng, (1, 30, 2))
    t = s.copy()
    t[0, 3, 1] ^= True
    rep = compare_results(result("a", {"n": s}, {"n": {"v": np.zeros((1, 30, 2))}}),
                          result("b", {"n": t}, {"n": {"v": np.ones((1, 30, 2))}}), Tolerance())
    d = json.loads(json.dumps(rep.to_dict()))
    assert d["ok"] is False and d["first_divergence"]["step"] == 3
    assert d["max_abs_spike_count_diff"] == {"n": 1}
    assert d["max_state_abs_diff"] == {"n:v": 1.0}
    assert d["tolerance_reason"] == Tolerance().reason


def test_comparison_report():
    rng = np.random.default_rng(7)
    s = random_spikes(rng, (1, 30, 2))
    t = s.copy()
    t[0, 4, 0] ^= True
    a, b, c = result("a", {"n": s}), result("b", {"n": s.copy()}), result("c", {"n": t})
    pairs = [compare_results(a, b, Tolerance()), compare_results(a, c, Tolerance())]
    rep = ComparisonReport("g", {"a": a, "b": b, "c": c}, pairs, {"lava": "no python 3.10\nmore"})
    assert not rep.ok
    table = rep.table()
    assert "a vs b" in table and "a vs c" in table and "NO" in table
    assert "lava: skipped: no python 3.10\n    more" in table  # the full reason
    assert "FAIL a vs c" in table
    d = json.loads(json.dumps(rep.to_dict()))
    assert d["skipped"] == {"lava": "no python 3.10\nmore"} and len(d["pairs"]) == 2
    ok = ComparisonReport("g", {"a": a, "b": b}, pairs[:1], {})
    assert ok.ok
    lonely = ComparisonReport("g", {"a": a}, [], {"b": "unavailable"})
    assert not lonely.ok  # one backend proves nothing


def test_tolerance_lookup():
    special = Tolerance(min_spike_agreement=0.9, reason="test")
    table = {"lava-torch": special}
    assert _tolerance_for("torch", "lava", table) is special
    assert _tolerance_for("lava", "torch", table) is special
    assert _tolerance_for("brian2", "torch", table) is DEFAULT_TOLERANCES["*"]
    assert _tolerance_for("brian2", "torch", special) is special
    # the torch backend's old name still keys a table
    assert _tolerance_for("torch", "lava", {"lava-norse": special}) is special
    for tol in DEFAULT_TOLERANCES.values():
        assert tol.reason


def test_spike_time_error():
    assert spike_time_error(np.array([3, 10]), np.array([4, 10]), 1e-3) == pytest.approx(1e-3)
    assert spike_time_error(np.array([]), np.array([]), 1e-3) == 0.0
    assert math.isinf(spike_time_error(np.array([1]), np.array([1, 2]), 1e-3))


# ============================================================== spikecore.testing
def test_assert_same_spikes_reports_first_difference():
    s = np.zeros((1, 10, 3), bool)
    t = s.copy()
    t[0, 6, 2] = True
    assert_same_spikes(result("a", {"n": s}), result("b", {"n": s.copy()}))
    with pytest.raises(AssertionError, match="node 'n', batch 0, neuron 2, step 6"):
        assert_same_spikes(result("a", {"n": s}), result("b", {"n": t}))
    with pytest.raises(AssertionError, match="no spiking node"):
        assert_same_spikes(result("a"), result("b"))


def test_assert_close_arrays_reports_index():
    x = np.zeros((2, 5, 3))
    y = x.copy()
    y[1, 2, 0] = 1e-3
    y[1, 4, 2] = 5e-3
    assert_close_arrays(x, y, atol=1e-2)
    with pytest.raises(AssertionError, match=r"2 of 30 .* first at index \(1, 2, 0\).*"
                                             r"largest at \(1, 4, 2\)"):
        assert_close_arrays(x, y, atol=1e-4, what="v")
    with pytest.raises(AssertionError, match="shapes differ"):
        assert_close_arrays(x, y[:1], atol=1.0)


def test_assert_same_traces():
    v = np.zeros((1, 4, 2))
    w = v.copy()
    w[0, 1, 1] = 1.0
    assert_same_traces(result("a", traces={"n": {"v": v}}), result("b", traces={"n": {"v": v}}),
                       atol=0.0)
    with pytest.raises(AssertionError, match=r"n:v \(a vs b\)"):
        assert_same_traces(result("a", traces={"n": {"v": v}}),
                           result("b", traces={"n": {"v": w}}), atol=0.5)


def test_compare_reports_progress_per_backend():
    import spikecore.models as zoo

    g = zoo.feedforward_lif(sizes=(3, 4, 2), seed=1)
    x = zoo.poisson_input(3, 30, 200.0, g.semantics.dt, seed=1)
    lines: list[str] = []
    rep = sc.compare(g, x, backends=("torch", "brian2"),
                     progress=lines.append)
    assert rep.ok
    assert lines[0] == "[1/2] torch: running ..."
    assert lines[1].startswith("[1/2] torch: done in ") and lines[1].endswith(" spikes")
    assert lines[3].startswith("[2/2] brian2: done in ")


def test_identical_nan_on_both_sides_is_not_agreement() -> None:
    from spikecore.compare import compare_results

    a = sc.Result(outputs={"out": np.zeros((1, 6, 2))}, backend="a")
    a.outputs["out"][0, 3:, 1] = np.nan
    b = sc.Result(outputs={"out": a.outputs["out"].copy()}, backend="b")
    rep = compare_results(a, b, sc.Tolerance())
    assert not rep.ok
    d = rep.first_divergence
    assert (d.node, d.step, d.neuron) == ("out", 3, 1) and "not agreement" in d.reason
    assert any("non-finite from step 3" in f for f in rep.failures)


def test_compare_names_the_first_nonfinite_step_of_a_diverging_graph() -> None:
    import warnings

    from nonfinite_reference import blowup_graph, blowup_input, contract_first_nonfinite

    g, x = blowup_graph(), blowup_input()
    step, batch, _ = contract_first_nonfinite(g, x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sc.GraphWarning)
        rep = sc.compare(g, x, backends=("brian2", "torch"), record=("spikes",))
    assert not rep.ok and rep.results["torch"].nonfinite.step == step
    d = rep.pairs[0].first_divergence
    assert (d.node, d.step, d.batch) == ("pop", step, batch)
    assert "non-finite on both sides" in d.reason
    assert f"step {step}" in rep.table()
