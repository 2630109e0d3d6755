"""Progress of long runs, shared by every backend: ``simulate(..., progress=...)``.

``progress`` is one of:

* ``False`` (default) or ``None``: nothing is printed and nothing is called;
* ``True``: a tqdm bar on stderr, in steps, that appears only once a run has lasted
  :data:`DELAY_S` seconds (short runs print nothing) and is removed when the run ends;
* a callable ``progress(done, total)``: called with the steps done so far, in chunks
  (about :data:`CHUNKS` calls per run, and always once with ``done == total``).

Brian2 also takes its own text reports, ``"text"``, ``"stdout"`` or ``"stderr"``.
Backends report in chunks of steps: torch from its step loop, Brian2 from its
``report=`` callback (about once per :data:`BRIAN2_REPORT_PERIOD_S`), Lava per chunk of
its run calls.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

#: Seconds a run must last before the ``progress=True`` bar appears.
DELAY_S = 2.0
#: About this many progress updates per run.
CHUNKS = 100
#: Brian2 calls its report callback at most this often (seconds of wall time).
BRIAN2_REPORT_PERIOD_S = 0.5


def problem(value: Any, extra: tuple[str, ...] = ()) -> str | None:
    """Why ``value`` is not a valid ``progress=`` option (``None`` if it is). ``extra``:
    strings a backend accepts besides bools and callables (Brian2's report names)."""
    if value is None or isinstance(value, bool) or callable(value) or \
            (extra and isinstance(value, str) and value in extra):
        return None
    also = f", one of {extra}" if extra else ""
    return (f"option progress={value!r}: expected False, True{also} or a callable "
            "progress(done, total)")


class Progress:
    """Reports ``done`` steps out of ``total``, at most about :data:`CHUNKS` times.

    Call it with the number of steps done (any number of times, non-decreasing); close
    it (or use it as a context manager) when the run ends, failed or not."""

    def __init__(self, progress: bool | Callable[[int, int], Any], total: int,
                 desc: str = "") -> None:
        self.total = max(int(total), 0)
        self.chunk = max(1, self.total // CHUNKS)
        self.done = 0
        self._next = min(self.chunk, self.total)
        self._callback: Callable[[int, int], Any] | None = None
        self._bar = None
        if callable(progress):
            self._callback = progress
        elif progress:
            from tqdm import tqdm

            self._bar = tqdm(total=self.total, desc=desc or None, unit="step",
                             delay=DELAY_S, leave=False, file=sys.stderr,
                             dynamic_ncols=True)

    def __call__(self, done: int) -> None:
        if done < self._next and done < self.total:
            return
        done = min(int(done), self.total)
        if done <= self.done:
            return
        if self._bar is not None:
            self._bar.update(done - self.done)
        self.done = done
        self._next = done + self.chunk
        if self._callback is not None:
            self._callback(done, self.total)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def progress_for(progress: Any, total: int, desc: str = "") -> Progress | None:
    """A :class:`Progress` when ``progress`` asks for one (``True`` or a callable),
    else ``None``: a run that was not asked for progress does no progress work."""
    if progress is None or progress is False or isinstance(progress, str):
        return None
    return Progress(progress, total, desc)
