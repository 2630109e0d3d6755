"""Figures of a run or of a comparison: spike rasters, state traces, population rates.

Every function takes a :class:`~spikecore.result.Result`, a
:class:`~spikecore.compare.ComparisonReport` or a ``{backend: Result}`` mapping and
returns a :class:`matplotlib.figure.Figure` (built without pyplot: nothing is shown or
kept open, any backend such as Agg works; show it in a notebook, or ``fig.savefig(...)``)::

    import spikecore as sc
    from spikecore import plot

    r = sc.simulate(graph, x, backend="torch", record=("spikes", "v"))
    plot.raster(r).savefig("raster.png")
    plot.voltage(r)                  # one panel per node with a recorded "v"
    plot.rate(sc.compare(graph, x))  # one line per backend in every layer's panel

Layouts: one row of panels per layer (node), labelled with the node's name; a comparison
gets one column per backend in :func:`raster` and one line per backend in :func:`voltage`
and :func:`rate`. A panel with nothing to draw (a silent layer) says so in words. Names
are drawn as written: no mathtext (``$``), no LaTeX (``_``, ``\\``), whatever the
matplotlibrc says. matplotlib is imported when a function is called (the ``plots`` extra).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

from .result import Result

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: ``gid`` of the artists that carry data (read them back with ``artist.get_gid()``).
SPIKES_GID = "spikes"
DIFFERS_GID = "differs"
TRACE_GID = "trace"
RATE_GID = "rate"
#: Colours by backend position (the reference first).
COLOURS = ("black", "tab:blue", "tab:orange", "tab:green", "tab:purple")


# ---------------------------------------------------------------- inputs
def _results(what: Any) -> dict[str, Result]:
    """``{label: Result}`` from a Result, a ComparisonReport or a mapping."""
    if isinstance(what, Result):
        return {what.backend or "result": what}
    results = getattr(what, "results", what)  # ComparisonReport
    if isinstance(results, Mapping) and results and \
            all(isinstance(r, Result) for r in results.values()):
        return {str(k): r for k, r in results.items()}
    raise TypeError("expected a spikecore Result, a ComparisonReport or a {name: Result} "
                    f"mapping with at least one Result, got {type(what).__name__}")


def _title(what: Any, text: str) -> str:
    name = getattr(what, "graph_name", None)
    return f"{name}: {text}" if name else text


def _pick(available: Iterable[str], nodes: Iterable[str] | str | None, what: str) -> list[str]:
    """The nodes to draw, in recording order; unknown names are an error naming the choices."""
    have = list(dict.fromkeys(available))
    if nodes is None:
        return have
    wanted = [nodes] if isinstance(nodes, str) else list(nodes)
    unknown = [n for n in wanted if n not in have]
    if unknown:
        raise ValueError(f"no {what} recorded for {unknown}; recorded: {have or 'none'}")
    return wanted


def _check_batch(results: Mapping[str, Result], batch: int) -> None:
    for name, r in results.items():
        if not 0 <= batch < max(r.batch, 1):
            raise ValueError(f"batch={batch}: {name} has batch size {r.batch}")


# ---------------------------------------------------------------- figures
@contextmanager
def _plain_text():
    """Figures made inside draw names as written: LaTeX off (its rcParam is read when a
    text is created); every label also gets ``parse_math=False`` (see :func:`literal`)."""
    import matplotlib

    with matplotlib.rc_context({"text.usetex": False}):
        yield


def _figure(rows: int, cols: int, width: float = 9.0, row_height: float = 1.7):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, row_height * rows + 0.9), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False, sharex=True)
    return fig, axes


def literal(artist: Any) -> Any:
    """Draw ``artist``'s text (a Text, or every text of a Legend) exactly as written."""
    texts = artist.get_texts() if hasattr(artist, "get_texts") else [artist]
    for t in texts:
        t.set_parse_math(False)
        t.set_usetex(False)
    return artist


def _label(ax: Axes, ylabel: str | None = None, title: str | None = None,
           xlabel: str | None = None) -> None:
    if ylabel is not None:
        literal(ax.set_ylabel(ylabel))
    if title is not None:
        literal(ax.set_title(title, fontsize=10))
    if xlabel is not None:
        literal(ax.set_xlabel(xlabel))


def _say(ax: Axes, text: str) -> None:
    """A panel with nothing to plot says why instead of staying blank."""
    literal(ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center",
                    color="0.4", fontsize=9))


def _steps_label(r: Result) -> str:
    return f"step (dt = {r.dt:g} s)" if r.dt else "step"


def _suptitle(fig: Figure, text: str) -> None:
    literal(fig.suptitle(text, fontsize=11))


