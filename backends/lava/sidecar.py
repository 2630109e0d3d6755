"""The Lava sidecar: a Python 3.10 interpreter that can import lava-nc 0.10.

lava-nc 0.10.0 requires Python < 3.11 and numpy < 2, while spikecore runs on 3.11, so
Lava runs in a separate interpreter. This module finds one, creates it when asked, and
proves it works by *running* it (``import lava`` plus a two-step Lava run), never by
``find_spec``.

Where the interpreter comes from, first match wins:

1. ``SPIKECORE_LAVA_PYTHON``: an interpreter that already has lava; used as is.
2. This process itself, when it is Python 3.10 and ``lava`` imports (in-process runs).
3. The sidecar venv ``<sys.prefix>/lava-sidecar`` made by ``setup``.

``setup`` finds a base Python 3.10 (``python3.10`` on PATH, then
``$(pyenv root)/versions/3.10.*``), makes the venv and installs the pinned packages
:data:`PINS`. It is idempotent (a stamp file records the pins) and repairs a half-made
venv. Without any Python 3.10 it prints the reason and the fix and exits 0, so
``make setup`` still succeeds and Lava is reported unavailable.

Command line::

    python -m spikecore.backends.lava.sidecar setup    # create or repair the sidecar
    python -m spikecore.backends.lava.sidecar status   # what was found, and a probe run
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ENV_VAR = "SPIKECORE_LAVA_PYTHON"
#: Exactly what the sidecar holds (DESIGN.md §3).
PINS = ("lava-nc==0.10.0", "nir==1.0.8", "numpy<2", "h5py")
SIDECAR_DIRNAME = "lava-sidecar"
STAMP_NAME = ".spikecore-sidecar"
#: Seconds allowed for the availability probe (Lava start-up takes a few seconds).
PROBE_TIMEOUT = 120.0
FIX = (
    f"install Python 3.10 (e.g. `pyenv install 3.10`) and run `python -m "
    f"spikecore.backends.lava.sidecar setup` (make setup does it), or set {ENV_VAR} to a "
    "Python 3.10 interpreter that has lava-nc 0.10 installed"
)

#: Run by the probe: import Lava and run one LIF for two steps, print the version.
PROBE_CODE = r"""
import sys, numpy as np
from lava.proc.lif.process import LIF
from lava.magma.core.run_configs import Loihi2SimCfg
from lava.magma.core.run_conditions import RunSteps
lif = LIF(shape=(1,), du=1.0, dv=0.0, vth=10.0, bias_mant=1.0)
try:
    lif.run(condition=RunSteps(num_steps=2), run_cfg=Loihi2SimCfg(select_tag="floating_pt"))
    v = float(lif.v.get()[0])
finally:
    lif.stop()
if v != 2.0:
    raise SystemExit(f"probe LIF gave v={v}, expected 2.0")
