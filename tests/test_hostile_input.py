"""Malformed input gives one clear spikecore error naming the node or field, never a raw
exception from deep inside numpy, nir or a backend (issue 13's findings, one test each)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import warnings
from pathlib import Path

import h5py
import nir
import numpy as np
import pytest
from prerequisites import installed_library

import spikecore as sc
from spikecore import extensions as X
from spikecore.errors import DialectError, GraphError, NIRFileError
from spikecore.file_metadata import METADATA_KEY

SEM = sc.Semantics(dt=1e-3)
N = 3


def _lif(**changes) -> nir.LIF:
    p = dict(tau=np.full(N, 0.01), r=np.ones(N), v_leak=np.zeros(N), v_threshold=np.ones(N),
             v_reset=np.zeros(N))
    p.update(changes)
    return nir.LIF(**p)


def _chain(node: object, weight: object = None) -> sc.Graph:
    w = weight if weight is not None else nir.Linear(np.eye(N))
    return sc.Graph({"i": nir.Input(np.array([N])), "w": w, "a": node,
                     "o": nir.Output(np.array([N]))}, [("i", "w"), ("w", "a"), ("a", "o")], SEM)


def _invalid(g: sc.Graph, *phrases: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(GraphError) as info:
            g.validate()
    for phrase in phrases:
        assert phrase in str(info.value), str(info.value)


# ------------------------------------------------------------------ metadata fields
def _with_record(tmp_path: Path, edit) -> Path:
    path = sc.write(_chain(_lif()), tmp_path / "g.nir")
    with h5py.File(path, "r+") as f:
        key = f"node/metadata/{METADATA_KEY}"
        record = json.loads(f[key][()])
        text = edit(record)
        del f[key]
        f[key] = text if isinstance(text, str) else json.dumps(record)
    return path


@pytest.mark.parametrize("edit, phrase", [
    (lambda r: "[" * 100_000 + "]" * 100_000, "nests deeper than"),
    (lambda r: r.update(node_order=7), "'node_order' is 7, expected a list"),
    (lambda r: r.update(node_order={"a": 1}), "'node_order' is {'a': 1}, expected a list"),
    (lambda r: r["semantics"].update(dt="0.001"), "semantics 'dt' is '0.001', expected a number"),
    (lambda r: r["semantics"].update(dt=True), "semantics 'dt' is True, expected a number"),
    (lambda r: r["semantics"].update(reset=["to_value"]), "reset=['to_value']: expected one of"),
    (lambda r: r.update(semantics=[1]), "'semantics' is [1], expected an object"),
    (lambda r: r.update(edge_delays=[["w", "a", 1.5]]), "'edge_delays' is malformed"),
    (lambda r: r.update(edge_delays=[["w", "a", -1]]), "'edge_delays' is malformed"),
    # fuzz case metadata:1853946440: 10**400 steps overflowed a float in the memory guard
    (lambda r: r.update(edge_delays=[["w", "a", 10**400]]), "'edge_delays' is malformed"),
    (lambda r: r.update(edges=[["w", "a", 2**63]]), "'edges' is malformed"),
    (lambda r: r.update(name=["x"]), "'name' is ['x'], expected a string"),
], ids=["deep-json", "order-int", "order-dict", "dt-str", "dt-bool", "reset-list",
        "semantics-list", "delay-float", "delay-negative", "delay-huge", "edges-huge",
        "name-list"])
def test_metadata_field_types_are_checked(tmp_path: Path, edit, phrase: str) -> None:
    path = _with_record(tmp_path, edit)
    with pytest.raises(GraphError) as info:
        sc.read(path)
    assert phrase in str(info.value), str(info.value)
    assert str(path) in str(info.value)


def test_semantics_dt_must_be_a_number() -> None:
    for bad in ("1e-3", True, None, [1e-3], np.array([1e-3, 2e-3])):
        with pytest.raises(GraphError, match="expected a positive number of seconds"):
            sc.Semantics(dt=bad)
    assert sc.Semantics(dt=np.float64(1e-3)).dt == 1e-3
    assert type(sc.Semantics(dt=np.float32(1e-3)).dt) is float


# ------------------------------------------------------------------ validation holes
@pytest.mark.parametrize("node, param", [
    (X.RefractoryLIF(tau=np.full(N, 0.01), r=np.ones(N), v_leak=np.zeros(N),
                     v_threshold=np.ones(N), v_reset=np.zeros(N), t_ref=np.full(2, 2e-3)),
     "t_ref"),
    (X.ALIF(tau=np.full(N, 0.01), r=np.ones(N), v_leak=np.zeros(N), v_threshold=np.ones(N),
            v_reset=np.zeros(N), tau_adapt=np.full(2, 0.1), beta=np.ones(N)), "tau_adapt"),
    (X.Izhikevich(a=np.full(N, 0.02), b=np.full(2, 0.2), c=np.full(N, -65.0),
                  d=np.full(N, 8.0), v0=np.full(N, -65.0), u0=np.full(N, -13.0),
                  v_peak=np.full(N, 30.0)), "b"),
    (nir.CubaLIF(tau_syn=np.full(N, 5e-3), tau_mem=np.full(N, 0.01), r=np.ones(N),
                 v_leak=np.zeros(N), v_threshold=np.ones(N), v_reset=np.zeros(N),
                 w_in=np.ones((1, N))), "w_in"),
], ids=["RefractoryLIF", "ALIF", "Izhikevich", "CubaLIF"])
def test_parameters_of_the_wrong_shape_are_refused(node: object, param: str) -> None:
    _invalid(_chain(node), f"parameter {param!r} has shape", f"expected ({N},)")


def test_back_edge_of_the_wrong_shape_is_refused() -> None:
    g = sc.Graph({"i": nir.Input(np.array([N])), "a": _lif(), "w": nir.Linear(np.ones((2, N))),
                  "o": nir.Output(np.array([N]))},
                 [("i", "a"), ("a", "w"), ("w", "a", 1), ("a", "o")], SEM)
    _invalid(g, "node 'a' (LIF): inputs disagree in shape", "'w' gives (2,)")
    self_loop = sc.Graph({"i": nir.Input(np.array([N])), "a": _lif(),
                          "o": nir.Output(np.array([N]))},
                         [("i", "a"), ("a", "a", 1), ("a", "o")], SEM)
    self_loop.validate()  # a same-shape self-loop is fine


def test_affine_bias_of_the_wrong_shape_is_refused() -> None:
    _invalid(_chain(_lif(), nir.Affine(np.eye(N), np.zeros((1, 1, N)))),
             "'bias' has shape (1, 1, 3), expected (3,)")


def test_time_constant_so_small_that_dt_over_tau_overflows() -> None:
    _invalid(_chain(_lif(tau=np.full(N, 5e-324))), "'tau'", "dt/tau overflows")


def test_snntorch_dialect_names_the_node_with_2d_w_in() -> None:
    cuba = nir.CubaLIF(tau_syn=np.full(N, 2e-4), tau_mem=np.full(N, 1e-3),
                       r=np.full(N, 10.0), v_leak=np.zeros(N), v_threshold=np.ones(N),
                       w_in=np.full((1, N), 2.0))
    g = nir.NIRGraph(nodes={"i": nir.Input(np.array([N])), "c": cuba,
                            "o": nir.Output(np.array([N]))},
                     edges=[("i", "c"), ("c", "o")], type_check=False)
    with pytest.raises(DialectError, match=r"node 'c' \(CubaLIF\) cannot be read"):
        sc.from_nir(g, dialect="snntorch")


def test_loihi2_check_with_a_denormal_threshold_is_a_clear_error(tmp_path: Path) -> None:
    path = sc.write(_chain(_lif(v_threshold=np.full(N, 5e-324))), tmp_path / "t.nir")
    proc = subprocess.run([sys.executable, "-m", "spikecore.cli", "check", "--target",
                           "loihi2", str(path)], capture_output=True, text=True, timeout=300)
    # check shares the Lava lowering's verdict (9bf81db): the model does not fit (exit 1),
    # naming the node (it exited 3 with an OverflowError there: fuzz validation:171899776)
    assert proc.returncode == 1, proc.stderr
    assert "'a': no fixed-point scale" in proc.stdout, proc.stdout
    assert "Traceback" not in proc.stderr


def test_nir_reader_never_leaks_raw_errors_on_a_non_graph_root(tmp_path: Path) -> None:
    path = sc.write(_chain(_lif()), tmp_path / "g.nir")
    with h5py.File(path, "r+") as f:
        del f["node/type"]
        f["node/type"] = np.array([b"NIRGraph", b"NIRGraph"])
    with pytest.raises(NIRFileError, match="root node has type"):
        sc.read(path)


# ------------------------------------------------------------------ memory guards
def test_long_delays_are_refused_before_allocation(monkeypatch) -> None:
    monkeypatch.setenv("SPIKECORE_MAX_BYTES", str(256 * 2**20))
    delay = _chain(_lif(), nir.Delay(np.full(N, 5.0)))  # 5000 steps at dt = 1 ms
    with pytest.raises(sc.SpikecoreError, match="delay buffers"):
        sc.simulate(delay, np.zeros((100_000, 5, N)), backend="torch")
    edge = sc.Graph({"i": nir.Input(np.array([N])), "a": _lif(), "o": nir.Output(np.array([N]))},
                    [("i", "a", 5000), ("a", "o")], SEM)
    with pytest.raises(sc.SpikecoreError, match="delay buffers"):
        sc.simulate(edge, np.zeros((100_000, 5, N)), backend="torch")
    edge = sc.Graph({"i": nir.Input(np.array([N])), "a": _lif(), "o": nir.Output(np.array([N]))},
                    [("i", "a", 3_000_000), ("a", "o")], SEM)
    # Brian2 keeps at most 256 history copies: a long delay is refused by its own rule,
    # a shorter one with a large batch by the memory guard
    with pytest.raises(sc.SpikecoreError, match="exceeds the limit of 256 history copies"):
        sc.simulate(edge, np.zeros((1, 5, N)), backend="brian2")
    short = _chain(_lif(), nir.Delay(np.full(N, 0.2)))  # 200 steps
    with pytest.raises(sc.SpikecoreError, match="delay buffers"):
        sc.simulate(short, np.zeros((200_000, 5, N)), backend="brian2")


def test_inputs_are_refused_before_they_are_converted(monkeypatch) -> None:
    import tracemalloc

    monkeypatch.setenv("SPIKECORE_MAX_BYTES", str(64 * 2**20))
    wide = _chain(_lif(), nir.Linear(np.ones((N, 4000))))
    wide.nodes["i"] = nir.Input(np.array([4000]))
    x = np.zeros((500, 100, 4000), dtype=np.uint8)  # 200 MB; 1.6 GB as float64
    tracemalloc.start()
    try:
        with pytest.raises(sc.SpikecoreError, match="above the limit"):
            sc.simulate(wide, x, backend="torch")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 32 * 2**20, f"{peak / 2**20:.0f} MiB allocated before the refusal"


def test_cli_run_refuses_a_huge_random_input_before_drawing_it(tmp_path: Path) -> None:
    path = sc.write(_chain(_lif()), tmp_path / "g.nir")
    proc = subprocess.run([sys.executable, "-m", "spikecore.cli", "run", str(path),
                           "--steps", str(2**31)], capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "SPIKECORE_MAX_BYTES": str(2**30)})
    assert proc.returncode == 2, proc.stderr
    assert "above the limit" in proc.stderr and "Traceback" not in proc.stderr


# ------------------------------------------------------------ fuzz campaign findings
def test_report_into_something_that_is_not_a_folder(tmp_path: Path) -> None:
    """fuzz writing:687486490: write_report into a file/FIFO/link was a raw OSError."""
    import os

    from spikecore.atomic import UnsafeTargetError
    from spikecore.report import write_report

    report = sc.compare(_chain(_lif()), np.ones((1, 5, N)), backends=("torch", "brian2"))
    target = tmp_path / "taken"
    target.write_text("keep")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "elsewhere")
    for bad in (target, fifo, link):
        with pytest.raises(UnsafeTargetError, match="is not a folder"):
            write_report(report, bad)
    assert target.read_text() == "keep"


def test_nested_and_quantized_tensors() -> None:
    """fuzz torch:1729044788 / torch:810999216: raw RuntimeError / TypeError."""
    torch = installed_library("torch")
    g = _chain(_lif())
    nested = torch.nested.nested_tensor([torch.ones(5, N), torch.ones(3, N)])
    for backend in ("torch", "brian2"):
        with pytest.raises(sc.errors.InputError, match="nested tensor"):
            sc.simulate(g, nested, backend=backend)
    x = torch.ones(1, 5, N) * 30
    q = torch.quantize_per_tensor(x, scale=1.0, zero_point=0, dtype=torch.quint8)
    for backend in ("torch", "brian2"):
        ref = sc.simulate(g, x.double(), backend=backend)
        got = sc.simulate(g, q, backend=backend)
        assert np.array_equal(ref.spikes["a"], got.spikes["a"]) and ref.spikes["a"].sum() > 0


def test_unknown_hardware_target_is_one_error_line(tmp_path: Path) -> None:
    """fuzz validation:310644385: exit 2 but the message on stdout, no 'error:' line."""
    path = sc.write(_chain(_lif()), tmp_path / "g.nir")
    proc = subprocess.run([sys.executable, "-m", "spikecore.cli", "check", "--target",
                           "loihi3", str(path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: --target 'loihi3': unknown target"), proc.stderr


def test_astronomical_edge_delay_is_a_validation_error() -> None:
    """fuzz structural:964264583: 10**400 steps validated, then OverflowError."""
    g = sc.Graph({"i": nir.Input(np.array([N])), "a": _lif(), "o": nir.Output(np.array([N]))},
                 [("i", "a", 10**400), ("a", "o")], SEM)
    _invalid(g, "delay_steps=", "expected an integer from 0 to")


def test_rockpool_dialect_names_the_node_with_2d_thresholds() -> None:
    """fuzz validation:642367920: a raw AssertionError from nir's constructor."""
    cuba = nir.CubaLIF(tau_syn=np.full((N, N), 2e-3), tau_mem=np.full((N, N), 1e-2),
                       r=np.full((N, N), 9.0), v_leak=np.zeros((N, N)),
                       v_threshold=np.ones((N, N)), w_in=np.ones((N, N)))
    cuba.v_threshold = np.ones((N, N, 1))
    g = nir.NIRGraph(nodes={"i": nir.Input(np.array([N])), "c": cuba,
                            "o": nir.Output(np.array([N]))},
                     edges=[("i", "c"), ("c", "o")], type_check=False)
    with pytest.raises(DialectError, match=r"node 'c' \(CubaLIF\) cannot be read"):
        sc.from_nir(g, dialect="rockpool", dt=1e-3)


