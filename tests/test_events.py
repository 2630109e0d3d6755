"""Event recordings through tonic (spikecore.events) on synthetic event streams built here (no
downloads): frames against a hand count, datasets to batches, and frames through a graph."""

from __future__ import annotations

import nir
import numpy as np
import pytest
from prerequisites import installed_library

import spikecore as sc
from spikecore import primitives as P
from spikecore.errors import InputError

# tonic is a dev extra (make test installs it): missing is a skip here, a failure in CI.
tonic = installed_library("tonic", allow_module_level=True)
from spikecore import events as V  # noqa: E402

SENSOR = (5, 4, 2)  # width, height, polarities


def synthetic_stream(seed: int, n: int = 400, t_max: int = 20_000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return V.make_events(x=rng.integers(0, SENSOR[0], n), y=rng.integers(0, SENSOR[1], n),
                         t=rng.integers(0, t_max, n), p=rng.integers(0, 2, n).astype(bool))


def hand_count(events, dt_us, steps, t_start=0):
    frames = np.zeros((steps, SENSOR[2], SENSOR[1], SENSOR[0]))
    for e in events:
        k = (int(e["t"]) - t_start) // dt_us
        if 0 <= k < steps:
            frames[k, int(e["p"]), int(e["y"]), int(e["x"])] += 1
    return frames


def test_frames_match_a_hand_count():
    ev = synthetic_stream(0)
    frames = V.events_to_frames(ev, SENSOR, dt=1e-3)  # 1 ms = 1000 us per step
    assert frames.shape == (20, 2, 4, 5) and frames.dtype == np.float64
    np.testing.assert_array_equal(frames, hand_count(ev, 1000, 20))
    assert frames.sum() == len(ev)


def test_frames_window_edges_unsorted_start_and_binary():
    # boundaries: t = 999 in step 0, t = 1000 in step 1; t = 5000 is past steps=5 (cut).
    ev = V.make_events(x=[0, 1, 2, 2, 3], y=[0, 0, 1, 1, 3], t=[1000, 999, 4999, 4998, 5000],
                       p=[1, 0, 1, 1, 0])
    ev = ev[::-1]  # unsorted input is sorted first
    f = V.events_to_frames(ev, SENSOR, dt=1e-3, steps=5)
    assert f.sum() == 4 and f[0, 0, 0, 1] == 1 and f[1, 1, 0, 0] == 1 and f[4, 1, 1, 2] == 2
    assert V.events_to_frames(ev, SENSOR, dt=1e-3, steps=5, binary=True)[4, 1, 1, 2] == 1
    shifted = V.events_to_frames(ev, SENSOR, dt=1e-3, steps=5, t_start=500)
    np.testing.assert_array_equal(shifted, hand_count(ev, 1000, 5, t_start=500))
    flat = V.events_to_frames(ev, SENSOR, dt=1e-3, steps=5, flatten=True)
    np.testing.assert_array_equal(flat, f.reshape(5, -1))
    empty = V.events_to_frames(ev[:0], SENSOR, dt=1e-3, steps=3)
    assert empty.shape == (3, 2, 4, 5) and not empty.any()


def test_frames_without_y_and_other_dt():
    ev = V.make_events(x=[0, 3, 3], t=[10, 260, 499], p=[0, 1, 1])
    f = V.events_to_frames(ev, (4, 1, 2), dt=250e-6)
    assert f.shape == (2, 2, 4)
    assert f[0, 0, 0] == 1 and f[1, 1, 3] == 2 and f.sum() == 3


@pytest.mark.parametrize("bad, match", [
    (dict(x=[5], y=[0], t=[0], p=[0]), "'x' spans"),
    (dict(x=[0], y=[4], t=[0], p=[0]), "'y' spans"),
])
def test_frames_refuse_events_outside_the_sensor(bad, match):
    with pytest.raises(InputError, match=match):
        V.events_to_frames(V.make_events(**bad), SENSOR, dt=1e-3, steps=2)


def test_frames_refuse_signed_polarity_and_frames():
    ev = np.zeros(1, dtype=[("x", "i2"), ("y", "i2"), ("t", "i8"), ("p", "i1")])
    ev["p"] = -1
    with pytest.raises(InputError, match="map them to 0/1"):
        V.events_to_frames(ev, SENSOR, dt=1e-3, steps=2)
    with pytest.raises(InputError, match="already yields frames"):
        V.events_to_frames(np.zeros((3, 2, 4, 5)), SENSOR, dt=1e-3, steps=3)


class TwoClassEvents:
    """A tonic-like dataset: indexable, sized, with sensor_size; label = seed % 2."""
    sensor_size = SENSOR

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if i >= self.n:
            raise IndexError(i)
        return synthetic_stream(i, n=200 + 100 * (i % 2), t_max=10_000), i % 2


def test_event_batches_from_a_dataset():
    ds = TwoClassEvents(7)
    batches = list(V.event_batches(ds, dt=1e-3, steps=10, batch_size=3))
    assert [b[0].shape for b in batches] == [(3, 10, 2, 4, 5)] * 2 + [(1, 10, 2, 4, 5)]
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), [0, 1, 0, 1, 0, 1, 0])
    np.testing.assert_array_equal(batches[1][0][2], hand_count(ds[5][0], 1000, 10))
    assert len(list(V.event_batches(ds, 1e-3, 10, 3, drop_last=True))) == 2
    # shuffled: a seeded permutation; a plain iterable (generator) works unshuffled
    shuffled = np.concatenate([b[1] for b in V.event_batches(ds, 1e-3, 10, 4, shuffle=True, seed=1)])
    order = np.random.default_rng(1).permutation(7)
    np.testing.assert_array_equal(shuffled, order % 2)
    gen = ((ds[i][0], ds[i][1]) for i in range(3))
    x, y = V.event_arrays(gen, 1e-3, 10, sensor_size=SENSOR, flatten=True)
    assert x.shape == (3, 10, 40) and list(y) == [0, 1, 0]
    with pytest.raises(InputError, match="sensor_size"):
        V.event_arrays(iter([]), 1e-3, 10)
    with pytest.raises(InputError, match="unknown options"):
        next(V.event_batches(ds, 1e-3, 10, binarize=True))


