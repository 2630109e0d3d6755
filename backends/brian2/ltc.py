"""Brian2 lowering of :class:`spikecore.extensions.ltc.LTCLIF` (discrete mode).

Registered into :data:`.registry.BUILDERS` (the package imports every lowering module).
Inside the node's slot of the step (see the :mod:`.lowering`
module docstring)::

    +1   run_regularly   xin = x                       (this step's input I[t])
    +2   summed variable gate_m = sum_j w_mem_in[i,j] xin_j + w_mem_v[i,j] v_j   (Synapses)
    +3   summed variable gate_a = sum_j w_adp_in[i,j] xin_j + w_adp_a[i,j] adapt_j
    +10  run_regularly   rho = sigmoid(gate_a + b_adp); adapt = rho*adapt + (1-rho)*y
                         gm = sigmoid(gate_m + b_mem); k = gm | 1 - exp(-gm)
                         v = v + k*(v_leak - v + r*x); y = 0
    +20  thresholder     v > v_th + beta*adapt
    +30  resetter        v = v_reset | v - (v_th - v_reset); y = 1
    +35  run_regularly   zl = y                        (only when ``z`` is recorded)

The gate products are ``Synapses`` from the group onto itself (block-diagonal over the
batch: sample ``b``'s neuron ``j`` feeds only sample ``b``'s neurons) with summed
variables, scheduled at +2/+3, i.e. before this step's update: ``v_pre`` and
``adapt_pre`` are still ``v[t-1]`` and ``a[t-1]``. At +10 ``y`` still holds last step's
spike ``z[t-1]`` (the update sets it to 0 only afterwards; the resetter sets 1), which
is what the adaptation reads. A gate whose two matrices are all zero has no Synapses (its
argument is the bias alone); a zero matrix contributes no term. Synapses exist only for
nonzero entries. Plain Brian2 code: runs on the numpy and cython targets alike.

The sums run over synapses in Brian2's order, not numpy's matrix product: states equal
the numpy contract to rounding (float64), not bit for bit.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...extensions.ltc import LTCLIF, ltc_coefficients
from .nir_primitives import reset_code
from .registry import BUILDERS, CONTINUOUS_REFUSALS, Lowerer, discrete_only, register_state

#: The ``sigmoid`` of :func:`spikecore.extensions.ltc.sigmoid`, written out for Brian2.
_SIGMOID = "1.0 / (1.0 + exp(-({})))"


def _gate(low: Any, name: str, target: str, w_in: np.ndarray, w_self: np.ndarray,
          self_var: str, sub: int) -> bool:
    """Synapses computing ``target = w_in @ xin + w_self @ self_var`` per sample, summed
    at ``sub``; returns False (nothing built) when both matrices are all zero."""
    terms = [(w, var) for w, var in ((w_in, "xin"), (w_self, self_var)) if np.any(w)]
    if not terms:
        return False
    n, nb = low.size[name], low.B
    post, pre = np.nonzero(np.logical_or.reduce([w != 0 for w, _ in terms]))
    eqs = [f"w{k} : 1 (constant)" for k in range(len(terms))]
    expr = " + ".join(f"w{k} * {var}_pre" for k, (_, var) in enumerate(terms))
    eqs.append(f"{target}_post = {expr} : 1 (summed)")

    def connect() -> None:
        g = low.groups[name]
        syn = low.b2.Synapses(g, g, "\n".join(eqs), clock=low.clock,
                              name=low.bname[name] + f"__{target}")
        offs = (np.arange(nb)[:, None] * n)
        syn.connect(i=(offs + pre[None, :]).ravel(), j=(offs + post[None, :]).ravel())
        for k, (w, _) in enumerate(terms):
            setattr(syn, f"w{k}", np.tile(w[post, pre], nb))
        for upd in syn.summed_updaters.values():
            upd.when = "groups"
            upd.order = low.slot(name, sub)
        low.objects.append(syn)

    low.deferred.append(connect)
    return True


def _build_ltc(low: Any, name: str, node: LTCLIF) -> None:
    shape = low.shapes[name]
    co = ltc_coefficients(node, low.sem, shape)
    lines = [*low.input_lines(name), "v : 1", "adapt : 1", "xin : 1", "gate_m : 1", "gate_a : 1",
             "zl : 1"]
    params: dict[str, tuple] = {
        "ltc_bm": (co.b_mem, "1"), "ltc_ba": (co.b_adp, "1"), "ltc_r": (co.r, "1"),
        "ltc_vl": (co.v_leak, "1"), "v_th": (co.v_threshold, "1"), "ltc_beta": (co.beta, "1")}
    reset = reset_code(co.reset, co.v_reset, co.reset_amount, params)
    g = low.make_group(name, lines, params=params, threshold="v > v_th + ltc_beta * adapt",
                       reset=reset)
    g.v = np.tile(co.v_leak.ravel(), low.B)
    has_m = _gate(low, name, "gate_m", co.w_mem_in, co.w_mem_v, "v", 2)
    has_a = _gate(low, name, "gate_a", co.w_adp_in, co.w_adp_a, "adapt", 3)
    if np.any(co.w_mem_in) or np.any(co.w_adp_in):
        # Synapses read a stored variable, not the linked-variable sum x itself.
        low.update(name, "xin = x", sub=1)
    code = [
        "rho = " + _SIGMOID.format("gate_a + ltc_ba" if has_a else "ltc_ba"),
        "adapt = rho * adapt + (1 - rho) * y",
        "gm = " + _SIGMOID.format("gate_m + ltc_bm" if has_m else "ltc_bm"),
        "k = 1 - exp(-gm)" if co.exact else "k = gm",
        "v = v + k * (ltc_vl - v + ltc_r * x)",
        "y = 0",
    ]
    low.update(name, "\n".join(code))
    if "z" in low.record.get(name, ()):
        low.update(name, "zl = y", sub=35)


LOWERINGS = {
    LTCLIF: Lowerer(_build_ltc, "discrete mode; the update of spikecore.extensions.ltc (gates as "
                      "self-Synapses with summed variables)", discrete_only),
}
BUILDERS.update(LOWERINGS)
CONTINUOUS_REFUSALS["LTCLIF"] = (
    "no continuous-time form: its gates are per-step quantities (the update depends on "
    "dt only through the integrator choice), so there is no ODE to integrate")
register_state("a", "adapt")
register_state("z", "zl")

__all__ = ["LOWERINGS"]
