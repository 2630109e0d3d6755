"""The NEST backend: availability, what it refuses and why, the gaps between NEST's own
models and the contract (closed or refused, each shown), lags for NEST's one-step minimum
delay, replay in blocks, threads, and Brunel (2000) against Brian2 spike for spike."""

from __future__ import annotations

import subprocess
import sys

import nir
import numpy as np
import pytest
from spikecore.backends import get_backend
from spikecore.backends.nest import backend as nest_backend
from spikecore.backends.nest.backend import import_nest, tics_per_ms

import spikecore as sc
from spikecore import Edge, Graph, Semantics
from spikecore.extensions import OUSource, PoissonSource
from spikecore.testing import assert_close_arrays, assert_same_spikes

EXACT = Semantics(dt=1e-3, integrator="exact", input_meaning="increment")
#: NEST's rounding vs Brian2's (tests/equivalence/test_equivalence.py STATE_ATOL["nest"]).
ATOL = 2e-13


def _lif(n: int, thr: float = 1.0, tau: float = 20e-3) -> nir.LIF:
    return nir.LIF(tau=np.full(n, tau), r=np.ones(n), v_leak=np.zeros(n),
                   v_threshold=np.full(n, thr), v_reset=np.zeros(n))


def _both(g: Graph, x: np.ndarray | None, steps: int | None = None,
          record: tuple = ("spikes", "v"), **nest_options) -> tuple[sc.Result, sc.Result]:
    ref = sc.simulate(g, x, backend="brian2", record=record, steps=steps)
    got = sc.simulate(g, x, backend="nest", record=record, steps=steps, **nest_options)
    return ref, got


def _assert_agree(ref: sc.Result, got: sc.Result) -> None:
    assert_same_spikes(ref, got)
    for n in sorted(ref.traces):
        for s in sorted(ref.traces[n]):
            assert_close_arrays(got.traces[n][s], ref.traces[n][s], ATOL, f"{n}:{s}")
    for n in sorted(ref.outputs):
        assert_close_arrays(got.outputs[n], ref.outputs[n], ATOL, f"output {n}")


def test_available_with_the_pinned_version() -> None:
    a = sc.available_backends()["nest"]
    assert a.available, f"NEST unavailable: {a.reason} (fix: {a.fix})"
    assert a.version == "3.10.0"


def test_supported_lists_the_models() -> None:
    sup = get_backend("nest").supported()
    assert "iaf_psc_delta" in sup["LIF"] and "iaf_psc_exp" in sup["CubaLIF"]
    assert "t_ref" in sup["RefractoryLIF"]
    assert "spike_generator" in sup["PoissonSource"]


def test_refusals_name_node_parameter_and_fix() -> None:
    rng = np.random.default_rng(0)
    cuba = nir.CubaLIF(tau_syn=np.full(3, 5e-3), tau_mem=np.full(3, 1e-2), r=np.ones(3),
                       v_leak=np.zeros(3), v_threshold=np.ones(3), v_reset=np.zeros(3),
                       w_in=np.ones(3))
    nodes = {"in": nir.Input(input_type=np.array([4])),
             "fc": nir.Linear(weight=rng.normal(size=(3, 4))), "cuba": cuba,
             "out": nir.Output(output_type=np.array([3]))}
    edges = [Edge("in", "fc"), Edge("fc", "cuba"), Edge("cuba", "out")]
    g = Graph(nodes, edges, Semantics(dt=1e-3, integrator="exact", input_meaning="current",
                                      reset="subtract"), name="bad")
    problems = get_backend("nest").check(g)
    assert len(problems) == 2, problems
    text = "\n".join(problems)
    assert "'cuba' (CubaLIF): reset='subtract' not available" in text
    assert "Semantics(reset='to_value')" in text
    assert "'cuba' (CubaLIF): input_meaning='current' not available" in text
    with pytest.raises(sc.UnsupportedError, match=r"backend 'nest' cannot lower 2 item\(s\) "
                                                  "of graph 'bad'"):
        sc.simulate(g, np.zeros((1, 5, 4)), backend="nest")
    thr = {**nodes, "cuba": nir.Threshold(threshold=np.zeros(3))}
    g2 = Graph(thr, edges, Semantics(dt=1e-3), name="euler")
    text = "\n".join(get_backend("nest").check(g2))
    assert "integrator='euler': NEST integrates the sub-threshold ODEs exactly" in text
    assert "'cuba' (Threshold): no lowering (a Threshold sends" in text


