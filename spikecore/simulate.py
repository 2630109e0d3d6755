"""``simulate`` and ``available_backends``: the one entry point to every engine."""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from . import primitives as P
from .backends.base import BACKENDS, Availability, RecordPlan, get_backend
from .errors import InputError, SpikecoreError, UnavailableError, UnsupportedError
from .graph import Graph
from .layout import needs_swap
from .numerics import apply_policy, check_policy, earliest, scan_result
from .result import Result

#: Default cap on the memory a run may need for inputs and recordings (bytes); change with
#: the environment variable SPIKECORE_MAX_BYTES.
DEFAULT_MAX_BYTES = 8 * 2**30
#: ``"w"``: the weights of plastic connections (``[batch, steps, n_out, n_in]``) and the
#: recovery variable of Morris-Lecar neurons.
RECORDABLE = ("spikes", "v", "i", "w")


def _to_numpy(x: Any, where: str) -> np.ndarray:
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch tensor, without importing torch
        x = _tensor_values(x, where)
    try:
        arr = np.asarray(x)
    except Exception as exc:  # noqa: BLE001 - any conversion failure is the user's input
        raise InputError(f"{where}: cannot convert {type(x).__name__} to an array: {exc}") from exc
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise InputError(f"{where}: expected numbers or booleans, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise InputError(f"{where}: complex values; inputs must be real")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{where}: contains NaN or inf; inputs must be finite")
    return arr


def _tensor_values(t: Any, where: str) -> np.ndarray:
    """A torch tensor's values as numpy: sparse densified, bfloat16/half widened (numpy
    has no bfloat16); a meta tensor holds no values."""
    if getattr(t, "is_meta", False):
        raise InputError(f"{where}: a meta tensor holds no data; pass real values")
    if getattr(t, "is_nested", False):
        raise InputError(f"{where}: a nested tensor has no single shape; pass one dense "
                         "tensor [batch, steps, *shape] (pad the sequences)")
    if getattr(t, "is_quantized", False):
        t = t.dequantize()
    t = t.detach()
    if str(t.dtype).startswith(("torch.qint", "torch.quint")):
        raise InputError(f"{where}: quantized dtype {t.dtype}; dequantize it first")
    if getattr(t, "is_sparse", False) or str(getattr(t, "layout", "torch.strided")) != \
            "torch.strided":
        t = t.to_dense()
    if getattr(t, "is_complex", lambda: False)():
        raise InputError(f"{where}: complex values; inputs must be real")
    if str(t.dtype) in ("torch.bfloat16", "torch.float16"):
        t = t.float()
    return t.cpu().numpy()


