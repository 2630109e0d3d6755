"""Graph builders for recurrent-network models that need the extension primitives.

Each function returns a validated :class:`spikecore.Graph` with explicit semantics,
seeded (a seed names one network and one noise stream exactly) and parametrised with the
names of the paper. The matrices come from :mod:`spikecore.models.connectivity`; the
neurons and sources are the extension primitives of :mod:`spikecore.extensions`, whose
exact discrete updates are in ``docs/semantics.md`` §7.

==========================  ==============================================================
builder                     model
==========================  ==============================================================
brunel2000                  Brunel (2000), model A: sparse E/I LIF network, fixed in-degree,
                            delay D, refractory period, external Poisson drive
scs_rate_network            Sompolinsky, Crisanti & Sommers (1988) random rate network
low_rank_rate_network       Mastrogiuseppe & Ostojic (2018) low-rank + random rate network
random_mode_rate_network    Clark et al. (2024) random-mode rate network
rajan_abbott_rate_network   Rajan & Abbott (2006) E/I (Dale) rate network
lif_population_noise        uncoupled LIF neurons under white or OU current noise
lsnn                        recurrent LIF + ALIF population with a leaky readout (e-prop)
==========================  ==============================================================
"""

from __future__ import annotations

import math
from typing import Any

import nir
import numpy as np

from ..errors import InputError
from ..extensions import ALIF, OUSource, PoissonSource, RateUnit, RefractoryLIF, WhiteNoiseSource
from ..extensions.sparse import SparseLinear
from ..graph import Edge, Graph
from ..semantics import Semantics
from .connectivity import (
    Connectivity,
    brunel2000_connectivity,
    dale_matrix,
    low_rank_matrix,
    positive,
    random_mode_matrix,
    scs_matrix,
)

__all__ = [
    "brunel2000", "brunel2000_external_streams", "lif_population_noise", "low_rank_rate_network",
    "lsnn", "rajan_abbott_rate_network", "random_mode_rate_network", "rate_network",
    "scs_rate_network",
]


# ======================================================================== Brunel 2000
def brunel2000_external_streams(rate_per_neuron: float, dt: float, p_max: float) -> int:
    """Number of Bernoulli streams per neuron that carry ``rate_per_neuron`` (Hz) with at
    most probability ``p_max`` of a spike per stream and step."""
    return max(1, math.ceil(rate_per_neuron * dt / p_max - 1e-12))


#: ``brunel2000(sparse=None)`` uses a SparseLinear above this many neurons (a dense
#: float64 matrix of 4000 x 4000 is 128 MB; at N = 12,500 it would be 1.25 GB).
BRUNEL_SPARSE_ABOVE = 4000


