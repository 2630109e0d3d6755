"""The compare report: files, figures, and that the HTML renders in a real browser."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import spikecore.models as zoo

import spikecore as sc
from spikecore.report import spike_time_offsets, write_report


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory) -> Path:
    g = zoo.recurrent_lif(n_in=6, n_rec=20, n_out=2, seed=4)
    x = zoo.poisson_input(6, 200, 80.0, g.semantics.dt, seed=4)
    rep = sc.compare(g, x, backends=("brian2", "torch"), record=("spikes", "v"))
    d = tmp_path_factory.mktemp("report")
    write_report(rep, d)
    return d


def test_report_files_and_numbers(report_dir: Path) -> None:
    for name in ("index.html", "report.json", "report.txt", "rasters.png", "voltages.png",
                 "offsets.png"):
        assert (report_dir / name).stat().st_size > 0, name
    data = json.loads((report_dir / "report.json").read_text())
    assert data["ok"] is True and data["pairs"][0]["spike_agreement"] == 1.0
    html = (report_dir / "index.html").read_text()
    assert "AGREE" in html and 'src="rasters.png"' in html


def test_spike_time_offsets_finds_nearest_partner() -> None:
    a = np.zeros((1, 20, 2), bool)
    b = np.zeros((1, 20, 2), bool)
    a[0, 5, 0] = a[0, 10, 1] = True
    b[0, 7, 0] = b[0, 9, 1] = b[0, 19, 0] = True  # the last has no partner within 3 steps
    assert sorted(spike_time_offsets(a, b, window=3).tolist()) == [-2, 1]


def test_html_renders_in_headless_chromium(report_dir: Path, tmp_path: Path) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("headless Chromium not installed (Debian: apt-get install chromium); "
                    "the report's files are still checked by the other tests")
    shot = tmp_path / "shot.png"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([browser, *flags, "--dump-dom", (report_dir / "index.html").as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert 'id="status"' in dom.stdout and "AGREE" in dom.stdout
    proc = subprocess.run([browser, *flags, f"--screenshot={shot}", "--window-size=1000,1400",
                           (report_dir / "index.html").as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and shot.exists(), proc.stderr[-2000:]
    # A rendered page with figures is far from blank: many distinct colours.
    import matplotlib.image as mpimg

    img = mpimg.imread(shot)
    colours = np.unique((img[..., :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 50, f"screenshot looks blank ({len(colours)} colours)"


def test_names_with_mathtext_render_literally(tmp_path: Path) -> None:
    g = zoo.recurrent_lif(n_in=6, n_rec=20, n_out=2, seed=4)
    g.name = r"$\frac{1}{$ a_b^c \x %"
    x = zoo.poisson_input(6, 60, 80.0, g.semantics.dt, seed=4)
    rep = sc.compare(g, x, backends=("brian2", "torch"), record=("spikes", "v"))
    import matplotlib

    with matplotlib.rc_context({"text.usetex": True}):  # would need LaTeX for '_', '^'
        write_report(rep, tmp_path)
    for name in ("rasters.png", "voltages.png", "offsets.png"):
        assert (tmp_path / name).stat().st_size > 0, name
