"""Brian2 lowering of the plastic connections of :mod:`spikecore.extensions.plasticity`
(STDPLinear, VogelsLinear, HebbianLinear; discrete mode).

Three objects per node: the node's group (``batch * n_out``: ``y``, the post traces
``o1``, ``o2``), a presynaptic group ``<node>__pre`` (``batch * n_in``: the pre traces
``r1``, ``r2``) and all-to-all ``Synapses`` pre -> post within each batch element holding
``w`` (synapse ``(b * n_out + i) * n_in + j`` is ``W[b, i, j]``). Inside the node's slot
of the step (see the :mod:`.lowering` module docstring), the update of
:func:`spikecore.extensions.plasticity.stdp_step`, one operation per statement (Brian2
passes each statement through sympy, which may reorder a longer expression)::

    +1  post group  q = xpost; o2h = a_y*o2; fp = q*(a2_plus + a3_plus*o2h);
                    o1 = a_minus*o1 + q; o2 = o2h + q; dm = a_minus*o1
        pre group   p = xpre; r2h = a_x*r2; fm = p*(a2_minus + a3_minus*r2h) [; fc = a_pre*p]
    +2  synapses    d = fp_post*r1_pre [; d = d*(w_max - w)]; w = clip(w + d, w_min, w_max)
    +3  summed      y_post = w * p_pre
    +4  synapses    d = dm_post*fm_pre [; d = d + fc_pre] [; d = d*(w - w_min)]; w = clip(w - d, w_min, w_max)
    +5  pre group   r1 = a_plus*r1 + p; r2 = r2h + p

``xpre``/``xpost``: sums over the incoming edges of the first ``n_in`` / last ``n_out``
elements of each source (linked variables with an index map, as for CondLIF). The weights
and traces are recorded from the object holding them (:attr:`.lowering.Lowering.held`).
The summed ``y`` adds the synapses in Brian2's order: ``y`` equals the reference to
rounding, ``w`` and the traces are computed by the same operations as numpy's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...extensions.plasticity import COEFFICIENT_RULES, PlasticLinear, plastic_coefficients
from .registry import BUILDERS, CONTINUOUS_REFUSALS, Lowerer, discrete_only


def _split_links(low: Any, name: str, group: Any, var: str, offset: int, n: int) -> str:
    """Linked variables ``<var>_k`` reading elements ``offset .. offset + n - 1`` of every
    incoming edge's source (per batch element); returns their sum's equation."""
    ins = low.incoming[name]
    width = low.size[name] + int(np.shape(low.graph.nodes[name].weight)[1])
    index = (np.arange(low.B)[:, None] * width + offset + np.arange(n)[None, :]).ravel()

    def link() -> None:
        for k, e in enumerate(ins):
            setattr(group, f"{var}_{k}",
                    low.b2.linked_var(low.groups[e.source], e.var, index=index))

    low.deferred.append(link)
    return " + ".join(f"{var}_{k}" for k in range(len(ins))) or "0"


def _build_stdp(low: Any, name: str, node: PlasticLinear) -> None:
    b2 = low.b2
    co = plastic_coefficients(node, low.sem)
    n_out, n_in = node.dims()
    B = low.B
    ins = range(len(low.incoming[name]))
    g = low.make_group(name, [*(f"xpost_{k} : 1 (linked)" for k in ins), "q : 1", "o1 : 1",
                              "o2 : 1", "o2h : 1", "fp : 1", "dm : 1"],
                       params={k: (np.full(n_out, v), "1") for k, v in (
                           ("a_y", co.a_y), ("a_minus", co.a_minus), ("a2p", co.a2_plus),
                           ("a3p", co.a3_plus))})
    pre = b2.NeuronGroup(B * n_in, "\n".join([*(f"xpre_{k} : 1 (linked)" for k in ins),
                                              "p : 1", "r1 : 1", "r2 : 1", "r2h : 1",
                                              "fm : 1", "fc : 1"]),
                         clock=low.clock, name=low.bname[name] + "__pre",
                         namespace={"a_x": co.a_x, "a_plus": co.a_plus, "a2m": co.a2_minus,
                                    "a3m": co.a3_minus, "a_pre": co.a_pre})
    xpost = _split_links(low, name, g, "xpost", n_in, n_out)
    xpre = _split_links(low, name, pre, "xpre", 0, n_in)
    low.update(name, "\n".join([
        f"q = {xpost}", "o2h = a_y * o2", "fp = a3p * o2h", "fp = a2p + fp", "fp = q * fp",
        "o1 = a_minus * o1", "o1 = o1 + q", "o2 = o2h + q", "dm = a_minus * o1"]), sub=1)
    pre.run_regularly("\n".join([
        f"p = {xpre}", "r2h = a_x * r2", "fm = a3m * r2h", "fm = a2m + fm", "fm = p * fm",
        *(["fc = a_pre * p"] if co.a_pre else [])]),
        when="groups", order=low.slot(name, 1), clock=low.clock,
        name=low.bname[name] + "__pre_in")
    pre.run_regularly("\n".join(["r1 = a_plus * r1", "r1 = r1 + p", "r2 = r2h + p"]),
                      when="groups", order=low.slot(name, 5), clock=low.clock,
                      name=low.bname[name] + "__pre_traces")
    syn = b2.Synapses(pre, g, "w : 1\nd : 1\ny_post = w * p_pre : 1 (summed)",
                      clock=low.clock, name=low.bname[name] + "__w",
                      namespace={"w_lo": co.w_min, "w_hi": co.w_max})
    b = np.arange(B)[:, None, None]
    post_i = (b * n_out + np.arange(n_out)[None, :, None]) + 0 * np.arange(n_in)[None, None, :]
    pre_j = (b * n_in + np.arange(n_in)[None, None, :]) + 0 * np.arange(n_out)[None, :, None]
    syn.connect(i=pre_j.ravel(), j=post_i.ravel())
    syn.w = np.broadcast_to(np.asarray(node.weight, np.float64), (B, n_out, n_in)).ravel()
    ltp = ["d = fp_post * r1_pre"] + (["d = d * (w_hi - w)"] if co.soft else [])
    ltd = ["d = dm_post * fm_pre"] + (["d = d + fc_pre"] if co.a_pre else []) + (
        ["d = d * (w - w_lo)"] if co.soft else [])
    syn.run_regularly("\n".join([*ltp, "w = clip(w + d, w_lo, w_hi)"]), when="groups",
                      order=low.slot(name, 2), clock=low.clock, name=low.bname[name] + "__ltp")
    syn.run_regularly("\n".join([*ltd, "w = clip(w - d, w_lo, w_hi)"]), when="groups",
                      order=low.slot(name, 4), clock=low.clock, name=low.bname[name] + "__ltd")
    for upd in syn.summed_updaters.values():
        upd.when = "groups"
        upd.order = low.slot(name, 3)
    low.objects += [pre, syn]
    low.held[name] = {"w": (syn, "w", (n_out, n_in)), "r1": (pre, "r1", (n_in,)),
                      "r2": (pre, "r2", (n_in,)), "o1": (g, "o1", (n_out,)),
                      "o2": (g, "o2", (n_out,))}


for _t in COEFFICIENT_RULES:
    BUILDERS[_t] = Lowerer(_build_stdp, "discrete mode; the update of spikecore.extensions."
                           "plasticity (weights on all-to-all Synapses, LTP, transmission "
                           "and LTD in separate slots)", discrete_only)
    CONTINUOUS_REFUSALS[_t.__name__] = (
        "its post spikes (rates) arrive over a delay-1 edge and each is paired at its own "
        "step: a per-step rule, not yet written as event-driven continuous-time synapses")

__all__: list[str] = []
