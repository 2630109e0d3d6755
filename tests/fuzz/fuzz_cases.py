"""The fuzz generators, one per class of issue 13. Each is ``gen(rng, work) -> Case``
(see :mod:`fuzz_common`): seeded, so ``(class, seed)`` names a reproducible case.

Classes: ``metadata`` (the JSON record and root type of a written file), ``validation``
(shapes and values the validator must refuse before a backend sees them), ``memory``
(delays, batch, steps and inputs that must be refused before allocation), ``hdf5``
(external storage and links, virtual datasets, FIFOs, deep nesting, damaged bytes),
``writing`` (special targets, links, permissions), ``torch`` (tensor kinds, devices,
dtypes), ``names`` (dots, unicode, HDF5 separators, collisions), ``structural`` (random
mutations of zoo graphs, in files written by spikecore and in memory) and ``lava``
(faults injected into the Lava worker: kills, timeouts).
"""

from __future__ import annotations

import copy
import json
import os
import signal
import socket
import stat
import threading
import time
from pathlib import Path

import h5py
import nir
import numpy as np
from fuzz_common import (
    BASE_NAMES,
    Case,
    base_graph,
    cli,
    cli_run_file,
    datasets,
    edit_record,
    node_groups,
    numeric_params,
    pick,
    pick_backend,
    record_everything,
    replace,
    simulate_graph,
    simulate_read,
    written_base,
)

import spikecore as sc
from spikecore import primitives as P

HOSTILE_NUMBERS = (0.0, -0.0, -1.0, 5e-324, 1e-310, -5e-324, 1e308, -1e308, np.inf, -np.inf,
                   np.nan, 1e-300, 2.0**1023 * 1.999, 1e20)


# ====================================================================== metadata
def _deep(depth: int, rng) -> str:
    opens = "".join(pick(rng, "[{") for _ in range(depth))
    body = ""
    for c in reversed(opens):
        body = f"[{body}]" if c == "[" else f'{{"k": {body or 0}}}'
    return body


def _meta_value(rng):
    """A hostile JSON value (as Python, or raw JSON text tagged 'raw:')."""
    return pick(rng, [
        "0.001", True, False, None, [1e-3], {"dt": 1e-3}, 0, -1e-3, 1e308, 5e-324, 10**400,
        -(10**30), "raw:NaN", "raw:Infinity", "raw:-Infinity", "", "\ud800", [], {}, 2**63,
        "a" * 100_000, [[["x"]]], 1.5,
    ])


def _set_json(record: dict, keys: list, value) -> str:
    """The record as JSON text with ``record[keys...] = value``; raw JSON values are
    spliced in as text."""
    target = record
    for k in keys[:-1]:
        if not isinstance(target.get(k), dict):
            target[k] = {}
        target = target[k]
    marker = "@@RAW@@"
    if isinstance(value, str) and value.startswith("raw:"):
        target[keys[-1]] = marker
        return json.dumps(record).replace(json.dumps(marker), value[4:])
    target[keys[-1]] = value
    return json.dumps(record)


