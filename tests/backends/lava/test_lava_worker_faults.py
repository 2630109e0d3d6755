"""Faults of the Lava worker, injected for real, leave nothing behind (issue 13).

Each Lava test starts a long run (50 000 steps, over a minute of Lava time), waits until
Lava's runtime processes are up, injects the fault and then checks:

- a spikecore error (:class:`~spikecore.errors.BackendProcessError`), not a raw exception;
- the time it took, far below the run's timeout;
- 0 leaks, against snapshots taken before: POSIX shared-memory segments (``/dev/shm/psm_*``
  that are new and mapped by no live process, and every segment the run's journal named),
  multiprocessing ``pymp-*`` folders (the test gives the run a private temp folder, so
  other users of /tmp do not interfere), job and scratch folders, and processes (the
  worker's process group, and anything whose command line names the job folder).

The corrupt-result tests need no Lava: a stand-in "interpreter" writes the worker's files.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import nir
import numpy as np
import pytest
from spikecore.backends.lava.scripts.worker import SHM_JOURNAL

import spikecore as sc
from spikecore import Graph, Semantics

STEPS = 50_000
TIMEOUT = 120.0  # seconds given to the run; every fault must end it far sooner
SETTLE = 10.0  # seconds allowed for a fault's clean-up to finish


# ---------------------------------------------------------------- graph and snapshots
def _graph(steps: int = STEPS) -> tuple[Graph, np.ndarray]:
    g = Graph({"i": nir.Input(input_type=np.array([3])),
               "a": nir.LIF(tau=np.full(3, 0.01), r=np.ones(3), v_leak=np.zeros(3),
                            v_threshold=np.ones(3), v_reset=np.zeros(3)),
               "o": nir.Output(output_type=np.array([3]))},
              [("i", "a"), ("a", "o")], Semantics(dt=1e-3))
    return g, np.ones((1, steps, 3))


def _proc_stats() -> dict[int, list[str]]:
    """pid -> the fields of /proc/pid/stat after the command name (state, ppid, pgid...)."""
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stats[int(entry.name)] = (entry / "stat").read_text().rsplit(") ", 1)[1].split()
            except (OSError, IndexError):
                continue
    return stats


def _live_group(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group ``pgid``."""
    return [pid for pid, f in _proc_stats().items() if int(f[2]) == pgid and f[0] != "Z"]


def _naming(fragment: str) -> list[int]:
    """Live processes whose command line contains ``fragment``."""
    pids = []
    for pid, f in _proc_stats().items():
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
                "utf8", "replace")
        except OSError:
            continue
        if fragment in cmd and f[0] != "Z" and pid != os.getpid():
            pids.append(pid)
    return pids


def _segments() -> set[str]:
    return {n for n in os.listdir("/dev/shm") if n.startswith("psm_")}


def _mapped_segments() -> set[str]:
    """Segments some live process has mapped (a concurrent run's, not a leak)."""
    names = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                maps = (entry / "maps").read_text()
            except OSError:
                continue
            names.update(re.findall(r"/dev/shm/(psm_[0-9a-f]+)", maps))
    return names


class Leaks:
    """Before/after snapshot of everything a Lava run may leave behind."""

    def __init__(self, job_root: Path, temp: Path):
        self.job_root, self.temp = job_root, temp
        self.segments = _segments()
        self.journal: set[str] = set()
        self.pgid: int | None = None

    def note_journal(self) -> None:
        """Read the run's shared-memory journal (call while the run is up)."""
        for journal in self.job_root.glob(f"spikecore-lava-*/{SHM_JOURNAL}"):
            self.journal.update(journal.read_text().split())

    def now(self) -> dict[str, list]:
        new = (_segments() - self.segments) - _mapped_segments()
        return {
            "segments": sorted(new | (self.journal & _segments())),
            "pymp folders": sorted(p.name for p in self.temp.glob("pymp-*")),
            "temp entries": sorted(p.name for p in self.temp.iterdir()
                                   if p.name != FIXED.name and p not in self.job_root.parents
                                   and p != self.job_root),
            "job folders": sorted(p.name for p in self.job_root.iterdir()),
            "processes": sorted(set(_live_group(self.pgid) if self.pgid else [])
                                | set(_naming(str(self.job_root)))),
        }

    def assert_none(self, settle: float = SETTLE, only: tuple[str, ...] = ()) -> None:
        """Every leak check (or those named in ``only``) at 0, waiting up to ``settle`` s
        for asynchronous clean-up."""
        deadline = time.monotonic() + settle
        while True:
            left = {k: v for k, v in self.now().items() if v and (not only or k in only)}
            if not left or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert not left, f"left behind after the fault: {left}"


