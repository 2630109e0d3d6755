"""The report's figures: every layer labelled in the raster, no empty voltage panels, and
the terminal table carries the full reason a backend was skipped."""

from __future__ import annotations

import numpy as np
import pytest

import spikecore as sc
from spikecore import report as report_mod
from spikecore.compare import ComparisonReport, Tolerance, compare_results

pytest.importorskip("matplotlib")


def _report():
    rng = np.random.default_rng(3)
    spikes = {"$a_1$": rng.random((1, 40, 3)) < 0.2, "b\\2": rng.random((1, 40, 2)) < 0.2}
    traces = {"$a_1$": {"v": rng.normal(size=(1, 40, 3))}, "one": {"v": rng.normal(size=(1, 40, 1))}}
    a = sc.Result(spikes=spikes, traces=traces, dt=1e-3, backend="brian2")
    b = sc.Result(spikes={k: v.copy() for k, v in spikes.items()},
                  traces={k: dict(v) for k, v in traces.items()}, dt=1e-3, backend="torch")
    return ComparisonReport("g", {"brian2": a, "torch": b},
                            [compare_results(a, b, Tolerance())], {})


@pytest.fixture
def saved(monkeypatch):
    from matplotlib.figure import Figure

    figs = []
    monkeypatch.setattr(Figure, "savefig", lambda self, *a, **k: figs.append(self))
    return figs


def test_raster_labels_every_layer_on_every_backend(saved, tmp_path):
    assert report_mod._raster_png(_report(), tmp_path / "r.png")
    (fig,) = saved
    for ax in fig.axes:
        labels = [t.get_text() for t in ax.texts]
        assert labels == ["$a_1$", "b\\2"]  # as written, in recording order
        assert all(not t.get_parse_math() for t in ax.texts)


def test_voltage_has_no_empty_panels(saved, tmp_path):
    rep = _report()
    for r in rep.results.values():
        r.traces.pop("$a_1$")
        r.spikes["one"] = np.zeros((1, 40, 1), bool)
    assert report_mod._voltage_png(rep, tmp_path / "v.png")
    (fig,) = saved
    assert len(fig.axes) == 1 and all(ax.get_lines() for ax in fig.axes)
