"""The torch backend's name is ``torch``; ``norse``, its old name, still works everywhere a
backend is named (simulate, compare, tolerance tables, the CLI) and means the same engine."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from spikecore.backends import ALIASES, BACKENDS, canonical_name, get_backend
from spikecore.models import feedforward_lif, poisson_input

import spikecore as sc


def test_names_and_alias() -> None:
    assert set(BACKENDS) == {"brian2", "torch", "lava", "nest"}
    assert ALIASES == {"norse": "torch"} and canonical_name("norse") == "torch"
    assert get_backend("norse") is get_backend("torch")
    with pytest.raises(sc.SpikecoreError, match=r"unknown backend 'neuron'.*aliases: norse \(= torch\)"):
        get_backend("neuron")


def test_simulate_and_compare_accept_the_alias() -> None:
    g = feedforward_lif(sizes=(3, 4, 2), seed=2)
    x = poisson_input(3, 40, 300.0, g.semantics.dt, seed=2)
    a = sc.simulate(g, x, backend="torch", record=("spikes", "v"))
    b = sc.simulate(g, x, backend="norse", record=("spikes", "v"))
    assert a.backend == b.backend == "torch"
    for n in a.spikes:
        assert np.array_equal(a.spikes[n], b.spikes[n]), n
    rep = sc.compare(g, x, backends=("brian2", "norse"))
    assert set(rep.results) == {"brian2", "torch"} and rep.ok


def test_cli_accepts_the_alias(tmp_path) -> None:
    exe = [sys.executable, "-m", "spikecore.cli"]
    ok = subprocess.run([*exe, "run", "--help"], capture_output=True, text=True, timeout=120)
    assert "norse: alias of torch" in ok.stdout, ok.stdout
    g = feedforward_lif(sizes=(2, 3), seed=0)
    path = tmp_path / "g.nir"
    sc.write(g, path)
    for name in ("torch", "norse"):
        out = tmp_path / f"{name}.npz"
        proc = subprocess.run([*exe, "run", str(path), "--backend", name, "--steps", "20",
                               "--out", str(out)], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert out.exists()
