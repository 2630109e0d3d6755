"""Data-parallel training with torch.distributed (DDP): the digits network of
train_digits.py trained on several processes at once, each on its shard of every batch.

    python examples/train_ddp.py [--epochs 4] [--hidden 64] [--batch 64] [--out DIR]   ->  train_ddp.png
    torchrun --standalone --nproc_per_node=2 examples/train_ddp.py [same options]

Plain ``python`` runs one process (a process group of one: the same code path). Under
torchrun every rank builds the same graph and draws the same batch order (one seed),
takes its contiguous shard of each global batch (spikecore.data_parallel.shard; an odd
last batch gives uneven shards, weighted so the gradient stays the global mean) and runs
the module wrapped in DistributedDataParallel (spikecore.data_parallel.wrap), which
averages the gradients over the ranks in ``backward``: all ranks take the same Adam step,
as one process training on the global batches would (float32 here, so up to rounding).

Data, encoding and network are train_digits.py's (scikit-learn's 8x8 digits, latency code,
recurrent LIF, LI readout; BPTT with the SuperSpike surrogate). Rank 0 prints the loss per
epoch (the mean over all samples of the epoch, gathered from the ranks) and its wall time,
checks that the ranks hold identical parameters at the end, prints the test accuracy of
the trained graph under its contract (float64, the test set split over the ranks) and
writes the figure into --out.

Threads: one torch thread per rank by default (``--threads`` to change). The tensors are
small (a [batch, 64] x [64, 64] product per step), so intra-op threads only add
synchronisation, and on a busy machine they wait for each other: on the 2-core machine
this was written on, one process took 10 s per epoch with 2 threads against 0.55 s with 1.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

import spikecore as sc
from spikecore import data_parallel as dp

sys.path.insert(0, str(Path(__file__).resolve().parent))  # also when imported by path
from _common import add_out, out_folder, pyplot  # noqa: E402 - needs the line above
from train_digits import Data, build_graph, load_data  # noqa: E402


def all_sum(*values: float) -> list[float]:
    """``values`` summed over the ranks (for reporting; DDP reduces the gradients)."""
    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t)
    return t.tolist()


def accuracy(graph: sc.Graph, data: Data, ctx: dp.DistributedInfo) -> float:
    """Test accuracy under the contract (float64), each rank scoring its shard."""
    part = dp.shard(len(data.y_test), ctx)
    x, y = part.take(data.x_test, data.y_test)
    module = sc.to_torch(graph, dtype=torch.float64)
    with torch.no_grad():
        out, _ = module(torch.as_tensor(x), layout="btn")
    correct, total = all_sum(float((out.mean(1).argmax(-1).numpy() == y).sum()), len(y))
    return correct / total


def train(ctx: dp.DistributedInfo, data: Data, args: argparse.Namespace) -> dict:
    """BPTT on the weights through DDP; returns what rank 0 reports."""
    torch.manual_seed(args.seed)
    model = dp.wrap(build_graph(args.hidden, args.seed), ctx, dtype=torch.float32,
                    surrogate="superspike", trainable=("weight",))
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    x_all = torch.as_tensor(data.x_train, dtype=torch.float32)
    y_all = torch.as_tensor(data.y_train)
    rng = np.random.default_rng(args.seed)  # same seed on every rank: same global batches
    losses, seconds = [], []
    for epoch in range(args.epochs):
        t0 = time.perf_counter()
        loss_sum = 0.0
        order = rng.permutation(len(y_all))
        for i in range(0, len(order), args.batch):
            idx = order[i:i + args.batch]
            part = dp.shard(len(idx), ctx)
            x, y = part.take(x_all[idx], y_all[idx])
            out, _ = model(x, layout="btn")
            loss = torch.nn.functional.cross_entropy(out.mean(1), y)
            opt.zero_grad()
            (loss * part.loss_weight).backward()
            opt.step()
            loss_sum += loss.item() * len(y)
        total, n = all_sum(loss_sum, len(order) / ctx.world_size)
        seconds.append(time.perf_counter() - t0)
        losses.append(total / n)
        if ctx.is_main:
            print(f"epoch {epoch + 1:>2}/{args.epochs}  loss {losses[-1]:.4f}  "
                  f"{seconds[-1]:5.2f} s", flush=True)
    # Ranks agree? Rank 0's parameters against each rank's own, worst case over ranks.
    flat = torch.cat([p.detach().flatten() for p in model.parameters()])
    ref = flat.clone()
    dist.broadcast(ref, src=0)
    gap = (flat - ref).abs().max()
    dist.all_reduce(gap, op=dist.ReduceOp.MAX)
    return {"trained": sc.from_torch(model.module), "losses": losses, "seconds": seconds,
            "rank_gap": float(gap)}


def plot(result: dict, acc: float, ctx: dp.DistributedInfo, path: Path) -> None:
    plt = pyplot()
    epochs = np.arange(1, len(result["losses"]) + 1)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot(epochs, result["losses"], "o-")
    ax1.set(xlabel="epoch", ylabel="training loss (mean over the epoch)",
            title=f"{ctx.world_size} rank(s), {ctx.backend}: test accuracy {acc:.1%}")
    ax2.bar(epochs, result["seconds"], color="tab:gray")
    for ax in (ax1, ax2):
        ax.set_xticks(epochs)
    ax2.set(xlabel="epoch", ylabel="wall time (s)",
            title=f"{torch.get_num_threads()} torch thread(s) per rank")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--batch", type=int, default=64, help="global batch (over all ranks)")
    ap.add_argument("--lr", type=float, default=5e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads per rank")
    add_out(ap)
    args = ap.parse_args(argv)
    out = out_folder(ap, args.out)  # checked before training, not after
    if args.threads < 1:
        ap.error(f"--threads {args.threads}: need at least 1")
    torch.set_num_threads(args.threads)

    with dp.distributed() as ctx:
        data = load_data(seed=args.seed)
        if ctx.is_main:
            print(f"digits: {len(data.y_train)} train / {len(data.y_test)} test; "
                  f"{ctx.world_size} rank(s) ({ctx.backend}, {ctx.device}), "
                  f"{torch.get_num_threads()} torch thread(s) each; global batch {args.batch}")
        result = train(ctx, data, args)
        acc = accuracy(result["trained"], data, ctx)
        if ctx.is_main:
            print(f"ranks hold identical parameters: {result['rank_gap'] == 0.0} "
                  f"(max difference {result['rank_gap']:.1e})")
            print(f"mean wall time per epoch after the first: "
                  f"{np.mean(result['seconds'][1:] or result['seconds']):.2f} s")
            print(f"test accuracy of the trained graph (float64 contract): {acc:.1%}")
            plot(result, acc, ctx, out / "train_ddp.png")
            print(f"wrote {out / 'train_ddp.png'}")
    return 0 if result["rank_gap"] == 0.0 and acc > 0.3 else 1


if __name__ == "__main__":
    raise SystemExit(main())
