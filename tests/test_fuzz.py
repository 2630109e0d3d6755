"""Malformed input: hundreds of corrupted or adversarial NIR files and input arrays.

Every case must end either in a SpikecoreError with a message, or in a success that is
itself usable (the graph validates and simulates). A raw exception from h5py, nir, numpy,
torch or Brian2 is a failure; so is a case that takes longer than its time limit. Cases
are generated from fixed seeds, so a failure names a reproducible case.
"""

from __future__ import annotations

import io
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np
import pytest
import spikecore.models as zoo

import spikecore as sc
from spikecore.errors import SpikecoreError

DATA = Path(__file__).resolve().parents[1] / "spikecore" / "data"
CASE_SECONDS = 30


@contextmanager
def time_limit(seconds: int, what: str) -> Iterator[None]:
    def on_alarm(signum, frame):
        raise TimeoutError(f"{what} took more than {seconds} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def base_files(tmp: Path) -> dict[str, bytes]:
    """Valid spikecore files of several shapes, as bytes."""
    graphs = {
        "paper": sc.read(DATA / "lif_norse.nir", dialect="norse", dt=1e-4),
        "recurrent": zoo.recurrent_lif(n_in=4, n_rec=6, n_out=2, seed=0),
        "feedforward": zoo.feedforward_lif(sizes=(3, 5, 2), seed=0),
    }
    out = {}
    for name, g in graphs.items():
        path = tmp / f"{name}.nir"
        sc.write(g, path)
        out[name] = path.read_bytes()
    return out


def outcome(path: Path) -> str:
    """Read, validate and (if that works) briefly simulate; return 'ok' or the error type.
    Any exception that is not a SpikecoreError propagates and fails the test."""
    try:
        with time_limit(CASE_SECONDS, f"reading {path.name}"):
            g = sc.read(path)
            g.validate()
            shapes = g.shapes()
            x = {n: np.ones((1, 5, *shapes[n])) for n in g.input_names}
            sc.simulate(g, x, backend="torch", steps=5)
        return "ok"
    except SpikecoreError as exc:
        assert str(exc).strip(), f"{path.name}: SpikecoreError without a message"
        return type(exc).__name__


# ------------------------------------------------------------ byte-level damage
def byte_mutations(data: bytes, rng: np.random.Generator) -> Iterator[tuple[str, bytes]]:
    n = len(data)
    yield "empty", b""
    yield "garbage", bytes(rng.integers(0, 256, 4096, dtype=np.uint8))
    for cut in sorted(set(int(c) for c in rng.integers(1, n, 26))) + [8, 512, n - 1]:
        yield f"truncated@{cut}", data[:cut]
    for k in range(20):
        b = bytearray(data)
        for pos in rng.integers(0, n, 1 + k):
            b[int(pos)] = int(rng.integers(0, 256))
        yield f"flipped{k}", bytes(b)
    for k in range(6):
        b = bytearray(data)
        start = int(rng.integers(0, n - 64))
        b[start:start + 64] = bytes(64)
        yield f"zeroed{k}", bytes(b)
    yield "appended", data + bytes(rng.integers(0, 256, 1000, dtype=np.uint8))


def test_byte_level_corruption_never_escapes_as_raw_error(tmp_path: Path) -> None:
    rng = np.random.default_rng(1234)
    seen: dict[str, int] = {}
    count = 0
    for base, data in base_files(tmp_path).items():
        for label, mutated in byte_mutations(data, rng):
            p = tmp_path / f"{base}-{label}.nir"
            p.write_bytes(mutated)
            result = outcome(p)
            seen[result] = seen.get(result, 0) + 1
            count += 1
    assert count >= 150, count
    assert "NIRFileError" in seen, seen  # damage must be detected, not only survived


# ------------------------------------------------------------ structural damage
def _datasets(f: h5py.File) -> list[str]:
    names: list[str] = []
    f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
    return sorted(names)


def _param_datasets(f: h5py.File) -> list[str]:
    skip = ("type", "version", "metadata", "edges")
    return [d for d in _datasets(f) if not any(part in skip for part in d.split("/")[-1:])
            and "metadata" not in d]


def _replace(f: h5py.File, name: str, value) -> None:
    del f[name]
    f.create_dataset(name, data=value)


Mutation = Callable[[h5py.File, np.random.Generator], str]


def m_delete(f, rng):
    name = rng.choice(_datasets(f))
    del f[name]
    return f"delete {name}"


def m_nan(f, rng):
    name = rng.choice(_param_datasets(f))
    v = np.array(f[name][()], dtype=np.float64)
    v.flat[int(rng.integers(0, max(v.size, 1)))] = rng.choice([np.nan, np.inf, -np.inf]) if v.size else 0
    _replace(f, name, v)
    return f"nonfinite {name}"


def m_negative(f, rng):
    taus = [d for d in _param_datasets(f) if d.split("/")[-1].startswith("tau")] or _param_datasets(f)
    name = rng.choice(taus)
    _replace(f, name, -np.abs(np.array(f[name][()], dtype=np.float64)) - 1e-3)
    return f"negative {name}"


def m_shape(f, rng):
    name = rng.choice(_param_datasets(f))
    v = np.array(f[name][()])
    new = rng.choice(["grow", "scalar", "2d", "empty"])
    if new == "grow":
        v = np.concatenate([np.ravel(v), np.ravel(v)]) if v.size else np.ones(3)
    elif new == "scalar":
        v = np.ravel(v)[0] if v.size else 1.0
    elif new == "2d":
        v = np.ones((3, 7))
    else:
        v = np.zeros((0,))
    _replace(f, name, v)
    return f"shape-{new} {name}"


def m_dtype(f, rng):
    name = rng.choice(_param_datasets(f))
    kind = rng.choice(["string", "complex", "bool", "int8"])
    v = np.array(f[name][()])
    value = {"string": "not a number", "complex": v.astype(np.complex128) + 1j,
             "bool": v.astype(bool), "int8": np.clip(v, -100, 100).astype(np.int8)}[kind]
    _replace(f, name, value)
    return f"dtype-{kind} {name}"


def m_type(f, rng):
    types = [d for d in _datasets(f) if d.endswith("/type")]
    name = rng.choice(types)
    new = rng.choice(["Unknown", "", "NIRGraph", "LIF", "Conv2d", "Affine"])
    _replace(f, name, np.bytes_(new))
    return f"type->{new} {name}"


def m_edges(f, rng):
    name = "node/edges"
    edges = np.array(f[name][()], dtype=object)
    kind = rng.choice(["dangling", "self", "reverse", "duplicate", "shape", "numeric"])
    if kind == "dangling":
        edges = np.concatenate([edges, np.array([[b"ghost", edges[0][0]]], dtype=object)])
    elif kind == "self":
        n = edges[-1][0]
        edges = np.concatenate([edges, np.array([[n, n]], dtype=object)])
    elif kind == "reverse":
        edges = np.concatenate([edges, edges[::-1, ::-1]])
    elif kind == "duplicate":
        edges = np.concatenate([edges, edges[:1]])
    elif kind == "shape":
        edges = np.ravel(edges)[:3]
    else:
        _replace(f, name, np.arange(6).reshape(3, 2))
        return "edges numeric"
    del f[name]
    f.create_dataset(name, data=edges.astype("S"))
    return f"edges-{kind}"


def m_meta(f, rng):
    name = "node/metadata/spikecore"
    if name not in f:
        return "no metadata"
    kind = rng.choice(["json", "format", "dt", "delays", "order"])
    raw = f[name][()].decode() if isinstance(f[name][()], bytes) else str(f[name][()])
    value = {"json": raw[: len(raw) // 2],
             "format": raw.replace("spikecore-nir/1", "spikecore-nir/99"),
             "dt": raw.replace('"dt": ', '"dt": -'),
             "delays": raw.replace('"edge_delays": [', '"edge_delays": [["a", "b", "c"], '),
             "order": raw.replace('"node_order": [', '"node_order": [17, ')}[kind]
    _replace(f, name, np.bytes_(value))
    return f"metadata-{kind}"


def m_huge(f, rng):
    name = rng.choice(_param_datasets(f))
    del f[name]
    # 2**31 float64 zeros compress to almost nothing on disk: a decompression bomb.
    f.create_dataset(name, shape=(2**16, 2**15), dtype=np.float64, compression="gzip",
                     chunks=(1024, 1024), fillvalue=0.0)
    return f"huge {name}"


def m_root(f, rng):
    kind = rng.choice(["no-node", "node-dataset", "version"])
    if kind == "no-node":
        del f["node"]
    elif kind == "node-dataset":
        del f["node"]
        f.create_dataset("node", data=np.arange(3))
    else:
        _replace(f, "version", np.bytes_("99.0"))
    return f"root-{kind}"


MUTATIONS: list[Mutation] = [m_delete, m_nan, m_negative, m_shape, m_dtype, m_type, m_edges,
                             m_meta, m_huge, m_root]


def test_structural_corruption_never_escapes_as_raw_error(tmp_path: Path) -> None:
    rng = np.random.default_rng(99)
    bases = base_files(tmp_path)
    seen: dict[str, int] = {}
    count = 0
    for i in range(260):
        base = list(bases)[i % len(bases)]
        p = tmp_path / f"s{i}.nir"
        p.write_bytes(bases[base])
        mutation = MUTATIONS[i % len(MUTATIONS)]
        with h5py.File(p, "r+") as f:
            label = mutation(f, rng)
        try:
            result = outcome(p)
        except Exception as exc:  # noqa: BLE001 - turned into a failure that names the case
            raise AssertionError(
                f"case {i} ({base}, {label}) escaped as {type(exc).__name__}: {exc}") from exc
        seen[result] = seen.get(result, 0) + 1
        count += 1
    assert count >= 250
    assert seen.get("ok", 0) < count, "no mutation was detected at all"


# ------------------------------------------------------------ adversarial inputs
def input_cases() -> Iterator[tuple[str, object, dict]]:
    rng = np.random.default_rng(5)
    good = rng.random((2, 20, 4))
    yield "strings", np.array([["a"] * 4] * 20), {}
    yield "object", np.array([object()] * 4, dtype=object), {}
    yield "complex", good.astype(np.complex128), {}
    yield "nan", np.where(good > 0.5, np.nan, good), {}
    yield "inf", np.where(good > 0.5, np.inf, good), {}
    yield "scalar", 3.0, {}
    yield "1d", np.ones(4), {}
    yield "wrong-last-dim", np.ones((20, 5)), {}
    yield "wrong-ndim", np.ones((2, 3, 20, 4)), {}
    yield "empty-batch", np.ones((0, 20, 4)), {}
    yield "empty-steps", np.ones((1, 0, 4)), {}
    yield "dict-unknown", {"nope": good}, {}
    yield "dict-missing", {}, {}
    yield "list-of-str", ["x", "y"], {}
    yield "ragged", [[1, 2, 3, 4], [1, 2]], {}
    yield "none-steps0", good, {"steps": 0}
    yield "negative-steps", good, {"steps": -5}
    yield "float-steps", good, {"steps": 2.5}
    yield "bool-steps", good, {"steps": True}
    yield "huge-steps", good, {"steps": 10**12}
    yield "huge-batch", np.zeros((1, 1, 4)), {"steps": 10**9}
    yield "bad-record", good, {"record": ("spikes", "voltage")}
    yield "bad-record-node", good, {"record": ("ghost:v",)}
    yield "bad-record-type", good, {"record": (3,)}
    yield "unknown-backend", good, {"backend": "nest"}
    yield "bad-option", good, {"nonsense_option": 1}
    for k in range(40):
        shape = tuple(int(s) for s in rng.integers(0, 6, int(rng.integers(0, 5))))
        dtype = rng.choice(["float64", "float32", "int64", "bool", "uint8", "float16"])
        yield f"random{k}-{shape}-{dtype}", np.ones(shape, dtype=dtype), {}


@pytest.mark.parametrize("backend", ["torch", "brian2"])
def test_adversarial_inputs_end_in_clear_errors(backend: str) -> None:
    g = zoo.recurrent_lif(n_in=4, n_rec=5, n_out=2, seed=0)
    outcomes = {}
    for label, x, kwargs in input_cases():
        kwargs = {"backend": backend, **kwargs}
        try:
            with time_limit(CASE_SECONDS, label):
                r = sc.simulate(g, x, **kwargs)
            outcomes[label] = "ok"
            assert r.steps > 0 and r.batch > 0, f"{label}: empty result accepted"
        except SpikecoreError as exc:
            outcomes[label] = type(exc).__name__
            assert str(exc).strip()
        except Exception as exc:  # noqa: BLE001
            raise AssertionError(f"input case {label!r} on {backend} escaped as "
                                 f"{type(exc).__name__}: {exc}") from exc
    must_fail = ["strings", "object", "complex", "nan", "inf", "wrong-last-dim", "empty-batch",
                 "dict-unknown", "negative-steps", "huge-steps", "bad-record", "unknown-backend",
                 "bad-option"]
    accepted = [k for k in must_fail if outcomes[k] == "ok"]
    assert not accepted, f"accepted bad input: {accepted}"
    assert len(outcomes) >= 60


def test_cli_on_corrupted_files_prints_one_error_line(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    data = base_files(tmp_path)["recurrent"]
    exe = Path(sys.executable).with_name("spikecore")
    for k, (label, mutated) in enumerate(byte_mutations(data, rng)):
        if k % 3:
            continue
        p = tmp_path / f"cli-{label}.nir"
        p.write_bytes(mutated)
        proc = subprocess.run([str(exe), "run", str(p), "--backend", "torch", "--steps", "5"],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode in (0, 2), f"{label}: exit {proc.returncode}\n{proc.stderr[-1500:]}"
        assert "Traceback" not in proc.stderr, f"{label}: raw traceback\n{proc.stderr[-1500:]}"


def test_in_memory_nir_io_is_rejected_cleanly() -> None:
    with pytest.raises(SpikecoreError):
        sc.read(io.BytesIO(b"not a path"))  # type: ignore[arg-type]
