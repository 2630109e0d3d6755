"""From events to a trained, compared model: a synthetic event-camera dataset through tonic,
a spiking network trained in torch, and the trained graph run on Brian2 and torch with the
same spikes.

Data: ``MovingBars``, a tonic-style dataset (indexable, yielding ``(events, label)``, with
a ``sensor_size``, as ``tonic.datasets`` are) of a bright bar crossing a 16 x 16 sensor in
one of four directions (right, left, down, up: the labels) at a random position, length
and speed. Each recording is rendered every 0.25 ms and turned into ON/OFF events as an
event camera's pixels do (spikecore.encoders.delta: an event when a pixel's intensity has
moved by more than a threshold since its last event), stamped in microseconds with jitter,
plus background noise events. spikecore.events bins each recording into 1 ms frames with
tonic's ToFrame ([30 steps, 2 polarities, 16, 16], at most one spike per pixel and step).
The direction is in the polarities: a bar moving right has ON events at its right edge and
OFF events at its left edge.

Network: Input(2, 16, 16) -> Flatten -> Linear -> LIF(64) -> Linear -> LI(4) -> Output,
Semantics(dt = 1 ms, forward Euler, reset to value); the class is the readout with the
largest time-averaged voltage. Trained with spikecore.to_torch (BPTT, SuperSpike
surrogate, Adam, float32) for a few epochs on CPU, written back with spikecore.from_torch,
then spikecore.compare runs held-out recordings on Brian2 and torch (float64): identical
spikes and identical predictions are asserted.

    python examples/events_to_model.py [--out DIR]   ->  events_to_model.png
    (and a raster of the comparison, spikecore.plot.raster   ->  events_to_model_raster.png)
"""

from __future__ import annotations

import time

import nir
import numpy as np
import torch
from _common import parse_out, pyplot

import spikecore as sc
from spikecore import encoders
from spikecore import events as sc_events
from spikecore import primitives as P
from spikecore.testing import assert_same_spikes

SIZE, STEPS, DT = 16, 30, 1e-3              # 16 x 16 pixels, 30 steps of 1 ms
SENSOR = (SIZE, SIZE, 2)                     # tonic's (width, height, polarities)
SUBSTEPS = 4                                 # rendering: 0.25 ms
DIRECTIONS = ("right", "left", "down", "up")
N_HIDDEN, EPOCHS, BATCH, N_TRAIN, N_TEST, N_COMPARE = 64, 4, 32, 384, 256, 48


