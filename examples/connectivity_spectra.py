"""Eigenvalue spectra of the connectivity generators against their theory.

SCS (Girko disc of radius g), low-rank plus random (outlier at n.m/N, Mastrogiuseppe &
Ostojic), Dale's-law E/I with row balance (Rajan & Abbott radius sqrt(f s_E^2 + (1-f) s_I^2)),
and second-order motif networks (Perron outlier ~ N p (1 + alpha_chain), Zhao et al.).

    python examples/connectivity_spectra.py [--out DIR]   ->  connectivity_spectra.png
"""

from __future__ import annotations

import numpy as np
from _common import one_blas_thread, parse_out, pyplot
from spikecore.models import dale_matrix, low_rank_matrix, motif_adjacency, scs_matrix

from spikecore import analysis as A


def main() -> None:
    out = parse_out(__doc__.splitlines()[0])
    plt = pyplot()
    N = 800
    with one_blas_thread():
        scs = scs_matrix(N, 1.5, seed=0).matrix
        lr = low_rank_matrix(N, g=0.6, M_m=1.0, M_n=1.5, rho=0.3, seed=0)
        dale = dale_matrix(N, f=0.8, mu_E=3.0, sigma_E=0.5, sigma_I=1.5, balanced_rows=True, seed=0)
        dale_free = dale_matrix(N, f=0.8, mu_E=3.0, sigma_E=0.5, sigma_I=1.5, seed=0)
        motifs = {a: motif_adjacency(N, 0.1, alpha_recip=0.5, alpha_conv=0.3, alpha_div=0.3,
                                     alpha_chain=a, seed=0).matrix for a in (0.0, 0.2)}
        spectra = {k: A.connectivity_spectrum(W) for k, W in
                   [("scs", scs), ("lr", lr.matrix), ("dale", dale.matrix),
                    ("dale_free", dale_free.matrix), *[(f"m{a}", W) for a, W in motifs.items()]]}
    circle = np.exp(1j * np.linspace(0, 2 * np.pi, 300))
    fig, ax = plt.subplots(1, 4, figsize=(17, 4.2))

    def show(a, ev, radius, title, **kw):
        a.plot(ev.real, ev.imag, ".", ms=2, **kw)
        if radius:  # outliers drawn larger: single points are otherwise invisible
            far = ev[np.abs(ev) > 1.1 * radius]
            a.plot(far.real, far.imag, "o", ms=5, mfc="none", color="k")
            a.plot(radius * circle.real, radius * circle.imag, "k--", lw=1)
        a.set(title=title, xlabel="Re", ylabel="Im")
        a.set_aspect("equal", "datalim")

    show(ax[0], spectra["scs"].eigenvalues, 1.5, "SCS g = 1.5: disc radius g")
    lam = lr.parts["n"] @ lr.parts["m"] / N
    show(ax[1], spectra["lr"].eigenvalues, 0.6, "low rank + g = 0.6 bulk")
    ax[1].plot([lam], [0], "rx", ms=10, label=f"n.m/N = {lam:.2f}")
    ax[1].legend()
    r = np.sqrt(0.8 * 0.5**2 + 0.2 * 1.5**2)
    show(ax[2], spectra["dale_free"].eigenvalues, None, "", color="tab:orange", label="no row balance")
    show(ax[2], spectra["dale"].eigenvalues, r, f"Rajan-Abbott: r = {r:.3f}", label="row balance")
    ax[2].legend()
    for a_chain, color in ((0.0, "tab:blue"), (0.2, "tab:red")):
        ev = spectra[f"m{a_chain}"].eigenvalues
        p = motifs[a_chain].sum() / (N * (N - 1))
        ax[3].plot(ev.real, ev.imag, ".", ms=2, color=color, label=f"alpha_chain = {a_chain}")
        ax[3].plot([ev[0].real], [ev[0].imag], "o", ms=6, color=color)
        ax[3].axvline(p * (1.5 + (N - 2) * (1 + a_chain)), color=color, ls="--", lw=1)
        print(f"alpha_chain = {a_chain}: Perron outlier {ev[0].real:.2f}, mean-field "
              f"{p * (1.5 + (N - 2) * (1 + a_chain)):.2f}; measured {A.motif_statistics(motifs[a_chain])}")
    ax[3].set(title="motifs: outlier ~ Np(1 + alpha_chain)", xlabel="Re", ylabel="Im")
    ax[3].legend()
    print(f"SCS spectral radius {spectra['scs'].spectral_radius:.3f} (g = 1.5); low-rank outlier "
          f"{spectra['lr'].eigenvalues[0].real:.3f} (n.m/N = {lam:.3f}); Rajan-Abbott radius "
          f"{spectra['dale'].spectral_radius:.3f} (r = {r:.3f})")
    fig.tight_layout()
    fig.savefig(out / "connectivity_spectra.png", dpi=110)
    print("wrote", out / "connectivity_spectra.png")


if __name__ == "__main__":
    main()
