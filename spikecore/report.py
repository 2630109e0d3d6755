"""Writing a :class:`~spikecore.compare.ComparisonReport` to disk: JSON, text and HTML.

Figures need matplotlib (a dev/plots extra); without it the HTML says so and still
carries every number.
"""

from __future__ import annotations

import functools
import html
import json
import os
from pathlib import Path

import numpy as np

from .atomic import UnsafeTargetError, write_atomically
from .compare import ComparisonReport


def _atomic_write(path: Path, data: bytes) -> None:
    write_atomically(path, lambda tmp: Path(tmp).write_bytes(data), "report file")


def _literal(text: object) -> str:
    """``text`` shown as written: matplotlib parses ``$...$`` as mathtext (a node or
    graph name like ``$\\frac{1}{$`` would crash the figure), so every ``$`` is escaped."""
    return str(text).replace("$", r"\$")


def _plain_text(make):
    """Run a figure function with LaTeX rendering off (``text.usetex`` from the user's
    matplotlibrc would interpret ``_``, ``^``, ``%`` in names)."""
    @functools.wraps(make)
    def wrapper(report: ComparisonReport, path: Path) -> bool:
        plt = _pyplot()
        if plt is None:
            return False
        with plt.rc_context({"text.usetex": False}):
            return make(report, path)

    return wrapper


@_plain_text
def _raster_png(report: ComparisonReport, path: Path) -> bool:
    plt = _pyplot()
    if plt is None:
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
            # the layer's name beside its rows (literally: no mathtext, no LaTeX)
            ax.text(1.005, offset + (z.shape[1] - 1) / 2, node, transform=ax.get_yaxis_transform(),
                    fontsize=7, ha="left", va="center", parse_math=False, usetex=False)
            if offset:
                ax.axhline(offset - 0.5, color="0.8", lw=0.5)
            offset += z.shape[1]
        ax.set_ylabel(_literal(name))
    axes[-1, 0].set_xlabel(_literal("step (red circles: differs from " + names[0] + ")"))
    fig.suptitle(_literal(f"{report.graph_name}: spike rasters, batch 0"))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


@_plain_text
def _voltage_png(report: ComparisonReport, path: Path, neurons: int = 3) -> bool:
    """Overlay of the first recorded ``v`` trace (first few neurons, batch 0), one line
    style per backend: where the lines separate, the backends disagree."""
    plt = _pyplot()
    names = list(report.results)
    # Prefer a spiking node: its voltage shows thresholds and resets, where backends part first.
    candidates = [n for r in report.results.values() for n in sorted(r.traces) if "v" in r.traces[n]]
    spiking = [n for n in candidates if any(n in r.spikes for r in report.results.values())]
    node = (spiking or candidates or [None])[0]
    if plt is None or node is None:
        return False
    widths = [int(np.prod(r.traces[node]["v"].shape[2:])) for r in report.results.values()
              if "v" in r.traces.get(node, {})]
    neurons = max(1, min(neurons, max(widths)))  # no empty panels for narrow nodes
    fig, axes = plt.subplots(neurons, 1, figsize=(9, 1.6 * neurons + 0.6), sharex=True, squeeze=False)
    styles = ["-", "--", ":", "-."]
    for k, ax in enumerate(axes[:, 0]):
        for j, name in enumerate(names):
            tr = report.results[name].traces.get(node, {}).get("v")
            if tr is None:
                continue
            flat = tr[0].reshape(tr.shape[1], -1)
            if k < flat.shape[1]:
                ax.plot(flat[:, k], styles[j % len(styles)], lw=1, label=_literal(name))
        ax.set_ylabel(f"v[{k}]")
    axes[0, 0].legend(loc="upper right", fontsize=8)
    axes[-1, 0].set_xlabel("step")
    fig.suptitle(_literal(f"{report.graph_name}: membrane voltage of {node!r}, batch 0"))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def spike_time_offsets(a: np.ndarray, b: np.ndarray, window: int = 20) -> np.ndarray:
    """For every spike of ``b``: step offset to the nearest spike of ``a`` in the same batch
    and neuron, within ±window (spikes without a partner are left out)."""
    a2 = a.reshape(a.shape[0], a.shape[1], -1).astype(bool)
    b2 = b.reshape(b.shape[0], b.shape[1], -1).astype(bool)
    out = []
    for bi, t, n in zip(*np.nonzero(b2), strict=True):
        ta = np.flatnonzero(a2[bi, max(0, t - window): t + window + 1, n])
        if ta.size:
            rel = ta + max(0, t - window) - t
            out.append(int(rel[np.argmin(np.abs(rel))]))
    return np.asarray(out, dtype=int)