class MovingBars:
    """Four classes of a bar sweeping across the sensor; recording ``i`` has label ``i % 4``
    and is drawn from ``numpy.random.default_rng([seed, i])`` (the same every time)."""

    sensor_size = SENSOR

    def __init__(self, n: int, seed: int, threshold: float = 0.3, noise_events: float = 300.0):
        self.n, self.seed, self.threshold, self.noise_events = n, seed, threshold, noise_events

    def __len__(self) -> int:
        return self.n

    def video(self, label: int, rng: np.random.Generator) -> np.ndarray:
        """Intensity [STEPS * SUBSTEPS, y, x]: a 2-pixel bar with 1-pixel soft edges."""
        speed = rng.uniform(0.25, 0.45)                    # pixels per ms
        travel = speed * STEPS
        start = rng.uniform(0.0, SIZE - 1 - travel)
        length = rng.uniform(6.0, 12.0)
        centre = rng.uniform(length / 2, SIZE - length / 2)
        tau = np.arange(STEPS * SUBSTEPS) / SUBSTEPS       # ms
        pos = start + speed * tau
        if label in (1, 3):                                # left / up: mirrored
            pos = SIZE - 1 - pos
        coord = np.arange(SIZE, dtype=np.float64)
        across = np.clip(1.5 - np.abs(coord[None, :] - pos[:, None]), 0.0, 1.0)   # [time, c]
        along = np.clip(length / 2 + 0.5 - np.abs(coord - centre), 0.0, 1.0)      # [c]
        if label in (0, 1):     # vertical bar moving along x: image[t, y, x]
            return along[None, :, None] * across[:, None, :]
        return across[:, :, None] * along[None, None, :]   # horizontal bar moving along y

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        if not 0 <= i < self.n:
            raise IndexError(i)
        rng = np.random.default_rng([self.seed, i])
        label = i % len(DIRECTIONS)
        # A DVS pixel: ON (p=1) / OFF (p=0) when the intensity moved by > threshold.
        split = encoders.delta(self.video(label, rng)[None], self.threshold)[0]  # [t, p, y, x]
        j, p, y, x = np.nonzero(split)
        t_us = j * (1000 // SUBSTEPS) + rng.integers(0, 1000 // SUBSTEPS, j.size)
        k = rng.poisson(self.noise_events)
        x = np.concatenate([x, rng.integers(0, SIZE, k)])
        y = np.concatenate([y, rng.integers(0, SIZE, k)])
        t_us = np.concatenate([t_us, rng.integers(0, STEPS * 1000, k)])
        p = np.concatenate([p, rng.integers(0, 2, k)]).astype(bool)
        return sc_events.make_events(x=x, y=y, t=t_us, p=p), label


def build_graph(seed: int = 0) -> sc.Graph:
    rng = np.random.default_rng(seed)
    n_in, h, k = 2 * SIZE * SIZE, N_HIDDEN, len(DIRECTIONS)
    frame = np.array([2, SIZE, SIZE])
    nodes = {
        "in": P.Input(frame),
        "flat": nir.Flatten(input_type={"input": frame}, start_dim=0, end_dim=-1),
        "w_in": P.Linear(weight=rng.normal(0.0, 3.0 / np.sqrt(n_in), (h, n_in))),
        "hidden": P.LIF(tau=np.full(h, 10e-3), r=np.full(h, 10.0), v_leak=np.zeros(h),
                        v_threshold=np.ones(h), v_reset=np.zeros(h)),
        "w_out": P.Linear(weight=rng.normal(0.0, 1.0 / np.sqrt(h), (k, h))),
        "readout": P.LI(tau=np.full(k, 20e-3), r=np.full(k, 20.0), v_leak=np.zeros(k)),
        "out": P.Output(np.array([k])),
    }
    edges = [("in", "flat"), ("flat", "w_in"), ("w_in", "hidden"), ("hidden", "w_out"),
             ("w_out", "readout"), ("readout", "out")]
    return sc.Graph(nodes, edges, sc.Semantics(dt=DT, integrator="euler", reset="to_value"),
                    name="moving_bars_snn")


def predict(module: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    dtype = next(module.parameters()).dtype
    with torch.no_grad():
        out, _ = module(torch.as_tensor(x, dtype=dtype), layout="btn")
    return out.mean(1).argmax(-1).numpy()


def main() -> int:
    out_dir = parse_out(__doc__.splitlines()[0])
    torch.set_num_threads(2)
    torch.manual_seed(0)
    t_start = time.perf_counter()

    # ---- events -> frames through tonic (spikecore.events)
    train_set, test_set = MovingBars(N_TRAIN, seed=1), MovingBars(N_TEST, seed=2)
    n_events = [len(train_set[i][0]) for i in range(8)]
    x_train, y_train = sc_events.event_arrays(train_set, DT, STEPS, binary=True)
    x_test, y_test = sc_events.event_arrays(test_set, DT, STEPS, binary=True)
    print(f"MovingBars: {N_TRAIN} train / {N_TEST} test recordings, ~{np.mean(n_events):.0f} "
          f"events each -> tonic ToFrame -> {x_train.shape[1:]} spikes per recording "
          f"({time.perf_counter() - t_start:.1f} s)")

    # ---- train with spikecore.to_torch
    graph = build_graph()
    module = sc.to_torch(graph, dtype=torch.float32, surrogate="superspike")
    opt = torch.optim.Adam(module.parameters(), lr=5e-3)
    xt, yt = torch.as_tensor(x_train, dtype=torch.float32), torch.as_tensor(y_train)
    rng = np.random.default_rng(0)
    curve = [(0, float((predict(module, x_test) == y_test).mean()), np.nan)]
    t0 = time.perf_counter()
    for epoch in range(1, EPOCHS + 1):
        losses = []
        order = rng.permutation(N_TRAIN)
        for i in range(0, N_TRAIN, BATCH):
            idx = torch.as_tensor(order[i:i + BATCH])
            out, _ = module(xt[idx], layout="btn")
            loss = torch.nn.functional.cross_entropy(out.mean(1), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        curve.append((epoch, float((predict(module, x_test) == y_test).mean()),
                      float(np.mean(losses))))
        print(f"epoch {epoch}/{EPOCHS}  loss {curve[-1][2]:.3f}  test accuracy "
              f"{curve[-1][1]:.1%}")
    print(f"training: {EPOCHS} epochs in {time.perf_counter() - t0:.1f} s")

    # ---- the trained graph: accuracy under the contract, then Brian2 vs torch
    trained = sc.from_torch(module)
    pred_test = predict(sc.to_torch(trained, dtype=torch.float64), x_test)
    acc = float((pred_test == y_test).mean())
    print(f"test accuracy of the trained graph (float64 contract): {acc:.1%} (chance 25%)")
    x_cmp, y_cmp = x_test[:N_COMPARE], y_test[:N_COMPARE]
    report = sc.compare(trained, x_cmp, backends=("brian2", "torch"), layout="btn",
                        record=("spikes", "v"))
    print(report.table())
    assert_same_spikes(report.results["brian2"], report.results["torch"])
    preds = {name: r.outputs["out"].mean(1).argmax(-1) for name, r in report.results.items()}
    for name, p in preds.items():
        print(f"{name}: accuracy on these {N_COMPARE} recordings {(p == y_cmp).mean():.1%}")
    same = bool(np.array_equal(preds["brian2"], preds["torch"]))
    pair = report.pairs[0]
    print(f"agreement Brian2 vs torch: spikes {100 * pair.spike_agreement:.3f}% equal, "
          f"predictions identical: {same}")

    # ---- figures
    plt = pyplot()
    fig = plt.figure(figsize=(13, 6.5))
    grid = fig.add_gridspec(2, 5)
    for c, name in enumerate(DIRECTIONS):
        ax = fig.add_subplot(grid[0, c])
        i = int(np.nonzero(y_test == c)[0][0])
        frames = x_test[i]                                           # [t, p, y, x]
        signed = frames[:, 1] - frames[:, 0]                         # ON - OFF
        st = signed.sum(1) if c in (0, 1) else signed.sum(2)         # [t, x] or [t, y]
        ax.imshow(st.T, cmap="RdBu_r", vmin=-6, vmax=6, aspect="auto", origin="lower")
        ax.set(title=f"{name}: ON (red) - OFF (blue)", xlabel="step (ms)",
               ylabel="x (summed over y)" if c in (0, 1) else "y (summed over x)")
    ax = fig.add_subplot(grid[0, 4])
    confusion = np.zeros((len(DIRECTIONS), len(DIRECTIONS)))
    np.add.at(confusion, (y_test, pred_test), 1)
    ax.imshow(confusion, cmap="Blues")
    for (r, c), n in np.ndenumerate(confusion):
        ax.text(c, r, f"{n:.0f}", ha="center", va="center", fontsize=8)
    ax.set(xticks=range(4), yticks=range(4), xticklabels=DIRECTIONS, yticklabels=DIRECTIONS,
           xlabel="predicted", ylabel="true", title="test set (float64 contract)")
    ax = fig.add_subplot(grid[1, :2])
    ep, accs, losses = zip(*curve, strict=True)
    ax.plot(ep, accs, "o-", label="test accuracy")
    ax.plot(ep, losses, "s--", label="train loss")
    ax.axhline(0.25, color="gray", ls=":", label="chance")
    ax.set(xlabel="epoch", title="training (sc.to_torch, BPTT)")
    ax.legend()
    ax = fig.add_subplot(grid[1, 2:])
    for name, style in (("brian2", "-"), ("torch", ":")):
        v = report.results[name].traces["readout"]["v"][0]
        for c in range(len(DIRECTIONS)):
            ax.plot(v[:, c], style, color=f"C{c}", label=f"{DIRECTIONS[c]} ({name})")
    ax.set(xlabel="step (ms)", ylabel="readout v",
           title=f"recording 0 (label {DIRECTIONS[y_cmp[0]]}): Brian2 (solid) = torch (dotted)")
    ax.legend(ncol=2, fontsize=7)
    fig.tight_layout()
    fig.savefig(out_dir / "events_to_model.png", dpi=110)
    sc.plot.raster(report).savefig(out_dir / "events_to_model_raster.png", dpi=110)
    print(f"wrote {out_dir / 'events_to_model.png'} and events_to_model_raster.png "
          f"(total {time.perf_counter() - t_start:.1f} s)")
    return 0 if report.ok and same and acc >= 0.8 else 1


if __name__ == "__main__":
    raise SystemExit(main())
