"""Data-parallel training (spikecore.data_parallel): two Gloo ranks started with
``spikecore.data_parallel.spawn`` train a small LIF network with DDP, and their gradients
and parameters equal single-process training on the same global batch (float64, 1e-12
relative), for an even contiguous split, an uneven strided one (loss weighting), a branch
the loss ignores (``find_unused_parameters=True``), and state passed between calls
(truncated BPTT, or several calls feeding one backward). The ranks end bit-identical. The
sharding, the set-up's errors and the one-process path are checked without spawning."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

import nir
import numpy as np
import pytest
from prerequisites import installed_library

import spikecore as sc

torch = installed_library("torch", allow_module_level=True)
dp = pytest.importorskip("spikecore.data_parallel")

N_IN, N_HID, N_OUT, T = 12, 16, 4, 20
RTOL = 1e-12  # float64: the ranks sum the batch in a different order, nothing else differs
SCENARIOS: dict[str, dict[str, Any]] = {
    # tau's gradient (per second) is ~100x the weights': a small step keeps SGD stable
    "even_contiguous": {"batch": 8, "split": "contiguous", "steps": 3, "trainable": "all",
                        "lr": 1e-3},
    "uneven_strided": {"batch": 7, "split": "strided", "steps": 3,
                       "trainable": ("weight", "v_threshold")},
    "truncated_bptt": {"batch": 6, "split": "contiguous", "steps": 2, "chunks": 2},
    "full_bptt_over_calls": {"batch": 6, "split": "strided", "steps": 2, "chunks": 2,
                             "full_bptt": True},
    "ignored_branch": {"batch": 8, "split": "contiguous", "steps": 2, "branch": True},
}


def build_graph(branch: bool = False, seed: int = 0) -> sc.Graph:
    """Input -> Linear -> LIF -> Linear -> LI -> Output (and, with ``branch``, a second
    Output through its own Affine that no loss uses)."""
    rng = np.random.default_rng(seed)
    nodes: dict[str, Any] = {
        "in": nir.Input(input_type=np.array([N_IN])),
        "w_in": nir.Linear(weight=rng.normal(0.0, 3.0 / np.sqrt(N_IN), (N_HID, N_IN))),
        "hid": nir.LIF(tau=np.full(N_HID, 10e-3), r=np.full(N_HID, 10.0),
                       v_leak=np.zeros(N_HID), v_threshold=np.ones(N_HID),
                       v_reset=np.zeros(N_HID)),
        "w_out": nir.Linear(weight=rng.normal(0.0, 1.0 / np.sqrt(N_HID), (N_OUT, N_HID))),
        "readout": nir.LI(tau=np.full(N_OUT, 20e-3), r=np.full(N_OUT, 20.0),
                          v_leak=np.zeros(N_OUT)),
        "out": nir.Output(output_type=np.array([N_OUT])),
    }
    edges = [("in", "w_in"), ("w_in", "hid"), ("hid", "w_out"), ("w_out", "readout"),
             ("readout", "out")]
    if branch:
        nodes["side"] = nir.Affine(weight=rng.normal(size=(2, N_HID)), bias=np.zeros(2))
        nodes["side_out"] = nir.Output(output_type=np.array([2]))
        edges += [("hid", "side"), ("side", "side_out")]
    return sc.Graph(nodes, edges, sc.Semantics(dt=1e-3, integrator="euler", reset="to_value"),
                    name="ddp_small")


def global_batch(size: int, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed batch of Bernoulli spike trains and labels (identical on every rank)."""
    rng = np.random.default_rng(seed)
    x = (rng.random((size, T, N_IN)) < 0.2).astype(np.float64)
    return torch.as_tensor(x), torch.as_tensor(rng.integers(0, N_OUT, size))


def train(model: torch.nn.Module, part: Any, spec: Mapping[str, Any]) -> dict[str, Any]:
    """SGD on the global batch of ``spec`` (``part``: this process's shard of it); the
    gradients of every update and the final parameters, by parameter name. With
    ``chunks``, the steps are cut into calls that pass the state on: one update per chunk
    (truncated BPTT, state detached) or, with ``full_bptt``, one over all chunks."""
    module = dp.unwrap(model)
    x, y = part.take(*global_batch(spec["batch"]))
    opt = torch.optim.SGD(model.parameters(), lr=spec.get("lr", 0.1))
    grads = []

    def update(loss: torch.Tensor) -> None:
        opt.zero_grad()
        loss.backward()
        grads.append({n: p.grad.clone() if p.grad is not None else None
                      for n, p in module.named_parameters()})
        opt.step()

    for _ in range(spec["steps"]):
        state, total = None, 0.0
        for xc in x.chunk(spec.get("chunks", 1), dim=1):
            out, state = model(xc, state)
            if isinstance(out, dict):
                out = out["out"]
            loss = torch.nn.functional.cross_entropy(out.mean(1), y) * part.loss_weight
            if spec.get("full_bptt"):
                total = total + loss
            else:
                update(loss)
                state = dp.detach_state(state)
        if spec.get("full_bptt"):
            update(total)
    return {"grads": grads, "unused": dp.unused_parameters(model),
            "params": {n: p.detach().clone() for n, p in module.named_parameters()}}


