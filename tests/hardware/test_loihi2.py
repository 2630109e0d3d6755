"""The Loihi 2 target: constants, check(), quantize() error bounds, estimates, CLI hook."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
from contract_reference import contract_step
from spikecore.hardware import loihi2 as L
from spikecore.hardware.loihi2 import emulation as LT

import spikecore as sc
from spikecore import primitives as P
from spikecore.discrete import neuron_coefficients
from spikecore.errors import UnsupportedError
from spikecore.testing import assert_close_arrays


# ------------------------------------------------------------------ constants
def test_every_constant_is_named_and_sourced() -> None:
    t = L.LOIHI2
    numeric = [f.name for f in dataclasses.fields(t) if f.name not in ("name", "sources")]
    missing = [f for f in numeric if not t.source(f)]
    assert not missing, f"constants without a source: {missing}"
    assert (t.uv_max, t.decay_unity, t.vth_max, t.bias_mant_range, t.bias_exp_max) == (
        2**23, 4096, 131071, (-4096, 4095), 7)
    assert t.max_delay_steps == 63 and t.neurocores == 128
    assert len(t.describe()) == len(numeric)
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.uv_bits = 32  # type: ignore[misc]


# ------------------------------------------------------------------ graphs
def chain(n_in: int = 6, n: int = 5, seed: int = 0, kind: str = "CubaLIF",
          semantics: sc.Semantics | None = None, **neuron: object) -> sc.Graph:
    rng = np.random.default_rng(seed)
    ones = np.ones(n)
    if kind == "CubaLIF":
        node = P.CubaLIF(tau_syn=ones * 5e-3, tau_mem=ones * 2e-2, r=ones, v_leak=ones * 0.01,
                         v_threshold=ones * 0.2, v_reset=ones * -0.05, w_in=ones)
    elif kind == "CubaLI":
        node = P.CubaLI(tau_syn=ones * 5e-3, tau_mem=ones * 2e-2, r=ones,
                        v_leak=ones * 0.01, w_in=ones)
    else:
        node = P.LIF(tau=ones * 1e-2, r=ones, v_leak=ones * 0.02, v_threshold=ones * 0.3,
                     v_reset=ones * 0.0)
    for k, v in neuron.items():
        setattr(node, k, v)
    nodes = {"in": P.Input(input_type={"input": np.array([n_in])}),
             "w": P.Linear(weight=rng.normal(0, 0.7, (n, n_in))), "n": node,
             "out": P.Output(output_type={"output": np.array([n])})}
    return sc.Graph(nodes, [("in", "w"), ("w", "n"), ("n", "out")],
                    semantics or sc.Semantics(dt=1e-3), name="chain")


def test_clean_graph_fits() -> None:
    assert L.check(chain()) == []
    assert L.check(chain(kind="LIF")) == []
    assert L.check(chain(kind="CubaLI")) == []


def test_check_lists_every_violation_at_once() -> None:
    n = 4
    ones = np.ones(n)
    nodes = {
        "in": P.Input(input_type={"input": np.array([n])}),
        "w1": P.Linear(weight=np.eye(n)),
        "w2": P.Linear(weight=np.eye(n)),                    # chained weight layers
        "a": P.LIF(tau=np.array([1e-2, 2e-2, 1e-2, 1e-2]), r=ones, v_leak=ones * 0,
                   v_threshold=ones, v_reset=ones * 0),       # heterogeneous tau
        "w3": P.Linear(weight=np.eye(n)),
        "b": P.CubaLIF(tau_syn=ones * 5e-3, tau_mem=ones * 2e-2, r=ones, v_leak=ones * 0,
                       v_threshold=ones, v_reset=ones * 0, w_in=ones),
        "th": P.Threshold(threshold=ones * 0.5),               # no chip mapping
        "out": P.Output(output_type={"output": np.array([n])}),
    }
    edges = [("in", "w1"), ("w1", "w2"), ("w2", "a"), ("a", "w3", 70), ("w3", "b"),
             ("b", "th"), ("th", "out")]
    g = sc.Graph(nodes, edges, sc.Semantics(dt=1e-3, integrator="exact", reset="subtract"))
    problems = L.check(g)
    expected = [
        ("'th' (Threshold): no Loihi 2 mapping", 1),
        ("edge 'w1' -> 'w2'", 1),
        ("reset='subtract'", 2),                              # a and b
        ("a_mem differ(s) across neurons", 1),
        ("'b' (CubaLIF): integrator='exact'", 1),
        ("delay 70 steps > 63", 1),
    ]
    for fragment, count in expected:
        hits = [p for p in problems if fragment in p]
        assert len(hits) == count, f"{fragment!r}: {len(hits)} hits in {problems}"
    assert len(problems) == sum(c for _, c in expected), problems
    with pytest.raises(UnsupportedError) as info:
        L.quantize(g)
    assert len(info.value.problems) == len(problems)


def test_check_reports_capacity_and_fan_in() -> None:
    tiny = dataclasses.replace(L.LOIHI2, neurons_per_chip=4, synapses_per_chip=20,
                               neurons_per_core=2, synapses_per_core=10, neurocores=2,
                               max_fan_in=3)
    problems = L.check(chain(n_in=6, n=5), tiny)
    for fragment in ("5 neurons > 4 per chip", "30 synapses > 20 per chip",
                     "needs 3 neurocores > 2", "fan-in 6 > 3"):
        assert any(fragment in p for p in problems), (fragment, problems)
    # capacity alone does not stop quantisation (a multi-chip network still quantises)
    L.quantize(chain(n_in=6, n=5), tiny)


def test_resource_estimate() -> None:
    g = chain(n_in=6, n=5)
    est = L.estimate_resources(g)
    w = g.nodes["w"].weight
    assert est.neurons == 5 and est.synapses == w.size
    assert est.nonzero_synapses == np.count_nonzero(w)
    assert est.synaptic_memory_bits == w.size * L.LOIHI2.synapse_bits
    assert est.neurocores == 1 and est.max_fan_in == 6 and est.chips == 1
    big = dataclasses.replace(L.LOIHI2, neurons_per_core=2)
    assert L.estimate_resources(g, big).neurocores == math.ceil(5 / 2)


def test_operations_estimate_counts_events() -> None:
    g = chain(n_in=6, n=5, kind="LIF")
    g.nodes["w"].weight[0, :3] = 0.0                      # zeros cost no synaptic op
    x = (np.random.default_rng(1).random((2, 40, 6)) < 0.4).astype(float)
    res = LT.run(L.quantize(g)[1].network, {"in": x})
    ops = L.estimate_operations(g, res, inputs={"in": x})
    nz = (g.nodes["w"].weight != 0)
    expected = sum(float(nz[:, j].sum()) * x[b, t, j]
                   for b in range(2) for t in range(40) for j in range(6)) / 2
    assert ops.synaptic_ops_total == pytest.approx(expected)
    assert ops.synaptic_ops_per_step == pytest.approx(expected / 40)
    assert ops.neuron_updates_per_step == 5
    no_inputs = L.estimate_operations(g, res)
    assert math.isnan(no_inputs.per_connection["in->n"])


# ------------------------------------------------------------------ quantisation
@pytest.mark.parametrize("kind", ["CubaLIF", "LIF", "CubaLI"])
def test_parameter_errors_are_within_half_an_lsb(kind: str) -> None:
    """Round-to-nearest: no parameter is off by more than half its quantisation step,
    and the report's numbers are the real differences."""
    g = chain(kind=kind, seed=3)
    qg, rep = L.quantize(g)
    assert rep.errors
    for e in rep.errors:
        assert e.max_abs_error <= 0.5 * e.lsb * (1 + 1e-9), e
    # independently: the threshold the integers encode
    net = rep.network.neurons["n"]
    if net.spiking:
        vth_q = net.vth * 64 / net.scale + net.v_offset
        assert rep.error("n", "v_threshold").max_abs_error == pytest.approx(
            abs(vth_q - 0.2 if kind == "CubaLIF" else vth_q - 0.3), abs=1e-15)
        assert qg.nodes["n"].v_threshold[0] == pytest.approx(vth_q)
    w_err = np.abs(qg.nodes["w"].weight - g.nodes["w"].weight).max()
    assert rep.error("w", "weight").max_abs_error == pytest.approx(w_err)
    assert "weight" in rep.table()


