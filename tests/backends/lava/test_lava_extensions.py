"""Lava runs the refractory neurons (LIFRefractory) and plays the seeded streams; ALIF and
rate units are refused up front with the exact reasons.

Expected values: tests/extension_reference.py (docs/semantics.md §7 transcribed).
"""

from __future__ import annotations

import numpy as np
from extension_reference import DT, reference, refractory_graph
from spikecore.backends.lava.lowering import check_graph, supported_names

import spikecore as sc
from spikecore import extensions as X
from spikecore import primitives as P
from spikecore.testing import assert_close_arrays, assert_same_spikes

#: Lava float pre-scales weights and shifts the voltage origin (see tests/backends/lava/test_lava.py).
STATE_ATOL = 1e-9
STEPS = 120


def _combined() -> tuple[sc.Graph, dict]:
    """Both refractory types (5 refractory periods each, 0 included) behind one Poisson
    drive, a white-noise and an OU source read by Outputs: one Lava start-up."""
    sem = sc.Semantics(dt=DT)
    a = refractory_graph("RefractoryLIF", sem)
    b = refractory_graph("RefractoryCubaLIF", sem, seed=4)
    nodes = {**a.nodes, "w2": b.nodes["w"], "wd2": b.nodes["wd"], "n2": b.nodes["n"],
             "out2": b.nodes["out"],
             "noise": X.WhiteNoiseSource(mean=np.zeros(3), sigma=np.full(3, 0.1), seed=2),
             "ou": X.OUSource(mean=np.ones(3), sigma=np.full(3, 0.2), tau=np.full(3, 0.01),
                              seed=2),
             "on": P.Output(np.array([3])), "oo": P.Output(np.array([3])),
             "op": P.Output(np.array([2]))}
    edges = [*a.edges, ("in", "w2"), ("w2", "n2"), ("drive", "wd2"), ("wd2", "n2"),
             ("n2", "out2"), ("noise", "on"), ("ou", "oo"), ("drive", "op")]
    x = {"in": np.random.default_rng(9).uniform(0, 3, (2, STEPS, 3))}
    return sc.Graph(nodes, edges, sem, name="lava_ext"), x


def test_refractory_neurons_and_streams_on_lava_match_the_contract_and_brian2(lava) -> None:
    g, x = _combined()
    rec = ("spikes", "v", "i")
    lava_r = sc.simulate(g, x, backend="lava", record=rec)
    brian_r = sc.simulate(g, x, backend="brian2", record=rec)
    ref = reference(g, x, STEPS)
    for n in ("n", "n2", "drive"):
        np.testing.assert_array_equal(lava_r.spikes[n], ref["spikes"][n], err_msg=n)
    assert_same_spikes(lava_r, brian_r)
    for n in ("n", "n2"):
        assert_close_arrays(lava_r.traces[n]["v"], ref["traces"][n]["v"], STATE_ATOL, f"{n}:v")
    assert_close_arrays(lava_r.traces["n2"]["i"], ref["traces"]["n2"]["i"], STATE_ATOL, "n2:i")
    for o in ("on", "oo", "op"):
        assert_close_arrays(lava_r.outputs[o], brian_r.outputs[o], 0.0, o)  # same stream
    assert lava_r.spikes["n"].sum() > 20 and lava_r.spikes["n2"].sum() > 20
    # several refractory periods -> several LIFRefractory processes
    assert lava_r.info["lava_processes"] > 6


def test_lava_reports_every_unsupported_extension_at_once() -> None:
    sem = sc.Semantics(dt=DT)
    g, _ = _combined()
    g.nodes["alif"] = X.ALIF(tau=np.full(2, 0.02), r=np.ones(2), v_leak=np.zeros(2),
                             v_threshold=np.ones(2), v_reset=np.zeros(2),
                             tau_adapt=np.full(2, 0.1), beta=np.ones(2))
    g.nodes["rate"] = X.RateUnit(tau=np.full(2, 0.01), x0=np.zeros(2))
    g.edges += [sc.Edge("drive", "alif"), sc.Edge("drive", "rate")]
    g = g.with_semantics(sem)
    names = ", ".join(supported_names())
    assert check_graph(g.flatten()) == [
        f"'alif' (ALIF): no lowering (Lava 0.10 has no adaptive-threshold LIF process); "
        f"supported: {names}",
        f"'rate' (RateUnit): no lowering (Lava's LIF sends spikes, not a graded phi(x)); "
        f"supported: {names}",
    ]
    fixed = check_graph(g.flatten(), "fixed_pt")
    for n, t in (("n", "RefractoryLIF"), ("n2", "RefractoryCubaLIF")):
        assert (f"'{n}' ({t}): not available with arithmetic='fixed_pt' (Lava 0.10's "
                "LIFRefractory has only a floating-point model); use 'floating_pt'") in fixed
    for n, t in (("noise", "WhiteNoiseSource"), ("ou", "OUSource")):
        assert (f"'{n}' ({t}): not available with arithmetic='fixed_pt' (Loihi messages are "
                "integers; this source is real-valued); use 'floating_pt'") in fixed
    assert not any("'drive'" in p for p in fixed)


def test_refractory_with_subtract_reset_is_refused_like_lif() -> None:
    g = refractory_graph("RefractoryLIF", sc.Semantics(dt=DT, reset="subtract"))
    assert check_graph(g) == ["'n' (RefractoryLIF): reset='subtract' not representable "
                              "(Lava's LIF resets v to 0, i.e. to v_reset); use reset='to_value'"]
