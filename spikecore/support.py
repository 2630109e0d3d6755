"""The primitive x backend support matrix, built from the backends' own registries."""

from __future__ import annotations

from .atomic import write_atomically
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


def markdown_page(matrix: dict[str, dict[str, str | None]] | None = None) -> str:
    """``docs/support.md``: the matrix and every backend's note, generated, never edited."""
    matrix = support_matrix() if matrix is None else matrix
    backends = [b for b in matrix if not b.startswith("_")]
    types = sorted({t for b in backends for t in matrix[b]})
    lines = [
        "# Support matrix",
        "",
        "Generated from the backends' builder registries by "
        "`python -m spikecore.support --write docs/support.md`; do not edit by hand "
        "(`tests/test_support.py` fails when this page is stale).",
        "",
        "| primitive | " + " | ".join(backends) + " |",
        "|---|" + "---|" * len(backends),
    ]
    for t in types:
        lines.append(f"| {t} | " + " | ".join("yes" if matrix[b].get(t) is not None else "—"
                                              for b in backends) + " |")
    for b in backends:
        lines += ["", f"## {b}", ""]
        lines += [f"- **{t}**: {matrix[b][t]}" for t in types if matrix[b].get(t)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    import argparse
    from pathlib import Path

    p = argparse.ArgumentParser(description="print or write the support matrix page")
    p.add_argument("--write", help="write the markdown page to this path (atomically)")
    args = p.parse_args(argv)
    page = markdown_page()
    if not args.write:
        print(page, end="")
        return 0
    write_atomically(args.write, lambda tmp: Path(tmp).write_text(page), "support page")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
