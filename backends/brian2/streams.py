"""Brian2: long source streams played block by block instead of one ``TimedArray``.

A source's stream (:func:`spikecore.extensions.source_stream`) is a pure function of
``(seed, name, batch element, step)``, so it can be generated in pieces. The default
lowering keeps the whole stream in a ``TimedArray`` (``batch x steps x n`` float64); for
Brunel's network at full scale that is 20 Poisson sources x 12,500 neurons, 1 GB per
source and simulated second. Above :data:`STREAM_ABOVE_BYTES` a runtime target (numpy,
cython) instead gets a ``NetworkOperation`` in the node's update slot (+10) that writes
step ``t`` of the stream into ``y`` (the thresholder at +20 then emits the spikes, as
with the ``TimedArray``), generating :data:`BLOCK_BYTES` worth of steps at a time. Same
values, same slot: only the memory differs. ``cpp_standalone`` cannot run Python during a
run and keeps the ``TimedArray``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import primitives as P
from ...extensions import source_stream

#: Streams larger than this (bytes, float64) are generated block by block.
STREAM_ABOVE_BYTES = 64 * 2**20
#: Bytes of one generated block.
BLOCK_BYTES = 16 * 2**20


def needs_threshold(low: Any, name: str, node: Any) -> bool:
    """A spiking source needs a thresholder only to send spike events (to linear maps) or
    to be recorded as spikes; read as a value (e.g. by a Scale) its ``y`` is enough. Each
    thresholder is one more code object per step (~40 us of Python on runtime targets)."""
    return P.SPECS[type(node)].spiking and (
        name in low.events_from or "spikes" in low.record.get(name, ()))


def build_streamed_source(low: Any, name: str, node: Any) -> bool:
    """Lower the source ``name`` block by block if worthwhile; ``False`` if not done."""
    from brian2.devices.device import RuntimeDevice

    b2 = low.b2
    n = low.size[name]
    if low.B * low.steps * n * 8 <= STREAM_ABOVE_BYTES or not isinstance(
            b2.get_device(), RuntimeDevice):
        return False
    shape = low.shapes[name]
    g = low.make_group(name, [], threshold="y > 0.5" if needs_threshold(low, name, node)
                       else None)
    block = max(1, BLOCK_BYTES // (8 * low.B * n))
    cache: dict[str, Any] = {"t0": 0, "data": np.zeros((low.B, 0, *shape)), "state": None}
    dt = low.dt
    # The runtime device keeps the variable's storage array for the group's lifetime:
    # write into it directly (Brian2's indexing API costs more than the copy).
    store = g.variables["y"].get_value()

    def play(t: Any) -> None:
        k = int(round(float(t / b2.second) / dt))
        t0, data = cache["t0"], cache["data"]
        if not t0 <= k < t0 + data.shape[1]:
            if k != t0 + data.shape[1]:  # blocks are played in order; restart otherwise
                cache["state"] = None
                if k != 0:
                    raise RuntimeError(f"source {name!r}: stream asked for step {k} out of "
                                       "order")
            data, cache["state"] = source_stream(node, name, low.sem, low.B, k, k + block,
                                                 shape, state=cache["state"])
            cache["t0"], cache["data"] = k, data
            t0 = k
        # Element b * n + j of the group is sample b, element j.
        store[:] = data[:, k - t0].reshape(-1)

    op = b2.NetworkOperation(play, clock=low.clock, when="groups", order=low.slot(name, 10),
                             name=low.bname[name] + "__stream")
    low.objects.append(op)
    return True
