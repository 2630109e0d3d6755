"""The torch emulation of Loihi 2 arithmetic against Lava's bit-accurate models.

The reference is real Lava (``PyLifModelBitAcc``, ``PyDenseModelBitAcc`` chosen by
``Loihi2SimCfg(select_tag="fixed_pt")``) run in the Python 3.10 sidecar by
``backends/lava/scripts/loihi2_reference_worker.py``. u, v and spikes must be equal in every step,
bit for bit. Lava tests skip only when no Python 3.10 interpreter exists, saying so.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from spikecore.hardware.loihi2 import (
    FixedConnection,
    FixedNeuron,
    Loihi2Network,
    clip_truncate,
    quantize,
    sign_mode_of,
)
from spikecore.hardware.loihi2 import emulation as LT

import spikecore as sc
from spikecore import primitives as P
from spikecore.errors import SpikecoreError
from spikecore.testing import assert_close_arrays


# ------------------------------------------------------------------ networks
def _layer(kind: str, n: int, rng: np.random.Generator) -> object:
    ones = np.ones(n)
    if kind == "CubaLIF":
        return P.CubaLIF(tau_syn=np.full(n, 4e-3), tau_mem=np.full(n, 1.5e-2), r=ones,
                         v_leak=rng.normal(0.0, 0.02, n), v_threshold=np.full(n, 0.12),
                         v_reset=np.full(n, -0.03), w_in=ones)
    if kind == "LIF":
        return P.LIF(tau=np.full(n, 8e-3), r=ones, v_leak=rng.normal(0.05, 0.05, n),
                     v_threshold=np.full(n, 0.3), v_reset=np.zeros(n))
    if kind == "IF":
        return P.IF(r=ones * 40.0, v_threshold=np.full(n, 1.0), v_reset=np.full(n, 0.1))
    if kind == "CubaLI":
        return P.CubaLI(tau_syn=np.full(n, 5e-3), tau_mem=np.full(n, 2e-2), r=ones,
                        v_leak=np.zeros(n), w_in=ones)
    raise ValueError(kind)


def layered(sizes: list[int], kinds: list[str], seed: int, recurrent: bool = True,
            signs: list[str] | None = None) -> sc.Graph:
    """Input -> (Linear -> neuron)*; optional delay-1 recurrence on the last spiking layer.
    ``signs``: per weight layer 'mixed', 'exc' or 'inh'."""
    rng = np.random.default_rng(seed)
    nodes: dict[str, object] = {"in": P.Input(input_type={"input": np.array([sizes[0]])})}
    edges: list[tuple] = []
    prev = "in"
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        w = rng.normal(0.0, 1.5 / np.sqrt(a), (b, a))
        sign = (signs or ["mixed"] * len(kinds))[k]
        if sign == "exc":
            w = np.abs(w)
        elif sign == "inh":
            w = -np.abs(w)
        nodes[f"w{k}"] = P.Linear(weight=w)
        nodes[f"n{k}"] = _layer(kinds[k], b, rng)
        edges += [(prev, f"w{k}"), (f"w{k}", f"n{k}")]
        prev = f"n{k}"
    spiking = [f"n{k}" for k, kd in enumerate(kinds) if P.SPECS[type(nodes[f"n{k}"])].spiking]
    if recurrent and spiking:
        r = spiking[-1]
        m = int(np.prod(np.shape(nodes[r].v_threshold)))
        nodes["rec"] = P.Linear(weight=rng.normal(0.0, 0.5 / np.sqrt(m), (m, m)))
        edges += [(r, "rec", 1), ("rec", r)]
    nodes["out"] = P.Output(output_type={"output": np.array([sizes[-1]])})
    edges.append((prev, "out"))
    return sc.Graph(nodes, edges, sc.Semantics(dt=1e-3), name=f"layered{seed}")


def spikes_in(n: int, steps: int, rate: float, seed: int, batch: int = 1) -> np.ndarray:
    return (np.random.default_rng(seed).random((batch, steps, n)) < rate).astype(np.float64)


def assert_bit_exact(net: Loihi2Network, x: np.ndarray, steps: int, python: str) -> dict:
    """``run`` (the fused step where it applies) and the population loop against Lava."""
    ref = LT.run_lava_reference(net, {next(iter(net.inputs)): x}, steps, python=python)
    mine = LT.run(net, {next(iter(net.inputs)): x}, steps)
    with torch.no_grad():
        loop = LT.Loihi2Module(net, fused=False).trace(torch.tensor(x), steps)
    total = 0
    for n, p in net.neurons.items():
        ints = mine.info["int"][n]
        assert_close_arrays(ints["u"][0], ref["u"][n], 0.0, f"{n}: u (torch vs Lava fixed_pt)")
        assert_close_arrays(ints["v"][0], ref["v"][n], 0.0, f"{n}: v (torch vs Lava fixed_pt)")
        assert_close_arrays(loop.u[n][0].numpy(), ref["u"][n], 0.0, f"{n}: u (loop vs Lava)")
        assert_close_arrays(loop.v[n][0].numpy(), ref["v"][n], 0.0, f"{n}: v (loop vs Lava)")
        if p.spiking:
            z = mine.spikes[n][0].reshape(steps, -1).astype(np.int64)
            assert_close_arrays(z, ref["spikes"][n], 0.0, f"{n}: spikes (torch vs Lava)")
            assert_close_arrays(loop.spikes[n][0].numpy().astype(np.int64), ref["spikes"][n],
                                0.0, f"{n}: spikes (loop vs Lava)")
            total += int(z.sum())
        else:
            assert not ref["spikes"][n].any(), f"{n}: Lava's LIF spiked in a non-spiking node"
    return {"spikes": total, "ref": ref, "mine": mine}


# ------------------------------------------------------------------ bit-exactness
CASES = {
    # name: (sizes, kinds, signs, rate, steps)
    "small_lif": ([8, 12], ["LIF"], None, 0.3, 60),
    "cuba_rec": ([20, 30, 10], ["CubaLIF", "CubaLIF"], None, 0.3, 120),
    "mixed_kinds": ([40, 64, 32, 6], ["CubaLIF", "IF", "CubaLI"], ["exc", "mixed", "inh"],
                    0.25, 100),
    "wide": ([100, 200, 50], ["LIF", "CubaLIF"], None, 0.1, 80),
}


@pytest.mark.lava
@pytest.mark.parametrize("case", sorted(CASES))
def test_quantised_graph_bit_exact_with_lava(case: str, lava: str) -> None:
    sizes, kinds, signs, rate, steps = CASES[case]
    g = layered(sizes, kinds, seed=len(case), signs=signs)
    _, report = quantize(g)
    assert LT.Loihi2Module(report.network).fused_reason() is None
    x = spikes_in(sizes[0], steps, rate, seed=7)
    out = assert_bit_exact(report.network, x, steps, lava)
    # The comparison means something only if the network is active.
    assert out["spikes"] > 0, f"{case}: no spikes at all; the test network is silent"


@pytest.mark.lava
def test_overflow_paths_bit_exact_with_lava(lava: str) -> None:
    """Integer corner cases built directly: u wraps past 2**23 (huge excitatory and
    inhibitory input), v saturates at ±(2**23 - 1), negative weight exponents floor the
    accumulated sum, negative bias with exponents, du = 0 and dv = 0, unrepresentable
    mantissas clipped/truncated by Lava (odd values in mixed mode, > 255)."""
    rng = np.random.default_rng(3)
    n_in, n = 16, 12
    big = FixedConnection("in", "a", None, 0, rng.integers(200, 256, (n, n_in)), 7, "excitatory")
    neg = FixedConnection("in", "a", None, 0, -rng.integers(200, 256, (n, n_in)), 6, "inhibitory")
    odd = FixedConnection("a", "b", None, 0, rng.integers(-300, 300, (n, n)), -3, "mixed")
    rec = FixedConnection("b", "b", None, 1, rng.integers(-9, 9, (n, n)), -1, "mixed")
    a = FixedNeuron("a", "CubaLIF", (n,), True, du=0, dv=0, vth=131071,
                    bias_mant=rng.integers(-4096, 4096, n), bias_exp=rng.integers(0, 8, n),
                    v_init=rng.integers(-2**22, 2**22, n), u_init=np.zeros(n, np.int64),
                    scale=1.0, v_offset=0.0)
    b = FixedNeuron("b", "CubaLIF", (n,), True, du=4000, dv=37, vth=3,
                    bias_mant=rng.integers(-50, 50, n), bias_exp=np.zeros(n, np.int64),
                    v_init=np.zeros(n, np.int64), u_init=np.zeros(n, np.int64),
                    scale=1.0, v_offset=0.0)
    net = Loihi2Network("overflow", 1e-3, {"in": (n_in,)}, {"a": a, "b": b},
                        (big, neg, odd, rec), {}, ("a", "b"))
    steps = 50
    x = spikes_in(n_in, steps, 0.5, seed=11)
    out = assert_bit_exact(net, x, steps, lava)
    u_a, v_a = out["mine"].info["int"]["a"]["u"], out["mine"].info["int"]["a"]["v"]
    # The corner cases were really exercised.
    assert np.abs(u_a).max() > 2**22, "u never came near the 24-bit wrap"
    assert np.abs(v_a).max() == 2**23 - 1, "v never saturated"


# ------------------------------------------------------------------ torch-only properties
def test_gradient_path_equals_integer_path() -> None:
    """The float64 straight-through forward and the int64 forward agree bit for bit."""
    g = layered([12, 20, 8], ["CubaLIF", "LIF"], seed=5)
    module = LT.loihi2_module(g)
    x = torch.tensor(spikes_in(12, 80, 0.3, seed=1, batch=3))
    with torch.no_grad():
        fast = module.trace(x)
    slow = module.trace(x)
    assert any(t.requires_grad for t in slow.v.values())
    n_spikes = 0
    for n in fast.v:
        for what, a, b in (("u", fast.u, slow.u), ("v", fast.v, slow.v)):
            assert_close_arrays(a[n].numpy(), b[n].detach().numpy(), 0.0, f"{n}:{what}")
        if n in fast.spikes:
            assert_close_arrays(fast.spikes[n].numpy(), slow.spikes[n].detach().numpy(), 0.0,
                                f"{n}:spikes")
            n_spikes += int(fast.spikes[n].sum())
    assert n_spikes > 0


def test_straight_through_gradients_train_the_weights() -> None:
    """Gradients reach every weight layer, are finite, and a few optimiser steps move the
    output spike count toward a target with the chip's arithmetic in the loop."""
    g = layered([10, 16, 4], ["CubaLIF", "CubaLIF"], seed=9, recurrent=False)
    module = LT.loihi2_module(g, surrogate="superspike")
    x = torch.tensor(spikes_in(10, 60, 0.3, seed=2, batch=4))
    target = 10.0
    opt = torch.optim.Adam(module.parameters(), lr=4.0)
    losses = []
    for _ in range(15):
        opt.zero_grad()
        out = module.trace(x).outputs["out"]
        loss = ((out.sum(dim=1) - target) ** 2).mean()
        loss.backward()
        for k, w in enumerate(module.weights):
            assert w.grad is not None and torch.isfinite(w.grad).all(), f"weight {k}: bad grad"
            assert w.grad.abs().sum() > 0, f"weight {k}: zero gradient"
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0], f"loss did not drop: {losses[0]:.1f} -> {losses[-1]:.1f}"