FIXED = Path("fixed")  # folder of the test's own files in the private temp folder


@pytest.fixture
def private_temp(monkeypatch) -> Path:
    """A short private temp folder for this process and the workers it starts (pymp
    folders need short paths: unix sockets are bound inside them). The test's own files
    go to its ``fixed`` folder."""
    temp = Path(tempfile.mkdtemp(prefix="sclf-", dir="/tmp"))
    (temp / FIXED).mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    yield temp
    shutil.rmtree(temp, ignore_errors=True)


def _wait_until_running(worker: int, limit: float = 60.0) -> list[int]:
    """Wait until Lava's runtime processes (children forked from the worker) are all up:
    their number has stayed the same, and at least 3, for a second. Returns them."""
    cmdline = Path(f"/proc/{worker}/cmdline").read_bytes()
    deadline = time.monotonic() + limit
    seen, since = [], time.monotonic()
    while time.monotonic() < deadline:
        forked = []
        for pid, f in _proc_stats().items():
            if int(f[1]) == worker and f[0] != "Z":
                try:
                    if Path(f"/proc/{pid}/cmdline").read_bytes() == cmdline:
                        forked.append(pid)
                except OSError:
                    continue
        if len(forked) != len(seen):
            seen, since = forked, time.monotonic()
        elif len(seen) >= 3 and time.monotonic() - since > 1.0:
            return sorted(seen)
        time.sleep(0.1)
    raise AssertionError(f"the Lava runtime of worker {worker} did not come up in {limit} s")


def _job_root(temp: Path, long: bool = False) -> Path:
    """A job root in ``temp``; ``long``: so long that the worker's scratch folder cannot
    be inside the job folder (it then goes to the temp folder)."""
    root = temp / "j" / ("a-job-root-with-a-long-name-" * 2 if long else "")
    root.mkdir(parents=True)
    return root


# ---------------------------------------------------------------- faults with Lava
@pytest.mark.lava
def test_kill_9_of_the_worker_leaks_nothing(lava, private_temp) -> None:
    g, x = _graph()
    root = _job_root(private_temp)
    leaks = Leaks(root, private_temp)
    killed: list[float] = []

    def on_start(pid: int) -> None:
        leaks.pgid = pid

        def kill() -> None:
            _wait_until_running(pid)
            leaks.note_journal()
            killed.append(time.monotonic())
            os.kill(pid, signal.SIGKILL)

        threading.Thread(target=kill, daemon=True).start()

    with pytest.raises(sc.BackendProcessError, match="killed by signal SIGKILL"):
        sc.simulate(g, x, backend="lava", timeout=TIMEOUT, job_root=root, on_worker_start=on_start)
    assert time.monotonic() - killed[0] < 10
    assert leaks.journal, "the run journaled no shared-memory segment"
    leaks.assert_none(settle=0.0)  # the caller has cleaned up before raising


