"""Hand-built equivalence cases: every primitive alone and in chains, under every
semantics option, conv/pool stacks, nested graphs and the model zoo."""

from __future__ import annotations

import itertools

import nir
import numpy as np
import spikecore.models as zoo

from spikecore import Edge, Graph, Semantics

from .generators import Case, neuron

STEPS = 150


def _single_neuron(kind: str, sem: Semantics, seed: int) -> Case:
    rng = np.random.default_rng(seed)
    n = 6
    nodes = {"input": nir.Input(input_type=np.array([4])),
             "fc": nir.Affine(weight=rng.normal(0, 1.5, (n, 4)), bias=rng.normal(0.2, 0.1, n)),
             "neuron": neuron(kind, n, rng, sem.dt),
             "output": nir.Output(output_type=np.array([n]))}
    edges = [Edge("input", "fc"), Edge("fc", "neuron"), Edge("neuron", "output")]
    x = rng.normal(0.5, 1.0, (2, STEPS, 4))
    return Case(seed, Graph(nodes, edges, sem, name=f"{kind}"), x, f"{kind} alone, {sem.describe()}")


def neuron_cases() -> list[Case]:
    out = []
    options = itertools.product(("euler", "exact"), ("to_value", "subtract"),
                                ("current", "increment"))
    for k, (integ, reset, meaning) in enumerate(options):
        for j, kind in enumerate(("LIF", "CubaLIF", "IF", "LI", "CubaLI", "I")):
            if kind in ("LI", "CubaLI", "I") and reset == "subtract":
                continue  # no reset: already covered by the to_value variant
            order = "voltage_first" if (k + j) % 2 else "current_first"
            sem = Semantics(dt=1e-3, integrator=integ, reset=reset, input_meaning=meaning,
                            update_order=order)
            out.append(_single_neuron(kind, sem, seed=100 * k + j))
    return out


def stateless_chain() -> Case:
    """Scale, Threshold, Delay and Linear between neurons."""
    rng = np.random.default_rng(7)
    dt = 1e-3
    n = 5
    nodes = {
        "input": nir.Input(input_type=np.array([n])),
        "scale": nir.Scale(scale=rng.uniform(0.5, 2.0, n)),
        "li": neuron("LI", n, rng, dt),
        "thr": nir.Threshold(threshold=np.full(n, 0.05)),
        "delay": nir.Delay(delay=np.arange(n) * dt),
        "lin": nir.Linear(weight=rng.normal(0, 2.0, (n, n))),
        "lif": neuron("LIF", n, rng, dt),
        "output": nir.Output(output_type=np.array([n])),
    }
    chain = ["input", "scale", "li", "thr", "delay", "lin", "lif", "output"]
    edges = [Edge(a, b) for a, b in zip(chain[:-1], chain[1:], strict=True)]
    x = rng.normal(0.4, 1.0, (1, STEPS, n))
    return Case(7, Graph(nodes, edges, Semantics(dt=dt), name="stateless_chain"), x,
                "Scale -> LI -> Threshold -> Delay -> Linear -> LIF")


def conv_stack(pool: str = "sum") -> Case:
    rng = np.random.default_rng(11)
    dt = 1e-3
    c_in, h, w = 2, 8, 8
    conv = nir.Conv2d(input_shape=(h, w), weight=rng.normal(0, 0.8, (4, c_in, 3, 3)),
                      stride=1, padding=1, dilation=1, groups=1, bias=rng.normal(0, 0.1, 4))
    shape = (4, h, w)
    lif1 = neuron("LIF", 1, rng, dt)
    lif1 = nir.LIF(tau=np.full(shape, lif1.tau[0]), r=np.ones(shape), v_leak=np.zeros(shape),
                   v_threshold=np.full(shape, 0.5), v_reset=np.zeros(shape))
    pool_node = (nir.SumPool2d if pool == "sum" else nir.AvgPool2d)(
        kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0]))
    flat = nir.Flatten(input_type={"input": np.array([4, 4, 4])}, start_dim=0, end_dim=-1)
    nodes = {
        "input": nir.Input(input_type=np.array([c_in, h, w])),
        "conv": conv, "lif1": lif1, "pool": pool_node, "flat": flat,
        "fc": nir.Affine(weight=rng.normal(0, 0.5, (10, 64)), bias=np.zeros(10)),
        "lif2": neuron("LIF", 10, rng, dt),
        "output": nir.Output(output_type=np.array([10])),
    }
    chain = ["input", "conv", "lif1", "pool", "flat", "fc", "lif2", "output"]
    edges = [Edge(a, b) for a, b in zip(chain[:-1], chain[1:], strict=True)]
    x = (rng.random((1, 60, c_in, h, w)) < 0.3).astype(float) * 2.0
    return Case(11, Graph(nodes, edges, Semantics(dt=dt), name=f"conv_{pool}pool"), x,
                f"Conv2d -> LIF -> {pool}pool -> Flatten -> Affine -> LIF")


