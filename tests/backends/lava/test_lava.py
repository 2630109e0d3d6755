"""The Lava backend against the contract, and the sidecar's failure modes.

Expected values come from a numpy loop written here from the contract
(``spikecore.discrete.neuron_step`` for neurons, plain matrix products for the rest),
never from the lowering under test. Lava start-up costs about a second per run, so one
run checks many node types at once (independent sub-networks of one graph).

Lava tests skip only when no Python 3.10 exists here, saying so; a Python 3.10 without a
working sidecar is a failure with the fix in its message.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import nir
import numpy as np
import pytest
from contract_reference import contract_step
from spikecore.backends import get_backend
from spikecore.backends.lava import sidecar as sidecar
from spikecore.backends.lava.lowering import build_plan, check_graph, plan_to_job
from spikecore.backends.lava.process import group_alive

import spikecore as sc
from spikecore import Edge, Graph, Semantics
from spikecore import primitives as P
from spikecore.discrete import neuron_coefficients
from spikecore.graph import delay_steps_of
from spikecore.testing import assert_close_arrays, assert_same_spikes

#: Lava floating_pt is float64 numpy; the lowering pre-scales weights and shifts the
#: voltage origin, which changes the rounding of each step (order 1e-16 relative).
STATE_ATOL = 1e-9


# ================================================================== availability
def _by_pid_cmdline(fragment: str) -> list[int]:
    """Pids whose command line mentions ``fragment`` (a job folder), from /proc."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf8", "replace")
            state = (entry / "stat").read_text().split(") ", 1)[1].split()[0]
        except OSError:
            continue
        if fragment in cmd and state != "Z":
            pids.append(int(entry.name))
    return pids


# ======================================================= contract reference (numpy)
def contract_run(graph: Graph, inputs: dict[str, np.ndarray], steps: int):
    """Spikes, v, i and outputs of ``graph`` by the contract, step by step."""
    g = graph.flatten()
    shapes = g.shapes()
    batch = next(iter(inputs.values())).shape[0]
    order = g.topological_order()
    dt = float(g.semantics.dt)
    sent = {n: np.zeros((batch, steps, int(np.prod(shapes[n])))) for n in g.nodes}
    coeffs, state, rec = {}, {}, {}
    for n, node in g.nodes.items():
        if type(node) in (P.LIF, P.CubaLIF, P.IF, P.LI, P.I, P.CubaLI):
            co = neuron_coefficients(node, g.semantics, shapes[n])
            coeffs[n] = co
            size = int(np.prod(shapes[n]))
            v0 = np.broadcast_to(co.v_initial.ravel(), (batch, size)).copy()
            state[n] = (np.zeros((batch, size)), v0)
            rec[n] = {k: np.zeros((batch, steps, size)) for k in ("spikes", "v", "i")}
    for t in range(steps):
        for n in order:
            node = g.nodes[n]
            size = sent[n].shape[2]
            ins = g.incoming(n)
            x = np.zeros((batch, sent[ins[0].source].shape[2] if ins else size))
            for e in ins:
                if t - e.delay_steps >= 0:
                    x = x + sent[e.source][:, t - e.delay_steps]
            if isinstance(node, P.Input):
                y = inputs[n][:, t].reshape(batch, -1)
            elif isinstance(node, P.Affine):
                y = x @ np.asarray(node.weight).T + np.asarray(node.bias).ravel()
            elif isinstance(node, P.Linear):
                y = x @ np.asarray(node.weight).T
            elif isinstance(node, P.Scale):
                y = x * np.asarray(node.scale).ravel()
            elif isinstance(node, P.Threshold):
                y = (x > np.asarray(node.threshold).ravel()).astype(float)
            elif isinstance(node, P.Delay):
                d = np.broadcast_to(delay_steps_of(node, dt).ravel(), (size,))
                y = np.zeros((batch, size))
                for k in range(size):
                    src = [e for e in g.incoming(n)]
                    acc = 0.0
                    for e in src:
                        if t - e.delay_steps - d[k] >= 0:
                            acc = acc + sent[e.source][:, t - e.delay_steps - d[k], k]
                    y[:, k] = acc
            elif n in coeffs:
                co = coeffs[n]
                i, v = state[n]
                z, i, v = contract_step(co, i, v, x)
                state[n] = (i, v)
                rec[n]["spikes"][:, t], rec[n]["v"][:, t], rec[n]["i"][:, t] = z, v, i
                y = z.astype(float) if co.spiking else v
            else:  # Output, Flatten
                y = x
            sent[n][:, t] = y
    outputs = {n: sent[n] for n, v in g.nodes.items() if isinstance(v, P.Output)}
    return rec, outputs, coeffs


