"""``spikecore.plot``: figures of a Result and of a comparison, read back from the artists."""

from __future__ import annotations

import numpy as np
import pytest

import spikecore as sc
from spikecore import plot

pytest.importorskip("matplotlib")

ODD_NAMES = ("in", "$x_1$", "lay_er\\2", "out")


def _result(backend="torch", seed=0, steps=60, batch=2, sizes=(4, 3)):
    """A hand-made Result with two spiking layers named with $, _ and \\."""
    rng = np.random.default_rng(seed)
    names = ODD_NAMES[1:3]
    spikes = {n: rng.random((batch, steps, k)) < 0.1 for n, k in zip(names, sizes, strict=True)}
    traces = {n: {"v": rng.normal(size=(batch, steps, k))} for n, k in zip(names, sizes,
                                                                        strict=True)}
    return sc.Result(spikes=spikes, traces=traces, dt=1e-3, backend=backend)


def _data_axes(fig):
    return [ax for ax in fig.axes if ax.get_visible()]


def _lines(ax, gid):
    return [ln for ln in ax.get_lines() if ln.get_gid() == gid]


def _not_empty(ax):
    return bool(ax.get_lines() or ax.collections or ax.texts)


def test_raster_one_labelled_axes_per_layer_with_the_result_spikes():
    r = _result()
    fig = plot.raster(r, batch=1)
    axes = _data_axes(fig)
    assert [ax.get_ylabel() for ax in axes] == list(r.spikes)  # names drawn as written
    for ax, (node, z) in zip(axes, r.spikes.items(), strict=True):
        (line,) = _lines(ax, plot.SPIKES_GID)
        t, n = np.nonzero(z[1])
        got = line.get_xydata()
        assert np.array_equal(got[:, 0], t) and np.array_equal(got[:, 1], n), node
        assert _not_empty(ax)
    fig.savefig(__import__("io").BytesIO(), format="png")  # renders: no mathtext error


def test_names_are_literal_even_with_usetex_in_the_rc():
    import matplotlib

    r = _result()
    with matplotlib.rc_context({"text.usetex": True}):
        figs = [plot.raster(r), plot.voltage(r), plot.rate(r)]
    for fig in figs:
        texts = [ax.yaxis.label for ax in fig.axes] + [fig._suptitle]
        for t in texts:
            assert not t.get_parse_math() and not t.get_usetex(), t.get_text()
        import io

        fig.savefig(io.BytesIO(), format="png")


def test_silent_and_missing_layers_say_so_instead_of_an_empty_panel():
    r = _result()
    r.spikes["$x_1$"][:] = False
    fig = plot.raster(r)
    silent = _data_axes(fig)[0]
    assert _lines(silent, plot.SPIKES_GID)[0].get_xydata().size == 0
    assert any("no spikes" in t.get_text() for t in silent.texts)
    assert all(_not_empty(ax) for ax in fig.axes)


def test_compare_raster_shows_both_backends_and_their_differences():
    a, b = _result("brian2"), _result("torch")
    b.spikes["lay_er\\2"] = b.spikes["lay_er\\2"].copy()
    b.spikes["lay_er\\2"][0, 5, 1] = not b.spikes["lay_er\\2"][0, 5, 1]
    fig = plot.raster({"brian2": a, "torch": b})
    axes = np.array(fig.axes).reshape(2, 2)  # layers x backends
    assert [ax.get_title() for ax in axes[0]] == ["brian2", "torch"]
    assert [ax.get_ylabel() for ax in axes[:, 0]] == list(a.spikes)
    for col, r in enumerate((a, b)):
        for row, z in enumerate(r.spikes.values()):
            (line,) = _lines(axes[row, col], plot.SPIKES_GID)
            assert np.array_equal(line.get_xydata(), np.argwhere(z[0]))
    (diff,) = _lines(axes[1, 1], plot.DIFFERS_GID)
    assert diff.get_xydata().tolist() == [[5, 1]]
    assert not _lines(axes[0, 1], plot.DIFFERS_GID)
    assert all(_not_empty(ax) for ax in fig.axes)


def test_voltage_traces_per_node_and_backend():
    a, b = _result("brian2"), _result("torch", seed=1)
    fig = plot.voltage({"brian2": a, "torch": b}, neurons=2)
    axes = _data_axes(fig)
    assert [ax.get_ylabel() for ax in axes] == [f"{n}\nv" for n in a.traces]
    for ax, node in zip(axes, a.traces, strict=True):
        lines = _lines(ax, plot.TRACE_GID)
        assert [ln.get_label() for ln in lines] == ["brian2 [0]", "brian2 [1]",
                                                    "torch [0]", "torch [1]"]
        assert np.array_equal(lines[3].get_ydata(), b.traces[node]["v"][0][:, 1])
    one = plot.voltage(a, nodes="$x_1$", neurons=[2])
    (line,) = _lines(one.axes[0], plot.TRACE_GID)
    assert np.array_equal(line.get_ydata(), a.traces["$x_1$"]["v"][0][:, 2])


def test_rate_is_spikes_per_neuron_per_second():
    r = _result()
    fig = plot.rate(r, window=1)
    for ax, (node, z) in zip(_data_axes(fig), r.spikes.items(), strict=True):
        (line,) = _lines(ax, plot.RATE_GID)
        assert np.allclose(line.get_ydata(), z.mean(axis=(0, 2)) / r.dt)
        assert ax.get_ylabel() == f"{node}\nHz"
    one = plot.population_rate(r, "$x_1$", window=5, batch=0)
    assert one.shape == (r.steps,)


def test_figures_of_a_real_comparison():
    import spikecore.models as zoo

    g = zoo.feedforward_lif(sizes=(3, 4, 2), seed=1)
    x = zoo.poisson_input(3, 50, 300.0, g.semantics.dt, seed=1)
    rep = sc.compare(g, x, backends=("brian2", "torch"), record=("spikes", "v"))
    fig = plot.raster(rep)
    layers = list(rep.results["brian2"].spikes)
    assert len(fig.axes) == 2 * len(layers)
    assert {ax.get_title() for ax in fig.axes} >= {"brian2", "torch"}
    assert fig._suptitle.get_text().startswith(g.name)
    assert all(_not_empty(ax) for ax in fig.axes)
    assert len(plot.voltage(rep).axes) == len(layers)
    assert len(plot.rate(rep).axes) == len(layers)
    assert len(plot.raster(rep.results["torch"]).axes) == len(layers)


def test_bad_requests_name_what_is_recorded():
    r = _result()
    with pytest.raises(ValueError, match=r"recorded: \['\$x_1\$'"):
        plot.raster(r, nodes="nope")
    with pytest.raises(ValueError, match="batch=5"):
        plot.raster(r, batch=5)
    with pytest.raises(ValueError, match="no 'i' trace"):
        plot.voltage(r, state="i")
    with pytest.raises(TypeError, match="expected a spikecore Result"):
        plot.raster(np.zeros(3))


def test_plot_does_not_import_pyplot():
    import subprocess
    import sys

    code = ("import sys, spikecore as sc, numpy as np\n"
            "r = sc.Result(spikes={'a': np.ones((1, 3, 2), bool)}, dt=1e-3)\n"
            "assert 'matplotlib' not in sys.modules\n"
            "sc.plot.raster(r); sc.plot.rate(r)\n"
            "assert 'matplotlib.pyplot' not in sys.modules\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