def test_lava_weight_rules() -> None:
    """lava_weights reproduces clip_weights + truncate_weights (num_weight_bits=8)."""
    w = torch.tensor([[-300.0, -257, -3, 0, 3, 256, 255]])
    assert lava_rounded(w) == [-256, -256, -4, 0, 2, 254, 254]
    assert lava_rounded(torch.tensor([[0.0, 3, 300]])) == [0, 3, 255]
    assert lava_rounded(torch.tensor([[0.0, -3, -300]])) == [0, -3, -255]
    for row in ([-300, -257, -3, 0, 3, 256, 255], [0, 3, 300], [0, -3, -300]):
        arr = np.array([row])
        assert clip_truncate(arr).tolist()[0] == lava_rounded(torch.tensor(arr, dtype=float))
    assert sign_mode_of(np.array([0, 1])) == "excitatory"
    assert sign_mode_of(np.array([0, -1])) == "inhibitory"
    assert sign_mode_of(np.array([-1, 1])) == "mixed"


def lava_rounded(w: torch.Tensor) -> list[int]:
    return [int(v) for v in LT.lava_weights(w)[0]]


def test_bad_inputs_are_spikecore_errors() -> None:
    g = layered([4, 3], ["LIF"], seed=1, recurrent=False)
    module = LT.loihi2_module(g)
    with pytest.raises(SpikecoreError, match="expected \\[batch, steps"):
        module(torch.zeros(5, 4))
    with pytest.raises(SpikecoreError, match="missing for Input"):
        module({"other": torch.zeros(1, 5, 4)})
    with pytest.raises(SpikecoreError, match="expected a spikecore Graph"):
        LT.loihi2_module("not a graph")