from importlib.metadata import version
print("spikecore-lava-probe-ok", version("lava-nc"), sys.version.split()[0])
"""


@dataclass(frozen=True)
class LavaRuntime:
    """Where Lava runs. ``python`` is None for an in-process runtime."""

    available: bool
    python: str | None = None
    in_process: bool = False
    version: str = ""
    source: str = ""
    reason: str = ""
    fix: str = ""


def sidecar_dir() -> Path:
    """``<sys.prefix>/lava-sidecar``: inside the main venv, so ``make clean`` removes it."""
    return Path(sys.prefix) / SIDECAR_DIRNAME


def sidecar_python() -> Path:
    return sidecar_dir() / "bin" / "python"


def _stamp_text() -> str:
    return "\n".join(PINS) + "\n"


def _version_of(python: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run([python, "-c", "import sys; print(*sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    try:
        major, minor = (int(p) for p in out.stdout.split())
    except ValueError:
        return None
    return major, minor


def find_base_python() -> tuple[str | None, list[str]]:
    """A Python 3.10 to build the sidecar from, and the places looked at."""
    looked: list[str] = []
    candidates: list[str] = []
    on_path = shutil.which("python3.10")
    looked.append(f"python3.10 on PATH: {on_path or 'not found'}")
    if on_path:
        candidates.append(on_path)
    pyenv = shutil.which("pyenv")
    root = os.environ.get("PYENV_ROOT")
    if pyenv and not root:
        try:
            root = subprocess.run([pyenv, "root"], capture_output=True, text=True,
                                  timeout=30).stdout.strip() or None
        except (OSError, subprocess.TimeoutExpired):
            root = None
    if root:
        found = sorted(glob.glob(os.path.join(root, "versions", "3.10.*", "bin", "python3.10")))
        looked.append(f"pyenv root {root}: {', '.join(found) or 'no versions/3.10.*'}")
        candidates.extend(found)
    else:
        looked.append("pyenv: not found")
    for c in candidates:
        if _version_of(c) == (3, 10):
            return c, looked
        looked.append(f"{c}: does not run as Python 3.10")
    return None, looked


def probe(python: str, timeout: float = PROBE_TIMEOUT) -> tuple[bool, str]:
    """Run ``python`` on :data:`PROBE_CODE` in its own process group.

    Returns (ok, version or the reason it failed).
    """
    from .process import run_guarded  # local: keeps `setup` free of spikecore imports

    try:
        rc, out, err = run_guarded([python, "-c", PROBE_CODE], timeout=timeout)
    except OSError as exc:
        return False, f"cannot start {python}: {exc}"
    except TimeoutError:
        return False, f"{python} did not finish the Lava probe within {timeout:g} s"
    for line in out.splitlines():
        if line.startswith("spikecore-lava-probe-ok"):
            _, lava_version, py_version = line.split()
            return True, f"lava-nc {lava_version} on Python {py_version}"
    tail = "\n".join(err.strip().splitlines()[-5:])
    return False, f"{python} cannot run Lava (exit code {rc}): {tail or 'no error output'}"


def _probe_in_process() -> tuple[bool, str]:
    if sys.version_info[:2] != (3, 10):
        return False, "this interpreter is not Python 3.10"
    import contextlib
    import io

    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the probe's report line
            exec(compile(PROBE_CODE, "<lava probe>", "exec"), {"__name__": "lava_probe"})
    except SystemExit as exc:
        if exc.code not in (None, 0):
            return False, str(exc.code)
    except Exception as exc:  # noqa: BLE001 - any failure means Lava is unusable here
        return False, f"lava does not run in-process: {type(exc).__name__}: {exc}"
    from importlib.metadata import version

    return True, f"lava-nc {version('lava-nc')} in-process"


_CACHE: dict[tuple, LavaRuntime] = {}


def locate(refresh: bool = False) -> LavaRuntime:
    """The Lava runtime to use, proven by running it; cached per process (and per
    ``SPIKECORE_LAVA_PYTHON`` value). ``refresh=True`` probes again."""
    key = (os.environ.get(ENV_VAR, ""), str(sidecar_python()))
    if not refresh and key in _CACHE:
        return _CACHE[key]
    runtime = _locate()
    _CACHE[key] = runtime
    return runtime


def _locate() -> LavaRuntime:
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        ok, info = probe(env)
        if ok:
            return LavaRuntime(True, python=env, version=info, source=f"{ENV_VAR}={env}")
        return LavaRuntime(False, python=env, source=f"{ENV_VAR}={env}",
                           reason=f"{ENV_VAR}={env}: {info}",
                           fix=f"point {ENV_VAR} at a Python 3.10 interpreter with lava-nc "
                               "0.10 (and nir, numpy<2, h5py), or unset it to use the sidecar")
    if sys.version_info[:2] == (3, 10):
        ok, info = _probe_in_process()
        if ok:
            return LavaRuntime(True, in_process=True, version=info, source="in-process")
    py = sidecar_python()
    stamp = sidecar_dir() / STAMP_NAME
    if py.exists() and stamp.exists():
        ok, info = probe(str(py))
        if ok:
            return LavaRuntime(True, python=str(py), version=info,
                               source=f"sidecar {sidecar_dir()}")
        return LavaRuntime(False, python=str(py), source=f"sidecar {sidecar_dir()}",
                           reason=f"the sidecar at {sidecar_dir()} is broken: {info}",
                           fix="run `python -m spikecore.backends.lava.sidecar setup` to repair it")
    base, looked = find_base_python()
    if base is None:
        return LavaRuntime(False, reason="no Python 3.10 interpreter found (Lava 0.10 needs "
                           "Python 3.10); looked at: " + "; ".join(looked), fix=FIX)
    return LavaRuntime(False, reason=f"the Lava sidecar is not set up ({sidecar_dir()} "
                       f"{'is half-made' if py.exists() else 'does not exist'}); Python 3.10 "
                       f"found at {base}",
                       fix="run `python -m spikecore.backends.lava.sidecar setup` "
                           "(or `make setup`)")


def setup(verbose: bool = True) -> int:
    """Create or repair the sidecar venv. Returns the process exit code (always 0 when no
    Python 3.10 exists: Lava is then simply unavailable)."""
    say = print if verbose else (lambda *a, **k: None)
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        ok, info = probe(env)
        say(f"lava sidecar: using {ENV_VAR}={env} as is: "
            f"{info if ok else 'NOT WORKING: ' + info}")
        return 0
    target = sidecar_dir()
    py = sidecar_python()
    stamp = target / STAMP_NAME
    if stamp.exists() and stamp.read_text() == _stamp_text() and _version_of(str(py)) == (3, 10):
        say(f"lava sidecar: up to date at {target}")
        return 0
    base, looked = find_base_python()
    if base is None:
        say("lava sidecar: NOT created: no Python 3.10 interpreter found; Lava will be "
            "reported unavailable.\n  looked at: " + "\n             ".join(looked)
            + f"\n  fix: {FIX}")
        return 0
    stamp.unlink(missing_ok=True)
    if _version_of(str(py)) != (3, 10):  # missing or half-made: start clean
        say(f"lava sidecar: creating venv {target} from {base}")
        if target.exists():
            shutil.rmtree(target)
        rc = subprocess.call([base, "-m", "venv", str(target)])
        if rc != 0:
            say(f"lava sidecar: `{base} -m venv {target}` failed (exit {rc})")
            return rc
    say(f"lava sidecar: installing {' '.join(PINS)}")
    rc = subprocess.call([str(py), "-m", "pip", "install", "--quiet",
                          "--disable-pip-version-check", *PINS])
    if rc != 0:
        say(f"lava sidecar: pip install failed (exit {rc}); run setup again to retry")
        return rc
    ok, info = probe(str(py))
    if not ok:
        say(f"lava sidecar: installed but the probe run failed: {info}")
        return 1
    stamp.write_text(_stamp_text())
    say(f"lava sidecar: ready at {target} ({info})")
    return 0


def status() -> int:
    base, looked = find_base_python()
    print(f"sidecar dir:      {sidecar_dir()} "
          f"({'stamped' if (sidecar_dir() / STAMP_NAME).exists() else 'not set up'})")
    print(f"{ENV_VAR}: {os.environ.get(ENV_VAR) or '(unset)'}")
    print(f"base Python 3.10: {base or 'none'}")
    for line in looked:
        print(f"  looked at {line}")
    rt = locate()
    print(f"lava available:   {rt.available}")
    for label, value in (("source", rt.source), ("python", rt.python), ("version", rt.version),
                         ("reason", rt.reason), ("fix", rt.fix)):
        if value:
            print(f"  {label}: {value}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["setup"]:
        return setup()
    if argv == ["status"]:
        return status()
    print("usage: python -m spikecore.backends.lava.sidecar {setup|status}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