def test_options_are_checked() -> None:
    g = Graph({"in": nir.Input(input_type=np.array([2])), "lif": _lif(2),
               "out": nir.Output(output_type=np.array([2]))},
              [Edge("in", "lif"), Edge("lif", "out")], EXACT, name="opts")
    with pytest.raises(sc.UnsupportedError, match="threads=0: expected an int >= 1"):
        sc.simulate(g, np.zeros((1, 5, 2)), backend="nest", threads=0)
    with pytest.raises(sc.UnsupportedError, match="option 'mode': unknown to backend 'nest'"):
        sc.simulate(g, np.zeros((1, 5, 2)), backend="nest", mode="continuous")


def test_time_grid() -> None:
    assert tics_per_ms(1e-4) == 1000 and tics_per_ms(1.5e-7) == 1000000
    assert tics_per_ms(1e-10) is None
    g = Graph({"in": nir.Input(input_type=np.array([1])), "lif": _lif(1),
               "out": nir.Output(output_type=np.array([1]))},
              [Edge("in", "lif"), Edge("lif", "out")], EXACT.replace(dt=1e-10), name="fine")
    assert any("not a whole number of NEST's time tics" in p
               for p in get_backend("nest").check(g))


def test_threshold_gap_closed() -> None:
    """NEST spikes on ``V >= V_th``, the contract on ``v > v_threshold``. An IF neuron is
    driven to exactly its threshold (0.001 * 1000 = 1.0 in float64): NEST's own model with
    ``V_th = 1`` fires; spikecore's lowering (``V_th`` = the next float) and Brian2 do not.
    """
    g = Graph({"in": nir.Input(input_type=np.array([1])),
               "if": nir.IF(r=np.ones(1), v_threshold=np.ones(1), v_reset=np.zeros(1)),
               "out": nir.Output(output_type=np.array([1]))},
              [Edge("in", "if"), Edge("if", "out")], EXACT, name="at_threshold")
    x = np.zeros((1, 10, 1))
    x[0, 3, 0] = 1000.0  # v jumps by dt * r * x = 1.0
    ref, got = _both(g, x)
    assert ref.traces["if"]["v"][0, 3, 0] == 1.0
    assert not ref.spikes["if"].any()
    _assert_agree(ref, got)

    nest = import_nest()  # the same neuron in NEST, written by hand with V_th = 1
    with nest_backend.NEST_LOCK:
        nest.ResetKernel()
        nest.resolution = 1.0
        n = nest.Create("iaf_psc_delta", params={"E_L": 0.0, "V_m": 0.0, "V_th": 1.0,
                                                 "V_reset": 0.0, "t_ref": 0.0,
                                                 "tau_m": 1e300})
        gen = nest.Create("spike_generator", params={"spike_times": [4.0],
                                                     "spike_weights": [1.0]})
        rec = nest.Create("spike_recorder")
        nest.Connect(gen, n, syn_spec={"weight": 1.0, "delay": 1.0})
        nest.Connect(n, rec)
        nest.Simulate(10.0)
        hand = int(rec.get("n_events"))
        nest.ResetKernel()
    assert hand == 1, "NEST's own iaf_psc_delta should fire at V == V_th"