def assert_matches_contract(graph: Graph, x: dict[str, np.ndarray], result: sc.Result) -> None:
    steps = result.steps
    rec, outputs, coeffs = contract_run(graph, x, steps)
    for n, co in coeffs.items():
        b = rec[n]["v"].shape[0]
        if co.spiking:
            assert rec[n]["spikes"].any(), f"test network too quiet: {n!r} never spikes"
            got = result.spikes[n].reshape(b, steps, -1)
            assert_same_spikes(_as_result(n, rec[n]["spikes"], "contract"),
                               _as_result(n, got, "lava"))
        assert_close_arrays(result.traces[n]["v"].reshape(b, steps, -1), rec[n]["v"],
                            STATE_ATOL, f"{n}:v")
        if co.has_current:
            assert_close_arrays(result.traces[n]["i"].reshape(b, steps, -1), rec[n]["i"],
                                STATE_ATOL, f"{n}:i")
    for n, y in outputs.items():
        assert_close_arrays(result.outputs[n].reshape(y.shape), y, STATE_ATOL, f"output {n}")


def _as_result(node: str, spikes: np.ndarray, backend: str) -> sc.Result:
    return sc.Result(spikes={node: spikes.astype(bool)}, backend=backend)


# =================================================================== test graphs
def zoo_graph(seed: int = 0) -> tuple[Graph, dict[str, np.ndarray]]:
    """Independent sub-networks, one per feature, run in a single Lava job."""
    rng = np.random.default_rng(seed)
    dt = 1e-3
    n_in = 4
    nodes: dict[str, object] = {"inp": nir.Input(input_type=np.array([n_in]))}
    edges: list[Edge] = []

    def affine(name, n_out, n_src, gain=1.5, bias=0.1):
        nodes[name] = nir.Affine(weight=rng.normal(0.5, gain, (n_out, n_src)),
                                 bias=rng.normal(bias, 0.05, n_out))

    # 1. LIF with per-neuron tau (split into several Lava processes), threshold, reset
    affine("fa", 5, n_in)
    nodes["lif"] = nir.LIF(tau=np.array([0.01, 0.01, 0.02, 0.02, 0.005]),
                           r=rng.uniform(0.8, 1.5, 5), v_leak=rng.uniform(-0.05, 0.05, 5),
                           v_threshold=rng.uniform(0.3, 0.6, 5), v_reset=rng.uniform(-0.1, 0.05, 5))
    edges += [("inp", "fa"), ("fa", "lif")]
    # 2. CubaLIF fed by the LIF (lag 2), recurrent with delay 1, plus a skip connection
    #    from the input with delay 0 (unequal lags: equalised with a delay)
    affine("fb", 3, 5)
    nodes["skip"] = nir.Linear(weight=rng.normal(0.3, 0.5, (3, n_in)))
    nodes["cuba"] = nir.CubaLIF(tau_syn=np.full(3, 0.005), tau_mem=np.full(3, 0.02),
                                r=np.full(3, 2.0), v_leak=np.zeros(3), v_threshold=np.full(3, 0.2),
                                v_reset=np.zeros(3), w_in=rng.uniform(0.5, 1.5, 3))
    nodes["rec"] = nir.Linear(weight=rng.normal(0.0, 0.3, (3, 3)))
    edges += [("lif", "fb"), ("fb", "cuba"), ("inp", "skip"), ("skip", "cuba"),
              ("cuba", "rec"), Edge("rec", "cuba", 1)]
    # 3. IF through a Scale with an edge delay of 3 steps; mostly-zero weights -> Sparse
    w = np.zeros((6, n_in))
    w[[0, 2, 4], [1, 2, 3]] = [1.0, 0.8, -0.5]
    w[5, 0] = 0.7
    nodes["fs"] = nir.Linear(weight=w)
    nodes["sc"] = nir.Scale(scale=np.linspace(0.5, 1.5, 6))
    nodes["if"] = nir.IF(r=np.full(6, 40.0), v_threshold=np.full(6, 0.5), v_reset=np.zeros(6))
    edges += [("inp", "fs"), Edge("fs", "sc", 3), ("sc", "if")]
    # 4. LI and CubaLI (no spikes) read by Outputs; I reads spikes through a Delay node
    affine("fl", 2, 5)
    nodes["li"] = nir.LI(tau=np.array([0.01, 0.03]), r=np.ones(2), v_leak=np.array([0.0, 0.1]))
    nodes["cli"] = nir.CubaLI(tau_syn=np.full(2, 0.004), tau_mem=np.full(2, 0.01), r=np.ones(2),
                              v_leak=np.zeros(2), w_in=np.ones(2))
    nodes["dl"] = nir.Delay(delay=np.array([0.0, 2e-3, 5e-3]))
    nodes["ii"] = nir.I(r=np.full(3, 10.0))
    edges += [("lif", "fl"), ("fl", "li"), ("fl", "cli"), ("cuba", "dl"), ("dl", "ii")]
    # 5. Threshold on the input (graded values: x > thr, per-element thresholds)
    nodes["th"] = nir.Threshold(threshold=np.array([0.2, 0.5, 0.9, 1.2]))
    edges += [("inp", "th")]
    # Outputs: spikes, v of non-spiking neurons, and an Affine readout with a bias
    for name, src, n in (("o_lif", "lif", 5), ("o_li", "li", 2), ("o_cli", "cli", 2),
                         ("o_ii", "ii", 3), ("o_th", "th", 4)):
        nodes[name] = nir.Output(output_type=np.array([n]))
        edges.append((src, name))
    nodes["ro"] = nir.Affine(weight=rng.normal(0, 1, (2, 3)), bias=np.array([0.5, -0.5]))
    nodes["o_ro"] = nir.Output(output_type=np.array([2]))
    edges += [("cuba", "ro"), ("ro", "o_ro")]
    g = Graph(nodes, edges, Semantics(dt=dt), name="lava_zoo")
    shape = (2, 150, n_in)
    x = np.where(rng.random(shape) < 0.15, 1.0, 0.0) * rng.uniform(0.5, 2.0, shape)
    x[1] += rng.normal(0.2, 0.3, (150, n_in))  # batch 1: graded currents
    return g, {"inp": x}


