"""simulate()'s input normalisation, record plan and memory estimate (no engine run)."""

from __future__ import annotations

import nir
import numpy as np
import pytest
from prerequisites import installed_library

import spikecore as sc
from spikecore.simulate import estimate_bytes, normalize_inputs, prepare, record_plan

SEM = sc.Semantics(dt=1e-3)


def lif(n):
    return nir.LIF(tau=np.full(n, 0.01), r=np.ones(n), v_leak=np.zeros(n),
                   v_threshold=np.ones(n), v_reset=np.zeros(n))


def cuba(n):
    return nir.CubaLI(tau_syn=np.full(n, 5e-3), tau_mem=np.full(n, 1e-2), r=np.ones(n),
                      v_leak=np.zeros(n), w_in=np.ones(n))


@pytest.fixture
def one_input():
    """Input (2, 3) -> Flatten -> LIF(6) -> Output."""
    return sc.Graph({"x": nir.Input(input_type=np.array([2, 3])),
                     "f": nir.Flatten(input_type={"input": np.array([2, 3])}, start_dim=0),
                     "cell": lif(6), "o": nir.Output(output_type=np.array([6]))},
                    [("x", "f"), ("f", "cell"), ("cell", "o")], SEM)


@pytest.fixture
def two_inputs():
    return sc.Graph({"a": nir.Input(input_type=np.array([2])),
                     "b": nir.Input(input_type=np.array([2])),
                     "cell": lif(2), "syn": cuba(2), "o": nir.Output(output_type=np.array([2]))},
                    [("a", "cell"), ("b", "cell"), ("cell", "syn"), ("syn", "o")], SEM)


# ============================================================== accepted shapes
def test_batched_array(one_input):
    x = np.arange(4 * 7 * 6, dtype=np.float32).reshape(4, 7, 2, 3)
    arrays, steps = normalize_inputs(one_input, x, None)
    assert steps == 7 and list(arrays) == ["x"]
    assert arrays["x"].dtype == np.float64 and arrays["x"].shape == (4, 7, 2, 3)
    np.testing.assert_array_equal(arrays["x"], x)


def test_unbatched_array_becomes_batch_one(one_input):
    x = np.random.default_rng(0).normal(size=(9, 2, 3))
    arrays, steps = normalize_inputs(one_input, x, None)
    assert steps == 9 and arrays["x"].shape == (1, 9, 2, 3)
    np.testing.assert_array_equal(arrays["x"][0], x)


def test_bool_and_int_inputs(one_input):
    x = np.zeros((5, 2, 3), bool)
    x[2, 1, 1] = True
    arrays, _ = normalize_inputs(one_input, x, None)
    assert arrays["x"].dtype == np.float64 and arrays["x"][0, 2, 1, 1] == 1.0
    arrays, _ = normalize_inputs(one_input, [[[1, 2, 3], [4, 5, 6]]], None)
    assert arrays["x"].shape == (1, 1, 2, 3)


def test_torch_tensor_input(one_input):
    torch = installed_library("torch")
    x = torch.ones(2, 4, 2, 3, requires_grad=True)
    arrays, steps = normalize_inputs(one_input, x, None)
    assert steps == 4 and arrays["x"].shape == (2, 4, 2, 3) and arrays["x"].dtype == np.float64


def test_steps_pads_with_zeros(one_input):
    x = np.ones((2, 3, 2, 3))
    arrays, steps = normalize_inputs(one_input, x, 8)
    assert steps == 8 and arrays["x"].shape == (2, 8, 2, 3)
    np.testing.assert_array_equal(arrays["x"][:, :3], 1.0)
    np.testing.assert_array_equal(arrays["x"][:, 3:], 0.0)


def test_steps_truncates(one_input):
    x = np.arange(10 * 6, dtype=float).reshape(10, 2, 3)
    arrays, steps = normalize_inputs(one_input, x, np.int64(4))
    assert steps == 4 and type(steps) is int
    np.testing.assert_array_equal(arrays["x"][0], x[:4])


def test_dict_inputs(two_inputs):
    arrays, steps = normalize_inputs(two_inputs, {"a": np.ones((3, 5, 2)),
                                                  "b": np.zeros((5, 2))[None].repeat(3, 0)}, None)
    assert steps == 5 and set(arrays) == {"a", "b"}
    assert arrays["a"].shape == arrays["b"].shape == (3, 5, 2)


