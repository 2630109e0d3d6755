"""The spikecore record inside a NIR file's metadata, parsed and type-checked.

spikecore stores what NIR cannot say (semantics, per-edge delays, node order, the graph's
name) as one JSON string under the graph metadata key :data:`METADATA_KEY`. A file is
untrusted input: :func:`parse` checks the type of every field, so a damaged or hostile
record is one :class:`~spikecore.errors.NIRFileError` naming the field, never a
``TypeError`` or ``RecursionError`` from deep inside the reader.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from .errors import NIRFileError

METADATA_KEY = "spikecore"
FORMAT = "spikecore-nir/1"
#: Longest record accepted (characters); a real one is a few kB per thousand edges.
MAX_RECORD_CHARS = 256 * 2**20
#: Deepest JSON nesting accepted (a real record nests 3 levels).
MAX_JSON_DEPTH = 16
#: Largest edge delay accepted in steps (JSON integers are unbounded; an int64 holds it).
MAX_DELAY_STEPS = 2**63 - 1


def parse(metadata: Any, graph_name: str) -> dict | None:
    """The record of a graph's metadata, or ``None`` when it has none (a foreign file)."""
    if not isinstance(metadata, Mapping) or METADATA_KEY not in metadata:
        return None
    where = f"graph {graph_name!r}: metadata '{METADATA_KEY}'"
    raw = metadata[METADATA_KEY]
    if isinstance(raw, np.ndarray) and raw.shape == ():
        raw = raw.item()
    if isinstance(raw, bytes):
        raw = raw.decode("utf8", "replace")
    if not isinstance(raw, str):
        raise NIRFileError(f"{where} is a {type(raw).__name__}, expected a JSON string")
    if len(raw) > MAX_RECORD_CHARS:
        raise NIRFileError(f"{where} has {len(raw)} characters (limit {MAX_RECORD_CHARS})")
    if _nesting(raw) > MAX_JSON_DEPTH:
        raise NIRFileError(f"{where} nests deeper than {MAX_JSON_DEPTH} levels; not a "
                           "spikecore record")
    try:
        meta = json.loads(raw)
    except (TypeError, ValueError, RecursionError) as exc:
        raise NIRFileError(f"{where} is not valid JSON: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else meta
        raise NIRFileError(f"{where} has format {_short(found)}, expected {FORMAT!r}; "
                           "written by a newer spikecore?")
    _check_fields(meta, where)
    return meta


def _nesting(text: str) -> int:
    """Deepest bracket nesting outside strings, found without parsing (so without
    recursion)."""
    depth = deepest = 0
    in_string = escaped = False
    for c in text:
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in "]}":
            depth -= 1
    return deepest


def _check_fields(meta: dict, where: str) -> None:
    if not isinstance(meta.get("name", ""), str):
        raise NIRFileError(f"{where}: 'name' is {_short(meta['name'])}, expected a string")
    order = meta.get("node_order", [])
    if not isinstance(order, list) or not all(isinstance(n, str) for n in order):
        raise NIRFileError(f"{where}: 'node_order' is {_short(order)}, expected a list of "
                           "node names")
    sem = meta.get("semantics")
    if sem is not None and not isinstance(sem, dict):
        raise NIRFileError(f"{where}: 'semantics' is {_short(sem)}, expected an object")
    if isinstance(sem, dict) and "dt" in sem and not _is_number(sem["dt"]):
        raise NIRFileError(f"{where}: semantics 'dt' is {_short(sem['dt'])}, expected a "
                           "number of seconds")
    for key in ("edge_delays", "edges"):
        rows = meta.get(key, [])
        if not isinstance(rows, list) or not all(
                isinstance(r, list) and len(r) == 3 and isinstance(r[0], str)
                and isinstance(r[1], str) and _is_int(r[2]) and 0 <= r[2] <= MAX_DELAY_STEPS
                for r in rows):
            raise NIRFileError(f"{where}: '{key}' is malformed ({_short(rows)}); expected a "
                               "list of [source, target, steps] with steps an integer from 0 "
                               "to 2**63 - 1")


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
