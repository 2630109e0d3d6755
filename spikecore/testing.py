"""Assertions for tests that say *where* two results differ, not just that they do."""

from __future__ import annotations

import numpy as np

from .compare import first_divergence
from .result import Result


def _side(r: Result, which: str) -> str:
    return f"{r.backend or 'unnamed backend'} (result {which})"


def assert_same_spikes(a: Result, b: Result, nodes: list[str] | None = None) -> None:
    """Fail with the first differing (node, batch, neuron, step) if spikes differ.

    Without ``nodes`` every spiking node either result recorded is compared: a node that
    one side recorded and the other did not is a failure naming the node and the side that
    lacks it (a backend that records fewer nodes by design is compared with an explicit
    ``nodes=[...]``). With ``nodes``, each listed node must be recorded by both.
    """
    if nodes is None:
        only_a, only_b = sorted(set(a.spikes) - set(b.spikes)), sorted(set(b.spikes) - set(a.spikes))
        if only_a or only_b:
            lacks = [f"node {n!r} recorded by {_side(a, 'a')} but not by {_side(b, 'b')}"
                     for n in only_a]
            lacks += [f"node {n!r} recorded by {_side(b, 'b')} but not by {_side(a, 'a')}"
                      for n in only_b]
            raise AssertionError("spiking nodes recorded by one side only: " + "; ".join(lacks)
                                 + " (pass nodes=[...] to compare a subset on purpose)")
        names = sorted(a.spikes)
    else:
        names = list(nodes)
    if not names:
        raise AssertionError(f"no spiking node recorded by both {a.backend} and {b.backend}")
    for n in names:
        missing = [_side(r, which) for r, which in ((a, "a"), (b, "b")) if n not in r.spikes]
        if missing:
            raise AssertionError(f"node {n!r} is not recorded by {' nor by '.join(missing)}")
        sa, sb = a.spikes[n], b.spikes[n]
        if sa.shape != sb.shape:
            raise AssertionError(
                f"node {n!r}: shapes {sa.shape} ({a.backend}) vs {sb.shape} ({b.backend})"
            )
        d = first_divergence(sa.astype(bool), sb.astype(bool), n)
        if d is not None:
            raise AssertionError(
                f"spikes differ between {a.backend} and {b.backend} at {d} "
                f"({int(sa.sum())} vs {int(sb.sum())} spikes in total)"
            )


def assert_close_arrays(x: np.ndarray, y: np.ndarray, atol: float, what: str = "values",
                        rtol: float = 0.0) -> None:
    """Fail with the index (batch, step, element) of the largest violation."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise AssertionError(f"{what}: shapes differ {x.shape} vs {y.shape}")
    bad = np.abs(x - y) > atol + rtol * np.abs(y)
    if bad.any():
        idx = np.unravel_index(int(np.argmax(np.where(bad, np.abs(x - y), -1))), x.shape)
        first = np.unravel_index(int(np.flatnonzero(bad.reshape(-1))[0]), x.shape)
        raise AssertionError(
            f"{what}: {int(bad.sum())} of {bad.size} entries differ by more than atol={atol:g}"
            f"{f' + rtol={rtol:g}' if rtol else ''}; first at index {tuple(map(int, first))}: "
            f"{x[first]!r} vs {y[first]!r}; largest at {tuple(map(int, idx))}: "
            f"{x[idx]!r} vs {y[idx]!r}"
        )


def assert_same_traces(a: Result, b: Result, atol: float) -> None:
    names = sorted(set(a.traces) & set(b.traces))
    if not names:
        raise AssertionError(f"no state trace recorded by both {a.backend} and {b.backend}")
    for n in names:
        for s in sorted(set(a.traces[n]) & set(b.traces[n])):
            assert_close_arrays(a.traces[n][s], b.traces[n][s], atol,
                                f"{n}:{s} ({a.backend} vs {b.backend})")
