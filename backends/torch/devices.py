"""Devices and input tensors, checked before torch sees them.

torch's own failures here are raw (``AssertionError: Torch not compiled with CUDA
enabled``, ``NotImplementedError: Cannot copy out of meta tensor``); these helpers turn
each into an :class:`~spikecore.errors.InputError` that says what to pass instead.
"""

from __future__ import annotations

from typing import Any

import torch

from ...errors import InputError


def resolve_device(device: str | torch.device | None) -> torch.device | None:
    """``device`` as a ``torch.device`` that this machine can run, or ``None``."""
    if device is None:
        return None
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InputError(f"device={device!r} is not a torch device ({exc}); use 'cpu', "
                         "'cuda' or 'cuda:<index>'") from None
    if dev.type == "meta":
        raise InputError("device='meta' holds no data, so nothing can be simulated on it; "
                         "use 'cpu' or 'cuda'")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"device={device!r}: this torch ({torch.__version__}) has no "
                             "usable CUDA device (torch.cuda.is_available() is False); use "
                             "device='cpu' or install a CUDA build of torch on a GPU machine")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise InputError(f"device={device!r}: only {torch.cuda.device_count()} CUDA "
                             "device(s) here")
    elif dev.type != "cpu":  # xla, mps, hpu...: usable only if this torch can allocate there
        try:
            torch.empty(0, device=dev)
        except (RuntimeError, TypeError, ValueError, AssertionError) as exc:
            raise InputError(f"device={device!r} is not usable with this torch "
                             f"({torch.__version__}): {exc}; use 'cpu' or 'cuda'") from None
    return dev


def as_input_tensor(x: Any, where: str, dtype: torch.dtype,
                    device: torch.device) -> torch.Tensor:
    """An input as a dense real tensor of ``dtype`` on ``device``. Sparse tensors are
    densified and low-precision floats widened; meta tensors, complex and non-numeric
    data are refused."""
    if isinstance(x, torch.Tensor):
        if x.is_meta:
            raise InputError(f"{where}: a meta tensor holds no data; pass real values")
        if x.is_nested:
            raise InputError(f"{where}: a nested tensor has no single shape; pass one dense "
                             "tensor [batch, steps, *shape] (pad the sequences)")
        if x.is_quantized:
            x = x.dequantize()
        if x.is_complex():
            raise InputError(f"{where}: complex values; inputs must be real")
        if x.layout != torch.strided:
            x = x.to_dense()
        return x.to(device=device, dtype=dtype)
    try:
        t = torch.as_tensor(x)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise InputError(f"{where}: cannot convert {type(x).__name__} to a tensor: {exc}") \
            from None
    if t.is_complex():
        raise InputError(f"{where}: complex values; inputs must be real")
    return t.to(device=device, dtype=dtype)
