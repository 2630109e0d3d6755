"""Run a child process so that nothing it starts outlives it.

Lava's runtime forks one OS process per Lava process, so a worker that crashes, hangs or
is killed can leave orphans behind. Every child here starts in a new session (its own
process group); whatever happens, the whole group is killed before returning.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence


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


def run_guarded(command: Sequence[str], timeout: float | None = None,
                cwd: str | None = None, env: dict | None = None,
                on_start: Callable[[int], None] | None = None) -> tuple[int, str, str]:
    """Run ``command`` in its own process group; return (returncode, stdout, stderr).

    Raises ``TimeoutError`` (after killing the group) when ``timeout`` seconds pass.
    ``on_start(pid)`` is called once the child runs (its pid is also its group id).
    Output goes through temporary files, so a chatty child cannot block on a full pipe.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(list(command), stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                cwd=cwd, env=env, start_new_session=True)
        pgid = proc.pid
        timed_out = False
        try:
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
