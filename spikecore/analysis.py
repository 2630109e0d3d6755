"""Analysis of spiking activity, rate-network dynamics and connectivity matrices.

Everything works on plain numpy arrays; the spike statistics also accept a
:class:`spikecore.Result` plus a node name. Conventions:

* A spike array is boolean/0-1 ``[batch, steps, *shape]`` (the :class:`~spikecore.Result`
  layout) or ``[steps, *shape]``; neurons are the flattened trailing dimensions. Step ``t``
  covers the time ``[t*dt, (t+1)*dt)``.
* A connectivity matrix ``W`` has ``W[i, j]`` = weight from neuron ``j`` (presynaptic) to
  neuron ``i`` (postsynaptic), as in NIR's ``Linear`` (``(out, in)``).
* Rates are in Hz (spikes per second) when ``dt`` is in seconds; Lyapunov exponents are
  per unit of the time in which ``tau`` and ``dt`` are given.

Every function states its formula in its docstring.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .errors import InputError
from .result import Result

__all__ = [
    "ConnectivitySpectrum", "LyapunovSpectrum", "MotifStatistics", "connectivity_spectrum",
    "fano_factor", "firing_rates", "isi_cv", "lyapunov_spectrum", "motif_statistics",
    "participation_ratio", "population_rate", "rate_network_trajectory", "spectral_radius",
    "spike_counts", "synchrony_chi",
]


# ============================================================================ spike trains
def _spike_array(spikes: Result | np.ndarray, node: str | None, dt: float | None
                 ) -> tuple[np.ndarray, float]:
    """``(z, dt)`` with ``z`` float ``[batch, steps, n]``."""
    if isinstance(spikes, Result):
        if node is None:
            if len(spikes.spikes) != 1:
                raise InputError(f"result holds spikes of {sorted(spikes.spikes)}: pass node=...")
            node = next(iter(spikes.spikes))
        if node not in spikes.spikes:
            raise InputError(f"node {node!r}: no spikes recorded; recorded: {sorted(spikes.spikes)} "
                             "(simulate with record=('spikes',))")
        z, dt = spikes.spikes[node], spikes.dt if dt is None else dt
    else:
        z = np.asarray(spikes)
        if dt is None:
            raise InputError("spike array given without dt: pass dt=<step in seconds>")
        if z.ndim < 2:
            raise InputError(f"spike array of shape {z.shape}: expected [batch, steps, *shape] "
                             "or [steps, n]")
        if z.ndim == 2:
            z = z[None]
    if not dt or dt <= 0:
        raise InputError(f"dt={dt!r}: expected a positive step in seconds")
    z = np.asarray(z, dtype=np.float64)
    return z.reshape(z.shape[0], z.shape[1], -1), float(dt)


def spike_counts(spikes: Result | np.ndarray, node: str | None = None, dt: float | None = None,
                 t_start: float = 0.0) -> np.ndarray:
    """Spike count per neuron ``[batch, n]`` over steps with ``t*dt >= t_start``."""
    z, dt = _spike_array(spikes, node, dt)
    first = int(np.ceil(t_start / dt - 1e-9))
    return z[:, first:].sum(axis=1)


def firing_rates(spikes: Result | np.ndarray, node: str | None = None, dt: float | None = None,
                 t_start: float = 0.0) -> np.ndarray:
    """Time-averaged rate per neuron ``[batch, n]`` in Hz.

    ``nu_j = n_j / T`` with ``n_j`` the number of spikes of neuron ``j`` in the steps
    ``t >= t_start/dt`` and ``T = (steps - first step) * dt`` the analysed duration.
    """
    z, dt = _spike_array(spikes, node, dt)
    first = int(np.ceil(t_start / dt - 1e-9))
    duration = (z.shape[1] - first) * dt
    if duration <= 0:
        raise InputError(f"t_start={t_start!r} leaves no steps to analyse ({z.shape[1]} steps)")
    return z[:, first:].sum(axis=1) / duration


def population_rate(spikes: Result | np.ndarray, node: str | None = None,
                    dt: float | None = None, bin_width: float | None = None) -> np.ndarray:
    """Population rate ``[batch, bins]`` in Hz.

    ``r(k) = (1 / (N * Δ)) * sum_j (spikes of neuron j in bin k)`` with ``N`` neurons and
    bin width ``Δ = m * dt``, ``m = round(bin_width / dt)`` steps (default: one step). A
    trailing partial bin is dropped.
    """
    z, dt = _spike_array(spikes, node, dt)
    m = 1 if bin_width is None else max(1, int(round(bin_width / dt)))
    bins = z.shape[1] // m
    if bins < 1:
        raise InputError(f"bin_width={bin_width!r} is longer than the recording ({z.shape[1]} steps)")
    per_step = z[:, : bins * m].sum(axis=2)  # [batch, steps]
    return per_step.reshape(z.shape[0], bins, m).sum(axis=2) / (z.shape[2] * m * dt)


def isi_cv(spikes: Result | np.ndarray, node: str | None = None, dt: float | None = None,
           min_intervals: int = 2) -> np.ndarray:
    """Coefficient of variation of the inter-spike intervals per neuron ``[batch, n]``.

    ``CV = std(ISI) / mean(ISI)`` with the population standard deviation (``ddof=0``) over
    the intervals between consecutive spikes (spike times ``t*dt``). ``nan`` for neurons
    with fewer than ``min_intervals`` intervals. Regular firing gives 0, a Poisson process 1.
    """
    z, dt = _spike_array(spikes, node, dt)
    out = np.full((z.shape[0], z.shape[2]), np.nan)
    for b in range(z.shape[0]):
        for j in range(z.shape[2]):
            isi = np.diff(np.flatnonzero(z[b, :, j])) * dt
            if isi.size >= max(1, min_intervals):
                out[b, j] = isi.std() / isi.mean()
    return out


def fano_factor(spikes: Result | np.ndarray, node: str | None = None, dt: float | None = None,
                window: float | None = None) -> np.ndarray:
    """Fano factor of spike counts per neuron ``[batch, n]``.

    The recording is cut into ``K`` consecutive windows of ``m = round(window/dt)`` steps
    (trailing remainder dropped); with counts ``c_k``: ``F = var(c) / mean(c)``, sample
    variance with ``ddof=1``. ``nan`` where the mean count is 0 or ``K < 2``. A Poisson
    process gives 1 for any window.
    """
    z, dt = _spike_array(spikes, node, dt)
    if window is None:
        raise InputError("fano_factor needs window=<counting window in seconds>")
    m = max(1, int(round(window / dt)))
    k = z.shape[1] // m
    out = np.full((z.shape[0], z.shape[2]), np.nan)
    if k < 2:
        return out
    counts = z[:, : k * m].reshape(z.shape[0], k, m, z.shape[2]).sum(axis=2)
    mean = counts.mean(axis=1)
    var = counts.var(axis=1, ddof=1)
    np.divide(var, mean, out=out, where=mean > 0)
    return out


def synchrony_chi(spikes: Result | np.ndarray, node: str | None = None, dt: float | None = None,
                  bin_width: float | None = None) -> np.ndarray:
    """Golomb's synchrony measure ``chi`` on binned spike counts, per batch element.

    With counts ``n_i(k)`` of neuron ``i`` in bin ``k`` (``m = round(bin_width/dt)`` steps,
    default one step; trailing remainder dropped) and the population mean
    ``A(k) = (1/N) sum_i n_i(k)``::

        chi^2 = Var_k[A(k)] / ((1/N) sum_i Var_k[n_i(k)])      (population variances)

    (Golomb 2007, Scholarpedia "Neuronal synchrony measures", applied to counts instead of
    voltages). ``chi = 1`` for identical trains, ``chi ~ 1/sqrt(N)`` for independent
    neurons; ``nan`` when no neuron's count varies.
    """
    z, dt = _spike_array(spikes, node, dt)
    m = 1 if bin_width is None else max(1, int(round(bin_width / dt)))
    k = z.shape[1] // m
    if k < 2:
        raise InputError(f"bin_width={bin_width!r}: fewer than 2 bins in {z.shape[1]} steps")
    counts = z[:, : k * m].reshape(z.shape[0], k, m, z.shape[2]).sum(axis=2)
    pop_var = counts.mean(axis=2).var(axis=1)
    single = counts.var(axis=1).mean(axis=1)
    out = np.full(z.shape[0], np.nan)
    np.divide(pop_var, single, out=out, where=single > 0)
    return np.sqrt(out)


def participation_ratio(activity: np.ndarray) -> float:
    """Participation-ratio dimension of activity ``[samples, units]`` (or ``[batch, steps,
    units...]``, batches concatenated).

    With ``C`` the covariance of the units over samples (``ddof=0``) and ``λ_k`` its
    eigenvalues: ``PR = (sum_k λ_k)^2 / sum_k λ_k^2 = tr(C)^2 / tr(C^2)``. It lies in
    ``[1, units]``: 1 for activity along a single direction, ``units`` for isotropic activity.
    """
    a = np.asarray(activity, dtype=np.float64)
    if a.ndim >= 3:
        a = a.reshape(a.shape[0] * a.shape[1], -1)
    if a.ndim != 2 or a.shape[0] < 2:
        raise InputError(f"activity of shape {np.shape(activity)}: expected [samples >= 2, units]")
    x = a - a.mean(axis=0)
    c = x.T @ x / x.shape[0]
    tr = np.trace(c)
    tr2 = np.sum(c * c)  # tr(C^2) = sum_ij C_ij C_ji, C symmetric
    if tr2 == 0:
        raise InputError("activity has zero variance: participation ratio undefined")
    return float(tr * tr / tr2)


# ============================================================================ rate networks
Phi = Callable[[np.ndarray], np.ndarray]


def _tanh_prime(x: np.ndarray) -> np.ndarray:
    return 1.0 - np.tanh(x) ** 2


def rate_network_trajectory(J: np.ndarray, tau: float, dt: float, steps: int,
                            x0: np.ndarray | None = None, seed: int | None = 0,
                            inputs: np.ndarray | None = None, phi: Phi = np.tanh,
                            record_every: int = 1) -> np.ndarray:
    """Forward-Euler solution of ``tau dx/dt = -x + J phi(x) + I(t)``.

    Update: ``x[t+1] = x[t] + (dt/tau) * (-x[t] + J phi(x[t]) + I[t])`` with ``x[0] = x0``
    (default ``N(0, 1)`` entries drawn with ``seed``). Returns ``[steps // record_every + 1, N]``:
    ``x[0], x[k], x[2k], ...`` with ``k = record_every``.
    """
    J = _square(J)
    n = J.shape[0]
    x = np.random.default_rng(seed).standard_normal(n) if x0 is None else np.array(x0, float)
    h = dt / tau
    out = [x.copy()]
    for t in range(steps):
        drive = J @ phi(x) - x
        if inputs is not None:
            drive = drive + inputs[t]
        x = x + h * drive
        if (t + 1) % record_every == 0:
            out.append(x.copy())
    return np.array(out)


@dataclass(frozen=True)
class LyapunovSpectrum:
    """Result of :func:`lyapunov_spectrum`.

    Attributes:
        exponents: the ``k`` largest exponents, descending, per unit time (units of ``tau``).
        running: estimate of the largest exponent after each re-orthonormalisation
            (convergence diagnostic), per unit time.
        dt: integration step; ``tau``: time constant; ``steps``: steps averaged over.
    """

    exponents: np.ndarray
    running: np.ndarray
    dt: float
    tau: float
    steps: int

    @property
    def largest(self) -> float:
        return float(self.exponents[0])


def lyapunov_spectrum(J: np.ndarray, tau: float = 1.0, dt: float = 0.05, steps: int = 20000,
                      transient: int = 2000, n_exponents: int | None = None,
                      x0: np.ndarray | None = None, seed: int | None = 0, phi: Phi = np.tanh,
                      phi_prime: Phi | None = None, qr_every: int = 1) -> LyapunovSpectrum:
    """Lyapunov spectrum of the rate network ``tau dx/dt = -x + J phi(x)`` (QR/Benettin).

    Discretisation (forward Euler, the map whose exponents are computed)::

        x[t+1] = F(x[t]) = (1 - h) x[t] + h J phi(x[t]),      h = dt / tau
        D[t]   = dF/dx(x[t]) = (1 - h) I + h J diag(phi'(x[t]))

    After ``transient`` steps, an orthonormal ``Q[0]`` (``N x k``, from a seeded Gaussian
    matrix) is propagated: ``Q[t+1] R[t] = D[t] Q[t]`` (QR decomposition with
    ``diag(R) > 0``, every ``qr_every`` steps; the product of the intermediate Jacobians in
    between). The exponents are::

        λ_i = (1 / (steps * dt)) * sum_t log R[t]_ii

    i.e. the exponents of the map divided by ``dt``, which converge to those of the ODE
    as ``dt -> 0`` (error O(dt)). For ``J`` with spectral radius ``g < 1`` and
    ``phi = tanh`` the trajectory decays to ``x = 0``, where ``D = (1-h) I + h J`` and
    ``λ_1 = log max_k |1 - h + h μ_k| / dt`` (``μ_k`` the eigenvalues of ``J``).
    """
    J = _square(J)
    if phi_prime is None:
        if phi is not np.tanh:
            raise InputError("lyapunov_spectrum: give phi_prime (the derivative of phi) with a "
                             "phi other than numpy.tanh")
        phi_prime = _tanh_prime
    n = J.shape[0]
    k = n if n_exponents is None else int(n_exponents)
    if not 1 <= k <= n:
        raise InputError(f"n_exponents={n_exponents!r}: expected 1..{n}")
    if steps < 1 or qr_every < 1:
        raise InputError(f"steps={steps!r}, qr_every={qr_every!r}: expected positive integers")
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n) if x0 is None else np.array(x0, dtype=np.float64)
    h = dt / tau
    for _ in range(transient):
        x = (1.0 - h) * x + h * (J @ phi(x))
    q, _ = np.linalg.qr(rng.standard_normal((n, k)))
    log_sum = np.zeros(k)
    running = []
    for t in range(steps):
        # D q = (1-h) q + h J (phi'(x)[:, None] * q), without forming D.
        q = (1.0 - h) * q + h * (J @ (phi_prime(x)[:, None] * q))
        x = (1.0 - h) * x + h * (J @ phi(x))
        if (t + 1) % qr_every == 0 or t == steps - 1:
            q, r = np.linalg.qr(q)
            d = np.diag(r)
            signs = np.where(d < 0, -1.0, 1.0)
            q = q * signs  # keep diag(R) > 0 so that Q evolves continuously
            log_sum += np.log(np.abs(d))
            running.append(log_sum[0] / ((t + 1) * dt))
    order = np.argsort(-log_sum)
    return LyapunovSpectrum(log_sum[order] / (steps * dt), np.array(running), dt, tau, steps)


# ============================================================================ connectivity
def _square(W: np.ndarray) -> np.ndarray:
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2 or W.shape[0] != W.shape[1]:
        raise InputError(f"matrix of shape {W.shape}: expected a square (N, N) matrix")
    if not np.all(np.isfinite(W)):
        raise InputError("matrix contains NaN or inf")
    return W


def spectral_radius(W: np.ndarray) -> float:
    """``max_k |λ_k(W)|``."""
    return float(np.max(np.abs(np.linalg.eigvals(_square(W)))))


@dataclass(frozen=True)
class ConnectivitySpectrum:
    """Result of :func:`connectivity_spectrum`.

    Attributes:
        eigenvalues: all eigenvalues, sorted by decreasing modulus.
        spectral_radius: ``max |λ|``.
        bulk_radius: the radius used to separate bulk from outliers.
        outliers: eigenvalues with ``|λ| > bulk_radius * (1 + margin)``, by decreasing modulus.
    """

    eigenvalues: np.ndarray
    spectral_radius: float
    bulk_radius: float
    outliers: np.ndarray


def connectivity_spectrum(W: np.ndarray, bulk_radius: float | None = None,
                          margin: float = 0.1) -> ConnectivitySpectrum:
    """Eigenvalues of ``W`` split into a bulk and outliers.

    Default ``bulk_radius`` (the Girko / Rajan–Abbott estimate for independent entries
    whose variance depends on the presynaptic column): ``r^2 = sum_j Var_i(W_ij)``, the
    sum over columns of the variance of each column's entries (``ddof=0``); for i.i.d.
    entries of variance ``g^2/N`` this is ``g^2``. Column means (Dale's law) do not enter:
    they are a rank-one perturbation that can only create outliers.
    """
    W = _square(W)
    ev = np.linalg.eigvals(W)
    ev = ev[np.argsort(-np.abs(ev), kind="stable")]
    r = float(np.sqrt(np.sum(W.var(axis=0)))) if bulk_radius is None else float(bulk_radius)
    out = ev[np.abs(ev) > r * (1.0 + margin)]
    return ConnectivitySpectrum(ev, float(np.abs(ev[0])), r, out)


@dataclass(frozen=True)
class MotifStatistics:
    """Second-order motif statistics (Zhao, Beverlin, Netoff, Nykamp 2011).

    ``p`` is the connection probability (mean off-diagonal entry); each ``alpha`` is the
    relative excess of the two-edge motif over independent edges:
    ``alpha = E[W_e1 W_e2] / p^2 - 1`` averaged over all pairs of distinct off-diagonal
    edges of that motif type.
    """

    p: float
    reciprocal: float
    convergent: float
    divergent: float
    chain: float


def motif_statistics(W: np.ndarray) -> MotifStatistics:
    """Measured second-order motif statistics of ``W`` (``W[i, j]``: ``j -> i``).

    The diagonal is ignored. With ``N`` neurons, ``A = W`` with zero diagonal, in-degree
    (row sum) ``r_i = sum_j A_ij``, out-degree (column sum) ``c_j = sum_i A_ij``,
    ``S = sum_ij A_ij^2``::

        p        = sum_ij A_ij / (N (N-1))
        recip    = sum_{i != j} A_ij A_ji                     / (N (N-1))        / p^2 - 1
        conv     = sum_i (r_i^2 - sum_j A_ij^2)               / (N (N-1) (N-2))  / p^2 - 1
                   (j -> i <- k, j != k)
        div      = sum_j (c_j^2 - sum_i A_ij^2)               / (N (N-1) (N-2))  / p^2 - 1
                   (i <- j -> k, i != k)
        chain    = (sum_j r_j c_j - sum_{i != j} A_ij A_ji)   / (N (N-1) (N-2))  / p^2 - 1
                   (k -> j -> i, i != k)

    For a 0/1 matrix these are the motif frequencies of Zhao et al. (2011); for weighted
    matrices the same moments of the weights.
    """
    A = _square(W).copy()
    n = A.shape[0]
    if n < 3:
        raise InputError(f"motif statistics need N >= 3 neurons, got {n}")
    np.fill_diagonal(A, 0.0)
    p = A.sum() / (n * (n - 1))
    if p == 0:
        raise InputError("matrix has no off-diagonal entries: motif statistics undefined")
    r, c = A.sum(axis=1), A.sum(axis=0)
    a2 = A * A
    recip_sum = float(np.sum(A * A.T))
    pairs, triples = n * (n - 1), n * (n - 1) * (n - 2)
    p2 = p * p
    return MotifStatistics(
        p=float(p),
        reciprocal=float(recip_sum / pairs / p2 - 1.0),
        convergent=float((np.sum(r * r) - a2.sum()) / triples / p2 - 1.0),
        divergent=float((np.sum(c * c) - a2.sum()) / triples / p2 - 1.0),
        chain=float((np.sum(r * c) - recip_sum) / triples / p2 - 1.0),
    )
