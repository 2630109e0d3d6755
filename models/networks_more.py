"""More graph builders with extension neurons: Izhikevich, Morris-Lecar and conductance LIF.

Same conventions as :mod:`spikecore.models.networks`: each function returns a validated
:class:`spikecore.Graph` with explicit semantics, seeded (a seed names one network and
one noise stream exactly), parametrised with the paper's names. Exact discrete updates
of the neurons and sources: ``docs/semantics.md`` §7.

==========================  ==============================================================
builder                     model
==========================  ==============================================================
izhikevich_network          Izhikevich (2003): 800 RS + 200 FS neurons, all-to-all, random
                            thalamic input
morris_lecar_network        recurrent Morris-Lecar network (type I or II) with graded
                            current- or conductance-based synapses
cond_lif_poisson            conductance-based LIF population under Poisson shot noise
==========================  ==============================================================

Not provided: the liquid-time-constant spiking network (Yin et al.). Its neurons have a
time constant gated by a sigmoid of the presynaptic state; :class:`CondLIF` only gates
linearly with exponentially filtered spikes, so no primitive expresses it exactly.
"""

from __future__ import annotations

import math
from typing import Any

import nir
import numpy as np

from ..errors import InputError
from ..extensions import (
    IZHIKEVICH_TIME_UNIT,
    ML_CONDUCTANCE,
    MORRIS_LECAR_TIME_UNIT,
    CondLIF,
    Izhikevich,
    MorrisLecar,
    MorrisLecarGraded,
    PoissonSource,
    WhiteNoiseSource,
)
from ..graph import Edge, Graph
from ..semantics import Semantics
from .connectivity import izhikevich_connectivity, positive, positive_int

__all__ = ["cond_lif_poisson", "izhikevich_network", "morris_lecar_network"]


# ======================================================================== Izhikevich 2003
def izhikevich_network(Ne: int = 800, Ni: int = 200, seed: int = 0, dt: float = 1e-3,
                       sigma_E: float = 5.0, sigma_I: float = 2.0) -> Graph:
    """Izhikevich (2003), "Simple model of spiking neurons" (IEEE TNN 14:1569), the
    network of its Fig. 3 and MATLAB listing: ``Ne`` regular-spiking excitatory and ``Ni``
    fast-spiking inhibitory neurons, all to all.

    Neurons and matrix from :func:`~spikecore.models.izhikevich_connectivity` (``seed``):
    E ``a = 0.02, b = 0.2, c = -65 + 15 re^2, d = 8 - 6 re^2``; I ``a = 0.02 + 0.08 ri,
    b = 0.25 - 0.05 ri, c = -65, d = 2`` (``re, ri ~ U(0, 1)``: the heterogeneity ``r``);
    ``S = [0.5 U(0,1) (N x Ne), -U(0,1) (N x Ni)]`` in mV; ``v0 = -65``, ``u0 = b v0``.

    Nodes: ``thalamic`` (:class:`~spikecore.extensions.WhiteNoiseSource`, seed ``seed``)
    -> ``neurons`` (:class:`~spikecore.extensions.Izhikevich`); ``neurons`` ->
    ``synapses`` (``Linear(S / h)``, ``h = dt / 1 ms``) -> ``neurons`` over an edge of one
    step. Per step ``t`` the input is ``I[t] = thalamic[t] + (S / h) z[t-1]``, which at the
    paper's ``dt = 1 ms`` is exactly its ``I = [5 randn(Ne,1); 2 randn(Ni,1)] +
    sum(S(:, fired), 2)`` (``fired`` = the spikes of the previous step; the paper detects
    ``v >= 30`` at the top of the next iteration, spikecore resets in the crossing step,
    the same trajectory). The thalamic source is white noise of intensity ``sigma
    sqrt(1 ms)`` with ``sigma = sigma_E`` (E) or ``sigma_I`` (I): per step
    ``sigma sqrt(1 ms / dt) xi[t]``, i.e. ``sigma xi[t]`` at ``dt = 1 ms``; other ``dt``
    keep the noise intensity and the ``S`` mV jump per presynaptic spike. Neurons
    ``0 .. Ne-1`` are excitatory.
    """
    Ne, Ni = positive_int("Ne", Ne, 1), positive_int("Ni", Ni, 1)
    dt = positive("dt", dt)
    if sigma_E < 0 or sigma_I < 0:
        raise InputError(f"sigma_E={sigma_E!r}, sigma_I={sigma_I!r}: expected >= 0")
    conn = izhikevich_connectivity(Ne=Ne, Ni=Ni, seed=seed)
    p, N = conn.parts, conn.n
    h = dt / IZHIKEVICH_TIME_UNIT
    sigma = np.concatenate([np.full(Ne, float(sigma_E)), np.full(Ni, float(sigma_I))])
    v0 = np.full(N, -65.0)
    nodes: dict[str, Any] = {
        "thalamic": WhiteNoiseSource(mean=np.zeros(N),
                                     sigma=sigma * math.sqrt(IZHIKEVICH_TIME_UNIT),
                                     seed=int(seed)),
        "neurons": Izhikevich(a=p["a"], b=p["b"], c=p["c"], d=p["d"], v0=v0, u0=p["b"] * v0,
                              v_peak=np.full(N, 30.0)),
        "synapses": nir.Linear(weight=conn.matrix / h),
    }
    edges = [Edge("thalamic", "neurons"), Edge("neurons", "synapses"),
             Edge("synapses", "neurons", 1)]
    meta = {"model": "izhikevich_network", "Ne": Ne, "Ni": Ni, "sigma_E": float(sigma_E),
            "sigma_I": float(sigma_I), "seed": int(seed)}
    return Graph(nodes, edges, Semantics(dt=dt), name="izhikevich_network",
                 metadata=meta).validate()


