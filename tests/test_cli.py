"""Smoke tests of the ``spikecore`` command, run as a user would (a subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import spikecore as sc

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "spikecore" / "data"


def run_cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("spikecore")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "spikecore.cli"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=timeout)


def available(name: str) -> bool:
    """Lava may be missing (it needs a Python 3.10 sidecar): the caller skips with the reason.
    Brian2 and Norse are core dependencies: their absence is a failure, never a skip."""
    a = sc.available_backends()[name]
    if name != "lava":
        assert a.available, f"core backend {name} unavailable: {a.reason}"
    return a.available


def test_info_lists_every_backend_with_availability() -> None:
    proc = run_cli("info")
    assert proc.returncode == 0, proc.stderr
    for name in ("brian2", "torch", "lava"):
        assert name in proc.stdout
    assert "dialects:" in proc.stdout


def test_info_json_has_reason_and_fix_for_unavailable_backends() -> None:
    proc = run_cli("info", "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert set(info["backends"]) == {"brian2", "torch", "lava", "nest"}
    for name, b in info["backends"].items():
        assert isinstance(b["available"], bool)
        if not b["available"]:
            assert b["reason"] and b["fix"], f"{name}: unavailable without reason/fix: {b}"
    assert "norse" in info["dialects"]


def test_convert_foreign_file_needs_a_dialect(tmp_path: Path) -> None:
    out = tmp_path / "out.nir"
    proc = run_cli("convert", str(DATA / "lif_norse.nir"), str(out))
    assert proc.returncode == 2
    assert "dialect" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()


def test_convert_writes_semantics_that_read_back(tmp_path: Path) -> None:
    out = tmp_path / "out.nir"
    proc = run_cli("--json", "convert", str(DATA / "lif_norse.nir"), str(out),
                   "--dialect", "norse", "--dt", "1e-4", "--reset", "subtract")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["semantics"]["dt"] == 1e-4
    g = sc.read(out)
    assert g.semantics.dt == 1e-4 and g.semantics.reset == "subtract"


@pytest.mark.parametrize("args, needle", [
    (("run", "/nonexistent/model.nir", "--dialect", "norse"), "no such file"),
    (("convert", str(DATA / "lif_norse.csv"), "x.nir", "--dialect", "norse"), "not an HDF5"),
    (("convert", str(DATA / "lif_norse.nir"), "x.nir", "--dialect", "nope"), "unknown dialect"),
])
def test_user_errors_are_one_clear_line_not_a_traceback(args, needle, tmp_path: Path) -> None:
    proc = run_cli(*args)
    assert proc.returncode == 2
    assert needle in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_json_errors_are_json() -> None:
    proc = run_cli("--json", "run", "/nonexistent/model.nir", "--dialect", "norse")
    assert proc.returncode == 2
    err = json.loads(proc.stdout)
    assert err["error"] == "NIRFileError"


@pytest.mark.parametrize("backend", ["brian2", "torch", "lava"])
def test_run_writes_a_recording(backend: str, tmp_path: Path) -> None:
    if not available(backend):
        pytest.skip(f"{backend} unavailable: {sc.available_backends()[backend].reason}")
    csv = np.loadtxt(DATA / "lif_norse.csv", delimiter=",")
    x = tmp_path / "x.npy"
    np.save(x, csv[:, :1])
    out = tmp_path / "r.npz"
    proc = run_cli("--json", "run", str(DATA / "lif_norse.nir"), "--dialect", "norse", "--dt",
                   "1e-4", "--backend", backend, "--input", str(x), "--record", "spikes,v",
                   "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    with np.load(out) as f:
        spikes = f["spikes/1"]
        assert float(f["dt"]) == 1e-4
    assert list(np.flatnonzero(spikes[0, :, 0])) == [460, 510, 710, 760]


def test_compare_exit_status_reflects_agreement(tmp_path: Path) -> None:
    usable = [b for b in ("brian2", "torch") if available(b)]
    proc = run_cli("--json", "compare", str(DATA / "lif_norse.nir"), "--dialect", "norse",
                   "--dt", "1e-4", "--backends", ",".join(usable), "--steps", "300",
                   "--rate", "400", "--report", str(tmp_path / "rep"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rep = json.loads(proc.stdout)
    assert rep["ok"] and rep["pairs"][0]["spike_agreement"] == 1.0
    assert (tmp_path / "rep" / "index.html").exists()


def test_check_loihi2_reports_fit_and_cost(tmp_path: Path) -> None:
    proc = run_cli("--json", "check", str(DATA / "lif_norse.nir"), "--dialect", "norse",
                   "--dt", "1e-4", "--target", "loihi2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rep = json.loads(proc.stdout)
    assert rep["fits"] is True and rep["resources"]["neurons"] == 1


def test_check_loihi2_exit_1_and_lists_violations_when_it_does_not_fit() -> None:
    # The chip resets to a value; subtractive reset is not available on it.
    proc = run_cli("check", str(DATA / "lif_norse.nir"), "--dialect", "norse", "--dt", "1e-4",
                   "--reset", "subtract")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "does NOT fit" in proc.stdout and "subtract" in proc.stdout


def test_internal_error_exits_3_with_traceback_not_1(monkeypatch, capsys) -> None:
    """A crash must not look like 'disagreement' (1) or 'bad input' (2)."""
    from spikecore import cli

    def crash(args) -> int:
        raise RuntimeError("planted bug")

    monkeypatch.setattr(cli, "cmd_info", crash)
    assert cli.main(["info"]) == cli.EXIT_INTERNAL == 3
    err = capsys.readouterr().err
    assert "Traceback" in err and "internal error (RuntimeError): planted bug" in err
    assert len({cli.EXIT_OK, cli.EXIT_TOLERANCE, cli.EXIT_ERROR, cli.EXIT_INTERNAL}) == 4


@pytest.mark.parametrize("args", [("info",), ("info", "--matrix")])
def test_closed_pipe_is_not_an_error(args: tuple[str, ...]) -> None:
    """`spikecore info | head -0`: the reader is gone before the first write (short
    output fails at the final flush, long output inside the command)."""
    proc = subprocess.Popen([sys.executable, "-m", "spikecore.cli", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, err
    assert "BrokenPipe" not in err and "Traceback" not in err, err