def test_dict_inputs_of_different_length_need_steps(two_inputs):
    inputs = {"a": np.ones((5, 2)), "b": np.ones((7, 2))}
    with pytest.raises(sc.InputError, match="disagree in length.*steps="):
        normalize_inputs(two_inputs, inputs, None)
    arrays, steps = normalize_inputs(two_inputs, inputs, 6)
    assert steps == 6
    np.testing.assert_array_equal(arrays["a"][0, 5], 0.0)
    np.testing.assert_array_equal(arrays["b"][0, 5], 1.0)


def test_graph_without_input_needs_steps():
    g = sc.Graph({"cell": lif(2), "o": nir.Output(output_type=np.array([2]))},
                 [("cell", "o")], SEM)
    assert normalize_inputs(g, None, 5) == ({}, 5)
    with pytest.raises(sc.InputError, match="no Input node: give steps"):
        normalize_inputs(g, None, None)


# ============================================================== refused inputs
def test_wrong_shape_names_expected_shape(one_input):
    with pytest.raises(sc.InputError) as info:
        normalize_inputs(one_input, np.ones((5, 3, 2)), None)
    msg = str(info.value)
    assert "input 'x'" in msg and "(5, 3, 2)" in msg
    assert "[batch, steps, 2, 3]" in msg and "[steps, 2, 3]" in msg


@pytest.mark.parametrize("shape", [(6,), (2, 3), (1, 1, 1, 2, 3)])
def test_wrong_rank(one_input, shape):
    with pytest.raises(sc.InputError, match=rf"got shape \({shape[0]},"):
        normalize_inputs(one_input, np.ones(shape), None)


def test_array_for_graph_with_several_inputs(two_inputs):
    with pytest.raises(sc.InputError, match=r"2 Input nodes \['a', 'b'\].*dict"):
        normalize_inputs(two_inputs, np.ones((5, 2)), None)


def test_unknown_and_missing_names(two_inputs):
    with pytest.raises(sc.InputError, match=r"unknown: \['c'\]; missing: \['b'\]"):
        normalize_inputs(two_inputs, {"a": np.ones((5, 2)), "c": np.ones((5, 2))}, None)


def test_batch_sizes_must_agree(two_inputs):
    with pytest.raises(sc.InputError, match="batch size"):
        normalize_inputs(two_inputs, {"a": np.ones((2, 5, 2)), "b": np.ones((3, 5, 2))}, None)


def test_empty_batch(one_input):
    with pytest.raises(sc.InputError, match="batch size is 0"):
        normalize_inputs(one_input, np.ones((0, 5, 2, 3)), None)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite(one_input, bad):
    x = np.zeros((4, 2, 3))
    x[2, 0, 1] = bad
    with pytest.raises(sc.InputError, match="input 'x': contains NaN or inf"):
        normalize_inputs(one_input, x, None)


@pytest.mark.parametrize("bad", [np.full((3, 2, 3), "a"), np.empty((3, 2, 3), dtype=object),
                                 [[1, 2], [3]]])
def test_non_numeric(one_input, bad):
    with pytest.raises(sc.InputError, match="input 'x'"):
        normalize_inputs(one_input, bad, None)


@pytest.mark.parametrize("steps", [0, -3, 2.5, True, "10"])
def test_bad_steps(one_input, steps):
    with pytest.raises(sc.InputError, match="steps="):
        normalize_inputs(one_input, np.ones((4, 2, 3)), steps)


# ============================================================== record plan
def test_record_plan(two_inputs):
    assert record_plan(two_inputs, ("spikes",)) == {"cell": ("spikes",)}
    assert record_plan(two_inputs, "v") == {"cell": ("v",), "syn": ("v",)}
    assert record_plan(two_inputs, ("spikes", "v", "i")) == {
        "cell": ("spikes", "v"), "syn": ("v", "i")}
    assert record_plan(two_inputs, ("syn:i", "syn:i")) == {"syn": ("i",)}
    assert record_plan(two_inputs, None) == {}
    assert record_plan(two_inputs, ()) == {}


def test_record_plan_state_absent_everywhere_is_not_an_error(one_input):
    assert record_plan(one_input, ("i",)) == {}