def test_event_frames_run_through_a_graph_on_two_backends():
    """Events -> frames (tonic) -> a Flatten -> Linear -> LIF graph; Brian2 and torch agree."""
    x, _ = V.event_arrays(TwoClassEvents(3), dt=1e-3, steps=10)
    n_in, h = int(np.prod(x.shape[2:])), 6
    w = np.random.default_rng(0).normal(0.0, 0.8, (h, n_in))
    graph = sc.Graph({
        "in": P.Input(np.array(x.shape[2:])),
        "flat": nir.Flatten(input_type={"input": np.array(x.shape[2:])}, start_dim=0, end_dim=-1),
        "w": P.Linear(weight=w),
        "lif": P.LIF(tau=np.full(h, 5e-3), r=np.ones(h), v_leak=np.zeros(h),
                     v_threshold=np.ones(h), v_reset=np.zeros(h)),
        "out": P.Output(np.array([h])),
    }, [("in", "flat"), ("flat", "w"), ("w", "lif"), ("lif", "out")],
        sc.Semantics(dt=1e-3, integrator="euler", reset="to_value"))
    report = sc.compare(graph, x, backends=("brian2", "torch"), layout="btn", record=("spikes",))
    assert report.ok, report.table()
    assert report.results["torch"].spikes["lif"].sum() > 0


def test_without_tonic_the_error_says_how_to_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "tonic", None)  # import tonic -> ImportError
    with pytest.raises(sc.errors.UnavailableError, match=r"spikecore\[events\]"):
        V.make_events(x=[0], y=[0], t=[0], p=[0])
