"""spikecore.sweep: grid order, rows equal to direct simulate runs (in-process, on Dask
threads, on Dask worker processes), resume from a store, failures kept in their rows,
and clear errors for bad arguments."""

from __future__ import annotations

import functools
import hashlib
import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from prerequisites import installed_library
from spikecore.models import brunel2000, feedforward_lif

import spikecore as sc
from spikecore.errors import InputError, UnavailableError
from spikecore.sweep import SweepWarning, expand_params

pd = installed_library("pandas", allow_module_level=True)
distributed = installed_library("distributed", allow_module_level=True)
# Brian2's first import routes warnings to logging (logging.captureWarnings): done inside
# a pytest.warns block, that hides the block's warnings from it. Import it up front.
installed_library("brian2", allow_module_level=True)
SWEEP = sys.modules["spikecore.sweep"]  # spikecore.sweep is the function

STEPS = 300
#: A Brunel (2000) network small enough for a few hundred steps in ~0.2 s on Brian2.
small_brunel = functools.partial(brunel2000, N_E=80, epsilon=0.2, J=0.5e-3, dt=1e-4)
GRID = {"g": [4.0, 6.0], "eta": [1.5, 3.0]}


def spike_digest(result: sc.Result, point: dict) -> dict:
    """Count and SHA-256 of every spike: equal digests mean identical spike trains."""
    z = np.ascontiguousarray(result.spikes["neurons"], dtype=bool)
    return {"n_spikes": int(z.sum()), "digest": hashlib.sha256(np.packbits(z)).hexdigest()}


def direct(point: dict) -> dict:
    graph = small_brunel(**point)
    r = sc.simulate(graph, None, backend="brian2", steps=STEPS, record="neurons:spikes")
    return spike_digest(r, point)


