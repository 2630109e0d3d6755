"""Safe engine identifiers for node names.

Node names are free text: producers write ``"lif1.lif"`` (snnTorch), digits (Sinabs),
spaces or unicode. Graphs, results and files keep them as written; an engine that needs
identifiers (Brian2 object names end up in generated C++/Cython code, torch module keys
may not contain ``"."``, the Lava sidecar's job files) gets names from :func:`safe_identifiers`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_UNSAFE = re.compile(r"[^A-Za-z0-9]+")


def safe_identifiers(names: Iterable[str], prefix: str) -> dict[str, str]:
    """Name -> ASCII identifier ``prefix + word``, one-to-one and deterministic for the
    given order of ``names``.

    Every run of characters other than ASCII letters and digits becomes one ``_`` (so an
    identifier never contains ``__``: engines may append ``__suffix`` for objects that
    belong to a node without colliding with another node); a name with nothing left
    becomes ``node``; a repeat gets ``_2``, ``_3``, ... ``prefix`` must start with a
    letter and end with ``_``.
    """
    out: dict[str, str] = {}
    used: set[str] = set()
    for name in names:
        base = prefix + (_UNSAFE.sub("_", str(name)).strip("_") or "node")
        ident, k = base, 2
        while ident in used:
            ident, k = f"{base}_{k}", k + 1
        used.add(ident)
        out[name] = ident
    return out
