"""Gradient alignment of online rules with BPTT (Marschall, Cho & Savin 2020).

Two measurements, both the cosine similarity (:func:`~spikecore.learning.base.cosine`)
of a rule's summed gradient of ``W = [W_rec | W_in | b]`` over one sequence with BPTT's
on the same sequence and parameters:

* at initialisation (:func:`alignment_at_init`): the network as built, one network,
  sequence and rule seed per repetition;
* after online training with the rule itself (:func:`alignment_after_training`): SGD
  after every step on a stream of the task, then the cosine on a fresh sequence. Rules
  with random feedback (RFLO) align only here: their feedback matrix ``B`` is unrelated
  to ``W_out^T`` at initialisation, and training turns ``W_out`` towards ``B^T``
  (feedback alignment, Lillicrap et al. 2016), as in Murray (2019).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

from .base import OnlineRule, bptt_gradients, cosine, rule_gradients
from .networks import OnlineRNN
from .rules import RULES
from .tasks import add_task

#: ``seed -> network``.
NetFactory = Callable[[int], OnlineRNN]


def train_online(rule: OnlineRule, xs: torch.Tensor, targets: torch.Tensor, lr: float
                 ) -> list[float]:
    """Fully online training: after every step, ``p <- p - lr * p.grad`` (SGD) with the
    rule's estimate of ``dL_t/dtheta``; one stream from a fresh state. Returns ``L_t``."""
    opt = torch.optim.SGD(rule.net.parameters(), lr=lr)
    rule.reset()
    losses = []
    for x, y in zip(xs, targets, strict=True):
        opt.zero_grad(set_to_none=True)
        losses.append(rule.step(x, y))
        opt.step()
    opt.zero_grad(set_to_none=True)
    return losses


def alignment_at_init(make_net: NetFactory, seeds: Iterable[int], steps: int = 50,
                      rules: Iterable[str] = tuple(RULES), input_scale: float = 1.0,
                      **task: int) -> dict[str, list[float]]:
    """Rule name -> cosines with BPTT, one per seed (network ``make_net(seed)``, add
    task sequence ``seed``, rule ``seed``); ``task``: ``t1``, ``t2`` of :func:`add_task`;
    inputs multiplied by ``input_scale`` (a drive for spiking networks)."""
    out: dict[str, list[float]] = {name: [] for name in rules}
    for seed in seeds:
        net = make_net(seed)
        xs, ys = add_task(steps, seed=seed, dtype=net.w_rec.dtype, **task)
        xs = xs * input_scale
        ref = bptt_gradients(net, xs, ys)
        for name in out:
            out[name].append(cosine(rule_gradients(RULES[name](net, seed=seed), xs, ys), ref))
    return out


def alignment_after_training(make_net: NetFactory, seeds: Iterable[int],
                             train_steps: int = 1000, lr: float = 0.05, steps: int = 50,
                             rules: Iterable[str] = tuple(RULES), input_scale: float = 1.0,
                             **task: int) -> dict[str, tuple[list[float], list[float]]]:
    """Rule name -> (cosines, final losses): per seed, a fresh ``make_net(seed)`` trained
    online by the rule (:func:`train_online`, ``train_steps`` of the add task), then the
    cosine with BPTT on a new sequence of ``steps``; the loss is the mean ``L_t`` of the
    last 100 training steps."""
    out: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in rules}
    for seed in seeds:
        for name, (cosines, finals) in out.items():
            net = make_net(seed)
            xs, ys = add_task(train_steps, seed=10_000 + seed, dtype=net.w_rec.dtype, **task)
            losses = train_online(RULES[name](net, seed=seed), xs * input_scale, ys, lr)
            finals.append(sum(losses[-100:]) / len(losses[-100:]))
            xe, ye = add_task(steps, seed=20_000 + seed, dtype=net.w_rec.dtype, **task)
            xe = xe * input_scale
            ref = bptt_gradients(net, xe, ye)
            cosines.append(cosine(rule_gradients(RULES[name](net, seed=seed), xe, ye), ref))
    return out