# ======================================================================== Morris-Lecar
#: Default applied current (uA/cm^2) per type: a little above the onset of repetitive
#: firing (type I: saddle-node on invariant circle near 40; type II: Hopf/fold of cycles
#: near 88-98 with these parameter sets).
MORRIS_LECAR_I_APP = {"I": 45.0, "II": 100.0}
#: Synaptic reversal potentials (mV) for ``synapse="conductance"``: glutamatergic (AMPA)
#: 0 mV and GABA_A -80 mV, the values of Destexhe, Mainen & Sejnowski (1994), J Comput
#: Neurosci 1:195 (and their kinetic synapse models, ModelDB 18198 / 18500).
E_SYN_EXCITATORY = 0.0
E_SYN_INHIBITORY = -80.0
SYNAPSES = ("current", "conductance")


def morris_lecar_network(n: int = 50, kind: str = "I", coupling: float = 10.0,
                         I_app: float | None = None, sigma: float = 0.0, seed: int = 0,
                         dt: float = 0.05e-3, v_syn: float = 0.0, k_syn: float = 5.0,
                         integrator: str = "euler", synapse: str = "current",
                         e_syn: float = E_SYN_EXCITATORY) -> Graph:
    """Recurrent Morris-Lecar network with graded synapses (type ``"I"`` or ``"II"``,
    :meth:`~spikecore.extensions.MorrisLecar.of_type`, Rinzel & Ermentrout 1998).

    Neuron ``i`` (mV, ms, uA/cm^2), ``synapse="current"`` (default)::

        c_m dV_i/dt = I_app + I_noise,i + (coupling / (n - 1)) sum_{j != i} s_j - I_ion(V_i, w_i)
        s_j = s_inf(V_j) = (1 + tanh((V_j - v_syn) / k_syn)) / 2

    ``synapse="conductance"``: ``coupling`` is the total synaptic conductance ``g_syn``
    (mS/cm^2, >= 0) and the synaptic term is a conductance with reversal potential
    ``e_syn`` (mV; :data:`E_SYN_EXCITATORY` = 0, :data:`E_SYN_INHIBITORY` = -80)::

        c_m dV_i/dt = I_app + I_noise,i + (g_syn / (n - 1)) sum_{j != i} s_j (e_syn - V_i)
                      - I_ion(V_i, w_i)

    **Coupling.** All to all without self-coupling. Current-based: each presynaptic
    neuron adds ``coupling / (n - 1)`` uA/cm^2 times its graded activation ``s_j`` in
    [0, 1] (``coupling`` is the total current when every neuron is depolarised; > 0
    excitatory, < 0 inhibitory). Conductance-based: the neurons take the stacked
    (current, conductance) input of ``MorrisLecarGraded(input_kind="current+conductance",
    e_syn=...)``; the ``coupling`` Linear writes the conductance half (``2n x n``, its
    first ``n`` rows zero) and the drive the current half. The activation is the
    instantaneous ``s_inf(V)`` (no synaptic first-order kinetics).

    Nodes: ``drive`` (:class:`~spikecore.extensions.WhiteNoiseSource`, mean ``I_app``,
    intensity ``sigma`` in uA/cm^2 sqrt(ms); ``sigma = 0`` is a constant current; for
    conductance synapses it has ``2 n`` elements, the last ``n`` zero: no drive to the
    conductance half) -> ``neurons`` (:class:`~spikecore.extensions.MorrisLecarGraded`);
    ``neurons`` -> ``coupling`` (``Linear``) -> ``neurons`` over an edge of one step, so
    ``x[t] = drive[t] + J s[t-1]`` (0 from the coupling in step 0); ``neurons`` ->
    ``output`` (the graded ``s``). The graded node emits no spikes: a spike is an upward
    crossing of 0 mV by ``V`` (record ``neurons:v``). Initial state: ``V0 ~ U(-60, 0)`` mV
    per neuron, ``w0 = w_inf(V0)``, drawn with ``seed`` (desynchronised start).
    """
    n = _morris_lecar_checked(n, kind, coupling, sigma, synapse, e_syn)
    I_app = MORRIS_LECAR_I_APP[kind] if I_app is None else float(I_app)
    fields = _morris_lecar_fields(n, kind, seed, v_syn, k_syn)
    J = np.full((n, n), float(coupling) / (n - 1))
    np.fill_diagonal(J, 0.0)
    mean = np.full(n, I_app)
    noise = np.full(n, sigma * math.sqrt(MORRIS_LECAR_TIME_UNIT))
    if synapse == "conductance":
        fields.update(e_syn=np.full(n, float(e_syn)), input_kind=ML_CONDUCTANCE)
        J = np.vstack([np.zeros((n, n)), J])
        mean, noise = np.concatenate([mean, np.zeros(n)]), np.concatenate([noise, np.zeros(n)])
    nodes: dict[str, Any] = {
        "drive": WhiteNoiseSource(mean=mean, sigma=noise, seed=int(seed)),
        "neurons": MorrisLecarGraded(**fields),
        "coupling": nir.Linear(weight=J),
        "output": nir.Output(output_type=np.array([n])),
    }
    edges = [Edge("drive", "neurons"), Edge("neurons", "coupling"),
             Edge("coupling", "neurons", 1), Edge("neurons", "output")]
    meta = {"model": "morris_lecar_network", "kind": kind, "coupling": float(coupling),
            "I_app": I_app, "sigma": float(sigma), "seed": int(seed), "synapse": synapse}
    if synapse == "conductance":
        meta["e_syn"] = float(e_syn)
    sem = Semantics(dt=positive("dt", dt), integrator=integrator)
    return Graph(nodes, edges, sem, name="morris_lecar_network", metadata=meta).validate()


