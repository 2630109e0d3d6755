"""The child process of the fuzz campaign: runs one case per request, classifies it.

Started by :mod:`campaign` as ``python tests/fuzz/fuzz_worker.py``. Protocol: one JSON
request per line on stdin (``{"cls", "seed", "work"}``); on the original stdout (the
worker's own prints go to stderr) one JSON line ``{"started": ..., "timeout": ...}`` once
the case is generated, then one with the outcome. The parent times the case out, kills
and restarts the worker after a crash or a hang, and checks for leaks.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import traceback
import warnings
from pathlib import Path

OUTCOMES = ("OK", "CLEAN", "RAW", "HANG", "SILENT_NAN", "LOST", "UNSAFE", "OVERMEM", "GENFAIL")
TMP_TAG = ".spikecore.tmp"


def _status(key: str) -> int:
    """A ``/proc/self/status`` memory figure in bytes (VmRSS, VmHWM)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _reset_peak() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


def _strays(work: Path) -> set[str]:
    """Temporary files of writes and Lava job folders under ``work`` (links not followed)."""
    found = set()
    for root, dirs, files in os.walk(work):
        for name in files + dirs:
            if name.endswith(TMP_TAG) or name.startswith(("spikecore-lava-", "pymp-")):
                found.add(os.path.relpath(os.path.join(root, name), work))
    return found


def classify(case, value, exc) -> tuple[str, str]:
    import fuzz_common as fc

    from spikecore.errors import SpikecoreError

    if exc is not None:
        if isinstance(exc, SpikecoreError):
            msg = str(exc).strip()
            if not msg:
                return "RAW", f"{type(exc).__name__} without a message"
            return "CLEAN", f"{type(exc).__name__}: {msg.splitlines()[0][:200]}"
        if getattr(exc, "outcome", None) == "LOST":
            return "LOST", str(exc)
        tb = traceback.extract_tb(exc.__traceback__)
        where = next((f"{Path(fr.filename).name}:{fr.lineno} in {fr.name}" for fr in reversed(tb)
                      if "/fuzz/" not in fr.filename), "")
        spikecore_frame = next((f"{fr.filename.split('/work/main/')[-1]}:{fr.lineno} in "
                                f"{fr.name}" for fr in reversed(tb)
                                if "/work/main/" in fr.filename and "/fuzz/" not in fr.filename
                                and "/.venv/" not in fr.filename), "")
        msg = f"{type(exc).__name__}: {str(exc)[:300]}"
        if not spikecore_frame:
            spikecore_frame = "none: raised outside spikecore (a fuzzer bug?)"
        return "RAW", f"{msg} [at {where}; last spikecore frame {spikecore_frame}]"
    if isinstance(value, fc.CliRun):
        argv0 = value.argv[0] if value.argv else ""
        err = value.stderr
        if value.code == 0:
            bad = fc.npz_problems(value.out) if value.out else []
            if bad:
                return "SILENT_NAN", f"exit 0, non-finite in {bad[:5]}"
            return "OK", "exit 0"
        if value.code == 1 and argv0 in ("compare", "check"):
            return "OK", "exit 1 (answer no)"
        if value.code == 2:
            if "Traceback" in err:
                return "RAW", "exit 2 with a traceback: " + err.strip().splitlines()[-1][:200]
            lines = [ln for ln in err.splitlines() if ln.startswith("error:") or
                     ": error:" in ln]
            if len(lines) != 1:
                return "RAW", (f"exit 2 with {len(lines)} 'error:' lines; stderr "
                               f"{err.strip()[:150]!r}; stdout {value.stdout.strip()[:150]!r}")
            return "CLEAN", lines[0][:200]
        tail = err.strip().splitlines()[-1][:300] if err.strip() else value.stdout[-300:]
        return "RAW", f"exit {value.code}: {tail}"
    bad = fc.finite_problems(value)
    if isinstance(value, dict):
        import numpy as np

        bad += [k for k, v in value.items() if hasattr(v, "dtype") and
                v.dtype.kind in "fc" and not np.all(np.isfinite(v))]
    if bad:
        return "SILENT_NAN", f"non-finite in {bad[:6]}"
    return "OK", ""


def execute(req: dict, proto) -> dict:
    import fuzz_cases

    cls, seed = req["cls"], int(req["seed"])
    work = Path(req["work"]) / f"{cls}-{seed}"
    work.mkdir(parents=True, exist_ok=True)
    import numpy as np

    rng = np.random.default_rng([seed, sorted(fuzz_cases.GENERATORS).index(cls)])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            case = fuzz_cases.GENERATORS[cls](rng, work)
    except Exception as exc:  # noqa: BLE001 - a bug of the fuzzer itself, reported as such
        shutil.rmtree(work, ignore_errors=True)
        return {"outcome": "GENFAIL", "label": "", "message":
                f"{type(exc).__name__}: {exc} [{traceback.format_exc().splitlines()[-3][:200]}]"}
    proto.write(json.dumps({"started": True, "label": case.label, "timeout": case.timeout})
                + "\n")
    proto.flush()
    strays_before = _strays(work)
    rss0 = _status("VmRSS")
    _reset_peak()
    t0 = time.monotonic()
    value = exc = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = case.run()
    except BaseException as e:  # noqa: BLE001 - classified below
        if isinstance(e, KeyboardInterrupt):
            raise
        exc = e
    seconds = time.monotonic() - t0
    outcome, message = classify(case, value, exc)
    value = exc = None
    if outcome == "OK" and case.unsafe is not None:
        bad = case.unsafe()
        if bad:
            outcome, message = "UNSAFE", "; ".join(bad)
    if case.after is not None:
        lost = case.after()
        if lost:
            outcome, message = "LOST", "; ".join(lost) + (f" [{message}]" if message else "")
    peak = _status("VmHWM") - rss0
    limit = int(os.environ.get("SPIKECORE_MAX_BYTES", 2**30))
    if outcome in ("OK", "CLEAN") and peak > max(4 * limit, 2**30):
        outcome, message = "OVERMEM", (f"peak RSS grew by {peak / 2**20:.0f} MiB (limit "
                                       f"{limit / 2**20:.0f} MiB) [{outcome}: {message}]")
    strays = sorted(_strays(work) - strays_before)
    shutil.rmtree(work, ignore_errors=True)
    return {"outcome": outcome, "label": case.label, "message": message,
            "seconds": round(seconds, 3), "peak_mib": round(peak / 2**20, 1),
            "strays": strays}


def warm_up() -> None:
    """Build the base graphs and run each engine once (Brian2 compiles its code), so
    the first cases are not timed with the set-up."""
    import fuzz_common as fc
    import numpy as np

    import spikecore as sc

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in fc.BASE_NAMES:
            fc.base_graph(name)
        g = fc.base_graph("recurrent")
        for backend in ("torch", "brian2"):
            sc.simulate(g, np.zeros((1, 5, 4)), backend=backend, record=fc.record_everything(g))


def main() -> int:
    proto = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # prints of the code under test go to stderr, not into the protocol
    sys.stdout = sys.stderr
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    os.environ.setdefault("MPLBACKEND", "Agg")
    warm_up()
    proto.write(json.dumps({"ready": True, "pid": os.getpid()}) + "\n")
    proto.flush()
    for line in sys.stdin:
        req = json.loads(line)
        res = execute(req, proto)
        proto.write(json.dumps(res) + "\n")
        proto.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
