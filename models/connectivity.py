"""Seeded connectivity generators from recurrent-network theory, and graph builders.

Every generator returns a :class:`Connectivity`: the matrix ``W`` (``W[i, j]`` = weight
from presynaptic ``j`` to postsynaptic ``i``, the ``(out, in)`` layout of NIR's
``Linear``), the parameters as a frozen dataclass named as in the paper, and the named
ingredients (``parts``: patterns, vectors, masks). All randomness comes from
``numpy.random.default_rng(seed)``: a seed names one matrix exactly.

Graph builders at the end use existing NIR primitives only (Input, Affine, Threshold,
LIF, Output); models needing the extension primitives (rate units, refractoriness,
Izhikevich neurons) get their matrices here and their graphs elsewhere.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import nir
import numpy as np

from ..errors import InputError
from ..graph import Edge, Graph
from ..semantics import Semantics

__all__ = [
    "Brunel2000Params", "Connectivity", "DaleParams", "HopfieldParams", "IzhikevichParams",
    "LowRankParams", "MotifParams", "RandomModeParams", "SCSParams",
    "brunel2000_connectivity", "dale_matrix", "ei_motif_matrix", "hopfield_network",
    "hopfield_weights", "izhikevich_connectivity", "lif_population", "low_rank_matrix",
    "motif_adjacency", "random_mode_matrix", "scs_matrix", "white_noise_current",
]


@dataclass(frozen=True)
class Connectivity:
    """A generated matrix with its parameters and named ingredients."""

    matrix: np.ndarray
    params: Any
    parts: Mapping[str, np.ndarray] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.matrix.shape[0])


def positive(name: str, value: float) -> float:
    """``value`` as a float; raises :class:`InputError` (naming ``name``) unless it is
    positive and finite."""
    v = float(value)
    if not math.isfinite(v) or v <= 0:
        raise InputError(f"{name}={value!r}: expected a positive finite number")
    return v


def positive_int(name: str, value: Any, minimum: int = 1) -> int:
    """``value`` as an int; raises :class:`InputError` (naming ``name``) unless it is an
    integer (not a bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InputError(f"{name}={value!r}: expected an integer >= {minimum}")
    return int(value)


def _unit_interval(name: str, value: float, closed: bool = False) -> float:
    ok = 0.0 <= value <= 1.0 if closed else 0.0 < value < 1.0
    if not ok:
        raise InputError(f"{name}={value!r}: expected a number in {'[0, 1]' if closed else '(0, 1)'}")
    return float(value)


# ================================================================ Sompolinsky-Crisanti-Sommers
@dataclass(frozen=True)
class SCSParams:
    """Sompolinsky, Crisanti & Sommers (1988): ``J_ij ~ N(0, g^2 / N)``."""

    N: int
    g: float
    seed: int | None
    zero_diagonal: bool = False


def scs_matrix(N: int, g: float, seed: int | None = 0, zero_diagonal: bool = False) -> Connectivity:
    """Random coupling matrix of the chaotic rate network ``dx/dt = -x + J tanh(x)``.

    ``J_ij = g * X_ij / sqrt(N)``, ``X_ij ~ N(0, 1)`` i.i.d. (diagonal set to 0 if
    ``zero_diagonal``). Its eigenvalues fill the disc of radius ``g`` as ``N -> inf``
    (Girko's circular law); the network is chaotic for ``g > 1``.
    """
    N = positive_int("N", N)
    J = g * np.random.default_rng(seed).standard_normal((N, N)) / np.sqrt(N)
    if zero_diagonal:
        np.fill_diagonal(J, 0.0)
    return Connectivity(J, SCSParams(N, float(g), seed, zero_diagonal))


# ================================================================ random-mode networks
@dataclass(frozen=True)
class RandomModeParams:
    """Clark, Marschall, van Meegen & Litwin-Kumar (2024): ``J = U diag(d) V^T``."""

    N: int
    P: int
    d: tuple[float, ...]
    orthonormal: bool
    seed: int | None


def random_mode_matrix(N: int, d: np.ndarray, seed: int | None = 0,
                       orthonormal: bool = False) -> Connectivity:
    """Random-mode connectivity ``J = sum_a d_a u_a v_a^T = U diag(d) V^T`` (``U, V``: N x P).

    ``orthonormal=False`` (the random-mode model): ``U_ia, V_ia ~ N(0, 1/N)`` i.i.d.,
    independent, so ``|u_a| ~ |v_a| ~ 1`` and modes are nearly orthogonal for ``P << N``.
    ``orthonormal=True``: ``U`` and ``V`` have exactly orthonormal columns (Q factors of
    Gaussian matrices, sign-fixed), so the singular values of ``J`` are exactly ``|d_a|``
    (the prescribed mode-strength spectrum). In both cases the non-zero eigenvalues of
    ``J`` are those of the P x P matrix ``diag(d) V^T U``.
    """
    N = positive_int("N", N)
    d = np.asarray(d, dtype=np.float64).ravel()
    P = d.size
    if not 1 <= P <= N:
        raise InputError(f"d has {P} mode strengths: expected 1..N={N}")
    rng = np.random.default_rng(seed)
    U = rng.standard_normal((N, P)) / np.sqrt(N)
    V = rng.standard_normal((N, P)) / np.sqrt(N)
    if orthonormal:
        U, V = _orthonormal_columns(U), _orthonormal_columns(V)
    J = (U * d) @ V.T
    return Connectivity(J, RandomModeParams(N, P, tuple(d.tolist()), orthonormal, seed),
                        {"U": U, "V": V, "d": d})


def _orthonormal_columns(A: np.ndarray) -> np.ndarray:
    q, r = np.linalg.qr(A)
    return q * np.where(np.diag(r) < 0, -1.0, 1.0)  # sign fix: Haar-distributed columns


# ================================================================ low-rank networks
@dataclass(frozen=True)
class LowRankParams:
    """Mastrogiuseppe & Ostojic (2018): ``J = g chi + m n^T / N``."""

    N: int
    g: float
    rank: int
    M_m: float
    M_n: float
    Sigma_m: float
    Sigma_n: float
    rho: float
    seed: int | None


def low_rank_matrix(N: int, g: float = 0.0, m: np.ndarray | None = None,
                    n: np.ndarray | None = None, M_m: float = 0.0, M_n: float = 0.0,
                    Sigma_m: float = 1.0, Sigma_n: float = 1.0, rho: float = 0.0,
                    seed: int | None = 0) -> Connectivity:
    """Low-rank plus random connectivity ``J = g chi + m n^T / N`` (rank-R: ``M N^T / N``).

    ``chi_ij ~ N(0, 1/N)`` i.i.d. If ``m``, ``n`` are not given they are drawn per
    neuron as ``m_i = M_m + Sigma_m x_i``, ``n_i = M_n + Sigma_n (rho x_i + sqrt(1-rho^2) y_i)``
    with ``x, y ~ N(0, 1)`` (rank one; ``rho`` is the correlation of m and n). Given
    ``m``, ``n`` may be ``(N,)`` or ``(N, R)``. The structured part has the non-zero
    eigenvalues of the R x R matrix ``n^T m / N``; for rank one the outlier sits at
    ``lambda = n^T m / N`` (``-> M_m M_n + rho Sigma_m Sigma_n``), outside the bulk of
    radius ``g`` when ``|lambda| > g``.
    """
    N = positive_int("N", N)
    if not -1.0 <= rho <= 1.0:
        raise InputError(f"rho={rho!r}: expected a correlation in [-1, 1]")
    rng = np.random.default_rng(seed)
    chi = rng.standard_normal((N, N)) / np.sqrt(N)
    if (m is None) != (n is None):
        raise InputError("give both m and n, or neither (then they are drawn)")
    if m is None:
        x, y = rng.standard_normal(N), rng.standard_normal(N)
        m = M_m + Sigma_m * x
        n = M_n + Sigma_n * (rho * x + np.sqrt(1.0 - rho * rho) * y)
    m2 = np.asarray(m, dtype=np.float64).reshape(N, -1)
    n2 = np.asarray(n, dtype=np.float64).reshape(N, -1)
    if m2.shape != n2.shape:
        raise InputError(f"m {m2.shape} and n {n2.shape} must have the same shape (N, R)")
    J = g * chi + m2 @ n2.T / N
    params = LowRankParams(N, float(g), m2.shape[1], M_m, M_n, Sigma_m, Sigma_n, rho, seed)
    return Connectivity(J, params, {"m": m2.squeeze(), "n": n2.squeeze(), "chi": chi})


# ================================================================ Dale's law (Rajan-Abbott)
@dataclass(frozen=True)
class DaleParams:
    """Rajan & Abbott (2006): E columns ``N(mu_E, sigma_E^2)/sqrt(N)``, I columns likewise."""

    N: int
    f: float
    mu_E: float
    mu_I: float
    sigma_E: float
    sigma_I: float
    balanced_rows: bool
    seed: int | None


def dale_matrix(N: int, f: float = 0.8, mu_E: float = 1.0, mu_I: float | None = None,
                sigma_E: float = 1.0, sigma_I: float = 1.0, balanced_rows: bool = False,
                seed: int | None = 0) -> Connectivity:
    """E/I matrix with excitatory and inhibitory columns (Rajan & Abbott 2006).

    The first ``N_E = round(f N)`` columns are excitatory. ``J = M + X`` with the mean
    ``M_ij = mu_j / sqrt(N)`` (``mu_E`` for E columns, ``mu_I`` for I columns; default
    ``mu_I = -f mu_E / (1-f)``, the balance ``f mu_E + (1-f) mu_I = 0``) and the random
    part ``X_ij = sigma_j Z_ij / sqrt(N)``, ``Z ~ N(0, 1)``. ``balanced_rows=True`` applies
    Rajan–Abbott's constraint that the random input to each neuron sums to zero:
    ``X <- X - (X 1) 1^T / N`` (``sum_j X_ij = 0`` for every row i). The bulk radius is
    ``sqrt(f sigma_E^2 + (1-f) sigma_I^2)``. Entries are not sign-constrained here: with
    ``sigma_j > mu_j`` a few E entries are negative, as in the paper.
    """
    N = positive_int("N", N, 2)
    f = _unit_interval("f", f)
    n_e = int(round(f * N))
    if not 0 < n_e < N:
        raise InputError(f"f={f!r} with N={N} gives {n_e} excitatory neurons: need 1..N-1")
    if mu_I is None:
        mu_I = -f * mu_E / (1.0 - f)
    rng = np.random.default_rng(seed)
    mu = np.where(np.arange(N) < n_e, mu_E, mu_I)
    sigma = np.where(np.arange(N) < n_e, sigma_E, sigma_I)
    X = rng.standard_normal((N, N)) * sigma / np.sqrt(N)
    if balanced_rows:
        X = X - X.mean(axis=1, keepdims=True)
    J = X + mu / np.sqrt(N)
    exc = np.arange(N) < n_e
    params = DaleParams(N, f, float(mu_E), float(mu_I), float(sigma_E), float(sigma_I),
                        balanced_rows, seed)
    return Connectivity(J, params, {"excitatory": exc, "random": X})


# ================================================================ second-order motifs (SONETs)
@dataclass(frozen=True)
class MotifParams:
    """Prescribed second-order motif statistics (Zhao et al. 2011; Shao et al. 2024)."""

    N: int
    p: float
    alpha_recip: float
    alpha_conv: float
    alpha_div: float
    alpha_chain: float
    seed: int | None
    gaussian_correlations: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)