# ======================================================= main-process lowering tests
def test_lags_and_delays_of_the_plan() -> None:
    g, x = zoo_graph()
    plan = build_plan(g.validate().flatten())
    lags = {n: ln.lag for n, ln in plan.nodes.items()}
    # one step per connection from the input; cuba is two connections deep via lif
    assert (lags["lif"], lags["cuba"], lags["th"], lags["li"], lags["ii"]) == (1, 2, 1, 2, 3)
    # IF behind an edge delay of 3 absorbs Lava's step: lag 0, 2 extra steps on the wire
    assert lags["if"] == 0
    into_if = [c for c in plan.connections if c.target == "if"]
    assert {c.delay for c in into_if} == {2}
    # the skip from the input into cuba (contract delay 0) needs lag 2 - 0 - 1 = 1 extra step
    skip = [c for c in plan.connections if c.target == "cuba" and c.source == "inp"]
    assert [c.delay for c in skip] == [1]
    # per-neuron tau of 'lif' -> three Lava processes (dv differs)
    assert len(plan.nodes["lif"].populations) == 3
    # all four connection kinds occur: Dense, Sparse, DelayDense, DelaySparse
    spec, _ = plan_to_job(plan, x, 150, 2, {}, raw=False)
    kinds = {(c["sparse"], c["delay"] > 0) for c in spec["connections"]}
    assert kinds == {(False, False), (True, False), (False, True), (True, True)}
    # graded messages from the input and the bias source, binary from spiking neurons
    bits = {c["source"]: c["num_message_bits"] for c in spec["connections"]}
    assert bits["inp"] > 0 and bits["__one__"] > 0 and bits["cuba"] == 0