def _morris_lecar_checked(n: int, kind: str, coupling: float, sigma: float, synapse: str,
                          e_syn: float) -> int:
    """The validated ``n``; raises :class:`InputError` on the first invalid parameter."""
    n = positive_int("n", n, 2)
    if kind not in MORRIS_LECAR_I_APP:
        raise InputError(f"kind={kind!r}: expected 'I' or 'II'")
    if synapse not in SYNAPSES:
        raise InputError(f"synapse={synapse!r}: expected 'current' or 'conductance'")
    if not math.isfinite(coupling):
        raise InputError(f"coupling={coupling!r}: expected a finite number")
    if synapse == "conductance" and coupling < 0:
        raise InputError(f"coupling={coupling!r}: with synapse='conductance' it is a "
                         "conductance (mS/cm^2), expected >= 0; choose e_syn for the sign "
                         f"(e.g. {E_SYN_INHIBITORY} mV for inhibition)")
    if not math.isfinite(e_syn):
        raise InputError(f"e_syn={e_syn!r}: expected a finite reversal potential in mV")
    if sigma < 0:
        raise InputError(f"sigma={sigma!r}: expected >= 0")
    return n


def _morris_lecar_fields(n: int, kind: str, seed: int, v_syn: float, k_syn: float
                         ) -> dict[str, Any]:
    """The ``MorrisLecarGraded`` fields of ``n`` neurons of type ``kind``: the type's
    parameters, the synaptic activation, and the seeded initial state ``V0 ~ U(-60, 0)``
    mV, ``w0 = w_inf(V0)``."""
    rng = np.random.default_rng(seed)
    v0 = rng.uniform(-60.0, 0.0, n)
    base = MorrisLecar.of_type(kind, n)
    w0 = 0.5 * (1.0 + np.tanh((v0 - base.v3) / base.v4))
    fields = {f: getattr(base, f) for f in base.array_fields}
    fields.update(v0=v0, w0=w0, v_syn=np.full(n, float(v_syn)),
                  k_syn=np.full(n, positive("k_syn", k_syn)))
    return fields