def test_torch_refuses_delays_deeper_than_its_history_quickly() -> None:
    """fuzz memory:1649167202: a 1e6-step delay built a million-tensor tuple for minutes."""
    import time

    from spikecore.backends.torch.module import MAX_DELAY_STEPS

    edge = sc.Graph({"i": nir.Input(np.array([N])), "a": _lif(), "o": nir.Output(np.array([N]))},
                    [("i", "a", 10**6), ("a", "o")], SEM)
    node = _chain(_lif(), nir.Delay(np.full(N, 1e3)))
    for g, what in ((edge, "edge 'i' -> 'a'"), (node, "'w' (Delay)")):
        t0 = time.monotonic()
        with pytest.raises(sc.errors.UnsupportedError, match=f"{re.escape(what)}.*> "
                                                             f"{MAX_DELAY_STEPS}"):
            sc.simulate(g, np.zeros((1, 5, N)), backend="torch")
        assert time.monotonic() - t0 < 30


def test_report_folder_name_too_long_is_a_clear_error(tmp_path: Path) -> None:
    """fuzz writing:106360404: a 300-character folder name was a raw OSError."""
    from spikecore.atomic import UnsafeTargetError
    from spikecore.report import write_report

    report = sc.compare(_chain(_lif()), np.ones((1, 5, N)), backends=("torch", "brian2"))
    with pytest.raises(UnsafeTargetError, match="File name too long"):
        write_report(report, tmp_path / ("x" * 300))