def brunel2000(N_E: int = 10000, gamma: float = 0.25, epsilon: float = 0.1, J: float = 0.1e-3,
               g: float = 5.0, eta: float = 2.0, tau: float = 20e-3, theta: float = 20e-3,
               V_r: float = 10e-3, tau_rp: float = 2e-3, D: float = 1.5e-3, dt: float = 0.1e-3,
               seed: int = 0, p_max: float = 0.1, stimulus: bool = False,
               sparse: bool | None = None) -> Graph:
    """Brunel (2000), model A: sparse E/I network of LIF neurons with delta synapses.

    Model (the paper's eq. 1-2)::

        tau dV_i/dt = -V_i + R I_i(t),   R I_i(t) = tau sum_j J_ij sum_k delta(t - t_j^k - D)

    ``N_I = gamma N_E``; each neuron receives ``C_E = epsilon N_E`` excitatory synapses of
    weight ``J`` and ``C_I = epsilon N_I`` inhibitory ones of weight ``-g J`` (fixed
    in-degree, :func:`~spikecore.models.brunel2000_connectivity`), plus ``C_E`` external
    excitatory synapses of weight ``J`` from independent Poisson neurons of rate
    ``nu_ext = eta nu_thr``, ``nu_thr = theta / (J C_E tau)``. A spike moves ``V`` by the
    weight instantly; ``V > theta`` emits a spike, ``V`` is reset to ``V_r`` and held there
    (input discarded) for the refractory period ``tau_rp``. States by ``(g, eta)`` (the
    paper's Fig. 8): SR ``(3, 2)``, AI ``(5, 2)``, SI fast ``(6, 4)``, SI slow
    ``(4.5, 0.9)`` (reproduced qualitatively by ``examples/brunel2000.py`` on a scaled-down
    network); the asynchronous regular (AR) state occupies a narrow band of the phase
    diagram and no point is pinned or checked here.

    Discrete realisation (``Semantics(dt, integrator='exact', input_meaning='increment')``):
    nodes ``neurons`` (:class:`~spikecore.extensions.RefractoryLIF`, ``tau``,
    ``v_threshold = theta``, ``v_reset = V_r``, ``v_leak = 0``, ``t_ref = tau_rp``),
    ``recurrent`` (``Linear(W)`` or ``SparseLinear``, ``W`` in volts as in the paper) fed by ``neurons`` over
    an edge of ``round(D/dt)`` steps, and ``ext0 .. ext{K-1}``
    (:class:`~spikecore.extensions.PoissonSource`, seeded) summed by ``external``
    (``Scale(J)``). Per step ``V[t] = exp(-dt/tau) V[t-1] + (dt r / tau) x[t]`` with
    ``r = tau / dt``, so the jump is exactly the summed weight ``x[t]`` of the spikes
    arriving in step ``t`` (Brunel's voltage jumps; note ``r`` therefore depends on
    ``dt``: rebuild the graph to change ``dt``). A spike sent in step ``t`` arrives in
    step ``t + round(D/dt)``.

    External drive: a :class:`PoissonSource` emits at most one spike per step (Bernoulli,
    probability ``rate dt``), but ``C_E nu_ext`` is ``eta theta / (J tau)`` (20 kHz at the
    paper's values), more than one per step. So the drive is split into
    ``K = ceil(C_E nu_ext dt / p_max)`` independent streams per neuron, each of rate
    ``C_E nu_ext / K``: the external count per step is ``Binomial(K, p)``, ``p = C_E
    nu_ext dt / K <= p_max``, with the Poisson mean and the variance ``(1 - p)`` times the
    Poisson one (recorded in ``metadata['external_p']``).

    ``stimulus=True`` adds an Input ``stimulus`` (shape ``(N,)``) into ``neurons``: extra
    voltage jumps in volts (zeros for the plain model; it also sets the batch size of a
    run, each batch element drawing its own Poisson streams).

    Neurons ``0 .. N_E - 1`` are excitatory. ``metadata`` holds ``C_E, C_I, nu_thr,
    nu_ext, external_streams, external_p, delay_steps``.

    ``sparse``: the recurrent map as a :class:`~spikecore.extensions.sparse.SparseLinear` (CSR, built
    without a dense ``N x N`` array: 190 MB instead of 1.25 GB at the paper's N = 12,500)
    or as a dense ``nir.Linear`` (plain NIR). ``None`` (default): sparse when
    ``N > BRUNEL_SPARSE_ABOVE`` (4000) neurons. Both forms hold the same synapses for the
    same seed and give the same spikes.
    """
    tau, theta, dt, J, d_steps = _brunel2000_checked(tau, theta, dt, J, eta, tau_rp, D, p_max)
    n_total = int(N_E) + int(round(gamma * N_E)) if isinstance(N_E, (int, np.integer)) else 0
    use_sparse = n_total > BRUNEL_SPARSE_ABOVE if sparse is None else bool(sparse)
    conn: Connectivity = brunel2000_connectivity(N_E=N_E, gamma=gamma, epsilon=epsilon, J=J,
                                                 g=g, D=D, seed=seed, sparse=use_sparse)
    pr = conn.params
    nu_thr, nu_ext, K, rate = _brunel2000_external_drive(theta, J, pr.C_E, tau, eta, dt, p_max)
    nodes, edges = _brunel2000_nodes(conn, use_sparse, tau, theta, V_r, tau_rp, dt, J, d_steps,
                                     K, rate, seed, stimulus)
    meta = {"model": "brunel2000", "N_E": pr.N_E, "N_I": pr.N_I, "C_E": pr.C_E, "C_I": pr.C_I,
            "gamma": float(gamma), "epsilon": float(epsilon), "J": J, "g": float(g),
            "eta": float(eta), "tau": tau, "theta": theta, "V_r": float(V_r),
            "tau_rp": float(tau_rp), "D": float(D), "nu_thr": nu_thr, "nu_ext": nu_ext,
            "external_streams": K, "external_p": rate * dt, "delay_steps": d_steps,
            "seed": int(seed)}
    sem = Semantics(dt=dt, integrator="exact", reset="to_value", input_meaning="increment")
    return Graph(nodes, edges, sem, name="brunel2000", metadata=meta).validate()


