"""The spike condition is strict, ``v > v_threshold``, on every backend.

Each case drives a neuron so that its membrane lands *exactly* on the threshold (every
number a dyadic fraction, so every backend's float64 arithmetic is exact), then above it.
The expected spikes and voltages are worked out here by hand from the documented update,
not from spikecore.discrete: a ``>=`` anywhere (contract, lowering, surrogate path) fires
one step early and fails.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

import spikecore as sc
from spikecore import primitives as P
from spikecore.testing import assert_close_arrays

BACKENDS = ("brian2", "torch", "lava")
DT = 1e-3


@dataclass(frozen=True)
class Case:
    name: str
    node: P.NIRNode
    x: list[float]              # input per step (one neuron)
    v: list[float]              # expected membrane after each step (after reset)
    spikes: list[int]           # expected spike per step
    semantics: sc.Semantics


def _one(v: float) -> np.ndarray:
    return np.array([v])


CASES = [
    # IF, Euler: v += dt * r * x with dt * r = 1. Step 0 lands on 1.0 exactly: no spike;
    # step 1 reaches 1.25: spike, reset to 0.
    Case("IF", P.IF(r=_one(1.0 / DT), v_threshold=_one(1.0), v_reset=_one(0.0)),
         [1.0, 0.25, 0.0], [1.0, 0.0, 0.0], [0, 1, 0], sc.Semantics(dt=DT)),
    # LIF, Euler with dt / tau = 1/2: v = v/2 + x/2 (r = 1, v_leak = 0). x = 2 gives 1.0
    # exactly (no spike), then 0.5 + 1 = 1.5 (spike, reset to 0), then 1.0 again.
    Case("LIF", P.LIF(tau=_one(2 * DT), r=_one(1.0), v_leak=_one(0.0),
                      v_threshold=_one(1.0), v_reset=_one(0.0)),
         [2.0, 2.0, 2.0], [1.0, 0.0, 1.0], [0, 1, 0], sc.Semantics(dt=DT)),
    # LIF, subtract reset, threshold 1, v_reset 0: 1.0 (no spike), 1.5 -> 0.5 (spike).
    Case("LIF-subtract", P.LIF(tau=_one(2 * DT), r=_one(1.0), v_leak=_one(0.0),
                               v_threshold=_one(1.0), v_reset=_one(0.0)),
         [2.0, 2.0, 0.0], [1.0, 0.5, 0.25], [0, 1, 0], sc.Semantics(dt=DT, reset="subtract")),
    # CubaLIF, Euler, current first, dt / tau_syn = dt / tau_mem = 1/2, w_in = r = 1:
    # i = i/2 + x/2, v = v/2 + i/2. x = 4: i = 2, v = 1.0 (on the threshold); x = 0:
    # i = 1, v = 1.0 again; x = 4: i = 2.5, v = 1.75 (spike, reset to 0).
    Case("CubaLIF", P.CubaLIF(tau_syn=_one(2 * DT), tau_mem=_one(2 * DT), r=_one(1.0),
                              v_leak=_one(0.0), v_threshold=_one(1.0), v_reset=_one(0.0),
                              w_in=_one(1.0)),
         [4.0, 0.0, 4.0], [1.0, 1.0, 0.0], [0, 0, 1], sc.Semantics(dt=DT)),
]


def _graph(case: Case) -> sc.Graph:
    return sc.Graph({"in": P.Input(np.array([1])), "n": case.node, "out": P.Output(np.array([1]))},
                    [("in", "n"), ("n", "out")], case.semantics, name=f"threshold-{case.name}")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_exactly_at_threshold_does_not_spike(case: Case, backend: str, request) -> None:
    x = np.array(case.x).reshape(1, -1, 1)
    if backend == "lava":
        request.getfixturevalue("lava")
        if case.semantics.reset == "subtract":  # refused by name, not skipped
            with pytest.raises(sc.UnsupportedError, match="reset='subtract' not representable"):
                sc.simulate(_graph(case), x, backend=backend)
            return
    r = sc.simulate(_graph(case), x, backend=backend, record=("spikes", "v"))
    got = r.spikes["n"][0, :, 0].astype(int)
    first = next((t for t in range(len(got)) if got[t] != case.spikes[t]), None)
    assert first is None, (f"{case.name} on {backend}: spike at step {first} is {got[first]}, "
                           f"expected {case.spikes[first]} (v must exceed the threshold "
                           f"strictly); all: {got.tolist()} vs {case.spikes}")
    # Lava's monitor records v after its own reset, with the voltage origin shifted by the
    # lowering; its voltages are compared in tests/backends/lava. Here: spikes, and v on
    # the engines that record the contract's v.
    if backend != "lava":
        assert_close_arrays(r.traces["n"]["v"][0, :, 0], np.array(case.v), 0.0,
                            f"{case.name} v on {backend}")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_surrogate_path_is_strict_too(case: Case) -> None:
    """With autograd on, torch spikes through the surrogate ``spike(v - v_threshold)``:
    its forward must be 0 at ``v == v_threshold`` as well."""
    import torch
    m = sc.to_torch(_graph(case), dtype=torch.float64, trainable="all")
    x = torch.tensor(case.x, dtype=torch.float64).reshape(1, -1, 1)
    with torch.enable_grad():
        z, _ = m(x)
    assert z[0, :, 0].detach().tolist() == [float(s) for s in case.spikes], case.name