def normalize_inputs(graph: Graph, inputs: Any, steps: int | None, layout: str | None = None
                     ) -> tuple[dict[str, np.ndarray], int]:
    """Inputs as ``name -> float64 [batch, steps, *shape]`` and the number of steps.

    Accepts one array (graph with one Input) of shape ``[batch, steps, *shape]`` or
    ``[steps, *shape]``, or a dict by Input name; ``layout="tbn"`` for ``[steps, batch,
    *shape]`` (see :mod:`spikecore.layout`). ``steps`` longer than the inputs pads
    with zeros; shorter truncates.
    """
    shapes = graph.shapes()
    names = graph.input_names
    if inputs is None:
        inputs = {}
    if not isinstance(inputs, Mapping):
        if len(names) != 1:
            raise InputError(
                f"graph {graph.name!r} has {len(names)} Input nodes {names}: pass a dict "
                "{input name: array}"
            )
        inputs = {names[0]: inputs}
    unknown = sorted(set(inputs) - set(names))
    missing = sorted(set(names) - set(inputs))
    if unknown or missing:
        raise InputError(
            f"graph {graph.name!r}: inputs do not match its Input nodes {names}"
            + (f"; unknown: {unknown}" if unknown else "")
            + (f"; missing: {missing}" if missing else "")
        )
    arrays: dict[str, np.ndarray] = {}
    for name in names:
        shape = shapes[name]
        arr = _to_numpy(inputs[name], f"input {name!r}")
        given = arr.shape  # report what the user passed, not the batch-1 view
        if needs_swap(arr.shape, len(shape), layout, f"input {name!r}"):
            arr = np.swapaxes(arr, 0, 1)
        if arr.ndim == len(shape) + 1:
            arr = arr[None]
        if arr.ndim != len(shape) + 2 or tuple(arr.shape[2:]) != tuple(shape):
            raise InputError(
                f"input {name!r}: got shape {given}, expected [batch, steps, "
                f"{', '.join(map(str, shape))}] or [steps, {', '.join(map(str, shape))}]"
            )
        if arr.shape[0] < 1:
            raise InputError(f"input {name!r}: batch size is 0")
        arrays[name] = arr
    batches = {a.shape[0] for a in arrays.values()}
    if len(batches) > 1:
        sizes = {k: v.shape[0] for k, v in arrays.items()}
        raise InputError(f"inputs disagree in batch size: {sizes}")
    lengths = {a.shape[1] for a in arrays.values()}
    if steps is None:
        if not arrays:
            raise InputError(f"graph {graph.name!r} has no Input node: give steps=...")
        if len(lengths) > 1:
            sizes = {k: v.shape[1] for k, v in arrays.items()}
            raise InputError(f"inputs disagree in length: {sizes}; give steps=...")
        steps = lengths.pop()
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise InputError(f"steps={steps!r}: expected a positive integer")
    steps = int(steps)
    # Refuse before padding allocates anything: the full estimate comes later in simulate().
    limit = max_bytes()
    need = sum(8 * a.shape[0] * steps * math.prod(a.shape[2:]) for a in arrays.values())
    if need > limit and any(a.shape[1] < steps for a in arrays.values()):
        raise InputError(
            f"graph {graph.name!r}: inputs for {steps} steps need about {need / 2**30:.3g} GiB, above "
            f"the limit of {limit / 2**30:.3g} GiB; run fewer steps or smaller batches, or raise "
            "SPIKECORE_MAX_BYTES"
        )
    for name, a in arrays.items():
        if a.shape[1] < steps:
            pad = np.zeros((a.shape[0], steps - a.shape[1], *a.shape[2:]))
            arrays[name] = np.concatenate([a, pad], axis=1)
        elif a.shape[1] > steps:
            arrays[name] = a[:, :steps]
    if not arrays:
        arrays = {}
    return arrays, steps


def record_plan(graph: Graph, record: Iterable[str] | str | None) -> dict[str, tuple[str, ...]]:
    """Which names to record per node. ``record`` entries: ``"spikes"``, a state name
    (``"v"``, ``"i"``: every node that has it), or ``"node:name"`` for one node."""
    if record is None:
        record = ()
    if isinstance(record, str):
        record = (record,)
    plan: dict[str, list[str]] = {}
    problems = []
    for item in record:
        if not isinstance(item, str):
            problems.append(f"{item!r}: expected a string")
            continue
        node_name, sep, what = item.rpartition(":")
        targets = [node_name] if sep else list(graph.nodes)
        if sep and node_name not in graph.nodes:
            problems.append(
                f"{item!r}: no node {node_name!r} (nodes: {', '.join(sorted(graph.nodes))})"
            )
            continue
        matched = False
        for n in targets:
            spec = P.spec_of(graph.nodes[n])
            has = ("spikes",) if spec.spiking else ()
            has += spec.states
            if what in has:
                plan.setdefault(n, [])
                if what not in plan[n]:
                    plan[n].append(what)
                matched = True
            elif sep:
                problems.append(f"{item!r}: node {n!r} ({P.type_name(graph.nodes[n])}) has "
                                f"no {what!r}; it has {list(has) or 'nothing to record'}")
        if not sep and what not in RECORDABLE:
            problems.append(f"{item!r}: expected one of {RECORDABLE} or 'node:name'")
        elif not sep and not matched:
            pass  # e.g. "i" in a graph without CubaLIF: nothing to record, not an error
    if problems:
        raise InputError("cannot record:\n" + "\n".join(f"  - {p}" for p in problems))
    return {n: tuple(v) for n, v in plan.items()}


#: Values per element a run keeps whatever its length (state, input sum, output).
STATE_VALUES_PER_ELEMENT = 4
#: A source's stream is held whole up to this size and generated block by block above it
#: (torch always in blocks; Brian2 runtime targets above 64 MiB, see brian2_streams).
SOURCE_STREAM_HELD_BYTES = 64 * 2**20


