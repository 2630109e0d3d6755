"""A graph whose forward-Euler update diverges (dt/tau = 3), and where the numpy
contract first puts a NaN/inf in a state: the reference for the non-finite checks of
every backend.

``pop`` (LI, 2 neurons) obeys ``v[t] = -2 v[t-1] + 3 x[t]``: ``|v|`` doubles every step
and overflows to ±inf after about 1024 - log2(input) steps. Its two neurons get inputs of
opposite sign, so the Affine ``sum`` (weights ``[[1, 1]]``) adds ``+inf`` and ``-inf``:
NaN, which the stable LI ``acc`` then holds.
"""

from __future__ import annotations

import warnings

import numpy as np
from contract_reference import contract_step

from spikecore import primitives as P
from spikecore.discrete import neuron_coefficients
from spikecore.graph import Graph, GraphWarning
from spikecore.semantics import Semantics


def blowup_graph(name: str = "blowup", chain: bool = True) -> Graph:
    """``chain=False``: only ``in -> pop -> out`` (Lava lets only an Output read an LI)."""
    sem = Semantics(dt=3e-3, integrator="euler")
    pop = P.LI(tau=np.full(2, 1e-3), r=np.ones(2), v_leak=np.zeros(2))
    if not chain:
        return Graph({"in": P.Input(np.array([2])), "pop": pop, "out": P.Output(np.array([2]))},
                     [("in", "pop"), ("pop", "out")], sem, name=name)
    acc = P.LI(tau=np.full(1, 0.1), r=np.ones(1), v_leak=np.zeros(1))
    return Graph({"in": P.Input(np.array([2])), "pop": pop,
                  "sum": P.Affine(weight=np.ones((1, 2)), bias=np.zeros(1)), "acc": acc,
                  "out": P.Output(np.array([1]))},
                 [("in", "pop"), ("pop", "sum"), ("sum", "acc"), ("acc", "out")], sem,
                 name=name)


def blowup_input(steps: int = 1100, batch: int = 2) -> np.ndarray:
    """Batch entry ``b`` is driven by ``±10 ** (3 b)``: later entries overflow earlier."""
    x = np.ones((batch, steps, 2))
    x[..., 1] = -1.0
    for b in range(batch):
        x[b] *= 10.0 ** (3 * b)
    return x


def contract_first_nonfinite(graph: Graph, x: np.ndarray) -> tuple[int, int, int]:
    """``(step, batch, neuron)`` of the first non-finite ``pop.v`` in the numpy contract."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GraphWarning)
        co = neuron_coefficients(graph.nodes["pop"], graph.semantics)
    i = v = np.zeros(x.shape[::2])
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(x.shape[1]):
            _, i, v = contract_step(co, i, v, x[:, t])
            bad = ~np.isfinite(v)
            if bad.any():
                b, j = (int(k[0]) for k in np.nonzero(bad))
                return t, b, j
    raise AssertionError("the reference never went non-finite")