def test_delay_zero_chain_and_cycle_through_lags() -> None:
    """NEST's smallest delay is one step: a chain of delay-0 edges runs each layer one
    NEST step later (lags 0, 1, 2), and a recurrent edge of 2 steps around layer 2
    keeps its contract delay; spikes equal Brian2's."""
    rng = np.random.default_rng(3)
    nodes = {"in": nir.Input(input_type=np.array([3])),
             "w1": nir.Linear(weight=rng.uniform(0.5, 2.0, (4, 3)) * 30),
             "l1": _lif(4, 0.5), "w2": nir.Linear(weight=rng.uniform(0, 1.0, (5, 4)) * 30),
             "l2": _lif(5, 0.5), "w3": nir.Linear(weight=rng.uniform(0, 1.0, (2, 5)) * 30),
             "l3": _lif(2, 0.5), "rec": nir.Linear(weight=rng.normal(0, 1.0, (5, 5)) * 20),
             "out": nir.Output(output_type=np.array([2]))}
    edges = [Edge("in", "w1"), Edge("w1", "l1"), Edge("l1", "w2"), Edge("w2", "l2"),
             Edge("l2", "w3"), Edge("w3", "l3"), Edge("l3", "out"), Edge("l2", "rec"),
             Edge("rec", "l2", 2)]
    g = Graph(nodes, edges, EXACT, name="chain")
    x = (rng.random((2, 200, 3)) < 0.2) * 1.0
    ref, got = _both(g, x)
    assert got.info["lags"] == {"l1": 0, "l2": 1, "l3": 2}
    assert all(int(ref.spikes[n].sum()) > 5 for n in ("l1", "l2", "l3"))
    _assert_agree(ref, got)


def test_cycle_faster_than_nest_is_refused() -> None:
    nodes = {"in": nir.Input(input_type=np.array([1])), "a": _lif(1), "b": _lif(1),
             "ab": nir.Linear(weight=np.ones((1, 1))), "ba": nir.Linear(weight=np.ones((1, 1))),
             "out": nir.Output(output_type=np.array([1]))}
    edges = [Edge("in", "a"), Edge("a", "ab"), Edge("ab", "b"), Edge("b", "ba"),
             Edge("ba", "a", 1), Edge("b", "out")]
    problems = get_backend("nest").check(Graph(nodes, edges, EXACT, name="fast_cycle"))
    assert len(problems) == 1 and "cycle through 'a', 'b': NEST adds one step" in problems[0]


def test_non_spiking_source_of_a_neuron_is_refused() -> None:
    nodes = {"in": nir.Input(input_type=np.array([1])),
             "li": nir.LI(tau=np.full(1, 1e-2), r=np.ones(1), v_leak=np.zeros(1)),
             "lif": _lif(1), "out": nir.Output(output_type=np.array([1]))}
    g = Graph(nodes, [Edge("in", "li"), Edge("li", "lif"), Edge("lif", "out")], EXACT,
              name="graded")
    problems = get_backend("nest").check(g)
    assert problems == ["'lif' (LIF): its input comes from non-spiking 'li' (LI), whose output "
                        "is v; NEST neurons send only spikes, so only an Output may read it"]


def _sources_graph() -> Graph:
    """Seeded sources through a Scale, a delayed edge and an Affine bias into a refractory
    LIF: the drive needs history across blocks (delay), the OU stream its state."""
    n = 6
    nodes = {"poisson": PoissonSource(rate=np.full(n, 300.0), seed=4),
             "ou": OUSource(mean=np.full(n, 0.2), sigma=np.full(n, 0.5),
                            tau=np.full(n, 5e-3), seed=5),
             "scale": nir.Scale(scale=np.full(n, 25.0)),
             "aff": nir.Affine(weight=np.eye(n) * 40.0, bias=np.full(n, 3.0)),
             "lif": sc.extensions.RefractoryLIF(
                 tau=np.full(n, 1e-2), r=np.ones(n), v_leak=np.zeros(n),
                 v_threshold=np.full(n, 0.4), v_reset=np.zeros(n), t_ref=np.full(n, 3e-3)),
             "out": nir.Output(output_type=np.array([n]))}
    edges = [Edge("poisson", "scale"), Edge("scale", "lif", 3), Edge("ou", "aff"),
             Edge("aff", "lif"), Edge("lif", "out")]
    return Graph(nodes, edges, EXACT, name="sources")


def test_sources_replayed_in_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    g = _sources_graph()
    ref, whole = _both(g, None, steps=300)
    assert int(ref.spikes["lif"].sum()) > 20
    _assert_agree(ref, whole)
    monkeypatch.setattr(nest_backend, "BLOCK_VALUES", 6 * 7)  # blocks of 7 steps
    blocks = sc.simulate(g, None, backend="nest", record=("spikes", "v"), steps=300)
    _assert_agree(ref, blocks)