def test_check_lists_every_unsupported_item_at_once() -> None:
    nodes = {
        "inp": nir.Input(input_type=np.array([1, 4, 4])),
        "conv": nir.Conv2d(input_shape=(4, 4), weight=np.ones((1, 1, 2, 2)), stride=1, padding=0,
                           dilation=1, groups=1, bias=np.zeros(1)),
        "pool": nir.SumPool2d(kernel_size=np.array([1, 1]), stride=np.array([1, 1]),
                              padding=np.array([0, 0])),
        "fl": nir.Flatten(start_dim=0, input_type={"input": np.array([1, 3, 3])}),
        "lif": nir.LIF(tau=np.full(9, 0.01), r=np.ones(9), v_leak=np.zeros(9),
                       v_threshold=np.ones(9), v_reset=np.zeros(9)),
        "out": nir.Output(output_type=np.array([9])),
    }
    edges = [("inp", "conv"), ("conv", "pool"), ("pool", "fl"), ("fl", "lif"), ("lif", "out")]
    g = Graph(nodes, edges, Semantics(dt=1e-3, reset="subtract"), name="cnn").validate()
    problems = get_backend("lava").check(g.flatten(), arithmetic="fixed_pt", colour="red")
    text = "\n".join(problems)
    assert "'conv' (Conv2d): no lowering; supported: " in text
    assert "'pool' (SumPool2d): no lowering" in text
    assert "'lif' (LIF): reset='subtract' not representable" in text
    assert "option 'colour': unknown" in text
    with pytest.raises(sc.UnsupportedError) as info:
        build_plan(g.flatten())
    assert "'conv' (Conv2d)" in str(info.value) and "'lif' (LIF)" in str(info.value)


@pytest.mark.parametrize("changes, expected", [
    ({"integrator": "exact"}, "'c' (CubaLIF): not representable by Lava's LIF (the exact"),
    ({"update_order": "voltage_first"}, "'c' (CubaLIF): not representable by Lava's LIF (update_"),
])
def test_cubalif_semantics_lava_cannot_express(changes, expected) -> None:
    g = Graph({"i": nir.Input(input_type=np.array([2])),
               "c": nir.CubaLIF(tau_syn=np.full(2, 5e-3), tau_mem=np.full(2, 1e-2), r=np.ones(2),
                                v_leak=np.zeros(2), v_threshold=np.ones(2), v_reset=np.zeros(2),
                                w_in=np.ones(2)),
               "o": nir.Output(output_type=np.array([2]))},
              [("i", "c"), ("c", "o")], Semantics(dt=1e-3, **changes))
    assert any(p.startswith(expected) for p in check_graph(g)), check_graph(g)


def test_cycle_faster_than_lava_and_li_driving_a_neuron_are_refused() -> None:
    lif = lambda: nir.LIF(tau=np.full(2, 0.01), r=np.ones(2), v_leak=np.zeros(2),  # noqa: E731
                          v_threshold=np.ones(2), v_reset=np.zeros(2))
    g = Graph({"i": nir.Input(input_type=np.array([2])), "a": lif(), "b": lif(),
               "o": nir.Output(output_type=np.array([2]))},
              [("i", "a"), ("a", "b"), Edge("b", "a", 1), ("b", "o")], Semantics(dt=1e-3))
    (problem,) = check_graph(g)
    assert "cycle through 'a', 'b'" in problem and "delay_steps >= 1 each" in problem
    g2 = Graph({"i": nir.Input(input_type=np.array([2])),
                "li": nir.LI(tau=np.full(2, 0.01), r=np.ones(2), v_leak=np.zeros(2)), "a": lif(),
                "o": nir.Output(output_type=np.array([2]))},
               [("i", "li"), ("li", "a"), ("a", "o")], Semantics(dt=1e-3))
    (problem,) = check_graph(g2)
    assert problem.startswith("'a' (LIF): its input comes from non-spiking 'li' (LI)")


