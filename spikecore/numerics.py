"""Non-finite values (NaN, ±inf) in a run: where they first appear, and what a run does
about them.

Inputs and parameters are refused when non-finite (``simulate``, ``validate``); NaN and
inf can still arise from the dynamics: forward Euler with ``dt / tau > 2`` grows without
bound, conductance and quadratic models blow up, huge weights overflow. Every backend
therefore looks at **every state of every node** (not only the recorded ones):

* torch: all states and the values sent between nodes, once per block of
  :data:`CHECK_EVERY` steps (one device sync per block); a block found non-finite is
  replayed from its start, one step at a time, to find the exact step.
* Brian2 (numpy, cython): every state variable of every group, by a network operation
  once per block; the exact step by a re-run checking after every step up to that block.
  cpp_standalone: the final state and the recordings, located by such a re-run on the
  numpy target.
* Lava: the final state (``v``, ``u``) of every population and every probe; located by a
  re-run recording every state.
* every backend: the recorded traces and outputs it returns.

The result is a :class:`NonFinite` record: node, state, first step (0-based, the index in
the ``Result`` arrays: the first step at whose end the value is NaN/inf), batch entry,
element and value. ``simulate(..., on_nonfinite=...)`` decides what happens
(:data:`POLICIES`): ``"raise"`` (default) raises :class:`~spikecore.errors.NumericalError`
carrying the record and the partial result; ``"warn"`` returns the result with
``result.nonfinite`` set and a :class:`~spikecore.errors.NumericalWarning`; ``"ignore"``
returns it with ``result.nonfinite`` set, silently (``compare`` uses this and reports it
itself).

A value that is non-finite only inside a block and finite again at its end (e.g. ``v =
inf`` crossing the threshold and reset to ``v_reset`` in the same step) is not reported:
states are looked at the end of a step, as they are recorded.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import InputError, NumericalError, NumericalWarning

#: What ``simulate(..., on_nonfinite=...)`` accepts.
POLICIES = ("raise", "warn", "ignore")
#: Steps between two finiteness checks of the whole state (torch, Brian2 runtime targets).
#: 0 turns the in-run checks off (the returned recordings are still scanned).
CHECK_EVERY = 100


@dataclass(frozen=True)
class NonFinite:
    """The first non-finite value of a run.

    Attributes:
        node: node name (as in the graph given to ``simulate``).
        state: the state (``"v"``, ``"i"``, an extension's state name, or ``"output"`` /
            ``"y"`` for the value a node sends).
        step: first step at whose end the value is NaN/inf (index into ``Result`` arrays).
        batch: batch entry.
        index: element index within the node's shape.
        value: the value there (``nan``, ``inf`` or ``-inf``).
        backend: the backend that produced it.
        note: how it was found, when that matters (e.g. located on another target).
    """

    node: str
    state: str
    step: int
    batch: int
    index: tuple[int, ...]
    value: float
    backend: str = ""
    note: str = ""

    def __str__(self) -> str:
        where = ", ".join(map(str, self.index))
        text = (f"node {self.node!r}, state {self.state!r} is {self.value} at step {self.step} "
                f"(batch {self.batch}, element ({where}))")
        return text + (f"; {self.note}" if self.note else "")

    def to_dict(self) -> dict[str, Any]:
        return {"node": self.node, "state": self.state, "step": self.step,
                "batch": self.batch, "index": list(self.index), "value": str(self.value),
                "backend": self.backend, "note": self.note}


def check_policy(policy: Any) -> str:
    if not isinstance(policy, str) or policy not in POLICIES:
        raise InputError(f"on_nonfinite={policy!r}: expected one of {POLICIES}")
    return policy


def first_nonfinite(a: np.ndarray, node: str, state: str, shape: tuple[int, ...] | None = None,
                    step_offset: int = 0) -> NonFinite | None:
    """The earliest non-finite entry of ``a`` (``[batch, steps, *shape]``): lowest step,
    then batch, then element; ``None`` when all are finite. ``shape``: the node's shape
    for the element index (default ``a.shape[2:]``)."""
    a = np.asarray(a)
    if a.dtype.kind not in "fc" or a.size == 0:
        return None
    bad = ~np.isfinite(a)
    if not bad.any():
        return None
    flat = bad.reshape(a.shape[0], a.shape[1], -1)
    t = int(np.flatnonzero(flat.any(axis=(0, 2)))[0])
    b, j = (int(x[0]) for x in np.nonzero(flat[:, t, :]))
    value = float(a.reshape(a.shape[0], a.shape[1], -1)[b, t, j])
    shape = tuple(a.shape[2:]) if shape is None else tuple(shape)
    index = tuple(int(k) for k in np.unravel_index(j, shape)) if shape else (j,)
    return NonFinite(node, state, t + step_offset, b, index, value)


def earliest(found: Iterable[NonFinite | None]) -> NonFinite | None:
    """The record with the lowest step; ties go to the first given (callers list states
    in topological order, before outputs: the origin, not what it reached)."""
    best = None
    for f in found:
        if f is not None and (best is None or f.step < best.step):
            best = f
    return best


def scan_result(result: Any, order: Iterable[str] = ()) -> NonFinite | None:
    """The earliest non-finite value in a :class:`~spikecore.Result`'s traces and outputs
    (nodes in ``order`` first, states before outputs)."""
    order = list(order)
    rank = {n: k for k, n in enumerate(order)}

    def key(n: str) -> tuple[int, str]:
        return (rank.get(n, len(rank)), n)

    found = [first_nonfinite(a, n, s) for n in sorted(result.traces, key=key)
             for s, a in result.traces[n].items()]
    found += [first_nonfinite(result.outputs[n], n, "output")
              for n in sorted(result.outputs, key=key)]
    return earliest(found)


def apply_policy(result: Any, found: NonFinite | None, policy: str, graph_name: str) -> Any:
    """Attach ``found`` to ``result`` and raise, warn or pass as ``policy`` says."""
    result.nonfinite = found
    if found is None or policy == "ignore":
        return result
    message = (f"graph {graph_name!r} on backend {found.backend or result.backend!r}: {found}. "
               "The discrete update diverged or overflowed: check time constants against dt "
               "(forward Euler diverges for dt/tau > 2), weights and input scales; "
               "on_nonfinite='warn' returns the partial result")
    if policy == "raise":
        raise NumericalError(message, found, result)
    warnings.warn(message, NumericalWarning, stacklevel=3)
    return result
