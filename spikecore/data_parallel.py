"""Data-parallel training of a spikecore module with ``torch.distributed`` (DDP).

Every process (a *rank*) holds a full copy of the module made by
:func:`spikecore.to_torch`, runs its shard of each global batch, and PyTorch's
``DistributedDataParallel`` averages the gradients over the ranks during ``backward``,
so every rank takes the same optimiser step. A few lines::

    import torch
    import spikecore as sc
    from spikecore import data_parallel as dp

    def train(ctx: dp.DistributedInfo) -> sc.Graph:
        model = dp.wrap(graph, ctx, dtype=torch.float64)  # DDP around sc.to_torch(graph)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        for x, y in global_batches:                   # same batches, same order, every rank
            shard = dp.shard(len(y), ctx)
            xs, ys = shard.take(x, y)
            out, _ = model(xs)
            loss = torch.nn.functional.cross_entropy(out.mean(1), ys) * shard.loss_weight
            opt.zero_grad()
            loss.backward()
            opt.step()
        return sc.from_torch(model.module)

    with dp.distributed() as ctx:                     # torchrun's variables, or one process
        trained = train(ctx)                          # the DDP model is freed on return

Launch with ``torchrun --standalone --nproc_per_node=2 script.py`` (one machine) or as a
plain ``python script.py`` (one process, a group of size 1, the same code path).
:func:`spawn` starts ranks from Python (tests, notebooks). The process group is Gloo on
CPU and NCCL when CUDA is present; each rank then uses ``cuda:LOCAL_RANK``.

What holds, and why (checked by ``tests/test_data_parallel.py`` on 2 Gloo ranks, float64):

* **Gradients equal single-process training on the global batch** (to rounding, 1e-12
  relative), even when the global batch does not divide by the number of ranks:
  :class:`Shard` gives uneven shards (sizes differ by at most one) and
  :attr:`Shard.loss_weight`, ``world_size * local / global``, turns DDP's mean over ranks
  of per-shard mean losses into the mean over the global batch. Pass
  ``require_even=True`` to refuse uneven batches instead.
* **Buffers** (frozen NIR parameters and the coefficients derived from them) are never
  written by the module's forward, so :func:`wrap` broadcasts them from rank 0 once, when
  DDP is built, and not before every forward (``forward_sync_buffers=False``): one
  collective less per step, and a forward on one rank alone (evaluation under
  ``torch.no_grad()``) needs no other.
* **State passing** works through the wrapper: ``out, state = model(x, state)``, with
  several calls feeding one ``backward`` (full BPTT over chunks) or one ``backward`` per
  chunk and :func:`detach_state` in between (truncated BPTT).
* **Unused parameters.** When every trainable node lies on a path to the Output the loss
  uses, every parameter gets a gradient (``trainable="all"`` included), so
  ``find_unused_parameters`` stays ``False`` (no extra autograd traversal per step). A
  trainable parameter that never reaches the loss (a second Output the loss ignores, a
  dead branch) makes DDP fail at the next step ("Expected to have finished reduction in
  the prior iteration..."): freeze it (``requires_grad_(False)``) or pass
  ``find_unused_parameters=True``; :func:`unused_parameters` names them after one
  ``backward``.
* Every rank must run the same number of steps (DDP's collectives pair up): shard each
  global batch, never the data set into unequal numbers of batches.

``import torch`` already imports ``torch.distributed``; this module is not imported by
``import spikecore``, so plain simulation never pays for it.
"""

from __future__ import annotations

import datetime
import gc
import operator
import os
import pickle
import socket
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from .backends.torch.module import detach_state
from .errors import InputError, SpikecoreError
from .graph import Graph

__all__ = ["DistributedInfo", "Shard", "current", "detach_state", "distributed", "init_from_env",
           "shard", "spawn", "unused_parameters", "unwrap", "wrap"]

#: What torchrun sets for each worker; a launch sets all of them or none.
TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
SPLITS = ("contiguous", "strided")