def gen_metadata(rng, work: Path) -> Case:
    base, path = written_base(rng, work)
    kind = pick(rng, ["deep", "node_order", "dt", "semantics", "delays", "name", "format",
                      "container", "root_type", "extensions", "unknown", "duplicate"])
    label = kind
    if kind == "deep":
        depth = int(pick(rng, [15, 16, 17, 40, 5000, 200_000]))
        where = pick(rng, ["whole", "field", "string", "unbalanced"])
        label += f" {where} depth={depth}"

        def edit(r):
            if where == "whole":
                return _deep(depth, rng) if depth < 10_000 else "[" * depth + "]" * depth
            if where == "field":
                return json.dumps(r)[:-1] + ', "extra": ' + ("[" * depth + "]" * depth) + "}"
            if where == "string":
                r["name"] = "[" * depth
                return None
            return json.dumps(r)[:-1] + ', "extra": ' + "[" * depth + "}"
    elif kind in ("node_order", "dt", "name", "format"):
        keys = {"node_order": ["node_order"], "dt": ["semantics", "dt"], "name": ["name"],
                "format": ["format"]}[kind]
        value = _meta_value(rng)
        if kind == "node_order" and rng.random() < 0.5:
            value = pick(rng, [[1, 2], ["ghost"], ["x"] * 3, [["a"]], "abc", {"a": 1},
                               ["ghost"] * 200_000])
        label += f" = {str(value)[:40]!r}"

        def edit(r):
            return _set_json(r, keys, value)
    elif kind == "semantics":
        field_ = pick(rng, ["integrator", "reset", "input_meaning", "update_order",
                            "delay_unit", "spike", "nonsense", None])
        value = pick(rng, [3, None, ["exact"], "EXACT", "", {"a": 1}, True, "raw:NaN"])
        label += f" {field_}={str(value)[:30]!r}"

        def edit(r):
            if field_ is None:
                r["semantics"] = value if not (isinstance(value, str) and
                                               value.startswith("raw")) else 1
                return None
            return _set_json(r, ["semantics", field_], value)
    elif kind == "delays":
        key = pick(rng, ["edge_delays", "edges"])
        steps = pick(rng, [3_000_000, 10**5, 2**31, 2**63, 2**64 + 1, 10**30, -1, 1.5, "3",
                           None, True, 10**400])
        shape = pick(rng, ["real", "ghost", "short", "long", "dup"])
        label += f" {key} {shape} steps={str(steps) if len(str(steps)) < 30 else '~1e400'}"

        def edit(r):
            g = base_graph(base)
            edges = [(e.source, e.target) for e in g.edges] or [("a", "b")]
            s, t = edges[int(rng.integers(len(edges)))]
            row = {"real": [s, t, steps], "ghost": ["ghost", t, steps], "short": [s, steps],
                   "long": [s, t, steps, 1], "dup": [s, t, steps]}[shape]
            rows = list(r.get(key, [])) + [row] + ([row] if shape == "dup" else [])
            return json.dumps({**r, key: rows}) if not isinstance(steps, int) or \
                abs(steps) < 10**300 else json.dumps({**r, key: [[s, t, 0]]}).replace(
                    "0]]", f"{steps}]]")
    elif kind == "container":
        value = pick(rng, [np.int64(3), np.array([b"{}", b"{}"]), np.float64(1.0), b"\xff\xfe{",
                           b"", b"null", b"[]", b'"text"', np.zeros((2, 2)), "group"])
        label += f" record={str(value)[:30]}"

        def edit(r):
            if isinstance(value, str) and value == "group":
                return None
            return value
        if isinstance(value, str) and value == "group":
            def run_edit():
                with h5py.File(path, "r+") as f:
                    del f["node/metadata/spikecore"]
                    f.create_group("node/metadata/spikecore").create_dataset("x", data=1)
            run_edit()
            return Case(label, simulate_read(path, rng))
    elif kind == "root_type":
        value = pick(rng, ["compound", "int", "two", "empty", "missing", "vlen", "group"])
        label += f" {value}"
        with h5py.File(path, "r+") as f:
            if value == "compound":
                replace(f, "node/type", np.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")]))
            elif value == "int":
                replace(f, "node/type", np.int64(7))
            elif value == "two":
                replace(f, "node/type", np.array([b"NIRGraph", b"NIRGraph"]))
            elif value == "empty":
                replace(f, "node/type", np.bytes_(b""))
            elif value == "missing":
                del f["node/type"]
            elif value == "vlen":
                dt = h5py.vlen_dtype(np.dtype("int32"))
                del f["node/type"]
                d = f.create_dataset("node/type", (2,), dtype=dt)
                d[0] = [1, 2]
                d[1] = [3]
            else:
                del f["node/type"]
                f.create_group("node/type")
        return Case(label, _read_or_cli(path, rng, work))
    elif kind == "extensions":
        return _extension_record_case(rng, work)
    elif kind == "unknown":
        label += " extra keys"

        def edit(r):
            r.update({"zzz": [1, {"a": None}], "semantics": {**r.get("semantics", {}),
                                                            "extra": 1}})
            return None
    else:
        label += " duplicate keys"

        def edit(r):
            text = json.dumps(r)
            return text[:-1] + ', "node_order": 5, "semantics": "x"}'
    edit_record(path, edit)
    return Case(label, _read_or_cli(path, rng, work))


def _read_or_cli(path: Path, rng, work: Path):
    u = rng.random()
    if u < 0.25:
        return cli_run_file(path, rng, work)
    if u < 0.32:
        out = work / "converted.nir"
        return lambda: cli(["convert", str(path), str(out)])
    if u < 0.36:
        return lambda: cli(["check", str(path), "--target", "loihi2"])
    return simulate_read(path, rng)


def _extension_record_case(rng, work: Path) -> Case:
    base, path = written_base(rng, work, ["lsnn", "izhikevich", "morris_lecar", "cond", "ltc",
                                         "rate", "refractory", "ou"])
    with h5py.File(path, "r+") as f:
        root = "node/metadata/spikecore_extensions"
        groups = [f"{root}/{k}" for k in f[root]] if root in f else []
        if not groups:
            return Case(f"extensions {base}: none", simulate_read(path, rng))
        g = pick(rng, groups)
        fields = [k for k in f[g] if isinstance(f[g][k], h5py.Dataset)]
        fld = pick(rng, fields)
        what = pick(rng, ["delete", "string", "2d", "grow", "empty", "type", "scalar_fields",
                          "seed", "hostile", "group", "node_metadata", "whole"])
        label = f"extensions {base} {g.rsplit('/', 1)[-1]}.{fld} {what}"
        if what == "delete":
            del f[f"{g}/{fld}"]
        elif what == "string":
            replace(f, f"{g}/{fld}", np.bytes_(b"fast"))
        elif what == "2d":
            replace(f, f"{g}/{fld}", np.ones((2, 3)))
        elif what == "grow":
            v = np.ravel(np.asarray(f[f"{g}/{fld}"][()], dtype=np.float64))
            replace(f, f"{g}/{fld}", np.concatenate([v, v, [1.0]]))
        elif what == "empty":
            replace(f, f"{g}/{fld}", np.zeros((0,)))
        elif what == "type":
            replace(f, f"{g}/type", np.bytes_(pick(rng, [b"LIF", b"ALIF2", b"", b"Extension",
                                                         b"NIRGraph", b"Izhikevich"])))
        elif what == "scalar_fields":
            replace(f, f"{g}/scalar_fields", np.bytes_(pick(rng, [b"r,v_leak,tau,beta",
                                                                   b",,,", b"type"])))
        elif what == "seed":
            replace(f, f"{g}/seed", pick(rng, [np.float64(1.5), np.int64(-1), np.uint64(2**64 - 1),
                                               np.bytes_(b"x"), np.float64(np.nan)]))
        elif what == "hostile":
            v = np.asarray(f[f"{g}/{fld}"][()])
            if v.dtype.kind in "biuf":
                v = np.array(v, dtype=np.float64)
                v.flat[int(rng.integers(max(v.size, 1)))] = pick(rng, HOSTILE_NUMBERS) \
                    if v.size else 0.0
                replace(f, f"{g}/{fld}", v)
        elif what == "group":
            del f[f"{g}/{fld}"]
            f.create_group(f"{g}/{fld}")
        elif what == "node_metadata":
            replace(f, f"{g}/node_metadata", np.int64(3))
        else:
            del f[g]
            f[g] = np.float64(1.0)
    return Case(label, _read_or_cli(path, rng, work))


# ====================================================================== validation
N = 3


def _chain(node, weight=None, n: int = N) -> sc.Graph:
    w = weight if weight is not None else nir.Linear(np.eye(n))
    return sc.Graph({"i": nir.Input(np.array([n])), "w": w, "a": node,
                     "o": nir.Output(np.array([n]))}, [("i", "w"), ("w", "a"), ("a", "o")],
                    sc.Semantics(dt=1e-3), name="chain")


def _lif(n: int = N, **changes) -> nir.LIF:
    p = dict(tau=np.full(n, 0.01), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n),
             v_reset=np.zeros(n))
    p.update(changes)
    return nir.LIF(**p)


def _stateful_nodes():
    """(base graph, node name) of every stateful node or source in the zoo's graphs."""
    out = []
    for b in BASE_NAMES:
        g = base_graph(b).flatten()
        for n, node in g.nodes.items():
            spec = P.spec_of(node)
            if spec is not None and spec.kind in ("stateful", "source") and \
                    not isinstance(node, P.Input):
                out.append((b, n))
    return out


_STATEFUL: list | None = None


def _param_names(node) -> list[str]:
    spec = P.spec_of(node)
    names = list(spec.array_params or ()) + list(spec.time_constants or ())
    if not names:
        names = [k for k, v in vars(node).items() if isinstance(v, np.ndarray)
                 and v.dtype.kind == "f" and k not in ("input_type", "output_type")]
    return sorted(set(names))