def _joint_exceedance(rho: float, theta: float) -> float:
    """P(Z1 > theta, Z2 > theta) for standard bivariate normals with correlation rho."""
    from scipy import integrate, special

    if rho >= 1.0:
        return float(special.ndtr(-theta))
    s = np.sqrt(1.0 - rho * rho)
    val, _ = integrate.quad(
        lambda z: np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi) * special.ndtr((rho * z - theta) / s),
        theta, np.inf, epsabs=1e-13, epsrel=1e-11)
    return float(val)


def _gaussian_correlation(alpha: float, p: float) -> float:
    """The correlation rho of two thresholded Gaussians whose 0/1 indicators (each with
    probability p) have ``P(both) = p^2 (1 + alpha)``."""
    from scipy import optimize, special

    theta = float(special.ndtri(1.0 - p))
    target = p * p * (1.0 + alpha)
    lo, hi = _joint_exceedance(-1 + 1e-12, theta), p
    if not lo - 1e-12 <= target <= hi:
        raise InputError(f"alpha={alpha!r} with p={p!r}: P(both edges) = p^2(1+alpha) = {target:.4g} "
                         f"must lie in [{max(lo, 0):.4g}, {hi:.4g}]")
    if alpha == 0:
        return 0.0
    return float(optimize.brentq(lambda r: _joint_exceedance(r, theta) - target, -1 + 1e-12,
                                 1 - 1e-12, xtol=1e-12))


