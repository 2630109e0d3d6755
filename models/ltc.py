"""LTC-SNN: the liquid time-constant spiking network of Yin, Corradi & Bohté (2023).

"Accurate online training of dynamical spiking neural networks through Forward
Propagation Through Time", Nature Machine Intelligence 5 (2023). One recurrent layer of
:class:`spikecore.extensions.ltc.LTCLIF` neurons between an input projection and a leaky readout.
"""

from __future__ import annotations

import math

import nir
import numpy as np

from ..errors import InputError
from ..extensions.ltc import LTCLIF
from ..graph import Edge, Graph
from ..semantics import Semantics
from .connectivity import positive_int

#: The paper's threshold baseline ``b_j0`` and adaptation strength ``beta``.
PAPER_B_J0 = 0.1
PAPER_BETA = 1.8
#: Gate bias centres: the paper's initialisation of its fixed-time-constant neurons
#: (membrane decay ``sigmoid(3) = 0.953``, adaptation decay ``sigmoid(4.6) = 0.990``),
#: carried to the gates: ``g_m = sigmoid(-3) = 0.047`` (``tau_m = dt/g_m`` about 21 steps),
#: ``rho = sigmoid(4.6) = 0.990`` (``tau_adp = -dt/ln(rho)`` about 100 steps).
PAPER_B_MEM = -3.0
PAPER_B_ADP = 4.6


def _xavier_uniform(rng: np.random.Generator, fan_out: int, fan_in: int) -> np.ndarray:
    """Glorot/Xavier uniform ``U(-b, b)``, ``b = sqrt(6 / (fan_in + fan_out))``."""
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-bound, bound, (fan_out, fan_in))


def _orthogonal(rng: np.random.Generator, n: int) -> np.ndarray:
    """A random orthogonal ``n x n`` matrix (QR of a Gaussian matrix, signs fixed so the
    distribution is uniform over the orthogonal group)."""
    q, r = np.linalg.qr(rng.normal(size=(n, n)))
    return q * np.sign(np.diag(r))


def ltc_snn(n_in: int, n_hidden: int, n_out: int, seed: int = 0, dt: float = 1e-3,
            b_j0: float = PAPER_B_J0, beta: float = PAPER_BETA, r_m: float = 1.0,
            b_mem: float = PAPER_B_MEM, b_adp: float = PAPER_B_ADP, bias_std: float = 0.1,
            gate_scale: float = 1.0, w_in_scale: float = 1.0, w_rec_scale: float = 1.0,
            tau_out: float = 20e-3, integrator: str = "euler", reset: str = "to_value"
            ) -> Graph:
    """An LTC-SNN (Yin et al. 2023): ``input -> w_in -> ltc (LTCLIF) -> w_out -> readout
    (LI) -> output``, with recurrence ``ltc -> w_rec -> ltc`` delayed by one step.

    The LTCLIF input is the paper's ``dense_x = W_x x + W_r z[t-1]`` (its ``layer1_x`` and
    ``layer1_r``); the gates (its ``layer1_tauM``, ``layer1_tauAdp``: sigmoid dense layers
    over ``[dense_x, v]`` and ``[dense_x, a]``) are the LTCLIF's ``w_mem_in | w_mem_v``
    and ``w_adp_in | w_adp_a``. Neuron parameters: ``r = r_m``, ``v_leak = 0``,
    ``v_threshold = b_j0``, ``beta``, hard reset to ``v_reset = 0``
    (``Semantics(dt, integrator, reset)``, default the paper's Euler and reset to 0).

    Seeded initialisation (``numpy.random.default_rng(seed)``), as in the paper's code:

    * ``w_in`` (``n_hidden x n_in``): Xavier uniform, times ``w_in_scale``;
    * ``w_rec`` (``n_hidden x n_hidden``): random orthogonal, times ``w_rec_scale``;
    * each gate: one Xavier-uniform ``n_hidden x 2 n_hidden`` matrix over the concatenated
      ``[input, state]`` (bound ``sqrt(2 / n_hidden)``), split into its two halves, times
      ``gate_scale``;
    * gate biases ``b_mem ~ N(b_mem, bias_std^2)``, ``b_adp ~ N(b_adp, bias_std^2)``: by
      default ``g_m`` about ``0.047`` (``tau_m`` about 21 steps) and ``rho`` about 0.990
      (``tau_adp`` about 100 steps) at zero gate input, the paper's initial time
      constants (see :data:`PAPER_B_MEM`, :data:`PAPER_B_ADP`);
    * ``w_out`` (``n_out x n_hidden``): Xavier uniform; readout ``LI(tau_out, r=1,
      v_leak=0)``.
    """
    n_in, n_hidden, n_out = (positive_int(k, v) for k, v in (
        ("n_in", n_in), ("n_hidden", n_hidden), ("n_out", n_out)))
    for k, v in (("dt", dt), ("tau_out", tau_out)):
        if not math.isfinite(float(v)) or float(v) <= 0:
            raise InputError(f"{k}={v!r}: expected a positive finite number (seconds)")
    rng = np.random.default_rng(seed)
    n = n_hidden
    w_in = _xavier_uniform(rng, n, n_in) * w_in_scale
    w_rec = _orthogonal(rng, n) * w_rec_scale
    gate_m = _xavier_uniform(rng, n, 2 * n) * gate_scale
    gate_a = _xavier_uniform(rng, n, 2 * n) * gate_scale
    bm = rng.normal(b_mem, bias_std, n)
    ba = rng.normal(b_adp, bias_std, n)
    w_out = _xavier_uniform(rng, n_out, n)
    full = lambda v: np.full(n, float(v))  # noqa: E731
    nodes = {
        "input": nir.Input(input_type=np.array([n_in])),
        "w_in": nir.Linear(weight=w_in),
        "ltc": LTCLIF(w_mem_in=gate_m[:, :n].copy(), w_mem_v=gate_m[:, n:].copy(), b_mem=bm,
                      w_adp_in=gate_a[:, :n].copy(), w_adp_a=gate_a[:, n:].copy(), b_adp=ba,
                      r=full(r_m), v_leak=full(0.0), v_threshold=full(b_j0),
                      v_reset=full(0.0), beta=full(beta)),
        "w_rec": nir.Linear(weight=w_rec),
        "w_out": nir.Linear(weight=w_out),
        "readout": nir.LI(tau=np.full(n_out, float(tau_out)), r=np.ones(n_out),
                          v_leak=np.zeros(n_out)),
        "output": nir.Output(output_type=np.array([n_out])),
    }
    edges = [Edge("input", "w_in"), Edge("w_in", "ltc"), Edge("ltc", "w_rec"),
             Edge("w_rec", "ltc", 1), Edge("ltc", "w_out"), Edge("w_out", "readout"),
             Edge("readout", "output")]
    meta = {"model": "ltc_snn", "paper": "Yin, Corradi & Bohte 2023 (Nat. Mach. Intell.)",
            "seed": int(seed)}
    return Graph(nodes, edges, Semantics(dt=float(dt), integrator=integrator, reset=reset),
                 name="ltc_snn", metadata=meta).validate()


def effective_tau_m(g_m: np.ndarray, dt: float) -> np.ndarray:
    """The membrane time constant a gate value stands for: ``tau_m = dt / g_m`` (s)."""
    return float(dt) / np.asarray(g_m, dtype=np.float64)


__all__ = ["PAPER_BETA", "PAPER_B_ADP", "PAPER_B_J0", "PAPER_B_MEM", "effective_tau_m",
           "ltc_snn"]
