"""Formulas from the papers, evaluated with scipy, shared by the paper checks.

Nothing here calls spikecore: these are the expected values the simulations are checked
against.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy import integrate, optimize, special


def siegert_rate(mu: float, sigma: float, theta: float, v_reset: float, tau: float,
                 tau_rp: float = 0.0) -> float:
    """Stationary rate (Hz) of ``tau dV/dt = -V + mu + sigma sqrt(tau) eta(t)`` with
    threshold ``theta``, reset ``v_reset`` and refractory period ``tau_rp`` (Siegert;
    Ricciardi; Brunel 2000 eq. 21)::

        1/nu = tau_rp + tau sqrt(pi) int_{(v_reset - mu)/sigma}^{(theta - mu)/sigma}
               e^{u^2} (1 + erf u) du
    """
    # e^{u^2} (1 + erf u) = erfcx(-u): no overflow for large |u|.
    integral, _ = integrate.quad(lambda u: special.erfcx(-u), (v_reset - mu) / sigma,
                                 (theta - mu) / sigma, epsabs=1e-12)
    return 1.0 / (tau_rp + tau * math.sqrt(math.pi) * integral)


def gaussian_average(f: Callable[[float], float]) -> float:
    """``<f(z)>`` for ``z ~ N(0, 1)``."""
    return integrate.quad(lambda z: np.exp(-z * z / 2) / np.sqrt(2 * np.pi) * f(z),
                          -np.inf, np.inf, epsabs=1e-12)[0]


def _ln_cosh(x: float) -> float:
    return np.logaddexp(x, -x) - np.log(2.0)  # overflow-safe


def scs_energy(delta0: float, g: float) -> float:
    """The Sompolinsky-Crisanti-Sommers (1988) dynamic mean-field condition
    ``Delta_0^2 / 2 = g^2 (<Phi(sqrt(Delta_0) z)^2> - <Phi(sqrt(Delta_0) z)>^2)``,
    ``Phi = ln cosh``, written as left side minus right side."""
    sd = math.sqrt(delta0)
    return delta0 * delta0 / 2 - g * g * (gaussian_average(lambda z: _ln_cosh(sd * z) ** 2)
                                          - gaussian_average(lambda z: _ln_cosh(sd * z)) ** 2)


def scs_delta0(g: float) -> float:
    """Variance ``Delta_0 = <x_i^2>`` of the chaotic state (g > 1) of
    ``tau dx/dt = -x + J tanh(x)``, ``J_ij ~ N(0, g^2/N)``: the positive root of
    :func:`scs_energy`."""
    return optimize.brentq(scs_energy, 1e-6, 100.0, args=(g,))


def brunel_ai_rate(N_E: int, gamma: float, epsilon: float, J: float, g: float, eta: float,
                   tau: float, theta: float, V_r: float, tau_rp: float,
                   ext_variance: float = 1.0) -> float:
    """The self-consistent rate (Hz) of the asynchronous-irregular state of Brunel (2000)
    model A (eqs. 4-5 and 21): ``nu = siegert_rate(mu(nu), sigma(nu))`` with

        mu      = J tau (C_E (nu_ext + nu) - g C_I nu)
        sigma^2 = J^2 tau (C_E (nu_ext v_ext + nu) + g^2 C_I nu)

    ``C_E = epsilon N_E``, ``C_I = epsilon gamma N_E``, ``nu_ext = eta theta / (J C_E tau)``;
    ``ext_variance`` (``v_ext``) is the external count's variance relative to Poisson.
    """
    C_E, C_I = round(epsilon * N_E), round(epsilon * round(gamma * N_E))
    nu_ext = eta * theta / (J * C_E * tau)

    def rate(nu: float) -> float:
        mu = J * tau * (C_E * (nu_ext + nu) - g * C_I * nu)
        s2 = J * J * tau * (C_E * (nu_ext * ext_variance + nu) + g * g * C_I * nu)
        return siegert_rate(mu, math.sqrt(s2), theta, V_r, tau, tau_rp)

    return optimize.brentq(lambda nu: nu - rate(nu), 1e-3, 1.0 / tau_rp - 1e-3, xtol=1e-10)
