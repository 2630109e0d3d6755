"""CubaLIF in Loihi 2 fixed point with a synaptic decay ``du`` well inside its range.

Lava's bit-accurate LIF decays the current by ``(4096 - (du + 1)) / 4096`` (its
``ds_offset = 1``), so a mapping must hand Lava ``du = round(4096 (1 - a_syn)) - 1``. The
NIR paper's LIF (the other fixed_pt run) has no synaptic current, ``du`` saturates at 4095
and the ``- 1`` makes no difference there; here it does.

The reference is a plain numpy int64 loop written below from the documented arithmetic
(``hardware/loihi2/target.py``'s module docstring, Lava's ``PyLifModelBitAcc`` and
``PyDenseModelBitAcc``)::

    a_in[k] = sum_c shift(W_c @ s_c[k - lag_c], weight_exp_c)
    u[k]    = wrap24(trunc(u[k-1] * (4096 - (du + 1)) / 4096) + (a_in[k] << 6))
    v[k]    = clip24(trunc(v[k-1] * (4096 - dv) / 4096) + u[k] + (bias_mant << bias_exp))
    z[k]    = v[k] > (vth << 6);   v[k] = 0 where z[k]

and the integer parameters of the Lava backend's fixed_pt mapping are derived here from
the graph's own numbers (Euler coefficients of the NIR ODE, semantics §4) by the mapping
documented in ``backends/lava/lowering.py`` (``_to_fixed_point``), not by calling it.
Compared bit for bit: the Lava backend's fixed_pt run (u, v, spikes: the raw integers of
every Lava step and the public result in graph units), spikecore's torch emulation of the
same integers, and the emulation of ``hardware.loihi2.quantize``'s network, whose decays
must represent the graph's to half an LSB.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from spikecore.hardware.loihi2 import FixedConnection, FixedNeuron, Loihi2Network, quantize
from spikecore.hardware.loihi2 import emulation as LT

import spikecore as sc
from spikecore import primitives as P
from spikecore.testing import assert_close_arrays

DT = 1e-3
TAU_SYN, TAU_MEM = 5e-3, 1e-2      # a_syn = 0.8: du = 818, far from 0 and 4095
N_IN, N, STEPS = 8, 6, 150
V_TH, V_RESET = 0.1, -0.02

# Loihi 2 / Lava bit-accurate formats (lava-nc 0.10 lava/proc/lif/models.py,
# lava/proc/dense/models.py), written out here rather than imported.
DECAY_UNITY = 4096          # decays act as x * (4096 - d) >> 12, truncated toward zero
DU_OFFSET = 1               # Lava's ds_offset: u decays by 4096 - (du + 1)
VTH_SHIFT = ACT_SHIFT = 6   # threshold and synaptic input are << 6
UV_HALF = 2 ** 23           # 24-bit u (wraps) and v (saturates)
# The Lava backend's fixed_pt mapping (backends/lava/lowering.py, _to_fixed_point).
VTH_TARGET = 2 ** 18        # spiking process: vth * unit = 2^18
BIAS_MANT_MAX = 2 ** 12 - 1
WEIGHT_MAX = {True: 254, False: 255}   # mixed signs: even mantissas


# ============================================================ network
def network(seed: int = 11) -> sc.Graph:
    """Input -> Linear -> CubaLIF with a delay-1 recurrent Linear; per-neuron v_leak."""
    rng = np.random.default_rng(seed)
    ones = np.ones(N)
    w_in = rng.uniform(-0.2, 0.7, (N, N_IN))
    w_rec = rng.uniform(-0.4, 0.4, (N, N))
    np.fill_diagonal(w_rec, 0.0)
    nodes = {
        "in": P.Input(input_type={"input": np.array([N_IN])}),
        "w": P.Linear(weight=w_in),
        "cuba": P.CubaLIF(tau_syn=np.full(N, TAU_SYN), tau_mem=np.full(N, TAU_MEM), r=ones,
                          v_leak=rng.uniform(-0.01, 0.02, N), v_threshold=np.full(N, V_TH),
                          v_reset=np.full(N, V_RESET), w_in=ones),
        "rec": P.Linear(weight=w_rec),
        "out": P.Output(output_type={"output": np.array([N])}),
    }
    edges = [("in", "w"), ("w", "cuba"), ("cuba", "rec", 1), ("rec", "cuba"), ("cuba", "out")]
    return sc.Graph(nodes, edges, sc.Semantics(dt=DT), name="cubalif_du")


def spike_input(seed: int = 5, rate: float = 0.2) -> np.ndarray:
    return (np.random.default_rng(seed).random((1, STEPS, N_IN)) < rate).astype(np.float64)


# ============================================================ integer reference
def _trunc_decay(x: np.ndarray, factor: int) -> np.ndarray:
    """``trunc(x * factor / 4096)``: Lava's sign * (|x * factor| >> 12)."""
    p = x * factor
    return np.sign(p) * (np.abs(p) >> 12)


