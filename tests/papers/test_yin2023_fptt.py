"""Yin, Corradi & Bohte (2023): FPTT trains spiking networks online with autograd memory
constant in the sequence length, where BPTT's grows linearly; measured here on spikecore's
LTC-SNN (ltc_snn) and a recurrent LIF network, and FPTT training the LTC-SNN on a
300-step evidence-integration task."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from spikecore.models import ltc_snn, recurrent_lif

import spikecore as sc
from spikecore.learning import (
    FPTT,
    bptt_saved_bytes,
    evidence_loss,
    evidence_task,
    fptt_saved_bytes,
)

TS = (50, 100, 200, 400)


def _graphs():
    return {"ltc_snn": ltc_snn(2, 16, 2, seed=0, w_in_scale=2.0),
            "recurrent_lif": recurrent_lif(2, 16, 2, seed=0)}


@pytest.mark.parametrize("name", ["ltc_snn", "recurrent_lif"])
def test_memory_bptt_linear_fptt_constant(name):
    """Measured autograd memory over T = 50..400: BPTT's is affine in T (each step adds
    the same bytes: the per-step increments agree to 2 %, and the bytes at T=400 are
    over 0.9 x 8 times those at T=50), FPTT's peak per chunk (K = 1 and 10) is the same
    for every T to 2 %."""
    module = sc.to_torch(_graphs()[name])
    torch.manual_seed(0)
    x = torch.rand(8, max(TS), 2) * 2
    bptt = np.array([bptt_saved_bytes(module, x[:, :T]) for T in TS], float)
    slopes = np.diff(bptt) / np.diff(TS)
    assert np.ptp(slopes) / slopes.mean() < 0.02, slopes
    assert bptt[-1] / bptt[0] > 0.9 * TS[-1] / TS[0], bptt
    for K in (1, 10):
        fptt = np.array([fptt_saved_bytes(module, x[:, :T], K=K) for T in TS], float)
        assert np.ptp(fptt) / fptt.max() < 0.02, fptt
        assert fptt.max() < bptt[0] / 4  # one chunk of K steps vs 50 steps


@pytest.mark.slow
def test_fptt_trains_ltc_snn_on_300_steps():
    """FPTT (K=10, alpha=0.5, Adam lr 0.02, 60 batches of 32) trains ltc_snn (16 LTC
    neurons) on :func:`evidence_task` with T=300: the sign read at the last step is right
    in >= 77 % of 256 held-out trials (untrained: <= 60 %; an ideal integrator of the
    last 20 steps, about the neurons' initial tau_m, gets 73 %, of all 300 steps 92 %),
    autograd never holding more than 10 steps."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small matrices: threads only contend on shared cores
    try:
        torch.manual_seed(0)
        T = 300
        module = sc.to_torch(ltc_snn(2, 16, 2, seed=0, w_in_scale=2.0))
        rule = FPTT(module, torch.optim.Adam(module.parameters(), lr=0.02), alpha=0.5, K=10)
        x_test, y_test = evidence_task(256, T, np.random.default_rng(99))

        def accuracy() -> float:
            with torch.no_grad():
                out, _ = module(x_test, layout="btn")
            return float((out[:, -1].argmax(-1) == y_test).float().mean())

        before = accuracy()
        rng = np.random.default_rng(0)
        for _ in range(60):
            x, y = evidence_task(32, T, rng)
            rule.sequence(x, evidence_loss(y, T))
        after = accuracy()
    finally:
        torch.set_num_threads(threads)
    print(f"accuracy {before:.3f} -> {after:.3f}")
    assert before <= 0.6, before
    assert after >= 0.77, (before, after)
