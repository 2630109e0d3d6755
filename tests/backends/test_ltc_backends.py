"""LTCLIF on Brian2 (discrete) and torch equals the numpy contract, spike for spike.

Expected values: tests/extension_reference.py, which runs spikecore.extensions.ltc.ltc_step (itself
checked against a hand-worked case and a scalar transcription in tests/extensions/test_ltc.py).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from extension_reference import reference
from spikecore.backends.lava.backend import LavaBackend
from spikecore.backends.lava.lowering import check_graph as lava_check
from spikecore.backends.lava.lowering import supported_names

import spikecore as sc
from spikecore import primitives as P
from spikecore.extensions.ltc import LTCLIF
from spikecore.testing import assert_close_arrays, assert_same_spikes

DT = 1e-3
STEPS = 80
#: The gate sums run in a different order in Brian2's summed variables (synapse order),
#: torch's and numpy's matrix products, and torch.sigmoid is not 1/(1+exp(-u)) to the
#: last bit: differences of a few ulps (measured 1e-16 .. 2e-15), held well below this bound
#: over 80 steps of a contracting update.
STATE_ATOL = 1e-9


def _ltc(n: int, seed: int, **zero: bool) -> LTCLIF:
    rng = np.random.default_rng(seed)
    p = dict(w_mem_in=rng.normal(0, 1, (n, n)), w_mem_v=rng.normal(0, 1, (n, n)),
             b_mem=rng.normal(-1, 0.5, n), w_adp_in=rng.normal(0, 1, (n, n)),
             w_adp_a=rng.normal(0, 1, (n, n)), b_adp=rng.normal(1, 0.5, n),
             r=rng.uniform(0.8, 1.2, n), v_leak=rng.normal(0, 0.02, n),
             v_threshold=rng.uniform(0.08, 0.12, n), v_reset=np.full(n, -0.02),
             beta=rng.uniform(1.0, 2.0, n))
    for f in zero:
        p[f] = np.zeros((n, n))
    return LTCLIF(**p)


def _graph(sem: sc.Semantics, n: int = 5, seed: int = 0, **zero: bool) -> sc.Graph:
    """Input -> Linear -> LTCLIF with a delay-1 recurrent Linear; a second LTCLIF fed by the
    first's spikes with delay 0 (a spiking source into a gate input), both read out."""
    rng = np.random.default_rng(seed + 100)
    return sc.Graph({
        "in": P.Input(np.array([3])),
        "w": P.Linear(rng.uniform(0, 0.6, (n, 3))),
        "ltc": _ltc(n, seed, **zero),
        "rec": P.Linear(rng.normal(0, 0.3, (n, n))),
        "ff": P.Linear(rng.uniform(0, 0.4, (3, n))),
        "ltc2": _ltc(3, seed + 1),
        "out": P.Output(np.array([n])),
        "out2": P.Output(np.array([3])),
    }, [("in", "w"), ("w", "ltc"), ("ltc", "rec", 1), ("rec", "ltc"), ("ltc", "ff"),
        ("ff", "ltc2"), ("ltc", "out"), ("ltc2", "out2")], sem, name="ltc_pair")


RECORD = ("spikes", "ltc:v", "ltc:a", "ltc:z", "ltc2:v", "ltc2:a")


def _compare(g: sc.Graph, x: np.ndarray) -> tuple[sc.Result, sc.Result]:
    brian = sc.simulate(g, {"in": x}, backend="brian2", record=RECORD)
    tor = sc.simulate(g, {"in": x}, backend="torch", record=RECORD)
    ref = reference(g, {"in": x}, x.shape[1])
    assert_same_spikes(brian, tor)
    for n, z in ref["spikes"].items():
        np.testing.assert_array_equal(brian.spikes[n], z, err_msg=f"{n} brian2")
        np.testing.assert_array_equal(tor.spikes[n], z, err_msg=f"{n} torch")
    for r in (brian, tor):
        for n, states in r.traces.items():
            for s, got in states.items():
                assert_close_arrays(got, ref["traces"][n][s], STATE_ATOL, f"{n}:{s} {r.backend}")
        for n, want in ref["outputs"].items():
            assert_close_arrays(r.outputs[n], want, STATE_ATOL, f"output {n} {r.backend}")
    return brian, tor


