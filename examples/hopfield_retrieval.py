"""Hopfield network: retrieval below and loss above capacity alpha_c ~ 0.138.

Builds the Hebbian network (spikecore.models.hopfield_weights) as a spikecore graph of
Threshold units with a delayed recurrent Affine (spikecore.models.hopfield_network), cues
it with stored patterns and measures the final overlap for a range of loads alpha = P/N,
on Norse (N = 1000) and Brian2 (N = 300), against the Amit–Gutfreund–Sompolinsky retrieval
overlap m = erf(y), alpha = [erf(y) - 2 y exp(-y^2)/sqrt(pi)]^2 / (2 y^2) (scipy).

    python examples/hopfield_retrieval.py [--out DIR]   ->  hopfield_retrieval.png
"""

from __future__ import annotations

import numpy as np
import torch
from _common import parse_out, pyplot
from scipy import special
from spikecore.models import hopfield_network, hopfield_weights

import spikecore as sc


def overlaps(N: int, alpha: float, backend: str, cues: int = 20, **opts) -> np.ndarray:
    P = int(alpha * N) | 1  # odd P, even N: no ties
    c = hopfield_weights(N, P, seed=1)
    x = np.zeros((min(cues, P), 12, N))
    x[:, 0] = c.parts["patterns"][: x.shape[0]]
    r = sc.simulate(hopfield_network(c), x, backend=backend, **opts)
    s = 2 * r.outputs["output"][:, -1] - 1
    return (s * c.parts["patterns"][: x.shape[0]]).mean(axis=1)


def main() -> None:
    out = parse_out(__doc__.splitlines()[0])
    plt = pyplot()
    alphas = np.array([0.02, 0.05, 0.08, 0.11, 0.13, 0.15, 0.18, 0.22, 0.3])
    y = np.linspace(1.0, 6.0, 400)
    a_y = (special.erf(y) - 2 / np.sqrt(np.pi) * y * np.exp(-y * y)) ** 2 / (2 * y * y)
    branch = y >= y[np.argmax(a_y)]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(a_y[branch], special.erf(y[branch]), "k-", label="AGS retrieval branch")
    ax.axvline(a_y.max(), color="gray", ls="--", lw=1, label=f"alpha_c = {a_y.max():.3f}")
    for backend, N, opts, marker in (("torch", 1000, {"dtype": torch.float64}, "o"),
                                     ("brian2", 300, {}, "x")):
        m = [overlaps(N, a, backend, **opts).mean() for a in alphas]
        ax.plot(alphas, m, marker, label=f"{backend}, N = {N}")
        print(backend, "N =", N, " ".join(f"{a:.2f}:{v:.3f}" for a, v in zip(alphas, m, strict=True)))
    ax.set(xlabel="load alpha = P/N", ylabel="final overlap m", title="Hopfield retrieval")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "hopfield_retrieval.png", dpi=110)
    print("wrote", out / "hopfield_retrieval.png")


if __name__ == "__main__":
    main()
