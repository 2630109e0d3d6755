"""Run one graph on several backends and say, precisely, where they disagree."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .backends.base import canonical_name
from .errors import SpikecoreError, UnavailableError, UnsupportedError
from .graph import Graph
from .result import Result


@dataclass(frozen=True)
class Tolerance:
    """Acceptance thresholds for one backend pair, each with the reason it is what it is.

    Attributes:
        min_spike_agreement: fraction of (batch, step, neuron) entries with equal spikes.
        max_state_abs_diff: largest allowed |difference| of recorded states and outputs
            (``None``: not checked, e.g. after spikes diverged by design).
        coincidence_steps: ``k`` for the ±k-step coincidence measure (reported only).
        reason: why these numbers.
    """

    min_spike_agreement: float = 1.0
    max_state_abs_diff: float | None = 1e-9
    coincidence_steps: int = 1
    reason: str = ("float64 on every backend and identical update order: spikes must be "
                   "identical and states equal up to accumulated rounding")


#: Defaults by backend pair (sorted names) or "*" for any pair.
DEFAULT_TOLERANCES: dict[str, Tolerance] = {
    "*": Tolerance(),
}


@dataclass
class Divergence:
    node: str
    batch: int
    neuron: int
    step: int
    values: tuple[Any, Any]
    reason: str = ""

    def __str__(self) -> str:
        return (f"node {self.node!r}, batch {self.batch}, neuron {self.neuron}, step {self.step}: "
                f"{self.values[0]!r} vs {self.values[1]!r}"
                + (f" ({self.reason})" if self.reason else ""))


@dataclass
class PairReport:
    """Agreement of backend ``b`` with reference backend ``a``."""

    a: str
    b: str
    tolerance: Tolerance
    spike_agreement: float = 1.0
    first_divergence: Divergence | None = None
    spike_count_diff: dict[str, np.ndarray] = field(default_factory=dict)
    coincidence: float = 1.0
    max_state_abs_diff: dict[str, float] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a, "b": self.b, "ok": self.ok,
            "spike_agreement": self.spike_agreement,
            "first_divergence": None if self.first_divergence is None else {
                "node": self.first_divergence.node, "batch": self.first_divergence.batch,
                "neuron": self.first_divergence.neuron, "step": self.first_divergence.step,
                "values": [None if v is None else float(v)
                           for v in self.first_divergence.values],
                "reason": self.first_divergence.reason},
            "max_abs_spike_count_diff": {k: int(np.abs(v).max(initial=0))
                                         for k, v in self.spike_count_diff.items()},
            "coincidence": self.coincidence,
            "coincidence_steps": self.tolerance.coincidence_steps,
            "max_state_abs_diff": self.max_state_abs_diff,
            "failures": self.failures,
            "tolerance_reason": self.tolerance.reason,
        }


@dataclass
class ComparisonReport:
    graph_name: str
    results: dict[str, Result]
    pairs: list[PairReport]
    skipped: dict[str, str]

    @property
    def ok(self) -> bool:
        """All compared pairs within tolerance, and at least two backends compared."""
        return len(self.results) >= 2 and all(p.ok for p in self.pairs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "graph": self.graph_name,
            "ok": self.ok,
            "backends": {k: r.summary() for k, r in self.results.items()},
            "skipped": self.skipped,
            "pairs": [p.to_dict() for p in self.pairs],
        }

    def table(self) -> str:
        """A terminal table: one row per backend pair."""
        rows = [("pair", "spikes equal", "coinc.±k", "max |Δstate|", "first divergence", "ok")]
        for p in self.pairs:
            state = max(p.max_state_abs_diff.values(), default=0.0)
            rows.append((f"{p.a} vs {p.b}", f"{100 * p.spike_agreement:.3f}%",
                         f"{100 * p.coincidence:.1f}%", f"{state:.3g}",
                         str(p.first_divergence) if p.first_divergence else "-",
                         "yes" if p.ok else "NO"))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        for name, r in self.results.items():
            lines.append(f"{name}: {sum(int(np.count_nonzero(v)) for v in r.spikes.values())} "
                         f"spikes, run {r.wall_time:.3f} s, build {r.build_time:.3f} s")
        for name, why in self.skipped.items():  # the whole reason: every problem named
            first, *rest = why.splitlines() or [""]
            lines.append(f"{name}: skipped: {first}")
            lines.extend(f"    {line}" for line in rest)
        for p in self.pairs:
            for f in p.failures:
                lines.append(f"FAIL {p.a} vs {p.b}: {f}")
        return "\n".join(lines)


def first_divergence(a: np.ndarray, b: np.ndarray, node: str) -> Divergence | None:
    """Earliest step (then lowest batch, then lowest neuron) where ``a`` and ``b`` differ."""
    a2 = a.reshape(a.shape[0], a.shape[1], -1)
    b2 = b.reshape(b.shape[0], b.shape[1], -1)
    diff = a2 != b2
    if not diff.any():
        return None
    steps = np.flatnonzero(diff.any(axis=(0, 2)))
    t = int(steps[0])
    bi, ni = (int(x[0]) for x in np.nonzero(diff[:, t, :]))
    return Divergence(node, bi, ni, t, (a2[bi, t, ni].item(), b2[bi, t, ni].item()))


def coincidence_fraction(a: np.ndarray, b: np.ndarray, k: int) -> float:
    """Fraction of all spikes (of both) that have a partner in the other train within ±k
    steps (same batch and neuron). 1.0 when neither has spikes."""
    a2 = a.reshape(a.shape[0], a.shape[1], -1).astype(bool)
    b2 = b.reshape(b.shape[0], b.shape[1], -1).astype(bool)
    total = int(a2.sum() + b2.sum())
    if total == 0:
        return 1.0

    def dilate(x: np.ndarray) -> np.ndarray:
        out = x.copy()
        for s in range(1, k + 1):
            out[:, s:] |= x[:, :-s]
            out[:, :-s] |= x[:, s:]
        return out

    matched = int((a2 & dilate(b2)).sum() + (b2 & dilate(a2)).sum())
    return matched / total


def first_nonfinite_divergence(a: np.ndarray, b: np.ndarray, node: str, what: str
                               ) -> Divergence | None:
    """Earliest entry where ``a`` or ``b`` is NaN/inf: never agreement, even when both
    sides hold the same NaN or inf."""
    a2 = a.reshape(a.shape[0], a.shape[1], -1).astype(np.float64)
    b2 = b.reshape(b.shape[0], b.shape[1], -1).astype(np.float64)
    bad = ~np.isfinite(a2) | ~np.isfinite(b2)
    if not bad.any():
        return None
    t = int(np.flatnonzero(bad.any(axis=(0, 2)))[0])
    bi, ni = (int(x[0]) for x in np.nonzero(bad[:, t, :]))
    va, vb = a2[bi, t, ni].item(), b2[bi, t, ni].item()
    both = not (np.isfinite(va) or np.isfinite(vb))
    reason = (f"{what} non-finite on both sides: NaN/inf is not agreement" if both
              else f"{what} non-finite on one side")
    return Divergence(node, bi, ni, t, (va, vb), reason)


def _flat_index(r: Result, nf: Any) -> int:
    """The flattened neuron index of a :class:`~spikecore.numerics.NonFinite` record."""
    arrays = [*([r.spikes[nf.node]] if nf.node in r.spikes else []),
              *r.traces.get(nf.node, {}).values(),
              *([r.outputs[nf.node]] if nf.node in r.outputs else [])]
    shape = arrays[0].shape[2:] if arrays else ()
    if len(shape) == len(nf.index) and shape:
        return int(np.ravel_multi_index(nf.index, shape))
    return int(nf.index[-1]) if nf.index else 0


def compare_results(a: Result, b: Result, tolerance: Tolerance) -> PairReport:
    rep = PairReport(a.backend, b.backend, tolerance)

    def note(d: Divergence | None) -> None:
        if d and (rep.first_divergence is None or d.step < rep.first_divergence.step):
            rep.first_divergence = d

    nfa, nfb = getattr(a, "nonfinite", None), getattr(b, "nonfinite", None)
    for r, nf in ((a, nfa), (b, nfb)):
        if nf is not None:
            rep.failures.append(f"{r.backend} went non-finite: {nf}")
    same = nfa is not None and nfb is not None and (nfa.node, nfa.state, nfa.step, nfa.batch,
                                                    nfa.index) == (nfb.node, nfb.state,
                                                                   nfb.step, nfb.batch,
                                                                   nfb.index)
    if same:
        note(Divergence(nfa.node, nfa.batch, _flat_index(a, nfa), nfa.step,
                        (nfa.value, nfb.value), f"state {nfa.state!r} non-finite on both "
                        "sides: NaN/inf is not agreement"))
    else:
        for r, nf in ((a, nfa), (b, nfb)):
            if nf is not None:
                values = (nf.value, None) if r is a else (None, nf.value)
                note(Divergence(nf.node, nf.batch, _flat_index(r, nf), nf.step, values,
                                f"{r.backend}: state {nf.state!r} non-finite"))
    equal = total = 0
    coinc_num = coinc_den = 0.0
    for node in sorted(set(a.spikes) & set(b.spikes)):
        sa, sb = a.spikes[node].astype(bool), b.spikes[node].astype(bool)
        if sa.shape != sb.shape:
            rep.failures.append(
                f"node {node!r}: spike arrays differ in shape {sa.shape} vs {sb.shape}"
            )
            continue
        equal += int((sa == sb).sum())
        total += sa.size
        note(first_divergence(sa, sb, node))
        counts = sa.sum(axis=1).reshape(sa.shape[0], -1).astype(int) - \
            sb.sum(axis=1).reshape(sb.shape[0], -1).astype(int)
        rep.spike_count_diff[node] = counts
        n = int(sa.sum() + sb.sum())
        coinc_num += coincidence_fraction(sa, sb, tolerance.coincidence_steps) * n
        coinc_den += n
    spike_divergence = rep.first_divergence
    rep.spike_agreement = equal / total if total else 1.0
    rep.coincidence = coinc_num / coinc_den if coinc_den else 1.0
    if rep.spike_agreement < tolerance.min_spike_agreement:
        rep.failures.append(
            f"spike agreement {rep.spike_agreement:.6f} < {tolerance.min_spike_agreement} "
            f"(first divergence: {spike_divergence})"
        )
    pairs = [(f"{n}:{s}", a.traces[n][s], b.traces[n][s])
             for n in sorted(set(a.traces) & set(b.traces))
             for s in sorted(set(a.traces[n]) & set(b.traces[n]))]
    pairs += [(f"{n}:output", a.outputs[n], b.outputs[n])
              for n in sorted(set(a.outputs) & set(b.outputs))]
    for key, x, y in pairs:
        if x.shape != y.shape:
            rep.failures.append(f"{key}: shapes differ {x.shape} vs {y.shape}")
            continue
        x, y = x.astype(np.float64), y.astype(np.float64)
        node, _, what = key.rpartition(":")
        nonfinite = first_nonfinite_divergence(x, y, node, what)
        finite = np.isfinite(x) & np.isfinite(y)
        diff = float(np.max(np.abs(x - y), where=finite, initial=0.0))
        rep.max_state_abs_diff[key] = diff
        if nonfinite is not None:
            note(nonfinite)
            rep.failures.append(f"{key}: non-finite from step {nonfinite.step}: {nonfinite}")
        if tolerance.max_state_abs_diff is not None and not diff <= tolerance.max_state_abs_diff:
            rep.failures.append(
                f"{key}: max |difference| {diff:.3g} > {tolerance.max_state_abs_diff:g}"
            )
    return rep


def _pair_key(a: str, b: str) -> str:
    """``"a-b"`` for a backend pair, names canonical (``norse`` -> ``torch``) and sorted."""
    return "-".join(sorted((canonical_name(a), canonical_name(b))))


def _tolerance_for(a: str, b: str, tolerances: Mapping[str, Tolerance] | Tolerance | None
                   ) -> Tolerance:
    if isinstance(tolerances, Tolerance):
        return tolerances
    table = {**DEFAULT_TOLERANCES, **{_pair_key(*k.split("-", 1)) if "-" in k else k: v
                                      for k, v in (tolerances or {}).items()}}
    key = _pair_key(a, b)
    return table.get(key, table["*"])


def compare(graph: Graph, inputs: Any = None, backends: Iterable[str] = ("brian2", "torch", "lava"),
            steps: int | None = None, record: Iterable[str] = ("spikes", "v", "i"),
            tolerances: Mapping[str, Tolerance] | Tolerance | None = None,
            backend_options: Mapping[str, Mapping[str, Any]] | None = None,
            progress: bool | Callable[[str], None] = False,
            layout: str | None = None) -> ComparisonReport:
    """Run ``graph`` on each backend and compare every one against the first that ran.

    Unavailable backends are listed in ``report.skipped`` with the reason; a backend that
    cannot lower the graph is listed there with the full error. ``report.ok`` is False
    unless at least two backends ran and every pair is within its tolerance.
    ``layout``: ``"btn"`` or ``"tbn"``, as in :func:`~spikecore.simulate`.
    ``progress``: True prints a line per backend (start, then time and spike count) to
    stderr; a callable receives those lines instead.
    """
    from .simulate import simulate

    say = _progress_printer(progress)
    given = list(backends)
    names_in = [canonical_name(n) for n in given]
    options_by_name = {canonical_name(n): o for n, o in (backend_options or {}).items()}
    results: dict[str, Result] = {}
    skipped: dict[str, str] = {}
    for k, name in enumerate(names_in, start=1):
        opts = dict(options_by_name.get(name, {}))
        # NaN/inf is reported by the comparison (first step, both sides), not raised.
        opts.setdefault("on_nonfinite", "ignore")
        say(f"[{k}/{len(names_in)}] {name}: running ...")
        t0 = time.perf_counter()
        try:
            results[name] = simulate(graph, inputs, backend=name, steps=steps, record=record,
                                     layout=layout, **opts)
        except (UnavailableError, UnsupportedError) as exc:
            skipped[name] = str(exc)
            say(f"[{k}/{len(names_in)}] {name}: skipped ({str(exc).splitlines()[0]})")
            continue
        n_spikes = sum(int(np.count_nonzero(v)) for v in results[name].spikes.values())
        say(f"[{k}/{len(names_in)}] {name}: done in {time.perf_counter() - t0:.2f} s, "
            f"{n_spikes} spikes")
    names = list(results)
    pairs = []
    if names:
        ref = results[names[0]]
        for other in names[1:]:
            pairs.append(compare_results(ref, results[other],
                                         _tolerance_for(names[0], other, tolerances)))
    if not names:
        raise SpikecoreError("no backend could run the graph:\n" + "\n".join(
            f"  - {k}: {v}" for k, v in skipped.items()))
    return ComparisonReport(graph.name, results, pairs, skipped)


def _progress_printer(progress: bool | Callable[[str], None]) -> Callable[[str], None]:
    if callable(progress):
        return progress
    if progress:
        return lambda line: print(line, file=sys.stderr, flush=True)
    return lambda line: None


def spike_time_error(a_steps: np.ndarray, b_steps: np.ndarray, dt: float) -> float:
    """Largest |difference| in seconds between matched spike times (in order); inf when
    the spike counts differ."""
    if len(a_steps) != len(b_steps):
        return math.inf
    if len(a_steps) == 0:
        return 0.0
    return float(np.max(np.abs(np.asarray(a_steps) - np.asarray(b_steps))) * dt)
