"""NaN/inf from the dynamics: located exactly (node, state, step, batch, element) and
raised, warned about or kept as ``on_nonfinite`` says (the backends' own checks are in
tests/backends/*/test_*_nonfinite.py)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from nonfinite_reference import blowup_graph, blowup_input, contract_first_nonfinite

import spikecore as sc
from spikecore import numerics
from spikecore.errors import NumericalError, NumericalWarning


def test_first_nonfinite_picks_lowest_step_then_batch_then_element() -> None:
    a = np.zeros((2, 5, 2, 3))
    a[1, 2, 0, 1] = np.inf
    a[0, 3, 1, 2] = np.nan
    f = numerics.first_nonfinite(a, "n", "v")
    assert (f.step, f.batch, f.index, f.value) == (2, 1, (0, 1), np.inf)
    assert numerics.first_nonfinite(np.ones((1, 3, 2)), "n", "v") is None
    assert numerics.first_nonfinite(np.ones((1, 3, 2), bool), "n", "spikes") is None


def test_the_policy_is_checked_before_running() -> None:
    with pytest.raises(sc.InputError, match="on_nonfinite"):
        sc.simulate(blowup_graph(), blowup_input(10), backend="torch", on_nonfinite="maybe")


@pytest.fixture
def quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sc.GraphWarning)
        yield


def test_raise_names_node_state_and_first_step_and_keeps_the_partial_result(quiet) -> None:
    g, x = blowup_graph(), blowup_input()
    step, batch, neuron = contract_first_nonfinite(g, x)
    with pytest.raises(NumericalError) as info:
        sc.simulate(g, x, backend="torch")  # nothing recorded: the check sees every state
    nf = info.value.nonfinite
    assert (nf.node, nf.state, nf.step, nf.batch, nf.index) == ("pop", "v", step, batch,
                                                                (neuron,))
    assert f"node 'pop', state 'v' is inf at step {step}" in str(info.value)
    assert "dt/tau > 2" in str(info.value)
    assert np.isnan(info.value.result.outputs["out"][batch, -1]).all()


def test_warn_and_ignore_return_the_result_with_the_record(quiet) -> None:
    g, x = blowup_graph(), blowup_input()
    with pytest.warns(NumericalWarning, match="state 'v'"):
        r = sc.simulate(g, x, backend="torch", on_nonfinite="warn")
    assert r.nonfinite.node == "pop" and r.summary()["nonfinite"]["state"] == "v"
    with warnings.catch_warnings():
        warnings.simplefilter("error", NumericalWarning)
        r = sc.simulate(g, x, backend="torch", on_nonfinite="ignore")
    assert r.nonfinite is not None


def test_a_finite_run_has_no_record() -> None:
    g = blowup_graph()
    r = sc.simulate(g.__class__(g.nodes, g.edges, g.semantics.replace(dt=1e-4), name="ok"),
                    blowup_input(50), backend="torch")
    assert r.nonfinite is None