def gen_validation(rng, work: Path) -> Case:
    global _STATEFUL
    if _STATEFUL is None:
        _STATEFUL = _stateful_nodes()
    kind = pick(rng, ["param_shape", "param_value", "param_shape", "param_value", "back_edge",
                      "self_loop", "affine_bias", "w_in_dialect", "tau_denormal",
                      "loihi_check", "weight_shape"])
    backend = pick_backend(rng, lava=0.03)
    steps = int(rng.integers(3, 20))
    seed = int(rng.integers(2**31))
    label = kind
    if kind in ("param_shape", "param_value"):
        b, n = pick(rng, _STATEFUL)
        g = base_graph(b).flatten()
        node = copy.deepcopy(g.nodes[n])
        params = _param_names(node)
        if not params:
            return Case(f"{kind} {b}.{n}: no params", lambda: None)
        p = pick(rng, params)
        v = np.asarray(getattr(node, p), dtype=np.float64)
        if kind == "param_shape":
            size = int(v.size) if v.ndim else 1
            shape = pick(rng, [(size + 1,), (1, size), (), (0,), (size, size), (2,), (size, 1),
                               (1, 1, size)])
            new = np.full(shape, float(np.ravel(v)[0]) if v.size else 1.0)
            label += f" {b}.{n}.{p} {v.shape}->{shape}"
        else:
            new = np.array(v, dtype=np.float64, copy=True)
            bad = pick(rng, HOSTILE_NUMBERS)
            if new.ndim == 0:
                new = np.float64(bad)
            elif rng.random() < 0.5:
                new[...] = bad
            else:
                new.flat[int(rng.integers(new.size))] = bad
            label += f" {b}.{n}.{p}={bad!r}"
        try:
            setattr(node, p, new)
        except Exception:  # noqa: BLE001 - a frozen node: rebuild through its fields
            return Case(f"{label}: immutable", lambda: None)
        g.nodes[n] = node
        via_file = rng.random() < 0.3

        def run():
            graph = g
            if via_file:
                graph = sc.read(sc.write(g, work / "v.nir"))
            return simulate_graph(graph, np.random.default_rng(seed), backend, steps)
        return Case(label + (" via file" if via_file else ""), run)
    if kind == "back_edge":
        g = base_graph(pick(rng, ["recurrent", "cuba", "lsnn", "ei"])).flatten()
        names = [n for n in g.nodes if not isinstance(g.nodes[n], (P.Input, P.Output))]
        src, dst = pick(rng, names), pick(rng, names)
        sizes = g.shapes()
        m = int(np.prod(sizes[dst])) + int(rng.integers(1, 3))
        w = nir.Linear(np.ones((m, int(np.prod(sizes[src])))))
        g.nodes["bad_w"] = w
        g.edges += [sc.Edge(src, "bad_w"), sc.Edge("bad_w", dst, int(rng.integers(0, 3)))]
        label += f" {src}->bad_w({m})->{dst}"
        return Case(label, lambda: simulate_graph(g, np.random.default_rng(seed), backend, steps))
    if kind == "self_loop":
        g = base_graph(pick(rng, ["recurrent", "feedforward", "lsnn", "cuba"])).flatten()
        names = [n for n in g.nodes if not isinstance(g.nodes[n], (P.Input, P.Output))]
        n = pick(rng, names)
        sizes = g.shapes()
        what = pick(rng, ["direct", "weight"])
        delay = int(rng.integers(0, 3))
        if what == "direct":
            g.edges.append(sc.Edge(n, n, delay))
        else:
            k = int(np.prod(sizes[n]))
            g.nodes["loop_w"] = nir.Linear(np.ones((k + int(rng.integers(0, 2)),
                                                    k + int(rng.integers(0, 2)))))
            g.edges += [sc.Edge(n, "loop_w"), sc.Edge("loop_w", n, delay)]
        label += f" {what} on {n} delay {delay}"
        return Case(label, lambda: simulate_graph(g, np.random.default_rng(seed), backend, steps))
    if kind == "affine_bias":
        shape = pick(rng, [(1, 1, N), (N, 1), (N + 1,), (), (0,), (1, N), (N, N), (2, 2, 2)])
        wshape = pick(rng, [(N, N), (N, N), (N,), (1, N, N)])
        label += f" bias{shape} weight{wshape}"
        affine = nir.Affine(np.ones((N, N)), np.zeros(N))  # nir asserts a 2-D weight: set after
        affine.weight, affine.bias = np.ones(wshape), np.zeros(shape)
        g = _chain(_lif(), affine)
        return Case(label, lambda: simulate_graph(g, np.random.default_rng(seed), backend, steps))
    if kind == "weight_shape":
        shape = pick(rng, [(N + 1, N), (N, N + 1), (N,), (), (0, N), (1, N, N)])
        label += f" Linear{shape}"
        linear = nir.Linear(np.ones((N, N)))
        linear.weight = np.ones(shape)
        g = _chain(_lif(), linear)
        return Case(label, lambda: simulate_graph(g, np.random.default_rng(seed), backend, steps))
    if kind == "w_in_dialect":
        dialect = pick(rng, [*sc.DIALECTS, None, "explicit"])
        shape = pick(rng, [(1, N), (N, N), (N, 1), (2, N), ()])
        param = pick(rng, ["w_in", "r", "tau_mem", "v_threshold"])
        vals = dict(tau_syn=np.full(N, 2e-4), tau_mem=np.full(N, 1e-3), r=np.full(N, 10.0),
                    v_leak=np.zeros(N), v_threshold=np.ones(N), w_in=np.ones(N))
        vals[param] = np.full(shape, float(vals[param].ravel()[0]))
        label += f" {dialect} CubaLIF {param}{shape}"
        via_file = rng.random() < 0.5

        good = {k: np.full(N, float(np.ravel(v)[0])) for k, v in vals.items()}

        def run():
            cuba = nir.CubaLIF(**good)  # nir's constructor asserts equal shapes: set after
            setattr(cuba, param, vals[param])
            ng = nir.NIRGraph(nodes={"i": nir.Input(np.array([N])), "c": cuba,
                                     "o": nir.Output(np.array([N]))},
                              edges=[("i", "c"), ("c", "o")], type_check=False)
            kw = {"dt": 1e-4} if dialect == "explicit" else {}
            p = work / "foreign.nir"
            if via_file:
                try:  # nir.write itself cannot store every hostile shape (a scalar: no chunks)
                    nir.write(p, ng)
                except (TypeError, ValueError):
                    p.unlink(missing_ok=True)
            if via_file and p.is_file():
                g = sc.read(p, dialect=dialect, **kw)
            else:
                g = sc.from_nir(ng, dialect=dialect, **kw)
            return simulate_graph(g, np.random.default_rng(seed), backend, steps)
        return Case(label, run)
    if kind == "tau_denormal":
        param = pick(rng, ["tau", "r", "v_threshold", "v_reset", "v_leak"])
        value = pick(rng, [5e-324, 1e-310, 1e-300, -5e-324, 1e308])
        label += f" {param}={value!r}"
        g = _chain(_lif(**{param: np.full(N, value)}))
        if rng.random() < 0.3:
            path = work / "t.nir"

            def run():
                sc.write(g, path)
                return cli(["check", str(path), "--target", "loihi2"])
            return Case(label + " check", run)
        return Case(label, lambda: simulate_graph(g, np.random.default_rng(seed), backend, steps))
    # loihi_check: a hostile parameter through `spikecore check --target loihi2`
    b, n = pick(rng, _STATEFUL)
    g = base_graph(b).flatten()
    node = copy.deepcopy(g.nodes[n])
    params = _param_names(node)
    p = pick(rng, params) if params else None
    value = pick(rng, [5e-324, 1e-310, 1e308, 0.0, -1.0, 1e-30, 2.0**40])
    if p is not None:
        v = np.array(getattr(node, p), dtype=np.float64)
        v[...] = value
        setattr(node, p, v)
        g.nodes[n] = node
    target = pick(rng, ["loihi2", "loihi2", "loihi2", "loihi3", ""])
    label += f" {b}.{n}.{p}={value!r} --target {target!r}"
    path = work / "l.nir"
    in_process = rng.random() > 0.1

    def run():
        sc.write(g, path)
        return cli(["check", str(path), "--target", target], in_process=in_process)
    return Case(label, run)


