"""The digits example (examples/train_digits.py) learns, and its saved NIR file runs
identically on the torch lowering and on Brian2. A small training budget keeps it fast;
the full run (30 epochs, >= 90 % test accuracy) is the example itself."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from prerequisites import installed_library

import spikecore as sc
from spikecore.testing import assert_close_arrays, assert_same_spikes

installed_library("sklearn", allow_module_level=True)  # the digits data
torch = installed_library("torch", allow_module_level=True)

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "train_digits.py"
CHANCE = 0.1


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("train_digits_example", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_encoding_is_one_spike_per_lit_pixel(example) -> None:
    img = np.zeros((1, 64))
    img[0, 3], img[0, 10] = 16.0, 8.0
    x = example.encode(img)
    assert x.shape == (1, example.T, 64) and x.sum() == 2
    assert x[0, 0, 3] == 1.0  # brightest fires first
    assert x[0, int(round(0.5 * (example.T_ENC - 1))), 10] == 1.0


def test_digits_learns_and_saved_file_agrees_across_backends(example, tmp_path: Path) -> None:
    torch.set_num_threads(2)
    data = example.load_data(seed=0)
    untrained = example.build_graph(n_hidden=64, seed=0)
    before = example.accuracy_on(untrained, data.x_test, data.y_test)
    trained = example.train(untrained, data, epochs=4, seed=0, progress=False)
    path = sc.write(trained, tmp_path / "digits.nir")
    saved = sc.read(path)
    after = example.accuracy_on(saved, data.x_test, data.y_test)
    assert after >= 5 * CHANCE, f"test accuracy {after:.1%} after a small budget (chance 10 %)"
    assert after > before + 0.2, f"no learning: {before:.1%} -> {after:.1%}"

    x = data.x_test[:40]
    a = sc.simulate(saved, {"in": x}, backend="torch", record=("spikes", "v"))
    b = sc.simulate(saved, {"in": x}, backend="brian2", record=("spikes", "v"))
    assert a.spikes["hidden"].any()
    assert_same_spikes(a, b)
    assert_close_arrays(a.outputs["out"], b.outputs["out"], 1e-9, "readout",)
