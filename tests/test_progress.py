"""Progress of long runs (``simulate(..., progress=...)``) on every backend, and unknown
backend options refused up front with the list of valid ones."""

from __future__ import annotations

import numpy as np
import pytest
import spikecore.models as zoo
from spikecore.backends import get_backend

import spikecore as sc
from spikecore import progress as progress_mod
from spikecore.testing import assert_same_spikes

STEPS = 400


@pytest.fixture(scope="module")
def net():
    g = zoo.feedforward_lif(sizes=(3, 4, 2), seed=1)
    return g, zoo.poisson_input(3, STEPS, 200.0, g.semantics.dt, seed=1)


def _calls(backend, g, x, **options):
    calls: list[tuple[int, int]] = []
    res = sc.simulate(g, x, backend=backend, progress=lambda d, t: calls.append((d, t)),
                      **options)
    return res, calls


def _assert_chunks(calls, total, most):
    assert calls, "no progress was reported"
    assert calls[-1] == (total, total)
    assert all(t == total for _, t in calls)
    done = [d for d, _ in calls]
    assert done == sorted(set(done)), done  # increasing, never repeated
    assert len(calls) <= most, len(calls)  # in chunks, not per step


@pytest.mark.parametrize("backend", ["torch", "brian2"])
def test_progress_callable_gets_chunks_and_the_result_is_unchanged(backend, net):
    g, x = net
    quiet = sc.simulate(g, x, backend=backend)
    res, calls = _calls(backend, g, x)
    _assert_chunks(calls, STEPS, progress_mod.CHUNKS + 1)
    assert_same_spikes(quiet, res)


def test_torch_progress_reports_from_the_step_loop(net):
    g, x = net
    _, calls = _calls("torch", g, x)
    assert len(calls) == progress_mod.CHUNKS  # 400 steps in chunks of 4
    assert calls[0] == (STEPS // progress_mod.CHUNKS, STEPS)


def test_brian2_progress_through_its_report_callback(net, monkeypatch):
    g, x = net
    monkeypatch.setattr(progress_mod, "BRIAN2_REPORT_PERIOD_S", 1e-4)
    import spikecore.backends.brian2.backend as b2backend

    monkeypatch.setattr(b2backend, "BRIAN2_REPORT_PERIOD_S", 1e-4)
    _, calls = _calls("brian2", g, x)
    # Brian2 reported during the run, not only at the end
    assert len(calls) >= 2 and calls[0][0] < STEPS


@pytest.mark.lava
def test_lava_progress_per_chunk_of_run_calls(lava, net):
    g, x = net
    quiet = sc.simulate(g, x, backend="lava")
    res, calls = _calls("lava", g, x)
    lava_steps = res.info["lava_steps"]
    assert calls[-1] == (lava_steps, lava_steps)
    assert len(calls) >= 2  # the worker ran in chunks and the caller followed them
    assert_same_spikes(quiet, res)


@pytest.mark.parametrize("backend", ["torch", "brian2"])
def test_progress_true_draws_a_tqdm_bar_on_stderr_only(backend, net, capsys, monkeypatch):
    g, x = net
    monkeypatch.setattr(progress_mod, "DELAY_S", 0.0)
    sc.simulate(g, x, backend=backend, progress=True)
    out, err = capsys.readouterr()
    assert out == ""
    assert f"{backend}:" in err and f"/{STEPS}" in err and "step" in err


@pytest.mark.parametrize("backend", ["torch", "brian2"])
def test_no_output_when_off_or_short(backend, net, capsys):
    g, x = net
    sc.simulate(g, x, backend=backend)
    sc.simulate(g, x, backend=backend, progress=False)
    sc.simulate(g, x, backend=backend, progress=True)  # over before the bar's delay
    assert capsys.readouterr() == ("", "")


def test_progress_object_chunks_and_caps():
    seen = []
    p = progress_mod.Progress(lambda d, t: seen.append(d), 10)
    for k in range(1, 12):
        p(k)
    p(10)
    assert seen == list(range(1, 11))
    seen.clear()
    p = progress_mod.Progress(lambda d, t: seen.append(d), 1000)
    for k in range(1, 1001):
        p(k)
    assert len(seen) == 100 and seen[-1] == 1000
    assert progress_mod.progress_for(False, 5) is None
    assert progress_mod.progress_for("text", 5) is None  # Brian2's own report


# ---------------------------------------------------------------- unknown options
@pytest.mark.parametrize("backend, fragment, valid", [
    ("torch", "not understood by backend 'torch'", ["dtype", "device", "progress"]),
    ("brian2", "option 'colour' is unknown", ["mode", "codegen_target", "progress"]),
    ("lava", "option 'colour': unknown", ["arithmetic", "timeout", "progress"]),
])
def test_unknown_options_are_refused_by_check_with_the_valid_ones(backend, fragment, valid,
                                                                  net):
    g, _ = net
    problems = get_backend(backend).check(g.flatten(), colour="blue")
    text = "\n".join(problems)
    assert fragment in text and "colour" in text
    for name in valid:
        assert name in text, (name, text)


@pytest.mark.parametrize("backend", ["torch", "brian2"])
def test_unknown_option_stops_simulate_before_the_run(backend, net, monkeypatch):
    g, x = net
    impl = get_backend(backend)

    def no_run(*a, **k):
        raise AssertionError("run() was called")

    monkeypatch.setattr(type(impl), "run", no_run)
    with pytest.raises(sc.UnsupportedError, match="colour"):
        sc.simulate(g, x, backend=backend, colour="blue")


@pytest.mark.parametrize("backend", ["torch", "brian2", "lava"])
def test_bad_progress_value_is_refused(backend, net):
    g, _ = net
    problems = get_backend(backend).check(g.flatten(), progress=3)
    assert any("option progress=3" in p for p in problems), problems
    for good in (True, False, None, lambda d, t: None):
        assert get_backend(backend).check(g.flatten(), progress=good) == []


def test_results_are_plain_numpy(net):
    g, x = net
    res = sc.simulate(g, x, backend="torch", progress=lambda d, t: None)
    assert all(isinstance(v, np.ndarray) for v in res.spikes.values())


# ---------------------------------------------------------------- the CLI
def _cli_run(capsys, *flags):
    from pathlib import Path

    from spikecore import cli

    data = Path(sc.__file__).parent / "data"
    code = cli.main(["run", str(data / "lif_norse.nir"), "--dialect", "norse", "--dt", "1e-4",
                     "--backend", "torch", "--steps", "300", *flags])
    assert code == 0
    return capsys.readouterr()


def test_cli_progress_flags(capsys, monkeypatch):
    monkeypatch.setattr(progress_mod, "DELAY_S", 0.0)
    assert "/300" in _cli_run(capsys, "--progress").err
    assert "/300" not in _cli_run(capsys, "--no-progress").err
    assert "/300" not in _cli_run(capsys).err  # stderr is not a terminal here


def test_cli_progress_default_follows_the_terminal(monkeypatch):
    import argparse
    import sys

    from spikecore import cli

    for tty in (True, False):
        monkeypatch.setattr(sys.stderr, "isatty", lambda tty=tty: tty)
        assert cli._progress(argparse.Namespace(progress=None)) is tty
        assert cli._progress(argparse.Namespace(progress=False)) is False
        assert cli._progress(argparse.Namespace(progress=True)) is True