@pytest.mark.lava
def test_a_dead_lava_process_ends_the_run_at_once(lava, private_temp) -> None:
    g, x = _graph()
    root = _job_root(private_temp)
    leaks = Leaks(root, private_temp)
    killed: list[float] = []
    victim: list[int] = []

    def on_start(pid: int) -> None:
        leaks.pgid = pid

        def kill_one() -> None:
            victim.append(_wait_until_running(pid)[-1])
            leaks.note_journal()
            killed.append(time.monotonic())
            os.kill(victim[0], signal.SIGKILL)

        threading.Thread(target=kill_one, daemon=True).start()

    with pytest.raises(sc.BackendProcessError) as info:
        sc.simulate(g, x, backend="lava", timeout=TIMEOUT, job_root=root, on_worker_start=on_start)
    waited = time.monotonic() - killed[0]
    assert "a Lava runtime process died while the network ran" in str(info.value)
    assert f"Lava runtime process {victim[0]} (" in str(info.value)
    assert "was killed by signal SIGKILL" in str(info.value)
    assert "resource_tracker" not in info.value.stderr_tail  # no noise about the segments
    assert waited < 10, f"waited {waited:.1f} s after the Lava process died (timeout {TIMEOUT})"
    leaks.assert_none(settle=0.0)


CALLER = textwrap.dedent("""
    import sys
    import nir, numpy as np
    import spikecore as sc
    from spikecore import Graph, Semantics
    g = Graph({"i": nir.Input(input_type=np.array([3])),
               "a": nir.LIF(tau=np.full(3, 0.01), r=np.ones(3), v_leak=np.zeros(3),
                            v_threshold=np.ones(3), v_reset=np.zeros(3)),
               "o": nir.Output(output_type=np.array([3]))},
              [("i", "a"), ("a", "o")], Semantics(dt=1e-3))
    def started(pid):
        with open(sys.argv[2], "w") as f:
            f.write(str(pid))
    sc.simulate(g, np.ones((1, int(sys.argv[3]), 3)), backend="lava", timeout=float(sys.argv[4]),
                job_root=sys.argv[1], on_worker_start=started)
    """)


