"""Dialects: how a foreign NIR file was meant to be simulated by the library that wrote it.

NIR files carry no dt, integrator or reset mode. A dialect supplies those choices the
way the producing library makes them, and may rewrite parameters into the contract's
form. Register new dialects with :func:`register_dialect`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import DialectError
from .semantics import Semantics


@dataclass(frozen=True)
class Dialect:
    """Defaults that reproduce one library's reading of a NIR file.

    Attributes:
        name: registry key, e.g. ``"norse"``.
        description: what the producing library does, in one or two sentences.
        default_dt: seconds, used when ``read(..., dt=None)``; ``None`` means dt is required.
        choices: Semantics fields (other than dt) the dialect fixes.
        rewrite: optional ``nir_graph -> nir_graph`` applied before conversion (parameter
            conventions of the producer); must not mutate its argument.
    """

    name: str
    description: str
    default_dt: float | None
    choices: dict = field(default_factory=dict)
    rewrite: Callable | None = None

    def semantics(self, dt: float | None = None, **overrides) -> Semantics:
        if dt is None:
            dt = self.default_dt
        if dt is None:
            raise DialectError(f"dialect {self.name!r} has no default dt: pass dt=... (seconds)")
        return Semantics(dt=dt, **{**self.choices, **overrides})


DIALECTS: dict[str, Dialect] = {}


def register_dialect(d: Dialect) -> None:
    DIALECTS[d.name] = d


def get_dialect(name: str) -> Dialect:
    if name not in DIALECTS:
        raise DialectError(
            f"unknown dialect {name!r}; known: {', '.join(sorted(DIALECTS))}"
        )
    return DIALECTS[name]


register_dialect(Dialect(
    "norse",
    "Norse (1.x): forward Euler v += dt/tau*((v_leak - v) + x), dt = 1 ms unless given, "
    "reset to v_reset, input held for the step; its NIR import updates the synaptic "
    "current before the membrane (current_first).",
    default_dt=1e-3,
    choices=dict(integrator="euler", reset="to_value", input_meaning="current",
                 update_order="current_first"),
))

register_dialect(Dialect(
    "snntorch",
    "snnTorch export: Leaky(beta) written as LIF(tau = dt/(1-beta), r = tau/dt, v_leak=0) "
    "with dt = 1e-4 s folded into r (and w_in for Synaptic), so forward Euler at that dt "
    "gives mem = beta*mem + x; reset to zero as in the NIR paper's runs.",
    default_dt=1e-4,
    choices=dict(integrator="euler", reset="to_value", input_meaning="current",
                 update_order="current_first"),
))

#: Explicit reading: the caller states every choice (dt, integrator, reset) at read time.
EXPLICIT = "explicit"
REQUIRED_EXPLICIT = ("dt", "integrator", "reset")


def choices_message() -> list[str]:
    """The choices a foreign file leaves open, for error messages."""
    return [
        f"dialect: one of {', '.join(sorted(DIALECTS))} (the library that wrote the file), or",
        "dialect='explicit' with dt=<seconds>, integrator='euler'|'exact', "
        "reset='to_value'|'subtract' (and optionally input_meaning='current'|'increment', "
        "update_order='current_first'|'voltage_first')",
        "recurrent_delay=<steps> for the back edges of cycles (default 1)",
    ]
