"""Random valid spikecore graphs and inputs for the equivalence suite.

Everything is drawn from ``numpy.random.default_rng(seed)``: a failing case is reproduced
from its seed alone (hypothesis only picks seeds and structural choices).
"""

from __future__ import annotations

from dataclasses import dataclass

import nir
import numpy as np

from spikecore import Edge, Graph, Semantics

NEURONS = ("LIF", "CubaLIF", "IF", "LI", "CubaLI", "I")
SPIKING = ("LIF", "CubaLIF", "IF")


@dataclass
class Case:
    seed: int
    graph: Graph
    inputs: np.ndarray
    description: str

    def __repr__(self) -> str:
        return f"Case(seed={self.seed}, {self.description})"


def neuron(kind: str, n: int, rng: np.random.Generator, dt: float) -> nir.NIRNode:
    """A neuron node with parameters in ranges where the dynamics are lively but sane."""
    tau = lambda: rng.uniform(3 * dt, 40 * dt, n)  # noqa: E731
    r = rng.uniform(0.5, 2.0, n)
    v_leak = rng.uniform(-0.1, 0.1, n)
    v_th = rng.uniform(0.3, 1.2, n)
    v_reset = rng.uniform(-0.2, 0.1, n)
    if kind == "LIF":
        return nir.LIF(tau=tau(), r=r, v_leak=v_leak, v_threshold=v_th, v_reset=v_reset)
    if kind == "LI":
        return nir.LI(tau=tau(), r=r, v_leak=v_leak)
    if kind == "IF":
        return nir.IF(r=r / (20 * dt), v_threshold=v_th, v_reset=v_reset)
    if kind == "I":
        return nir.I(r=r / (50 * dt))
    w_in = rng.uniform(0.5, 2.0, n)
    if kind == "CubaLIF":
        return nir.CubaLIF(tau_syn=tau(), tau_mem=tau(), r=r, v_leak=v_leak, v_threshold=v_th,
                           v_reset=v_reset, w_in=w_in)
    if kind == "CubaLI":
        return nir.CubaLI(tau_syn=tau(), tau_mem=tau(), r=r, v_leak=v_leak, w_in=w_in)
    raise ValueError(kind)


def random_semantics(rng: np.random.Generator, dt: float) -> Semantics:
    return Semantics(
        dt=dt,
        integrator=str(rng.choice(["euler", "exact"])),
        reset=str(rng.choice(["to_value", "subtract"])),
        input_meaning=str(rng.choice(["current", "increment"])),
        update_order=str(rng.choice(["current_first", "voltage_first"])),
    )


def random_network(seed: int, n_layers: int = 3, recurrent: bool = True, skip: bool = True,
                   max_delay: int = 3, steps: int = 200, batch: int = 2,
                   spiking_only: bool = False) -> Case:
    """A random layered network: Input -> (Affine -> neuron)* -> Output, with optional
    skip connections (delay 0..max_delay) and recurrent back projections (delay >= 1).

    Non-spiking neurons (LI, I, CubaLI) are only used as the last layer, so every hidden
    layer sends spikes, as in real networks; the input is a mix of spikes and currents.
    """
    rng = np.random.default_rng(seed)
    dt = float(rng.choice([1e-4, 5e-4, 1e-3]))
    sizes = [int(rng.integers(2, 9))] + [int(rng.integers(2, 13)) for _ in range(n_layers)]
    kinds = [str(rng.choice(SPIKING)) for _ in range(n_layers - 1)]
    kinds.append(str(rng.choice(SPIKING if spiking_only else NEURONS)))
    nodes: dict[str, object] = {"input": nir.Input(input_type=np.array([sizes[0]]))}
    edges: list[Edge] = []
    prev = "input"
    for k in range(n_layers):
        n_in, n_out = sizes[k], sizes[k + 1]
        gain = rng.uniform(1.0, 4.0) / np.sqrt(n_in)
        nodes[f"fc{k}"] = nir.Affine(weight=rng.normal(0, gain, (n_out, n_in)),
                                     bias=rng.normal(0, 0.2, n_out))
        nodes[f"n{k}"] = neuron(kinds[k], n_out, rng, dt)
        edges += [Edge(prev, f"fc{k}", int(rng.integers(0, max_delay + 1)) if k else 0),
                  Edge(f"fc{k}", f"n{k}")]
        prev = f"n{k}"
    if skip and n_layers >= 2:
        src, dst = 0, n_layers - 1
        w_skip = rng.normal(0, 1.0 / np.sqrt(sizes[1]), (sizes[dst + 1], sizes[src + 1]))
        nodes["skip"] = nir.Linear(weight=w_skip)
        edges += [Edge(f"n{src}", "skip", int(rng.integers(0, max_delay + 1))), Edge("skip", f"n{dst}")]
    if recurrent:
        k = int(rng.integers(0, n_layers))
        if kinds[k] in SPIKING:
            n = sizes[k + 1]
            nodes["rec"] = nir.Linear(weight=rng.normal(0, 1.5 / np.sqrt(n), (n, n)))
            edges += [Edge(f"n{k}", "rec"), Edge("rec", f"n{k}", int(rng.integers(1, max_delay + 1)))]
    nodes["output"] = nir.Output(output_type=np.array([sizes[-1]]))
    edges.append(Edge(prev, "output"))
    sem = random_semantics(rng, dt)
    g = Graph(nodes, edges, sem, name=f"random_{seed}")
    spikes = (rng.random((batch, steps, sizes[0])) < 0.1).astype(float) * rng.uniform(0.5, 3.0)
    currents = rng.normal(0.3, 0.5, (batch, steps, sizes[0]))
    x = np.where(rng.random(sizes[0]) < 0.5, spikes, currents)
    desc = f"layers={kinds}, sizes={sizes}, {sem.describe()}, edges={len(edges)}"
    return Case(seed, g, x, desc)