def _brunel2000_checked(tau: float, theta: float, dt: float, J: float, eta: float,
                        tau_rp: float, D: float, p_max: float
                        ) -> tuple[float, float, float, float, int]:
    """The validated ``(tau, theta, dt, J)`` as floats and the delay ``D`` in steps;
    raises :class:`InputError` on the first invalid parameter."""
    tau, theta, dt = positive("tau", tau), positive("theta", theta), positive("dt", dt)
    J = positive("J", J)
    if not 0 < p_max <= 1:
        raise InputError(f"p_max={p_max!r}: expected a probability in (0, 1]")
    if eta < 0 or tau_rp < 0 or D <= 0:
        raise InputError(f"eta={eta!r}, tau_rp={tau_rp!r}, D={D!r}: expected eta >= 0, "
                         "tau_rp >= 0 and D > 0 (a recurrent edge needs at least one step)")
    d_steps = int(round(D / dt))
    if d_steps < 1 or abs(d_steps * dt - D) > 1e-9 * D:
        raise InputError(f"D={D!r} s is not a whole number (>= 1) of steps of dt={dt!r} s; "
                         "choose D as a multiple of dt")
    return tau, theta, dt, J, d_steps


def _brunel2000_external_drive(theta: float, J: float, C_E: int, tau: float, eta: float,
                               dt: float, p_max: float) -> tuple[float, float, int, float]:
    """``(nu_thr, nu_ext, K, rate)``: the threshold rate, the external rate per synapse,
    the number of Bernoulli streams per neuron and the rate of each stream (Hz)."""
    nu_thr = theta / (J * C_E * tau)
    nu_ext = eta * nu_thr
    total = C_E * nu_ext  # external spikes per second into one neuron
    K = brunel2000_external_streams(total, dt, p_max) if total > 0 else 1
    return nu_thr, nu_ext, K, total / K


def _brunel2000_nodes(conn: Connectivity, use_sparse: bool, tau: float, theta: float,
                      V_r: float, tau_rp: float, dt: float, J: float, d_steps: int, K: int,
                      rate: float, seed: int, stimulus: bool
                      ) -> tuple[dict[str, Any], list[Edge]]:
    """The nodes and edges: ``neurons``, the ``recurrent`` map (``SparseLinear`` or
    ``nir.Linear``) over the delay edge, the ``K`` Poisson streams summed by
    ``external``, and the optional ``stimulus`` Input."""
    N = conn.n
    if use_sparse:
        W = conn.matrix
        recurrent: Any = SparseLinear(shape=np.array([N, N]), indptr=W.indptr,
                                      indices=W.indices, weights=W.data)
    else:
        recurrent = nir.Linear(weight=conn.matrix)
    nodes: dict[str, Any] = {
        "neurons": RefractoryLIF(tau=np.full(N, tau), r=np.full(N, tau / dt),
                                 v_leak=np.zeros(N), v_threshold=np.full(N, theta),
                                 v_reset=np.full(N, float(V_r)), t_ref=np.full(N, float(tau_rp))),
        "recurrent": recurrent,
        "external": nir.Scale(scale=np.full(N, J)),
    }
    edges = [Edge("neurons", "recurrent", d_steps), Edge("recurrent", "neurons"),
             Edge("external", "neurons")]
    if stimulus:
        nodes["stimulus"] = nir.Input(input_type=np.array([N]))
        edges.append(Edge("stimulus", "neurons"))
    for k in range(K):
        nodes[f"ext{k}"] = PoissonSource(rate=np.full(N, rate), seed=int(seed))
        edges.append(Edge(f"ext{k}", "external"))
    return nodes, edges