def test_torch_simulate_refuses_dtypes_it_cannot_return() -> None:
    """fuzz torch:1831916953: dtype=torch.bfloat16 ran, then numpy could not take it."""
    torch = installed_library("torch")
    with pytest.raises(sc.errors.UnsupportedError, match="dtype=torch.bfloat16"):
        sc.simulate(_chain(_lif()), np.ones((1, 5, N)), backend="torch", dtype=torch.bfloat16)


def test_lava_batched_weights_without_a_dense_block_matrix() -> None:
    """fuzz memory:996903012: batch 1e5 built np.kron(np.eye(batch), w): 74.5 GiB."""
    from spikecore.backends.lava.lowering import _batched_coo

    w = np.array([[0.0, 2.0, 0.0], [1.5, 0.0, -1.0]])
    for shared, dense in ((False, np.kron(np.eye(3), w)), (True, np.tile(w, (3, 1)))):
        rows, cols, vals, shape = _batched_coo(w, 3, shared)
        r, c = np.nonzero(dense)
        assert shape == dense.shape
        assert np.array_equal(rows, r) and np.array_equal(cols, c)
        assert np.array_equal(vals, dense[r, c])
    rows, _, _, shape = _batched_coo(w, 100_000, False)  # 300k entries, not 6e10
    assert shape == (200_000, 300_000) and rows.size == 300_000