@pytest.mark.parametrize("param, expected", [
    ("r", "'i' -> 'a': weights too large"),  # w * r * scale overflows to inf
    ("v_leak", "'a': bias or initial v overflows at the voltage scale"),
])
def test_fixed_point_overflow_is_reported_not_raised(param, expected) -> None:
    """Fuzz case validation:934543371: r = 1e308 made `check --target loihi2` exit 3
    with an OverflowError in the weight exponent (log2 of inf)."""
    p = dict(tau=np.full(2, 0.01), r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.ones(2),
             v_reset=np.zeros(2))
    p[param] = np.full(2, 1e308)
    g = Graph({"i": nir.Input(input_type=np.array([2])), "a": nir.LIF(**p),
               "o": nir.Output(output_type=np.array([2]))},
              [("i", "a"), ("a", "o")], Semantics(dt=1e-3))
    problems = check_graph(g, "fixed_pt")
    assert any(expected in q for q in problems), problems


# ============================================================== Lava runs (sidecar)
@pytest.mark.lava
def test_zoo_matches_the_contract_in_one_run(lava) -> None:
    g, x = zoo_graph()
    r = sc.simulate(g, x, backend="lava", record=("spikes", "v", "i"))
    assert r.backend == "lava" and r.info["arithmetic"] == "floating_pt"
    assert_matches_contract(g, x, r)


@pytest.fixture(scope="module")
def paper(shared_fixtures):
    d = shared_fixtures / "nir_paper_lif"
    g = sc.read(d / "lif_norse.nir", dialect="norse", dt=1e-4)
    x = np.loadtxt(d / "lif_norse.csv", delimiter=",")[:, :1]
    return g, x, d


@pytest.mark.lava
def test_nir_paper_lif_aligned_raw_and_fixed(lava, paper) -> None:
    g, x, d = paper
    lif = next(n for n, v in g.nodes.items() if isinstance(v, P.LIF))
    r = sc.simulate(g, x, backend="lava", record=("spikes", "v"))
    assert np.flatnonzero(r.spikes[lif][0, :, 0]).tolist() == [460, 510, 710, 760]
    assert np.flatnonzero(r.outputs["output"][0, :, 0]).tolist() == [460, 510, 710, 760]
    raw = sc.simulate(g, x, backend="lava", record=("spikes", "v"), raw=True)
    published = np.loadtxt(d / "lif_lava_cpu_float.csv", delimiter=",")
    assert (np.flatnonzero(raw.spikes[lif][0, :, 0]).tolist()
            == np.flatnonzero(published[:, 2]).tolist() == [461, 511, 711, 761])
    # the csv holds float32-printed voltages
    assert_close_arrays(raw.traces[lif]["v"][0, :, 0], published[:, 1], 1e-6, "raw v vs Lava csv")
    fixed = sc.simulate(g, x, backend="lava", record=("spikes", "v"), raw=True,
                        arithmetic="fixed_pt")
    published_fixed = np.loadtxt(d / "lif_lava_cpu_fixed.csv", delimiter=",")
    assert (np.flatnonzero(fixed.spikes[lif][0, :, 0]).tolist()
            == np.flatnonzero(published_fixed[:, 2]).tolist())
    # fixed point stays within its quantisation error of float (threshold = 2^18 LSB)
    err = np.abs(fixed.traces[lif]["v"] - raw.traces[lif]["v"]).max()
    assert 0 < err < 1e-3 * 0.1, err


@pytest.mark.lava
def test_fixed_pt_refuses_fractional_inputs(lava, paper) -> None:
    g, x, _ = paper
    with pytest.raises(sc.InputError, match="fixed_pt"):
        sc.simulate(g, x * 0.5, backend="lava", arithmetic="fixed_pt")


# ========================================================== sidecar failure modes
def test_bad_interpreter_is_reported_with_reason_and_fix(monkeypatch) -> None:
    monkeypatch.setenv(sidecar.ENV_VAR, "/nonexistent/python3.10")
    rt = sidecar.locate(refresh=True)
    assert not rt.available
    assert "/nonexistent/python3.10" in rt.reason and sidecar.ENV_VAR in rt.fix
    monkeypatch.setenv(sidecar.ENV_VAR, "/bin/false")
    rt = sidecar.locate(refresh=True)
    assert not rt.available and "cannot run Lava (exit code 1)" in rt.reason


