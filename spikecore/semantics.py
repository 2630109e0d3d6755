"""The semantics contract: the choices a NIR file leaves implicit, made explicit.

A :class:`Semantics` record travels with every :class:`~spikecore.Graph` and is stored
in NIR metadata, so a file written by spikecore is simulated the same way everywhere.
``docs/semantics.md`` gives the exact discrete update of every primitive under each
option; :mod:`spikecore.discrete` computes the coefficients of those updates.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from .errors import GraphError

#: Sub-threshold integrators. ``euler``: forward Euler. ``exact``: the exact propagator
#: of the linear ODE over one step (input treated according to ``input_meaning``).
INTEGRATORS = ("euler", "exact")
#: ``to_value``: v <- v_reset. ``subtract``: v <- v - (v_threshold - v_reset).
RESETS = ("to_value", "subtract")
#: ``current``: x[t] is a current held constant for the whole step t (zero-order hold).
#: ``increment``: x[t] is a charge (Dirac impulse of area x[t]*dt) arriving at the end of
#: step t: the state jumps by the forward-Euler amount, undecayed.
INPUT_MEANINGS = ("current", "increment")
#: ``current_first``: synaptic current updated first, membrane uses the new current
#: (Lava's u-then-v order). ``voltage_first``: membrane uses the current of the
#: previous step (Norse's native order).
UPDATE_ORDERS = ("current_first", "voltage_first")
#: The only spike condition spikecore implements; kept as a field so files say it.
SPIKE_CONDITIONS = ("v > v_threshold",)

_CHOICES = {
    "integrator": INTEGRATORS,
    "reset": RESETS,
    "input_meaning": INPUT_MEANINGS,
    "update_order": UPDATE_ORDERS,
    "spike_condition": SPIKE_CONDITIONS,
}


def _brian2_dim(value: Any) -> Any:
    """The physical dimension of a Brian2 ``Quantity`` (None for anything else). Detected
    by its ``dim`` attribute and its class's module, so brian2 is not imported here."""
    if not hasattr(value, "dim"):
        return None
    if not any(c.__module__.split(".")[0] == "brian2" for c in type(value).__mro__):
        return None
    return value.dim


def _quantity_problem(value: Any, name: str = "dt") -> str | None:
    """Why ``value``, a Brian2 quantity, is not one step length (None: it is one, or it
    is not a quantity)."""
    dim = _brian2_dim(value)
    if dim is None:
        return None
    from brian2 import second  # brian2 is loaded: ``value`` is one of its quantities

    if dim != second.dim:
        return (f"{name}={value!r}: a Brian2 quantity of dimension {dim!s} "
                f"({'dimensionless' if dim.is_dimensionless else 'not a time'}); "
                f"expected a time, e.g. {name}=0.1*ms")
    if np.ndim(value) != 0:
        return f"{name}={value!r}: expected one step length, got an array of shape {np.shape(value)}"
    return None


def as_seconds(value: Any, name: str = "dt") -> Any:
    """``value`` in seconds as a float when it is a Brian2 time quantity (``0.1*ms`` ->
    ``1e-4``); any other value is returned unchanged (:class:`Semantics` checks it).

    Raises :class:`~spikecore.errors.GraphError` for a Brian2 quantity that is not one
    time (e.g. ``0.1*mV``, or an array of times).
    """
    wrong = _quantity_problem(value, name)
    if wrong:
        raise GraphError("invalid semantics:", [wrong])
    return float(value) if _brian2_dim(value) is not None else value


@dataclass(frozen=True)
class Semantics:
    """How a graph is advanced in discrete time. Immutable; use :meth:`replace`.

    Attributes:
        dt: step length in seconds (a Brian2 time quantity such as ``0.1*ms`` is accepted
            and stored as seconds; see :func:`as_seconds`).
        integrator: ``"euler"`` or ``"exact"`` (see :data:`INTEGRATORS`).
        reset: ``"to_value"`` or ``"subtract"`` (see :data:`RESETS`).
        input_meaning: ``"current"`` or ``"increment"`` (see :data:`INPUT_MEANINGS`).
        update_order: ``"current_first"`` or ``"voltage_first"`` (see
            :data:`UPDATE_ORDERS`); matters for CubaLI/CubaLIF under Euler only.
        spike_condition: always ``"v > v_threshold"`` (strict).

    Per-edge delays (in steps) live on the graph's edges, not here: a value sent over
    an edge with delay ``d`` in step ``t`` is received in step ``t + d``. Within one
    step, nodes are evaluated in the graph's topological order over delay-0 edges.
    """

    dt: float
    integrator: str = "euler"
    reset: str = "to_value"
    input_meaning: str = "current"
    update_order: str = "current_first"
    spike_condition: str = "v > v_threshold"

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise GraphError("invalid semantics:", problems)
        # numpy scalars and Brian2 time quantities -> float seconds
        object.__setattr__(self, "dt", float(self.dt))

    def problems(self) -> list[str]:
        out = []
        wrong = _quantity_problem(self.dt)
        if wrong:
            return [wrong]
        # A string or a bool converts to float but is not a step: '1e-3' would reach
        # numpy as text, True would silently mean 1 s.
        if _brian2_dim(self.dt) is None and (
                isinstance(self.dt, (str, bytes, bool, np.bool_)) or not isinstance(
                    self.dt, (numbers.Real, np.floating, np.integer))):
            return [f"dt={self.dt!r}: expected a positive number of seconds, e.g. dt=1e-3 "
                    "(or a Brian2 time, e.g. 0.1*ms)"]
        try:
            dt = float(self.dt)
        except OverflowError:  # an int beyond float range, e.g. 10**40
            dt = math.inf
        if not math.isfinite(dt) or dt <= 0:
            out.append(f"dt={self.dt!r}: expected a positive finite number of seconds")
        for name, allowed in _CHOICES.items():
            value = getattr(self, name)
            if not isinstance(value, str) or value not in allowed:
                out.append(f"{name}={value!r}: expected one of {', '.join(map(repr, allowed))}")
        return out

    def replace(self, **changes: Any) -> Semantics:
        """A copy with some fields changed (validated)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["dt"] = float(self.dt)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Semantics:
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        if "dt" not in known:
            raise GraphError("semantics record has no 'dt'", [f"got keys {sorted(d)}"])
        return cls(**known)

    def describe(self) -> str:
        return (
            f"dt={self.dt:g} s, integrator={self.integrator}, reset={self.reset}, "
            f"input={self.input_meaning}, order={self.update_order}, "
            f"spike if {self.spike_condition}"
        )