# ======================================================================== rate networks
def rate_network(J: np.ndarray | Connectivity, tau: float = 1.0, dt: float = 0.1,
                 phi: str = "tanh", x0: np.ndarray | None = None, seed: int = 0,
                 with_input: bool = False, name: str = "rate_network", k: float = 1.0,
                 n: float = 1.0, integrator: str = "euler") -> Graph:
    """Rate network ``tau dx/dt = -x + J phi(x) (+ I)`` from a coupling matrix.

    Nodes: ``units`` (:class:`~spikecore.extensions.RateUnit`, output ``phi(x)``) and
    ``coupling`` (``Linear(J)``), with the edge ``coupling -> units`` of one step, so
    under forward Euler (the default) ``x[t] = (1 - dt/tau) x[t-1] + (dt/tau)(J phi(x[t-1])
    + I[t])`` for ``t >= 1``; in step 0 the coupling delivers 0 (``phi(x[-1])`` is not
    sent), so ``x[0] = (1 - dt/tau) x0 (+ dt/tau I[0])``. ``x0`` defaults to ``N(0, 1)``
    entries drawn with ``seed`` (a zero start is the fixed point of odd ``phi``).
    ``with_input`` adds an Input ``input`` (external current ``I``) into ``units``; the
    Output ``output`` reports ``phi(x)``.
    """
    W = J.matrix if isinstance(J, Connectivity) else np.asarray(J, dtype=np.float64)
    if W.ndim != 2 or W.shape[0] != W.shape[1]:
        raise InputError(f"J of shape {W.shape}: expected a square (N, N) matrix")
    N = W.shape[0]
    if x0 is None:
        x0 = np.random.default_rng(seed).standard_normal(N)
    x0 = np.broadcast_to(np.asarray(x0, dtype=np.float64), (N,)).copy()
    nodes: dict[str, Any] = {
        "units": RateUnit(tau=np.full(N, positive("tau", tau)), x0=x0, phi=phi,
                          k=np.full(N, float(k)), n=np.full(N, float(n))),
        "coupling": nir.Linear(weight=W),
        "output": nir.Output(output_type=np.array([N])),
    }
    edges = [Edge("units", "coupling"), Edge("coupling", "units", 1), Edge("units", "output")]
    if with_input:
        nodes["input"] = nir.Input(input_type=np.array([N]))
        edges.append(Edge("input", "units"))
    sem = Semantics(dt=positive("dt", dt), integrator=integrator)
    return Graph(nodes, edges, sem, name=name, metadata={"model": name, "seed": int(seed)}
                 ).validate()


def scs_rate_network(N: int = 1000, g: float = 1.5, seed: int = 0, tau: float = 1.0,
                     dt: float = 0.1, **kwargs: Any) -> Graph:
    """Sompolinsky, Crisanti & Sommers (1988): ``tau dx/dt = -x + J tanh(x)``,
    ``J_ij ~ N(0, g^2/N)`` (:func:`~spikecore.models.scs_matrix` with ``seed``); chaotic
    for ``g > 1``. ``x0 ~ N(0, 1)`` drawn with ``seed + 1``. See :func:`rate_network`."""
    return rate_network(scs_matrix(N, g, seed=seed), tau=tau, dt=dt, seed=seed + 1,
                        name="scs_rate_network", **kwargs)


def low_rank_rate_network(N: int = 1000, g: float = 0.5, M_m: float = 0.0, M_n: float = 0.0,
                          Sigma_m: float = 1.0, Sigma_n: float = 1.0, rho: float = 0.0,
                          m: np.ndarray | None = None, n: np.ndarray | None = None,
                          seed: int = 0, tau: float = 1.0, dt: float = 0.1,
                          **kwargs: Any) -> Graph:
    """Mastrogiuseppe & Ostojic (2018): ``J = g chi + m n^T / N``
    (:func:`~spikecore.models.low_rank_matrix`), ``phi = tanh``. See :func:`rate_network`."""
    conn = low_rank_matrix(N, g=g, m=m, n=n, M_m=M_m, M_n=M_n, Sigma_m=Sigma_m,
                           Sigma_n=Sigma_n, rho=rho, seed=seed)
    return rate_network(conn, tau=tau, dt=dt, seed=seed + 1, name="low_rank_rate_network",
                        **kwargs)