# ====================================================================== memory
def gen_memory(rng, work: Path) -> Case:
    kind = pick(rng, ["delay_node", "edge_delay", "edge_delay_file", "batch", "steps",
                      "broadcast", "tensor_expand", "cli_steps", "cli_npy", "record_wide",
                      "source_long"])
    backend = pick_backend(rng, lava=0.02)
    label = kind
    k = int(rng.integers(10**5, 3 * 10**6 + 1))
    if kind == "delay_node":
        batch = int(pick(rng, [1, 10, 1000]))
        label += f" {k} steps batch {batch} on {backend}"
        g = _chain(_lif(), nir.Delay(np.full(N, k * 1e-3)))
        return Case(label, lambda: sc.simulate(g, np.zeros((batch, 5, N)), backend=backend,
                                               record=("spikes", "v")))
    if kind in ("edge_delay", "edge_delay_file"):
        batch = int(pick(rng, [1, 10, 1000]))
        g = sc.Graph({"i": nir.Input(np.array([N])), "a": _lif(), "o": nir.Output(np.array([N]))},
                     [("i", "a", k), ("a", "o")], sc.Semantics(dt=1e-3))
        label += f" {k} steps batch {batch} on {backend}"
        if kind == "edge_delay_file":
            path = sc.write(base_graph("recurrent"), work / "r.nir")

            def edit(r):
                r["edge_delays"] = [[row[0], row[1], k] for row in r.get("edge_delays", [])] \
                    or [["input", "rec", k]]
            edit_record(path, edit)
            return Case(label, lambda: sc.simulate(sc.read(path), np.zeros((batch, 5, 4)),
                                                   backend=backend))
        return Case(label, lambda: sc.simulate(g, np.zeros((batch, 5, N)), backend=backend))
    if kind == "batch":
        batch = int(pick(rng, [10**5, 10**6, 10**7]))
        label += f" {batch}"
        g = base_graph("recurrent")
        return Case(label, lambda: sc.simulate(g, np.broadcast_to(np.zeros(()), (batch, 5, 4)),
                                               backend=backend))
    if kind == "steps":
        steps = int(pick(rng, [10**7, 10**8, 2**31, 10**12]))
        label += f" {steps}"
        g = base_graph(pick(rng, ["recurrent", "lsnn", "cond", "izhikevich"]))
        flat = g.flatten()
        x = {n: np.zeros((1, 5, *flat.shapes()[n])) for n in flat.input_names} or None
        return Case(label, lambda: sc.simulate(g, x, backend=backend, steps=steps,
                                               record=("spikes", "v")))
    if kind == "broadcast":
        shape = pick(rng, [(1, 10**8, 4), (1000, 10**5, 4), (2**20, 2**12, 4)])
        label += f" {shape}"
        g = base_graph("recurrent")
        return Case(label, lambda: sc.simulate(g, np.broadcast_to(np.float32(1.0), shape),
                                               backend=backend))
    if kind == "tensor_expand":
        import torch

        shape = pick(rng, [(1, 10**8, 4), (10**6, 100, 4)])
        label += f" {shape}"
        g = base_graph("recurrent")
        return Case(label, lambda: sc.simulate(g, torch.zeros(()).expand(*shape),
                                               backend=backend))
    if kind == "cli_steps":
        steps = int(pick(rng, [2**31, 10**9, 10**8]))
        path = sc.write(base_graph(pick(rng, ["recurrent", "feedforward", "lsnn"])),
                        work / "m.nir")
        label += f" --steps {steps}"
        return Case(label, lambda: cli(["run", str(path), "--steps", str(steps), "--backend",
                                        backend]))
    if kind == "cli_npy":
        shape = pick(rng, [(1, 10**8, 4), (100, 10**6, 4)])
        npy = work / "big.npy"
        np.lib.format.open_memmap(npy, mode="w+", dtype=np.float32, shape=shape)._mmap.close()
        path = sc.write(base_graph("recurrent"), work / "m.nir")
        label += f" --input {shape}"
        return Case(label, lambda: cli(["run", str(path), "--input", str(npy), "--backend",
                                        backend]))
    if kind == "record_wide":
        n = int(pick(rng, [2000, 20000]))
        steps = int(pick(rng, [10**4, 10**5]))
        g = _chain(_lif(n), nir.Linear(np.eye(n)) if n <= 2000 else nir.Scale(np.ones(n)), n)
        label += f" {n} neurons x {steps} steps record v"
        return Case(label, lambda: sc.simulate(g, np.zeros((1, 1, n)), backend=backend,
                                               steps=steps, record=("spikes", "v")))
    # source_long: a seeded source over many steps
    g = base_graph(pick(rng, ["cond", "izhikevich", "refractory", "ou"]))
    steps = int(pick(rng, [10**7, 10**8]))
    label += f" {steps}"
    return Case(label, lambda: sc.simulate(g, None, backend=backend, steps=steps))


# ====================================================================== hdf5
def gen_hdf5(rng, work: Path) -> Case:
    base, path = written_base(rng, work)
    kind = pick(rng, ["external_storage", "external_link", "soft_link", "virtual", "fifo_file",
                      "fifo_external", "deep", "hardlink_cycle", "truncated", "flips",
                      "zeroed", "dtype", "bomb", "datatype", "userblock", "appended"])
    label = kind
    unsafe = None
    with h5py.File(path, "r+") as f:
        params = numeric_params(f)
        target = pick(rng, params)
        shape = f[target].shape
    if kind in ("external_storage", "fifo_external"):
        if kind == "fifo_external":
            src = work / "pipe"
            os.mkfifo(src)
        else:
            src = Path(pick(rng, ["/etc/passwd", "/dev/zero", "/dev/urandom", str(work / "secret"),
                                  str(work / "missing")]))
            if src.name == "secret":
                src.write_bytes(b"SECRET-BYTES" * 1000)
        label += f" {target} <- {src}"
        with h5py.File(path, "r+") as f:
            del f[target]
            size = max(int(np.prod(shape)) * 8, 8)
            f.create_dataset(target, shape=shape or (1,), dtype="f8",
                             external=[(str(src), 0, size)])

        def unsafe():
            out = work / "converted.nir"
            if out.is_file() and (b"root:" in out.read_bytes() or b"SECRET" in out.read_bytes()):
                return [f"{out.name} holds bytes of {src}"]
            return []
    elif kind == "external_link":
        other = work / "other.nir"
        what = pick(rng, ["copy", "self", "missing", "bomb"])
        if what == "copy":
            sc.write(base_graph(base), other)
        elif what == "bomb":
            with h5py.File(other, "w") as g:
                g.create_dataset("x", shape=(2**16, 2**15), dtype="f8", compression="gzip",
                                 chunks=(1024, 1024), fillvalue=0.0)
        link_file = {"copy": str(other), "self": str(path), "missing": str(work / "gone.nir"),
                     "bomb": str(other)}[what]
        label += f" {target} -> {what}"
        with h5py.File(path, "r+") as f:
            del f[target]
            f[target] = h5py.ExternalLink(link_file, "/x" if what == "bomb" else "/" + target)
    elif kind == "soft_link":
        what = pick(rng, ["existing", "dangling", "cycle", "group"])
        label += f" {target} {what}"
        with h5py.File(path, "r+") as f:
            del f[target]
            if what == "existing":
                f[target] = h5py.SoftLink("/" + pick(rng, params))
            elif what == "dangling":
                f[target] = h5py.SoftLink("/nowhere")
            elif what == "cycle":
                f[target] = h5py.SoftLink("/" + target)
            else:
                f[target] = h5py.SoftLink("/node")
    elif kind == "virtual":
        other = work / "v.h5"
        with h5py.File(other, "w") as g:
            g["x"] = np.arange(max(int(np.prod(shape)), 1), dtype=np.float64)
        label += f" {target}"
        with h5py.File(path, "r+") as f:
            del f[target]
            n = max(int(np.prod(shape)), 1)
            layout = h5py.VirtualLayout(shape=(n,), dtype="f8")
            layout[:] = h5py.VirtualSource(str(other), "x", shape=(n,))
            f.create_virtual_dataset(target, layout, fillvalue=0)
    elif kind == "fifo_file":
        fifo = work / "pipe.nir"
        os.mkfifo(fifo)
        path = fifo
    elif kind == "deep":
        depth = int(pick(rng, [63, 64, 65, 100, 2000]))
        where = pick(rng, ["metadata", "node", "extension"])
        label += f" {depth} under {where}"
        with h5py.File(path, "r+") as f:
            g = f[pick(rng, node_groups(f))] if where == "node" else f["node/metadata"]
            name = "/".join(["d"] * depth)
            g.create_group(name)
    elif kind == "hardlink_cycle":
        with h5py.File(path, "r+") as f:
            grp = pick(rng, node_groups(f))
            f[f"{grp}/loop"] = f[grp]
            label += f" {grp}/loop -> {grp}"
    elif kind in ("truncated", "flips", "zeroed", "appended", "userblock"):
        data = bytearray(path.read_bytes())
        if kind == "truncated":
            cut = int(rng.integers(0, len(data)))
            data = data[:cut]
            label += f" at {cut}/{len(path.read_bytes())}"
        elif kind == "flips":
            k = int(rng.integers(1, 60))
            for pos in rng.integers(0, len(data), k):
                data[int(pos)] ^= 1 << int(rng.integers(8))
            label += f" {k} bits"
        elif kind == "zeroed":
            start = int(rng.integers(0, len(data)))
            ln = int(rng.integers(1, 2048))
            data[start:start + ln] = bytes(len(data[start:start + ln]))
            label += f" {ln} bytes at {start}"
        elif kind == "appended":
            data += bytes(rng.integers(0, 256, int(rng.integers(1, 5000)), dtype=np.uint8))
        else:
            data = bytearray(512) + data  # an HDF5 file behind a user block
        path.write_bytes(bytes(data))
    elif kind == "dtype":
        what = pick(rng, ["compound", "enum", "vlen", "reference", "opaque", "bool", "f16",
                          "u64", "complex", "string"])
        label += f" {target} {what}"
        with h5py.File(path, "r+") as f:
            n = max(int(np.prod(shape)), 1)
            del f[target]
            if what == "compound":
                f[target] = np.zeros(n, dtype=[("a", "f8"), ("b", "i4")])
            elif what == "enum":
                f.create_dataset(target, data=np.zeros(n, dtype="i1"),
                                 dtype=h5py.enum_dtype({"A": 0, "B": 1}, basetype="i1"))
            elif what == "vlen":
                d = f.create_dataset(target, (n,), dtype=h5py.vlen_dtype(np.dtype("f8")))
                for i in range(n):
                    d[i] = np.ones(i % 3 + 1)
            elif what == "reference":
                d = f.create_dataset(target, (1,), dtype=h5py.ref_dtype)
                d[0] = f["node"].ref
            elif what == "opaque":
                f[target] = np.void(b"\x00" * 8)
            elif what == "bool":
                f[target] = np.ones(shape, dtype=bool)
            elif what == "f16":
                f[target] = np.full(shape, 70000.0).astype(np.float16)
            elif what == "u64":
                f[target] = np.full(shape, 2**64 - 1, dtype=np.uint64)
            elif what == "complex":
                f[target] = np.ones(shape, dtype=np.complex128)
            else:
                f[target] = np.array([b"1.0"] * n)
    elif kind == "bomb":
        label += f" {target}"
        with h5py.File(path, "r+") as f:
            del f[target]
            f.create_dataset(target, shape=(2**16, 2**14), dtype="f8", compression="gzip",
                             chunks=(1024, 1024), fillvalue=0.0)
    else:  # datatype: a committed datatype among the nodes
        with h5py.File(path, "r+") as f:
            f[pick(rng, node_groups(f)) + "/committed"] = np.dtype("f8")
    u = rng.random()
    if kind in ("external_storage", "fifo_external") and u < 0.3:
        out = work / "converted.nir"
        return Case(label, lambda: cli(["convert", str(path), str(out)]), unsafe=unsafe)
    if u < 0.2:
        return Case(label, cli_run_file(path, rng, work), unsafe=unsafe)
    return Case(label, simulate_read(path, rng), unsafe=unsafe)


