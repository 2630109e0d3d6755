"""The primitive x backend support matrix, built from the backends' own registries."""

from __future__ import annotations

from .backends.base import BACKENDS, get_backend
from .errors import SpikecoreError
from .primitives import SPECS


def support_matrix() -> dict[str, dict[str, str | None]]:
    """backend -> primitive type name -> note (``None``: not supported). Never kept by hand:
    each backend reports what its builder registry holds."""
    types = sorted(t.__name__ for t in SPECS)
    out: dict[str, dict[str, str | None]] = {}
    for name in BACKENDS:
        try:
            supported = get_backend(name).supported()
        except SpikecoreError as exc:
            supported = {}
            out.setdefault("_errors", {})[name] = str(exc)  # type: ignore[index]
        out[name] = {t: supported.get(t) for t in types}
    return out


def format_matrix(matrix: dict[str, dict[str, str | None]]) -> str:
    backends = [b for b in matrix if not b.startswith("_")]
    types = sorted({t for b in backends for t in matrix[b]})
    width = max(len(t) for t in types) if types else 8
    lines = ["primitive".ljust(width) + "  " + "  ".join(b.ljust(8) for b in backends)]
    for t in types:
        cells = ["yes".ljust(8) if matrix[b].get(t) is not None else "-".ljust(8) for b in backends]
        lines.append(t.ljust(width) + "  " + "  ".join(cells))
    notes = [(b, t, matrix[b][t]) for b in backends for t in types if matrix[b].get(t)]
    if notes:
        lines.append("notes:")
        lines += [f"  {b}/{t}: {n}" for b, t, n in notes]
    return "\n".join(lines)