@pytest.mark.lava
def test_lava_refuses_a_batch_too_large_to_build(lava: str) -> None:
    from spikecore.backends.lava.backend import MAX_BATCHED_NEURONS

    with pytest.raises(sc.errors.UnsupportedError, match=f"> {MAX_BATCHED_NEURONS}"):
        sc.simulate(_chain(_lif()), np.zeros((100_000, 2, N)), backend="lava")


def test_dt_as_an_int_beyond_float_range() -> None:
    """fuzz metadata:1374498581: dt = 10**40 (an int) was an OverflowError."""
    with pytest.raises(GraphError, match="expected a positive finite number of seconds"):
        sc.Semantics(dt=10**400)


def test_rockpool_dt_inference_with_scalar_tau_and_vector_r() -> None:
    """fuzz validation:1073596139: zip(strict=True) on tau () and r (n,) was a ValueError."""
    tau, dt = 0.02, 1e-3
    cuba = nir.CubaLIF(tau_syn=np.full(N, 5e-3), tau_mem=np.full(N, tau),
                       r=np.full(N, tau * np.exp(-dt / tau) / dt), v_leak=np.zeros(N),
                       v_threshold=np.ones(N), w_in=np.ones(N))
    cuba.tau_mem = np.array(tau)
    g = nir.NIRGraph(nodes={"i": nir.Input(np.array([N])), "c": cuba,
                            "o": nir.Output(np.array([N]))},
                     edges=[("i", "c"), ("c", "o")], type_check=False)
    with pytest.raises(DialectError):
        sc.from_nir(g, dialect="rockpool")


