"""Every example script runs to the end on a fresh environment and writes its figures.

The scripts assert their own cross-backend agreement (``assert_same_spikes`` between
Brian2 and torch) and print their measurements; here each one runs as a user would run
it, in a subprocess, with ``--out`` pointing at a temporary folder. The figures each
script promises are the ``->  name.png`` entries of its docstring's usage line.
``train_digits.py`` has its own, shorter test (tests/test_example_digits.py).
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SCRIPTS = sorted(p for p in EXAMPLES.glob("*.py")
                 if not p.name.startswith("_") and p.name != "train_digits.py")


def promised_figures(script: Path) -> list[str]:
    doc = ast.get_docstring(ast.parse(script.read_text())) or ""
    return re.findall(r"->\s+(\S+\.png)", doc)


def test_every_example_promises_a_figure():
    assert SCRIPTS, f"no example scripts found in {EXAMPLES}"
    missing = [p.name for p in SCRIPTS if not promised_figures(p)]
    assert not missing, f"examples without a '->  name.png' usage line: {missing}"


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_example_runs_and_writes_its_figures(script: Path, tmp_path: Path):
    proc = subprocess.run([sys.executable, str(script), "--out", str(tmp_path)],
                          cwd=EXAMPLES, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (f"{script.name} exited with {proc.returncode}\n"
                                  f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}")
    for name in promised_figures(script):
        png = tmp_path / name
        assert png.is_file() and png.stat().st_size > 10_000, \
            f"{script.name} did not write {name} (files: {sorted(p.name for p in tmp_path.iterdir())})"


def test_every_example_takes_out_as_a_folder():
    """One convention: ``--out FOLDER`` through examples/_common.py (train_digits.py took a
    file and crashed on a folder after 70 s of training)."""
    scripts = sorted(p for p in EXAMPLES.glob("*.py") if not p.name.startswith("_"))
    odd = [p.name for p in scripts if "parse_out(" not in p.read_text()
           and "add_out(" not in p.read_text()]
    assert not odd, f"examples with their own --out: {odd}"


@pytest.mark.parametrize("script", ["train_digits.py", "rate_network.py"])
def test_out_given_a_file_is_refused_before_any_work(script: str, tmp_path: Path):
    target = tmp_path / "digits.nir"
    target.write_bytes(b"keep me")
    proc = subprocess.run([sys.executable, str(EXAMPLES / script), "--out", str(target)],
                          cwd=EXAMPLES, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "--out takes a folder" in proc.stderr
    assert target.read_bytes() == b"keep me"