@_plain_text
def _offsets_png(report: ComparisonReport, path: Path) -> bool:
    plt = _pyplot()
    names = list(report.results)
    if plt is None or len(names) < 2:
        return False
    ref = report.results[names[0]]
    fig, ax = plt.subplots(figsize=(7, 3))
    for name in names[1:]:
        r = report.results[name]
        offs = [spike_time_offsets(ref.spikes[n], r.spikes[n]) for n in sorted(r.spikes)
                if n in ref.spikes and ref.spikes[n].shape == r.spikes[n].shape]
        offs = np.concatenate(offs) if offs else np.zeros(0, int)
        if offs.size:
            ax.hist(offs, bins=np.arange(offs.min() - 0.5, offs.max() + 1.5), alpha=0.6,
                    label=_literal(f"{name} - {names[0]} ({offs.size} spikes)"))
    ax.set_xlabel("spike-time offset (steps)")
    ax.set_ylabel("spikes")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def write_report(report: ComparisonReport, directory: str | os.PathLike) -> Path:
    """Write ``report.json``, ``report.txt``, the figures (``rasters.png``,
    ``voltages.png``, ``offsets.png``) and ``index.html`` into ``directory`` (created if
    needed). Returns the HTML path."""
    d = Path(directory)
    try:
        taken = d.is_symlink() or (d.exists() and not d.is_dir())
    except OSError as exc:  # e.g. a name longer than the file system allows
        raise UnsafeTargetError(f"cannot write the report into {str(d)[:80]!r}...: {exc.strerror}"
                                ) from None
    if taken:
        raise UnsafeTargetError(
            f"cannot write the report into {str(d)!r}: it exists and is not a folder "
            "(a file, link, FIFO or device); choose a new or existing folder")
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UnsafeTargetError(f"cannot create the report folder {str(d)!r}: {exc}") from exc
    _atomic_write(d / "report.json", json.dumps(report.to_dict(), indent=2, default=str).encode())
    table = report.table()
    _atomic_write(d / "report.txt", (table + "\n").encode())
    figures = []
    for fname, make, alt in (("rasters.png", _raster_png, "spike rasters per backend, "
                              "disagreements circled in red"),
                             ("voltages.png", _voltage_png, "membrane voltage overlay"),
                             ("offsets.png", _offsets_png, "histogram of spike-time offsets")):
        if make(report, d / fname):
            figures.append(f'<figure><img src="{fname}" alt="{alt}"><figcaption>{alt}'
                           "</figcaption></figure>")
    if not figures:
        figures.append("<p>(figures need matplotlib: pip install spikecore[plots])</p>")
    status = "AGREE" if report.ok else "DISAGREE"
    title = html.escape(report.graph_name)
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>spikecore compare: {title}</title>
<style>body{{font-family:sans-serif;margin:2em}}pre{{background:#f4f4f4;padding:1em}}
.ok{{color:#070}}.bad{{color:#b00}}img{{max-width:100%}}</style></head>
<body><h1 id="status">{title}: <span class="{'ok' if report.ok else 'bad'}">{status}</span></h1>
<pre>{html.escape(table)}</pre>
{"".join(figures)}
<p>Numbers: <a href="report.json">report.json</a></p>
</body></html>
"""
    _atomic_write(d / "index.html", page.encode())
    return d / "index.html"