def motif_adjacency(N: int, p: float, alpha_recip: float = 0.0, alpha_conv: float = 0.0,
                    alpha_div: float = 0.0, alpha_chain: float = 0.0,
                    seed: int | None = 0) -> Connectivity:
    """0/1 adjacency with prescribed second-order motif statistics (SONETs-style).

    ``A_ij = 1[Z_ij > theta]`` (no self-connections), ``theta = Phi^{-1}(1 - p)``, where
    the Gaussian field is::

        Z_ij = a U_i + b V_j + s S_ij,     a^2 + b^2 + s^2 = 1

    with per-neuron factors ``(U_k, V_k)`` standard normal with correlation ``r`` and
    pair terms ``(S_ij, S_ji)`` standard normal with correlation ``kappa``. Pairs of edges
    sharing a neuron then have Gaussian correlations ``rho_conv = a^2`` (same target),
    ``rho_div = b^2`` (same source), ``rho_chain = a b r`` (k->j->i) and
    ``rho_recip = 2 a b r + s^2 kappa``. Each ``rho_x`` is solved (scipy) from
    ``P(Z1 > theta, Z2 > theta; rho_x) = p^2 (1 + alpha_x)``, so every motif frequency
    has its prescribed expectation exactly: ``E[A_e1 A_e2] = p^2 (1 + alpha_x)``.
    Feasible when ``rho_conv, rho_div >= 0``, ``rho_conv + rho_div <= 1``,
    ``rho_chain^2 <= rho_conv rho_div`` and ``|rho_recip - 2 rho_chain| <= s^2``;
    otherwise an :class:`~spikecore.errors.InputError` names the violated condition.
    """
    N = positive_int("N", N, 3)
    p = _unit_interval("p", p)
    rho = {k: _gaussian_correlation(v, p) for k, v in
           (("recip", alpha_recip), ("conv", alpha_conv), ("div", alpha_div),
            ("chain", alpha_chain))}
    problems = []
    if rho["conv"] < 0 or rho["div"] < 0:
        problems.append(f"alpha_conv={alpha_conv}, alpha_div={alpha_div}: this construction "
                        "needs alpha_conv >= 0 and alpha_div >= 0")
    a2, b2 = max(rho["conv"], 0.0), max(rho["div"], 0.0)
    s2 = 1.0 - a2 - b2
    if s2 < 0:
        problems.append(f"alpha_conv + alpha_div too large (Gaussian correlations {a2:.3f} + "
                        f"{b2:.3f} > 1)")
    if rho["chain"] != 0 and (a2 * b2 == 0 or rho["chain"] ** 2 > a2 * b2 * (1 + 1e-12)):
        problems.append(f"alpha_chain={alpha_chain}: needs chain correlation^2 <= conv * div "
                        f"correlations ({rho['chain']:.3f}^2 > {a2:.3f} * {b2:.3f}); raise "
                        "alpha_conv and alpha_div")
    kappa_num = rho["recip"] - 2.0 * rho["chain"]
    if s2 > 0 and abs(kappa_num) > s2 * (1 + 1e-12):
        problems.append(f"alpha_recip={alpha_recip}: reciprocal correlation {rho['recip']:.3f} "
                        f"minus twice the chain correlation must lie within +-{s2:.3f}")
    if problems:
        raise InputError("motif statistics not realisable:\n" + "\n".join(f"  - {q}" for q in problems))
    a, b, s = np.sqrt(a2), np.sqrt(b2), np.sqrt(max(s2, 0.0))
    r = rho["chain"] / (a * b) if a * b > 0 else 0.0
    kappa = kappa_num / s2 if s2 > 0 else 0.0
    rng = np.random.default_rng(seed)
    U = rng.standard_normal(N)
    V = r * U + np.sqrt(max(1.0 - r * r, 0.0)) * rng.standard_normal(N)
    # Symmetric-pair noise: S = c1 (G + G^T)/sqrt(2) + c2 (H - H^T)/sqrt(2), off-diagonal
    # unit variance and corr(S_ij, S_ji) = c1^2 - c2^2 = kappa.
    G, H = rng.standard_normal((N, N)), rng.standard_normal((N, N))
    c1, c2 = np.sqrt((1.0 + kappa) / 2.0), np.sqrt((1.0 - kappa) / 2.0)
    S = (c1 * (G + G.T) + c2 * (H - H.T)) / np.sqrt(2.0)
    Z = a * U[:, None] + b * V[None, :] + s * S
    from scipy import special

    A = (Z > special.ndtri(1.0 - p)).astype(np.float64)
    np.fill_diagonal(A, 0.0)
    params = MotifParams(N, p, alpha_recip, alpha_conv, alpha_div, alpha_chain, seed,
                         (rho["recip"], rho["conv"], rho["div"], rho["chain"]))
    return Connectivity(A, params, {"U": U, "V": V})


