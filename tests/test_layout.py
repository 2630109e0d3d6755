"""Time-first inputs: ``layout="tbn"`` reads ``[steps, batch, ...]`` (Norse, snnTorch);
the default ``[batch, steps, ...]`` warns when the batch axis is the longer one, the
silent misread of issue 16 (np.zeros((1000, 4, 1)) ran as batch 1000 x 4 steps)."""

from __future__ import annotations

import warnings

import nir
import numpy as np
import pytest
from prerequisites import installed_library

import spikecore as sc
from spikecore.layout import InputLayoutWarning
from spikecore.testing import assert_same_spikes


def _graph(n: int = 2) -> sc.Graph:
    lif = nir.LIF(tau=np.full(n, 0.01), r=np.ones(n), v_leak=np.zeros(n),
                  v_threshold=np.ones(n), v_reset=np.zeros(n))
    return sc.Graph({"i": nir.Input(np.array([n])), "a": lif, "o": nir.Output(np.array([n]))},
                    [("i", "a"), ("a", "o")], sc.Semantics(dt=1e-3))


def _time_first(steps: int = 60, batch: int = 3, n: int = 2) -> np.ndarray:
    return np.random.default_rng(4).random((steps, batch, n)) * 150


def test_longer_batch_axis_warns_naming_the_option() -> None:
    x = np.zeros((1000, 4, 2))
    with pytest.warns(InputLayoutWarning, match=r"\(1000, 4, 2\) is read as batch 1000 x 4 "
                                                r"steps.*layout='tbn'"):
        r = sc.simulate(_graph(), x, backend="torch")
    assert r.spikes["a"].shape == (1000, 4, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", InputLayoutWarning)
        sc.simulate(_graph(), x, backend="torch", layout="btn")      # stated: no warning
        sc.simulate(_graph(), np.zeros((4, 1000, 2)), backend="torch")  # plausible: none
        sc.simulate(_graph(), np.zeros((1000, 2)), backend="torch")     # [steps, n]: none


@pytest.mark.parametrize("backend", ["brian2", "torch"])
def test_time_first_equals_batch_first(backend: str) -> None:
    x = _time_first()
    a = sc.simulate(_graph(), x, backend=backend, layout="tbn", record=("spikes", "v"))
    b = sc.simulate(_graph(), np.swapaxes(x, 0, 1), backend=backend, layout="btn",
                    record=("spikes", "v"))
    assert a.spikes["a"].shape == (3, 60, 2)  # results are always [batch, steps, ...]
    assert_same_spikes(a, b)
    assert a.spikes["a"].sum() > 0
    report = sc.compare(_graph(), x, backends=("brian2", "torch"), layout="tbn")
    assert report.ok, report.table()


def test_torch_module_takes_and_returns_time_first() -> None:
    torch = installed_library("torch")
    module = sc.to_torch(_graph())
    x = torch.from_numpy(_time_first())
    out_t, _ = module(x, layout="tbn")
    out_b, _ = module(x.transpose(0, 1))
    assert out_t.shape == (60, 3, 2)
    assert torch.equal(out_t, out_b.transpose(0, 1)) and out_b.sum() > 0


def test_unknown_layout_is_an_input_error() -> None:
    with pytest.raises(sc.errors.InputError, match="layout='ntb'"):
        sc.simulate(_graph(), _time_first(), backend="torch", layout="ntb")