def random_mode_rate_network(N: int = 1000, d: np.ndarray | None = None, seed: int = 0,
                             orthonormal: bool = False, tau: float = 1.0, dt: float = 0.1,
                             **kwargs: Any) -> Graph:
    """Clark, Marschall, van Meegen & Litwin-Kumar (2024): ``J = U diag(d) V^T``
    (:func:`~spikecore.models.random_mode_matrix`; default ``d``: ``P = N/10`` modes of
    strength 2), ``phi = tanh``. See :func:`rate_network`."""
    if d is None:
        d = np.full(max(1, N // 10), 2.0)
    conn = random_mode_matrix(N, d, seed=seed, orthonormal=orthonormal)
    return rate_network(conn, tau=tau, dt=dt, seed=seed + 1, name="random_mode_rate_network",
                        **kwargs)


def rajan_abbott_rate_network(N: int = 1000, f: float = 0.8, mu_E: float = 1.0,
                              mu_I: float | None = None, sigma_E: float = 1.0,
                              sigma_I: float = 1.0, balanced_rows: bool = True, seed: int = 0,
                              tau: float = 1.0, dt: float = 0.1, **kwargs: Any) -> Graph:
    """Rajan & Abbott (2006) E/I rate network: ``J`` from
    :func:`~spikecore.models.dale_matrix` (E columns first), ``phi = tanh``.
    See :func:`rate_network`."""
    conn = dale_matrix(N, f=f, mu_E=mu_E, mu_I=mu_I, sigma_E=sigma_E, sigma_I=sigma_I,
                       balanced_rows=balanced_rows, seed=seed)
    return rate_network(conn, tau=tau, dt=dt, seed=seed + 1, name="rajan_abbott_rate_network",
                        **kwargs)


# ======================================================================== noisy LIF populations
def lif_population_noise(N: int = 100, mu: float = 0.8, sigma: float = 0.3,
                         noise: str = "white", tau: float = 20e-3, theta: float = 1.0,
                         V_r: float = 0.0, tau_rp: float = 0.0, tau_noise: float = 5e-3,
                         dt: float = 1e-4, seed: int = 0, integrator: str = "euler") -> Graph:
    """``N`` uncoupled current-based LIF neurons, ``tau dV/dt = -V + I(t)``, threshold
    ``theta``, reset ``V_r``, refractory ``tau_rp`` (:class:`RefractoryLIF`, ``r = 1``).

    ``noise='white'``: ``I = mu + sigma sqrt(tau) eta(t)`` (``eta`` unit white noise), so
    the free membrane has mean ``mu`` and std ``sigma / sqrt(2)`` and the rate is Siegert's
    (Brunel 2000 eq. 21). Realised by a :class:`WhiteNoiseSource` of intensity
    ``sigma sqrt(tau)``: per step ``I[t] = mu + sigma sqrt(tau / dt) xi[t]``, held for the
    step; under Euler ``V[t] = V[t-1] + (dt/tau)(mu - V[t-1]) + sigma sqrt(dt/tau) xi[t]``,
    the Euler-Maruyama scheme. ``noise='ou'``: an :class:`OUSource` with mean ``mu``,
    stationary std ``sigma`` and correlation time ``tau_noise`` (filtered noise).

    Nodes: ``noise`` (the source) -> ``neurons`` -> ``output`` (the spikes). One stream
    per neuron, seeded by ``seed``.
    """
    N = int(N)
    if N < 1:
        raise InputError(f"N={N!r}: expected an integer >= 1")
    full = lambda v: np.full(N, float(v))  # noqa: E731
    if noise == "white":
        src: Any = WhiteNoiseSource(mean=full(mu), sigma=full(sigma * math.sqrt(tau)),
                                    seed=int(seed))
    elif noise == "ou":
        src = OUSource(mean=full(mu), sigma=full(sigma), tau=full(positive("tau_noise",
                                                                          tau_noise)),
                       seed=int(seed))
    else:
        raise InputError(f"noise={noise!r}: expected 'white' or 'ou'")
    nodes = {
        "noise": src,
        "neurons": RefractoryLIF(tau=full(positive("tau", tau)), r=full(1.0), v_leak=full(0.0),
                                 v_threshold=full(theta), v_reset=full(V_r), t_ref=full(tau_rp)),
        "output": nir.Output(output_type=np.array([N])),
    }
    edges = [Edge("noise", "neurons"), Edge("neurons", "output")]
    sem = Semantics(dt=positive("dt", dt), integrator=integrator)
    meta = {"model": "lif_population_noise", "noise": noise, "mu": float(mu),
            "sigma": float(sigma), "seed": int(seed)}
    return Graph(nodes, edges, sem, name="lif_population_noise", metadata=meta).validate()


# ======================================================================== LSNN (e-prop)
def lsnn(n_in: int = 20, n_lif: int = 50, n_alif: int = 50, n_out: int = 2, seed: int = 0,
         dt: float = 1e-3, tau_m: float = 20e-3, tau_a: float = 200e-3, beta: float = 1.8,
         v_th: float = 0.01, tau_out: float = 20e-3, w_in_scale: float = 1.0,
         w_rec_scale: float = 1.0, reset: str = "subtract") -> Graph:
    """Long short-term memory SNN (Bellec et al. 2018, 2020): one recurrent population of
    ``n_lif`` LIF and ``n_alif`` adaptive (ALIF) neurons with a leaky readout.

    All recurrent neurons are one :class:`~spikecore.extensions.ALIF` node ``rec``
    (neurons ``0 .. n_lif-1`` have ``beta = 0``: plain LIF; the others ``beta``,
    adaptation time constant ``tau_a``), the network form e-prop expects::

        input -> w_in (Linear) -> rec (ALIF) -> w_rec (Linear, delay 1) -> rec
        rec -> w_out (Linear) -> readout (LI, tau_out) -> output

    ``rec``: ``tau = tau_m``, ``r = 1``, ``v_leak = 0``, ``v_threshold = v_th``, ``v_reset
    = 0``; threshold ``v_th + beta a``; ``Semantics(dt, 'exact', reset)`` (``subtract``, as
    in the paper). ``readout``: the paper's ``y[t] = kappa y[t-1] + W_out z[t]``, ``kappa =
    exp(-dt/tau_out)``, i.e. an LI with ``r = 1 / (1 - kappa)`` (its exact update then adds
    ``W_out z[t]`` unscaled). Weights ``~ N(0, scale^2 / fan_in)`` times
    ``v_th / (1 - exp(-dt/tau_m))`` for ``w_in`` and ``w_rec`` (so one unit-weight input
    spike moves ``v`` by about ``v_th``), no self-connections; ``w_out ~ N(0, 1/n_rec)``.
    """
    rng = np.random.default_rng(seed)
    n_rec = int(n_lif) + int(n_alif)
    if n_rec < 1 or n_in < 1 or n_out < 1:
        raise InputError(f"n_in={n_in}, n_lif={n_lif}, n_alif={n_alif}, n_out={n_out}: need "
                         "n_in, n_out >= 1 and at least one recurrent neuron")
    gain = v_th / (1.0 - math.exp(-dt / positive("tau_m", tau_m)))
    tau_out = positive("tau_out", tau_out)
    readout_r = 1.0 / (1.0 - math.exp(-dt / tau_out))
    w_in = rng.normal(0.0, w_in_scale / math.sqrt(n_in), (n_rec, n_in)) * gain
    w_rec = rng.normal(0.0, w_rec_scale / math.sqrt(n_rec), (n_rec, n_rec)) * gain
    np.fill_diagonal(w_rec, 0.0)
    w_out = rng.normal(0.0, 1.0 / math.sqrt(n_rec), (n_out, n_rec))
    full = lambda v: np.full(n_rec, float(v))  # noqa: E731
    b = np.concatenate([np.zeros(n_lif), np.full(n_alif, float(beta))])
    nodes = {
        "input": nir.Input(input_type=np.array([n_in])),
        "w_in": nir.Linear(weight=w_in),
        "rec": ALIF(tau=full(tau_m), r=full(1.0), v_leak=full(0.0), v_threshold=full(v_th),
                    v_reset=full(0.0), tau_adapt=full(positive("tau_a", tau_a)), beta=b),
        "w_rec": nir.Linear(weight=w_rec),
        "w_out": nir.Linear(weight=w_out),
        "readout": nir.LI(tau=np.full(n_out, tau_out), r=np.full(n_out, readout_r),
                          v_leak=np.zeros(n_out)),
        "output": nir.Output(output_type=np.array([n_out])),
    }
    edges = [Edge("input", "w_in"), Edge("w_in", "rec"), Edge("rec", "w_rec"),
             Edge("w_rec", "rec", 1), Edge("rec", "w_out"), Edge("w_out", "readout"),
             Edge("readout", "output")]
    meta = {"model": "lsnn", "n_lif": int(n_lif), "n_alif": int(n_alif), "seed": int(seed)}
    return Graph(nodes, edges, Semantics(dt=positive("dt", dt), integrator="exact",
                                         reset=reset), name="lsnn", metadata=meta).validate()