def conv1d_case() -> Case:
    rng = np.random.default_rng(13)
    dt = 1e-3
    conv = nir.Conv1d(input_shape=12, weight=rng.normal(0, 1.0, (3, 2, 3)), stride=2, padding=1,
                      dilation=1, groups=1, bias=rng.normal(0, 0.1, 3))
    nodes = {"input": nir.Input(input_type=np.array([2, 12])), "conv": conv,
             "lif": nir.LIF(tau=np.full((3, 6), 5e-3), r=np.ones((3, 6)), v_leak=np.zeros((3, 6)),
                            v_threshold=np.full((3, 6), 0.4), v_reset=np.zeros((3, 6))),
             "output": nir.Output(output_type=np.array([3, 6]))}
    edges = [Edge("input", "conv"), Edge("conv", "lif"), Edge("lif", "output")]
    x = rng.normal(0.5, 1.0, (1, 80, 2, 12))
    return Case(13, Graph(nodes, edges, Semantics(dt=dt), name="conv1d"), x, "Conv1d -> LIF")


def nested_case() -> Case:
    rng = np.random.default_rng(17)
    dt = 1e-3
    inner = Graph({"in": nir.Input(input_type=np.array([6])),
                   "lin": nir.Linear(weight=rng.normal(0, 1.0, (6, 6))),
                   "lif": neuron("LIF", 6, rng, dt),
                   "out": nir.Output(output_type=np.array([6]))},
                  [Edge("in", "lin"), Edge("lin", "lif"), Edge("lif", "out")], name="inner")
    nodes = {"input": nir.Input(input_type=np.array([3])),
             "fc": nir.Affine(weight=rng.normal(0, 2.0, (6, 3)), bias=np.full(6, 0.3)),
             "sub": inner,
             "fb": nir.Linear(weight=rng.normal(0, 0.5, (6, 6))),
             "output": nir.Output(output_type=np.array([6]))}
    edges = [Edge("input", "fc"), Edge("fc", "sub"), Edge("sub", "output"),
             Edge("sub", "fb"), Edge("fb", "sub", 2)]
    x = rng.normal(0.5, 1.0, (1, STEPS, 3))
    return Case(17, Graph(nodes, edges, Semantics(dt=dt), name="nested"), x,
                "nested subgraph with a 2-step feedback loop around it")


def zoo_cases() -> list[Case]:
    rec = zoo.recurrent_lif(n_in=10, n_rec=30, n_out=4, seed=3)
    ff = zoo.feedforward_lif(sizes=(8, 16, 6), seed=4)
    ei = zoo.ei_network(n_exc=40, n_inh=10, n_in=20, seed=5)
    return [
        Case(3, rec, zoo.poisson_input(10, 300, 60.0, rec.semantics.dt, batch=2, seed=3),
             "models.recurrent_lif"),
        Case(4, ff, zoo.poisson_input(8, 200, 100.0, ff.semantics.dt, seed=4),
             "models.feedforward_lif"),
        Case(5, ei, zoo.poisson_input(20, 400, 800.0, ei.semantics.dt, seed=5),
             "models.ei_network"),
    ]


def exact_variant(case: Case) -> Case:
    """The case under the exact integrator and reset to value: the semantics of NEST's
    models, so the structural cases (nesting, delays, recurrence) reach that backend too."""
    g = case.graph.with_semantics(integrator="exact", reset="to_value")
    g.name = f"{case.graph.name}_exact"
    return Case(case.seed, g, case.inputs, f"{case.description}, exact integrator")


def all_cases() -> list[Case]:
    return [*neuron_cases(), stateless_chain(), conv_stack("sum"), conv_stack("avg"),
            conv1d_case(), nested_case(), *zoo_cases(),
            *(exact_variant(c) for c in (nested_case(), *zoo_cases()))]