def ei_motif_matrix(N_E: int, N_I: int, p: float, J_E: float, J_I: float,
                    alpha_recip: float = 0.0, alpha_conv: float = 0.0, alpha_div: float = 0.0,
                    alpha_chain: float = 0.0, seed: int | None = 0) -> Connectivity:
    """E/I weight matrix with prescribed motif statistics of its adjacency.

    ``W = A * w_j`` with ``A`` from :func:`motif_adjacency` over all ``N_E + N_I``
    neurons (homogeneous motif statistics across cell types) and column weights
    ``w_j = J_E`` for the first ``N_E`` (excitatory) columns and ``-J_I`` for the
    inhibitory ones (Dale's law), as in the E/I networks of Shao et al. (2024).
    """
    N_E, N_I = positive_int("N_E", N_E), positive_int("N_I", N_I)
    adj = motif_adjacency(N_E + N_I, p, alpha_recip, alpha_conv, alpha_div, alpha_chain, seed)
    exc = np.arange(N_E + N_I) < N_E
    W = adj.matrix * np.where(exc, J_E, -J_I)
    return Connectivity(W, adj.params, {"adjacency": adj.matrix, "excitatory": exc})


# ================================================================ Hopfield
@dataclass(frozen=True)
class HopfieldParams:
    """Hopfield (1982) / Amit, Gutfreund & Sompolinsky (1985): P random patterns, N units."""

    N: int
    P: int
    seed: int | None

    @property
    def alpha(self) -> float:
        """Load ``P / N`` (capacity ``alpha_c ~ 0.138``)."""
        return self.P / self.N


