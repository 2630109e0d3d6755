"""models.ltc_snn: structure, seeded initialisation as documented, a short training run in
torch that learns a temporal task, and the trained graph giving the same spikes on Brian2.

Expected values: the initialisation rules in the docstring of spikecore.models.ltc_snn
(Xavier bounds, orthogonality, sigmoid(bias) gate values); chance level 0.5 of a balanced
binary task.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from spikecore.models import ltc_snn
from spikecore.models.ltc import PAPER_B_ADP, PAPER_B_MEM, effective_tau_m

import spikecore as sc
from spikecore.errors import InputError
from spikecore.extensions.ltc import LTCLIF
from spikecore.testing import assert_close_arrays, assert_same_spikes


def test_structure_names_and_semantics() -> None:
    g = ltc_snn(3, 8, 2, seed=0)
    assert set(g.nodes) == {"input", "w_in", "ltc", "w_rec", "w_out", "readout", "output"}
    assert isinstance(g.nodes["ltc"], LTCLIF) and g.nodes["ltc"].n == 8
    assert sc.Edge("w_rec", "ltc", 1) in g.edges
    assert g.semantics.integrator == "euler" and g.semantics.reset == "to_value"
    node = g.nodes["ltc"]
    assert np.all(node.v_threshold == 0.1) and np.all(node.beta == 1.8)
    assert np.all(node.r == 1.0) and np.all(node.v_leak == 0) and np.all(node.v_reset == 0)
    assert g.shapes()["output"] == (2,)


def test_initialisation_is_seeded_and_follows_the_documented_rules() -> None:
    a, b, c = ltc_snn(4, 10, 3, seed=5), ltc_snn(4, 10, 3, seed=5), ltc_snn(4, 10, 3, seed=6)
    assert np.array_equal(a.nodes["ltc"].w_mem_v, b.nodes["ltc"].w_mem_v)
    assert not np.array_equal(a.nodes["ltc"].w_mem_v, c.nodes["ltc"].w_mem_v)
    n = 10
    w_rec = np.asarray(a.nodes["w_rec"].weight)
    assert_close_arrays(w_rec @ w_rec.T, np.eye(n), 1e-12, "w_rec orthogonal")
    assert np.abs(a.nodes["w_in"].weight).max() <= math.sqrt(6 / (4 + n))
    node = a.nodes["ltc"]
    for f in ("w_mem_in", "w_mem_v", "w_adp_in", "w_adp_a"):
        assert np.abs(getattr(node, f)).max() <= math.sqrt(2 / n), f
    # at zero gate input: g_m = sigmoid(b_mem) ~ 0.047 (tau_m ~ 21 steps), rho ~ 0.990
    g_m = 1 / (1 + np.exp(-node.b_mem))
    rho = 1 / (1 + np.exp(-node.b_adp))
    assert abs(np.mean(node.b_mem) - PAPER_B_MEM) < 0.15
    assert abs(np.mean(node.b_adp) - PAPER_B_ADP) < 0.15
    tau_m_steps = effective_tau_m(g_m, 1e-3) / 1e-3
    assert np.all((tau_m_steps > 15) & (tau_m_steps < 30))
    tau_adp_steps = -1 / np.log(rho)
    assert np.all((tau_adp_steps > 70) & (tau_adp_steps < 140))


def test_bad_arguments_are_input_errors() -> None:
    with pytest.raises(InputError, match=r"n_hidden=0: expected an integer >= 1"):
        ltc_snn(2, 0, 2)
    with pytest.raises(InputError, match=r"n_in='a': expected an integer >= 1"):
        ltc_snn("a", 4, 2)
    with pytest.raises(InputError, match=r"tau_out=-1: expected a positive finite number"):
        ltc_snn(2, 4, 2, tau_out=-1)


# ---------------------------------------------------------------------- training
T = 16


def _task(rng: np.random.Generator, batch: int) -> tuple[np.ndarray, np.ndarray]:
    """Is the first half's level above the second half's? Levels U(-1, 1), noise 0.3 per
    step, as two non-negative channels (positive and negative part). Balanced: chance 0.5."""
    m = rng.uniform(-1, 1, (batch, 2))
    x = np.repeat(m, T // 2, axis=1) + rng.normal(0, 0.3, (batch, T))
    return np.stack([np.clip(x, 0, None), np.clip(-x, 0, None)], -1), (m[:, 0] > m[:, 1])


def test_ltc_snn_learns_a_temporal_task_and_brian2_replays_the_trained_spikes() -> None:
    torch.manual_seed(0)
    g = ltc_snn(2, 16, 2, seed=1, w_in_scale=2.0)
    module = sc.to_torch(g, dtype=torch.float64)
    opt = torch.optim.Adam(module.parameters(), lr=0.02)
    rng = np.random.default_rng(1)
    x_test, y_test = _task(np.random.default_rng(99), 512)

    def accuracy() -> float:
        with torch.no_grad():
            out, _ = module(torch.as_tensor(x_test))
        return float(np.mean(out[:, -4:].mean(1).argmax(-1).numpy() == y_test))

    before = accuracy()
    gate_before = module.op["ltc"].w_mem_v.detach().clone()
    for _ in range(40):
        x, y = _task(rng, 32)
        out, _ = module(torch.as_tensor(x))
        loss = torch.nn.functional.cross_entropy(5 * out[:, -4:].mean(1),
                                                 torch.as_tensor(y.astype(np.int64)))
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = accuracy()
    # 512 balanced test trials: chance gives 0.5 +- 0.022; 0.7 is far above it
    assert after > 0.7 and after > before + 0.1, (before, after)
    assert not torch.equal(gate_before, module.op["ltc"].w_mem_v)  # the gates were trained

    trained = sc.from_torch(module)
    x = x_test[:4]
    rec = ("spikes", "ltc:v", "ltc:a")
    brian = sc.simulate(trained, x, backend="brian2", record=rec)
    tor = sc.simulate(trained, x, backend="torch", record=rec)
    assert brian.spikes["ltc"].sum() > 10
    assert_same_spikes(brian, tor)
    for s in ("v", "a"):
        assert_close_arrays(brian.traces["ltc"][s], tor.traces["ltc"][s], 1e-9, f"ltc:{s}")
    assert_close_arrays(brian.outputs["output"], tor.outputs["output"], 1e-9, "output")
