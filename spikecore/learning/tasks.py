"""Synthetic tasks of Marschall, Cho & Savin (2020) for online learning rules."""

from __future__ import annotations

import torch

from ..errors import SpikecoreError


def add_task(steps: int, t1: int = 5, t2: int = 9, seed: int = 0,
             dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """The "add" task of Marschall et al. (2020): a stream of
    fair coin flips ``x[t] in {0, 1}`` and the target

        y*[t] = 0.5 + 0.5 x[t - t1] - 0.25 x[t - t2]      (x[t] = 0 for t < 0)

    a memory of ``t1`` and ``t2`` steps. Returns ``(xs [steps, 1], targets [steps, 1])``
    from a seeded generator.
    """
    if steps <= 0 or t1 < 0 or t2 < 0:
        raise SpikecoreError(f"add_task: need steps > 0 and t1, t2 >= 0; got steps={steps}, "
                             f"t1={t1}, t2={t2}")
    gen = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 2, (steps,), generator=gen).to(dtype)

    def lagged(lag: int) -> torch.Tensor:
        out = torch.zeros_like(x)
        if lag < steps:
            out[lag:] = x[:steps - lag]
        return out

    y = 0.5 + 0.5 * lagged(t1) - 0.25 * lagged(t2)
    return x[:, None], y[:, None]
