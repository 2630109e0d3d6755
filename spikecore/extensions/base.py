"""Common ground of the extension primitives: the node base class, the registry of
extension types, shared parameter checks and the lossless file records.

A family module (:mod:`.refractory`, :mod:`.alif`, ...) defines its nodes on
:class:`Extension`, registers each with :func:`register_extension` (its
:class:`~spikecore.primitives.PrimitiveSpec` and its file type name), and writes its exact
discrete update once over an array namespace. This module imports no family.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import nir
import numpy as np

from .. import primitives as P

#: Graph metadata key holding the extension nodes of a spikecore NIR file.
EXTENSIONS_KEY = "spikecore_extensions"
#: NIR's bookkeeping fields: not constructor parameters of an extension node.
BOOKKEEPING_FIELDS = ("input_type", "output_type", "metadata")
#: Parameters every extension neuron with a LIF membrane shares.
NEURON_FIELDS = ("r", "v_leak", "v_threshold", "v_reset")


def as_array(x: Any) -> np.ndarray:
    """``x`` as a float64 array."""
    return np.asarray(x, dtype=np.float64)


class Extension(nir.NIRNode):
    """Common behaviour: array fields become float64 arrays; ``input_type`` and
    ``output_type`` follow the shape parameter, as in NIR's own nodes."""

    shape_param = ""
    array_fields: tuple[str, ...] = ()
    #: fields stored as int64 arrays in files (sparse index arrays)
    int_fields: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for f in self.array_fields:
            setattr(self, f, as_array(getattr(self, f)))
        shape = np.array(np.shape(getattr(self, self.shape_param)) or (1,))
        self.input_type = {"input": shape}
        self.output_type = {"output": shape}

    def fields(self) -> dict[str, Any]:
        """Every constructor field except NIR's bookkeeping (types, metadata)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.name not in BOOKKEEPING_FIELDS}


#: type name -> extension class, for spikecore files (filled by register_extension).
EXTENSION_TYPES: dict[str, type] = {}


def per_neuron(node: Any, *fields: str) -> dict[str, np.ndarray]:
    """``fields`` of ``node`` broadcast to its shape (that of ``shape_param``): spikecore
    accepts a scalar for any per-neuron parameter, nir's neuron constructors demand that
    all have one shape."""
    shape = np.shape(getattr(node, node.shape_param))
    return {f: np.broadcast_to(as_array(getattr(node, f)), shape).copy() for f in fields}


def register_extension(node_type: type, spec: P.PrimitiveSpec) -> None:
    """Register an extension primitive: its spec (shape rule, states, parameters, checks)
    in :data:`spikecore.primitives.SPECS` and its type name for spikecore files."""
    P.register(node_type, spec)
    EXTENSION_TYPES[node_type.__name__] = node_type


def is_extension(node: object) -> bool:
    return type(node).__name__ in EXTENSION_TYPES and type(node) in EXTENSION_TYPES.values()


def whole_steps_problems(name: str, node: Any, field: str, dt: float | None) -> list[str]:
    v = as_array(getattr(node, field))
    if not np.all(np.isfinite(v)):
        return []  # reported as non-finite by the generic check
    tn = type(node).__name__
    if np.any(v < 0):
        return [f"node {name!r} ({tn}): {field!r} has negative value(s) (min {v.min():g}); "
                "expected seconds >= 0"]
    if dt is not None and not np.allclose(v / dt, np.round(v / dt), rtol=0, atol=1e-6):
        return [f"node {name!r} ({tn}): {field}={v.ravel()[:3]} s is not a whole number of "
                f"steps of dt={dt:g} s; choose {field} as a multiple of dt"]
    return []


def seed_problems(name: str, node: Any) -> list[str]:
    s = node.seed
    if isinstance(s, (bool, np.bool_)) or not isinstance(s, (int, np.integer)) or s < 0:
        return [f"node {name!r} ({type(node).__name__}): seed={s!r}; expected an integer "
                ">= 0 (the stream is a function of the seed and the node's name)"]
    return []


def nonnegative_problems(name: str, node: Any, field: str) -> list[str]:
    v = as_array(getattr(node, field))
    if np.all(np.isfinite(v)) and np.any(v < 0):
        return [f"node {name!r} ({type(node).__name__}): {field!r} has negative value(s) "
                f"(min {v.min():g}); expected >= 0"]
    return []


def extra_problems(name: str, node: Any, dt: float | None) -> list[str]:
    """The type's own checks (whole-step refractory periods, seeds, rate * dt <= 1...)."""
    spec = P.spec_of(node)
    hook: Callable | None = spec.extra.get("check") if spec is not None else None
    return hook(name, node, dt) if hook is not None else []


def to_record(node: Any) -> dict[str, Any]:
    """The node as a metadata group: ``type`` plus one value per field (arrays stay
    float64 arrays, so the file holds them bit for bit)."""
    rec: dict[str, Any] = {"type": type(node).__name__}
    scalars = []
    for k, v in node.fields().items():
        if isinstance(v, str):
            rec[k] = v
        elif isinstance(v, (bool, int, np.integer)) and k == "seed":
            rec[k] = np.int64(v)
        elif k in type(node).int_fields:
            rec[k] = np.asarray(v, dtype=np.int64)
        else:
            rec[k] = np.asarray(v, dtype=np.float64)
            if rec[k].ndim == 0:
                # nir.write compresses datasets and HDF5 cannot compress a scalar: store
                # it with shape (1,) and note it, so the read restores shape ().
                rec[k] = rec[k].reshape(1)
                scalars.append(k)
    if scalars:
        rec["scalar_fields"] = ",".join(scalars)
    if node.metadata:
        rec["node_metadata"] = dict(node.metadata)
    return rec


def _text(x: Any) -> Any:
    if isinstance(x, bytes):
        return x.decode("utf8")
    if isinstance(x, np.ndarray) and x.shape == () and x.dtype.kind in "OSU":
        return _text(x.item())
    return x


def from_record(rec: Mapping[str, Any], where: str) -> Any:
    """Inverse of :func:`to_record`; raises ``ValueError`` naming what is wrong."""
    t = _text(rec.get("type"))
    cls = EXTENSION_TYPES.get(t) if isinstance(t, str) else None
    if cls is None:
        raise ValueError(f"extension node {where!r} has type {t!r}; spikecore knows "
                         + ", ".join(sorted(EXTENSION_TYPES)))
    kwargs: dict[str, Any] = {}
    scalars = str(_text(rec.get("scalar_fields", ""))).split(",")
    for f in dataclasses.fields(cls):
        if f.name in BOOKKEEPING_FIELDS:
            continue
        if f.name not in rec:
            if f.default is dataclasses.MISSING:
                raise ValueError(f"extension node {where!r} ({t}) lacks field {f.name!r}")
            continue
        v = rec[f.name]
        if f.name in cls.array_fields:
            kwargs[f.name] = np.asarray(v, dtype=np.float64)
            if f.name in scalars:
                kwargs[f.name] = kwargs[f.name].reshape(())
        elif f.name in cls.int_fields:
            kwargs[f.name] = np.asarray(v, dtype=np.int64)
        elif f.name == "seed":
            kwargs[f.name] = int(np.asarray(v))
        else:
            kwargs[f.name] = str(_text(v))
    meta = rec.get("node_metadata")
    if isinstance(meta, Mapping):
        kwargs["metadata"] = {k: _text(v) for k, v in meta.items()}
    return cls(**kwargs)
