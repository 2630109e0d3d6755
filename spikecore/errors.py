"""The error hierarchy of spikecore.

Every error a user can provoke is a :class:`SpikecoreError`. Messages say *which*
node or parameter, *what* was expected and *what to do*; several problems found at
once are listed together rather than reported one per run.
"""

from __future__ import annotations

from collections.abc import Sequence


class SpikecoreError(Exception):
    """Base class of every error spikecore raises on purpose."""


class _ListsProblems(SpikecoreError):
    """An error that carries every problem found (``problems``), one line each, and shows
    them as an indented list under the message."""

    def __init__(self, message: str, problems: Sequence[str] = ()):
        self.problems = list(problems)
        if self.problems:
            message = message + "\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(message)


class GraphError(_ListsProblems):
    """A graph (or a file holding one) is malformed or inconsistent."""


class NIRFileError(GraphError):
    """A NIR file cannot be read: not HDF5, truncated, unknown node type, bad shapes."""


class DialectError(GraphError):
    """A foreign NIR file lacks the semantics needed to simulate it, or names an unknown
    dialect."""


class UnsupportedError(_ListsProblems):
    """A backend (or a hardware target) cannot lower some nodes or parameters; every one
    of them is listed at once."""


class UnavailableError(SpikecoreError):
    """A backend cannot run on this machine; the message carries the reason and the fix."""


class BackendProcessError(SpikecoreError):
    """A backend's worker process failed, hung or was killed.

    Carries the command that was run and the tail of its standard error.
    """

    def __init__(self, message: str, command: Sequence[str] = (), stderr_tail: str = ""):
        self.command = list(command)
        self.stderr_tail = stderr_tail
        parts = [message]
        if self.command:
            parts.append("command: " + " ".join(self.command))
        if stderr_tail:
            parts.append("stderr (tail):\n" + stderr_tail)
        super().__init__("\n".join(parts))


class InputError(SpikecoreError):
    """Input arrays given to ``simulate`` do not match the graph's Input nodes."""


class SpikecoreWarning(UserWarning):
    """Base class of the warnings spikecore emits about what it read or inferred."""


class DialectWarning(SpikecoreWarning):
    """A dialect inferred or dropped something implausible; the message names the option
    that makes the choice explicit."""


class FileRepairWarning(SpikecoreWarning):
    """A foreign file was inconsistent in a way with exactly one reading, and was read
    that way; the message says what was repaired."""


class NumericalError(SpikecoreError):
    """A run produced NaN or ±inf in a state (or a value sent between nodes).

    ``nonfinite`` (a :class:`spikecore.numerics.NonFinite`) names the node, the state, the
    first step, the batch entry and the element; ``result`` is the run's partial
    :class:`~spikecore.Result` (everything recorded, non-finite values included).
    """

    def __init__(self, message: str, nonfinite=None, result=None):
        self.nonfinite = nonfinite
        self.result = result
        super().__init__(message)


class NumericalWarning(SpikecoreWarning):
    """A run produced NaN or ±inf and ``on_nonfinite="warn"`` kept its result."""
