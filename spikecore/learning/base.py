"""One interface for online gradient rules, BPTT as their reference, and comparisons.

A rule is made for a network (:class:`~spikecore.learning.networks.OnlineRNN`) and runs
it forward one step at a time::

    rule = RTRL(net)                      # or UORO, KFRTRL, RFLO, EProp
    opt = torch.optim.SGD(net.parameters(), lr=1e-2)
    for x_t, y_t in zip(xs, targets):
        loss_t = rule.step(x_t, y_t)      # adds the estimate of dL_t/dtheta to .grad
        opt.step(); opt.zero_grad()       # every step (online) or every sequence
    rule.reset()                          # next sequence: fresh state and traces

The loss of step ``t`` is ``L_t = 1/2 ||y[t] - y*[t]||^2`` (``target=None``: no loss
that step). ``step`` *adds* its estimate to ``param.grad`` (as ``L_t.backward()``
would), so summing over a sequence with fixed parameters gives the estimate of
``dL/dtheta`` for ``L = sum_t L_t``, BPTT's gradient (:func:`bptt_gradients`) for an
exact rule. The readout's gradient ``dL_t/dW_out = (y - y*) r[t]^T`` is exact for
every rule; the rules differ in ``dL_t/dW`` of ``W = [W_rec | W_in | b]`` only, which
each writes as ``sum_i c_i[t] (d r_i[t] / dW)`` with ``c = W_out^T (y - y*)`` (or a
feedback matrix's) and its own estimate of the influence ``d s[t] / dW`` (Marschall,
Cho & Savin 2020: ``dL_t/dtheta = c[t] M[t]``).

``rule.memory_floats()`` counts the numbers the rule carries from step to step for
learning (its traces; not the network's own state, not fixed matrices).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import SpikecoreError
from ..graph import Graph
from .networks import HIDDEN_PARAMS, LIFRNN, OnlineRNN


def apply_jacobian(net: OnlineRNN, L: torch.Tensor, D: torch.Tensor, X: torch.Tensor
                   ) -> torch.Tensor:
    """``J X`` for ``X`` indexed ``[C, n, ...]`` by the state: ``(J X)[c', i] =
    sum_c L[c', c, i] X[c, i] + D[c', i] (W_rec X[R])[i]`` (networks module docstring)."""
    tail = X.shape[2:]
    local = torch.einsum("dci,ci...->di...", L, X)
    rec = (net.w_rec @ X[net.output_component].reshape(net.n, -1)).reshape(net.n, *tail)
    return local + D.reshape(*D.shape, *([1] * len(tail))) * rec[None]


def local_trace_step(L: torch.Tensor, D: torch.Tensor, E: torch.Tensor, a: torch.Tensor
                     ) -> torch.Tensor:
    """One step of the local eligibility trace of RFLO, e-prop and ModProp: the
    influence of ``W_ij`` on neuron ``i``'s own state through that neuron only::

        E[t][c', ..., i, j] = sum_c L[c', c, ..., i] E[t-1][c, ..., i, j] + D[c', ..., i] a[..., j]

    ``L [C, C, ..., n]``, ``D [C, ..., n]``, ``E [C, ..., n, m]``, presynaptic ``a [..., m]``;
    ``...`` is empty (one sequence) or a batch axis. Blocks of ``L`` that are zero this
    step are skipped: a spiking cell's state does not depend on its own last spike, and
    with the reset stopped the membrane not on the adaptation, so about half of an ALIF's
    ``C x C`` blocks are (this loop costs a third of a dense einsum there)."""
    out = D[..., None] * a[..., None, :].unsqueeze(0)
    live = L.reshape(L.shape[0], L.shape[1], -1).ne(0).any(-1).tolist()
    for d, row in enumerate(live):
        for c, nonzero in enumerate(row):
            if nonzero:
                out[d].addcmul_(L[d, c][..., None], E[c])
    return out


class Rule:
    """What every learning rule of :mod:`spikecore.learning` offers, whatever it trains
    (a :class:`~spikecore.learning.networks.OnlineRNN`, or a module made by
    :func:`spikecore.to_torch` for the graph e-prop): :meth:`step` advances the network
    by one step and *adds* the rule's estimate of that step's ``dL_t/dtheta`` to
    ``.grad`` (as ``L_t.backward()`` would), :meth:`run` does a whole sequence from a
    fresh state, :meth:`reset` starts one, :meth:`memory_floats` counts what the rule
    carries from step to step for learning."""

    def reset(self) -> None:
        raise NotImplementedError

    def step(self, x: torch.Tensor, target: torch.Tensor | None = None) -> float:
        raise NotImplementedError

    def run(self, xs: torch.Tensor, targets: torch.Tensor,
            mask: torch.Tensor | None = None) -> float:
        raise NotImplementedError

    def memory_floats(self) -> int:
        raise NotImplementedError


class OnlineRule(Rule):
    """Base of the online rules: the network's forward step, the exact readout gradient
    and the bookkeeping; a subclass carries its influence estimate (:meth:`_propagate`)
    and turns it into ``dL_t/dW`` (:meth:`_hidden_gradient`).

    Args:
        net: the network trained (its parameters receive ``.grad``), or a spikecore
            :class:`~spikecore.graph.Graph` of :meth:`LIFRNN.from_graph`'s form, which is
            read into a :class:`LIFRNN` (``rule.net``; ``rule.net.to_graph()`` gives the
            trained graph back).
        seed: seeds the rule's random numbers (UORO, KF-RTRL signs; RFLO feedback).
        detach_reset: spiking networks: stop the reset's dependence on the spike in the
            local derivatives ``L, D``; ``None``: the rule's default (:attr:`detach_reset`).
    """

    #: Default of ``detach_reset``: e-prop and ModProp stop the reset's path, as Bellec
    #: et al. do; the others keep it (RTRL is then exact).
    detach_reset: bool = False

    def __init__(self, net: OnlineRNN, seed: int = 0, detach_reset: bool | None = None):
        self.net = as_network(net, type(self).__name__)
        self.seed = int(seed)
        if detach_reset is not None:
            self.detach_reset = bool(detach_reset)
        self.generator = torch.Generator().manual_seed(self.seed)
        self.reset()

    def reset(self) -> None:
        """Start a new sequence: the network's initial state, zero traces."""
        self.state = self.net.initial_state().detach()
        self._reset_traces()

    def _reset_traces(self) -> None:
        raise NotImplementedError

    def memory_floats(self) -> int:
        """Numbers carried from step to step for learning (see module docstring)."""
        raise NotImplementedError

    def _propagate(self, L: torch.Tensor, D: torch.Tensor, a: torch.Tensor) -> None:
        """Advance the influence estimate from ``s[t-1]`` to ``s[t]``."""
        raise NotImplementedError

    def _hidden_gradient(self, err: torch.Tensor) -> torch.Tensor:
        """The estimate of ``dL_t / dW`` ``[n, m]`` from the readout error ``y - y*``."""
        raise NotImplementedError

    def _signs(self, *shape: int) -> torch.Tensor:
        """Independent random signs (+1/-1), from the rule's seeded generator."""
        bits = torch.randint(0, 2, shape, generator=self.generator)
        return (2.0 * bits - 1.0).to(self.net.w_rec.dtype)

    @torch.no_grad()
    def step(self, x: torch.Tensor, target: torch.Tensor | None = None) -> float:
        """Advance the network and the rule by one step; add the estimate of
        ``dL_t/dtheta`` to ``.grad`` of the network's parameters; return ``L_t``
        (0.0 and no gradient when ``target`` is None)."""
        net = self.net
        x = torch.as_tensor(x, dtype=net.w_rec.dtype)
        a = net.presynaptic(self.state, x)
        u = net.weight() @ a
        s_new, L, D = net.local_derivatives(self.state, u, self.detach_reset)
        self._propagate(L, D, a)
        self.state = s_new
        if target is None:
            return 0.0
        err = net.readout(s_new) - torch.as_tensor(target, dtype=x.dtype)
        grads = net.split(self._hidden_gradient(err))
        grads["w_out"] = torch.outer(err, s_new[net.output_component])
        grads["b_out"] = err
        for name, g in grads.items():
            p = getattr(net, name)
            p.grad = g.clone() if p.grad is None else p.grad + g
        return 0.5 * float(err @ err)

    def run(self, xs: torch.Tensor, targets: torch.Tensor,
            mask: torch.Tensor | None = None) -> float:
        """A whole sequence from a fresh state, gradients summed into ``.grad``; returns
        ``L = sum_t L_t`` (steps with ``mask[t]`` false carry no loss)."""
        self.reset()
        total = 0.0
        for t in range(len(xs)):
            keep = mask is None or bool(mask[t])
            total += self.step(xs[t], targets[t] if keep else None)
        return total


def as_network(net: OnlineRNN | Graph, rule: str) -> OnlineRNN:
    """What a rule trains: an :class:`OnlineRNN` as is, a graph read by
    :meth:`LIFRNN.from_graph`; anything else raises, saying what can train it."""
    if isinstance(net, Graph):
        try:
            return LIFRNN.from_graph(net)
        except SpikecoreError as exc:
            raise SpikecoreError(f"{rule}: {exc}\n(e-prop also trains a recurrent LIF/ALIF "
                                 "layer with a leaky LI readout, batched: "
                                 "EProp(sc.to_torch(graph)))") from None
    if not isinstance(net, OnlineRNN):
        raise SpikecoreError(
            f"{rule} trains a spikecore.learning network (RateRNN, LIFRNN) or a spikecore "
            f"Graph of LIFRNN's form; got {type(net).__name__}. Any to_torch module with one "
            "LIF/ALIF layer and an LI readout: EProp(module)")
    return net


def bptt_gradients(net: OnlineRNN, xs: torch.Tensor, targets: torch.Tensor,
                   mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """BPTT's ``dL/dtheta`` of ``L = sum_t 1/2 ||y[t] - y*[t]||^2`` (masked steps
    excluded): torch autograd through the unrolled network (:meth:`OnlineRNN.forward`)."""
    net.zero_grad(set_to_none=True)
    ys = net(xs)
    sq = 0.5 * ((ys - targets) ** 2).sum(1)
    loss = sq.sum() if mask is None else sq[torch.as_tensor(mask, dtype=torch.bool)].sum()
    loss.backward()
    out = {k: p.grad.detach().clone() for k, p in net.named_parameters()}
    net.zero_grad(set_to_none=True)
    return out


def rule_gradients(rule: OnlineRule, xs: torch.Tensor, targets: torch.Tensor,
                   mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """The rule's summed estimate over one sequence (``.grad`` cleared before and after)."""
    rule.net.zero_grad(set_to_none=True)
    rule.run(xs, targets, mask)
    out = {k: p.grad.detach().clone() for k, p in rule.net.named_parameters()}
    rule.net.zero_grad(set_to_none=True)
    return out


@dataclass(frozen=True)
class GradientDifference:
    """One parameter's difference between two gradients."""

    name: str
    max_abs: float
    max_rel: float  # max_abs / max |reference|


def compare_gradients(estimate: dict[str, torch.Tensor], reference: dict[str, torch.Tensor]
                      ) -> list[GradientDifference]:
    """Per parameter: the largest absolute difference, and it relative to the largest
    entry of the reference; names missing from either side raise."""
    if set(estimate) != set(reference):
        raise SpikecoreError(f"gradients of different parameters: {sorted(estimate)} vs "
                             f"{sorted(reference)}")
    out = []
    for name, ref in reference.items():
        diff = float((estimate[name] - ref).abs().max())
        scale = float(ref.abs().max())
        out.append(GradientDifference(name, diff, diff / scale if scale > 0 else diff))
    return out


def assert_gradients_close(estimate: dict[str, torch.Tensor],
                           reference: dict[str, torch.Tensor], rtol: float) -> None:
    """Raise ``AssertionError`` naming every parameter whose relative difference
    (:func:`compare_gradients`) exceeds ``rtol``."""
    bad = [d for d in compare_gradients(estimate, reference) if not d.max_rel <= rtol]
    if bad:
        raise AssertionError("gradients differ:\n" + "\n".join(
            f"  - {d.name}: max |diff| = {d.max_abs:.3e} ({d.max_rel:.3e} of max |ref|)"
            for d in bad))


def cosine(estimate: dict[str, torch.Tensor], reference: dict[str, torch.Tensor],
           names: tuple[str, ...] = HIDDEN_PARAMS) -> float:
    """Cosine similarity of two gradients over the parameters ``names`` (default the
    hidden weights ``W = [W_rec | W_in | b]``, where the rules differ), flattened."""
    a = torch.cat([estimate[k].reshape(-1) for k in names])
    b = torch.cat([reference[k].reshape(-1) for k in names])
    den = float(a.norm() * b.norm())
    return float(a @ b) / den if den > 0 else math.nan
