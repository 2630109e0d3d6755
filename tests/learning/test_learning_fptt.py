"""spikecore.learning.fptt: the FPTT update as documented, bad arguments refused, autograd
memory counted, any stateful module trained. The paper's claims (memory constant in T,
the LTC-SNN trained on a long sequence) are checked in tests/papers/test_yin2023_fptt.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from spikecore.models import ltc_snn, recurrent_lif

import spikecore as sc
from spikecore.errors import InputError
from spikecore.learning import (
    FPTT,
    fptt_saved_bytes,
    saved_bytes,
)
from spikecore.learning.fptt import detach_state


def _graphs():
    return {"ltc_snn": ltc_snn(2, 16, 2, seed=0, w_in_scale=2.0),
            "recurrent_lif": recurrent_lif(2, 16, 2, seed=0)}


def _last_step_loss(y: torch.Tensor):
    return lambda out, start, stop: F.cross_entropy(out[:, -1], y)


@pytest.mark.parametrize("variant", FPTT.VARIANTS)
@pytest.mark.parametrize("name", ["ltc_snn", "recurrent_lif"])
def test_update_is_the_documented_rule(name, variant):
    """Two chunks with plain SGD, recomputed here by hand, g the gradient of the chunk's
    loss from the detached state. "gradient": ``W <- W - lr (g + alpha (W - W_bar) -
    g_prev/2)``, ``W_bar <- (W_bar + W)/2 - g/(2 alpha)``; "multiplier": ``W <- W - lr (g
    + alpha (W - W_bar) - lam)``, ``lam <- lam - alpha (W - W_bar)``, ``W_bar <- (W_bar +
    W)/2 - lam/(2 alpha)``."""
    torch.manual_seed(0)
    module = sc.to_torch(_graphs()[name], dtype=torch.float64)
    ref = sc.to_torch(_graphs()[name], dtype=torch.float64)
    ref.load_state_dict(module.state_dict())
    lr, alpha, K = 0.05, 0.3, 3
    rule = FPTT(module, torch.optim.SGD(module.parameters(), lr=lr), alpha=alpha, K=K,
                variant=variant)
    x = torch.rand(4, 2 * K, 2, dtype=torch.float64) * 2
    y = torch.tensor([0, 1, 1, 0])
    losses, _ = rule.sequence(x, _last_step_loss(y))

    params = list(ref.parameters())
    w_bar = [p.detach().clone() for p in params]
    g_prev = [torch.zeros_like(p) for p in params]
    state, want = None, []
    for start in (0, K):
        out, state = ref(x[:, start:start + K], detach_state(state), layout="btn")
        loss = F.cross_entropy(out[:, -1], y)
        want.append(float(loss.detach()))
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        with torch.no_grad():
            for i, (p, g) in enumerate(zip(params, grads, strict=True)):
                g = torch.zeros_like(p) if g is None else g
                if variant == "gradient":
                    p -= lr * (g + alpha * (p - w_bar[i]) - g_prev[i] / 2)
                    w_bar[i] = (w_bar[i] + p) / 2 - g / (2 * alpha)
                    g_prev[i] = g
                else:  # g_prev holds lam
                    p -= lr * (g + alpha * (p - w_bar[i]) - g_prev[i])
                    g_prev[i] = g_prev[i] - alpha * (p - w_bar[i])
                    w_bar[i] = (w_bar[i] + p) / 2 - g_prev[i] / (2 * alpha)
    assert losses == pytest.approx(want, rel=1e-12)
    for p, q in zip(module.parameters(), params, strict=True):
        torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-14)
    for a, b in zip(rule.w_bar, w_bar, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)
    assert rule.memory_floats() == 2 * sum(p.numel() for p in params)


def test_bad_arguments_are_refused():
    module = sc.to_torch(_graphs()["recurrent_lif"])
    opt = torch.optim.SGD(module.parameters(), lr=0.1)
    for kw, match in (({"alpha": 0.0}, "alpha"), ({"alpha": -1.0}, "alpha"),
                      ({"alpha": float("nan")}, "alpha"), ({"alpha": True}, "alpha"),
                      ({"K": 0}, "K="), ({"K": 2.0}, "K="), ({"K": True}, "K="),
                      ({"variant": "lagrange"}, "variant")):
        with pytest.raises(InputError, match=match):
            FPTT(module, opt, **kw)
    with pytest.raises(InputError, match="torch.nn.Module"):
        FPTT(object(), opt)
    with pytest.raises(InputError, match="optimizer"):
        FPTT(module, None)
    other = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    with pytest.raises(InputError, match="not in the optimizer"):
        FPTT(module, other)
    rule = FPTT(module, opt)
    with pytest.raises(InputError, match="batch, steps"):
        rule.sequence(np.zeros((1, 5, 2)), _last_step_loss(torch.tensor([0])))
    with pytest.raises(InputError, match="scalar"):
        rule.sequence(torch.zeros(2, 3, 2), lambda out, a, b: out.sum(-1))
    with pytest.raises(InputError, match="K="):
        fptt_saved_bytes(module, torch.zeros(1, 4, 2), K=0)


def test_saved_bytes_counts_each_tensor_once():
    """``saved_bytes``: ``x * x`` saves ``x`` twice, kept once: its bytes once."""
    x = torch.ones(10, requires_grad=True)
    with saved_bytes() as rec:
        (x * x).sum()
    assert rec.tensors == 2 and rec.bytes == 40


class _GRUModule(torch.nn.Module):
    """A plain torch module with the same ``out, state = module(x, state)`` contract."""

    def __init__(self):
        super().__init__()
        self.gru = torch.nn.GRU(2, 8, batch_first=True)
        self.out = torch.nn.Linear(8, 2)

    def forward(self, x, state=None):
        h, state = self.gru(x, state)
        return self.out(h), state


def test_any_stateful_module_and_the_regulariser():
    """FPTT needs only ``out, state = module(x, state)``: a torch GRU learns a constant
    target online (K = 5), and ``regularizer()`` is the documented ``R(W)``."""
    torch.manual_seed(0)
    module = _GRUModule()
    rule = FPTT(module, torch.optim.Adam(module.parameters(), lr=0.05), alpha=0.5, K=5)
    assert rule.regularizer() == 0.0  # W_bar = W, g_prev = 0
    y = torch.ones(4, dtype=torch.long)
    first = None
    for _ in range(10):
        losses, state = rule.sequence(torch.rand(4, 20, 2), _last_step_loss(y))
        first = losses[0] if first is None else first
        assert not state.requires_grad  # handed back detached
    assert losses[-1] < 0.5 * first
    want = sum(float(0.25 * ((p.detach() - wb - gp).pow(2)).sum())
               for p, wb, gp in zip(rule.params, rule.w_bar, rule.g_prev, strict=True))
    assert rule.regularizer() == pytest.approx(want, rel=1e-6)