def estimate_bytes(graph: Graph, batch: int, steps: int, plan: RecordPlan) -> int:
    """Memory a run needs beyond its inputs (counted by :func:`normalize_inputs`):

    * per step: one float64 per element of every recorded name and of every Output;
    * per source: its stream, ``8 * batch * steps * size`` up to
      :data:`SOURCE_STREAM_HELD_BYTES` (longer streams are generated in blocks);
    * once: :data:`STATE_VALUES_PER_ELEMENT` float64 per element of every node (states
      and the values sent in the current step), independent of ``steps``.
    """
    shapes = graph.shapes()
    per_step = held = 0
    for n, node in graph.nodes.items():
        size = math.prod(shapes[n])
        spec = P.spec_of(node)
        # states whose shape is not the node's (a plastic connection's weight matrix)
        own = spec.extra.get("state_shapes") if spec is not None else None
        sizes = own(node) if own is not None else {}
        per_step += 8 * sum(math.prod(sizes.get(w, shapes[n])) for w in plan.get(n, ()))
        if isinstance(node, P.Output):
            per_step += 8 * size
        if spec is not None and spec.kind == "source" and not isinstance(node, P.Input):
            held += min(8 * batch * steps * size, SOURCE_STREAM_HELD_BYTES)
        held += 8 * batch * (size * STATE_VALUES_PER_ELEMENT
                             + sum(math.prod(v) for v in sizes.values()))
        if isinstance(node, P.Delay):
            held += 8 * batch * size * (_max_delay_steps(node, graph) + 1)
    for e in graph.edges:
        if e.delay_steps:
            held += 8 * batch * math.prod(shapes[e.source]) * (int(e.delay_steps) + 1)
    return batch * steps * per_step + held


def _max_delay_steps(node: P.Delay, graph: Graph) -> int:
    d = np.asarray(node.delay, dtype=np.float64)
    if graph.semantics is None or not d.size or not np.all(np.isfinite(d)):
        return 0
    return int(np.ceil(float(d.max()) / float(graph.semantics.dt)))


def max_bytes() -> int:
    """The memory cap of one run (bytes): ``SPIKECORE_MAX_BYTES`` or
    :data:`DEFAULT_MAX_BYTES`."""
    raw = os.environ.get("SPIKECORE_MAX_BYTES", "")
    try:
        return int(float(raw)) if raw.strip() else DEFAULT_MAX_BYTES
    except ValueError:
        raise InputError(f"SPIKECORE_MAX_BYTES={raw!r}: expected a number of bytes") from None


def require_memory(graph: Graph, batch: int, steps: int, plan: RecordPlan,
                   input_elements: int = 0) -> int:
    """Refuse a run before anything is allocated: inputs (``input_elements`` per step and
    batch element, as float64) plus :func:`estimate_bytes` must fit :func:`max_bytes`.
    Returns the estimate in bytes."""
    limit = max_bytes()
    need = 8 * batch * steps * input_elements + estimate_bytes(graph, batch, steps, plan)
    if need > limit:
        raise SpikecoreError(
            f"graph {graph.name!r}: this run needs about {need / 2**30:.3g} GiB for inputs, "
            f"delay buffers and recordings (batch {batch}, {steps} steps), above the limit "
            f"of {limit / 2**30:.3g} GiB; record less, run fewer steps or smaller batches, "
            "shorten delays, or raise SPIKECORE_MAX_BYTES"
        )
    return need


def input_geometry(graph: Graph, inputs: Any, steps: int | None,
                   layout: str | None = None) -> tuple[int, int, int]:
    """``(batch, steps, elements per step)`` of the inputs from their shapes alone (no
    conversion or copy), for :func:`require_memory`. Malformed inputs are left for
    :func:`normalize_inputs` to report."""
    shapes = graph.shapes()
    if inputs is None:
        inputs = {}
    if not isinstance(inputs, Mapping):
        inputs = dict.fromkeys(graph.input_names[:1], inputs)
    batch, lengths, elements = 1, [], 0
    for name, x in inputs.items():
        if name not in shapes:
            continue
        try:
            shape = tuple(getattr(x, "shape", None) or np.shape(x))
        except (RuntimeError, TypeError, ValueError):
            continue  # no single shape (e.g. a nested tensor): normalize_inputs says why
        k = len(shapes[name])
        if len(shape) == k + 1:
            shape = (1, *shape)
        if len(shape) != k + 2:
            continue
        if layout == "tbn":
            shape = (shape[1], shape[0], *shape[2:])
        batch = max(batch, int(shape[0]))
        lengths.append(int(shape[1]))
        elements += math.prod(shapes[name])
    if steps is None:
        steps = max(lengths) if lengths else 1
    valid = isinstance(steps, (int, np.integer)) and not isinstance(steps, bool) and steps > 0
    return batch, (int(steps) if valid else 1), elements