def test_lava_planner_refuses_weights_too_large_to_compose() -> None:
    """fuzz memory:1025747015: a 20000-neuron Scale made the Lava planner build a dense
    20000 x 20000 term (3.2 GB) before any guard ran."""
    from spikecore.backends.lava.lowering import MAX_DENSE_TERM, check_graph

    n = 20_000
    g = sc.Graph({"i": nir.Input(np.array([n])), "w": nir.Scale(np.ones(n)),
                  "a": nir.LIF(tau=np.full(n, 0.01), r=np.ones(n), v_leak=np.zeros(n),
                               v_threshold=np.ones(n), v_reset=np.zeros(n)),
                  "o": nir.Output(np.array([n]))}, [("i", "w"), ("w", "a"), ("a", "o")], SEM)
    problems = check_graph(g)
    assert any(f"exceeds the {MAX_DENSE_TERM} elements" in p for p in problems), problems


@pytest.mark.parametrize("backend", ["brian2", "torch"])
def test_scalar_parameters_of_extension_neurons_broadcast(backend: str) -> None:
    """fuzz validation:1571453116: a RefractoryLIF with a scalar v_reset validated, then
    nir's LIF constructor asserted on the mixed shapes."""
    scalar = X.RefractoryLIF(tau=np.full(N, 0.01), r=np.ones(N), v_leak=np.zeros(N),
                             v_threshold=np.ones(N), v_reset=np.zeros(N), t_ref=np.full(N, 2e-3))
    scalar.v_reset = np.array(-0.1)
    vector = X.RefractoryLIF(tau=np.full(N, 0.01), r=np.ones(N), v_leak=np.zeros(N),
                             v_threshold=np.ones(N), v_reset=np.full(N, -0.1),
                             t_ref=np.full(N, 2e-3))
    x = np.full((1, 40, N), 60.0)
    a = sc.simulate(_chain(scalar), x, backend=backend, record=("spikes", "v"))
    b = sc.simulate(_chain(vector), x, backend=backend, record=("spikes", "v"))
    assert np.array_equal(a.spikes["a"], b.spikes["a"]) and a.spikes["a"].sum() > 0
    assert np.array_equal(a.traces["a"]["v"], b.traces["a"]["v"])


def test_time_constant_stored_as_ragged_strings_is_a_validation_error(tmp_path: Path) -> None:
    """fuzz hdf5:878756022: a tau dataset of variable-length type read as an object array;
    the time-constant check converted it to float and raised a raw ValueError."""
    node = _lif()
    node.tau = np.array([np.zeros(2), np.zeros(3), np.zeros(1)], dtype=object)
    _invalid(_chain(node), "parameter 'tau' is not numeric")
