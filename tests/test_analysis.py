"""spikecore.analysis against independent brute-force computations and closed forms."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import linalg

from spikecore import Result
from spikecore import analysis as A
from spikecore.errors import InputError


def _result(z: np.ndarray, dt: float) -> Result:
    return Result(spikes={"pop": z.astype(bool)}, dt=dt, backend="test")


# ------------------------------------------------------------------ spike statistics
def test_rates_counts_and_population_rate_by_hand():
    dt = 1e-3
    z = np.zeros((2, 10, 3), dtype=bool)
    z[0, [1, 4, 7], 0] = True          # 3 spikes in 10 ms
    z[0, 9, 2] = True                  # 1 spike
    z[1, :, 1] = True                  # every step
    r = _result(z, dt)
    np.testing.assert_allclose(A.firing_rates(r, "pop"), [[300.0, 0.0, 100.0], [0.0, 1000.0, 0.0]])
    np.testing.assert_allclose(A.spike_counts(r), [[3, 0, 1], [0, 10, 0]])
    # t_start = 5 ms drops steps 0..4: neuron 0 keeps the spike at step 7 (1 spike in 5 ms).
    np.testing.assert_allclose(A.firing_rates(r, t_start=5e-3)[0], [200.0, 0.0, 200.0])
    pop = A.population_rate(r, bin_width=5e-3)  # two bins of 5 steps, 3 neurons
    np.testing.assert_allclose(pop[0], [2 / (3 * 5e-3), 2 / (3 * 5e-3)])
    np.testing.assert_allclose(pop[1], [5 / (3 * 5e-3)] * 2)
    # A raw [steps, n] array with dt gives the same as the Result.
    np.testing.assert_allclose(A.firing_rates(z[0], dt=dt), A.firing_rates(r)[:1])


def test_isi_cv_regular_is_zero_and_by_hand():
    dt = 1e-3
    z = np.zeros((1, 100, 2))
    z[0, ::10, 0] = 1                  # regular: CV 0
    z[0, [0, 10, 30, 60], 1] = 1       # ISIs 10, 20, 30 ms
    cv = A.isi_cv(z, dt=dt)
    isi = np.array([10.0, 20.0, 30.0])
    assert cv[0, 0] == pytest.approx(0.0, abs=1e-12)
    assert cv[0, 1] == pytest.approx(isi.std() / isi.mean(), rel=1e-12)
    few = np.zeros((1, 50, 1))
    few[0, [3, 9], 0] = 1              # one interval < min_intervals=2
    assert np.isnan(A.isi_cv(few, dt=dt)[0, 0])


def test_poisson_train_has_cv_and_fano_near_one():
    # Bernoulli(p) per step approximates a Poisson process: CV^2 = 1 - p, Fano = 1 - p.
    rng = np.random.default_rng(0)
    p = 0.02
    z = rng.random((1, 200_000, 4)) < p
    cv = A.isi_cv(z, dt=1e-3)
    ff = A.fano_factor(z, dt=1e-3, window=0.1)
    # ~4000 intervals / 2000 windows per neuron: relative standard errors ~1.6% / 3.2%;
    # tolerances are about 4 standard errors.
    np.testing.assert_allclose(cv, np.sqrt(1 - p), atol=0.06)
    np.testing.assert_allclose(ff, 1 - p, atol=0.13)


def test_fano_factor_by_hand():
    z = np.zeros((1, 12, 1))
    z[0, [0, 1, 4, 5, 6], 0] = 1       # windows of 4 steps: counts 2, 3, 0
    counts = np.array([2.0, 3.0, 0.0])
    assert A.fano_factor(z, dt=1.0, window=4.0)[0, 0] == pytest.approx(
        counts.var(ddof=1) / counts.mean())


def test_spike_statistics_reject_bad_input():
    r = Result(spikes={"a": np.zeros((1, 5, 2), bool), "b": np.zeros((1, 5, 2), bool)}, dt=1e-3)
    with pytest.raises(InputError, match="pass node"):
        A.firing_rates(r)
    with pytest.raises(InputError, match="no spikes recorded"):
        A.firing_rates(r, "c")
    with pytest.raises(InputError, match="dt"):
        A.firing_rates(np.zeros((5, 2)))
    with pytest.raises(InputError, match="window"):
        A.fano_factor(r, "a")


# ------------------------------------------------------------------ participation ratio
def test_participation_ratio_against_eigenvalues():
    rng = np.random.default_rng(1)
    latent = rng.standard_normal((5000, 3)) * [3.0, 2.0, 1.0]
    x = latent @ rng.standard_normal((3, 40)) + 0.1 * rng.standard_normal((5000, 40))
    lam = linalg.eigvalsh(np.cov(x.T, ddof=0))
    assert A.participation_ratio(x) == pytest.approx(lam.sum() ** 2 / np.sum(lam**2), rel=1e-10)
    # Limits: one direction -> 1; isotropic -> N (to sampling error).
    assert A.participation_ratio(np.outer(rng.standard_normal(1000), np.ones(10))) == pytest.approx(1.0)
    assert A.participation_ratio(rng.standard_normal((200_000, 10))) == pytest.approx(10.0, rel=0.01)
    # [batch, steps, units] is concatenated over the batch.
    b = rng.standard_normal((2, 300, 6))
    assert A.participation_ratio(b) == pytest.approx(A.participation_ratio(b.reshape(600, 6)))


# ------------------------------------------------------------------ connectivity
def _motifs_brute_force(W: np.ndarray) -> dict[str, float]:
    n = W.shape[0]
    off = [(i, j) for i in range(n) for j in range(n) if i != j]
    p = np.mean([W[i, j] for i, j in off])
    recip = np.mean([W[i, j] * W[j, i] for i, j in off])
    triples = [t for t in itertools.permutations(range(n), 3)]
    conv = np.mean([W[i, j] * W[i, k] for i, j, k in triples])     # j -> i <- k
    div = np.mean([W[i, j] * W[k, j] for i, j, k in triples])      # i <- j -> k
    chain = np.mean([W[i, j] * W[j, k] for i, j, k in triples])    # k -> j -> i
    return {"p": p, "reciprocal": recip / p**2 - 1, "convergent": conv / p**2 - 1,
            "divergent": div / p**2 - 1, "chain": chain / p**2 - 1}


@pytest.mark.parametrize("weighted", [False, True])
def test_motif_statistics_match_explicit_enumeration(weighted):
    rng = np.random.default_rng(2)
    W = (rng.random((11, 11)) < 0.4).astype(float)
    if weighted:
        W = W * rng.uniform(0.5, 2.0, W.shape)
    W[3, 3] = 5.0  # the diagonal must be ignored
    got = A.motif_statistics(W)
    want = _motifs_brute_force(np.where(np.eye(11, dtype=bool), 0.0, W))
    for key, value in want.items():
        assert getattr(got, key) == pytest.approx(value, rel=1e-12, abs=1e-12), key


def test_connectivity_spectrum_splits_bulk_and_outlier():
    rng = np.random.default_rng(3)
    n = 200
    W = rng.standard_normal((n, n)) * 0.5 / np.sqrt(n)
    u = np.ones(n) / np.sqrt(n)
    W = W + 3.0 * np.outer(u, u)        # one outlier near 3
    s = A.connectivity_spectrum(W)
    ev = linalg.eigvals(W)
    assert s.spectral_radius == pytest.approx(np.abs(ev).max(), rel=1e-10)
    assert A.spectral_radius(W) == pytest.approx(s.spectral_radius, rel=1e-12)
    # Default radius: sqrt(sum_j Var_i W_ij), the column means (the outlier) excluded.
    assert s.bulk_radius == pytest.approx(np.sqrt(np.sum(W.var(axis=0))), rel=1e-12)
    assert s.bulk_radius == pytest.approx(0.5, rel=0.05)
    assert s.outliers.size == 1 and abs(s.outliers[0] - 3.0) < 0.1
    np.testing.assert_array_equal(np.abs(s.eigenvalues), np.sort(np.abs(ev))[::-1])
    with pytest.raises(InputError, match="square"):
        A.connectivity_spectrum(np.ones((3, 4)))


# ------------------------------------------------------------------ rate networks / Lyapunov
def test_rate_trajectory_is_the_euler_map():
    rng = np.random.default_rng(4)
    J = rng.standard_normal((5, 5))
    x0 = rng.standard_normal(5)
    traj = A.rate_network_trajectory(J, tau=2.0, dt=0.1, steps=3, x0=x0)
    x = x0.copy()
    for t in range(3):
        x = x + 0.05 * (-x + J @ np.tanh(x))
        np.testing.assert_allclose(traj[t + 1], x, rtol=1e-14, atol=1e-14)


def test_lyapunov_linear_network_equals_log_of_map_eigenvalues():
    # phi = identity: the map is linear, x -> ((1-h) I + h J) x, so the exponents are
    # log|eig| / dt of that matrix, sorted (exact up to the finite averaging time).
    # J symmetric: real, distinct eigenvalues (a complex pair shares one modulus and its two
    # QR exponents oscillate around it, converging only in their sum).
    rng = np.random.default_rng(5)
    G = rng.standard_normal((6, 6)) * 0.3
    J = (G + G.T) / 2
    h, dt = 0.1, 0.1
    D = (1 - h) * np.eye(6) + h * J
    mod = np.log(np.abs(linalg.eigvals(D))) / dt
    spec = A.lyapunov_spectrum(J, tau=1.0, dt=dt, steps=20_000, transient=0,
                               phi=lambda x: x, phi_prime=np.ones_like)
    # The QR estimate converges as 1/T (T = steps*dt = 2000): error ~ log(O(1))/T ~ 1e-3.
    np.testing.assert_allclose(spec.exponents, np.sort(mod)[::-1], atol=2e-3)


def test_lyapunov_sum_equals_mean_log_determinant():
    # sum_i lambda_i = <log |det D_t|> / dt along the trajectory (volume contraction),
    # computed here directly from the Jacobians.
    rng = np.random.default_rng(6)
    n, dt, tau, steps, transient = 8, 0.05, 1.0, 400, 100
    J = 2.0 * rng.standard_normal((n, n)) / np.sqrt(n)
    x0 = rng.standard_normal(n)
    spec = A.lyapunov_spectrum(J, tau=tau, dt=dt, steps=steps, transient=transient, x0=x0)
    h = dt / tau
    x = x0.copy()
    for _ in range(transient):
        x = (1 - h) * x + h * J @ np.tanh(x)
    logdet = 0.0
    for _ in range(steps):
        D = (1 - h) * np.eye(n) + h * J * (1 - np.tanh(x) ** 2)[None, :]
        logdet += np.linalg.slogdet(D)[1]
        x = (1 - h) * x + h * J @ np.tanh(x)
    assert spec.exponents.sum() == pytest.approx(logdet / (steps * dt), rel=1e-9)
    assert np.all(np.diff(spec.exponents) <= 0)


def test_lyapunov_rejects_bad_arguments():
    with pytest.raises(InputError, match="phi_prime"):
        A.lyapunov_spectrum(np.eye(3), phi=np.sin)
    with pytest.raises(InputError, match="n_exponents"):
        A.lyapunov_spectrum(np.eye(3), n_exponents=4)
    with pytest.raises(InputError, match="square"):
        A.lyapunov_spectrum(np.ones((2, 3)))


def test_synchrony_chi_by_hand_and_limits():
    # Two neurons, four one-step bins: counts n1 = [1,0,1,0], n2 = [1,1,0,0].
    z = np.array([[1, 1], [0, 1], [1, 0], [0, 0]], dtype=bool)
    pop = np.array([1.0, 0.5, 0.5, 0.0])
    expected = np.sqrt(pop.var() / np.mean([np.var([1, 0, 1, 0]), np.var([1, 1, 0, 0])]))
    assert A.synchrony_chi(z, dt=1e-3)[0] == pytest.approx(expected, rel=1e-15)
    # Identical trains: chi = 1. Independent Bernoulli trains: chi ~ 1/sqrt(N).
    rng = np.random.default_rng(0)
    same = np.repeat(rng.random((2000, 1)) < 0.1, 50, axis=1)
    assert A.synchrony_chi(same, dt=1e-3)[0] == pytest.approx(1.0, rel=1e-12)
    indep = rng.random((4000, 400)) < 0.1
    chi = A.synchrony_chi(indep, dt=1e-3, bin_width=2e-3)[0]
    assert chi == pytest.approx(1 / np.sqrt(400), rel=0.15)
    assert np.isnan(A.synchrony_chi(np.zeros((10, 3), bool), dt=1e-3)[0])
    with pytest.raises(InputError, match="fewer than 2 bins"):
        A.synchrony_chi(indep, dt=1e-3, bin_width=3.0)
