"""The model zoo x backends: every model builds, runs on Brian2 and torch with the same
spikes, and on Lava where Lava can represent it; where it cannot, Lava refuses it up front
(before starting its sidecar) naming the node and the reason.

Torch (float64) is the reference each other backend is compared with; the models' own
paper checks (tests/papers/) say whether the dynamics are right, this matrix says that
every engine runs the same dynamics. Sizes are small: what is compared is the update.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np
import pytest
import torch
from spikecore.backends import get_backend

import spikecore as sc
from spikecore import models as M
from spikecore import primitives as P
from spikecore.errors import UnsupportedError
from spikecore.testing import assert_close_arrays, assert_same_spikes


@dataclass(frozen=True)
class ZooCase:
    build: Callable[[], sc.Graph]
    steps: int
    inputs: Callable[[sc.Graph], dict | None] = lambda g: None
    #: Lava's refusal: (node, words of the reason), or None when Lava runs the model.
    lava_refuses: tuple[str, str] | None = None


def _hopfield_cue(g: sc.Graph) -> dict:
    c = M.hopfield_weights(60, 3, seed=1).parts["patterns"]
    x = np.zeros((3, 8, 60))
    x[:, 0] = c * np.where(np.random.default_rng(2).random(c.shape) < 0.15, -1, 1)  # 15 % flipped
    return {"cue": x}


def _spike_input(n: int, p: float = 0.2) -> Callable[[sc.Graph], dict]:
    return lambda g: {"input": (np.random.default_rng(5).random((2, 80, n)) < p).astype(float)}


ZOO: dict[str, ZooCase] = {
    "brunel2000": ZooCase(lambda: M.brunel2000(N_E=160, epsilon=0.25, J=0.5e-3, seed=1), 400),
    "lif_population_white": ZooCase(lambda: M.lif_population_noise(30, noise="white", seed=2), 400),
    "lif_population_ou": ZooCase(lambda: M.lif_population_noise(30, noise="ou", seed=3), 400),
    "hopfield": ZooCase(lambda: M.hopfield_network(M.hopfield_weights(60, 3, seed=1)), 8,
                        _hopfield_cue),
    "cond_lif_poisson": ZooCase(lambda: M.cond_lif_poisson(n=20, N_E=80, N_I=20, seed=1), 400,
                                lava_refuses=("neurons", "conductance")),
    "izhikevich": ZooCase(lambda: M.izhikevich_network(Ne=80, Ni=20, seed=1), 200,
                          lava_refuses=("neurons", "Izhikevich")),
    "morris_lecar": ZooCase(lambda: M.morris_lecar_network(n=10, seed=1), 400,
                            lava_refuses=("neurons", "Morris-Lecar")),
    "scs_rate": ZooCase(lambda: M.scs_rate_network(N=60, g=1.5, seed=1), 200,
                        lava_refuses=("units", "graded")),
    "low_rank_rate": ZooCase(lambda: M.low_rank_rate_network(N=60, seed=1), 200,
                             lava_refuses=("units", "graded")),
    "random_mode_rate": ZooCase(lambda: M.random_mode_rate_network(N=60, seed=1), 200,
                                lava_refuses=("units", "graded")),
    "rajan_abbott_rate": ZooCase(lambda: M.rajan_abbott_rate_network(N=60, seed=1), 200,
                                 lava_refuses=("units", "graded")),
    # E/I rate network with chain motifs (Shao et al. 2024), relu units (power-law phi, n=1)
    "ei_motif_rate": ZooCase(lambda: M.rate_network(
        M.ei_motif_matrix(48, 12, 0.2, J_E=0.2, J_I=0.7, alpha_conv=0.3, alpha_div=0.3,
                          alpha_chain=0.2, seed=1), phi="relu",
        seed=1, with_input=True), 200,
        lambda g: {"input": np.random.default_rng(3).normal(0.5, 0.2, (1, 200, 60))},
        lava_refuses=("units", "graded")),
    "ei_network": ZooCase(lambda: M.ei_network(n_exc=40, n_inh=10, n_in=20, seed=1), 80,
                          _spike_input(20, 0.3)),
    "lsnn": ZooCase(lambda: M.lsnn(n_in=6, n_lif=10, n_alif=10, seed=1), 80, _spike_input(6),
                    lava_refuses=("rec", "adaptive")),
}


@cache
def _graph(name: str) -> sc.Graph:
    with warnings.catch_warnings():
        # rate networks without a drive warn that only their initial state moves them
        warnings.simplefilter("ignore", sc.GraphWarning)
        return ZOO[name].build()


def _run(name: str, backend: str) -> sc.Result:
    case, g = ZOO[name], _graph(name)
    opts = {"dtype": torch.float64} if backend == "torch" else {}
    return sc.simulate(g, case.inputs(g), backend=backend, steps=case.steps,
                       record=["spikes", *_states(g)], **opts)


def _states(g: sc.Graph) -> list[str]:
    """``node:state`` for every membrane (``v``) and rate-unit (``x``) state."""
    return [f"{n}:{s}" for n, node in g.nodes.items() for s in P.spec_of(node).states
            if s in ("v", "x")]


@cache
def _torch(name: str) -> sc.Result:
    return _run(name, "torch")


def _assert_agrees(name: str, r: sc.Result, ref: sc.Result, atol: float) -> None:
    if ref.spikes:
        assert_same_spikes(r, ref)
    for node, traces in ref.traces.items():
        for state, value in traces.items():
            if state in r.traces.get(node, {}):
                assert_close_arrays(r.traces[node][state], value, atol, f"{name} {node}:{state}")
    for node, value in ref.outputs.items():
        assert_close_arrays(r.outputs[node], value, atol, f"{name} output {node}")


def test_the_zoo_lists_every_model_builder():
    builders = {n for n in dir(M) if callable(getattr(M, n)) and (
        n.endswith(("_network", "2000", "_noise", "lsnn", "_poisson", "_snn")))}
    covered = {"ei_network", "brunel2000", "lif_population_noise", "hopfield_network", "cond_lif_poisson",
               "izhikevich_network", "morris_lecar_network", "scs_rate_network",
               "low_rank_rate_network", "random_mode_rate_network", "rajan_abbott_rate_network",
               "lsnn", "rate_network", "ltc_snn"}
    # rate_network is the general form of the four rate models; ltc_snn has its own
    # backend tests (tests/backends/test_ltc_backends.py).
    assert builders <= covered, f"models without a row in ZOO: {sorted(builders - covered)}"


@pytest.mark.parametrize("name", sorted(ZOO))
def test_zoo_model_brian2_equals_torch(name: str):
    ref = _torch(name)
    assert ref.spikes or ref.traces, f"{name}: nothing recorded"
    _assert_agrees(name, _run(name, "brian2"), ref, atol=1e-9)


@pytest.mark.parametrize("name", sorted(n for n, c in ZOO.items() if c.lava_refuses))
def test_lava_refuses_unrepresentable_models_up_front(name: str):
    node, words = ZOO[name].lava_refuses
    problems = get_backend("lava").check(_graph(name))
    assert any(p.startswith(f"'{node}' (") and words in p for p in problems), problems
    with pytest.raises(UnsupportedError, match=node):
        sc.simulate(_graph(name), ZOO[name].inputs(_graph(name)), backend="lava",
                    steps=ZOO[name].steps)


@pytest.mark.parametrize("name", sorted(n for n, c in ZOO.items() if not c.lava_refuses))
def test_zoo_model_lava_equals_torch(name: str, lava: str):
    # Lava float pre-scales weights and shifts the voltage origin: states agree to 1e-9
    # (tests/backends/lava/test_lava.py), spikes exactly.
    _assert_agrees(name, _run(name, "lava"), _torch(name), atol=1e-9)