def hopfield_weights(N: int, P: int, seed: int | None = 0,
                     patterns: np.ndarray | None = None) -> Connectivity:
    """Hebbian weights ``W_ij = (1/N) sum_mu xi^mu_i xi^mu_j``, ``W_ii = 0``.

    Patterns ``xi^mu in {-1, +1}^N`` are i.i.d. with probability 1/2 (``patterns[mu]``,
    shape ``(P, N)``), or given.
    """
    if patterns is None:
        N, P = positive_int("N", N), positive_int("P", P)
        patterns = np.where(np.random.default_rng(seed).random((P, N)) < 0.5, -1.0, 1.0)
    patterns = np.asarray(patterns, dtype=np.float64)
    if patterns.ndim != 2 or not np.all(np.isin(patterns, (-1.0, 1.0))):
        raise InputError(f"patterns of shape {patterns.shape}: expected (P, N) of -1/+1")
    P, N = patterns.shape
    W = patterns.T @ patterns / N
    np.fill_diagonal(W, 0.0)
    return Connectivity(W, HopfieldParams(N, P, seed), {"patterns": patterns})


# ================================================================ Brunel 2000
@dataclass(frozen=True)
class Brunel2000Params:
    """Brunel (2000), model A: fixed in-degree ``C_E = epsilon N_E``, ``C_I = epsilon N_I``."""

    N_E: int
    N_I: int
    epsilon: float
    J: float
    g: float
    D: float
    C_E: int
    C_I: int
    seed: int | None


