"""The fuzz campaign of issue 13: hostile cases in a child process, classified, with leak
checks after every case.

Run (from the checkout; about 1 case per second on 2 cores)::

    .venv/bin/python tests/fuzz/campaign.py --cases 1200 --seed 1
    .venv/bin/python -m tests.fuzz.campaign --cases 1200 --seed 1      # the same
    .venv/bin/python tests/fuzz/campaign.py --case hdf5:123456         # one case again
    .venv/bin/python tests/fuzz/campaign.py --cases 200 --classes hdf5,memory --json out.json

Each case is ``(class, seed)``; the generators are in :mod:`fuzz_cases`. A persistent
worker (:mod:`fuzz_worker`) runs the cases one after another and is restarted after a
crash or a timeout. Outcomes:

- ``OK``: ran, every output and recorded state finite (CLI: exit 0, or 1 for the "no"
  of ``compare``/``check``);
- ``CLEAN``: a ``SpikecoreError`` with a message, or CLI exit 2 with exactly one
  ``error:`` line and no traceback;
- ``RAW``: any other exception, a traceback, CLI exit 3 or another code, a dead worker;
- ``HANG``: no answer within the time limit (the worker is killed);
- ``SILENT_NAN``: ran without error but an output or a state holds NaN or inf;
- ``LOST``: a write target (or what a link points to) was replaced or damaged, or a
  round trip changed names;
- ``UNSAFE``: ran, but copied bytes of another file (external storage);
- ``OVERMEM``: refused or ran, but the worker's peak RSS grew by more than
  ``max(4 x SPIKECORE_MAX_BYTES, 1 GiB)`` during the case (a guard came after the
  allocation), or passed the kill limit;
- ``GENFAIL``: the generator itself failed (a bug of the fuzzer).

Leak checks after every case (counted apart from the outcome): new ``/dev/shm/psm_*``
segments that no process holds, new entries in the worker's private ``TMPDIR`` and new
``/tmp/pymp-*`` or ``/tmp/spikecore-lava-*`` folders, temporary files or job folders
left in the case's folder, and processes the worker started that are still alive. What
leaked is removed after it is counted. The worker runs with ``SPIKECORE_MAX_BYTES``
(default 256 MiB) and ``SPIKECORE_MAX_FILE_BYTES`` (64 MiB) set low.

Exit status: 0 when every case is OK or CLEAN and nothing leaked, else 1.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORKER = HERE / "fuzz_worker.py"
#: Share of the cases per class (Lava runs take seconds each: few of them).
WEIGHTS = {"metadata": 14, "validation": 16, "memory": 10, "hdf5": 15, "writing": 10,
           "torch": 10, "names": 10, "structural": 18, "lava": 3}
OUTCOMES = ("OK", "CLEAN", "RAW", "HANG", "SILENT_NAN", "LOST", "UNSAFE", "OVERMEM", "GENFAIL")
GOOD = ("OK", "CLEAN")
DEFAULT_TIMEOUT = 60.0
#: The worker is killed (OVERMEM) when its RSS passes this.
RSS_KILL = 4 * 2**30


# ------------------------------------------------------------------ processes
def _proc_table() -> dict[int, tuple[int, int, int, str]]:
    """pid -> (ppid, session, start time, command) of every process."""
    table = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as fh:
                text = fh.read()
            rest = text.rsplit(")", 1)[1].split()
            if rest[0] == "Z":
                continue
            with open(f"/proc/{d}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")[:160]
            table[int(d)] = (int(rest[1]), int(rest[3]), int(rest[19]), cmd)
        except (OSError, IndexError, ValueError):
            continue
    return table


def _descendants(root: int, table: dict) -> set[tuple[int, int]]:
    kids: dict[int, list[int]] = defaultdict(list)
    for pid, (ppid, *_rest) in table.items():
        kids[ppid].append(pid)
    out, todo = set(), list(kids[root])
    while todo:
        pid = todo.pop()
        out.add((pid, table[pid][2]))
        todo += kids[pid]
    # orphans of the worker's session (re-parented to init)
    out |= {(pid, t[2]) for pid, t in table.items() if t[1] == root and pid != root}
    return out


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _shm() -> set[str]:
    try:
        return {n for n in os.listdir("/dev/shm") if n.startswith("psm_")}
    except OSError:
        return set()


def _shm_holders(names: set[str]) -> dict[str, set[int]]:
    """Which processes map or hold open each ``/dev/shm`` segment."""
    held: dict[str, set[int]] = {n: set() for n in names}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/maps") as fh:
                text = fh.read()
            links = []
            for fd in os.listdir(f"/proc/{d}/fd"):
                try:
                    links.append(os.readlink(f"/proc/{d}/fd/{fd}"))
                except OSError:
                    pass
        except OSError:
            continue
        blob = text + "\n".join(links)
        for n in names:
            if f"/dev/shm/{n}" in blob:
                held[n].add(int(d))
    return held


def _held_by(names: set[str], pids: set[int]) -> set[str]:
    """The segments among ``names`` that one of ``pids`` maps or holds open."""
    found = set()
    for pid in pids:
        try:
            with open(f"/proc/{pid}/maps") as fh:
                blob = fh.read()
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    blob += "\n" + os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    pass
        except OSError:
            continue
        found |= {n for n in names if f"/dev/shm/{n}" in blob}
    return found


def _global_tmp() -> set[str]:
    root = Path("/tmp")
    try:
        return {n for n in os.listdir(root) if n.startswith(("pymp-", "spikecore-lava-"))}
    except OSError:
        return set()


# ------------------------------------------------------------------ the worker
class Worker:
    """The persistent child that runs cases (:mod:`fuzz_worker`)."""

    def __init__(self, scratch: Path, max_bytes: int, max_file_bytes: int):
        self.scratch = scratch
        self.tmpdir = scratch / "tmp"
        self.work = scratch / "work"
        self.tmpdir.mkdir(exist_ok=True)
        self.work.mkdir(exist_ok=True)
        self.env = {**os.environ, "TMPDIR": str(self.tmpdir), "MPLBACKEND": "Agg",
                    "SPIKECORE_MAX_BYTES": str(max_bytes),
                    "SPIKECORE_MAX_FILE_BYTES": str(max_file_bytes),
                    "PYTHONUNBUFFERED": "1"}
        self.proc: subprocess.Popen | None = None
        self.buf = b""
        self.starts = 0
        self.global_candidates: set[str] = set()

    def start(self) -> None:
        self.starts += 1
        self.log = self.scratch / f"worker-{self.starts}.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([sys.executable, str(WORKER)], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=log, cwd=self.scratch,
                                         env=self.env, start_new_session=True)
        self.buf = b""
        ready = self._line(600)
        if not ready or not ready.get("ready"):
            raise RuntimeError(f"fuzz worker did not start: {self.tail()}")

    def tail(self, n: int = 6) -> str:
        try:
            lines = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(lines[-n:])[-600:]

    def _line(self, timeout: float, watch=None) -> dict | None:
        """The next protocol line, or None on EOF/timeout; ``watch()`` is called about
        every 0.25 s while waiting and may return a reason to give up."""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], min(left, 0.25))
            if watch is not None:
                why = watch()
                if why:
                    return {"abort": why}
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    return None
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def kill(self) -> None:
        if self.proc is None:
            return
        table = _proc_table()
        family = _descendants(self.proc.pid, table)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for pid, _ in family:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        self.proc = None

    def run(self, cls: str, seed: int, timeout: float) -> dict:
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        seen: set[tuple[int, int]] = set()
        shm0, tmp0, gtmp0 = _shm(), set(os.listdir(self.tmpdir)), _global_tmp()

        ours: set[str] = set()

        def watch():
            seen.update(_descendants(self.proc.pid, _proc_table()))
            new = _shm() - shm0 - ours
            if new:  # segments our processes hold are ours (other users run Lava too)
                pids = {self.proc.pid} | {pid for pid, _ in seen}
                ours.update(_held_by(new, pids))
            if _rss(self.proc.pid) > RSS_KILL:
                return f"worker RSS passed {RSS_KILL / 2**30:.0f} GiB"
            return None

        req = {"cls": cls, "seed": seed, "work": str(self.work)}
        try:
            self.proc.stdin.write((json.dumps(req) + "\n").encode())
            self.proc.stdin.flush()
        except BrokenPipeError:
            self.kill()
            return self.run(cls, seed, timeout)
        t0 = time.monotonic()
        rec: dict = {"cls": cls, "seed": seed, "label": "", "leaks": []}
        started = self._line(120, watch)
        if started and started.get("started"):
            rec["label"] = started.get("label", "")
            limit = started.get("timeout") or timeout
            res = self._line(limit, watch)
        else:
            res = started
        rec["seconds"] = round(time.monotonic() - t0, 2)
        if res is None or "abort" in res:
            dead = self.proc.poll() is not None
            if res and "abort" in res:
                rec.update(outcome="OVERMEM", message=res["abort"])
            elif dead:
                rec.update(outcome="RAW", message=f"worker died (exit {self.proc.returncode}): "
                                                  f"{self.tail()}")
            else:
                rec.update(outcome="HANG", message=f"no answer within {timeout:g} s")
            self.kill()
        else:
            rec.update({k: v for k, v in res.items() if k != "strays"})
            rec["leaks"] += [f"temporary left: {s}" for s in res.get("strays", [])]
        rec["leaks"] += self._leaks(seen, ours, tmp0, gtmp0)
        return rec

    def _leaks(self, seen, ours, tmp0, gtmp0) -> list[str]:
        leaks = []
        worker = self.proc.pid if self.proc is not None else None
        # processes the worker started that outlive the case (1 s grace)
        deadline = time.monotonic() + 1.0
        while True:
            table = _proc_table()
            alive = [(pid, t) for pid, t in seen
                     if pid in table and table[pid][2] == t and pid != worker]
            if not alive or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        for pid, _ in alive:
            leaks.append(f"process left: {pid} {table[pid][3][:100]}")
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        left_shm = ours & _shm()
        if left_shm:
            time.sleep(0.5)
            left_shm &= _shm()
            holders = _shm_holders(left_shm)
            for n in sorted(left_shm):
                if not holders[n]:
                    leaks.append(f"shared memory left: /dev/shm/{n}")
                    Path("/dev/shm", n).unlink(missing_ok=True)
                else:
                    leaks.append(f"shared memory still held after the case: /dev/shm/{n} "
                                 f"by {sorted(holders[n])}")
        for n in sorted(set(os.listdir(self.tmpdir)) - tmp0):
            leaks.append(f"TMPDIR entry left: {n}")
            p = self.tmpdir / n
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() and not p.is_symlink() \
                else p.unlink(missing_ok=True)
        # /tmp is shared with other users: a new pymp-*/spikecore-lava-* there is only a
        # candidate, reported at the end if it is still there (an active job cleans up)
        self.global_candidates |= _global_tmp() - gtmp0
        return leaks


# ------------------------------------------------------------------ the campaign
def plan(cases: int, seed: int, classes: list[str] | None = None) -> list[tuple[str, int]]:
    """``cases`` (class, case seed) pairs in proportion to :data:`WEIGHTS`, shuffled."""
    weights = {c: w for c, w in WEIGHTS.items() if classes is None or c in classes}
    total = sum(weights.values())
    counts = {c: max(1, round(cases * w / total)) for c, w in weights.items()}
    while sum(counts.values()) > cases and max(counts.values()) > 1:
        counts[max(counts, key=counts.get)] -= 1
    while sum(counts.values()) < cases:
        counts[max(weights, key=weights.get)] += 1
    rnd = random.Random(seed)
    out = [(c, rnd.randrange(2**31)) for c, k in counts.items() for _ in range(k)]
    rnd.shuffle(out)
    return out


def run_campaign(pairs: list[tuple[str, int]], timeout: float = DEFAULT_TIMEOUT,
                 max_bytes: int = 256 * 2**20, max_file_bytes: int = 64 * 2**20,
                 progress=None) -> list[dict]:
    scratch = Path(tempfile.mkdtemp(prefix="spikecore-fuzz-"))
    worker = Worker(scratch, max_bytes, max_file_bytes)
    records = []
    t0 = time.monotonic()
    try:
        for k, (cls, seed) in enumerate(pairs, 1):
            rec = worker.run(cls, seed, timeout)
            records.append(rec)
            if progress and (rec["outcome"] not in GOOD or rec["leaks"]):
                progress(f"  [{k}] {cls}:{seed} {rec['outcome']} {rec['label'][:80]!r}: "
                         f"{str(rec.get('message', ''))[:200]}"
                         + (f" LEAKS {rec['leaks']}" if rec["leaks"] else ""))
            if progress and k % 100 == 0:
                progress(f"{k}/{len(pairs)} cases, {time.monotonic() - t0:.0f} s, "
                         f"{worker.starts} worker start(s)")
    finally:
        worker.kill()
        shutil.rmtree(scratch, ignore_errors=True)
    time.sleep(2)
    left = sorted(worker.global_candidates & _global_tmp())
    if left and records:
        records[-1].setdefault("global_tmp", left)
    return records


def failures(records: list[dict]) -> list[dict]:
    return [r for r in records if r["outcome"] not in GOOD or r["leaks"]]


def summary(records: list[dict]) -> str:
    classes = sorted({r["cls"] for r in records})
    used = [o for o in OUTCOMES if any(r["outcome"] == o for r in records)]
    for o in ("RAW", "HANG", "SILENT_NAN", "LOST"):
        if o not in used:
            used.append(o)
    head = f"{'class':12s}" + "".join(f"{o:>11s}" for o in used) + \
        f"{'leaks':>7s}{'cases':>7s}{'mean s':>8s}{'peak MiB':>10s}"
    lines = [head, "-" * len(head)]
    total = Counter()
    for c in classes:
        rs = [r for r in records if r["cls"] == c]
        cnt = Counter(r["outcome"] for r in rs)
        total.update(cnt)
        leaks = sum(1 for r in rs if r["leaks"])
        mean = sum(r.get("seconds", 0) for r in rs) / len(rs)
        peak = max((r.get("peak_mib", 0) or 0) for r in rs)
        lines.append(f"{c:12s}" + "".join(f"{cnt[o]:11d}" for o in used) +
                     f"{leaks:7d}{len(rs):7d}{mean:8.2f}{peak:10.0f}")
    leaks = sum(1 for r in records if r["leaks"])
    lines.append("-" * len(head))
    lines.append(f"{'total':12s}" + "".join(f"{total[o]:11d}" for o in used) +
                 f"{leaks:7d}{len(records):7d}")
    global_tmp = [n for r in records for n in r.get("global_tmp", [])]
    if global_tmp:
        lines.append(f"/tmp entries that appeared during the campaign and are still there "
                     f"(unattributed: /tmp is shared; the worker's TMPDIR is private): "
                     f"{global_tmp}")
    bad = failures(records)
    if bad:
        lines.append("")
        lines.append("cases to look at (reproduce: python tests/fuzz/campaign.py --case "
                     "CLASS:SEED):")
        for r in bad:
            lines.append(f"  {r['cls']}:{r['seed']} {r['outcome']} {r['label'][:100]!r}")
            if r["outcome"] not in GOOD:
                lines.append(f"      {str(r.get('message', ''))[:400]}")
            for leak in r["leaks"]:
                lines.append(f"      leak: {leak}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=1200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--classes", help="comma-separated subset of " + ",".join(WEIGHTS))
    ap.add_argument("--case", action="append", default=[],
                    help="run only CLASS:SEED (repeatable)")
    ap.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per case")
    ap.add_argument("--max-bytes", type=int, default=256 * 2**20,
                    help="SPIKECORE_MAX_BYTES of the worker")
    ap.add_argument("--json", help="write every case's record here")
    args = ap.parse_args(argv)
    if args.case:
        pairs = [(c.split(":")[0], int(c.split(":")[1])) for c in args.case]
    else:
        classes = args.classes.split(",") if args.classes else None
        unknown = sorted(set(classes or ()) - set(WEIGHTS))
        if unknown:
            ap.error(f"unknown classes {unknown}; known: {', '.join(WEIGHTS)}")
        pairs = plan(args.cases, args.seed, classes)
    t0 = time.monotonic()
    records = run_campaign(pairs, timeout=args.timeout, max_bytes=args.max_bytes,
                           progress=lambda s: print(s, flush=True))
    print(f"\n{len(records)} cases in {time.monotonic() - t0:.0f} s (seed {args.seed})\n")
    print(summary(records))
    if args.case:
        for r in records:
            print(json.dumps(r, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(records, indent=1))
    return 1 if failures(records) else 0


if __name__ == "__main__":
    sys.exit(main())
