"""Writing a file so that nothing the user had is lost.

Every file spikecore writes (NIR files, result archives, reports, docs pages) goes
through :func:`write_atomically`: the bytes go to a temporary file in the target's
folder, which then replaces the target in one ``rename``. A crash leaves the old file;
a kill leaves only a temporary file, which the next write to the same target removes.
Targets that are not regular files (devices such as ``/dev/null``, FIFOs, sockets,
folders) are refused rather than replaced; a symbolic link is written through (the file
it points to is replaced and the link stays); an existing file keeps its permission bits
(and, when allowed, its owner); a new file gets the usual ``0o666 & ~umask``.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable
from glob import escape as glob_escape
from pathlib import Path

from .errors import SpikecoreError

#: Temporary files are named ``.<target>.<pid>.<random>.spikecore.tmp``: the pid says
#: whether the writer is still alive. A long target name is cut to
#: :data:`_NAME_BYTES` bytes there, so the temporary name fits the 255-byte limit of
#: file names wherever the target's own name does.
_TAG = ".spikecore.tmp"
_NAME_BYTES = 200


class UnsafeTargetError(SpikecoreError):
    """The path given for writing is not a regular file or a new name in a folder."""


def write_atomically(path: str | os.PathLike, write: Callable[[str], None],
                     what: str = "file") -> Path:
    """Call ``write(tmp_path)`` to fill a temporary file, then move it over ``path``.

    Returns the path written (the link's target when ``path`` is a symbolic link).
    Raises :class:`UnsafeTargetError` for a special-file target, a missing folder or a
    name the file system refuses; errors from ``write`` propagate after the temporary
    file is removed.
    """
    given = Path(path)
    try:  # a name too long, a loop of links, a file where a folder should be: OSError
        target = Path(os.path.realpath(given)) if given.is_symlink() else given
        folder = target.parent if str(target.parent) else Path(".")
        if not folder.is_dir():
            raise UnsafeTargetError(
                f"cannot write {what} {str(given)!r}: folder {str(folder)!r} does not exist")
        old = _existing(target, given, what)
        remove_stale_temporaries(target)
        fd, tmp = tempfile.mkstemp(prefix=f".{_stem(target)}.{os.getpid()}.", suffix=_TAG,
                                   dir=folder)
    except OSError as exc:
        raise UnsafeTargetError(f"cannot write {what} {str(given)!r}: "
                                f"{exc.strerror or exc}") from exc
    os.close(fd)
    try:
        write(tmp)
        _copy_mode(tmp, old)
        try:
            os.replace(tmp, target)
        except OSError as exc:
            raise UnsafeTargetError(f"cannot write {what} {str(given)!r}: "
                                    f"{exc.strerror or exc}") from exc
    finally:
        Path(tmp).unlink(missing_ok=True)
    return target


def _existing(target: Path, given: Path, what: str) -> os.stat_result | None:
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode):
        kind = ("a folder" if stat.S_ISDIR(st.st_mode) else "a character device"
                if stat.S_ISCHR(st.st_mode) else "a block device" if stat.S_ISBLK(st.st_mode)
                else "a FIFO" if stat.S_ISFIFO(st.st_mode) else "a socket"
                if stat.S_ISSOCK(st.st_mode) else "not a regular file")
        via = f" (the target of the link {str(given)!r})" if target != given else ""
        raise UnsafeTargetError(
            f"cannot write {what} {str(target)!r}{via}: it is {kind}, and writing would "
            "replace it with a regular file; choose a file name")
    return st


def _copy_mode(tmp: str, old: os.stat_result | None) -> None:
    """The new file gets the old one's permission bits (owner too when allowed), or the
    default a plain ``open()`` would give (mkstemp creates files 0600)."""
    if old is None:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        return
    os.chmod(tmp, stat.S_IMODE(old.st_mode))
    if (old.st_uid, old.st_gid) != (os.getuid(), os.getgid()):
        try:
            os.chown(tmp, old.st_uid, old.st_gid)
        except PermissionError:
            pass  # not root: the file becomes the writer's, as with any editor


def remove_stale_temporaries(target: Path) -> list[Path]:
    """Remove temporary files of earlier writes to ``target`` whose writer process is
    gone (killed mid-write); returns what was removed."""
    folder = target.parent if str(target.parent) else Path(".")
    removed = []
    stem = _stem(target)
    for p in folder.glob(f".{glob_escape(stem)}.*{_TAG}"):
        pid = p.name[len(stem) + 2:].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            p.unlink(missing_ok=True)
            removed.append(p)
    return removed


def _stem(target: Path) -> str:
    """The target's name as used in its temporary files: at most :data:`_NAME_BYTES`
    bytes (cut at a character boundary)."""
    name = target.name
    while len(os.fsencode(name)) > _NAME_BYTES:
        name = name[:-1]
    return name


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
