"""Run a child process so that nothing it starts outlives it.

Lava's runtime forks one OS process per Lava process, so a worker that crashes, hangs or
is killed can leave orphans behind. Every child here starts in a new session (its own
process group); whatever happens, the whole group is killed before returning.

If this process is terminated (SIGTERM, SIGHUP) while a child runs, the group is killed
and the cleanups registered with :func:`cleanup_on_signal` run before the signal takes its
course (see there). SIGKILL cannot be caught: the child must notice that its parent died
(the Lava worker's watchdog does).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence

#: Signals whose default action ends the process and which are cleaned up for.
TERMINATING_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
_CLEANUPS: list[Callable[[], None]] = []
_PREVIOUS: dict[int, object] = {}


def kill_group(pgid: int) -> None:
    """SIGKILL every process of group ``pgid``; a group already gone is fine."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def group_alive(pgid: int) -> bool:
    """Whether any process of group ``pgid`` still exists (zombies excluded by reaping)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def cleanup_on_signal(cleanup: Callable[[], None]) -> Iterator[None]:
    """While inside, a SIGTERM or SIGHUP of this process first runs ``cleanup`` (the
    innermost registered first), then takes its course: the handler that was there before
    is called, or, if that was the default, the process dies by the signal as it would
    have. Only the main thread can set handlers; elsewhere (and for a signal that is
    ignored or handled outside Python) this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    installed = []
    if not _CLEANUPS:
        for sig in TERMINATING_SIGNALS:
            previous = signal.getsignal(sig)
            if previous is signal.SIG_IGN or previous is None:
                continue
            _PREVIOUS[sig] = previous
            signal.signal(sig, _on_terminating_signal)
            installed.append(sig)
    _CLEANUPS.append(cleanup)
    try:
        yield
    finally:
        _CLEANUPS.remove(cleanup)
        if not _CLEANUPS:
            for sig in list(_PREVIOUS):
                if signal.getsignal(sig) is _on_terminating_signal:
                    signal.signal(sig, _PREVIOUS[sig])  # type: ignore[arg-type]
                del _PREVIOUS[sig]


def _on_terminating_signal(signum: int, frame: object) -> None:
    for cleanup in reversed(list(_CLEANUPS)):
        try:
            cleanup()
        except Exception:  # noqa: BLE001 - the other cleanups must still run
            pass
    previous = _PREVIOUS.get(signum, signal.SIG_DFL)
    if callable(previous):
        previous(signum, frame)
        return
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)  # dies by the signal, as without the handler


def run_guarded(command: Sequence[str], timeout: float | None = None,
                cwd: str | None = None, env: dict | None = None,
                on_start: Callable[[int], None] | None = None) -> tuple[int, str, str]:
    """Run ``command`` in its own process group; return (returncode, stdout, stderr).

    Raises ``TimeoutError`` (after killing the group) when ``timeout`` seconds pass.
    ``on_start(pid)`` is called once the child runs (its pid is also its group id).
    Output goes through temporary files, so a chatty child cannot block on a full pipe.
    A SIGTERM or SIGHUP of this process kills the group first (:func:`cleanup_on_signal`).
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(list(command), stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                cwd=cwd, env=env, start_new_session=True)
        pgid = proc.pid
        timed_out = False
        try:
            with cleanup_on_signal(lambda: kill_group(pgid)):
                if on_start is not None:
                    on_start(proc.pid)
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    timed_out = True
        finally:
            kill_group(pgid)
            proc.wait()
            _wait_group_gone(pgid)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf8", "replace")
        stderr = err.read().decode("utf8", "replace")
    if timed_out:
        raise TimeoutError(stderr)
    return proc.returncode, stdout, stderr


def _wait_group_gone(pgid: int, limit: float = 5.0) -> None:
    """Give the kernel a moment to remove killed group members (they are reparented to
    init, which reaps them)."""
    deadline = time.monotonic() + limit
    while group_alive(pgid) and time.monotonic() < deadline:
        kill_group(pgid)
        time.sleep(0.02)