def _shift(x: np.ndarray, e: int) -> np.ndarray:
    return x << e if e >= 0 else x >> -e     # numpy's >> on int64 floors, like Lava


def _wrap24(x: np.ndarray) -> np.ndarray:
    x = np.where(x > UV_HALF, x - 2 * UV_HALF, x)
    return np.where(x <= -UV_HALF, x + 2 * UV_HALF, x)


def integer_loop(par: dict, x: np.ndarray, steps: int, input_lag: int) -> dict:
    """The documented arithmetic in int64. ``par``: du, dv, vth, bias (mant << exp),
    v_init, and connections ``[(source, W, exp)]`` with source ``"in"`` or ``"cuba"``.
    Input ``x[0, t]`` reaches the neurons ``input_lag`` steps later (Lava's Dense: 1;
    the contract: 0); the recurrent spikes always one step later (edge delay 1, or one
    Dense). Returns int64 ``u``, ``v``, ``z`` of shape ``[steps, N]``."""
    xs = x[0].astype(np.int64)
    u = np.zeros(N, np.int64)
    v = np.asarray(par["v_init"], np.int64).copy()
    z = np.zeros(N, np.int64)
    out = {k: np.zeros((steps, N), np.int64) for k in ("u", "v", "z")}
    for k in range(steps):
        a_in = np.zeros(N, np.int64)
        for source, w, e in par["connections"]:
            if source == "in":
                t = k - input_lag
                s = xs[t] if 0 <= t < xs.shape[0] else np.zeros(N_IN, np.int64)
            else:
                s = z
            a_in += _shift(w.astype(np.int64) @ s, e)
        assert np.all(np.abs(a_in) < 2 ** 15), "a_in outside 16 bits: pick smaller weights"
        u = _wrap24(_trunc_decay(u, DECAY_UNITY - (par["du"] + DU_OFFSET))
                    + (a_in << ACT_SHIFT))
        v = np.clip(_trunc_decay(v, DECAY_UNITY - par["dv"]) + u + par["bias"],
                    -(UV_HALF - 1), UV_HALF - 1)
        z = (v > (par["vth"] << VTH_SHIFT)).astype(np.int64)
        v = np.where(z > 0, 0, v)
        out["u"][k], out["v"][k], out["z"][k] = u, v, z
    return out


def lava_mapping(graph: sc.Graph) -> dict:
    """The Lava backend's fixed_pt integers for ``cuba``, from the graph's numbers.

    Euler (semantics §4): ``a_syn = 1 - dt/tau_syn``, ``b_syn = dt w_in/tau_syn``,
    ``a_mem = 1 - dt/tau_mem``, ``k_new = dt r/tau_mem``, ``c = dt v_leak/tau_mem``.
    Lava units: ``v' = v - v_reset`` (one threshold ``vth = v_th - v_reset``, gain 1),
    ``unit = 2^18 / vth`` integer LSBs per unit of ``v'``; ``du = round(4096 (1 - a_syn))
    - 1`` (Lava adds 1), ``dv = round(4096 (1 - a_mem))``; ``bias = unit (c - (1 - a_mem)
    v_reset)`` as a 13-bit mantissa with the smallest exponent that fits; weights
    ``W k_new b_syn unit / 64`` as 8-bit mantissas (even when signs are mixed) times
    ``2^e`` with the smallest ``e >= -8`` that fits.
    """
    n = graph.nodes["cuba"]
    a_syn = 1.0 - DT / n.tau_syn[0]
    a_mem = 1.0 - DT / n.tau_mem[0]
    b_syn = DT * n.w_in / n.tau_syn
    k_new = DT * n.r / n.tau_mem
    c = DT * n.v_leak / n.tau_mem
    vth = float(n.v_threshold[0] - n.v_reset[0])
    unit = VTH_TARGET / vth
    du_f, dv_f = 1.0 - a_syn, 1.0 - a_mem
    b = (c - dv_f * n.v_reset) * unit
    bexp = np.where(np.abs(b) > BIAS_MANT_MAX,
                    np.ceil(np.log2(np.abs(b) / BIAS_MANT_MAX)), 0).astype(np.int64)
    bmant = np.rint(b / 2.0 ** bexp).astype(np.int64)

    def weights(w: np.ndarray) -> tuple[np.ndarray, int]:
        x = w * (k_new * b_syn)[:, None] * unit / 2 ** ACT_SHIFT
        mixed = bool(np.any(x > 0) and np.any(x < 0))
        e = max(-8, math.ceil(math.log2(np.abs(x).max() / WEIGHT_MAX[mixed])))
        q = x / 2.0 ** e
        q = 2 * np.rint(q / 2) if mixed else np.rint(q)
        return q.astype(np.int64), e

    w_in, e_in = weights(graph.nodes["w"].weight)
    w_rec, e_rec = weights(graph.nodes["rec"].weight)
    return {"unit": unit, "vth_float": vth, "i_gain": k_new,
            "du": int(np.clip(round(du_f * DECAY_UNITY) - DU_OFFSET, 0, DECAY_UNITY - 1)),
            "dv": int(np.clip(round(dv_f * DECAY_UNITY), 0, DECAY_UNITY - 1)),
            "vth": int(round(vth * unit / 2 ** VTH_SHIFT)),
            "bias_mant": bmant, "bias_exp": bexp, "bias": bmant << bexp,
            "v_init": np.rint((n.v_leak - n.v_reset) * unit).astype(np.int64),
            "connections": [("in", w_in, e_in), ("cuba", w_rec, e_rec)]}


