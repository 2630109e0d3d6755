"""FPTT: Forward Propagation Through Time (Kag & Saligrama 2021), for spikecore modules.

Online training of a recurrent network with memory constant in the sequence length T:
the sequence is cut into chunks of ``K`` steps (``K = 1``: every step); each chunk is run
from the *detached* state of the previous one, and the parameters ``W`` are updated at
once with the gradient of that chunk's loss ``l_t`` plus a dynamic regulariser that ties
them to a running average ``W_bar`` (Kag & Saligrama 2021, ICML, Algorithm 1; applied to
LTC spiking networks by Yin, Corradi & Bohte 2023, Nature Machine Intelligence).

Exactly what :class:`FPTT` does at chunk ``t`` (every trained parameter tensor on its
own; ``W_bar`` starts at ``W``, ``g_prev`` at 0, both carried across sequences)::

    out, state = module(x[:, tK:(t+1)K], detach(state))
    g       = d l_t(W) / dW                                   # back through K steps only
    R(W)    = (alpha/2) ||W - W_bar - g_prev / (2 alpha)||^2  # the paper's regulariser
    W.grad  = g + dR/dW = g + alpha (W - W_bar) - g_prev / 2
    optimizer.step()                                          # W_t -> W_{t+1}
    W_bar  <- (W_bar + W_{t+1}) / 2 - g / (2 alpha)
    g_prev <- g

``variant="multiplier"`` is the form found in public FPTT code for spiking networks
(a Lagrange-multiplier estimate ``lam`` in place of ``g_prev``; ``lam`` starts at 0)::

    W.grad  = g + alpha (W - W_bar) - lam                     # R = (alpha/2)||W - W_bar||^2 - <lam, W>
    optimizer.step()
    lam    <- lam - alpha (W_{t+1} - W_bar)
    W_bar  <- (W_bar + W_{t+1}) / 2 - lam / (2 alpha)

(if the step minimised ``l_t + R`` exactly, ``lam`` would equal ``grad l_t(W_{t+1})``).

One departure from the paper in the default ``variant="gradient"``, to keep one
forward/backward per chunk: its ``W_bar`` update uses ``grad l_t`` at the *new*
parameters ``W_{t+1}``; here it is the gradient just computed at ``W_t`` (the same
``g``), as in the regulariser's ``g_prev`` (evaluated at ``W_{t-1}``, not ``W_t``).
The optimizer is the user's (e.g. SGD or Adam); FPTT only sets ``.grad`` and calls
``optimizer.step()``.

Memory: autograd keeps the tensors of one chunk (K steps) only, whatever T; the rule
keeps two extra copies of the parameters (``W_bar``, ``g_prev``). :func:`saved_bytes`
measures what autograd saves for backward (via
:func:`torch.autograd.graph.saved_tensors_hooks`), :func:`bptt_saved_bytes` and
:func:`fptt_saved_bytes` give it for both rules on one sequence.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..backends.torch.module import detach_state
from ..errors import InputError

#: ``loss_fn(out, start, stop) -> scalar``: the loss of the chunk of steps
#: ``start <= t < stop``, from the module's outputs over that chunk (``[batch, K, ...]``).
ChunkLoss = Callable[[Any, int, int], torch.Tensor]


def _call(module: torch.nn.Module, x: Any, state: Any) -> tuple[Any, Any]:
    """``module(x, state)``; a spikecore module is told the layout is ``[batch, steps]``
    (a chunk of one step would otherwise warn that the layout is ambiguous)."""
    from ..backends.torch.module import SpikecoreModule

    if isinstance(module, SpikecoreModule):
        return module(x, state, layout="btn")
    return module(x, state)


class FPTT:
    """Forward Propagation Through Time for a stateful module (``out, state =
    module(x, state)``, as :func:`spikecore.to_torch` gives); the update is in the module
    docstring.

    Args:
        module: the network; its ``parameters()`` (or ``params``) are trained.
        optimizer: a torch optimizer over those parameters; FPTT sets ``.grad`` and calls
            its ``step()`` once per chunk.
        alpha: the regulariser's strength (> 0); Yin et al. use 0.1-0.5.
        K: steps per chunk (>= 1): one update, one backward through K steps.
        params: the parameters to regularise (default: every ``requires_grad``
            parameter of ``module``); must be those the optimizer updates.
        variant: ``"gradient"`` (the paper's regulariser, default) or ``"multiplier"``
            (module docstring).
    """

    VARIANTS = ("gradient", "multiplier")

    def __init__(self, module: torch.nn.Module, optimizer: torch.optim.Optimizer,
                 alpha: float = 0.5, K: int = 1,
                 params: Iterable[torch.nn.Parameter] | None = None,
                 variant: str = "gradient"):
        if not isinstance(module, torch.nn.Module):
            raise InputError(f"FPTT trains a torch.nn.Module (e.g. spikecore.to_torch(graph)); "
                             f"got {type(module).__name__}")
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise InputError(f"optimizer: expected a torch.optim.Optimizer; got "
                             f"{type(optimizer).__name__}")
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) \
                or not math.isfinite(alpha) or alpha <= 0:
            raise InputError(f"alpha={alpha!r}: expected a positive finite number")
        if isinstance(K, bool) or not isinstance(K, int) or K < 1:
            raise InputError(f"K={K!r}: expected an integer >= 1 (steps per update)")
        if variant not in self.VARIANTS:
            raise InputError(f"variant={variant!r}: expected one of {self.VARIANTS}")
        self.module, self.optimizer, self.variant = module, optimizer, variant
        self.alpha, self.K = float(alpha), int(K)
        chosen = module.parameters() if params is None else params
        self.params = [p for p in chosen if p.requires_grad]
        if not self.params:
            raise InputError("FPTT: no trainable parameters (none with requires_grad)")
        in_opt = {id(p) for g in optimizer.param_groups for p in g["params"]}
        missing = sum(id(p) not in in_opt for p in self.params)
        if missing:
            raise InputError(f"FPTT: {missing} of the {len(self.params)} trained parameters "
                             "are not in the optimizer; give it the same parameters")
        self.w_bar = [p.detach().clone() for p in self.params]
        #: ``g_prev`` (variant "gradient") or ``lam`` (variant "multiplier")
        self.g_prev = [torch.zeros_like(p) for p in self.params]

    def chunks(self, T: int) -> Iterator[tuple[int, int]]:
        """``(start, stop)`` of each chunk of ``K`` steps (the last one may be shorter)."""
        for start in range(0, T, self.K):
            yield start, min(start + self.K, T)

    def update(self, x: Any, state: Any, loss_fn: ChunkLoss, start: int = 0
               ) -> tuple[float, Any]:
        """One FPTT update on one chunk ``x`` (``[batch, k, ...]``, steps ``start ..
        start + k - 1`` of the sequence) from ``state`` (detached here; ``None``: the
        initial state). Returns the chunk's loss ``l_t`` and the new state (detached)."""
        out, new_state = _call(self.module, x, detach_state(state))
        loss = loss_fn(out, start, start + x.shape[1])
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
            raise InputError("loss_fn must return a scalar tensor (the chunk's loss)")
        grads = torch.autograd.grad(loss, self.params, allow_unused=True)
        a, multiplier = self.alpha, self.variant == "multiplier"
        with torch.no_grad():
            for p, g, wb, gp in zip(self.params, grads, self.w_bar, self.g_prev, strict=True):
                g = torch.zeros_like(p) if g is None else g
                # the regulariser's gradient, analytic: no second backward
                if multiplier:
                    p.grad = g + a * (p - wb) - gp
                else:
                    p.grad = g + a * (p - wb) - 0.5 * gp
                    gp.copy_(g)
        self.optimizer.step()
        with torch.no_grad():
            for p, wb, gp in zip(self.params, self.w_bar, self.g_prev, strict=True):
                if multiplier:
                    gp.sub_(p - wb, alpha=a)
                wb.add_(p).mul_(0.5).sub_(gp, alpha=0.5 / a)
        return float(loss.detach()), detach_state(new_state)

    def sequence(self, x: Any, loss_fn: ChunkLoss, state: Any = None
                 ) -> tuple[list[float], Any]:
        """Train on one batch of sequences ``x`` (``[batch, T, ...]``): one update per
        chunk of K steps, in order. Returns the chunk losses and the final state."""
        if not isinstance(x, torch.Tensor) or x.dim() < 2:
            raise InputError("x: expected a tensor [batch, steps, ...]")
        losses = []
        for start, stop in self.chunks(x.shape[1]):
            loss, state = self.update(x[:, start:stop], state, loss_fn, start)
            losses.append(loss)
        return losses, state

    def regularizer(self) -> float:
        """The regulariser ``R(W)`` now (a diagnostic): ``sum (alpha/2) ||W - W_bar -
        g_prev/(2 alpha)||^2``, or ``sum (alpha/2) ||W - W_bar||^2 - <lam, W>``."""
        a = self.alpha
        with torch.no_grad():
            total = 0.0
            for p, wb, gp in zip(self.params, self.w_bar, self.g_prev, strict=True):
                if self.variant == "multiplier":
                    total += float(0.5 * a * ((p - wb) ** 2).sum() - (gp * p).sum())
                else:
                    total += float(0.5 * a * ((p - wb - gp / (2 * a)) ** 2).sum())
            return total

    def memory_floats(self) -> int:
        """Numbers FPTT carries between updates: ``W_bar`` and ``g_prev`` (or ``lam``):
        2 x the parameters, independent of T."""
        return 2 * sum(p.numel() for p in self.params)


# ============================================================================ memory
@dataclass
class SavedBytes:
    """What autograd saved for backward: ``bytes`` of the distinct saved tensors (the
    same tensor saved twice counts once, as it is kept once; a view counts its own
    elements, not its base's: a one-step slice of the input is not the whole input),
    ``tensors`` the number of saves."""

    bytes: int = 0
    tensors: int = 0
    _seen: set = field(default_factory=set, repr=False)

    def add(self, t: torch.Tensor) -> None:
        self.tensors += 1
        key = (t.data_ptr(), tuple(t.shape), t.stride(), t.dtype)
        if key not in self._seen:
            self._seen.add(key)
            self.bytes += t.numel() * t.element_size()


@contextmanager
def saved_bytes() -> Iterator[SavedBytes]:
    """Count the tensors autograd saves for backward inside the block (each distinct
    tensor once): the memory a backward pass over what was computed will need."""
    record = SavedBytes()

    def pack(t: torch.Tensor) -> torch.Tensor:
        record.add(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        yield record


def bptt_saved_bytes(module: torch.nn.Module, x: torch.Tensor) -> int:
    """Bytes autograd saves to back-propagate through the whole sequence ``x``
    (``[batch, T, ...]``) in one forward pass (BPTT)."""
    with saved_bytes() as rec:
        out, _ = _call(module, x, None)
    del out
    return rec.bytes


def fptt_saved_bytes(module: torch.nn.Module, x: torch.Tensor, K: int = 1) -> int:
    """The largest number of bytes autograd saves for one FPTT chunk of ``K`` steps over
    the sequence ``x``, each chunk run from the detached state (no update is made: the
    graph of each chunk is dropped before the next, as in :meth:`FPTT.update`)."""
    if isinstance(K, bool) or not isinstance(K, int) or K < 1:
        raise InputError(f"K={K!r}: expected an integer >= 1")
    peak, state = 0, None
    for start in range(0, x.shape[1], K):
        with saved_bytes() as rec:
            out, state = _call(module, x[:, start:start + K], detach_state(state))
        peak = max(peak, rec.bytes)
        del out
        state = detach_state(state)
    return peak


# ============================================================================ a task
def evidence_task(batch: int, T: int, rng: Any, level: float = 0.3, noise: float = 1.0
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Sign of a noisy level integrated over the whole trial: ``m ~ U(-level, level)`` per
    trial, ``s[t] = m + noise N(0, 1)`` for ``T`` steps, given as two non-negative input
    channels (``max(s, 0)``, ``max(-s, 0)``); label ``m > 0``. With the defaults and T=300
    the sign of the mean over the last 20 / 50 / 100 / 300 steps is right in 73 / 81 /
    86 / 92 % of trials: the longer the memory, the better. Returns ``x`` ``[batch, T,
    2]`` (float32) and the labels ``[batch]`` (int64); ``rng`` a numpy Generator."""
    m = rng.uniform(-level, level, batch)
    s = m[:, None] + rng.normal(0.0, noise, (batch, T))
    x = torch.as_tensor(np.stack([np.clip(s, 0, None), np.clip(-s, 0, None)], -1),
                        dtype=torch.float32)
    return x, torch.as_tensor((m > 0).astype(np.int64))


def evidence_loss(y: torch.Tensor, T: int, scale: float = 5.0) -> ChunkLoss:
    """The per-step loss of :func:`evidence_task`: cross-entropy of ``scale x`` the
    readout against the label at every step, weighted by ``(t + 1) / T`` (evidence
    accumulates: late steps should be right, early ones cannot be), averaged over the
    steps and trials of a chunk; over the whole sequence at once (``start=0, stop=T``)
    it is the loss BPTT minimises (FPTT's chunk losses sum to ``T/K`` times it)."""
    def loss(out: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        k = stop - start
        w = torch.arange(start + 1, stop + 1, dtype=out.dtype) / T
        ce = torch.nn.functional.cross_entropy(scale * out.reshape(-1, out.shape[-1]),
                                               y.repeat_interleave(k), reduction="none")
        return (ce.reshape(len(y), k) * w).mean()
    return loss
