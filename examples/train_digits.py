"""Train a recurrent spiking network on scikit-learn's 8x8 digits, save it as NIR, and
check that Brian2 and Lava run the saved file exactly like the torch model.

    python examples/train_digits.py [--epochs 30] [--hidden 96] [--out FOLDER]

writes FOLDER/digits_rsnn.nir (default folder examples/out, as every example)

Encoding (latency): pixel intensity p in [0, 16] becomes one spike at step
round((1 - p/16) * (T_ENC - 1)) (bright pixels fire first; p = 0 never fires), followed by
T - T_ENC silent steps so the readout can settle. Network, under Semantics(dt = 1 ms,
forward Euler, reset to value): Input(64) -> Linear -> recurrent LIF (hidden -> hidden
with a one-step delay) -> Linear -> LI readout (10) -> Output. The class is the readout
with the largest time-averaged voltage. Training: BPTT with the SuperSpike surrogate
through spikecore.to_torch (float32), Adam, cross-entropy on the time-averaged readout.
The digits data ship inside scikit-learn (no download).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

import spikecore as sc
from spikecore import primitives as P

sys.path.insert(0, str(Path(__file__).resolve().parent))  # also when imported by path
from _common import add_out, out_folder  # noqa: E402 - needs the line above

N_IN, N_CLASSES = 64, 10
T_ENC, T = 16, 24
DT = 1e-3


@dataclass
class Data:
    x_train: np.ndarray  # [n, T, 64] spikes (float64 0/1)
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def encode(images: np.ndarray) -> np.ndarray:
    """Latency code: [n, 64] intensities in [0, 16] -> [n, T, 64] single spikes."""
    images = np.asarray(images, dtype=np.float64)
    out = np.zeros((images.shape[0], T, N_IN))
    step = np.rint((1.0 - images / 16.0) * (T_ENC - 1)).astype(int)
    n_idx, p_idx = np.nonzero(images > 0)
    out[n_idx, step[n_idx, p_idx], p_idx] = 1.0
    return out


def load_data(test_fraction: float = 0.25, seed: int = 0) -> Data:
    from sklearn.datasets import load_digits  # ships with scikit-learn: no download

    digits = load_digits()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(digits.target))
    n_test = int(round(test_fraction * len(order)))
    test, train = order[:n_test], order[n_test:]
    x = encode(digits.data)
    y = digits.target.astype(np.int64)
    return Data(x[train], y[train], x[test], y[test])


def build_graph(n_hidden: int = 96, seed: int = 0) -> sc.Graph:
    """The untrained network (weights drawn with a fixed seed)."""
    rng = np.random.default_rng(seed)
    h = n_hidden
    nodes = {
        "in": P.Input(np.array([N_IN])),
        "w_in": P.Linear(weight=rng.normal(0.0, 2.5 / np.sqrt(N_IN), (h, N_IN))),
        "hidden": P.LIF(tau=np.full(h, 10e-3), r=np.full(h, 10.0), v_leak=np.zeros(h),
                        v_threshold=np.ones(h), v_reset=np.zeros(h)),
        "w_rec": P.Linear(weight=rng.normal(0.0, 0.5 / np.sqrt(h), (h, h))),
        "w_out": P.Linear(weight=rng.normal(0.0, 1.0 / np.sqrt(h), (N_CLASSES, h))),
        "readout": P.LI(tau=np.full(N_CLASSES, 20e-3), r=np.full(N_CLASSES, 20.0),
                        v_leak=np.zeros(N_CLASSES)),
        "out": P.Output(np.array([N_CLASSES])),
    }
    edges = [("in", "w_in"), ("w_in", "hidden"), ("hidden", "w_rec", 1), ("w_rec", "hidden"),
             ("hidden", "w_out"), ("w_out", "readout"), ("readout", "out")]
    return sc.Graph(nodes, edges, sc.Semantics(dt=DT, integrator="euler", reset="to_value"),
                    name="digits_rsnn")


def _progress(epoch: int, epochs: int, done: int, total: int, loss: float, t0: float) -> None:
    width = 28
    frac = done / total
    bar = "#" * int(width * frac) + "-" * (width - int(width * frac))
    sys.stdout.write(f"\repoch {epoch + 1:>2}/{epochs} [{bar}] {done:>4}/{total} "
                     f"loss {loss:.3f} {time.perf_counter() - t0:5.1f}s")
    sys.stdout.flush()


def predict(module: torch.nn.Module, x: np.ndarray, batch: int = 512) -> np.ndarray:
    dtype = next(module.parameters()).dtype
    preds = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            out, _ = module(torch.as_tensor(x[i:i + batch], dtype=dtype))
            preds.append(out.mean(1).argmax(-1).numpy())
    return np.concatenate(preds)


def train(graph: sc.Graph, data: Data, epochs: int = 30, batch: int = 64, lr: float = 5e-3,
          seed: int = 0, max_train: int | None = None, progress: bool = True) -> sc.Graph:
    """BPTT on the weights; returns the trained graph (spikecore.from_torch)."""
    torch.manual_seed(seed)
    module = sc.to_torch(graph, dtype=torch.float32, surrogate="superspike",
                         trainable=("weight",))
    opt = torch.optim.Adam(module.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs))
    x_all, y_all = data.x_train, data.y_train
    if max_train is not None:
        x_all, y_all = x_all[:max_train], y_all[:max_train]
    x_t = torch.as_tensor(x_all, dtype=torch.float32)
    y_t = torch.as_tensor(y_all)
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    for epoch in range(epochs):
        order = rng.permutation(len(y_t))
        running = 0.0
        for k, i in enumerate(range(0, len(order), batch)):
            idx = torch.as_tensor(order[i:i + batch])
            out, _ = module(x_t[idx])
            loss = torch.nn.functional.cross_entropy(out.mean(1), y_t[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            running = 0.9 * running + 0.1 * float(loss) if k else float(loss)
            if progress:
                _progress(epoch, epochs, min(i + batch, len(order)), len(order), running, t0)
        sched.step()
        if progress:
            sys.stdout.write("\n")
    return sc.from_torch(module)


def accuracy_on(graph: sc.Graph, x: np.ndarray, y: np.ndarray) -> float:
    """Test accuracy of a graph under its contract (float64 torch lowering)."""
    module = sc.to_torch(graph, dtype=torch.float64)
    return float((predict(module, x) == y).mean())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--hidden", type=int, default=96)
    ap.add_argument("--seed", type=int, default=0)
    add_out(ap)
    ap.add_argument("--compare-samples", type=int, default=60,
                    help="test samples run on Brian2/Lava for the agreement check")
    args = ap.parse_args(argv)
    out = out_folder(ap, args.out)  # checked before 70 s of training, not after
    torch.set_num_threads(2)

    data = load_data(seed=args.seed)
    print(f"digits: {len(data.y_train)} train / {len(data.y_test)} test, latency code "
          f"over {T} steps of {DT * 1e3:g} ms")
    trained = train(build_graph(args.hidden, args.seed), data, epochs=args.epochs,
                    seed=args.seed)
    path = sc.write(trained, out / "digits_rsnn.nir")
    saved = sc.read(path)
    acc = accuracy_on(saved, data.x_test, data.y_test)
    print(f"saved {path}; test accuracy of the saved file (float64 contract): {acc:.1%}")

    x = data.x_test[:args.compare_samples]
    report = sc.compare(saved, {"in": x}, backends=("torch", "brian2", "lava"),
                        record=("spikes", "v"))
    print(report.table())
    preds = {}
    for name, result in report.results.items():
        preds[name] = result.outputs["out"].mean(1).argmax(-1)
        print(f"{name}: accuracy on these {len(x)} samples "
              f"{(preds[name] == data.y_test[:len(x)]).mean():.1%}")
    for name, p in preds.items():
        if name != "torch" and "torch" in preds:
            print(f"predictions identical norse vs {name}: {bool((p == preds['torch']).all())}")
    return 0 if acc >= 0.9 and report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
