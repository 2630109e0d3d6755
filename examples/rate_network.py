"""Rate networks from spikecore.models on Brian2 and torch: SCS chaos vs mean field,
low-rank, random-mode and Rajan-Abbott E/I networks.

For each model the graph (RateUnit + Linear with a one-step edge) runs on both engines;
the script prints the largest Brian2-torch difference over the first 30 tau (rounding,
before chaos amplifies it), plots a few unit trajectories, and for the SCS network the
variance <x^2> against the dynamic mean-field value (scipy).

    python examples/rate_network.py [--out DIR]   ->  rate_network.png
"""

from __future__ import annotations

import numpy as np
import torch
from _common import parse_out, pyplot
from scipy import integrate, optimize
from spikecore.models import (
    low_rank_rate_network,
    rajan_abbott_rate_network,
    random_mode_rate_network,
    scs_rate_network,
)

import spikecore as sc

STEPS = 1500  # dt = 0.1 tau: 150 tau


def scs_delta0(g: float) -> float:
    """SCS (1988) variance: Delta^2/2 = g^2 (<Phi^2> - <Phi>^2), Phi = ln cosh."""
    gauss = lambda f: integrate.quad(  # noqa: E731
        lambda z: np.exp(-z * z / 2) / np.sqrt(2 * np.pi) * f(z), -np.inf, np.inf)[0]
    Phi = lambda x: np.logaddexp(x, -x) - np.log(2.0)  # noqa: E731
    return optimize.brentq(lambda d: d * d / 2 - g * g * (
        gauss(lambda z: Phi(np.sqrt(d) * z) ** 2) - gauss(lambda z: Phi(np.sqrt(d) * z)) ** 2),
        1e-6, 100.0)


def main() -> None:
    out = parse_out(__doc__.splitlines()[0])
    plt = pyplot()
    models = {
        "SCS g=3": scs_rate_network(500, 3.0, seed=0),
        "low rank (M_m=M_n=1.5, g=0.8)": low_rank_rate_network(500, g=0.8, M_m=1.5, M_n=1.5,
                                                              seed=1),
        "random mode (P=50, d=5)": random_mode_rate_network(500, d=np.full(50, 5.0), seed=2),
        "Rajan-Abbott (sigma=2)": rajan_abbott_rate_network(500, sigma_E=2.0, sigma_I=2.0,
                                                            seed=3),
    }
    fig, ax = plt.subplots(1, len(models), figsize=(4.2 * len(models), 3.6))
    for k, (label, graph) in enumerate(models.items()):
        xs = {}
        for backend in ("brian2", "torch"):
            opts = {"dtype": torch.float64} if backend == "torch" else {}
            r = sc.simulate(graph, None, backend=backend, steps=STEPS, record="units:x", **opts)
            xs[backend] = r.traces["units"]["x"][0]
        gap = np.abs(xs["brian2"][:300] - xs["torch"][:300]).max()
        var = float(np.mean(xs["torch"][500:] ** 2))
        line = f"{label}: max |brian2 - torch| over 30 tau = {gap:.1e}; <x^2> = {var:.3f}"
        if label.startswith("SCS"):
            line += f" (mean field {scs_delta0(3.0):.3f})"
        print(line)
        t = np.arange(STEPS) * graph.semantics.dt
        ax[k].plot(t, xs["torch"][:, :5], lw=0.8)
        ax[k].set(title=label, xlabel="time (tau)", ylabel="x" if k == 0 else None)
    fig.tight_layout()
    fig.savefig(out / "rate_network.png", dpi=100)
    print("wrote", out / "rate_network.png")


if __name__ == "__main__":
    main()
