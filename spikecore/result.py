"""One recording schema for every backend."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Result:
    """What a simulation recorded. Every array is ``[batch, steps, *node_shape]``.

    Attributes:
        spikes: node name -> bool array, for spiking nodes when ``"spikes"`` was recorded.
        traces: node name -> state name (``"v"``, ``"i"``) -> float array; the value at the
            end of each step (after reset).
        outputs: Output node name -> float array of what reached it in each step.
        dt: step length in seconds; step ``t`` ends at time ``(t + 1) * dt``.
        backend: which engine produced it, e.g. ``"brian2"``.
        wall_time: seconds spent in the engine run (not in building or set-up).
        build_time: seconds spent lowering/building before the run.
        info: backend-specific details (code-generation target, lags, ...).
        nonfinite: the first NaN/inf of the run (a :class:`spikecore.numerics.NonFinite`:
            node, state, step, batch, element), or ``None``; set by ``simulate``.
    """

    spikes: dict[str, np.ndarray] = field(default_factory=dict)
    traces: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    dt: float = 0.0
    backend: str = ""
    wall_time: float = 0.0
    build_time: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)
    nonfinite: Any = None

    @property
    def steps(self) -> int:
        for arrays in (self.spikes, self.outputs):
            for a in arrays.values():
                return int(a.shape[1])
        for states in self.traces.values():
            for a in states.values():
                return int(a.shape[1])
        return 0

    @property
    def batch(self) -> int:
        for arrays in (self.spikes, self.outputs):
            for a in arrays.values():
                return int(a.shape[0])
        for states in self.traces.values():
            for a in states.values():
                return int(a.shape[0])
        return 0

    def __repr__(self) -> str:
        """One line: backend, batch x steps, dt, spike count per node, wall time, e.g.
        ``<Result torch: 1 x 400 steps, dt=0.001 s, spikes lif1=12 lif2=3, wall 0.012 s>``."""
        spikes = [f"{k}={int(np.count_nonzero(v))}" for k, v in self.spikes.items()]
        if len(spikes) > 6:
            spikes = [*spikes[:5], f"(+{len(spikes) - 5} more)"]
        traces = sum(len(v) for v in self.traces.values())
        parts = [f"{self.batch} x {self.steps} steps", f"dt={self.dt:g} s",
                 "spikes " + (" ".join(spikes) if spikes else "none recorded")]
        if traces:
            parts.append(f"{traces} trace(s)")
        parts.append(f"wall {self.wall_time:.3g} s")
        return f"<Result {self.backend or '?'}: {', '.join(parts)}>"

    @property
    def times(self) -> np.ndarray:
        """End time of each step in seconds."""
        return (np.arange(self.steps) + 1) * self.dt

    def spike_steps(self, node: str, batch: int = 0) -> list[np.ndarray]:
        """For each neuron (flattened index), the steps at which it spiked."""
        z = self.spikes[node][batch].reshape(self.steps, -1)
        return [np.flatnonzero(z[:, j]) for j in range(z.shape[1])]

    def to_nir_data(self):
        """The recording as ``nir.NIRGraphData``: one ``NIRNodeData`` per node, spikes as
        ``TimeGriddedData`` (bool) and states as ``TimeGriddedData`` (float), neurons
        flattened to ``[batch, steps, n]``."""
        import nir

        nodes: dict[str, Any] = {}

        def flat(a: np.ndarray) -> np.ndarray:
            return a.reshape(a.shape[0], a.shape[1], -1)

        names = set(self.spikes) | set(self.traces) | set(self.outputs)
        for name in sorted(names):
            obs = {}
            if name in self.spikes:
                obs["spikes"] = nir.TimeGriddedData(flat(self.spikes[name]).astype(bool), self.dt)
            for state, a in self.traces.get(name, {}).items():
                obs[state] = nir.TimeGriddedData(flat(a), self.dt)
            if name in self.outputs:
                obs["output"] = nir.TimeGriddedData(flat(self.outputs[name]), self.dt)
            nodes[name] = nir.NIRNodeData(observables=obs)
        return nir.NIRGraphData(nodes=nodes)

    def summary(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "dt": self.dt,
            "steps": self.steps,
            "batch": self.batch,
            "wall_time_s": round(self.wall_time, 6),
            "build_time_s": round(self.build_time, 6),
            "spike_counts": {k: int(np.count_nonzero(v)) for k, v in self.spikes.items()},
            "recorded_states": {k: sorted(v) for k, v in self.traces.items()},
            "nonfinite": None if self.nonfinite is None else self.nonfinite.to_dict(),
        }