@pytest.fixture(scope="module")
def threads():
    """Two Dask workers as threads of this process (quick to start)."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        yield client


def tiny(a: int = 0, b: str = "x", seed: int = 0) -> sc.Graph:
    return feedforward_lif(sizes=(2, 2), seed=seed)


X = np.zeros((5, 2))  # inputs of tiny(): 5 steps


# ============================================================================ points
def test_grid_expands_first_name_slowest_and_seeds_innermost():
    points = expand_params({"a": [1, 2], "b": ["x", "y", "z"]}, seeds=[7, 8])
    expected = [{"a": a, "b": b, "seed": s} for a in (1, 2) for b in "xyz" for s in (7, 8)]
    assert points == expected
    assert expand_params({"a": np.arange(2)}, seeds=2) == [
        {"a": 0, "seed": 0}, {"a": 0, "seed": 1}, {"a": 1, "seed": 0}, {"a": 1, "seed": 1}]
    assert expand_params(None, seeds=3) == [{"seed": 0}, {"seed": 1}, {"seed": 2}]
    frame = pd.DataFrame({"a": [3, 1], "b": ["u", "v"]})
    assert expand_params(frame) == [{"a": 3, "b": "u"}, {"a": 1, "b": "v"}]
    assert type(expand_params(frame)[0]["a"]) is int  # numpy scalars become Python ones


def test_rows_follow_the_grid_and_build_fn_gets_the_seed():
    calls = []

    def build(**kw):
        calls.append(kw)
        return tiny(**kw)

    df = sc.sweep(build, {"b": ["x", "y"], "a": [3, 1, 2]}, seeds=[5, 4], inputs=X)
    assert list(df.columns[:3]) == ["b", "a", "seed"]
    assert list(zip(df.b, df.a, df.seed, strict=True)) == [
        (b, a, s) for b in "xy" for a in (3, 1, 2) for s in (5, 4)]
    assert calls == [{"b": b, "a": a, "seed": s} for b in "xy" for a in (3, 1, 2) for s in (5, 4)]
    assert (df.status == "ok").all() and df.error.isna().all()


def test_explicit_points_keep_their_order_and_own_names():
    df = sc.sweep(tiny, [{"a": 2}, {"b": "y", "seed": 3}, {}], inputs=X, backend="norse")
    assert list(df.a.fillna(-1)) == [2, -1, -1]
    assert list(df.b.fillna("-")) == ["-", "y", "-"]
    assert df.seed.isna().tolist() == [True, False, True] and df.seed[1] == 3
    assert set(df.backend) == {"torch"}  # the canonical name, as Result.backend


def test_a_row_holds_params_seed_semantics_measures_and_run_facts():
    df = sc.sweep(small_brunel, {"g": [5.0]}, seeds=1, steps=STEPS, record="neurons:spikes")
    row = df.iloc[0]
    sem = small_brunel(g=5.0, seed=0).semantics.to_dict()
    assert list(df.columns) == ["g", "seed", "backend", "status", "rate_neurons", *sem,
                                "steps", "wall_time", "from_store", "error_type", "error", "key"]
    for field, value in sem.items():
        assert row[field] == value
    expected = direct({"g": 5.0, "seed": 0})["n_spikes"] / (STEPS * 1e-4 * 100)  # N = 80 + 20
    assert row.rate_neurons == pytest.approx(expected)
    assert (row.steps, row.backend, row.status, row.from_store) == (STEPS, "brian2", "ok", False)
    assert row.wall_time > 0 and len(row.key) == SWEEP.KEY_HEX
    assert df.attrs["sweep"]["runs"] == 1 and df.attrs["sweep"]["executor"] == "in-process"


def test_simulate_options_reach_the_backend():
    torch = installed_library("torch")
    df = sc.sweep(small_brunel, {"g": [5.0]}, seeds=[3], backend="torch", steps=STEPS,
                  record="neurons:spikes", measure=spike_digest, dtype=torch.float64)
    # float64 torch realises the contract exactly: Brian2's spikes
    assert df.digest[0] == direct({"g": 5.0, "seed": 3})["digest"]
    with pytest.warns(SweepWarning):
        bad = sc.sweep(small_brunel, {"g": [5.0]}, backend="torch", steps=STEPS, colour="red")
    assert "colour" in bad.error[0]


def test_a_parameter_named_like_a_semantics_field_keeps_its_name():
    df = sc.sweep(small_brunel, {"dt": [1e-4, 0.5e-4]}, steps=50, record=())
    assert list(df["dt"]) == [1e-4, 0.5e-4]
    assert list(df["semantics.dt"]) == [1e-4, 0.5e-4]


# ============================================================================ Dask
def test_rows_on_dask_threads_equal_direct_simulate_runs(threads):
    df = sc.sweep(small_brunel, GRID, seeds=[1], steps=STEPS, record="neurons:spikes",
                  measure=spike_digest, executor=threads)
    assert len(df) == 4 and (df.status == "ok").all()
    assert df.n_spikes.sum() > 0
    for row in df.itertuples():
        assert (row.n_spikes, row.digest) == tuple(direct({"g": row.g, "eta": row.eta,
                                                        "seed": row.seed}).values()), row


def test_rows_on_real_worker_processes_equal_direct_simulate_runs(tmp_path):
    """executor='local': a LocalCluster of worker processes, started and closed by the
    call; the graph is built by functools.partial of a library function and the measure
    is a lambda (both go through cloudpickle)."""
    psutil = installed_library("psutil")  # a dependency of distributed
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    df = sc.sweep(small_brunel, {"g": [4.0, 6.0]}, seeds=[1], steps=STEPS,
                  record="neurons:spikes", executor="local", workers=2,
                  measure=lambda r, p: {**spike_digest(r, p), "pid": SWEEP.os.getpid()},
                  store=tmp_path)
    assert (df.status == "ok").all(), df.error.tolist()
    assert df.attrs["sweep"]["executor"] == "local"
    assert SWEEP.os.getpid() not in set(df.pid)  # ran in the workers, not here
    for row in df.itertuples():
        assert (row.n_spikes, row.digest) == tuple(direct({"g": row.g, "seed": 1}).values())
    assert {p.name for p in tmp_path.iterdir()} == {f"{k}.json" for k in df.key}
    # The call closed its cluster (multiprocessing's resource tracker lives on by design).
    left = [p.cmdline() for p in psutil.Process().children(recursive=True)
            if p.pid not in before and p.status() != psutil.STATUS_ZOMBIE
            and "resource_tracker" not in " ".join(p.cmdline())]
    assert not left, f"worker processes left behind: {left}"


def test_a_scheduler_address_is_connected_and_closed(threads):
    address = threads.scheduler.address
    df = sc.sweep(tiny, {"a": [1, 2]}, inputs=X, executor=address)
    assert (df.status == "ok").all() and df.attrs["sweep"]["executor"] == address


def test_an_unreachable_scheduler_says_how_to_start_one(monkeypatch):
    monkeypatch.setattr(SWEEP, "CONNECT_TIMEOUT_S", 0.5)
    with pytest.raises(UnavailableError, match=r"(?s)tcp://127\.0\.0\.1:9.*dask scheduler"):
        sc.sweep(tiny, {"a": [1]}, inputs=X, executor="tcp://127.0.0.1:9")


# ============================================================================ resume
def counting_build(log: Path, fail_flag: Path):
    """Brunel graphs; appends each call's point to ``log``; the point g=6, eta=3 fails
    while ``fail_flag`` exists."""
    def build(**point):
        with log.open("a") as f:
            f.write(json.dumps(point) + "\n")
        if point["g"] == 6.0 and point["eta"] == 3.0 and fail_flag.exists():
            raise RuntimeError("flaky node went down")
        return small_brunel(**point)
    return build


def test_resume_reruns_only_missing_and_failed_runs(tmp_path, threads):
    log, flag, store = tmp_path / "calls.txt", tmp_path / "fail", tmp_path / "store"
    flag.touch()
    build = counting_build(log, flag)
    kwargs = dict(steps=STEPS, record="neurons:spikes", measure=spike_digest, store=store)
    with pytest.warns(SweepWarning, match="1 of 4 runs failed.*same store= to retry"):
        first = sc.sweep(build, GRID, seeds=[0], executor=threads, **kwargs)
    assert list(first.status) == ["ok", "ok", "ok", "failed"]
    assert len(log.read_text().splitlines()) == 4
    files = {k: (store / f"{k}.json") for k in first.key}
    mtimes = {k: p.stat().st_mtime_ns for k, p in files.items()}
    assert json.loads(files[first.key[3]].read_text())["outcome"]["traceback"]

    flag.unlink()
    second = sc.sweep(build, GRID, seeds=[0], executor=threads, **kwargs)
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert calls[4:] == [{"g": 6.0, "eta": 3.0, "seed": 0}]  # only the failed run again
    assert (second.status == "ok").all()
    assert list(second.from_store) == [True, True, True, False]
    assert second.attrs["sweep"]["ran"] == 1
    for k in first.key[:3]:
        assert files[k].stat().st_mtime_ns == mtimes[k]
    pd.testing.assert_frame_equal(second.drop(columns=["from_store"]).iloc[:3],
                                  first.drop(columns=["from_store"]).iloc[:3],
                                  check_dtype=False)  # first: NaN in the failed row
    assert second.digest[3] == direct({"g": 6.0, "eta": 3.0, "seed": 0})["digest"]

    # One more seed: only its runs; a stored sweep in-process gives the same rows.
    third = sc.sweep(build, GRID, seeds=[0, 1], **kwargs)
    assert len(log.read_text().splitlines()) == 5 + 4
    assert list(third.from_store) == [True, False] * 4
    assert list(third.digest[::2]) == list(second.digest)


def test_the_store_key_covers_backend_steps_inputs_and_functions(tmp_path):
    x = np.zeros((20, 2))
    base = sc.sweep(tiny, {"a": [1]}, inputs=x, store=tmp_path)
    assert sc.sweep(tiny, {"a": [1]}, inputs=x.copy(), store=tmp_path).from_store[0]
    assert sc.sweep(tiny, {"a": [1.0]}, inputs=x, store=tmp_path).from_store[0]  # 1 == 1.0
    for _ in range(2):
        nan = sc.sweep(tiny, {"a": [np.nan]}, inputs=x, store=tmp_path)
    assert nan.from_store[0]  # nan != nan, yet the same run
    for other in ({"inputs": x + 1}, {"inputs": x, "steps": 10},
                  {"inputs": x, "backend": "torch"}, {"inputs": x, "record": ("spikes", "v")}):
        df = sc.sweep(tiny, {"a": [1]}, store=tmp_path, **other)
        assert not df.from_store[0] and df.key[0] != base.key[0], other
    # Functions by name, a partial with its arguments (the code itself is not keyed).
    fixed = [sc.sweep(functools.partial(tiny, b=b), {"a": [1]}, inputs=x, store=tmp_path)
             for b in ("y", "z", "y")]
    assert [f.from_store[0] for f in fixed] == [False, False, True]
    assert not sc.sweep(tiny, {"a": [1]}, inputs=x, store=tmp_path,
                        measure=lambda r, p: {}).from_store[0]


def test_an_unreadable_store_file_is_run_again(tmp_path):
    df = sc.sweep(tiny, {"a": [1]}, inputs=X, store=tmp_path)
    (tmp_path / f"{df.key[0]}.json").write_text('{"format": "spikecore-sweep-ru')
    with pytest.warns(SweepWarning, match="unreadable"):
        again = sc.sweep(tiny, {"a": [1]}, inputs=X, store=tmp_path)
    assert not again.from_store[0] and again.status[0] == "ok"
    assert json.loads((tmp_path / f"{df.key[0]}.json").read_text())["outcome"]["status"] == "ok"


# ============================================================================ failures
def test_failures_stay_in_their_rows(threads):
    def build(g, eta):
        if g == 6.0 and eta == 1.5:
            raise ValueError("g=6 is not wanted here")
        return small_brunel(g=g, eta=eta)

    def measure(result, point):
        if point["eta"] == 3.0 and point["g"] == 6.0:
            return {"rate": np.ones(3)}
        return {"rate": np.float64(np.mean(result.spikes["neurons"]))}

    with pytest.warns(SweepWarning, match="2 of 4 runs failed .InputError, ValueError."):
        df = sc.sweep(build, GRID, steps=STEPS, record="neurons:spikes", measure=measure,
                      executor=threads)
    assert list(df.status) == ["ok", "ok", "failed", "failed"]
    assert df.error_type[2] == "ValueError" and df.error[2] == "g=6 is not wanted here"
    assert df.error_type[3] == "InputError" and "'rate': ndarray is not a scalar" in df.error[3]
    assert np.isnan(df.rate[2]) and pd.isna(df.integrator[2])  # failed before the graph
    assert df.integrator[3] == "exact"
    assert df.rate[:2].notna().all() and df.error_type[:2].isna().all()


def test_a_failing_simulation_and_a_task_that_cannot_load_are_rows_too(threads):
    with pytest.warns(SweepWarning, match="InputError"):
        df = sc.sweep(tiny, {"a": [1]}, steps=5)  # no inputs for its Input node
    assert "missing: ['input']" in df.error[0]

    class Unloadable:
        def __call__(self, **kw):
            return tiny(**kw)

        def __reduce__(self):
            return (refuse_to_load, ())

    with pytest.warns(SweepWarning, match="2 of 2 runs failed"):
        df = sc.sweep(Unloadable(), {"a": [1, 2]}, inputs=X, executor=threads)
    assert (df.status == "failed").all() and df.error.str.contains("deserializ").all()


def refuse_to_load():
    raise RuntimeError("this object cannot be loaded where the task runs")


def test_a_measure_column_named_like_a_parameter_fails_its_run():
    with pytest.warns(SweepWarning):
        df = sc.sweep(tiny, {"a": [1]}, inputs=X, measure=lambda r, p: {"a": 1.0})
    assert df.status[0] == "failed" and "['a']" in df.error[0]


def test_build_fn_may_return_graph_and_inputs_and_inputs_may_be_a_function():
    def build(a, seed):
        g = tiny(seed=seed)
        return g, np.full((10, 2), float(a))

    df = sc.sweep(build, {"a": [0, 5]}, seeds=1, measure=lambda r, p: {"n": r.spikes["lif1"].sum()})
    assert df.n[0] == 0 and df.n[1] > 0 and (df.steps == 10).all()
    seen = []

    def inputs(point):
        seen.append(point)
        return np.full((10, 2), float(point["a"]))

    df2 = sc.sweep(tiny, {"a": [0, 5]}, seeds=1, inputs=inputs,
                   measure=lambda r, p: {"n": r.spikes["lif1"].sum()})
    assert list(df2.n) == list(df.n) and seen == [{"a": 0, "seed": 0}, {"a": 5, "seed": 0}]
    with pytest.warns(SweepWarning):
        df3 = sc.sweep(build, {"a": [1]}, seeds=1, inputs=np.zeros((10, 2)))
    assert "give the inputs one way" in df3.error[0]


def test_progress_is_reported_per_run(tmp_path):
    seen = []
    sc.sweep(tiny, {"a": [1, 2, 3]}, inputs=X, progress=lambda done, total: seen.append((done, total)),
             store=tmp_path)
    assert seen == [(1, 3), (2, 3), (3, 3)]
    seen.clear()
    sc.sweep(tiny, {"a": [1, 2, 3, 4]}, inputs=X, progress=lambda d, t: seen.append((d, t)),
             store=tmp_path)
    assert seen == [(1, 1)]  # three runs came from the store
    assert sc.sweep(tiny, {"a": [5]}, inputs=X, progress=True).status[0] == "ok"  # tqdm bar


# ============================================================================ bad input
@pytest.mark.parametrize("kwargs, message", [
    ({"params": "g"}, r"params: got str; expected a grid"),
    ({"params": {"g": 5.0}}, r"params\['g'\] = 5\.0: a grid maps each name.*'g': \[5\.0\]"),
    ({"params": {"g": []}}, r"params\['g'\] is empty"),
    ({"params": {"g": np.array(5.0)}}, r"params\['g'\] = array\(5\.\): a grid maps"),
    ({"params": []}, r"params is an empty list"),
    ({"params": [{"g": 1}, 2]}, r"params\[1\]: got int"),
    ({"params": {"1g": [1]}}, r"'1g' is not a valid keyword"),
    ({"params": [{"a": 1}, {"a": 1.0}]}, r"runs 0 and 1 are the same run \(a=1\.0\)"),
    ({"params": {"status": [1]}}, r"\['status'\] are named like columns"),
    ({"params": [{"seed": 1}], "seeds": 2}, r"point 0 already has a 'seed'"),
    ({"seeds": 0}, r"seeds=0: expected a positive count"),
    ({"seeds": [1, 1]}, r"seeds: \[1\] given more than once"),
    ({"seeds": [1.5]}, r"not integers: \[1\.5\]"),
    ({"seeds": True}, r"seeds=True"),
    ({"steps": 0}, r"steps=0: expected a positive number"),
    ({"backend": "brian3"}, r"backend='brian3': expected one of \[.*'brian2'"),
    ({"executor": "threads"}, r"executor='threads': expected None .*'tcp://host:8786'"),
    ({"executor": 4}, r"executor=4: expected None"),
    ({"workers": 2}, r"workers=2 applies to executor='local' only"),
    ({"executor": "local", "workers": 0}, r"workers=0: expected a positive number"),
    ({"measure": "rate"}, r"measure='rate': expected a function"),
    ({"progress": "loud"}, r"progress='loud'"),
    ({"params": {"f": [object()]}}, r"params of run 0\['f'\] = <object object at .*no stable text"),
])
def test_bad_arguments_raise_input_error_naming_them(kwargs, message):
    kwargs = {"params": {"a": [1]}, "steps": 5, **kwargs}
    with pytest.raises(InputError, match=message):
        sc.sweep(tiny, **kwargs)


def test_build_fn_must_be_callable_and_picklable_for_dask(tmp_path):
    with pytest.raises(InputError, match="build_fn=3: expected a function"):
        sc.sweep(3, {"a": [1]})
    lock = threading.Lock()

    def build(a):
        with lock:
            return tiny(a)

    with pytest.raises(InputError, match=r"build_fn cannot be sent to Dask workers.*lock.*"
                                         r"executor=None"):
        sc.sweep(build, {"a": [1]}, inputs=X, executor="tcp://127.0.0.1:9")
    assert sc.sweep(build, {"a": [1]}, inputs=X).status[0] == "ok"  # in-process it is fine
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="is a file; store= takes a folder"):
        sc.sweep(tiny, {"a": [1]}, steps=5, store=tmp_path / "file")


def test_importing_spikecore_does_not_import_dask_or_pandas():
    code = ("import sys, spikecore\n"
            "print(sorted(m for m in ('dask', 'distributed', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    assert out.strip() == "[]"