# ============================================================================ processes
@dataclass(frozen=True)
class DistributedInfo:
    """Where this process stands in the process group."""

    rank: int
    world_size: int
    local_rank: int
    #: ``"gloo"``, ``"nccl"``...; the default group's backend.
    backend: str
    #: The device this rank trains on: ``cuda:LOCAL_RANK`` under NCCL, else CPU.
    device: torch.device
    #: Whether :func:`init_from_env` created the group (and :func:`distributed` ends it).
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that prints, saves and plots."""
        return self.rank == 0


def _env_int(name: str) -> int:
    value = os.environ[name]
    try:
        return int(value)
    except ValueError:
        raise InputError(f"environment variable {name}={value!r} is not an integer") from None


def _default_backend() -> str:
    return "nccl" if torch.cuda.is_available() and dist.is_nccl_available() else "gloo"


def _device_for(backend: str, local_rank: int) -> torch.device:
    if backend != "nccl":
        return torch.device("cpu")
    if local_rank >= torch.cuda.device_count():
        raise InputError(f"LOCAL_RANK={local_rank} but only {torch.cuda.device_count()} CUDA "
                         "device(s) here: start at most that many processes per node "
                         "(--nproc_per_node)")
    return torch.device("cuda", local_rank)


def current() -> DistributedInfo:
    """The running process group as a :class:`DistributedInfo` (rank 0 of 1 on CPU when no
    group exists)."""
    if not dist.is_initialized():
        return DistributedInfo(0, 1, 0, "none", torch.device("cpu"))
    backend = str(dist.get_backend())
    local = int(os.environ.get("LOCAL_RANK", dist.get_rank()))
    return DistributedInfo(dist.get_rank(), dist.get_world_size(), local, backend,
                           _device_for(backend, local))


def init_from_env(backend: str | None = None,
                  timeout: datetime.timedelta = datetime.timedelta(minutes=5)
                  ) -> DistributedInfo:
    """Join (or create) the default process group from torchrun's environment variables.

    Under ``torchrun`` (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``,
    ``MASTER_PORT`` set) this rank joins the group; without any of them it creates a group
    of one process (an in-memory store, no port), so the same script runs as plain
    ``python``. A group that already exists is returned as it is.

    Args:
        backend: ``"gloo"`` or ``"nccl"`` (or another one this torch has); default NCCL
            when CUDA is present, else Gloo. Under NCCL each rank selects
            ``cuda:LOCAL_RANK``.
        timeout: how long a collective waits for the other ranks before failing (a rank
            that died or never started).

    Raises:
        InputError: some of torchrun's variables set but not all, not integers, a rank
            outside the world, an unknown or unavailable backend, or NCCL without CUDA.
    """
    if dist.is_initialized():
        return current()
    if not dist.is_available():  # pragma: no cover - builds without distributed support
        raise SpikecoreError(f"this torch ({torch.__version__}) was built without "
                             "torch.distributed; install a standard build")
    backend = backend or _default_backend()
    if not isinstance(backend, str) or not dist.is_backend_available(backend):
        known = [b for b in ("gloo", "nccl", "mpi", "ucc") if dist.is_backend_available(b)]
        raise InputError(f"backend={backend!r} is not available in this torch "
                         f"({torch.__version__}); available here: {known}")
    if backend == "nccl" and not torch.cuda.is_available():
        raise InputError("backend='nccl' needs CUDA devices (torch.cuda.is_available() is "
                         "False); use backend='gloo' on CPU")
    present = [v for v in TORCHRUN_VARS if v in os.environ]
    if not present:
        device = _device_for(backend, 0)
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend, store=dist.HashStore(), rank=0, world_size=1,
                                timeout=timeout)
        return DistributedInfo(0, 1, 0, backend, device, owns_group=True)
    missing = [v for v in TORCHRUN_VARS if v not in os.environ]
    if missing:
        raise InputError(f"environment variables {missing} are not set but {present} are: "
                         "launch with `torchrun --nproc_per_node=N script.py` (which sets "
                         f"all of {list(TORCHRUN_VARS)}), or set all of them, or none for "
                         "one process")
    rank, world, local = (_env_int(v) for v in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    if world < 1 or not 0 <= rank < world or local < 0:
        raise InputError(f"RANK={rank}, WORLD_SIZE={world}, LOCAL_RANK={local}: need "
                         "WORLD_SIZE >= 1, 0 <= RANK < WORLD_SIZE and LOCAL_RANK >= 0")
    device = _device_for(backend, local)
    if device.type == "cuda":
        torch.cuda.set_device(device)  # before NCCL creates its communicator on a device
    dist.init_process_group(backend, init_method="env://", rank=rank, world_size=world,
                            timeout=timeout)
    return DistributedInfo(rank, world, local, backend, device, owns_group=True)


@contextmanager
def distributed(backend: str | None = None,
                timeout: datetime.timedelta = datetime.timedelta(minutes=5)
                ) -> Iterator[DistributedInfo]:
    """:func:`init_from_env` for the ``with`` block; the group it created is destroyed at
    the end.

    Build the DDP model inside a function called in the block (or ``del`` it before the
    block ends), so that it is freed (garbage is collected here) before the group is
    destroyed. A DDP module that outlives the group holds it until interpreter exit, and
    there, on this machine (torch 2.13, Gloo, 2 ranks), 3 runs in 90 aborted after training
    had finished (``terminate called without an active exception``, SIGABRT, no Python
    frame); with the module freed first, none in 85.
    """
    info = init_from_env(backend, timeout)
    try:
        yield info
    finally:
        if info.owns_group and dist.is_initialized():
            gc.collect()  # free DDP reducers (reference cycles) while the group exists
            dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawned(rank: int, fn: Callable[..., Any], nprocs: int, port: int, threads: int,
             folder: str, args: tuple) -> None:
    """One rank started by :func:`spawn`: torchrun's variables, threads, then ``fn``."""
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(nprocs),
                      LOCAL_WORLD_SIZE=str(nprocs), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(threads)
    result = fn(*args)
    # A file, not a pipe: a result larger than the pipe buffer would block the rank while
    # the parent waits for it to exit.
    with open(Path(folder) / f"rank{rank}.pkl", "wb") as f:
        pickle.dump(result, f)