def test_lava_reference_refuses_delays_it_cannot_express() -> None:
    g = layered([4, 3], ["LIF"], seed=1, recurrent=False)
    g.edges = [sc.Edge(e.source, e.target, 3 if e.target == "w0" else e.delay_steps)
               for e in g.edges]
    _, report = quantize(g)
    with pytest.raises(SpikecoreError, match="delay 3, Lava gives"):
        LT.lava_lags(report.network)


def test_edge_delays_follow_the_contract() -> None:
    """A delay of d steps on the input edge shifts every state by exactly d steps."""
    g0 = layered([6, 5], ["LIF"], seed=4, recurrent=False)
    g3 = g0.copy()
    g3.edges = [sc.Edge(e.source, e.target, 3 if e.target == "w0" else e.delay_steps)
                for e in g3.edges]
    x = spikes_in(6, 40, 0.5, seed=3)
    r0 = LT.run(quantize(g0)[1].network, {"in": x})
    r3 = LT.run(quantize(g3)[1].network, {"in": x})
    u0, u3 = r0.info["int"]["n0"]["u"][0], r3.info["int"]["n0"]["u"][0]
    assert_close_arrays(u3[3:], u0[:-3], 0.0, "u delayed by 3")
    assert not u3[:3].any()


# ------------------------------------------------------------------ fused step vs loop
def _pop(name: str, n: int, rng: np.random.Generator, *, spiking: bool = True,
         du: int = 600, dv: int = 300, vth: int = 400, bias: bool = True) -> FixedNeuron:
    return FixedNeuron(name, "CubaLIF" if spiking else "CubaLI", (n,), spiking, du=du, dv=dv,
                       vth=vth, bias_mant=rng.integers(-60, 120, n) if bias
                       else np.zeros(n, np.int64),
                       bias_exp=rng.integers(0, 4, n), v_init=rng.integers(-2000, 2000, n),
                       u_init=rng.integers(-500, 500, n), scale=1.0, v_offset=0.0)


