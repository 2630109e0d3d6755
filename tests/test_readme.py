"""Every command of the README's "Using it" section runs exactly as written: the Python
block, then each shell line in a folder holding ``model.nir`` (the bundled NIR paper LIF,
a foreign file). ``make demo``/``make test`` are the set-up commands this suite runs
under (tests/test_demo.py runs the demo itself), so they are not re-run here."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import spikecore as sc

README = Path(__file__).resolve().parents[1] / "README.md"


def _section(title: str) -> str:
    text = README.read_text()
    start = text.index(title)
    nxt = text.find("\n## ", start + len(title))
    return text[start:nxt if nxt > 0 else None]


def _blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", _section("## Using it"), flags=re.S)


def test_python_blocks_run_and_are_not_vacuous(tmp_path: Path, monkeypatch) -> None:
    blocks = _blocks("python")
    assert len(blocks) == 2, "update this test: the README's Python blocks changed"
    monkeypatch.chdir(tmp_path)
    scopes: list[dict] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for code in blocks:  # each as a reader would paste it into a fresh session
            scopes.append({})
            exec(compile(code, str(README), "exec"), scopes[-1])  # noqa: S102
    r, report = scopes[0]["r"], scopes[0]["report"]
    assert int(r.spikes["1"].sum()) == 3, "the README's input must make the neuron spike"
    ran = set(report.results)
    assert {"brian2", "torch"} <= ran and report.ok, report.table()
    assert sc.read(tmp_path / "lif.nir").semantics == scopes[0]["g"].semantics
    assert (tmp_path / "raster.png").stat().st_size > 0
    assert sum(int(a.sum()) for a in scopes[1]["r"].spikes.values()) > 0


def _commands() -> list[str]:
    (block,) = _blocks("sh")
    return [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]


@pytest.mark.parametrize("command", _commands())
def test_shell_command_runs_as_written(command: str, tmp_path: Path) -> None:
    shutil.copy(sc.bundled_file("lif_norse.nir"), tmp_path / "model.nir")
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    proc = subprocess.run(command, shell=True, cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, f"{command}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    assert "Traceback" not in proc.stderr
    if command.startswith("spikecore run") or command.startswith("spikecore compare"):
        assert "input: generated: seeded Poisson spikes" in proc.stdout
        assert "no neuron spiked" not in proc.stdout, proc.stdout


def test_scale_out_block_runs(tmp_path: Path) -> None:
    """The "Scale out" section's Python block, in a fresh interpreter as a reader would run
    it (NEST's OpenMP threads share the process with no other test's state): NEST agrees
    with Brian2 (asserted inside the block), and the sweep's table has one row per point
    and seed, all run."""
    (block,) = re.findall(r"```python\n(.*?)```", _section("## Scale out"), flags=re.S)
    probe = ('\nprint("RESULT", len(table), ",".join(sorted(set(table["status"]))), '
             'int(a.spikes["neurons"].sum()))\n')
    proc = subprocess.run([sys.executable, "-c", block + probe], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT"))
    _, rows, statuses, spikes = line.split()
    assert int(rows) == 2 * 2 * 2 and statuses == "ok", proc.stdout
    assert int(spikes) > 100