def spawn(fn: Callable[..., Any], nprocs: int = 2, args: Sequence[Any] = (), *,
          threads: int | None = None) -> list[Any]:
    """Run ``fn(*args)`` in ``nprocs`` fresh processes on this machine, as
    ``torchrun --standalone --nproc_per_node=nprocs`` would, and return each rank's
    return value (rank order).

    ``fn`` must be importable by name (a module-level function) and its return value
    picklable; it sets up the group itself (``with distributed() as ctx:``), so one
    function runs under torchrun and here alike. The rendezvous uses a free local port.

    Args:
        fn: the per-rank function.
        nprocs: number of ranks.
        args: arguments passed to ``fn`` in every rank.
        threads: torch intra-op threads per rank (default: the cores shared out,
            ``max(1, cpu_count // nprocs)``, so ranks do not oversubscribe the cores).

    Raises:
        InputError: ``nprocs`` or ``threads`` below 1.
        torch.multiprocessing.ProcessRaisedException: a rank raised (its traceback is in
            the message); the other ranks are terminated.
    """
    import torch.multiprocessing as mp

    if not isinstance(nprocs, int) or nprocs < 1:
        raise InputError(f"nprocs={nprocs!r}: need an integer >= 1")
    if threads is None:
        threads = max(1, (os.cpu_count() or 1) // nprocs)
    if not isinstance(threads, int) or threads < 1:
        raise InputError(f"threads={threads!r}: need an integer >= 1")
    with tempfile.TemporaryDirectory(prefix="spikecore-spawn-") as folder:
        mp.spawn(_spawned, args=(fn, nprocs, _free_port(), threads, folder, tuple(args)),
                 nprocs=nprocs, join=True)
        out = []
        for rank in range(nprocs):
            with open(Path(folder) / f"rank{rank}.pkl", "rb") as f:
                out.append(pickle.load(f))
    return out


# ============================================================================ the model
def wrap(model: Graph | nn.Module, info: DistributedInfo | None = None, *,
         device: str | torch.device | None = None, find_unused_parameters: bool = False,
         ddp_options: Mapping[str, Any] | None = None,
         **to_torch_options: Any) -> DistributedDataParallel:
    """``model`` (a graph, lowered here with :func:`spikecore.to_torch`, or a module it
    made) as a ``DistributedDataParallel`` module on this rank's device.

    Call it on every rank with the same graph: DDP broadcasts rank 0's parameters and
    buffers once, so all ranks start equal even if their copies differed. Call the result
    like the module, ``out, state = model(x, state)``; the module itself is
    ``model.module`` (for :func:`spikecore.from_torch`, saving, evaluation on one rank).

    Args:
        model: a :class:`~spikecore.graph.Graph`, or an ``nn.Module`` from
            :func:`spikecore.to_torch`.
        info: this process's place in the group (default: the running group).
        device: override the device (default ``info.device``: ``cuda:LOCAL_RANK`` under
            NCCL, else CPU).
        find_unused_parameters: see the module docs: only needed when some trainable
            parameter does not reach the loss.
        ddp_options: further ``DistributedDataParallel`` keywords (e.g.
            ``gradient_as_bucket_view=True``, ``forward_sync_buffers=True``).
        **to_torch_options: passed to :func:`spikecore.to_torch` for a graph (``dtype``,
            ``surrogate``, ``trainable``...).

    Raises:
        InputError: no process group (use :func:`distributed` or :func:`init_from_env`),
            an already wrapped model, options for a graph given with a module, a device
            this machine lacks, or a module without trainable parameters.
    """
    from .backends.torch.devices import resolve_device

    if not dist.is_initialized():
        raise InputError("no process group: start one first (`with "
                         "spikecore.data_parallel.distributed() as ctx:` or "
                         "init_from_env()), then wrap(graph, ctx)")
    info = info or current()
    if isinstance(model, DistributedDataParallel):
        raise InputError("the model is already wrapped in DistributedDataParallel; pass the "
                         "graph or model.module")
    if "device" in to_torch_options:
        raise InputError("give device= to wrap() itself (it defaults to this rank's device)")
    dev = resolve_device(device if device is not None else info.device)
    if isinstance(model, Graph):
        from . import to_torch

        module = to_torch(model, **to_torch_options)
    elif isinstance(model, nn.Module):
        if to_torch_options:
            raise InputError(f"options {sorted(to_torch_options)} lower a graph; this model "
                             "is already a module (pass the graph to have wrap lower it)")
        module = model
    else:
        raise InputError(f"wrap() takes a spikecore Graph or a torch module, got "
                         f"{type(model).__name__}")
    if not any(p.requires_grad for p in module.parameters()):
        raise InputError("the module has no trainable parameter, so there is nothing for DDP "
                         "to synchronise; choose some with to_torch's trainable=...")
    module = module.to(dev)
    options: dict[str, Any] = {"forward_sync_buffers": False}  # why: see the module docs
    options.update(ddp_options or {})
    if "broadcast_buffers" in options:  # deprecated spelling of forward_sync_buffers
        options.pop("forward_sync_buffers")
    device_ids = [dev.index] if dev.type == "cuda" else None  # CPU modules take none
    return DistributedDataParallel(module, device_ids=device_ids,
                                   find_unused_parameters=find_unused_parameters, **options)


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a ``DistributedDataParallel`` wrapper (other modules as given)."""
    return model.module if isinstance(model, DistributedDataParallel) else model


def unused_parameters(model: nn.Module) -> list[str]:
    """Names of trainable parameters without a gradient, after one ``backward`` (the ones
    that make DDP fail unless frozen or ``find_unused_parameters=True``)."""
    return [n for n, p in unwrap(model).named_parameters() if p.requires_grad and p.grad is None]


# ============================================================================ the data
@dataclass(frozen=True)
class Shard:
    """This rank's part of a global batch of ``global_size`` samples.

    ``split="contiguous"``: rank ``r`` takes one block, in rank order, the first
    ``global_size % world_size`` ranks one sample more (as ``numpy.array_split``).
    ``split="strided"``: rank ``r`` takes samples ``r, r + world_size, ...``.
    Either way every sample is on exactly one rank.
    """

    rank: int
    world_size: int
    global_size: int
    split: str = "contiguous"

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise InputError(f"split={self.split!r}: expected one of {list(SPLITS)}")
        if not 0 <= self.rank < self.world_size <= self.global_size:
            raise InputError(f"Shard(rank={self.rank}, world_size={self.world_size}, "
                             f"global_size={self.global_size}): need 0 <= rank < world_size "
                             "<= global_size (every rank at least one sample)")

    @property
    def index(self) -> slice:
        """The samples of this rank, as a slice of the batch axis."""
        if self.split == "strided":
            return slice(self.rank, self.global_size, self.world_size)
        base, extra = divmod(self.global_size, self.world_size)
        start = self.rank * base + min(self.rank, extra)
        return slice(start, start + base + (self.rank < extra))

    @property
    def size(self) -> int:
        """Number of samples on this rank."""
        return len(range(self.global_size)[self.index])

    @property
    def loss_weight(self) -> float:
        """Factor for a loss that is a *mean over this shard*: with it, DDP's average of
        the ranks' gradients is the gradient of the mean over the global batch. Exactly
        1.0 when the batch divides evenly; no factor is needed for a loss that is a sum
        divided by ``global_size``."""
        return self.world_size * self.size / self.global_size

    def take(self, *arrays: Any, dim: int = 0) -> Any:
        """This rank's samples of each array (torch tensor, numpy array, or a dict of them
        by Input name), along axis ``dim`` (1 for ``[steps, batch, ...]`` data); one
        array gives one result, several a tuple."""
        if not arrays:
            raise InputError("take() needs at least one array")
        out = tuple(self._take(a, dim, f"array {k}") for k, a in enumerate(arrays))
        return out[0] if len(out) == 1 else out

    def _take(self, a: Any, dim: int, where: str) -> Any:
        if isinstance(a, Mapping):
            return {k: self._take(v, dim, f"{where}[{k!r}]") for k, v in a.items()}
        shape = getattr(a, "shape", None)
        if shape is None:
            raise InputError(f"{where}: a {type(a).__name__} has no batch axis; pass a "
                             "torch tensor, a numpy array or a dict of them")
        if not -len(shape) <= dim < len(shape):
            raise InputError(f"{where}: dim={dim} but the array has {len(shape)} axes")
        if shape[dim] != self.global_size:
            raise InputError(f"{where}: {shape[dim]} samples along axis {dim}, but the shard "
                             f"was made for a global batch of {self.global_size}")
        return a[(slice(None),) * (dim % len(shape)) + (self.index,)]


def shard(global_size: int, info: DistributedInfo | None = None, *,
          split: str = "contiguous", require_even: bool = False) -> Shard:
    """This rank's :class:`Shard` of a global batch of ``global_size`` samples.

    Args:
        global_size: samples in the global batch (the same on every rank).
        info: this process's place in the group (default: the running group; rank 0 of 1
            without one).
        split: ``"contiguous"`` (default) or ``"strided"``.
        require_even: refuse a batch that does not divide by the number of ranks (instead
            of uneven shards with :attr:`Shard.loss_weight`).

    Raises:
        InputError: a batch smaller than the number of ranks (a rank would have no sample,
            and a mean over none is NaN), an uneven batch with ``require_even``, or an
            unknown ``split``.
    """
    info = info or current()
    if split not in SPLITS:
        raise InputError(f"split={split!r}: expected one of {list(SPLITS)}")
    try:  # numpy and torch integers too, but not 8.0 or True
        if isinstance(global_size, bool):
            raise TypeError
        global_size = operator.index(global_size)
    except TypeError:
        raise InputError(f"global_size={global_size!r}: need an integer number of "
                         "samples") from None
    world = info.world_size
    if global_size < world:
        raise InputError(f"global batch of {global_size} sample(s) on {world} ranks: every "
                         "rank needs at least one; use a batch of at least the world size")
    if require_even and global_size % world:
        raise InputError(f"global batch of {global_size} does not divide by {world} ranks "
                         f"(require_even=True): use a multiple of {world}, drop the last "
                         "incomplete batch, or allow uneven shards (their loss_weight keeps "
                         "the gradient of the global mean)")
    return Shard(info.rank, world, global_size, split)
