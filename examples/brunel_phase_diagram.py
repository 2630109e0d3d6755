"""Brunel (2000) phase diagram: a (g, eta) grid of scaled-down networks, swept on Dask.

Every (g, eta) point of a 5 x 4 grid builds spikecore.models.brunel2000 (N_E = 600,
epsilon = 0.25, J = 0.6 mV: C_E J = 90 mV as in examples/brunel2000.py) and runs it on
Brian2 for 0.3 s through spikecore.sweep on a LocalCluster of worker processes. Each
run is measured after a 0.1 s transient: mean rate, irregularity (mean ISI CV) and
synchrony (Golomb's chi of 1 ms spike counts). The three maps show the regimes of the
paper's Fig. 8: synchronous regular (SR) where inhibition is weak (g = 3: chi about 0.4,
CV near 0, rates near 1/refractory period), asynchronous irregular (AI) where it
dominates (g >= 5: chi below 0.2, CV 0.5-1); the SR and AI landmarks are asserted. The
table (one row per run: g, eta, seed, semantics, measures) goes to a CSV. With --store
DIR, a second call runs only what is missing (e.g. after adding seeds).

    python examples/brunel_phase_diagram.py [--out DIR] [--workers N] [--seeds N] [--store DIR]
        ->  brunel_phase_diagram.png  brunel_phase_diagram.csv
"""

from __future__ import annotations

import argparse
import functools
import time
from pathlib import Path

import numpy as np
from _common import add_out, out_folder, pyplot
from spikecore.models import brunel2000

import spikecore as sc
from spikecore import analysis as A

NET = {"N_E": 600, "epsilon": 0.25, "J": 0.6e-3, "dt": 1e-4}
G = [3.0, 4.0, 5.0, 6.0, 7.0]
ETA = [1.0, 2.0, 3.0, 4.0]
DURATION, TRANSIENT = 0.3, 0.1
#: The paper's Fig. 8 examples that fall on this grid.
LANDMARKS = {"SR": (3.0, 2.0), "AI": (5.0, 2.0), "SI fast": (6.0, 4.0)}


def measure(result: sc.Result, point: dict) -> dict[str, float]:
    """Rate (Hz), mean ISI CV and chi of the neurons after the transient."""
    dt = result.dt
    z = result.spikes["neurons"][:, int(round(TRANSIENT / dt)):]
    cv = A.isi_cv(z, dt=dt)
    return {"rate_hz": float(A.firing_rates(z, dt=dt).mean()),
            "isi_cv": float(np.nanmean(cv)) if np.isfinite(cv).any() else float("nan"),
            "chi": float(A.synchrony_chi(z, dt=dt, bin_width=1e-3)[0])}


def plot(table, path: Path) -> None:
    plt = pyplot()
    means = table.groupby(["g", "eta"])[["rate_hz", "isi_cv", "chi"]].mean()
    panels = {"rate_hz": ("mean rate (Hz)", "viridis", "{:.0f}"),
              "isi_cv": ("ISI CV (irregularity)", "magma", "{:.2f}"),
              "chi": ("synchrony chi", "cividis", "{:.2f}")}
    fig, axes = plt.subplots(1, 3, figsize=(13.5, 4.2), sharey=True)
    for ax, (col, (label, cmap, fmt)) in zip(axes, panels.items(), strict=True):
        grid = means[col].unstack("g").reindex(index=ETA, columns=G)  # rows eta, columns g
        im = ax.pcolormesh(np.arange(len(G) + 1) - 0.5, np.arange(len(ETA) + 1) - 0.5,
                           grid.to_numpy(), cmap=cmap, shading="flat")
        fig.colorbar(im, ax=ax, label=label)
        for i, eta in enumerate(ETA):
            for j, g in enumerate(G):
                value = grid.loc[eta, g]
                bright = im.norm(value) > 0.6  # these colour maps are light at the top
                ax.text(j, i, fmt.format(value), ha="center", va="center", fontsize=8,
                        color="k" if bright else "w")
        for name, (g, eta) in LANDMARKS.items():
            ax.annotate(name, (G.index(g), ETA.index(eta)), xytext=(0, 11),
                        textcoords="offset points", ha="center", fontsize=8, color="r")
        ax.set(xticks=range(len(G)), xticklabels=[f"{g:g}" for g in G], xlabel="g (I/E strength)",
               yticks=range(len(ETA)), yticklabels=[f"{e:g}" for e in ETA], title=label)
    axes[0].set_ylabel("eta (external drive / threshold)")
    n_e, eps = NET["N_E"], NET["epsilon"]
    fig.suptitle(f"Brunel 2000 model A, N_E = {n_e}, epsilon = {eps}, {DURATION:g} s on Brian2, "
                 f"{table.seed.nunique()} seed(s) per point")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_out(parser)
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes of the LocalCluster (default: one per core)")
    parser.add_argument("--seeds", type=int, default=1, help="seeds per grid point (default 1)")
    parser.add_argument("--store", type=Path, default=None,
                        help="folder keeping finished runs: a second call runs only what is "
                             "missing (default: none, every run is done)")
    args = parser.parse_args()
    out = out_folder(parser, args.out)

    t0 = time.perf_counter()
    table = sc.sweep(functools.partial(brunel2000, **NET), {"g": G, "eta": ETA},
                     seeds=args.seeds, steps=int(round(DURATION / NET["dt"])),
                     record="neurons:spikes", measure=measure, executor="local",
                     workers=args.workers, store=args.store, progress=True)
    wall = time.perf_counter() - t0
    info = table.attrs["sweep"]
    print(f"{info['runs']} runs ({info['ran']} run, {info['from_store']} from the store, "
          f"{info['failed']} failed) on a LocalCluster in {wall:.1f} s; "
          f"sum of run times {table.wall_time.sum():.1f} s")
    if info["failed"]:
        raise SystemExit(f"failed runs:\n{table.loc[table.status != 'ok', ['g', 'eta', 'error']]}")
    for name, (g, eta) in LANDMARKS.items():
        row = table[(table.g == g) & (table.eta == eta)][["rate_hz", "isi_cv", "chi"]].mean()
        print(f"{name:8s} (g={g:g}, eta={eta:g}): rate {row.rate_hz:6.1f} Hz, ISI CV "
              f"{row.isi_cv:.2f}, chi {row.chi:.2f}")
    sr, ai = (table[(table.g == g) & (table.eta == eta)] for g, eta in
              (LANDMARKS["SR"], LANDMARKS["AI"]))
    # The regimes the map is about: SR fires regularly and in synchrony, AI irregularly.
    assert sr.chi.mean() > 2 * ai.chi.mean() and sr.isi_cv.mean() < 0.5 < ai.isi_cv.mean(), \
        "SR and AI landmarks not in their regimes"
    table.to_csv(out / "brunel_phase_diagram.csv", index=False)
    plot(table, out / "brunel_phase_diagram.png")
    print("wrote", out / "brunel_phase_diagram.png", "and", out / "brunel_phase_diagram.csv")


if __name__ == "__main__":  # required: the LocalCluster's worker processes import this file
    main()