def brunel2000_connectivity(N_E: int = 10000, gamma: float = 0.25, epsilon: float = 0.1,
                            J: float = 0.1e-3, g: float = 5.0, D: float = 1.5e-3,
                            seed: int | None = 0, autapses: bool = False,
                            sparse: bool = False) -> Connectivity:
    """Sparse E/I connectivity of Brunel (2000) with fixed in-degree.

    ``N_I = round(gamma N_E)``; every neuron receives exactly ``C_E = round(epsilon N_E)``
    excitatory and ``C_I = round(epsilon N_I)`` inhibitory inputs, presynaptic partners
    drawn without replacement (no self-connection unless ``autapses``). Weights (jumps of
    the membrane potential, in volts): ``+J`` from E, ``-g J`` from I. Neurons ``0..N_E-1``
    are excitatory. All synapses have the delay ``D`` (seconds; ``parts['delay']``).

    ``sparse=True``: ``matrix`` is a ``scipy.sparse.csr_array`` (row ``i``: the
    ``C_E + C_I`` partners of neuron ``i``, E then I, in drawing order) built without a
    dense ``N x N`` array; the same seed draws the same partners, so it equals the dense
    matrix entry for entry.
    """
    N_E = positive_int("N_E", N_E)
    epsilon = _unit_interval("epsilon", epsilon)
    N_I = positive_int("N_I = round(gamma N_E)", int(round(gamma * N_E)))
    C_E, C_I = int(round(epsilon * N_E)), int(round(epsilon * N_I))
    N = N_E + N_I
    if C_E > N_E - 1 or C_I > N_I - 1:
        raise InputError(f"epsilon={epsilon} too large for N_E={N_E}, N_I={N_I} without autapses")
    rng = np.random.default_rng(seed)
    pools = (np.arange(0, N_E), np.arange(N_E, N))
    # Row i: C_E excitatory then C_I inhibitory partners, drawn in this order for every
    # i (one generator), so the dense and the sparse form share their draws.
    cols = np.empty((N, C_E + C_I), dtype=np.int64)
    for i in range(N):
        for k, (pool, c) in enumerate(zip(pools, (C_E, C_I), strict=True)):
            if not autapses and pool[0] <= i <= pool[-1]:
                pool = np.delete(pool, i - pool[0])
            cols[i, k * C_E:k * C_E + c] = rng.choice(pool, size=c, replace=False)
    w_row = np.concatenate([np.full(C_E, J), np.full(C_I, -g * J)])
    params = Brunel2000Params(N_E, N_I, epsilon, J, g, D, C_E, C_I, seed)
    parts = {"excitatory": np.arange(N) < N_E, "delay": np.array(D)}
    if sparse:
        import scipy.sparse

        indptr = np.arange(N + 1, dtype=np.int64) * (C_E + C_I)
        W = scipy.sparse.csr_array((np.tile(w_row, N), cols.ravel(), indptr), shape=(N, N))
        return Connectivity(W, params, parts)
    W = np.zeros((N, N))
    W[np.arange(N)[:, None], cols] = w_row
    return Connectivity(W, params, parts)


# ================================================================ Izhikevich 2003
@dataclass(frozen=True)
class IzhikevichParams:
    """Izhikevich (2003), "Simple model of spiking neurons": Ne excitatory, Ni inhibitory."""

    Ne: int
    Ni: int
    seed: int | None


def izhikevich_connectivity(Ne: int = 800, Ni: int = 200, seed: int | None = 0) -> Connectivity:
    """The all-to-all network of Izhikevich (2003) with its heterogeneous neuron parameters.

    ``S = [0.5 * U(0,1) (N x Ne), -U(0,1) (N x Ni)]`` (``S[i, j]``: from j to i, in mV
    jumps), and with ``re, ri ~ U(0,1)`` per neuron: excitatory ``a = 0.02, b = 0.2,
    c = -65 + 15 re^2, d = 8 - 6 re^2``; inhibitory ``a = 0.02 + 0.08 ri, b = 0.25 - 0.05 ri,
    c = -65, d = 2`` (``parts``: ``a, b, c, d, excitatory``). The paper's thalamic input is
    ``5 * N(0,1)`` (E) and ``2 * N(0,1)`` (I) per ms.
    """
    Ne, Ni = positive_int("Ne", Ne), positive_int("Ni", Ni)
    rng = np.random.default_rng(seed)
    re, ri = rng.random(Ne), rng.random(Ni)
    N = Ne + Ni
    S = np.hstack([0.5 * rng.random((N, Ne)), -rng.random((N, Ni))])
    parts = {
        "a": np.concatenate([np.full(Ne, 0.02), 0.02 + 0.08 * ri]),
        "b": np.concatenate([np.full(Ne, 0.2), 0.25 - 0.05 * ri]),
        "c": np.concatenate([-65.0 + 15.0 * re**2, np.full(Ni, -65.0)]),
        "d": np.concatenate([8.0 - 6.0 * re**2, np.full(Ni, 2.0)]),
        "excitatory": np.arange(N) < Ne,
    }
    return Connectivity(S, IzhikevichParams(Ne, Ni, seed), parts)


