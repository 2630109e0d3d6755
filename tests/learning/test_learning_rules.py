"""spikecore.learning.rules: exact RTRL equals BPTT to float64 precision (rate RNN and
LIF RNN with surrogate), UORO and KF-RTRL are unbiased (mean over seeds -> RTRL), RFLO
and e-prop are the local truncation (exact without recurrence), e-prop equals the
graph e-prop of spikecore.learning.graph_eprop, memory as documented."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import spikecore as sc
from spikecore.learning import (
    KFRTRL,
    LIFRNN,
    RFLO,
    RTRL,
    RULES,
    UORO,
    EProp,
    GraphEProp,
    ModProp,
    RateRNN,
    add_task,
    assert_gradients_close,
    bptt_gradients,
    compare_gradients,
    cosine,
    rule_gradients,
)

#: RTRL and BPTT sum the same products in a different order: float64 rounding only.
EXACT_RTOL = 1e-10



def spike_data(n_in: int, steps: int, n_out: int, seed: int = 0, rate: float = 0.4,
               amplitude: float = 2.0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    xs = amplitude * (torch.rand(steps, n_in, generator=gen, dtype=torch.float64) < rate)
    ys = torch.randn(steps, n_out, generator=gen, dtype=torch.float64)
    return xs.double(), ys


@pytest.mark.parametrize("alpha", [1.0, 0.3])
def test_rtrl_equals_bptt_rate_rnn(alpha):
    net = RateRNN(1, 12, 1, alpha=alpha, seed=4, g_rec=1.5)
    xs, ys = add_task(40, seed=1)
    ref = bptt_gradients(net, xs, ys)
    assert all(float(g.abs().max()) > 1e-3 for g in ref.values())  # not trivially zero
    assert_gradients_close(rule_gradients(RTRL(net), xs, ys), ref, EXACT_RTOL)


@pytest.mark.parametrize("reset", ["to_value", "subtract"])
@pytest.mark.parametrize("integrator", ["euler", "exact"])
def test_rtrl_equals_bptt_lif_surrogate(reset, integrator):
    sem = sc.Semantics(dt=1e-3, reset=reset, integrator=integrator)
    net = LIFRNN(4, 10, 2, tau=8e-3, semantics=sem, seed=2, g_rec=2.0, g_in=4.0)
    xs, ys = spike_data(4, 40, 2, seed=3)
    s, count = net.initial_state(), 0.0
    with torch.no_grad():
        for x in xs:
            s, _ = net.step(s, x)
            count += float(s[1].sum())
    assert 20 <= count <= 300  # the network spikes, and not in every step
    ref = bptt_gradients(net, xs, ys)
    assert float(ref["w_rec"].abs().max()) > 1e-3  # the surrogate carries gradient
    assert_gradients_close(rule_gradients(RTRL(net), xs, ys), ref, EXACT_RTOL)


def test_rtrl_with_a_mask_equals_masked_bptt():
    net = RateRNN(1, 8, 1, alpha=0.5, seed=0)
    xs, ys = add_task(30, seed=2)
    mask = torch.arange(30) >= 20  # loss only in the last 10 steps
    ref = bptt_gradients(net, xs, ys, mask)
    assert_gradients_close(rule_gradients(RTRL(net), xs, ys, mask), ref, EXACT_RTOL)
    full = bptt_gradients(net, xs, ys)
    assert compare_gradients(ref, full)[0].max_rel > 1e-2  # the mask mattered


@pytest.mark.parametrize("rule", [UORO, KFRTRL])
def test_unbiased_rules_average_to_rtrl(rule):
    """``E[estimate] = exact``: over 200 seeds every entry's mean is within 4 standard
    errors of BPTT's (a z-test: a bias would grow |z| as sqrt(seeds)). Measured (n=4,
    T=8): max |z| 2.3 (UORO), 1.6 (KF-RTRL); cosine of the mean 0.985 and 0.9996, of one
    seed 0.55 and 0.93 on average."""
    net = RateRNN(1, 4, 1, alpha=0.5, seed=3)
    xs, ys = add_task(8, t1=2, t2=4, seed=1)
    ref = bptt_gradients(net, xs, ys)
    S = 200
    runs = [rule_gradients(rule(net, seed=s), xs, ys) for s in range(S)]
    for k in ("w_rec", "w_in", "b"):
        samples = torch.stack([r[k] for r in runs])
        z = (samples.mean(0) - ref[k]) / (samples.std(0) / S ** 0.5)
        assert float(z.abs().max()) < 4.0, k
    mean = {k: sum(r[k] for r in runs) / S for k in ref}
    single = sum(cosine(r, ref) for r in runs) / S
    assert cosine(mean, ref) > 0.97
    assert cosine(mean, ref) > single + 0.05
    # the readout gradient is exact for every rule, seed by seed
    assert_gradients_close({"w_out": runs[0]["w_out"]}, {"w_out": ref["w_out"]}, EXACT_RTOL)


def test_kf_rtrl_has_lower_variance_than_uoro():
    """Mujika et al.'s point: two signs per step instead of ``n``. Measured (n=4, T=8,
    100 seeds): the norm of the per-entry standard deviations of dL/dW_rec is 3.77
    (KF-RTRL) vs 6.82 (UORO)."""
    net = RateRNN(1, 4, 1, alpha=0.5, seed=3)
    xs, ys = add_task(8, t1=2, t2=4, seed=1)
    std = {rule: torch.stack([rule_gradients(rule(net, seed=s), xs, ys)["w_rec"]
                              for s in range(100)]).std(0).norm() for rule in (UORO, KFRTRL)}
    assert std[KFRTRL] < 0.8 * std[UORO]


def test_estimates_are_seeded():
    net = RateRNN(1, 6, 1, seed=0)
    xs, ys = add_task(20, seed=0)
    for rule in (UORO, KFRTRL):
        a, b = (rule_gradients(rule(net, seed=5), xs, ys) for _ in range(2))
        c = rule_gradients(rule(net, seed=6), xs, ys)
        assert all(torch.equal(a[k], b[k]) for k in a)
        assert not torch.equal(a["w_rec"], c["w_rec"])


def test_local_trace_exact_without_recurrence():
    """With ``W_rec = 0`` the local Jacobian is the whole Jacobian: e-prop (symmetric
    feedback) equals BPTT (rate RNN), and RFLO differs only by its feedback matrix."""
    net = RateRNN(2, 8, 2, alpha=0.4, seed=1)
    with torch.no_grad():
        net.w_rec.zero_()
    gen = torch.Generator().manual_seed(0)
    xs = torch.randn(30, 2, generator=gen, dtype=torch.float64)
    ys = torch.randn(30, 2, generator=gen, dtype=torch.float64)
    ref = bptt_gradients(net, xs, ys)
    assert_gradients_close(rule_gradients(EProp(net), xs, ys), ref, EXACT_RTOL)
    rflo = RFLO(net, seed=0)
    rflo.B = net.w_out.detach().t().clone()
    assert_gradients_close(rule_gradients(rflo, xs, ys), ref, EXACT_RTOL)
    # with recurrence both are biased
    net2 = RateRNN(2, 8, 2, alpha=0.4, seed=1, g_rec=1.5)
    ref2 = bptt_gradients(net2, xs, ys)
    with pytest.raises(AssertionError, match="w_rec"):
        assert_gradients_close(rule_gradients(EProp(net2), xs, ys), ref2, 1e-3)


GRAPH_NAMES = {"w_in": "ops.node_w_in.weight", "b": "ops.node_w_in.bias",
               "w_rec": "ops.node_w_rec.weight", "w_out": "ops.node_w_out.weight",
               "b_out": "ops.node_w_out.bias"}


def graph_eprop_gradients(net: LIFRNN, xs, ys, **options) -> dict:
    """:class:`GraphEProp`'s gradients on ``net.to_graph()`` lowered by ``to_torch``,
    named as the network rule names them."""
    module = sc.to_torch(net.to_graph(), dtype=torch.float64, surrogate="superspike")
    GraphEProp(module, **options).backward(xs[None], ys[None], loss="mse")
    params = dict(module.named_parameters())
    return {k: params[v].grad for k, v in GRAPH_NAMES.items()}


@pytest.mark.parametrize("reset", ["to_value", "subtract"])
def test_eprop_equals_graph_eprop(reset):
    """The same network as a graph (``LIFRNN.to_graph``), lowered by ``to_torch`` and
    trained by :class:`spikecore.learning.GraphEProp` (its LI readout with
    ``tau = dt`` is the static readout): the same gradients, parameter by parameter."""
    net = LIFRNN(3, 8, 2, seed=1, semantics=sc.Semantics(dt=1e-3, reset=reset))
    xs, ys = spike_data(3, 30, 2, seed=0)
    theirs = graph_eprop_gradients(net, xs, ys)
    assert float(theirs["w_rec"].abs().max()) > 1e-3
    assert_gradients_close(rule_gradients(EProp(net), xs, ys), theirs, EXACT_RTOL)


@pytest.mark.parametrize("name", [*RULES, "ModProp"])
def test_a_rule_takes_a_graph(name):
    """Every rule takes a spikecore graph of LIFRNN's form directly (read by
    ``LIFRNN.from_graph``): the same gradients as on the network it was written from,
    and ``rule.net.to_graph()`` gives the graph back."""
    net = LIFRNN(3, 8, 2, seed=1, tau_adapt=50e-3)
    xs, ys = spike_data(3, 20, 2, seed=0)
    make = {**RULES, "ModProp": ModProp}[name]
    ref = rule_gradients(make(net, seed=3), xs, ys)
    rule = make(net.to_graph(), seed=3)
    assert isinstance(rule.net, LIFRNN) and rule.net is not net
    assert_gradients_close(rule_gradients(rule, xs, ys), ref, 1e-12)
    back = rule.net.to_graph()
    assert type(back.nodes["hidden"]) is type(net.to_graph().nodes["hidden"])
    np.testing.assert_array_equal(back.nodes["w_rec"].weight, net.w_rec.detach().numpy())


def test_memory_floats():
    n, n_in, n_out = 10, 3, 2
    m = n + n_in + 1
    expected = {"RTRL": n * n * m, "KF-RTRL": n * n + m, "UORO": n + n * m,
                "RFLO": n * m, "e-prop": n * m}
    net = RateRNN(n_in, n, n_out)
    assert {k: r(net).memory_floats() for k, r in RULES.items()} == expected
    lif = LIFRNN(n_in, n, n_out)  # two state components (v, z)
    expected2 = {"RTRL": 2 * n * n * m, "KF-RTRL": 2 * n * n + m, "UORO": 2 * n + n * m,
                 "RFLO": 2 * n * m, "e-prop": 2 * n * m}
    assert {k: r(lif).memory_floats() for k, r in RULES.items()} == expected2


@pytest.mark.parametrize("reset", ["to_value", "subtract"])
def test_rtrl_equals_bptt_alif(reset):
    """An LSNN layer (ALIF, tau_adapt 50 ms, beta 1): three state components, the
    adaptation loop z -> A -> threshold inside the local Jacobian."""
    net = LIFRNN(4, 10, 2, tau=8e-3, semantics=sc.Semantics(dt=1e-3, reset=reset), seed=2,
                 g_rec=2.0, g_in=4.0, tau_adapt=50e-3, beta=1.0)
    xs, ys = spike_data(4, 40, 2, seed=3)
    s, adapt = net.initial_state(), 0.0
    with torch.no_grad():
        for x in xs:
            s, _ = net.step(s, x)
            adapt = max(adapt, float(s[2].max()))
    assert adapt > 1.0  # the threshold moved by more than beta
    ref = bptt_gradients(net, xs, ys)
    assert_gradients_close(rule_gradients(RTRL(net), xs, ys), ref, EXACT_RTOL)


@pytest.mark.parametrize("reset", ["to_value", "subtract"])
def test_eprop_equals_graph_eprop_alif(reset):
    """ALIF: the local trace carries the adaptation eligibility (Bellec et al.'s
    epsilon^a), as the graph e-prop does with ``adaptation_trace=True``."""
    net = LIFRNN(3, 8, 2, seed=1, semantics=sc.Semantics(dt=1e-3, reset=reset),
                 tau_adapt=50e-3, beta=1.0)
    xs, ys = spike_data(3, 30, 2, seed=0)
    mine = rule_gradients(EProp(net), xs, ys)
    assert_gradients_close(mine, graph_eprop_gradients(net, xs, ys), EXACT_RTOL)
    # and it is not the gradient without the adaptation trace
    without = graph_eprop_gradients(net, xs, ys, adaptation_trace=False)
    with pytest.raises(AssertionError, match="w_in"):
        assert_gradients_close(mine, without, 1e-6)