@pytest.mark.lava
def test_worker_crash_carries_command_and_stderr(lava, paper, tmp_path) -> None:
    base, _ = sidecar.find_base_python()  # a Python 3.10 without lava: the worker crashes
    g, x, _ = paper
    with pytest.raises(sc.BackendProcessError) as info:
        sc.simulate(g, x, backend="lava", python=base, job_root=tmp_path)
    err = info.value
    assert err.command[0] == base and err.command[1].endswith("lava/scripts/worker.py")
    assert "failed with exit code 1" in str(err)
    assert "ModuleNotFoundError" in err.stderr_tail
    assert list(tmp_path.iterdir()) == []  # job folder removed


def _long_graph() -> tuple[Graph, np.ndarray]:
    g = Graph({"i": nir.Input(input_type=np.array([3])),
               "a": nir.LIF(tau=np.full(3, 0.01), r=np.ones(3), v_leak=np.zeros(3),
                            v_threshold=np.ones(3), v_reset=np.zeros(3)),
               "o": nir.Output(output_type=np.array([3]))},
              [("i", "a"), ("a", "o")], Semantics(dt=1e-3))
    return g, np.ones((1, 400_000, 3))


@pytest.mark.lava
def test_timeout_and_kill_leave_no_process_or_folder(lava, tmp_path) -> None:
    g, x = _long_graph()
    pids: list[int] = []
    t0 = time.monotonic()
    with pytest.raises(sc.BackendProcessError) as info:
        sc.simulate(g, x, backend="lava", timeout=4.0, job_root=tmp_path,
                    on_worker_start=pids.append)
    assert "did not finish within timeout=4 s" in str(info.value)
    assert time.monotonic() - t0 < 60
    assert not group_alive(pids[0])
    assert list(tmp_path.iterdir()) == []

    # kill -9 the worker from outside while Lava runs
    def killer(pid: int) -> None:
        pids.append(pid)
        threading.Timer(4.0, os.kill, (pid, 9)).start()

    with pytest.raises(sc.BackendProcessError) as info:
        sc.simulate(g, x, backend="lava", timeout=120, job_root=tmp_path, on_worker_start=killer)
    assert "killed by signal SIGKILL" in str(info.value)
    assert info.value.command[1].endswith("lava/scripts/worker.py")
    assert not group_alive(pids[1])
    assert list(tmp_path.iterdir()) == []
    assert _by_pid_cmdline(str(tmp_path)) == []  # no Lava runtime process survived


@pytest.mark.lava
def test_keep_job_keeps_the_folder(lava, paper, tmp_path) -> None:
    g, x, _ = paper
    r = sc.simulate(g, x[:50], backend="lava", keep_job=True, job_root=tmp_path)
    job = Path(r.info["job_dir"])
    assert job.parent == tmp_path
    files = {p.name for p in job.iterdir()}
    assert {"graph.nir", "job.json", "arrays.npz", "results.npz", "info.json"} <= files
    assert sc.read(job / "graph.nir").semantics == g.semantics


def test_setup_without_python310_explains_and_succeeds(monkeypatch, tmp_path, capsys) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv("PYENV_ROOT", str(empty))
    monkeypatch.delenv(sidecar.ENV_VAR, raising=False)
    monkeypatch.setattr(sidecar, "sidecar_dir", lambda: tmp_path / "lava-sidecar")
    assert sidecar.setup() == 0
    said = capsys.readouterr().out
    assert "NOT created: no Python 3.10 interpreter found" in said and "fix:" in said
    assert not (tmp_path / "lava-sidecar").exists()
    rt = sidecar.locate(refresh=True)
    assert not rt.available and rt.reason.startswith("no Python 3.10 interpreter found")
    assert "SPIKECORE_LAVA_PYTHON" in rt.fix
    avail = get_backend("lava").availability()
    assert not avail.available and avail.fix == rt.fix
    sidecar._CACHE.clear()  # later tests probe the real sidecar again