def _conn(src: str, dst: str, n_out: int, n_in: int, exp: int, delay: int,
          rng: np.random.Generator, lo: int = -120, hi: int = 160) -> FixedConnection:
    return FixedConnection(src, dst, None, delay, rng.integers(lo, hi, (n_out, n_in)), exp,
                           "mixed")


def _pipelined_network() -> Loihi2Network:
    """Every feature of the fused step: an Input drive into a lagged population with a
    negative exponent, a skip connection with delay 2 (spikes 4 iterations old), two
    negative-exponent connections into one target (separate floors; mixed weights are
    even, so -2 is the first exponent where merging them would change a bit), feedback
    with delay 3, a non-spiking population, biases, non-zero initial states."""
    rng = np.random.default_rng(21)
    a, b, c = _pop("a", 14, rng), _pop("b", 9, rng, du=0, dv=37), _pop("c", 5, rng,
                                                                        spiking=False)
    conns = (_conn("in", "a", 14, 10, 2, 0, rng), _conn("a", "b", 9, 14, -2, 0, rng),
             _conn("b", "b", 9, 9, -2, 1, rng), _conn("in", "b", 9, 10, -2, 1, rng),
             _conn("b", "c", 5, 9, 1, 0, rng), _conn("a", "c", 5, 14, -1, 2, rng),
             _conn("c", "a", 14, 5, 0, 3, rng))
    return Loihi2Network("pipelined", 1e-3, {"in": (10,)}, {"a": a, "b": b, "c": c}, conns,
                         {"out": "c"}, ("a", "b", "c"))