def test_record_plan_lists_every_problem(two_inputs):
    with pytest.raises(sc.InputError) as info:
        record_plan(two_inputs, ("voltage", "ghost:v", "o:v", "syn:spikes", 7))
    msg = str(info.value)
    assert "'voltage': expected one of ('spikes', 'v', 'i', 'w')" in msg
    assert "'ghost:v': no node 'ghost'" in msg
    assert "'o:v': node 'o' (Output) has no 'v'; it has nothing to record" in msg
    assert "'syn:spikes': node 'syn' (CubaLI) has no 'spikes'; it has ['i', 'v']" in msg
    assert "7: expected a string" in msg


# ============================================================== memory
def test_estimate_bytes_counts_recordings_outputs_and_state(two_inputs):
    from spikecore.simulate import STATE_VALUES_PER_ELEMENT

    plan = record_plan(two_inputs, ("spikes", "v", "i"))
    per_step = 2 * 2 + 2 * 2   # cell: spikes, v; syn: v, i
    per_step += 2              # the Output's recording
    state = 5 * 2 * STATE_VALUES_PER_ELEMENT  # every element of a, b, cell, syn, o
    assert estimate_bytes(two_inputs, 3, 11, plan) == 8 * 3 * (11 * per_step + state)
    assert estimate_bytes(two_inputs, 6, 11, plan) == 2 * estimate_bytes(two_inputs, 3, 11, plan)
    # what is not recorded costs nothing per step: the length only scales the recordings
    bare = record_plan(two_inputs, ())
    assert (estimate_bytes(two_inputs, 1, 1000, bare) - estimate_bytes(two_inputs, 1, 10, bare)
            == 8 * 990 * 2)  # the Output alone


def test_estimate_bytes_caps_source_streams():
    from spikecore.extensions import PoissonSource
    from spikecore.simulate import SOURCE_STREAM_HELD_BYTES

    g = sc.Graph({"src": PoissonSource(rate=np.full(1000, 5.0), seed=1)}, [],
                 sc.Semantics(dt=1e-3), name="s")
    short = estimate_bytes(g, 1, 100, {})
    assert short == 8 * 1000 * 100 + 8 * 1000 * 4
    assert estimate_bytes(g, 1, 10**7, {}) == SOURCE_STREAM_HELD_BYTES + 8 * 1000 * 4


def _any_available_backend() -> str:
    from spikecore.backends.base import get_backend

    reasons = []
    for name in ("torch", "brian2"):
        try:
            if get_backend(name).availability().available:
                return name
        except sc.SpikecoreError as exc:
            reasons.append(f"{name}: {exc}")
    pytest.skip("no backend available to reach the memory check: " + "; ".join(reasons))


def test_memory_limit_refused_before_running(one_input, monkeypatch):
    backend = _any_available_backend()
    monkeypatch.setenv("SPIKECORE_MAX_BYTES", "1000")
    with pytest.raises(sc.SpikecoreError) as info:
        sc.simulate(one_input, np.ones((2, 50, 2, 3)), backend=backend, record=("spikes", "v"))
    msg = str(info.value)
    # the inputs (float64, 2 x 50 x 6 elements) count too, before they are converted
    need = 8 * 2 * 50 * 6 + estimate_bytes(one_input.flatten(), 2, 50,
                                           record_plan(one_input, ("spikes", "v")))
    assert f"about {need / 2**30:.3g} GiB" in msg
    assert "batch 2, 50 steps" in msg and "SPIKECORE_MAX_BYTES" in msg
    assert "record less" in msg


def test_prepare_refuses_non_graphs():
    with pytest.raises(sc.SpikecoreError, match="spikecore.Graph"):
        prepare(nir.NIRGraph(nodes={}, edges=[], type_check=False), "torch", {})


def test_unknown_backend_named(one_input):
    with pytest.raises(sc.SpikecoreError, match="unknown backend 'neuron'.*brian2"):
        sc.simulate(one_input, np.ones((3, 2, 3)), backend="neuron")


def test_invalid_graph_refused_before_backend(one_input):
    g = one_input.copy()
    g.edges.append(sc.Edge("cell", "cell"))
    with pytest.raises(sc.GraphError, match="zero-delay cycle 'cell' -> 'cell'"):
        sc.simulate(g, np.ones((3, 2, 3)), backend="neuron")