# ---------------------------------------------------------------- raster
def raster(what: Any, nodes: Iterable[str] | str | None = None, batch: int = 0) -> Figure:
    """Spike rasters: one row per spiking layer (labelled with its name), one column per
    backend. x is the step, y the neuron (flattened index). In a comparison, red circles
    mark where a backend differs from the first one.

    The spikes are a ``Line2D`` with gid :data:`SPIKES_GID` (``get_xydata()``: the
    (step, neuron) of every spike), the differences one with gid :data:`DIFFERS_GID`."""
    results = _results(what)
    _check_batch(results, batch)
    names = list(results)
    layers = _pick([n for r in results.values() for n in r.spikes], nodes, "spikes")
    if not layers:
        raise ValueError("nothing to draw: no spikes were recorded (record=('spikes',))")
    ref = results[names[0]]
    with _plain_text():
        fig, axes = _figure(len(layers), len(names), width=4.5 * len(names) + 1.5)
        for j, name in enumerate(names):
            r = results[name]
            for i, node in enumerate(layers):
                ax = axes[i, j]
                if i == 0:
                    _label(ax, title=name)
                if j == 0:
                    _label(ax, ylabel=node)
                if node not in r.spikes:
                    _say(ax, f"{node}: spikes not recorded on {name}")
                    continue
                z = r.spikes[node][batch].reshape(r.steps, -1)
                t, n = np.nonzero(z)
                ax.plot(t, n, linestyle="none", marker="|", markersize=4,
                        color=COLOURS[j % len(COLOURS)], gid=SPIKES_GID)
                ax.set_ylim(-0.5, z.shape[1] - 0.5)
                if j > 0 and node in ref.spikes and ref.spikes[node].shape == r.spikes[node].shape:
                    zr = ref.spikes[node][batch].reshape(ref.steps, -1)
                    td, nd = np.nonzero(z != zr)
                    if td.size:
                        ax.plot(td, nd, linestyle="none", marker="o", markersize=6,
                                markerfacecolor="none", color="red", gid=DIFFERS_GID)
                if not t.size:
                    _say(ax, f"no spikes in batch {batch}")
            ax_last = axes[-1, j]
            _label(ax_last, xlabel=_steps_label(r))
        note = f" (red circles: differs from {names[0]})" if len(names) > 1 else ""
        _suptitle(fig, _title(what, f"spike rasters, batch {batch}{note}"))
    return fig


# ---------------------------------------------------------------- traces
def voltage(what: Any, nodes: Iterable[str] | str | None = None, state: str = "v",
            neurons: int | Iterable[int] = 3, batch: int = 0) -> Figure:
    """State traces (``state``, default the membrane voltage ``"v"``): one row per node
    that recorded it, a line per neuron (the first ``neurons``, or the given indices) and,
    in a comparison, one line style per backend. Lines have gid :data:`TRACE_GID` and the
    label ``"<backend> [<neuron>]"``."""
    results = _results(what)
    _check_batch(results, batch)
    names = list(results)
    recorded = [n for r in results.values() for n, states in r.traces.items() if state in states]
    layers = _pick(recorded, nodes, f"{state!r} traces")
    if not layers:
        raise ValueError(f"nothing to draw: no {state!r} trace was recorded "
                         f"(record=('spikes', {state!r}))")
    styles = ("-", "--", ":", "-.")
    with _plain_text():
        fig, axes = _figure(len(layers), 1, row_height=2.0)
        for i, node in enumerate(layers):
            ax = axes[i, 0]
            _label(ax, ylabel=f"{node}\n{state}")
            drawn = 0
            for j, name in enumerate(names):
                tr = results[name].traces.get(node, {}).get(state)
                if tr is None:
                    continue
                flat = tr[batch].reshape(tr.shape[1], -1)
                which = range(min(neurons, flat.shape[1])) if isinstance(neurons, int) \
                    else [k for k in neurons if 0 <= k < flat.shape[1]]
                for c, k in enumerate(which):
                    ax.plot(flat[:, k], styles[j % len(styles)], lw=1,
                            color=f"C{c % 10}", gid=TRACE_GID, label=f"{name} [{k}]")
                    drawn += 1
            if drawn:
                literal(ax.legend(loc="upper right", fontsize=7, ncols=max(1, len(names))))
            else:
                _say(ax, f"no neuron selected by neurons={neurons!r}")
        _label(axes[-1, 0], xlabel=_steps_label(results[names[0]]))
        _suptitle(fig, _title(what, f"{state} traces, batch {batch}"))
    return fig


# ---------------------------------------------------------------- rate
def population_rate(r: Result, node: str, window: int = 1, batch: int | None = None
                    ) -> np.ndarray:
    """Spikes per neuron per second of ``node`` at every step: the mean over its neurons
    (and over the batch, or of one ``batch`` entry), averaged over a centred window of
    ``window`` steps. Shape ``[steps]``."""
    z = r.spikes[node]
    z = z if batch is None else z[batch:batch + 1]
    per_step = z.reshape(z.shape[0], z.shape[1], -1).mean(axis=(0, 2))
    if window > 1:
        per_step = np.convolve(per_step, np.ones(window) / window, mode="same")
    return per_step / (r.dt or 1.0)


def rate(what: Any, nodes: Iterable[str] | str | None = None, window: int = 10,
         batch: int | None = None) -> Figure:
    """Population rate (Hz) of every spiking layer, one row each (labelled), one line per
    backend: :func:`population_rate` averaged over the batch (or one ``batch`` entry) and
    a ``window`` of steps. Lines have gid :data:`RATE_GID` and the backend as label."""
    results = _results(what)
    if batch is not None:
        _check_batch(results, batch)
    names = list(results)
    layers = _pick([n for r in results.values() for n in r.spikes], nodes, "spikes")
    if not layers:
        raise ValueError("nothing to draw: no spikes were recorded (record=('spikes',))")
    styles = ("-", "--", ":", "-.")
    with _plain_text():
        fig, axes = _figure(len(layers), 1)
        for i, node in enumerate(layers):
            ax = axes[i, 0]
            _label(ax, ylabel=f"{node}\nHz")
            for j, name in enumerate(names):
                r = results[name]
                if node in r.spikes:
                    ax.plot(population_rate(r, node, window, batch), styles[j % len(styles)],
                            color=COLOURS[j % len(COLOURS)], lw=1, gid=RATE_GID, label=name)
            literal(ax.legend(loc="upper right", fontsize=7))
        _label(axes[-1, 0], xlabel=_steps_label(results[names[0]]))
        which = "mean over the batch" if batch is None else f"batch {batch}"
        _suptitle(fig, _title(what, f"population rate ({which}, {window}-step window)"))
    return fig


__all__ = ["raster", "voltage", "rate", "population_rate", "literal"]
