"""Event-camera data through ``tonic``: event arrays to spikecore input frames, datasets to batches.

``tonic`` (the ``events`` extra: ``pip install spikecore[events]``) stores a recording as
a structured numpy array with fields ``x``, ``y`` (absent for 1-D sensors such as audio
cochleas), ``t`` (timestamps, microseconds by tonic's convention) and ``p`` (polarity,
0 = off, 1 = on), and a dataset as an object yielding ``(events, label)``.
:func:`events_to_frames` bins one recording into spikecore's ``[steps, *shape]`` with
tonic's own ``tonic.transforms.ToFrame``; :func:`event_batches` and :func:`event_arrays`
turn a dataset into ``[batch, steps, *shape]`` arrays for :func:`spikecore.simulate`,
:func:`spikecore.compare` and a module from :func:`spikecore.to_torch`.

tonic is imported when one of these functions runs, so spikecore itself does not need it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from .errors import InputError, UnavailableError

__all__ = ["make_events", "events_to_frames", "event_batches", "event_arrays"]


def _tonic():
    try:
        import tonic
        import tonic.transforms  # noqa: F401  (ToFrame)
    except ImportError as exc:
        raise UnavailableError(
            f"event datasets need tonic ({exc}); install it with `pip install spikecore[events]` "
            "(or `pip install tonic==1.7.0`)") from None
    return tonic


def make_events(x: Any, t: Any, p: Any, y: Any = None) -> np.ndarray:
    """A tonic event array (its structured dtype ``x, y, t, p``; without ``y``: ``x, t, p``)
    from equal-length sequences, sorted by ``t`` (stable, so simultaneous events keep their
    order). Timestamps are in the unit of the recording (tonic: microseconds)."""
    tonic = _tonic()
    cols = [np.asarray(c) for c in ((x, y, t, p) if y is not None else (x, t, p))]
    if len({c.shape for c in cols}) != 1 or cols[0].ndim != 1:
        raise InputError(f"make_events: x, y, t, p must be 1-D and of one length, got shapes "
                         f"{[c.shape for c in cols]}")
    if y is not None:
        dtype = tonic.io.events_struct
    else:
        dtype = np.dtype([("x", np.int16), ("t", np.int64), ("p", bool)])
    events = tonic.io.make_structured_array(*cols, dtype=dtype)
    return events[np.argsort(events["t"], kind="stable")]


def _window(dt: float, time_unit: float) -> float:
    if not (np.isfinite(dt) and dt > 0):
        raise InputError(f"events_to_frames: dt={dt!r}: expected a step > 0 in seconds")
    if not (np.isfinite(time_unit) and time_unit > 0):
        raise InputError(f"events_to_frames: time_unit={time_unit!r}: expected seconds per "
                         "timestamp unit > 0 (tonic: 1e-6)")
    w = float(dt) / float(time_unit)
    if abs(w - round(w)) <= 1e-9 * max(1.0, abs(w)):  # 1e-3 / 1e-6 = 999.9999999999999
        w = float(round(w))
    return w


def _check_events(events: Any, sensor_size: tuple[int, ...]) -> np.ndarray:
    names = getattr(getattr(events, "dtype", None), "names", None)
    if not names or not {"x", "t", "p"} <= set(names):
        shape = getattr(events, "shape", None)
        raise InputError(
            f"events_to_frames: expected a tonic event array (structured dtype with fields "
            f"x, y, t, p), got {type(events).__name__} of shape {shape} with fields {names}; "
            "a dataset built with transform=ToFrame(...) already yields frames: build it "
            "without that transform")
    if len(sensor_size) != 3 or any(int(s) < 1 for s in sensor_size):
        raise InputError(f"events_to_frames: sensor_size={tuple(sensor_size)}: expected tonic's "
                         "(width, height, polarities), each >= 1 (height 1 for a 1-D sensor)")
    w, h, n_p = (int(s) for s in sensor_size)
    limits = [("x", w), ("p", n_p)] + ([("y", h)] if "y" in names else [])
    for field, size in limits:
        col = np.asarray(events[field]).astype(np.int64)
        if col.size and (col.min() < 0 or col.max() >= size):
            hint = (" (polarities -1/+1? map them to 0/1 first, e.g. (p > 0))" if field == "p"
                    and col.min() < 0 else "")
            raise InputError(f"events_to_frames: event field {field!r} spans [{col.min()}, "
                             f"{col.max()}], outside [0, {size - 1}] of sensor_size "
                             f"{tuple(sensor_size)}{hint}")
    if "y" not in names and h != 1:
        raise InputError(f"events_to_frames: events have no y field but sensor_size "
                         f"{tuple(sensor_size)} has height {h}; use (width, 1, polarities)")
    t = np.asarray(events["t"])
    if t.size and np.any(np.diff(t) < 0):
        events = events[np.argsort(t, kind="stable")]
    return events


def events_to_frames(events: np.ndarray, sensor_size: tuple[int, int, int], dt: float,
                     steps: int | None = None, *, time_unit: float = 1e-6,
                     t_start: float = 0.0, binary: bool = False,
                     flatten: bool = False) -> np.ndarray:
    """Bin one event recording into ``[steps, *shape]`` input for spikecore, with tonic's
    ``ToFrame(sensor_size, time_window=dt / time_unit, start_time=t_start, ...)``.

    Rule: step ``k`` holds, per pixel and polarity, the number of events with
    ``t_start + k * w <= t < t_start + (k + 1) * w``, ``w = dt / time_unit`` (the step in
    the events' timestamp unit). Events before ``t_start`` or at and after
    ``t_start + steps * w`` are outside the window and not counted.

    Args:
        events: a tonic event array (structured dtype with ``x``, ``t``, ``p`` and, for a
            2-D sensor, ``y``); need not be sorted.
        sensor_size: tonic's ``(width, height, polarities)`` (height 1 without ``y``).
        dt: the step in seconds (the graph's ``Semantics.dt``).
        steps: number of steps; ``None``: up to and including the last event's step.
        time_unit: seconds per timestamp unit (tonic's datasets: ``1e-6``).
        t_start: the timestamp of step 0's start, in the events' unit.
        binary: clip the counts to 1 (a spike where a pixel had any event in the step).
        flatten: ``[steps, polarities * height * width]`` instead of the frame shape.

    Returns:
        float64 ``[steps, polarities, height, width]`` (events with ``y``) or ``[steps,
        polarities, width]`` (without), as tonic orders frames (channel = ``p``); with
        ``flatten`` ``[steps, n]`` in that (C) order.
    """
    tonic = _tonic()
    w = _window(dt, time_unit)
    events = _check_events(events, tuple(sensor_size))
    sensor = tuple(int(s) for s in sensor_size)
    width, height, n_p = sensor
    frame_shape = (n_p, height, width) if "y" in events.dtype.names else (n_p, width)
    if steps is None:
        t = np.asarray(events["t"], dtype=np.float64)
        t = t[t >= t_start]
        if not t.size:
            raise InputError("events_to_frames: no event at or after t_start and steps=None: "
                             "pass steps to get empty frames")
        steps = int(math.floor((t.max() - t_start) / w)) + 1
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise InputError(f"events_to_frames: steps={steps!r}: expected a positive integer")
    steps = int(steps)
    if len(events) == 0:  # tonic returns one frame of another shape for no events
        frames = np.zeros((steps, *frame_shape))
    else:
        # end_time half a window past the last step: tonic counts floor((end - start - w) / w)
        # + 1 windows, which a timestamp unit like 1e-6 s would otherwise round down.
        to_frame = tonic.transforms.ToFrame(sensor_size=sensor, time_window=w,
                                            start_time=t_start, end_time=t_start + (steps + 0.5) * w)
        frames = np.asarray(to_frame(events.copy()), dtype=np.float64)[:steps]
        if frames.shape != (steps, *frame_shape):
            raise RuntimeError(f"tonic's ToFrame returned shape {frames.shape}, expected "
                               f"{(steps, *frame_shape)}")
    if binary:
        frames = np.minimum(frames, 1.0)
    return frames.reshape(steps, -1) if flatten else frames


def _sensor_size(dataset: Any, sensor_size: Any) -> tuple[int, int, int]:
    if sensor_size is None:
        sensor_size = getattr(dataset, "sensor_size", None)
    if sensor_size is None:
        raise InputError(f"{type(dataset).__name__} has no sensor_size attribute: pass "
                         "sensor_size=(width, height, polarities)")
    return tuple(int(s) for s in sensor_size)


def _items(dataset: Any, order: np.ndarray | None) -> Iterator[tuple[Any, Any]]:
    if order is None:
        yield from iter(dataset)
    else:
        for i in order:
            yield dataset[int(i)]


def event_batches(dataset: Iterable, dt: float, steps: int, batch_size: int = 32, *,
                  sensor_size: tuple[int, int, int] | None = None, shuffle: bool = False,
                  seed: int | None = 0, drop_last: bool = False,
                  **frame_options: Any) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Batches ``(x, y)`` from a tonic dataset (any object yielding ``(events, label)``):
    ``x`` float64 ``[batch, steps, *shape]`` (each recording through
    :func:`events_to_frames` with the same ``dt`` and ``steps``), ``y`` ``[batch]`` labels
    (int64 when they are integers).

    Args:
        dataset: yields ``(events, label)``; with ``shuffle`` it needs ``len`` and indexing
            (as tonic's datasets have).
        dt: the step in seconds.
        steps: steps per recording (longer recordings are cut, shorter ones end silent).
        batch_size: recordings per batch.
        sensor_size: ``(width, height, polarities)``; default ``dataset.sensor_size``.
        shuffle: visit the recordings in ``numpy.random.default_rng(seed).permutation`` order.
        seed: the shuffle's seed.
        drop_last: drop a last batch smaller than ``batch_size``.
        frame_options: ``time_unit``, ``t_start``, ``binary``, ``flatten`` of
            :func:`events_to_frames`.

    Feed ``x`` to ``sc.simulate(graph, x)`` or to a torch module as
    ``torch.as_tensor(x, dtype=torch.float32)``.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise InputError(f"event_batches: batch_size={batch_size!r}: expected a positive integer")
    unknown = set(frame_options) - {"time_unit", "t_start", "binary", "flatten"}
    if unknown:
        raise InputError(f"event_batches: unknown options {sorted(unknown)}; valid: batch_size, "
                         "sensor_size, shuffle, seed, drop_last, time_unit, t_start, binary, flatten")
    size = _sensor_size(dataset, sensor_size)
    order = np.random.default_rng(seed).permutation(len(dataset)) if shuffle else None
    xs: list[np.ndarray] = []
    ys: list[Any] = []
    for item in _items(dataset, order):
        try:
            events, label = item
        except (TypeError, ValueError):
            raise InputError(f"event_batches: the dataset yielded {type(item).__name__}, "
                             "expected (events, label) pairs") from None
        xs.append(events_to_frames(events, size, dt, steps, **frame_options))
        ys.append(label)
        if len(xs) == batch_size:
            yield np.stack(xs), np.asarray(ys)
            xs, ys = [], []
    if xs and not drop_last:
        yield np.stack(xs), np.asarray(ys)


def event_arrays(dataset: Iterable, dt: float, steps: int, *,
                 sensor_size: tuple[int, int, int] | None = None,
                 **frame_options: Any) -> tuple[np.ndarray, np.ndarray]:
    """The whole dataset as one ``(x [n, steps, *shape], y [n])`` pair, in the dataset's
    order (see :func:`event_batches` for the arguments)."""
    batches = list(event_batches(dataset, dt, steps, batch_size=1 << 30, sensor_size=sensor_size,
                                 **frame_options))
    if not batches:
        raise InputError("event_arrays: the dataset yielded no recordings")
    return batches[0]
