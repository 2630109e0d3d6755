"""Files keep every bit: an arbitrary float ``dt`` and arbitrary float parameters survive
``write`` -> ``read`` exactly, and the re-read graph runs to bit-identical traces.

Every other test uses round dt values (1e-3, 2.5e-4, 1e-4), which survive a writer that
keeps only a few significant digits; these properties draw dt and parameters from the
whole float range of interest, so they do not.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import spikecore as sc
from spikecore import primitives as P
from spikecore.testing import assert_close_arrays

N = 3
#: dt in seconds and time constants with every mantissa bit free.
dts = st.floats(min_value=1e-6, max_value=5e-3, allow_nan=False, allow_infinity=False)
positive = st.floats(min_value=1e-3, max_value=1.0, allow_nan=False, allow_infinity=False)
signed = st.floats(min_value=-2.0, max_value=2.0, allow_nan=False, allow_infinity=False)
vectors = lambda s: st.lists(s, min_size=N, max_size=N).map(np.array)  # noqa: E731


def _bits(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64).view(np.uint64)


def _graph(dt: float, tau_syn, tau_mem, r, v_leak, w_in, integrator: str) -> sc.Graph:
    node = P.CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, r=r, v_leak=v_leak, w_in=w_in,
                     v_threshold=v_leak + 0.5, v_reset=v_leak - 0.25)
    w = np.linspace(0.5, 1.5, N * 2).reshape(N, 2)
    return sc.Graph({"in": P.Input(np.array([2])), "w": P.Linear(weight=w), "n": node,
                     "out": P.Output(np.array([N]))},
                    [("in", "w"), ("w", "n"), ("n", "out")],
                    sc.Semantics(dt=dt, integrator=integrator), name="precision")


@settings(max_examples=30, deadline=None)
@given(dt=dts, tau_syn=vectors(positive), tau_mem=vectors(positive), r=vectors(positive),
       v_leak=vectors(signed), w_in=vectors(signed),
       integrator=st.sampled_from(["euler", "exact"]))
def test_dt_and_parameters_round_trip_bit_exactly(dt, tau_syn, tau_mem, r, v_leak, w_in,
                                                  integrator) -> None:
    g = _graph(dt, tau_syn, tau_mem, r, v_leak, w_in, integrator)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "p.nir"
        sc.write(g, path)
        back = sc.read(path)
    got = float(back.semantics.dt)
    assert _bits(got) == _bits(dt), f"dt {dt!r} came back as {got!r} ({math.ulp(dt):g} = 1 ulp)"
    assert back.semantics.integrator == integrator
    for f in P.SPECS[P.CubaLIF].array_params:
        a, b = getattr(g.nodes["n"], f), getattr(back.nodes["n"], f)
        assert np.array_equal(_bits(a), _bits(b)), f"{f}: {a!r} came back as {b!r}"
    assert np.array_equal(_bits(g.nodes["w"].weight), _bits(back.nodes["w"].weight))


@settings(max_examples=10, deadline=None)
@given(dt=dts, integrator=st.sampled_from(["euler", "exact"]))
def test_a_reread_graph_runs_to_bit_identical_traces(dt, integrator) -> None:
    # Time constants a few dozen steps long whatever dt is, so the neurons do something.
    tau_syn, tau_mem = np.full(N, 7.3 * dt), np.array([23.1, 31.7, 45.9]) * dt
    g = _graph(dt, tau_syn, tau_mem, np.full(N, 1.1), np.zeros(N), np.full(N, 0.9),
               integrator)
    x = np.random.default_rng(0).uniform(0.0, 2.0, (1, 80, 2))
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "p.nir"
        sc.write(g, path)
        back = sc.read(path)
    a = sc.simulate(g, x, backend="torch", record=("spikes", "v", "i"))
    b = sc.simulate(back, x, backend="torch", record=("spikes", "v", "i"))
    for s in ("v", "i"):
        assert_close_arrays(b.traces["n"][s], a.traces["n"][s], 0.0, f"re-read {s}")
    assert np.array_equal(a.spikes["n"], b.spikes["n"])
