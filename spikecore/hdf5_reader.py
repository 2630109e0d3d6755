"""Loading the HDF5 tree of a NIR file without trusting it.

HDF5 can make a small file read other files or block: external raw storage fills a
dataset from any local file (``/etc/passwd``), external links open other HDF5 files
(bypassing any size limit counted on this one), virtual datasets map other files, and a
FIFO as the file or as external storage blocks forever. NIR files need none of these, so
:func:`load_tree` refuses them, and refuses a tree deeper than :data:`MAX_DEPTH` (a
hard-linked cycle, or nesting meant to exhaust the stack) and one whose arrays need more
than the size limit once decompressed — all from the headers, before any data is read.
"""

from __future__ import annotations

import os
import stat
import struct
from typing import Any

import h5py

from .errors import NIRFileError

#: Largest total size of the arrays in a NIR file spikecore will load (bytes); a
#: compressed file can expand far beyond its size on disk. Env: SPIKECORE_MAX_FILE_BYTES.
DEFAULT_MAX_FILE_BYTES = 2 * 2**30
#: Deepest group nesting accepted (a NIR graph nests graph -> nodes -> node -> ...).
MAX_DEPTH = 64
#: Most HDF5 objects (groups and datasets) accepted in one file.
MAX_OBJECTS = 1_000_000
#: Dataset element kinds a NIR file holds: numbers and strings.
_KINDS = set("biufSOU")


def max_file_bytes() -> int:
    raw = os.environ.get("SPIKECORE_MAX_FILE_BYTES", "")
    try:
        return int(raw) if raw.strip() else DEFAULT_MAX_FILE_BYTES
    except ValueError:
        raise NIRFileError(f"SPIKECORE_MAX_FILE_BYTES={raw!r}: expected a number of bytes "
                           "(e.g. 4294967296)") from None