# ======================================================================== conductance LIF
def cond_lif_poisson(n: int = 100, N_E: int = 400, N_I: int = 100,
                     rates: tuple[float, float] = (20.0, 20.0), g_E: float = 0.6,
                     g_I: float = 6.7, epsilon: float = 0.2, seed: int = 0,
                     tau_m: float = 20e-3, E_L: float = -60e-3, V_th: float = -50e-3,
                     V_r: float = -60e-3, E_E: float = 0.0, E_I: float = -80e-3,
                     tau_E: float = 5e-3, tau_I: float = 10e-3, dt: float = 1e-4,
                     integrator: str = "exact") -> Graph:
    """``n`` conductance-based LIF neurons under Poisson shot-noise input::

        tau_m dV/dt = (E_L - V) + g_e (E_E - V) + g_i (E_I - V)
        tau_E dg_e/dt = -g_e + g_E sum_k delta(t - t_k^E),  tau_I dg_i/dt likewise

    Conductances are in units of the leak conductance (``r = 1``). The afferents are a
    pool of ``N_E`` excitatory and ``N_I`` inhibitory independent Poisson neurons of rates
    ``rates = (nu_E, nu_I)`` Hz (one seeded :class:`~spikecore.extensions.PoissonSource`
    ``afferents``, E first); each neuron draws a fixed in-degree of ``K_E = round(epsilon
    N_E)`` E and ``K_I = round(epsilon N_I)`` I afferents without replacement (seeded).
    Defaults are the COBA benchmark values (Vogels & Abbott 2005; Brette et al. 2007):
    ``tau_m = 20 ms``, ``E_L = V_r = -60 mV``, ``V_th = -50 mV``, ``E_E = 0``,
    ``E_I = -80 mV``, ``tau_E = 5 ms``, ``tau_I = 10 ms``, jumps of 6 nS and 67 nS on a
    10 nS leak (``g_E = 0.6``, ``g_I = 6.7``); no refractory period (CondLIF has none).

    Nodes: ``afferents`` -> ``synapses`` (``Linear`` of shape ``(2 n, N_E + N_I)``: rows
    ``0 .. n-1`` excitatory increments (only E columns non-zero, value ``g_E``), rows
    ``n .. 2n-1`` inhibitory (only I columns, ``g_I``)) -> ``neurons``
    (:class:`~spikecore.extensions.CondLIF`) -> ``output`` (spikes). A spike in step ``t``
    raises the conductance in the same step; the membrane update is the §7 CondLIF update
    (``exact`` default: ``V`` relaxes to ``v_inf`` at rate ``G / tau_m`` with the
    conductances held over the step, so ``E_I <= V <= E_E`` at every step when
    ``E_I <= E_L, V_r <= E_E``).
    """
    n, N_E, N_I = positive_int("n", n, 1), positive_int("N_E", N_E, 0), positive_int("N_I", N_I, 0)
    if N_E + N_I < 1:
        raise InputError("N_E + N_I = 0: expected at least one afferent")
    if not 0 < epsilon <= 1:
        raise InputError(f"epsilon={epsilon!r}: expected a connection probability in (0, 1]")
    nu = np.asarray(rates, dtype=np.float64).ravel()
    if nu.shape != (2,) or np.any(~np.isfinite(nu)) or np.any(nu < 0):
        raise InputError(f"rates={rates!r}: expected two rates (nu_E, nu_I) >= 0 in Hz")
    if g_E < 0 or g_I < 0:
        raise InputError(f"g_E={g_E!r}, g_I={g_I!r}: expected conductance jumps >= 0")
    rng = np.random.default_rng(seed)
    K_E, K_I = int(round(epsilon * N_E)), int(round(epsilon * N_I))
    W = np.zeros((2 * n, N_E + N_I))
    for i in range(n):  # fixed in-degree: rows top (E) and bottom (I)
        W[i, rng.choice(N_E, K_E, replace=False)] = float(g_E)
        W[n + i, N_E + rng.choice(N_I, K_I, replace=False)] = float(g_I)
    full = lambda v: np.full(n, float(v))  # noqa: E731
    nodes: dict[str, Any] = {
        "afferents": PoissonSource(rate=np.concatenate([np.full(N_E, nu[0]),
                                                        np.full(N_I, nu[1])]), seed=int(seed)),
        "synapses": nir.Linear(weight=W),
        "neurons": CondLIF(tau_mem=full(positive("tau_m", tau_m)), r=full(1.0),
                           v_leak=full(E_L), v_threshold=full(V_th), v_reset=full(V_r),
                           tau_exc=full(positive("tau_E", tau_E)),
                           tau_inh=full(positive("tau_I", tau_I)), e_exc=full(E_E),
                           e_inh=full(E_I)),
        "output": nir.Output(output_type=np.array([n])),
    }
    edges = [Edge("afferents", "synapses"), Edge("synapses", "neurons"),
             Edge("neurons", "output")]
    meta = {"model": "cond_lif_poisson", "K_E": K_E, "K_I": K_I, "nu_E": float(nu[0]),
            "nu_I": float(nu[1]), "g_E": float(g_E), "g_I": float(g_I), "seed": int(seed)}
    sem = Semantics(dt=positive("dt", dt), integrator=integrator)
    return Graph(nodes, edges, sem, name="cond_lif_poisson", metadata=meta).validate()
