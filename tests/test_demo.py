"""The README's first command (`make demo` runs `spikecore demo`) works and says the truth."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import spikecore as sc
from spikecore.demo import PAPER_SPIKE_STEPS


def test_demo_runs_every_available_backend_and_agrees(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("spikecore")
    proc = subprocess.run([str(exe), "--json", "demo", "--out", str(tmp_path / "rep")],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert out["ok"] is True
    available = [b for b, a in sc.available_backends().items() if a.available]
    assert {"brian2", "torch"} <= set(available)
    # every available backend ran each part, or said why it cannot (NEST: forward Euler)
    assert set(out["nir_paper_lif"]) | set(out["nir_paper_lif_refused"]) == set(available)
    assert not set(out["nir_paper_lif"]) & set(out["nir_paper_lif_refused"])
    for backend, why in {**out["nir_paper_lif_refused"], **out["recurrent_refused"]}.items():
        assert backend == "nest" and "integrator='euler'" in why, (backend, why)
    for backend, row in out["nir_paper_lif"].items():
        assert row["spike_steps"] == PAPER_SPIKE_STEPS, backend
        assert row["max_abs_v_diff_vs_norse_csv"] < 1e-6, backend
    assert (tmp_path / "rep" / "index.html").exists()
    assert set(out["recurrent"]["backends"]) | set(out["recurrent_refused"]) == set(available)
    assert set(out["brunel"]["backends"]) == set(available) - {"lava"}
