"""Which axis of an input array is time.

spikecore arrays are ``[batch, steps, *shape]`` (``layout="btn"``); Norse and snnTorch
users pass ``[steps, batch, *shape]`` (``layout="tbn"``). A 3-D+ array fits both
readings, so an input whose batch axis would be longer than its time axis, read with the
default, is the likely mistake: it is read as ``btn`` with an
:class:`InputLayoutWarning` naming the shapes and the option.
"""

from __future__ import annotations

import warnings

from .errors import InputError, SpikecoreWarning

#: ``btn``: [batch, steps, *shape] (spikecore's own); ``tbn``: [steps, batch, *shape].
LAYOUTS = ("btn", "tbn")


class InputLayoutWarning(SpikecoreWarning):
    """An input's shape reads more plausibly with the other layout."""


def needs_swap(shape: tuple[int, ...], n_feature_dims: int, layout: str | None,
               where: str) -> bool:
    """Whether an input of ``shape`` must have its first two axes swapped to become
    ``[batch, steps, ...]``. ``n_feature_dims``: length of the Input's own shape (an
    array with one axis more is ``[steps, *shape]`` in any layout). ``layout=None``
    means the default ``"btn"``, with a warning when the batch axis is the longer."""
    if layout is not None and layout not in LAYOUTS:
        raise InputError(f"layout={layout!r}: expected 'btn' ([batch, steps, ...]) or 'tbn' "
                         "([steps, batch, ...])")
    if len(shape) != n_feature_dims + 2:
        return False
    if layout is None and shape[0] > shape[1]:
        warnings.warn(
            f"{where}: shape {tuple(shape)} is read as batch {shape[0]} x {shape[1]} steps "
            "(spikecore's [batch, steps, ...]); if time comes first (Norse, snnTorch: "
            "[steps, batch, ...]) pass layout='tbn'; pass layout='btn' to confirm",
            InputLayoutWarning, stacklevel=4)
    return layout == "tbn"