def _sign_mode(w: np.ndarray) -> str:
    if np.all(w >= 0):
        return "excitatory"
    return "inhibitory" if np.all(w <= 0) else "mixed"


def _assert_ints_equal(got: np.ndarray, expected: np.ndarray, what: str) -> None:
    got = np.asarray(got)
    assert np.array_equal(got, np.rint(got)), f"{what}: not integers"
    assert_close_arrays(got, expected, 0.0, what)


def _assert_network_is_a_real_test(par: dict, x: np.ndarray, spikes_see_du: bool) -> dict:
    """The reference run (contract time) with ``du`` far from saturation fires
    moderately; with ``spikes_see_du`` its spike times also depend on the current's
    decay: ``du`` one larger (the compensation dropped) moves spikes."""
    assert 100 < par["du"] < 4000, f"du = {par['du']} is saturated or nearly"
    ref = integer_loop(par, x, STEPS, input_lag=0)
    counts = ref["z"].sum(axis=0)
    assert counts.min() >= 5 and counts.max() <= STEPS // 2, f"spike counts {counts}"
    if spikes_see_du:
        off_by_one = integer_loop({**par, "du": par["du"] + 1}, x, STEPS, input_lag=0)
        assert not np.array_equal(off_by_one["z"], ref["z"]), \
            "spikes do not depend on du here: the test network cannot see a du error"
    return ref


# ============================================================ tests
@pytest.mark.lava
def test_lava_fixed_pt_cubalif_equals_the_integer_reference(lava: str, tmp_path: Path) -> None:
    g = network()
    x = spike_input()
    par = lava_mapping(g)
    _assert_network_is_a_real_test(par, x, spikes_see_du=True)

    res = sc.simulate(g, x, backend="lava", arithmetic="fixed_pt",
                      record=("spikes", "v", "i"), keep_job=True, job_root=str(tmp_path))
    lag = res.info["lags"]["cuba"]
    assert lag == 1, f"cuba runs {lag} steps behind in Lava; one Dense gives 1"
    total = res.info["lava_steps"]
    assert total == STEPS + lag
    job = Path(res.info["job_dir"])

    # 1. The raw Lava integers of every Lava step (the first one, before contract step 0,
    #    runs with no input) against the loop in Lava's time.
    ref_lava = integer_loop(par, x, total, input_lag=lag)
    with np.load(job / "results.npz") as raw:
        _assert_ints_equal(raw["cuba/u"], ref_lava["u"], "Lava fixed_pt u vs int64 reference")
        _assert_ints_equal(raw["cuba/v"], ref_lava["v"], "Lava fixed_pt v vs int64 reference")
        _assert_ints_equal(raw["cuba/s_out"], ref_lava["z"],
                           "Lava fixed_pt spikes vs int64 reference")

    # 2. The public result (realigned to the contract's steps, graph units).
    z_ref = ref_lava["z"][lag:]
    got = res.spikes["cuba"][0].astype(np.int64)
    assert_close_arrays(got, z_ref, 0.0, "spikes (contract steps) vs int64 reference")
    v_ref = ref_lava["v"][lag:].astype(np.float64) / par["unit"] + V_RESET
    i_ref = ref_lava["u"][lag:].astype(np.float64) / par["unit"] / par["i_gain"]
    # One LSB is 1/unit = 4.6e-7 in v (and 1/(unit k_new) in i): atol 1e-12 sees it.
    assert_close_arrays(res.traces["cuba"]["v"][0], v_ref, 1e-12, "v (graph units)")
    assert_close_arrays(res.traces["cuba"]["i"][0], i_ref, 1e-12 * np.abs(i_ref).max(),
                        "i (graph units)")

    # 3. The integer parameters the backend handed to Lava.
    spec = json.loads((job / "job.json").read_text())
    (pop,) = spec["populations"]
    for key in ("du", "dv", "vth"):
        assert pop[key] == par[key], (f"{key}: the backend gave Lava {pop[key]}, the "
                                      f"documented mapping gives {par[key]}")