def _contract_run(g: sc.Graph, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(i, v) of node 'n' under the float contract (numpy), one batch."""
    co = neuron_coefficients(g.nodes["n"], g.semantics)
    w = g.nodes["w"].weight
    i = np.zeros(co.shape)
    v = co.v_initial.copy()
    i_s, v_s = [], []
    for t in range(x.shape[0]):
        _, i, v = contract_step(co, i, v, w @ x[t])
        i_s.append(i)
        v_s.append(v)
    return np.array(i_s), np.array(v_s)


def test_fixed_point_vs_float_divergence_is_bounded() -> None:
    """Sub-threshold CubaLI: |v_loihi - v_float| stays below a bound derived from the
    report (parameter errors) and the arithmetic (one truncation per decay)."""
    g = chain(kind="CubaLI", seed=5, n_in=8, n=6)
    qg, rep = L.quantize(g)
    p = rep.network.neurons["n"]
    steps = 200
    x = (np.random.default_rng(2).random((steps, 8)) < 0.3).astype(float)
    res = LT.run(rep.network, {"in": x[None]})
    v_fix = res.traces["n"]["v"][0]
    i_f, v_f = _contract_run(g, x)
    co = neuron_coefficients(g.nodes["n"], g.semantics)
    s, gain = p.scale, (co.k_new * co.b_syn)
    conn = rep.network.connections[0]
    w_q = conn.weights * 2.0 ** conn.weight_exp * 64 / (gain[:, None] * s)
    a_u = (4095 - p.du) / 4096
    a_v = (4096 - p.dv) / 4096
    bias_q = p.bias_mant * 2.0 ** p.bias_exp
    e_u = np.zeros(6)
    e_v = np.abs(p.v_init - s * co.v_initial)
    u_prev = np.zeros(6)
    v_prev = s * co.v_initial
    bound = []
    for t in range(steps):
        # integer-unit states of the float run: U = s k i, V = s v (v_offset = 0 here)
        e_u = a_u * e_u + abs(a_u - co.a_syn[0]) * np.abs(u_prev) \
            + np.abs(s * gain * ((w_q - g.nodes["w"].weight) @ x[t])) + 1.0
        e_v = a_v * e_v + abs(a_v - co.a_mem[0]) * np.abs(v_prev) + e_u \
            + np.abs(bias_q - s * co.c) + 1.0
        u_prev, v_prev = s * co.k_new * i_f[t], s * v_f[t]
        bound.append(e_v / s)
    bound = np.array(bound)
    err = np.abs(v_fix - v_f)
    assert (err <= bound * (1 + 1e-9) + 1e-12).all(), \
        f"divergence {err.max():.3g} above bound at {np.argwhere(err > bound)[:3]}"
    span = np.abs(v_f).max()
    assert bound.max() < 0.05 * span, f"bound {bound.max():.3g} vs |v| up to {span:.3g}"
    assert err.max() > 0  # quantisation did change something: the test can fail


def test_dequantised_graph_isolates_arithmetic_error() -> None:
    """The float contract on the returned graph runs the quantised parameters: it
    matches the integer run up to one LSB of truncation per step (decayed), far closer
    than the original float graph does."""
    g = chain(kind="CubaLI", seed=6, n_in=8, n=6, v_leak=np.zeros(6))
    qg, rep = L.quantize(g)
    p = rep.network.neurons["n"]
    x = (np.random.default_rng(4).random((150, 8)) < 0.3).astype(float)
    v_fix = LT.run(rep.network, {"in": x[None]}).traces["n"]["v"][0]
    _, v_q = _contract_run(qg, x)
    _, v_f = _contract_run(g, x)
    a_u, a_v = (4095 - p.du) / 4096, (4096 - p.dv) / 4096
    # truncation only: e_u <= 1/(1-a_u), e_v <= (e_u + 1)/(1-a_v) integer units
    trunc_bound = (1 / (1 - a_u) + 1) / (1 - a_v) / p.scale
    assert_close_arrays(v_fix, v_q, trunc_bound, "integer run vs dequantised float graph")
    assert np.abs(v_fix - v_f).max() > np.abs(v_fix - v_q).max()


def test_spiking_divergence_is_measured_and_small() -> None:
    """A spiking CubaLIF layer driven well above threshold: spike counts of the chip
    arithmetic and the float contract differ by less than 10% per neuron.
    Tolerance reason: 8-bit weights (about 1% error) move spike times by a step now
    and then; a 10% count difference would mean a mapping error, not rounding."""
    g = chain(kind="CubaLIF", seed=8, n_in=10, n=8)
    g.nodes["w"].weight = np.abs(g.nodes["w"].weight) + 0.3
    qg, rep = L.quantize(g)
    x = (np.random.default_rng(5).random((400, 10)) < 0.3).astype(float)
    res = LT.run(rep.network, {"in": x[None]})
    co = neuron_coefficients(g.nodes["n"], g.semantics)
    i = np.zeros(8)
    v = co.v_initial.copy()
    counts = np.zeros(8)
    for t in range(400):
        z, i, v = contract_step(co, i, v, g.nodes["w"].weight @ x[t])
        counts += z
    fixed = res.spikes["n"][0].sum(axis=0)
    assert counts.min() >= 20, "the layer must spike for the comparison to mean anything"
    rel = np.abs(fixed - counts) / counts
    assert rel.max() < 0.10, f"spike counts {fixed} vs float {counts}"


def test_scale_override_and_reset_offset() -> None:
    """v_reset != 0 is realised by offsetting v (the chip resets to 0); ``scales``
    overrides the automatic power-of-two scale."""
    g = chain(kind="LIF", v_reset=np.full(5, -0.1))
    _, rep = L.quantize(g, scales={"n": 2.0 ** 10})
    p = rep.network.neurons["n"]
    assert p.scale == 2.0 ** 10 and p.v_offset == -0.1
    assert p.vth == round((0.3 + 0.1) * 2 ** 10 / 64)
    res = LT.run(rep.network, {"in": np.ones((1, 50, 6))})
    z = res.spikes["n"][0]
    v = res.traces["n"]["v"][0]
    assert z.any()
    assert_close_arrays(v[z], np.full(int(z.sum()), -0.1), 0.0, "v after a spike = v_reset")


# ------------------------------------------------------------------ CLI hook
def test_main_check_reports_fit_and_cost(tmp_path, capsys) -> None:
    ok = tmp_path / "ok.nir"
    sc.write(chain(), ok)
    assert L.main_check(str(ok), "loihi2", json_output=True) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["fits"] and report["violations"] == []
    assert report["resources"]["neurons"] == 5 and report["quantisation"]
    bad = tmp_path / "bad.nir"
    sc.write(chain(semantics=sc.Semantics(dt=1e-3, reset="subtract")), bad)
    assert L.main_check(str(bad), "loihi2", json_output=False) == 1
    text = capsys.readouterr().out
    assert "does NOT fit" in text and "reset='subtract'" in text
    with pytest.raises(sc.errors.InputError, match="'truenorth': unknown target"):
        L.main_check(str(ok), "truenorth")


def test_check_and_the_lava_backend_share_one_verdict(capsys) -> None:
    """A LIF resting above its threshold behind a Linear (the NIR paper's two_lif_neurons
    case): Lava's fixed-point lowering refuses it, so check must say it does not fit."""
    from spikecore.backends.lava.lowering import check_graph

    ones = np.ones(5)
    resting_high = chain(kind="LIF", v_leak=ones * 1.2, v_threshold=ones * 1.0)
    lava = check_graph(resting_high.flatten(), "fixed_pt")
    assert lava and "rests above its threshold" in lava[0]
    violations = L.check(resting_high)
    assert any("Lava (fixed_pt) refuses" in v and "rests above its threshold" in v
               for v in violations), violations
    for g in (chain(), chain(kind="LIF"), chain(kind="CubaLI"), resting_high,
              chain(semantics=sc.Semantics(dt=1e-3, reset="subtract"))):
        if L.check(g) == []:  # fits => Lava's fixed-point lowering accepts it
            assert check_graph(g.flatten(), "fixed_pt") == [], g.name


def test_large_quantisation_error_is_a_warning_naming_the_node(tmp_path, capsys) -> None:
    g = chain(kind="LIF")
    w = g.nodes["w"].weight
    w[:] = w * 1e-7  # far below what the threshold's scale and the weight exponent reach
    path = tmp_path / "tiny.nir"
    sc.write(g, path)
    assert L.main_check(str(path), "loihi2", json_output=True) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["fits"]
    assert any(w.startswith("w.weight: quantisation error up to")
               for w in report["warnings"]), report["warnings"]
    assert L.main_check(str(path), "loihi2") == 0
    assert "warning: w.weight" in capsys.readouterr().out
    clean = tmp_path / "clean.nir"
    sc.write(chain(kind="LIF"), clean)
    L.main_check(str(clean), "loihi2", json_output=True)
    assert json.loads(capsys.readouterr().out)["warnings"] == []