def _u_wrap_network() -> Loihi2Network:
    """Strong excitatory input: u passes 2**23 and wraps (24 bits), int32 never does."""
    rng = np.random.default_rng(4)
    a = dataclasses.replace(_pop("a", 6, rng, du=4095, bias=False),
                            u_init=np.zeros(6, np.int64))
    conns = (_conn("in", "a", 6, 12, 7, 0, rng, 200, 256),)
    return Loihi2Network("u_wrap", 1e-3, {"in": (12,)}, {"a": a}, conns, {}, ("a",))


def _assert_same_traces(fast: LT.Loihi2Trace, slow: LT.Loihi2Trace) -> int:
    for n in slow.v:
        for what in ("u", "v"):
            assert_close_arrays(getattr(fast, what)[n].numpy(),
                                getattr(slow, what)[n].numpy(), 0.0, f"{n}: {what}")
    for n in slow.spikes:
        assert_close_arrays(fast.spikes[n].numpy(), slow.spikes[n].numpy(), 0.0,
                            f"{n}: spikes")
    for o in slow.outputs:
        assert_close_arrays(fast.outputs[o].numpy(), slow.outputs[o].numpy(), 0.0, o)
    return sum(int(s.sum()) for s in slow.spikes.values())


@pytest.mark.parametrize("batch,steps,extra", [(1, 700, 0), (3, 90, 25)])
def test_fused_step_equals_population_loop(batch: int, steps: int, extra: int) -> None:
    """The fused pipelined step gives the bits of the population-by-population loop,
    across ring-chunk boundaries (700 steps) and past the end of the input (``extra``)."""
    net = _pipelined_network()
    fused, loop = LT.Loihi2Module(net), LT.Loihi2Module(net, fused=False)
    assert fused.fused_reason() is None
    assert loop.fused_reason() == "disabled (fused=False)"
    assert fused._pipeline_lags() == {"a": 0, "b": 1, "c": 2}
    x = torch.tensor(spikes_in(10, steps, 0.3, seed=batch, batch=batch))
    with torch.no_grad():
        fast, slow = fused.trace(x, steps + extra), loop.trace(x, steps + extra)
    assert fast.v["a"].shape == (batch, steps + extra, 14)
    assert _assert_same_traces(fast, slow) > 0


def test_fused_step_wraps_u_like_the_loop() -> None:
    net = _u_wrap_network()
    fused, loop = LT.Loihi2Module(net), LT.Loihi2Module(net, fused=False)
    assert fused.fused_reason() is None
    x = torch.tensor(spikes_in(12, 60, 0.6, seed=5, batch=2))
    with torch.no_grad():
        fast, slow = fused.trace(x), loop.trace(x)
    _assert_same_traces(fast, slow)
    # Excitatory input only and u0 = 0: a negative u exists only through the wrap.
    assert (fast.u["a"] < 0).any() and (fast.u["a"] > 2**22).any()


def test_fused_step_declines_what_it_cannot_do() -> None:
    """A cycle with fewer delays than connections, or a possible int32 overflow, keep the
    loop (and say why); the results are the loop's."""
    rng = np.random.default_rng(8)
    a, b = _pop("a", 4, rng), _pop("b", 4, rng)
    cyc = Loihi2Network("cycle", 1e-3, {"in": (3,)}, {"a": a, "b": b},
                        (_conn("in", "a", 4, 3, 3, 0, rng), _conn("a", "b", 4, 4, 3, 0, rng),
                         _conn("b", "a", 4, 4, 3, 1, rng)), {}, ("a", "b"))
    assert "cycle" in LT.Loihi2Module(cyc).fused_reason()
    huge = Loihi2Network("huge", 1e-3, {"in": (3,)}, {"a": a},
                         (_conn("in", "a", 4, 3, 20, 0, rng, 200, 256),), {}, ("a",))
    assert "int32 overflow" in LT.Loihi2Module(huge).fused_reason()
    x = torch.tensor(spikes_in(3, 30, 0.5, seed=1))
    for net in (cyc, huge):
        with torch.no_grad():
            _assert_same_traces(LT.Loihi2Module(net).trace(x),
                                    LT.Loihi2Module(net, fused=False).trace(x))