def test_torch_emulation_of_the_same_integers_equals_the_reference() -> None:
    g = network()
    x = spike_input()
    par = lava_mapping(g)
    ref = _assert_network_is_a_real_test(par, x, spikes_see_du=True)
    (_, w_in, e_in), (_, w_rec, e_rec) = par["connections"]
    cuba = FixedNeuron("cuba", "CubaLIF", (N,), True, par["du"], par["dv"], par["vth"],
                       par["bias_mant"], par["bias_exp"], par["v_init"],
                       np.zeros(N, np.int64), par["unit"], V_RESET)
    net = Loihi2Network("cubalif_du", DT, {"in": (N_IN,)}, {"cuba": cuba},
                        (FixedConnection("in", "cuba", "w", 0, w_in, e_in, _sign_mode(w_in)),
                         FixedConnection("cuba", "cuba", "rec", 1, w_rec, e_rec,
                                         _sign_mode(w_rec))),
                        {}, ("cuba",))
    res = LT.run(net, {"in": x}, STEPS)
    ints = res.info["int"]["cuba"]
    _assert_ints_equal(ints["u"][0], ref["u"], "emulation u vs int64 reference")
    _assert_ints_equal(ints["v"][0], ref["v"], "emulation v vs int64 reference")
    assert_close_arrays(res.spikes["cuba"][0].astype(np.int64), ref["z"], 0.0,
                        "emulation spikes vs int64 reference")


def test_quantize_represents_the_decays_and_emulates_them_bit_for_bit() -> None:
    # hardware.loihi2.quantize picks its own scale, so its integers differ from the Lava
    # backend's; its decays must still represent the graph's (Lava's u decay being
    # (4096 - (du + 1)) / 4096) to half an LSB, and the emulation must run them exactly.
    g = network()
    x = spike_input()
    _, report = quantize(g)
    p = report.network.neurons["cuba"]
    a_syn, a_mem = 1.0 - DT / TAU_SYN, 1.0 - DT / TAU_MEM
    a_u = (DECAY_UNITY - (p.du + DU_OFFSET)) / DECAY_UNITY
    a_v = (DECAY_UNITY - p.dv) / DECAY_UNITY
    assert abs(a_u - a_syn) <= 0.5 / DECAY_UNITY, \
        f"du = {p.du}: Lava decays u by {a_u}, the graph by a_syn = {a_syn}"
    assert abs(a_v - a_mem) <= 0.5 / DECAY_UNITY, \
        f"dv = {p.dv}: Lava decays v by {a_v}, the graph by a_mem = {a_mem}"
    conns = {c.source: c for c in report.network.connections}
    assert set(conns) == {"in", "cuba"} and conns["cuba"].delay_steps == 1
    par = {"du": p.du, "dv": p.dv, "vth": p.vth, "bias": p.bias_mant << p.bias_exp,
           "v_init": p.v_init,
           "connections": [(s, c.weights, c.weight_exp) for s, c in sorted(conns.items())]}
    # (Its spikes need not move with du: the decay check above is what sees du.)
    ref = _assert_network_is_a_real_test(par, x, spikes_see_du=False)
    res = LT.run(report.network, {"in": x}, STEPS)
    ints = res.info["int"]["cuba"]
    _assert_ints_equal(ints["u"][0], ref["u"], "quantised emulation u vs int64 reference")
    _assert_ints_equal(ints["v"][0], ref["v"], "quantised emulation v vs int64 reference")
    assert_close_arrays(res.spikes["cuba"][0].astype(np.int64), ref["z"], 0.0,
                        "quantised emulation spikes vs int64 reference")