def lowered(spec: Mapping[str, Any]) -> dict[str, Any]:
    return {"model": build_graph(spec.get("branch", False)),
            "dtype": torch.float64, "trainable": spec.get("trainable", ("weight", "bias"))}


def train_on_rank(scenarios: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """One rank (run by dp.spawn): every scenario through DDP."""
    with dp.distributed(timeout=datetime.timedelta(seconds=120)) as ctx:
        out = {}
        for name, spec in scenarios.items():
            model = dp.wrap(**lowered(spec), find_unused_parameters=spec.get("branch", False))
            out[name] = train(model, dp.shard(spec["batch"], ctx, split=spec["split"]), spec)
            del model  # free the DDP reducer while the group exists
        return {"rank": ctx.rank, "world_size": ctx.world_size, "results": out}


def single_process(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The reference: one plain module, the whole global batch."""
    options = lowered(spec)
    module = sc.to_torch(options.pop("model"), **options)
    return train(module, dp.Shard(0, 1, spec["batch"]), spec)


def assert_same_tensors(got: Mapping[str, Any], want: Mapping[str, Any], rtol: float,
                        what: str) -> None:
    """Every tensor of ``want`` matched by ``got`` to ``rtol`` of the tensor's largest
    magnitude; the failure names each parameter, its max difference and its scale."""
    assert set(got) == set(want), f"{what}: parameters differ: {sorted(got)} vs {sorted(want)}"
    bad = []
    for name in sorted(want):
        a, b = got[name], want[name]
        if a is None or b is None:
            if (a is None) != (b is None):
                bad.append(f"{name}: gradient {'missing' if a is None else 'unexpected'}")
            continue
        scale = float(b.abs().max()) if b.numel() else 0.0
        diff = float((a - b).abs().max()) if b.numel() else 0.0
        if diff > rtol * scale:
            bad.append(f"{name}: max |diff| {diff:.3e} = {diff / max(scale, 1e-300):.2e} of "
                       f"max |ref| {scale:.3e}")
    assert not bad, f"{what} (rtol {rtol:g}):\n  " + "\n  ".join(bad)


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Small tensors: intra-op threads only wait for each other on busy cores."""
    yield


@pytest.fixture(scope="module")
def ranks() -> list[dict[str, Any]]:
    return dp.spawn(train_on_rank, nprocs=2, args=(SCENARIOS,), threads=1)


@pytest.mark.slow
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_gradients_and_parameters_equal_single_process(ranks, scenario: str) -> None:
    spec = SCENARIOS[scenario]
    ref = single_process(spec)
    assert float(ref["grads"][0]["ops.node_w_in.weight"].abs().max()) > 1e-6, \
        "the hidden layer sends no gradient: the check would be vacuous"
    for r in ranks:
        assert r["world_size"] == 2
        got = r["results"][scenario]
        assert len(got["grads"]) == len(ref["grads"])
        for k, (g, w) in enumerate(zip(got["grads"], ref["grads"], strict=True)):
            assert_same_tensors(g, w, RTOL, f"{scenario}: rank {r['rank']}, gradients of "
                                            f"update {k + 1}")
        assert_same_tensors(got["params"], ref["params"], RTOL,
                            f"{scenario}: rank {r['rank']}, parameters after training")


@pytest.mark.slow
def test_ranks_end_with_identical_parameters(ranks) -> None:
    assert sorted(r["rank"] for r in ranks) == [0, 1]
    for scenario in SCENARIOS:
        p0, p1 = (r["results"][scenario]["params"] for r in ranks)
        assert_same_tensors(p1, p0, 0.0, f"{scenario}: rank 1 vs rank 0")


@pytest.mark.slow
def test_a_branch_the_loss_ignores_is_named_and_trains_with_find_unused(ranks) -> None:
    for r in ranks:
        assert r["results"]["ignored_branch"]["unused"] == ["ops.node_side.weight",
                                                            "ops.node_side.bias"]
        assert not r["results"]["even_contiguous"]["unused"]


# ---------------------------------------------------------------- without spawning
@pytest.mark.parametrize("split", dp.SPLITS)
@pytest.mark.parametrize("n,world", [(8, 2), (7, 2), (10, 3), (3, 3), (11, 4)])
def test_shards_cover_the_batch_once_and_weight_to_the_global_mean(split, n, world) -> None:
    info = [dp.DistributedInfo(r, world, r, "gloo", torch.device("cpu")) for r in range(world)]
    shards = [dp.shard(np.int64(n), i, split=split) for i in info]
    taken = np.concatenate([s.take(np.arange(n)) for s in shards])
    assert sorted(taken) == list(range(n))
    if split == "contiguous":
        assert list(taken) == list(range(n)), "contiguous shards are blocks in rank order"
    sizes = [s.size for s in shards]
    assert max(sizes) - min(sizes) <= 1 and min(sizes) >= 1
    # DDP averages over ranks the gradients of loss_weight * (mean over the shard): each
    # sample then counts loss_weight / (world * size), which must be 1 / global size
    assert [s.loss_weight / (world * s.size) for s in shards] == \
        pytest.approx([1 / n] * world, rel=1e-15)
    if n % world == 0:
        assert all(s.loss_weight == 1.0 for s in shards)


def test_take_handles_dicts_and_the_time_major_axis() -> None:
    s = dp.Shard(1, 2, 4)  # rank 1 of 2, contiguous: samples 2 and 3
    inputs, labels = s.take({"a": torch.arange(8.0).reshape(4, 2)}, np.arange(4))
    assert inputs["a"].tolist() == [[4.0, 5.0], [6.0, 7.0]] and labels.tolist() == [2, 3]
    assert s.take(torch.zeros(5, 4, 2), dim=1).shape == (5, 2, 2)
    assert s.take(np.arange(12).reshape(3, 4), dim=-1).tolist() == [[2, 3], [6, 7], [10, 11]]


@pytest.mark.parametrize("call,message", [
    (lambda i: dp.shard(7, i, require_even=True), "does not divide by 2 ranks"),
    (lambda i: dp.shard(1, i), "every rank needs at least one"),
    (lambda i: dp.shard(8, i, split="random"), "split='random'"),
    (lambda i: dp.shard(8.0, i), "integer number of samples"),
    (lambda i: dp.shard(True, i), "integer number of samples"),
    (lambda i: dp.Shard(2, 2, 8), "need 0 <= rank < world_size"),
    (lambda i: dp.shard(8, i).take(torch.zeros(6, 3)), "made for a global batch of 8"),
    (lambda i: dp.shard(8, i).take([1, 2]), "has no batch axis"),
    (lambda i: dp.shard(8, i).take(torch.zeros(8), dim=2), "dim=2"),
])
def test_bad_sharding_is_an_input_error(call, message) -> None:
    info = dp.DistributedInfo(0, 2, 0, "gloo", torch.device("cpu"))
    with pytest.raises(sc.InputError, match=message.replace("(", r"\(")):
        call(info)


def test_partial_torchrun_environment_is_refused(monkeypatch) -> None:
    for v in dp.TORCHRUN_VARS:
        monkeypatch.delenv(v, raising=False)
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(sc.InputError, match=r"\['LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT'\]"):
        dp.init_from_env()
    assert not torch.distributed.is_initialized()


def test_unknown_backend_and_spawn_arguments_are_refused() -> None:
    with pytest.raises(sc.InputError, match="backend='carrier-pigeon' is not available"):
        dp.init_from_env("carrier-pigeon")
    with pytest.raises(sc.InputError, match="nprocs=0"):
        dp.spawn(print, 0)
    with pytest.raises(sc.InputError, match="no process group"):
        dp.wrap(build_graph())


def test_one_process_without_torchrun_is_a_group_of_one(monkeypatch) -> None:
    """Plain ``python script.py``: the same code path, and DDP over one rank changes
    nothing."""
    for v in dp.TORCHRUN_VARS:
        monkeypatch.delenv(v, raising=False)
    spec = {"batch": 5, "split": "contiguous", "steps": 2}
    with dp.distributed() as ctx:
        assert (ctx.rank, ctx.world_size, ctx.backend) == (0, 1, "gloo")
        model = dp.wrap(**lowered(spec))
        with pytest.raises(sc.InputError, match="already wrapped"):
            dp.wrap(model)
        got = train(model, dp.shard(spec["batch"], ctx), spec)
        # sc.from_torch looks through the DDP wrapper: the trained graph, not a refusal
        through, inner = sc.from_torch(model), sc.from_torch(model.module)
        for n in inner.nodes:
            for field in ("weight", "bias"):
                if hasattr(inner.nodes[n], field):
                    assert np.array_equal(getattr(through.nodes[n], field),
                                          getattr(inner.nodes[n], field)), (n, field)
        del model
    assert not torch.distributed.is_initialized()
    ref = single_process(spec)
    assert_same_tensors(got["params"], ref["params"], 0.0, "one rank vs no DDP")
