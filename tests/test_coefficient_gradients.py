"""Torch autograd of every neuron coefficient against central differences, in float64.

The coefficients are written once over an array namespace (spikecore.discrete.coefficients):
the torch backend differentiates the same formulas the numpy reference evaluates. The
difference quotient here is taken on the *numpy* evaluation, so a formula that is right in
value but has a wrong derivative in torch (the old difference form of the exact CubaLIF
coupling, ``tau_syn / (tau_syn - tau_mem) * (a_syn - a_mem)``, near ``tau_syn = tau_mem``)
fails. Includes ``tau_syn / tau_mem - 1`` in {1e-4, 1e-6, 1e-8, 0}.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import spikecore as sc
from spikecore import primitives as P
from spikecore.discrete import COEFFICIENTS, coefficients

TYPES = (P.I, P.IF, P.LI, P.LIF, P.CubaLI, P.CubaLIF)
SEMANTICS = [sc.Semantics(dt=1e-3, integrator=i, input_meaning=m, update_order=o)
             for i, m, o in itertools.product(("euler", "exact"), ("current", "increment"),
                                              ("current_first", "voltage_first"))]
BASE = {"tau": 0.02, "tau_syn": 0.005, "tau_mem": 0.02, "r": 1.3, "v_leak": -0.2,
        "w_in": 0.7, "v_threshold": 1.0, "v_reset": 0.1}
#: tau_syn / tau_mem - 1 near and at the removable singularity of the exact coupling.
CLOSE = (1e-4, 1e-6, 1e-8, 0.0)


def _params(node_type: type, values: dict[str, float]) -> list[str]:
    return [p for p in P.SPECS[node_type].array_params if p in values]


def _numeric(node_type, sem, values, name, coef, h_rel=1e-6) -> float:
    """Central difference of coefficient ``coef`` in parameter ``name`` (numpy)."""
    h = h_rel * max(abs(values[name]), 1e-3)

    def at(x: float) -> float:
        p = {k: np.array([x if k == name else v]) for k, v in values.items()}
        out = getattr(coefficients(np, node_type, p, sem), coef)
        return float(out[0]) if out is not None else 0.0

    return (at(values[name] + h) - at(values[name] - h)) / (2 * h)


def _autograd(node_type, sem, values, name, coef) -> float:
    p = {k: torch.tensor([v], dtype=torch.float64, requires_grad=(k == name))
         for k, v in values.items()}
    out = getattr(coefficients(torch, node_type, p, sem), coef)
    if out is None or not out.requires_grad:
        return 0.0
    (g,) = torch.autograd.grad(out.sum(), p[name])
    return float(g[0])


def _check(node_type, sem, values, rtol=1e-6, atol=1e-9) -> None:
    bad = []
    for name in _params(node_type, values):
        for coef in COEFFICIENTS:
            num = _numeric(node_type, sem, values, name, coef)
            ana = _autograd(node_type, sem, values, name, coef)
            if not np.isclose(ana, num, rtol=rtol, atol=atol):
                bad.append(f"d {coef} / d {name}: autograd {ana!r} vs central difference {num!r}")
    assert not bad, f"{node_type.__name__} under {sem}:\n  " + "\n  ".join(bad)


@pytest.mark.parametrize("sem", SEMANTICS, ids=str)
@pytest.mark.parametrize("node_type", TYPES, ids=lambda t: t.__name__)
def test_every_coefficient_gradient_equals_central_differences(node_type, sem) -> None:
    values = {k: v for k, v in BASE.items() if k in P.SPECS[node_type].array_params}
    _check(node_type, sem, values)


@pytest.mark.parametrize("closeness", CLOSE)
@pytest.mark.parametrize("input_meaning", ["current", "increment"])
def test_exact_coupling_gradient_near_equal_time_constants(closeness, input_meaning) -> None:
    sem = sc.Semantics(dt=1e-3, integrator="exact", input_meaning=input_meaning)
    values = {k: v for k, v in BASE.items() if k in P.SPECS[P.CubaLIF].array_params}
    values["tau_syn"] = values["tau_mem"] * (1.0 + closeness)
    # The difference quotient itself loses digits (h ~ 2e-8 s here): 1e-6 relative is what
    # the correct derivative meets and what the old difference form missed by 4e-3 at
    # closeness 1e-6 (and by sign at 1e-8).
    _check(P.CubaLIF, sem, values, rtol=1e-6, atol=1e-7)


def test_exact_coupling_value_is_the_limit_at_equal_time_constants() -> None:
    """K = (dt / tau) exp(-dt / tau) when tau_syn = tau_mem (closed form, not discrete.py)."""
    dt, tau = 1e-3, 0.02
    p = {k: np.array([v]) for k, v in BASE.items()}
    p["tau_syn"] = p["tau_mem"] = np.array([tau])
    co = coefficients(np, P.CubaLIF, p, sc.Semantics(dt=dt, integrator="exact"))
    expected = BASE["r"] * dt / tau * np.exp(-dt / tau)
    assert co.k_old[0] == pytest.approx(expected, rel=1e-15, abs=0.0)


@pytest.mark.parametrize("d_target", [-9e-5, -3e-5, 2e-5, 9e-5])
def test_exact_coupling_series_branch_is_exact_to_rounding(d_target: float) -> None:
    """Below |d| = 1e-4 the coupling uses the series of expm1(d)/d: it must equal
    ``math.expm1(d) / d`` (correctly rounded to ~1 ulp) to a few ulps, not just to 1e-12
    (a series missing its d^3 term is off by d^3/24 ~ 3e-14 at |d| = 9e-5)."""
    import math

    dt, tm = 1e-3, 0.02
    # d = dt (ts - tm) / (ts tm)  =>  ts = tm / (1 - d tm / dt)
    ts = tm / (1.0 - d_target * tm / dt)
    p = {k: np.array([v]) for k, v in BASE.items()}
    p["tau_syn"], p["tau_mem"] = np.array([ts]), np.array([tm])
    co = coefficients(np, P.CubaLIF, p, sc.Semantics(dt=dt, integrator="exact"))
    d = dt * (ts - tm) / (ts * tm)
    expected = BASE["r"] * (dt / tm * math.exp(-dt / tm) * (math.expm1(d) / d))
    assert co.k_old[0] == pytest.approx(expected, rel=1e-15, abs=0.0), (d, co.k_old[0], expected)
