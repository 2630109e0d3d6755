"""The main demo (``make demo`` / ``spikecore demo``).

1. The NIR paper's single-LIF file (bundled), read with the ``norse`` dialect at
   dt = 1e-4 s, run on every available backend: spike steps against the paper's
   460, 510, 710, 760 and voltages against Norse's own trace.
2. A seeded recurrent CUBA-LIF network with Poisson input, run on every available
   backend and compared spike for spike; the report (text, JSON, HTML with rasters) is
   written to ``reports/demo``.
3. Brunel (2000) model A, scaled down (500 neurons, seeded Poisson drive, exact
   integrator), on Brian2, torch and NEST, compared spike for spike.

A backend that cannot lower a part's graph (NEST integrates exactly, so the forward-Euler
graphs of parts 1 and 2 are not its to run; Lava is not asked for part 3) is listed with
its reason instead of silently left out.
"""

from __future__ import annotations

import json
import time
from importlib import resources
from pathlib import Path

import numpy as np

PAPER_SPIKE_STEPS = [460, 510, 710, 760]  # NIR paper, Norse and exact columns
BACKENDS = ("brian2", "torch", "lava", "nest")
#: Part 3 runs on these (Lava's Loihi-style run of the same network is part 2's business).
BRUNEL_BACKENDS = ("brian2", "torch", "nest")


def bundled_file(name: str) -> Path:
    """A file shipped with spikecore (``spikecore/data``), e.g. ``"lif_norse.nir"``: the
    NIR paper's single-LIF file as Norse wrote it, and its Norse trace (``.csv``)."""
    path = Path(str(resources.files("spikecore") / "data" / name))
    if not path.is_file():
        from .errors import InputError

        shipped = sorted(p.name for p in path.parent.iterdir() if p.name != "README.md")
        raise InputError(f"no bundled file {name!r}; shipped: {', '.join(shipped)}")
    return path


_bundled = bundled_file


def main(out_dir: str = "reports/demo", json_output: bool = False) -> int:
    import spikecore as sc
    from spikecore.backends import get_backend
    from spikecore.models import brunel2000, poisson_input, recurrent_lif
    from spikecore.report import write_report

    def refusals(graph: sc.Graph, backends: list[str]) -> dict[str, str]:
        """backend -> the first reason it cannot lower ``graph`` (only those that cannot)."""
        out = {}
        for b in backends:
            problems = get_backend(b).check(graph.flatten())
            if problems:
                out[b] = problems[0] + (f" (+{len(problems) - 1} more)" if len(problems) > 1
                                        else "")
        return out

    t0 = time.perf_counter()
    avail = sc.available_backends()
    usable = [b for b in BACKENDS if avail[b].available]
    summary: dict = {"backends": {k: v.as_dict() for k, v in avail.items()}}
    if not json_output:
        print("== backends")
        for name, a in avail.items():
            line = f"available ({a.version})" if a.available else f"unavailable: {a.reason}"
            print(f"  {name:7s} {line}")
            if not a.available and a.fix:
                print(f"          fix: {a.fix}")

    # 1. The NIR paper LIF.
    graph = sc.read(_bundled("lif_norse.nir"), dialect="norse", dt=1e-4)
    csv = np.loadtxt(_bundled("lif_norse.csv"), delimiter=",")
    x = csv[:, 0:1]
    paper = {}
    ok = True
    if not json_output:
        print(f"\n== NIR paper LIF: {graph!r}")
        print(f"   paper (Norse, exact): spikes at steps {PAPER_SPIKE_STEPS}")
    refused = refusals(graph, usable)
    summary["nir_paper_lif_refused"] = refused
    for b in refused:
        if not json_output:
            print(f"   {b:7s} refused: {refused[b]}")
    for b in (b for b in usable if b not in refused):
        r = sc.simulate(graph, x, backend=b, record=("spikes", "v"))
        lif = next(n for n in r.spikes)
        steps = [int(s) for s in np.flatnonzero(r.spikes[lif][0, :, 0])]
        dv = float(np.max(np.abs(r.traces[lif]["v"][0, :, 0] - csv[:, 1])))
        match = steps == PAPER_SPIKE_STEPS
        ok &= match
        paper[b] = {"spike_steps": steps, "max_abs_v_diff_vs_norse_csv": dv, "matches_paper": match}
        if not json_output:
            print(f"   {b:7s} spikes at {steps}  max|v - Norse csv| = {dv:.2e}  "
                  f"{'OK' if match else 'MISMATCH'}")
    summary["nir_paper_lif"] = paper

    # 2. A recurrent network on every backend.
    net = recurrent_lif(n_in=20, n_rec=100, n_out=5, seed=1)
    steps = 1000
    inp = poisson_input(20, steps, rate_hz=40.0, dt=net.semantics.dt, seed=1)
    refused = refusals(net, usable)
    report = sc.compare(net, inp, backends=[b for b in usable if b not in refused],
                        record=("spikes", "v", "i"), progress=not json_output)
    html_path = write_report(report, out_dir)
    ok &= report.ok
    summary["recurrent"] = report.to_dict()
    summary["recurrent_refused"] = refused
    summary["report"] = str(html_path)

    # 3. Brunel (2000), scaled down, where NEST runs too.
    brunel = brunel2000(N_E=400, seed=1)
    brunel_report = sc.compare(brunel, None, steps=2000, record=("spikes",),
                               backends=[b for b in BRUNEL_BACKENDS if b in usable],
                               progress=not json_output)
    ok &= brunel_report.ok
    summary["brunel"] = brunel_report.to_dict()
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    summary["ok"] = bool(ok)
    if json_output:
        print(json.dumps(summary, indent=2, default=str))
    else:
        print(f"\n== recurrent CUBA-LIF network: {net!r}")
        for b, why in refused.items():
            print(f"   {b} refused: {why}")
        print(report.table())
        print(f"\n== Brunel (2000) model A, 500 neurons: {brunel!r}")
        print(brunel_report.table())
        print(f"\nreport: {html_path}")
        print(f"demo finished in {summary['seconds']} s: "
              f"{'all backends agree' if ok else 'DISAGREEMENT (see above)'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