def check_regular_file(path: str) -> None:
    """Refuse what is not a regular file before opening it (a FIFO would block)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise NIRFileError(f"{path}: no such file") from None
    except OSError as exc:
        raise NIRFileError(f"{path}: cannot open: {exc}") from exc
    if stat.S_ISDIR(st.st_mode):
        raise NIRFileError(f"{path}: is a directory, expected a NIR file")
    if not stat.S_ISREG(st.st_mode):
        raise NIRFileError(f"{path}: not a regular file (a device, FIFO or socket), so not a "
                           "NIR file; copy the data into a file first")


def load_tree(f: h5py.File, root: str, path: str) -> dict[str, Any]:
    """The group ``root`` of the open file ``f`` as nested dicts of numpy values (bytes
    decoded to str), after :func:`audit` found nothing unsafe."""
    audit(f[root], path)

    def load(group: h5py.Group) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, item in group.items():
            if isinstance(item, h5py.Group):
                out[key] = load(item)
            else:
                value = item[()]
                out[key] = value.decode("utf8") if isinstance(value, bytes) else value
        return out

    return load(f[root])


def audit(group: h5py.Group, path: str) -> None:
    """Raise :class:`NIRFileError` naming the first unsafe object under ``group``: a soft
    or external link, external or virtual storage, a non-numeric non-string dataset, a
    tree deeper than :data:`MAX_DEPTH`, or arrays larger in total than the limit."""
    sizes: list[tuple[int, str]] = []
    count = 0

    def walk(g: h5py.Group, depth: int) -> None:
        nonlocal count
        if depth > MAX_DEPTH:
            raise NIRFileError(f"{path}: groups nested deeper than {MAX_DEPTH} at {g.name!r} "
                               "(a link cycle, or not a NIR file)")
        for key in g:
            where = f"{g.name.rstrip('/')}/{key}"
            link = g.get(key, getlink=True)
            if isinstance(link, h5py.ExternalLink):
                raise NIRFileError(
                    f"{path}: {where!r} is an external link to {link.filename!r}; NIR files "
                    "hold their data themselves, and following it would read another file")
            if isinstance(link, h5py.SoftLink):
                raise NIRFileError(f"{path}: {where!r} is a soft link to {link.path!r}; NIR "
                                   "files have no links")
            count += 1
            if count > MAX_OBJECTS:
                raise NIRFileError(f"{path}: more than {MAX_OBJECTS} HDF5 objects")
            item = g[key]
            if isinstance(item, h5py.Group):
                walk(item, depth + 1)
            elif isinstance(item, h5py.Dataset):
                sizes.append((_dataset_bytes(item, where, path), where))
            else:
                raise NIRFileError(f"{path}: {where!r} is a {type(item).__name__}, not a group "
                                   "or dataset")

    walk(group, 0)
    _check_string_heaps(group.file, path)
    limit = max_file_bytes()
    total = sum(s for s, _ in sizes)
    if total > limit:
        biggest = max(sizes)
        raise NIRFileError(
            f"{path}: its arrays need {total / 2**30:.1f} GiB once decompressed (largest: "
            f"{biggest[1]!r}, {biggest[0] / 2**30:.1f} GiB), above the limit of "
            f"{limit / 2**30:.1f} GiB; raise SPIKECORE_MAX_FILE_BYTES if this is intended"
        )


def _dataset_bytes(d: h5py.Dataset, where: str, path: str) -> int:
    if d.external:
        files = sorted({str(e[0]) for e in d.external})
        raise NIRFileError(
            f"{path}: dataset {where!r} keeps its data in external file(s) {files}; NIR files "
            "hold their data themselves, and reading it would copy another file's bytes")
    if d.is_virtual:
        raise NIRFileError(f"{path}: dataset {where!r} is virtual (maps other files); NIR "
                           "files hold their data themselves")
    kind = d.dtype.kind
    if kind not in _KINDS or d.dtype.names is not None or d.dtype.subdtype is not None:
        raise NIRFileError(f"{path}: dataset {where!r} has type {d.dtype}; NIR files hold "
                           "numbers and strings only")
    return int(d.size) * int(d.dtype.itemsize)


# -------------------------------------------------------------- variable-length strings
#: One variable-length element in a contiguous dataset: u32 length, u64 global-heap
#: collection address, u32 object index (HDF5 file format, 8-byte offsets).
_VLEN = struct.Struct("<IQI")
#: A global heap collection: "GCOL", version, 3 reserved bytes, u64 size; then objects,
#: each u16 index, u16 reference count, 4 reserved bytes, u64 size, data padded to 8.
_GCOL_HEAD, _GOBJ_HEAD = struct.Struct("<4sB3xQ"), struct.Struct("<HH4xQ")


def _check_string_heaps(f: h5py.File, path: str) -> None:
    """Variable-length strings (NIR's ``type`` and ``edges``) live in global heap
    collections. HDF5 walks a collection object by object and loops forever on an object
    of size 0 (a zeroed block in a damaged file), so every collection a string points to
    is walked here first, in Python, with every step bounded."""
    base = f.id.get_create_plist().get_userblock()
    strings: list[tuple[str, int, int]] = []
    f.visititems(lambda name, o: strings.append((name, o.id.get_offset(), o.id.get_storage_size()))
                 if isinstance(o, h5py.Dataset) and o.dtype.kind == "O"
                 and o.id.get_offset() is not None else None)
    if not strings:
        return
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        walked: dict[int, set[int]] = {}
        for name, offset, nbytes in strings:
            if nbytes % _VLEN.size or offset + nbytes > size:
                raise NIRFileError(f"{path}: string dataset {name!r} lies outside the file "
                                   "(damaged?)")
            fh.seek(offset)
            raw = fh.read(nbytes)
            for k in range(0, nbytes, _VLEN.size):
                length, address, index = _VLEN.unpack_from(raw, k)
                if length == 0:
                    continue
                if address not in walked:
                    walked[address] = _heap_objects(fh, base + address, size, name, path)
                if index not in walked[address]:
                    raise NIRFileError(f"{path}: string in {name!r} points at a heap object "
                                       "that does not exist (damaged file)")


def _heap_objects(fh: Any, at: int, file_size: int, name: str, path: str) -> set[int]:
    """The object indices of the global heap collection at file offset ``at``."""
    fh.seek(at)
    head = fh.read(_GCOL_HEAD.size)
    if len(head) < _GCOL_HEAD.size:
        raise NIRFileError(f"{path}: the strings of {name!r} point past the end of the file")
    sig, _version, coll = _GCOL_HEAD.unpack(head)
    if sig != b"GCOL" or coll < _GCOL_HEAD.size or at + coll > file_size:
        raise NIRFileError(f"{path}: the strings of {name!r} point at a damaged global heap "
                           "(HDF5 could loop on it)")
    fh.seek(at + _GCOL_HEAD.size)
    body = fh.read(coll - _GCOL_HEAD.size)
    found: set[int] = set()
    pos = 0
    while pos + _GOBJ_HEAD.size <= len(body):
        index, _refs, nbytes = _GOBJ_HEAD.unpack_from(body, pos)
        if index == 0:  # free space: the rest of the collection
            break
        if nbytes == 0 or pos + _GOBJ_HEAD.size + nbytes > len(body):
            raise NIRFileError(f"{path}: the strings of {name!r} live in a damaged global "
                               f"heap (object {index} has size {nbytes}); HDF5 would loop on "
                               "it, so the file is refused")
        found.add(index)
        pos += _GOBJ_HEAD.size + -(-nbytes // 8) * 8
    return found
