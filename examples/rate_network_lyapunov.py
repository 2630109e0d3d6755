"""Sompolinsky–Crisanti–Sommers rate network: transition to chaos at g = 1.

    tau dx/dt = -x + J tanh(x),   J_ij ~ N(0, g^2/N)   (spikecore.models.scs_matrix)

Computes the largest Lyapunov exponents (QR method, spikecore.analysis.lyapunov_spectrum)
over a range of g, the fixed-point prediction (max Re eig(J) - 1)/tau below g = 1, the
Lyapunov spectrum at g = 2 and example trajectories. Rate units are not a NIR primitive, so
this family runs in numpy (spikecore.analysis.rate_network_trajectory), not on a backend.

    python examples/rate_network_lyapunov.py [--out DIR]   ->  rate_network_lyapunov.png
"""

from __future__ import annotations

import numpy as np
from _common import one_blas_thread, parse_out, pyplot
from spikecore.models import scs_matrix

from spikecore import analysis as A


def main() -> None:
    out = parse_out(__doc__.splitlines()[0])
    plt = pyplot()
    N, tau = 400, 1.0
    gains = np.array([0.5, 0.7, 0.9, 1.1, 1.3, 1.5, 2.0, 2.5])
    with one_blas_thread():
        lam, fixed = [], []
        for g in gains:
            J = scs_matrix(N, g, seed=0).matrix
            lam.append(A.lyapunov_spectrum(J, tau, dt=0.1, steps=4000, transient=1000,
                                           n_exponents=1).largest)
            fixed.append((np.linalg.eigvals(J).real.max() - 1.0) / tau)
            print(f"g = {g:.1f}: largest Lyapunov exponent {lam[-1]:+.4f} / tau")
        J2 = scs_matrix(N, 2.0, seed=0).matrix
        spec = A.lyapunov_spectrum(J2, tau, dt=0.1, steps=3000, transient=1000, n_exponents=60)
        traj = {g: A.rate_network_trajectory(scs_matrix(N, g, seed=0).matrix, tau, 0.1, 600)
                for g in (0.8, 2.0)}

    fig, ax = plt.subplots(1, 3, figsize=(14, 4))
    ax[0].plot(gains, lam, "o-", label="QR estimate")
    below = gains < 1
    ax[0].plot(gains[below], np.array(fixed)[below], "k--", label="fixed point: max Re eig(J) - 1")
    ax[0].axhline(0, color="gray", lw=0.5)
    ax[0].axvline(1, color="gray", lw=0.5)
    ax[0].set(xlabel="g", ylabel="largest Lyapunov exponent (1/tau)", title=f"SCS, N = {N}")
    ax[0].legend()
    ax[1].plot(spec.exponents, ".")
    ax[1].axhline(0, color="gray", lw=0.5)
    ax[1].set(xlabel="index", ylabel="exponent (1/tau)", title="Lyapunov spectrum, g = 2")
    t = np.arange(601) * 0.1
    for g, x in traj.items():
        ax[2].plot(t, x[:, :3], lw=0.8, label=[f"g = {g}", None, None])
    ax[2].set(xlabel="time (tau)", ylabel="x_i", title="trajectories")
    ax[2].legend()
    fig.tight_layout()
    fig.savefig(out / "rate_network_lyapunov.png", dpi=110)
    print("wrote", out / "rate_network_lyapunov.png")


if __name__ == "__main__":
    main()
