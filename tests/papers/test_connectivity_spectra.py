"""Paper checks: spectra and statistics of the connectivity generators vs theory.

Expected values come from the papers' formulas evaluated here with numpy/scipy; the
eigenvalues are computed with scipy.linalg, not with spikecore.analysis.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import linalg
from spikecore.models import (
    brunel2000_connectivity,
    dale_matrix,
    ei_motif_matrix,
    hopfield_weights,
    izhikevich_connectivity,
    low_rank_matrix,
    motif_adjacency,
    random_mode_matrix,
    scs_matrix,
)

from spikecore import analysis as A
from spikecore.errors import InputError


def _edge_of_ginibre(N: int) -> float:
    """Largest |eigenvalue| of an N x N Ginibre matrix with variance 1/N, to leading order
    (Rider 2003): 1 + sqrt(gamma_N / (4N)), gamma_N = log(N / 2pi) - 2 log log N."""
    gamma = np.log(N / (2 * np.pi)) - 2 * np.log(np.log(N))
    return 1.0 + np.sqrt(gamma / (4 * N))


# ------------------------------------------------------------------ SCS: Girko's circular law
@pytest.mark.parametrize("g", [0.5, 1.5])
def test_scs_spectrum_fills_the_disc_of_radius_g(g):
    N = 1000
    ev = linalg.eigvals(scs_matrix(N, g, seed=1).matrix)
    # Edge: Rider's leading-order edge; tolerance 3% of g for the O(1/sqrt(N log N)) edge
    # fluctuations (the edge itself sits 1.7% outside g at N = 1000).
    assert np.abs(ev).max() == pytest.approx(g * _edge_of_ginibre(N), rel=0.03)
    # Uniform density on the disc: P(|lambda| < rho g) = rho^2. Eigenvalues repel, so the
    # count fluctuates less than a binomial (sd <= sqrt(0.25*0.75/N) = 0.014): tol 0.03.
    for rho in (0.5, 0.8):
        assert np.mean(np.abs(ev) < rho * g) == pytest.approx(rho**2, abs=0.03)
    # Mean of eigenvalues = trace / N ~ N(0, g^2/N^2): |mean| < 4 g / N.
    assert abs(ev.mean()) < 4 * g / N


# ------------------------------------------------------------------ Rajan-Abbott
@pytest.mark.parametrize("sigma_E,sigma_I", [(1.0, 1.0), (0.5, 1.5)])
def test_rajan_abbott_radius_with_balanced_rows(sigma_E, sigma_I):
    N, f, mu_E = 1000, 0.8, 3.0
    c = dale_matrix(N, f=f, mu_E=mu_E, sigma_E=sigma_E, sigma_I=sigma_I, balanced_rows=True,
                    seed=0)
    # Rajan & Abbott (2006): with the row constraint the spectrum is a disc of radius
    # r = sqrt(f sigma_E^2 + (1 - f) sigma_I^2), whatever the means.
    r = np.sqrt(f * sigma_E**2 + (1 - f) * sigma_I**2)
    ev = linalg.eigvals(c.matrix)
    # Tolerance: Rider's finite-N edge (1.7% at N = 1000) plus 3% edge fluctuations. The
    # naive radius f sigma_E + (1-f) sigma_I (0.70 for the unequal case) is 13% off: excluded.
    assert np.abs(ev).max() == pytest.approx(r * _edge_of_ginibre(N), rel=0.03)
    # Dale's law holds in the means: E columns mean +mu_E/sqrt(N), I columns mu_I/sqrt(N).
    exc = c.parts["excitatory"]
    assert exc.sum() == 800
    np.testing.assert_allclose(c.matrix[:, exc].mean(), mu_E / np.sqrt(N), rtol=0.05)
    mu_I = -f * mu_E / (1 - f)
    np.testing.assert_allclose(c.matrix[:, ~exc].mean(), mu_I / np.sqrt(N), rtol=0.05)
    # The row constraint: the random part sums to zero on every row.
    np.testing.assert_allclose(c.parts["random"].sum(axis=1), 0.0, atol=1e-12)


def test_rajan_abbott_outliers_without_row_balance():
    # Without the constraint, balanced means alone do not confine the spectrum: Rajan &
    # Abbott's figure shows eigenvalues escaping the circle for large mu_E.
    N, f = 1000, 0.8
    r = 1.0
    free = linalg.eigvals(dale_matrix(N, f=f, mu_E=10.0, balanced_rows=False, seed=0).matrix)
    tied = linalg.eigvals(dale_matrix(N, f=f, mu_E=10.0, balanced_rows=True, seed=0).matrix)
    assert np.sum(np.abs(free) > 1.3 * r) >= 1
    assert np.abs(tied).max() < 1.05 * r


# ------------------------------------------------------------------ low-rank outlier
def test_low_rank_outlier_at_n_dot_m_over_N():
    N, g = 1000, 0.5
    c = low_rank_matrix(N, g=g, M_m=1.0, M_n=1.5, Sigma_m=1.0, Sigma_n=1.0, rho=0.3, seed=0)
    m, n = c.parts["m"], c.parts["n"]
    lam_pred = n @ m / N                       # Mastrogiuseppe & Ostojic (2018)
    ev = linalg.eigvals(c.matrix)
    outlier = ev[np.argmax(np.abs(ev))]
    # First-order perturbation: lambda = n^T m/N + g n^T chi m / (lambda N); that term has
    # sd g |n| |m| / (|lambda| N^1.5). Tolerance 4 sd (~0.09 here).
    sd = g * np.linalg.norm(n) * np.linalg.norm(m) / (abs(lam_pred) * N**1.5)
    assert abs(outlier.imag) < 1e-9
    assert abs(outlier.real - lam_pred) < 4 * sd
    # The population value M_m M_n + rho Sigma_m Sigma_n = 1.8 to sampling error of n.m/N.
    assert lam_pred == pytest.approx(1.8, abs=4 * np.sqrt(5.0 / N))
    # The bulk keeps radius g (Girko): every other eigenvalue inside g * edge * 1.03.
    rest = np.delete(ev, np.argmax(np.abs(ev)))
    assert np.abs(rest).max() < g * _edge_of_ginibre(N) * 1.03


def test_low_rank_without_random_part_has_exact_eigenvalues():
    rng = np.random.default_rng(7)
    N, R = 200, 2
    m, n = rng.standard_normal((N, R)), rng.standard_normal((N, R)) + 1.0
    c = low_rank_matrix(N, g=0.0, m=m, n=n)
    want = linalg.eigvals(n.T @ m / N)
    got = linalg.eigvals(c.matrix)
    got = got[np.argsort(-np.abs(got))][:R]
    np.testing.assert_allclose(np.sort_complex(got), np.sort_complex(want), rtol=1e-9, atol=1e-12)
    assert np.linalg.matrix_rank(c.matrix) == R


# ------------------------------------------------------------------ random-mode networks
def test_random_mode_orthonormal_has_prescribed_singular_values():
    d = np.linspace(2.0, 0.1, 40)
    c = random_mode_matrix(300, d, seed=0, orthonormal=True)
    sv = linalg.svdvals(c.matrix)
    np.testing.assert_allclose(sv[:40], d, rtol=1e-10)
    assert sv[40] < 1e-10
    U, V = c.parts["U"], c.parts["V"]
    np.testing.assert_allclose(U.T @ U, np.eye(40), atol=1e-12)
    np.testing.assert_allclose(V.T @ V, np.eye(40), atol=1e-12)


def test_random_mode_gaussian_modes_eigenvalues_and_norm():
    # Clark et al. (2024): U, V ~ N(0, 1/N). Non-zero eigenvalues of U D V^T are those of
    # D V^T U; E ||J||_F^2 = sum_a d_a^2 E|u_a|^2 |v_a|^2 = sum_a d_a^2.
    N, P = 400, 20
    d = np.random.default_rng(1).uniform(0.5, 1.5, P)
    c = random_mode_matrix(N, d, seed=3)
    U, V = c.parts["U"], c.parts["V"]
    small = linalg.eigvals(np.diag(d) @ V.T @ U)
    big = linalg.eigvals(c.matrix)
    big = big[np.argsort(-np.abs(big))][:P]
    np.testing.assert_allclose(np.sort_complex(big), np.sort_complex(small), atol=1e-9)
    # ||J||_F^2 = sum_a d_a^2 |u_a|^2 |v_a|^2 + cross terms; relative sd ~ 2 sqrt(2/N) per
    # mode averaged over 20 modes, plus cross terms O(1/sqrt(N)): tolerance 15%.
    assert np.sum(c.matrix**2) == pytest.approx(np.sum(d**2), rel=0.15)


# ------------------------------------------------------------------ second-order motifs
ALPHAS = {"alpha_recip": 0.5, "alpha_conv": 0.3, "alpha_div": 0.3, "alpha_chain": 0.2}


def test_motif_statistics_measured_match_prescribed():
    # Averaged over 4 seeds at N = 1000, p = 0.1. Seed-to-seed sd of each measured alpha is
    # ~0.03 (shared node factors make it larger than independent-edge sampling), so the
    # mean has sd ~0.015: tolerance 0.06 (4 sd). p itself: sd ~0.003 per seed.
    N, p = 1000, 0.1
    stats = [A.motif_statistics(motif_adjacency(N, p, seed=s, **ALPHAS).matrix) for s in range(4)]
    assert np.mean([s.p for s in stats]) == pytest.approx(p, abs=0.006)
    for name, key in (("alpha_recip", "reciprocal"), ("alpha_conv", "convergent"),
                      ("alpha_div", "divergent"), ("alpha_chain", "chain")):
        assert np.mean([getattr(s, key) for s in stats]) == pytest.approx(ALPHAS[name], abs=0.06), name
    # Independent edges (all alphas 0) measure 0: Erdos-Renyi control.
    er = A.motif_statistics(motif_adjacency(N, p, seed=9).matrix)
    for key in ("reciprocal", "convergent", "divergent", "chain"):
        assert abs(getattr(er, key)) < 0.05, key


@pytest.mark.parametrize("alpha_chain", [0.0, 0.2])
def test_chain_motifs_move_the_perron_outlier(alpha_chain):
    # Mean-field largest eigenvalue of a directed graph (Restrepo, Ott & Hunt 2007):
    # lambda ~ <d_in d_out> / <d>. With second-order motifs (Zhao et al. 2011):
    # <d_in d_out> = (N-1) p^2 [(1 + alpha_recip) + (N-2)(1 + alpha_chain)], <d> = (N-1) p,
    # so lambda ~ p [(1 + alpha_recip) + (N - 2)(1 + alpha_chain)] ~ N p (1 + alpha_chain).
    N = 1500
    alphas = dict(ALPHAS, alpha_chain=alpha_chain)
    c = motif_adjacency(N, 0.1, seed=0, **alphas)
    p = c.matrix.sum() / (N * (N - 1))   # the realised p (sd 2.5% from the node factors)
    lam_pred = p * ((1 + alphas["alpha_recip"]) + (N - 2) * (1 + alpha_chain))
    ev = linalg.eigvals(c.matrix)
    lam = ev[np.argmax(ev.real)].real
    # Tolerance 4%: the realised alpha_chain has sd ~0.015 (-> 1.5% on lambda) and the
    # mean-field formula neglects O(bulk^2 / lambda^2) terms; measured over 4 seeds: <= 1.8%.
    assert lam == pytest.approx(lam_pred, rel=0.04)
    # The chain-free prediction N p would be 20% off when alpha_chain = 0.2.
    if alpha_chain:
        assert lam > 1.12 * N * p


def test_ei_motif_matrix_obeys_dale_and_motif_feasibility():
    c = ei_motif_matrix(400, 100, 0.1, J_E=0.2, J_I=0.8, seed=1, **ALPHAS)
    W, exc = c.matrix, c.parts["excitatory"]
    assert np.all(W[:, exc] >= 0) and np.all(W[:, ~exc] <= 0)
    np.testing.assert_array_equal(W != 0, c.parts["adjacency"] != 0)
    assert set(np.unique(W[:, exc])) <= {0.0, 0.2} and set(np.unique(W[:, ~exc])) <= {0.0, -0.8}
    with pytest.raises(InputError, match="chain"):
        motif_adjacency(200, 0.1, alpha_chain=0.3, seed=0)   # chain needs conv and div
    with pytest.raises(InputError, match=r"p\^2\(1\+alpha\)"):
        motif_adjacency(200, 0.1, alpha_recip=20.0, seed=0)   # P(both) > p


# ------------------------------------------------------------------ structural generators
def test_brunel2000_fixed_in_degree():
    c = brunel2000_connectivity(N_E=800, gamma=0.25, epsilon=0.1, J=0.2e-3, g=5.0, seed=0)
    W, P = c.matrix, c.params
    assert (P.N_E, P.N_I, P.C_E, P.C_I) == (800, 200, 80, 20)
    exc = c.parts["excitatory"]
    np.testing.assert_array_equal((W[:, exc] == 0.2e-3).sum(axis=1), 80)
    np.testing.assert_array_equal((W[:, ~exc] == -1e-3).sum(axis=1), 20)
    assert np.count_nonzero(W) == 1000 * 100
    assert np.all(np.diag(W) == 0)
    # Mean input per neuron: C_E J (1 - gamma g) (Brunel 2000, mu = C_E J tau nu (1 - g gamma)).
    np.testing.assert_allclose(W.sum(axis=1), 80 * 0.2e-3 * (1 - 0.25 * 5.0), rtol=1e-12)


def test_hopfield_weights_are_hebbian():
    c = hopfield_weights(100, 5, seed=0)
    xi = c.parts["patterns"]
    want = sum(np.outer(x, x) for x in xi) / 100
    np.fill_diagonal(want, 0)
    np.testing.assert_allclose(c.matrix, want, atol=1e-15)
    assert c.params.alpha == 0.05


def test_izhikevich_connectivity_matches_the_paper_ranges():
    c = izhikevich_connectivity(seed=0)
    S, exc = c.matrix, c.parts["excitatory"]
    assert S.shape == (1000, 1000) and exc.sum() == 800
    assert S[:, exc].min() >= 0 and S[:, exc].max() <= 0.5
    assert S[:, ~exc].min() >= -1 and S[:, ~exc].max() <= 0
    assert np.all(c.parts["a"][exc] == 0.02) and np.all(c.parts["d"][~exc] == 2.0)
    assert c.parts["c"][exc].min() >= -65 and c.parts["c"][exc].max() <= -50