@pytest.mark.lava
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_death_of_the_caller_leaks_nothing(lava, private_temp, sig) -> None:
    # SIGTERM: the caller's handler cleans up and dies by the signal; SIGKILL: the
    # worker's watchdog cleans up. SIGKILL's job folder path is long, so the scratch
    # folder goes to the (private) temp folder: both places are checked.
    root = _job_root(private_temp, long=sig == signal.SIGKILL)
    leaks = Leaks(root, private_temp)
    pidfile = private_temp / FIXED / "worker.pid"
    caller = subprocess.Popen(
        [sys.executable, "-c", CALLER, str(root), str(pidfile), str(STEPS), str(TIMEOUT)],
        env={**os.environ, "TMPDIR": str(private_temp)}, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not (pidfile.exists() and pidfile.read_text()):
            assert caller.poll() is None, caller.stderr.read().decode()
            assert time.monotonic() < deadline, "the caller did not start the worker"
            time.sleep(0.1)
        worker = leaks.pgid = int(pidfile.read_text())
        pidfile.unlink()
        _wait_until_running(worker)
        leaks.note_journal()
        assert leaks.journal, "the run journaled no shared-memory segment"
        caller.send_signal(sig)
        assert caller.wait(timeout=30) == -sig  # it still dies by the signal
        at_death = list(root.iterdir())
        if sig == signal.SIGTERM:  # removed by the caller's handler before it died
            assert at_death == [], f"job folder still there when the caller died: {at_death}"
        leaks.assert_none()
    finally:
        caller.kill()
        caller.wait()


# ---------------------------------------------------------------- corrupt result files
FAKE_WORKER = """#!{python}
# Stands in for the Lava interpreter: argv = [worker.py, JOB, options...]. Writes what a
# good worker writes, then spoils one file as told.
import json, pathlib, sys
import numpy as np
job = pathlib.Path(sys.argv[2])
spec = json.loads((job / "job.json").read_text())
sizes = {{p["name"]: p["size"] for p in spec["populations"]}}
out = {{f"{{p['population']}}/{{p['var']}}": np.zeros((spec["steps"], sizes[p["population"]]))
       for p in spec["probes"]}}
np.savez(job / "results.npz", **out)
(job / "info.json").write_text(json.dumps({{"run_time": 0.1}}))
{spoil}
"""

SPOILS = {
    "results: not a zip": ("results.npz", "(job / 'results.npz').write_bytes(b'garbage')",
                           "not a readable .npz archive"),
    "results: truncated": ("results.npz", "p = job / 'results.npz'; "
                           "p.write_bytes(p.read_bytes()[:300])", "results.npz is unusable"),
    "results: pickled objects": ("results.npz", "np.savez(job / 'results.npz', "
                                 "**{k: np.array([None]) for k in out})", "results.npz"),
    "results: one .npy": ("results.npz", "np.save(open(job / 'results.npz', 'wb'), "
                          "np.zeros(3))", "not an .npz archive"),
    "results: array missing": ("results.npz", "np.savez(job / 'results.npz', other=np.zeros(2))",
                               "is missing"),
    "results: wrong shape": ("results.npz", "np.savez(job / 'results.npz', "
                             "**{k: np.zeros(3) for k in out})", "has shape (3,)"),
    "results: strings": ("results.npz", "np.savez(job / 'results.npz', "
                         "**{k: np.array(['x']) for k in out})", "expected numbers"),
    "info: not JSON": ("info.json", "(job / 'info.json').write_text('{not json')",
                       "not valid JSON"),
    "info: a list": ("info.json", "(job / 'info.json').write_text('[1, 2]')",
                     "a JSON list, expected an object"),
    "info: not UTF-8": ("info.json", "(job / 'info.json').write_bytes(b'\\xff\\xfe{')",
                        "cannot be read as UTF-8"),
    "info: run_time text": ("info.json", "(job / 'info.json').write_text('{\"run_time\": \"1\"}')",
                            "run_time is '1'"),
    "info: missing": ("info.json", "(job / 'info.json').unlink()", "without writing it"),
}


@pytest.mark.parametrize("case", list(SPOILS))
def test_corrupt_result_files_give_a_clear_error(case, private_temp) -> None:
    name, spoil, expected = SPOILS[case]
    fake = private_temp / FIXED / "fake-python"
    fake.write_text(FAKE_WORKER.format(python=sys.executable, spoil=spoil))
    fake.chmod(0o755)
    root = _job_root(private_temp)
    leaks = Leaks(root, private_temp)
    g, x = _graph(20)
    with pytest.raises(sc.BackendProcessError) as info:
        sc.simulate(g, x, backend="lava", python=str(fake), job_root=root)
    message = str(info.value)
    assert name in message and expected in message, message
    assert str(fake) == info.value.command[0]
    leaks.assert_none(settle=0.0)


# ---------------------------------------------------------------- caller-side handler
SIGNALLED = textwrap.dedent("""
    import os, signal, sys
    from spikecore.backends.lava.process import cleanup_on_signal
    if sys.argv[2] == "chained":
        signal.signal(signal.SIGTERM, lambda s, f: sys.exit(7))
    with cleanup_on_signal(lambda: open(sys.argv[1], "a").write("outer ")):
        with cleanup_on_signal(lambda: open(sys.argv[1], "a").write("inner ")):
            os.kill(os.getpid(), signal.SIGTERM)
    print("survived")
    """)


@pytest.mark.parametrize("previous", ["default", "chained"])
def test_sigterm_runs_the_cleanups_then_takes_its_course(previous, tmp_path) -> None:
    done = tmp_path / "done"
    run = subprocess.run([sys.executable, "-c", SIGNALLED, str(done), previous],
                         capture_output=True, text=True, timeout=60)
    assert done.read_text() == "inner outer "
    if previous == "default":
        assert run.returncode == -signal.SIGTERM and "survived" not in run.stdout
    else:  # the handler that was there before is called: here it exits with 7
        assert run.returncode == 7, run.stderr