# ================================================================ graph builders
def hopfield_network(weights: Connectivity | np.ndarray, dt: float = 1e-3,
                     semantics: Semantics | None = None) -> Graph:
    """Synchronous Hopfield network of binary units from existing NIR primitives.

    Units are ``Threshold`` nodes with output ``y in {0, 1}``, read as spins
    ``s = 2y - 1``. The recurrent ``Affine`` node computes ``W s = 2 W y - W 1`` (weight
    ``2W``, bias ``-W 1``) and feeds back with a delay of one step, so with the cue
    ``c`` given by the Input in step 0 (and 0 afterwards)::

        y[0] = 1[c > 0],       y[t] = 1[(W s[t-1])_i > 0]    (t >= 1)

    i.e. ``s[t] = sgn(W s[t-1])`` (Little's synchronous dynamics; ties go to -1). The
    cue must be 0 after step 0, and its magnitude in step 0 is irrelevant (only its sign).
    Nodes: ``cue`` (Input) -> ``units`` (Threshold) -> ``recurrent`` (Affine, delay 1) ->
    ``units``; ``units`` -> ``output``.

    Hebbian weights are multiples of ``1/N``; they are stored multiplied by ``N`` (a
    positive factor: same signs) so that the recurrent input is an integer computed
    exactly in floating point, and a tie ``(W s)_i = 0`` gives ``s_i = -1`` on every
    backend instead of depending on summation order. With ``N`` even and ``P`` odd ties
    cannot occur at all (``N (W s)_i`` is then odd).
    """
    W = weights.matrix if isinstance(weights, Connectivity) else np.asarray(weights, float)
    if W.ndim != 2 or W.shape[0] != W.shape[1]:
        raise InputError(f"weights of shape {W.shape}: expected a square (N, N) matrix")
    N = W.shape[0]
    scaled = W * N
    if np.all(np.abs(scaled - np.round(scaled)) < 1e-9):
        W = np.round(scaled)  # exact integer arithmetic; sign dynamics unchanged
    nodes = {
        "cue": nir.Input(input_type=np.array([N])),
        "units": nir.Threshold(threshold=np.zeros(N)),
        "recurrent": nir.Affine(weight=2.0 * W, bias=-W.sum(axis=1)),
        "output": nir.Output(output_type=np.array([N])),
    }
    edges = [Edge("cue", "units"), Edge("units", "recurrent"), Edge("recurrent", "units", 1),
             Edge("units", "output")]
    return Graph(nodes, edges, semantics or Semantics(dt=dt), name="hopfield").validate()


def lif_population(n: int, tau: float = 20e-3, r: float = 1.0, v_threshold: float = 1.0,
                   v_reset: float = 0.0, v_leak: float = 0.0, dt: float = 1e-4,
                   semantics: Semantics | None = None) -> Graph:
    """``n`` uncoupled LIF neurons driven by a current: ``input -> lif -> output``.

    ``tau dv/dt = (v_leak - v) + r I(t)``; spike when ``v > v_threshold``, then
    ``v <- v_reset`` (with ``Semantics.reset='to_value'``). No refractory period.
    """
    n = positive_int("n", n)
    nodes = {
        "input": nir.Input(input_type=np.array([n])),
        "lif": nir.LIF(tau=np.full(n, tau), r=np.full(n, r), v_leak=np.full(n, v_leak),
                       v_threshold=np.full(n, v_threshold), v_reset=np.full(n, v_reset)),
        "output": nir.Output(output_type=np.array([n])),
    }
    edges = [Edge("input", "lif"), Edge("lif", "output")]
    return Graph(nodes, edges, semantics or Semantics(dt=dt), name="lif_population").validate()


def white_noise_current(n: int, steps: int, dt: float, mu: float, sigma: float, tau: float,
                        batch: int = 1, seed: int | None = 0) -> np.ndarray:
    """Seeded discretised white-noise current ``[batch, steps, n]`` for :func:`lif_population`.

    ``I[t] = mu + sigma * sqrt(tau / dt) * xi[t]``, ``xi ~ N(0, 1)`` i.i.d. Held for one
    step (``input_meaning='current'``) under forward Euler it gives the Euler–Maruyama
    scheme of ``tau dv/dt = -v + mu + sigma sqrt(tau) eta(t)`` (``eta`` unit white noise,
    r = 1): ``v += (dt/tau)(mu - v) + sigma sqrt(dt/tau) xi``, so the free membrane has
    mean ``mu`` and variance ``sigma^2 / 2``.
    """
    rng = np.random.default_rng(seed)
    return mu + sigma * np.sqrt(tau / dt) * rng.standard_normal((batch, steps, n))
