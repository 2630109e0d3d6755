"""Brian2 (discrete mode) runs every extension primitive exactly as documented.

Expected values: tests/extension_reference.py (docs/semantics.md §7 transcribed). Spikes
must be identical; states agree to rounding (Linear maps sum in a different order in
Brian2's summed variables than in the reference's matrix product: STATE_ATOL).
"""

from __future__ import annotations

import numpy as np
import pytest
from extension_reference import DT, SEMANTICS, alif_graph, rate_graph, reference, refractory_graph

import spikecore as sc
from spikecore import extensions as X
from spikecore.testing import assert_close_arrays

#: Float64 rounding of differently ordered sums over <= 6 terms, amplified by at most
#: 200 steps of a contracting update.
STATE_ATOL = 1e-12
STEPS = 150


def _check(g: sc.Graph, inputs: dict, record, batch: int = 2) -> sc.Result:
    r = sc.simulate(g, inputs or None, backend="brian2", steps=STEPS, record=record)
    ref = reference(g.flatten(), inputs, STEPS, batch=batch)
    for n, z in ref["spikes"].items():
        if n in r.spikes:
            np.testing.assert_array_equal(r.spikes[n], z, err_msg=n)
    for n, states in ref["traces"].items():
        for s, want in states.items():
            if s in r.traces.get(n, {}):
                assert_close_arrays(r.traces[n][s], want, STATE_ATOL, f"{n}:{s}")
    for n, want in ref["outputs"].items():
        assert_close_arrays(r.outputs[n], want, STATE_ATOL, f"output {n}")
    return r


@pytest.mark.parametrize("sem", sorted(SEMANTICS))
@pytest.mark.parametrize("kind", ["RefractoryLIF", "RefractoryCubaLIF"])
def test_refractory_neurons_match_the_documented_update(kind: str, sem: str) -> None:
    g = refractory_graph(kind, sc.Semantics(dt=DT, **SEMANTICS[sem]))
    x = np.random.default_rng(5).uniform(0, 3, (2, STEPS, 3))
    r = _check(g, {"in": x}, ("spikes", "v", "i"))
    assert r.spikes["n"].sum() > 20 and r.spikes["drive"].sum() > 20
    # refractoriness is visible: the neuron with t_ref = 5 steps never fires twice within 5
    times = np.flatnonzero(r.spikes["n"][0, :, 4])
    assert times.size > 2 and np.all(np.diff(times) > 5)


@pytest.mark.parametrize("sem", ["euler", "exact_subtract"])
def test_alif_matches_the_documented_update(sem: str) -> None:
    g = alif_graph(sc.Semantics(dt=DT, **SEMANTICS[sem]))
    x = np.random.default_rng(6).uniform(0, 2, (2, STEPS, 3))
    r = _check(g, {"in": x}, ("spikes", "v", "alif:a"))
    assert r.spikes["alif"].sum() > 20
    assert r.traces["alif"]["a"].max() > 1.0  # adaptation builds up


@pytest.mark.parametrize("phi,sem", [("tanh", "euler"), ("relu", "exact_subtract"),
                                     ("power", "exact_increment")])
def test_rate_units_match_the_documented_update(phi: str, sem: str) -> None:
    g = rate_graph(phi, sc.Semantics(dt=DT, **SEMANTICS[sem]))
    r = _check(g, {}, ("x:x",), batch=1)
    x = r.traces["x"]["x"]
    assert np.all(np.isfinite(x)) and np.ptp(x) > 0.1


def test_continuous_mode_lowers_the_refractory_graph() -> None:
    # Continuous mode has its own lowerings (tests/backends/brian2/test_brian2_continuous_ext.py);
    # only LTCLIF is refused there (tests/backends/test_ltc_backends.py).
    from spikecore.backends.brian2.backend import Brian2Backend

    g = refractory_graph("RefractoryLIF", sc.Semantics(dt=DT))
    assert Brian2Backend().check(g.flatten(), mode="continuous", substeps=2) == []
    r = sc.simulate(g, np.ones((1, 20, 3)), backend="brian2", mode="continuous", substeps=2,
                    record=("spikes",))
    assert r.spikes["n"].sum() > 0 and r.info["substeps"] == 2


def test_every_extension_has_a_brian2_lowering() -> None:
    from spikecore.backends.brian2.registry import BUILDERS

    assert set(X.EXTENSION_TYPES.values()) <= set(BUILDERS)