# ====================================================================== writing
def _fingerprint(p: Path) -> tuple:
    """What a path is, to compare before and after a write (never follows the last link)."""
    try:
        st = os.lstat(p)
    except FileNotFoundError:
        return ("absent",)
    except OSError as exc:  # a name too long, a parent that is a file
        return ("unreachable", exc.errno)
    if stat.S_ISLNK(st.st_mode):
        return ("link", os.readlink(p))
    if stat.S_ISDIR(st.st_mode):
        return ("dir", tuple(sorted(os.listdir(p))), stat.S_IMODE(st.st_mode))
    if stat.S_ISREG(st.st_mode):
        return ("file", p.read_bytes(), stat.S_IMODE(st.st_mode))
    return ("special", stat.S_IFMT(st.st_mode), st.st_rdev, stat.S_IMODE(st.st_mode))


def gen_writing(rng, work: Path) -> Case:
    kind = pick(rng, ["fifo", "dir", "dir_nonempty", "link_file", "link_fifo", "link_dir",
                      "link_dangling", "link_loop", "link_chain", "chardev", "socket",
                      "no_folder", "parent_file", "mode", "long_name", "unicode", "hardlink",
                      "empty", "stale_tmp", "link_chardev"])
    writer = pick(rng, ["sc.write", "sc.write", "convert", "run --out", "save_result_npz",
                        "report"])
    label = f"{kind} via {writer}"
    target = work / "target.nir"
    watch: list[Path] = []
    if kind == "fifo":
        os.mkfifo(target)
    elif kind in ("dir", "dir_nonempty"):
        target.mkdir()
        if kind == "dir_nonempty":
            (target / "keep.txt").write_text("keep")
    elif kind.startswith("link_"):
        real = work / "real.nir"
        if kind == "link_file":
            real.write_bytes(b"OLD CONTENT")
        elif kind == "link_fifo":
            os.mkfifo(real)
        elif kind == "link_dir":
            real.mkdir()
        elif kind == "link_chardev":
            os.mknod(real, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        elif kind == "link_loop":
            real = work / "loop2"
            os.symlink(target, real)
        elif kind == "link_chain":
            (work / "end.nir").write_bytes(b"OLD END")
            os.symlink(work / "end.nir", work / "mid")
            real = work / "mid"
        os.symlink(real, target)
        watch += [real, work / "end.nir"]
    elif kind == "chardev":
        os.mknod(target, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # a private /dev/null
    elif kind == "socket":
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(target))
        s.close()
    elif kind == "no_folder":
        target = work / "missing" / "target.nir"
    elif kind == "parent_file":
        (work / "afile").write_text("x")
        target = work / "afile" / "target.nir"
    elif kind == "mode":
        target.write_bytes(b"OLD")
        os.chmod(target, int(pick(rng, [0o640, 0o444, 0o755, 0o600])))
    elif kind == "long_name":
        target = work / ("x" * int(pick(rng, [255, 256, 1000])))
    elif kind == "unicode":
        target = work / pick(rng, ["ñ神经元.nir", "new\nline.nir", " space .nir", "-dash.nir"])
    elif kind == "hardlink":
        (work / "other").write_bytes(b"OLD HARD")
        os.link(work / "other", target)
        watch.append(work / "other")
    elif kind == "empty":
        target = Path("")
    elif kind == "stale_tmp":
        target.write_bytes(b"OLD")
        dead = 2**22 + int(rng.integers(1000))  # above the default pid_max: not alive
        (work / f".{target.name}.{dead}.abc.spikecore.tmp").write_bytes(b"x" * 1000)
        label += " (stale temporary of a dead writer)"
    before = {p: _fingerprint(p) for p in [target, *watch] if str(p)}
    src = sc.write(base_graph(pick(rng, ["recurrent", "lsnn", "feedforward"])), work / "src.nir")

    def run():
        if writer == "sc.write":
            return sc.write(sc.read(src), target)
        if writer == "convert":
            return cli(["convert", str(src), str(target)])
        if writer == "run --out":
            return cli(["run", str(src), "--backend", "torch", "--steps", "5", "--out",
                        str(target)])
        if writer == "save_result_npz":
            from spikecore.cli import save_result_npz

            r = sc.simulate(sc.read(src), np.zeros((1, 5, 4)) if "recurrent" in str(src)
                            else None, backend="torch", steps=5)
            return save_result_npz(r, target)
        from spikecore.report import write_report

        g = sc.read(src)
        flat = g.flatten()
        x = {n: np.ones((1, 5, *flat.shapes()[n])) for n in flat.input_names}
        rep = sc.compare(g, x or None, backends=("brian2", "torch"), steps=5)
        return write_report(rep, target)

    def after() -> list[str]:
        problems = []
        for p, old in before.items():
            new = _fingerprint(p)
            if old == new:
                continue
            if writer == "report" and old[0] == new[0] == "dir" and set(old[1]) <= set(new[1]):
                if "keep.txt" in old[1] and (p / "keep.txt").read_text() != "keep":
                    problems.append(f"{p.name}/keep.txt: changed by the report")
                continue  # a report goes into a folder; what was there stays
            if old[0] in ("special", "dir") or (old[0] == "link" and new[0] != "link"):
                problems.append(f"{p.name}: was {old[0]}, now {new[0]}")
            elif old[0] == "link" and new != old:
                problems.append(f"{p.name}: link now points to {new[1]!r}, was {old[1]!r}")
            elif old[0] == "file" and p != target and p.name != "end.nir" and \
                    p.name != "real.nir":
                problems.append(f"{p.name}: changed")
            elif old[0] == "file" and new[0] == "file" and new[2] != old[2]:
                problems.append(f"{p.name}: mode {oct(old[2])} -> {oct(new[2])}")
            elif old[0] == "file" and new[0] != "file":
                problems.append(f"{p.name}: was a file, now {new[0]}")
        # a symlink target that was written must hold a complete new file
        for p in (work / "real.nir", work / "end.nir"):
            if p.is_file() and not p.is_symlink() and before.get(p, ("",))[0] == "file" and \
                    _fingerprint(p) != before[p]:
                if writer in ("sc.write", "convert"):
                    try:
                        sc.read(p)
                    except Exception as exc:  # noqa: BLE001
                        problems.append(f"{p.name}: written but unreadable: {exc}")
        if kind in ("link_file", "link_chain") and os.path.islink(target) is False:
            problems.append("the link was replaced by a regular file")
        return problems
    return Case(label, run, after=after)


# ====================================================================== torch
def gen_torch(rng, work: Path) -> Case:
    import torch

    base = pick(rng, ["recurrent", "feedforward", "lsnn", "ltc", "cuba"])
    g = base_graph(base)
    flat = g.flatten()
    name = flat.input_names[0]
    shape = flat.shapes()[name]
    steps = int(rng.integers(3, 15))
    dense = torch.from_numpy((rng.random((2, steps, *shape)) < 0.3).astype(np.float64))
    kind = pick(rng, ["meta", "sparse", "sparse_csr", "bfloat16", "half", "complex", "int8",
                      "bool", "grad", "noncontig", "expanded", "quantized", "nan", "0d",
                      "device", "dtype", "to_torch_device", "nested", "uint8", "wrong_shape"])
    backend = pick(rng, ["torch", "torch", "brian2"])
    label = f"{kind} {base} on {backend}"
    options: dict = {}
    x = dense
    if kind == "meta":
        x = torch.empty(dense.shape, device="meta")
    elif kind == "sparse":
        x = dense.to_sparse()
    elif kind == "sparse_csr":
        x = dense.reshape(-1, dense.shape[-1]).to_sparse_csr() if rng.random() < 0.5 \
            else torch.ones_like(dense).to_sparse_csr() if dense.ndim == 3 \
            else dense.to_sparse()
    elif kind == "bfloat16":
        x = dense.to(torch.bfloat16)
    elif kind == "half":
        x = (dense * 7e4).to(torch.float16)  # inf after the cast
    elif kind == "complex":
        x = dense.to(torch.complex64)
    elif kind == "int8":
        x = dense.to(torch.int8)
    elif kind == "uint8":
        x = dense.to(torch.uint8)
    elif kind == "bool":
        x = dense.bool()
    elif kind == "grad":
        x = dense.clone().requires_grad_(True)
    elif kind == "noncontig":
        x = dense.transpose(0, 1).contiguous().transpose(0, 1)
    elif kind == "expanded":
        x = dense[:1].expand(int(pick(rng, [3, 1000])), *dense.shape[1:])
    elif kind == "quantized":
        x = torch.quantize_per_tensor(dense.float(), 0.1, 0, torch.quint8)
    elif kind == "nan":
        x = dense.clone()
        x[0, 0, 0] = float(pick(rng, [np.nan, np.inf]))
    elif kind == "0d":
        x = torch.tensor(1.0)
    elif kind == "nested":
        x = torch.nested.nested_tensor([dense[0], dense[1, :2]])
    elif kind == "wrong_shape":
        x = dense.reshape(-1)
    elif kind in ("device", "to_torch_device"):
        dev = pick(rng, ["cuda", "cuda:3", "meta", "nonsense", "cpu:1", "mps", "xla", 5,
                         torch.device("cpu"), "cpu", "", None, "cuda:-1", ["cpu"]])
        label += f" device={dev!r}"
        if kind == "to_torch_device":
            def run():
                m = sc.to_torch(g, device=dev)
                out, _, _ = m.run(dense.float(), steps=steps)
                return {k: v.detach().numpy() for k, v in out.items()}
            return Case(label, run)
        backend = "torch"
        options["device"] = dev
    elif kind == "dtype":
        dt = pick(rng, [torch.float16, torch.bfloat16, torch.int32, torch.complex64, "float64",
                        np.float32, torch.float32, torch.bool, None])
        label += f" dtype={dt!r}"
        backend = "torch"
        options["dtype"] = dt
    inputs = {name: x}
    for other in flat.input_names[1:]:
        inputs[other] = torch.zeros((2, steps, *flat.shapes()[other]))

    def run():
        return sc.simulate(g, inputs if len(inputs) > 1 else x, backend=backend, steps=steps,
                           record=record_everything(g), **options)
    return Case(label, run)


# ====================================================================== names
HOSTILE_NAMES = ["a.b", ".", "..", "a.", ".a", "lif.lif", "ñ", "神经元", "🧠", "e\u0301",
                 "\u202eltr", "a b", "a_b", "a-b", "tab\tname", "new\nline", "/", "a/b",
                 "x" * 300, "$\\frac{1}{$", "$x$", "input", "output", "node", "nodes", "edges",
                 "metadata", "type", "t", "dt", "i", "v", "N", "lambda", "class", "#1",
                 "sub.in", "0", "-", "'", '"', "\\", "a:b", "spikes", "nul\x00l", "",
                 " ", "A", "a", "_", "__init__", "None", "x" * 10000]


def _rename(g: sc.Graph, mapping: dict) -> sc.Graph:
    nodes = {mapping.get(k, k): v for k, v in g.nodes.items()}
    edges = [sc.Edge(mapping.get(e.source, e.source), mapping.get(e.target, e.target),
                     e.delay_steps) for e in g.edges]
    return sc.Graph(nodes, edges, g.semantics, name=g.name, metadata=g.metadata)


def gen_names(rng, work: Path) -> Case:
    base = pick(rng, ["recurrent", "feedforward", "lsnn", "cuba", "ei", "paper", "cond"])
    g = base_graph(base).flatten()
    kind = pick(rng, ["rename", "rename", "collide", "nested", "graph_name"])
    names = list(g.nodes)
    backend = pick_backend(rng, lava=0.04)
    seed = int(rng.integers(2**31))
    steps = int(rng.integers(3, 12))
    if kind == "rename":
        k = int(rng.integers(1, len(names) + 1))
        chosen = [names[i] for i in rng.permutation(len(names))[:k]]
        mapping = {n: pick(rng, HOSTILE_NAMES) + (str(j) if rng.random() < 0.3 else "")
                   for j, n in enumerate(chosen)}
        g = _rename(g, mapping)
        label = f"rename {base} " + ", ".join(f"{a!r}->{b[:20]!r}" for a, b in mapping.items())
    elif kind == "collide":
        a, b = pick(rng, ["a b", "a_b"]), pick(rng, ["a-b", "a.b", "a:b", "A_B", "a_b"])
        two = [names[i] for i in rng.permutation(len(names))[:2]]
        g = _rename(g, dict(zip(two, [a, b], strict=True)))
        label = f"collide {base} {two} -> {[a, b]}"
    elif kind == "nested":
        inner = base_graph("feedforward").flatten()
        inner_name = pick(rng, ["sub", "a.b", "sub.in", "lif", "神经元", "x.y.z"])
        inner = _rename(inner, {n: pick(rng, ["lif", "in", "a.b", n, "sub.x"]) + str(i)
                                for i, n in enumerate(inner.nodes)
                                if not isinstance(inner.nodes[n], (P.Input, P.Output))})
        inner.semantics = None
        outer_in = pick(rng, ["i", f"{inner_name}.in", "x"])
        ins = inner.input_names
        outs = inner.output_names
        g = sc.Graph({outer_in: nir.Input(np.array([3])), inner_name: inner,
                      f"{inner_name}.o": nir.Output(np.array([2]))},
                     [(outer_in, f"{inner_name}.{ins[0]}" if rng.random() < 0.5 else inner_name),
                      (f"{inner_name}.{outs[0]}" if rng.random() < 0.5 else inner_name,
                       f"{inner_name}.o")], sc.Semantics(dt=1e-3), name="outer")
        label = f"nested {inner_name!r} inner {list(inner.nodes)}"
    else:
        g.name = pick(rng, HOSTILE_NAMES)
        label = f"graph name {g.name[:30]!r}"
    what = pick(rng, ["simulate", "roundtrip", "roundtrip", "report", "cli"])
    label += f" [{what} on {backend}]"
    path = work / "names.nir"

    def run():
        if what == "simulate":
            return simulate_graph(g, np.random.default_rng(seed), backend, steps)
        if what == "roundtrip":
            sc.write(g, path)
            back = sc.read(path)
            lost = sorted(set(g.flatten().nodes) ^ set(back.flatten().nodes))
            if lost:
                raise _RoundTripLoss(f"names changed in the round trip: {lost[:6]}")
            return simulate_graph(back, np.random.default_rng(seed), backend, steps)
        if what == "cli":
            sc.write(g, path)
            return cli(["run", str(path), "--backend", "torch" if backend == "lava" else backend,
                        "--steps", str(steps), "--record", "spikes,v",
                        "--out", str(work / "r.npz")], out=work / "r.npz")
        from spikecore.report import write_report

        flat = g.flatten()
        x = {n: np.ones((1, steps, *flat.shapes()[n])) for n in flat.input_names}
        rep = sc.compare(g, x or None, backends=("brian2", "torch"), steps=steps,
                         record=("spikes", "v"))
        return write_report(rep, work / "report")
    return Case(label, run)


class _RoundTripLoss(Exception):
    """Raised by a case whose written file reads back different from what was written."""

    outcome = "LOST"


# ====================================================================== structural
def _mutate_file(f: h5py.File, rng) -> str:
    groups = node_groups(f)
    params = numeric_params(f)
    kind = pick(rng, ["swap_types", "delete_node", "add_edge", "drop_edge", "reverse_edge",
                      "transpose", "slice", "scale", "retype", "rename_node", "drop_delays",
                      "duplicate_node", "node_dataset", "input_shape", "edges_shape",
                      "edges_int", "copy_param", "move_into_subgraph"])
    edges_name = "node/edges"
    edges = [tuple(x.decode() if isinstance(x, bytes) else str(x) for x in row)
             for row in f[edges_name][()]] if edges_name in f else []
    names = [g.rsplit("/", 1)[-1] for g in groups]

    def set_edges(rows):
        replace(f, edges_name, np.array(rows, dtype="S") if rows else np.zeros((0, 2), "S1"))
    if kind == "swap_types" and len(groups) > 1:
        a, b = pick(rng, groups), pick(rng, groups)
        ta, tb = f[f"{a}/type"][()], f[f"{b}/type"][()]
        replace(f, f"{a}/type", tb)
        replace(f, f"{b}/type", ta)
        return f"swap types {a}<->{b}"
    if kind == "delete_node" and groups:
        g = pick(rng, groups)
        del f[g]
        return f"delete {g}"
    if kind == "add_edge" and names:
        s, t = pick(rng, names + ["ghost"]), pick(rng, names)
        set_edges(edges + [(s, t)])
        return f"add edge {s}->{t}"
    if kind == "drop_edge" and edges:
        i = int(rng.integers(len(edges)))
        set_edges(edges[:i] + edges[i + 1:])
        return f"drop edge {edges[i]}"
    if kind == "reverse_edge" and edges:
        i = int(rng.integers(len(edges)))
        rows = list(edges)
        rows[i] = rows[i][::-1]
        set_edges(rows)
        return f"reverse edge {edges[i]}"
    if kind in ("transpose", "slice", "scale", "retype", "copy_param") and params:
        p = pick(rng, params)
        v = np.asarray(f[p][()])
        if kind == "transpose":
            v = v.T if v.ndim >= 2 else v.reshape(-1, 1)
        elif kind == "slice":
            v = v[..., :-1] if v.ndim and v.shape[-1] > 1 else np.zeros((0,))
        elif kind == "scale":
            v = v.astype(np.float64) * pick(rng, [-1.0, 0.0, 1e300, 1e-300, np.nan, 1e6])
        elif kind == "retype":
            v = v.astype(pick(rng, [np.int8, np.bool_, np.uint64, np.float16, np.int64]))
        else:
            q = pick(rng, params)
            v = np.asarray(f[q][()])
            p_label = f"{q} -> {p}"
            replace(f, p, v)
            return f"copy {p_label}"
        replace(f, p, v)
        return f"{kind} {p}"
    if kind == "rename_node" and groups:
        g = pick(rng, groups)
        new = g.rsplit("/", 1)[0] + "/" + pick(rng, ["renamed", "a.b", "ñ", "x y"])
        if new not in f:
            f.move(g, new)
        return f"rename {g} -> {new}"
    if kind == "drop_delays" and "node/metadata/spikecore" in f:
        rec = json.loads(f["node/metadata/spikecore"][()])
        rec["edge_delays"] = []
        replace(f, "node/metadata/spikecore", json.dumps(rec))
        return "drop edge delays"
    if kind == "duplicate_node" and groups:
        g = pick(rng, groups)
        f.copy(g, g + "_copy")
        if rng.random() < 0.5:
            set_edges(edges + [(names[0], g.rsplit("/", 1)[-1] + "_copy")])
        return f"duplicate {g}"
    if kind == "node_dataset" and groups:
        g = pick(rng, groups)
        del f[g]
        f[g] = np.arange(3.0)
        return f"{g} is a dataset"
    if kind == "input_shape":
        shapes = [d for d in datasets(f) if d.endswith("/shape")]
        if shapes:
            d = pick(rng, shapes)
            replace(f, d, np.array(pick(rng, [[0], [-1], [2**40], [3, 4], [], [1.5]]),
                                   dtype=np.float64 if rng.random() < 0.3 else np.int64))
            return f"shape {d}"
    if kind == "edges_shape" and edges:
        replace(f, edges_name, np.array([list(e) + ["x"] for e in edges], dtype="S"))
        return "edges (n, 3)"
    if kind == "edges_int":
        replace(f, edges_name, np.arange(int(rng.integers(0, 7)) * 2).reshape(-1, 2))
        return "edges as integers"
    if kind == "move_into_subgraph" and len(groups) > 1:
        g = pick(rng, groups)
        sub = "node/nodes/sub"
        if sub not in f:
            f.create_group(sub)
            f[f"{sub}/type"] = np.bytes_(b"NIRGraph")
            f.create_group(f"{sub}/nodes")
            f[f"{sub}/edges"] = np.zeros((0, 2), "S1")
        f.move(g, f"{sub}/nodes/" + g.rsplit("/", 1)[-1])
        return f"move {g} into a subgraph"
    return "no-op"


def _mutate_graph(g: sc.Graph, rng) -> str:
    flat = g.flatten()
    names = list(flat.nodes)
    kind = pick(rng, ["zero_delay_cycle", "remove_output", "orphan_input", "orphan_node",
                      "duplicate_edge", "dangling_edge", "replace_node", "delay_huge",
                      "negative_delay", "float_delay", "semantics_none"])
    g.nodes, g.edges = flat.nodes, flat.edges
    if kind == "zero_delay_cycle":
        a, b = pick(rng, names), pick(rng, names)
        g.edges.append(sc.Edge(a, b, 0))
        g.edges.append(sc.Edge(b, a, 0))
        return f"cycle {a}<->{b}"
    if kind == "remove_output":
        for n in flat.output_names:
            del g.nodes[n]
        return "no Output"
    if kind == "orphan_input":
        g.nodes["extra_in"] = nir.Input(np.array([2]))
        return "unconnected Input"
    if kind == "orphan_node":
        g.nodes["lonely"] = _lif()
        return "unconnected LIF"
    if kind == "duplicate_edge" and g.edges:
        g.edges.append(pick(rng, g.edges))
        return "duplicate edge"
    if kind == "dangling_edge":
        g.edges.append(sc.Edge(pick(rng, names), "ghost"))
        return "edge to ghost"
    if kind == "replace_node":
        n = pick(rng, names)
        g.nodes[n] = pick(rng, [_lif(), nir.Flatten(np.array([2, 2]), 0, -1), nir.Scale(np.ones(7)),
                                nir.Threshold(np.ones(N)), nir.Delay(np.ones(N)), object(), None,
                                "LIF", base_graph("feedforward")])
        return f"replace {n} by {type(g.nodes[n]).__name__}"
    if kind in ("delay_huge", "negative_delay", "float_delay") and g.edges:
        i = int(rng.integers(len(g.edges)))
        e = g.edges[i]
        d = {"delay_huge": pick(rng, [2**62, 10**400]), "negative_delay": -3,
             "float_delay": 1.5}[kind]
        g.edges[i] = sc.Edge(e.source, e.target, d)
        return f"{kind} on {e.source}->{e.target}"
    g.semantics = None
    return "semantics None"


def gen_structural(rng, work: Path) -> Case:
    base = pick(rng, BASE_NAMES)
    in_file = rng.random() < 0.7
    if in_file:
        path = sc.write(base_graph(base), work / f"{base}.nir")
        labels = []
        with h5py.File(path, "r+") as f:
            for _ in range(int(rng.integers(1, 4))):
                labels.append(_mutate_file(f, rng))
        label = f"file {base}: " + "; ".join(labels)
        u = rng.random()
        if u < 0.15:
            return Case(label, cli_run_file(path, rng, work))
        if u < 0.2:
            return Case(label + " [compare]", lambda: cli(
                ["compare", str(path), "--backends", "torch,brian2", "--steps", "5"]))
        if u < 0.24:
            return Case(label + " [check]", lambda: cli(["check", str(path)]))
        return Case(label, simulate_read(path, rng, backend=pick_backend(rng, lava=0.02)))
    g = base_graph(base)
    label = f"memory {base}: " + _mutate_graph(g, rng)
    backend = pick_backend(rng)
    seed = int(rng.integers(2**31))
    via_file = rng.random() < 0.4

    def run():
        graph = sc.read(sc.write(g, work / "m.nir")) if via_file else g
        return simulate_graph(graph, np.random.default_rng(seed), backend, 8)
    return Case(label + (" via file" if via_file else ""), run)


# ====================================================================== lava faults
def gen_lava(rng, work: Path) -> Case:
    base = pick(rng, ["recurrent", "feedforward", "paper", "cuba", "lsnn"])
    g = base_graph(base)
    fault = pick(rng, ["none", "kill_worker", "kill_worker", "kill_child", "timeout",
                       "term_worker", "hostile_param", "fixed_pt"])
    delay = float(rng.uniform(0.1, 2.5))
    label = f"{base} {fault}" + (f" after {delay:.1f} s" if "kill" in fault or "term" in fault
                                 else "")
    options: dict = {"job_root": str(work)} if rng.random() < 0.5 else {}
    seed = int(rng.integers(2**31))

    def start_killer(pid: int) -> None:
        def kill():
            time.sleep(delay)
            try:
                if fault == "kill_child":
                    kids = _children(pid)
                    if kids:
                        os.kill(pick(np.random.default_rng(seed), kids), signal.SIGKILL)
                else:
                    os.kill(pid, signal.SIGKILL if fault == "kill_worker" else signal.SIGTERM)
            except ProcessLookupError:
                pass
        threading.Thread(target=kill, daemon=True).start()
    if fault in ("kill_worker", "kill_child", "term_worker"):
        options["on_worker_start"] = start_killer
    elif fault == "timeout":
        options["timeout"] = float(rng.uniform(0.5, 4.0))
        label += f" {options['timeout']:.1f} s"
    elif fault == "fixed_pt":
        options["arithmetic"] = "fixed_pt"
    elif fault == "hostile_param":
        flat = g.flatten()
        stateful = [n for n, v in flat.nodes.items() if P.spec_of(v).kind == "stateful"]
        n = pick(rng, stateful)
        node = copy.deepcopy(flat.nodes[n])
        p = pick(rng, _param_names(node))
        bad = pick(rng, [1e308, 5e-324, 1e20, -1e20])
        v = np.array(getattr(node, p), dtype=np.float64)
        v[...] = bad
        setattr(node, p, v)
        flat.nodes[n] = node
        g = flat
        label += f" {n}.{p}={bad!r}"

    def run():
        return simulate_graph(g, np.random.default_rng(seed), "lava", 20, **options)
    return Case(label, run, timeout=180)


def _children(pid: int) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if ppid == pid:
                out.append(int(d))
    return out


GENERATORS = {
    "metadata": gen_metadata,
    "validation": gen_validation,
    "memory": gen_memory,
    "hdf5": gen_hdf5,
    "writing": gen_writing,
    "torch": gen_torch,
    "names": gen_names,
    "structural": gen_structural,
    "lava": gen_lava,
}