def test_refractory_cuba_agrees() -> None:
    rng = np.random.default_rng(8)
    n = 5
    cuba = sc.extensions.RefractoryCubaLIF(
        tau_syn=np.full(n, 4e-3), tau_mem=rng.uniform(5e-3, 2e-2, n), r=rng.uniform(0.5, 2, n),
        v_leak=np.zeros(n), v_threshold=np.full(n, 0.3), v_reset=np.full(n, -0.1),
        w_in=np.ones(n), t_ref=np.full(n, 2e-3))
    g = Graph({"in": nir.Input(input_type=np.array([3])),
               "fc": nir.Linear(weight=rng.uniform(0, 3, (n, 3)) * 10), "cuba": cuba,
               "out": nir.Output(output_type=np.array([n]))},
              [Edge("in", "fc"), Edge("fc", "cuba"), Edge("cuba", "out")], EXACT, name="rc")
    x = (rng.random((1, 300, 3)) < 0.3) * 1.0
    ref, got = _both(g, x, record=("spikes", "v", "i"))
    assert int(ref.spikes["cuba"].sum()) > 10
    _assert_agree(ref, got)


@pytest.mark.slow
def test_brunel_equals_brian2_on_one_and_two_threads() -> None:
    """Brunel (2000) model A, scaled down (N_E = 400), AI point: NEST on 1 and 2 threads
    gives Brian2's spikes, every neuron and step. In a fresh interpreter: NEST's OpenMP
    runtime then shares the process only with what a user's script loads (a NEST run
    with 2 threads once crashed late in a full pytest process that had also loaded
    torch's, scikit-learn's and numba's)."""
    code = (
        "import spikecore as sc\n"
        "from spikecore.models import brunel2000\n"
        "from spikecore.testing import assert_same_spikes\n"
        "g = brunel2000(N_E=400, g=5.0, eta=2.0, seed=2)\n"
        "ref = sc.simulate(g, None, backend='brian2', steps=1500, record=('spikes',))\n"
        "one = sc.simulate(g, None, backend='nest', steps=1500, record=('spikes',), threads=1)\n"
        "two = sc.simulate(g, None, backend='nest', steps=1500, record=('spikes',), threads=2)\n"
        "assert int(ref.spikes['neurons'].sum()) > 1000\n"
        "assert_same_spikes(ref, one)\n"
        "assert_same_spikes(ref, two)\n"
        "assert one.info['threads'] == 1 and two.info['threads'] == 2\n"
        "assert one.info['lags'] == {'neurons': 0}\n"
        "print('RESULT', int(ref.spikes['neurons'].sum()))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "RESULT" in proc.stdout


def test_connections_spread_over_synapse_model_copies(monkeypatch: pytest.MonkeyPatch) -> None:
    """NEST holds at most 2**27 - 2 connections per thread and synapse model; spikecore
    spreads larger networks over copies of static_synapse. Shrunk here to 130 per copy."""
    rng = np.random.default_rng(5)
    n = 30
    nodes = {"in": nir.Input(input_type=np.array([n])),
             "lif": _lif(n, 0.5), "rec": nir.Linear(weight=rng.normal(0, 1.0, (n, n)) * 8),
             "out": nir.Output(output_type=np.array([n]))}
    edges = [Edge("in", "lif"), Edge("lif", "rec"), Edge("rec", "lif", 1), Edge("lif", "out")]
    g = Graph(nodes, edges, EXACT, name="many")
    x = (rng.random((1, 200, n)) < 0.1) * 20.0
    monkeypatch.setattr(nest_backend, "CONNECTIONS_PER_MODEL", 130)
    monkeypatch.setattr(nest_backend, "CONNECT_CHUNK", 64)
    ref, got = _both(g, x)
    # 900 synapses (+ n from the generators, 2n to the recorders), connected in row blocks
    # of <= 64 (two rows of 30); a copy takes blocks while it holds <= 130: two blocks per
    # copy, 15 blocks, so 8 copies
    assert got.info["connections"] == 900 + 3 * n, got.info
    assert got.info["synapse_models"] == 8
    assert int(ref.spikes["lif"].sum()) > 50
    _assert_agree(ref, got)