def available_backends() -> dict[str, Availability]:
    """Every known backend with whether it runs here, why not, and how to fix it.

    Availability is proven by running each engine (the Lava check starts the sidecar).
    """
    out = {}
    for name in BACKENDS:
        try:
            out[name] = get_backend(name).availability()
        except UnavailableError as exc:
            out[name] = Availability(name, False, reason=str(exc),
                                     fix="install spikecore with its dependencies")
    return out


def prepare(graph: Graph, backend: str, options: Mapping[str, Any]):
    """Validate, flatten and check ``graph`` for ``backend``; returns (flat graph, backend)."""
    if not isinstance(graph, Graph):
        raise SpikecoreError(
            f"expected a spikecore.Graph, got {type(graph).__name__}; use spikecore.read(path) "
            "or spikecore.from_nir(nir_graph, dialect=...)"
        )
    graph.validate()
    flat = graph.flatten()
    impl = get_backend(backend)
    avail = impl.availability()
    if not avail.available:
        raise UnavailableError(
            f"backend {backend!r} is unavailable: {avail.reason}\n  fix: {avail.fix}"
        )
    problems = [p for p in impl.check(flat, **options) if p]
    if problems:
        raise UnsupportedError(
            f"backend {backend!r} cannot lower {len(problems)} item(s) of graph {graph.name!r}:",
            problems,
        )
    return flat, impl


def simulate(graph: Graph, inputs: Any = None, backend: str = "brian2", steps: int | None = None,
             record: Iterable[str] | str = ("spikes",), on_nonfinite: str = "raise",
             layout: str | None = None, progress: Any = False,
             **backend_options: Any) -> Result:
    """Run ``graph`` on one backend and return its :class:`Result`.

    Args:
        graph: a validated-on-the-fly spikecore graph with semantics.
        inputs: ``[batch, steps, *shape]`` or ``[steps, *shape]`` for a graph with one
            Input, else a dict by Input name (numpy arrays or torch tensors).
        backend: ``"brian2"``, ``"torch"`` or ``"lava"`` (``"norse"``: alias of ``"torch"``).
        steps: number of steps (default: length of the inputs; required without inputs).
        record: ``"spikes"``, state names (``"v"``, ``"i"``) or ``"node:name"`` entries.
        layout: ``"btn"`` (``[batch, steps, ...]``, the default) or ``"tbn"`` (``[steps,
            batch, ...]`` as Norse and snnTorch use); unset, an input whose batch axis
            is longer than its time axis warns (:mod:`spikecore.layout`).
        on_nonfinite: NaN/inf in any state (recorded or not) or sent value:
            ``"raise"`` (default) a :class:`~spikecore.errors.NumericalError` naming node,
            state, first step, batch entry and element (the partial result is its
            ``.result``); ``"warn"``/``"ignore"`` return the result with
            ``result.nonfinite`` set (see :mod:`spikecore.numerics`).
        progress: ``False`` (default): silent; ``True``: a progress bar on stderr for
            runs lasting over a few seconds; a callable ``progress(done, total)``: called
            with the steps done, in chunks (:mod:`spikecore.progress`).
        backend_options: passed to the backend (e.g. ``mode="continuous"`` for Brian2,
            ``arithmetic="fixed_pt"`` for Lava, ``dtype=torch.float32`` for Norse).
    """
    policy = check_policy(on_nonfinite)
    if progress is not False and progress is not None:  # every backend takes progress=
        backend_options = {**backend_options, "progress": progress}
    flat, impl = prepare(graph, backend, backend_options)
    plan = record_plan(flat, record)
    # From the shapes alone, before the inputs are converted, padded or copied.
    batch, n_steps, elements = input_geometry(flat, inputs, steps, layout)
    require_memory(flat, batch, n_steps, plan, elements)
    arrays, steps = normalize_inputs(flat, inputs, steps, layout)
    t0 = time.perf_counter()
    result = impl.run(flat, arrays, steps, plan, **backend_options)
    if not result.wall_time:
        result.wall_time = time.perf_counter() - t0
    result.dt = float(flat.semantics.dt)
    result.backend = result.backend or backend
    found = earliest([result.nonfinite, scan_result(result, flat.topological_order())])
    if found is not None and not found.backend:
        found = dataclasses.replace(found, backend=result.backend)
    return apply_policy(result, found, policy, graph.name)
