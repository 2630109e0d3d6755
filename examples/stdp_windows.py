"""STDP on the graph: the pair-STDP window and the triplet rule's frequency dependence.

Left: the pair window. One pre and one post spike ``dt_pair`` apart (-100..100 ms, one
batch element per value) drive an ``STDPLinear`` (Song, Miller & Abbott 2000 amplitudes,
tau = 20 ms) on torch; the simulated weight changes lie on the exponential window
computed from the spike times (``stdp_weight_change``).
Right: Pfister & Gerstner (2006) triplet rule, visual-cortex all-to-all parameters, 60
pairings at +10 ms (pre-post) and -10 ms (post-pre) per frequency, as in Sjöström et al.
(2001): the analytic curve over 0.1-50 Hz and the weight changes simulated on Brian2 and
torch at 10, 20, 40 and 50 Hz.

    python examples/stdp_windows.py [--out DIR]   ->  stdp_windows.png
"""

from __future__ import annotations

import numpy as np
import torch
from _common import parse_out, pyplot

import spikecore as sc
from spikecore import primitives as P
from spikecore.extensions.plasticity import (
    PFISTER_GERSTNER_VISUAL_CORTEX,
    STDPLinear,
    stdp_weight_change,
)

W0 = 0.5
SONG = dict(a2_plus=0.005, a2_minus=0.00525, tau_plus=0.02, tau_minus=0.02)


def pair_graph(node: STDPLinear, dt: float) -> sc.Graph:
    """Prescribed pre and post trains into one plastic synapse (the post train enters the
    post port over the delay-1 edge, so the rule pairs each spike at its own step)."""
    eye = np.eye(2)
    return sc.Graph(
        {"pre": P.Input(np.array([1])), "post": P.Input(np.array([1])),
         "pre_port": P.Linear(eye[:, :1].copy()), "post_port": P.Linear(eye[:, 1:].copy()),
         "syn": node, "out": P.Output(np.array([1]))},
        [("pre", "pre_port"), ("pre_port", "syn"), ("post", "post_port"),
         ("post_port", "syn", 1), ("syn", "out")],
        sc.Semantics(dt=dt, integrator="exact"), name="pairs")


def final_change(graph: sc.Graph, pre: np.ndarray, post: np.ndarray, backend: str) -> np.ndarray:
    opts = {"dtype": torch.float64} if backend == "torch" else {}
    r = sc.simulate(graph, {"pre": pre, "post": post}, backend=backend, record=("syn:w",),
                    **opts)
    return r.traces["syn"]["w"][:, -1, 0, 0] - W0


def window(plt_ax) -> None:
    dt = 1e-3
    lags = np.arange(-100, 101, 2)                      # post - pre, in steps (ms)
    steps, t_pre = 260, 120
    pre = np.zeros((lags.size, steps, 1))
    post = np.zeros_like(pre)
    pre[:, t_pre, 0] = 1.0
    post[np.arange(lags.size), t_pre + lags, 0] = 1.0
    node = STDPLinear(weight=np.array([[W0]]), **SONG)
    got = final_change(pair_graph(node, dt), pre, post, "torch")
    fine = np.linspace(-100, 100, 801)
    want = [stdp_weight_change(node, [0.0], [lag * 1e-3]) for lag in fine]
    plt_ax.axhline(0, color="0.7", lw=0.8)
    plt_ax.axvline(0, color="0.7", lw=0.8)
    plt_ax.plot(fine, np.array(want) * 1e3, color="k", lw=1, label="pair sums (spike times)")
    plt_ax.plot(lags, got * 1e3, "o", ms=3, color="C0", label="STDPLinear on torch")
    plt_ax.set(xlabel="t_post - t_pre (ms)", ylabel="weight change (x 1e-3)",
               title="pair STDP window")
    plt_ax.legend(frameon=False, fontsize=8)


def frequency_curve(plt_ax) -> None:
    dt, n, delta = 2.5e-3, 60, 10e-3
    p = PFISTER_GERSTNER_VISUAL_CORTEX
    node = STDPLinear(weight=np.array([[W0]]), **p)
    freqs = np.geomspace(0.1, 50, 60)
    for sign, color, label in ((1, "C3", "pre-post +10 ms"), (-1, "C0", "post-pre -10 ms")):
        curve = [stdp_weight_change(node, np.arange(n) / f, np.arange(n) / f + sign * delta)
                 for f in freqs]
        plt_ax.plot(freqs, 100 * np.array(curve), color=color, lw=1.2, label=label)
    sim = (10.0, 20.0, 40.0, 50.0)
    periods = [int(round(1 / (f * dt))) for f in sim]
    d = int(round(delta / dt))
    steps = (n - 1) * max(periods) + 2 * d + 2
    pre = np.zeros((2 * len(sim), steps, 1))
    post = np.zeros_like(pre)
    for b, (period, sign) in enumerate((pp, s) for pp in periods for s in (1, -1)):
        k = np.arange(n) * period + d
        pre[b, k, 0] = 1.0
        post[b, k + sign * d, 0] = 1.0
    graph = pair_graph(node, dt)
    for backend, marker in (("brian2", "s"), ("torch", "x")):
        got = final_change(graph, pre, post, backend).reshape(len(sim), 2)
        plt_ax.plot(sim, 100 * got[:, 0], marker, color="C3", ms=6, mfc="none")
        plt_ax.plot(sim, 100 * got[:, 1], marker, color="C0", ms=6, mfc="none",
                    label=f"simulated on {backend}")
        print(f"{backend}: " + ", ".join(
            f"{f:g} Hz: {100 * a:+.2f} % / {100 * b:+.2f} %" for f, (a, b) in zip(sim, got, strict=True)))
    plt_ax.axhline(0, color="0.7", lw=0.8)
    plt_ax.set(xscale="log", xlabel="pairing frequency (Hz)",
               ylabel="weight change after 60 pairings (%)",
               title="triplet STDP (Pfister & Gerstner 2006)")
    plt_ax.legend(frameon=False, fontsize=8)


def main() -> None:
    out = parse_out(__doc__.splitlines()[0])
    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    window(ax1)
    frequency_curve(ax2)
    fig.tight_layout()
    fig.savefig(out / "stdp_windows.png", dpi=120)
    print(f"wrote {out / 'stdp_windows.png'}")


if __name__ == "__main__":
    main()
