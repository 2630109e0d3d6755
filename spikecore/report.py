"""Writing a :class:`~spikecore.compare.ComparisonReport` to disk: JSON, text and HTML.

Figures need matplotlib (a dev/plots extra); without it the HTML says so and still
carries every number.
"""

from __future__ import annotations

import html
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from .compare import ComparisonReport


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _raster_png(report: ComparisonReport, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    names = list(report.results)
    nodes = sorted({n for r in report.results.values() for n in r.spikes})
    if not nodes:
        return False
    fig, axes = plt.subplots(len(names), 1, figsize=(9, 1.8 * len(names) + 0.6), sharex=True,
                             squeeze=False)
    ref = report.results[names[0]]
    for ax, name in zip(axes[:, 0], names, strict=True):
        r = report.results[name]
        offset = 0
        for node in nodes:
            if node not in r.spikes:
                continue
            z = r.spikes[node][0].reshape(r.steps, -1)
            t, n = np.nonzero(z)
            ax.scatter(t, n + offset, s=2, c="k", marker="|")
            if name != names[0] and node in ref.spikes and ref.spikes[node].shape == r.spikes[node].shape:
                zr = ref.spikes[node][0].reshape(ref.steps, -1)
                td, nd = np.nonzero(z != zr)
                ax.scatter(td, nd + offset, s=12, facecolors="none", edgecolors="r")
            offset += z.shape[1]
        ax.set_ylabel(name)
    axes[-1, 0].set_xlabel("step (red circles: differs from " + names[0] + ")")
    fig.suptitle(f"{report.graph_name}: spike rasters, batch 0")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def write_report(report: ComparisonReport, directory: str | os.PathLike) -> Path:
    """Write ``report.json``, ``report.txt``, ``rasters.png`` and ``index.html`` into
    ``directory`` (created if needed). Returns the HTML path."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    _atomic_write(d / "report.json", json.dumps(report.to_dict(), indent=2, default=str).encode())
    table = report.table()
    _atomic_write(d / "report.txt", (table + "\n").encode())
    has_png = _raster_png(report, d / "rasters.png")
    figure = ('<img src="rasters.png" alt="spike rasters per backend">' if has_png
              else "<p>(figures need matplotlib: pip install spikecore[plots])</p>")
    status = "AGREE" if report.ok else "DISAGREE"
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>spikecore compare: {html.escape(report.graph_name)}</title>
<style>body{{font-family:sans-serif;margin:2em}}pre{{background:#f4f4f4;padding:1em}}
.ok{{color:#070}}.bad{{color:#b00}}</style></head>
<body><h1>{html.escape(report.graph_name)}: <span class="{'ok' if report.ok else 'bad'}">{status}</span></h1>
<pre>{html.escape(table)}</pre>
{figure}
<p>Numbers: <a href="report.json">report.json</a></p>
</body></html>
"""
    _atomic_write(d / "index.html", page.encode())
    return d / "index.html"
