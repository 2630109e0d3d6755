"""The torch backend's registry: primitive type -> :class:`Builder` (op class, check, note).

A leaf module: every lowering module (:mod:`.nir_primitives`, :mod:`.extensions`,
:mod:`.ltc`, :mod:`.sparse`) registers here; the package ``__init__`` imports them all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ... import primitives as P
from ...semantics import Semantics

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Builder:
    """How one primitive type is lowered: the op class, a parameter check (returns the
    problems, one line each), and a note for :meth:`TorchBackend.supported`."""

    op: type
    note: str
    check: Callable[[str, P.NIRNode, Shape, Semantics], list[str]] | None = None


#: primitive type -> builder.
BUILDERS: dict[type, Builder] = {}


def register_builder(node_type: type, builder: Builder) -> None:
    """Add (or replace) the lowering of a primitive type."""
    BUILDERS[node_type] = builder