@pytest.mark.parametrize("integrator", ["euler", "exact"])
@pytest.mark.parametrize("reset", ["to_value", "subtract"])
def test_brian2_torch_and_numpy_agree(integrator: str, reset: str) -> None:
    g = _graph(sc.Semantics(dt=DT, integrator=integrator, reset=reset))
    x = np.random.default_rng(1).uniform(0, 1, (3, STEPS, 3))
    brian, _ = _compare(g, x)
    z = brian.spikes["ltc"]
    assert 20 < z.sum() < z.size - 20 and brian.spikes["ltc2"].sum() > 5
    assert brian.traces["ltc"]["a"].max() > 0.1  # adaptation is exercised
    assert np.ptp(brian.traces["ltc"]["v"]) > 0.05
    np.testing.assert_array_equal(brian.traces["ltc"]["z"], z.astype(float))


@pytest.mark.parametrize("zero", [("w_mem_v", "w_adp_in"), ("w_adp_in", "w_adp_a"),
                                  ("w_mem_in", "w_adp_in")])
def test_zero_gate_matrices_are_skipped_and_still_agree(zero: tuple[str, ...]) -> None:
    g = _graph(sc.Semantics(dt=DT), **{f: True for f in zero})
    x = np.random.default_rng(2).uniform(0, 1, (2, 50, 3))
    brian, _ = _compare(g, x)
    assert brian.spikes["ltc"].sum() > 5


def test_brian2_builds_gate_synapses_only_for_nonzero_gates() -> None:
    def objects(**zero: bool) -> int:
        g = _graph(sc.Semantics(dt=DT), **zero)
        return sc.simulate(g, {"in": np.zeros((1, 3, 3))}, backend="brian2").info["brian2_objects"]

    full = objects()
    assert objects(w_adp_in=True, w_adp_a=True) == full - 1  # no adaptation-gate Synapses
    assert objects(w_adp_in=True, w_adp_a=True, w_mem_in=True, w_mem_v=True) == full - 2


def test_torch_gradients_reach_every_gate_parameter() -> None:
    g = _graph(sc.Semantics(dt=DT))
    m = sc.to_torch(g, dtype=torch.float64)
    x = torch.as_tensor(np.random.default_rng(3).uniform(0, 1, (4, 40, 3)))
    out, _ = m({"in": x})
    loss = sum(o.sum() for o in out.values()) if isinstance(out, dict) else out.sum()
    loss.backward()
    op = m.op["ltc"]
    for f in ("w_mem_in", "w_mem_v", "w_adp_in", "w_adp_a", "b_mem", "b_adp"):
        p = getattr(op, f)
        assert isinstance(p, torch.nn.Parameter), f
        assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, f
    assert not isinstance(op.v_threshold, torch.nn.Parameter)  # not asked for
    m2 = sc.to_torch(g, dtype=torch.float64, trainable=("v_threshold",))
    assert isinstance(m2.op["ltc"].v_threshold, torch.nn.Parameter)
    assert not isinstance(m2.op["ltc"].w_mem_in, torch.nn.Parameter)


def test_torch_float32_module_runs_and_from_torch_writes_gates_back() -> None:
    g = _graph(sc.Semantics(dt=DT))
    m = sc.to_torch(g)  # float32 default
    with torch.no_grad():
        m.op["ltc"].w_mem_v.add_(0.25)
        out, _ = m({"in": torch.rand(2, 10, 3)})
    assert out["out"].dtype == torch.float32 and torch.isfinite(out["out"]).all()
    back = sc.from_torch(m)
    assert isinstance(back.nodes["ltc"], LTCLIF)
    np.testing.assert_allclose(back.nodes["ltc"].w_mem_v, g.nodes["ltc"].w_mem_v + 0.25,
                               rtol=1e-6, atol=1e-6)


def test_lava_check_reports_ltclif_unsupported_up_front() -> None:
    g = _graph(sc.Semantics(dt=DT))
    names = ", ".join(supported_names())
    why = ("(Lava 0.10's LIF has fixed decays; LTC gates recompute them every step from "
           "sigmoids of the input and the state)")
    assert lava_check(g.flatten()) == [
        f"'ltc' (LTCLIF): no lowering {why}; supported: {names}",
        f"'ltc2' (LTCLIF): no lowering {why}; supported: {names}",
    ]
    assert LavaBackend().check(g.flatten()) == lava_check(g.flatten())


def test_brian2_continuous_mode_refuses_ltclif() -> None:
    g = _graph(sc.Semantics(dt=DT))
    with pytest.raises(sc.UnsupportedError) as err:
        sc.simulate(g, {"in": np.zeros((1, 5, 3))}, backend="brian2", mode="continuous")
    assert sorted(err.value.problems) == [
        f"'{n}' (LTCLIF): runs in mode='discrete' only (no continuous-time form: its gates "
        "are per-step quantities (the update depends on dt only through the integrator "
        "choice), so there is no ODE to integrate)" for n in ("ltc", "ltc2")]
