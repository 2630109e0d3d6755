"""Speed of the torch lowering next to hand-written PyTorch and Norse, in one run.

    .venv/bin/python benchmarks/bench_norse.py [--quick] [--threads N]

Simulation: recurrent CUBA-LIF (100 Poisson inputs -> N neurons, N x N recurrent weights
with a one-step delay), batch 1, 1000 steps, float32, no gradient; N = 1000 and 4000.
Rows: spikecore module (dense and event-driven), hand-written torch (dense and
event-driven: only the rows of W^T of spiking neurons summed), Norse ``LIFRecurrent``
(its own update, same sizes). Training: 100 -> 256 recurrent -> 10 (LI readout), T = 100,
batch 32, forward + backward + Adam step, SuperSpike surrogate. snnTorch is not installed
in this environment: its row is skipped with the reason printed.

Ratios are printed against the hand-written dense row measured in the same run.
Not a test: nothing here asserts speed.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import spikecore as sc
from spikecore import primitives as P

DT = 1e-3
TAU_SYN, TAU_MEM = 5e-3, 1e-2


def recurrent_graph(n: int, n_in: int, seed: int, w_in_scale: float, g: float,
                    n_out: int = 0) -> sc.Graph:
    rng = np.random.default_rng(seed)
    nodes = {
        "in": P.Input(np.array([n_in])),
        "w_in": P.Linear(weight=rng.normal(0, w_in_scale, (n, n_in))),
        "lif": P.CubaLIF(tau_syn=np.full(n, TAU_SYN), tau_mem=np.full(n, TAU_MEM),
                         r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n),
                         v_reset=np.zeros(n), w_in=np.full(n, TAU_SYN / DT)),
        "w_rec": P.Linear(weight=rng.normal(0, g / np.sqrt(n), (n, n))),
    }
    edges = [("in", "w_in"), ("w_in", "lif"), ("lif", "w_rec", 1), ("w_rec", "lif")]
    if n_out:
        nodes["w_out"] = P.Linear(weight=rng.normal(0, 1 / np.sqrt(n), (n_out, n)))
        nodes["ro"] = P.LI(tau=np.full(n_out, 2e-2), r=np.ones(n_out), v_leak=np.zeros(n_out))
        nodes["out"] = P.Output(np.array([n_out]))
        edges += [("lif", "w_out"), ("w_out", "ro"), ("ro", "out")]
    else:
        nodes["out"] = P.Output(np.array([n]))
        edges += [("lif", "out")]
    return sc.Graph(nodes, edges, sc.Semantics(dt=DT), name=f"rcuba{n}")


def race(fns: dict, repeat: int) -> dict[str, float]:
    """Best time of each function, measured round-robin (one call of each per round) so
    that a change in machine load hits every row alike."""
    for fn in fns.values():
        fn()  # warm-up
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeat):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


# ------------------------------------------------------------------ hand-written
def hand_sim(w_in, w_rec, x, event: bool):
    """Contract CubaLIF (Euler, current_first, b_syn = 1): i = a_s i + I; v = a_m v +
    k i; spike v > 1; v = 0."""
    a_s, a_m, k = 1 - DT / TAU_SYN, 1 - DT / TAU_MEM, DT / TAU_MEM
    n = w_in.shape[0]
    drive = x @ w_in.t()  # [T, n]
    i = torch.zeros(n)
    v = torch.zeros(n)
    z = torch.zeros(n)
    wt = w_rec.t().contiguous()
    for t in range(x.shape[0]):
        if event:
            idx = z.nonzero().squeeze(1)
            rec = wt.index_select(0, idx).sum(0)
        else:
            rec = w_rec @ z
        i = a_s * i + (drive[t] + rec)
        v = a_m * v + k * i
        fired = v > 1.0
        z = fired.float()
        v = torch.where(fired, 0.0, v)
    return z


def simulation(n: int, steps: int, repeat: int) -> None:
    n_in = 100
    g = recurrent_graph(n, n_in, seed=n, w_in_scale=0.3, g=1.0)
    x = (torch.rand(1, steps, n_in, generator=torch.Generator().manual_seed(1)) < 0.05).float()
    m = sc.to_torch(g)
    m_ev = sc.to_torch(g, event_driven=True)
    w_in = m.op["w_in"].weight.detach()
    w_rec = m.op["w_rec"].weight.detach()
    with torch.no_grad():
        z, _ = m(x)
    rate = float(z.mean())
    fns = {
        "hand-written torch, dense": lambda: hand_sim(w_in, w_rec, x[0], False),
        "spikecore module, dense": lambda: m(x),
        "hand-written torch, event-driven": lambda: hand_sim(w_in, w_rec, x[0], True),
        "spikecore module, event-driven": lambda: m_ev(x),
    }
    with torch.no_grad():
        try:
            import norse.torch as norse

            p = norse.LIFParameters(tau_syn_inv=torch.tensor(1 / TAU_SYN),
                                    tau_mem_inv=torch.tensor(1 / TAU_MEM),
                                    v_th=torch.tensor(1.0), v_reset=torch.tensor(0.0))
            nm = norse.LIFRecurrent(n_in, n, p=p, dt=DT, autapses=True,
                                    input_weights=w_in.clone(), recurrent_weights=w_rec.clone())
            xt = x.transpose(0, 1).contiguous()  # Norse wants [T, B, n]
            fns["Norse LIFRecurrent"] = lambda: nm(xt)
        except Exception as exc:  # noqa: BLE001 - report and continue
            print(f"  Norse row skipped: {type(exc).__name__}: {exc}")
        rows = race(fns, repeat)
    base = rows["hand-written torch, dense"]
    print(f"\nsimulation: N={n}, batch 1, {steps} steps, float32, "
          f"{rate * 100:.2f}% of neurons spike per step")
    for name, t in rows.items():
        print(f"  {name:36s} {t * 1e6 / steps:9.1f} us/step   x{t / base:5.2f} vs hand dense")
    print(f"  spikecore dense / hand dense = {rows['spikecore module, dense'] / base:.3f}; "
          f"spikecore event / hand event = "
          f"{rows['spikecore module, event-driven'] / rows['hand-written torch, event-driven']:.3f}")


# ------------------------------------------------------------------ training
class _SuperSpike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u):
        ctx.save_for_backward(u)
        return (u > 0).to(u.dtype)

    @staticmethod
    def backward(ctx, g):
        (u,) = ctx.saved_tensors
        return g / (10.0 * u.abs() + 1.0) ** 2


class HandRSNN(torch.nn.Module):
    def __init__(self, w_in, w_rec, w_out):
        super().__init__()
        self.w_in = torch.nn.Parameter(w_in.clone())
        self.w_rec = torch.nn.Parameter(w_rec.clone())
        self.w_out = torch.nn.Parameter(w_out.clone())

    def forward(self, x):  # x [B, T, n_in]
        a_s, a_m, k = 1 - DT / TAU_SYN, 1 - DT / TAU_MEM, DT / TAU_MEM
        ka = 1 - DT / 2e-2
        b, steps = x.shape[:2]
        n = self.w_rec.shape[0]
        drive = x @ self.w_in.t()
        i = x.new_zeros(b, n)
        v = x.new_zeros(b, n)
        z = x.new_zeros(b, n)
        y = x.new_zeros(b, self.w_out.shape[0])
        ys = []
        for t in range(steps):
            i = a_s * i + (drive[:, t] + z @ self.w_rec.t())
            v = a_m * v + k * i
            z = _SuperSpike.apply(v - 1.0)
            v = (1 - z) * v
            y = ka * y + (DT / 2e-2) * (z @ self.w_out.t())
            ys.append(y)
        return torch.stack(ys, 1)


class NorseRSNN(torch.nn.Module):
    def __init__(self, w_in, w_rec, w_out):
        super().__init__()
        import norse.torch as norse

        p = norse.LIFParameters(tau_syn_inv=torch.tensor(1 / TAU_SYN),
                                tau_mem_inv=torch.tensor(1 / TAU_MEM),
                                v_th=torch.tensor(1.0), v_reset=torch.tensor(0.0),
                                method="super", alpha=torch.tensor(10.0))
        self.rec = norse.LIFRecurrent(w_in.shape[1], w_in.shape[0], p=p, dt=DT,
                                      autapses=True, input_weights=w_in.clone(),
                                      recurrent_weights=w_rec.clone())
        self.ro = norse.LILinearCell(w_in.shape[0], w_out.shape[0], dt=DT)

    def forward(self, x):
        z, _ = self.rec(x.transpose(0, 1))
        s = None
        ys = []
        for t in range(z.shape[0]):
            y, s = self.ro(z[t], s)
            ys.append(y)
        return torch.stack(ys, 1)


class SnnTorchRSNN(torch.nn.Module):
    """The same network in snnTorch: RSynaptic (all-to-all recurrent) and a Leaky readout
    without reset, fast-sigmoid surrogate of slope 10 (snnTorch's own default family)."""

    def __init__(self, w_in, w_rec, w_out):
        super().__init__()
        import snntorch as snn
        from snntorch import surrogate

        n = w_in.shape[0]
        self.fc_in = torch.nn.Linear(w_in.shape[1], n, bias=False)
        self.fc_in.weight.data = w_in.clone()
        self.rsyn = snn.RSynaptic(alpha=1 - DT / TAU_SYN, beta=1 - DT / TAU_MEM,
                                  linear_features=n, reset_mechanism="zero",
                                  spike_grad=surrogate.fast_sigmoid(slope=10))
        self.rsyn.recurrent.weight.data = w_rec.clone()
        if self.rsyn.recurrent.bias is not None:
            self.rsyn.recurrent.bias.data.zero_()
        self.fc_out = torch.nn.Linear(n, w_out.shape[0], bias=False)
        self.fc_out.weight.data = w_out.clone()
        self.ro = snn.Leaky(beta=1 - DT / 2e-2, reset_mechanism="none")

    def forward(self, x):
        spk, syn, mem = self.rsyn.init_rsynaptic()
        mem_o = self.ro.init_leaky()
        ys = []
        for t in range(x.shape[1]):
            spk, syn, mem = self.rsyn(self.fc_in(x[:, t]), spk, syn, mem)
            _, mem_o = self.ro(self.fc_out(spk), mem_o)
            ys.append(mem_o)
        return torch.stack(ys, 1)


def training(repeat: int, iters: int = 5) -> None:
    n_in, n, n_out, steps, batch = 100, 256, 10, 100, 32
    g = recurrent_graph(n, n_in, seed=7, w_in_scale=0.3, g=0.8, n_out=n_out)
    x = (torch.rand(batch, steps, n_in, generator=torch.Generator().manual_seed(2)) < 0.1
         ).float()
    labels = torch.randint(0, n_out, (batch,), generator=torch.Generator().manual_seed(3))
    m = sc.to_torch(g, surrogate="superspike", surrogate_scale=10.0)
    w_in, w_rec = m.op["w_in"].weight.detach(), m.op["w_rec"].weight.detach()
    w_out = m.op["w_out"].weight.detach()
    models = {"hand-written torch": HandRSNN(w_in, w_rec, w_out), "spikecore module": m}
    try:
        models["Norse LIFRecurrent + LILinearCell"] = NorseRSNN(w_in, w_rec, w_out)
    except Exception as exc:  # noqa: BLE001
        print(f"  Norse row skipped: {type(exc).__name__}: {exc}")
    try:
        models["snnTorch RSynaptic + Leaky"] = SnnTorchRSNN(w_in, w_rec, w_out)
    except ImportError as exc:
        print(f"  snnTorch row skipped: {exc} (pip install snntorch==1.0.0 to compare)")
    fns = {}
    for name, model in models.items():
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)

        def run(model=model, opt=opt):
            for _ in range(iters):
                out = model(x)
                out = out[0] if isinstance(out, tuple) else out
                loss = torch.nn.functional.cross_entropy(out.mean(1) * 10, labels)
                opt.zero_grad()
                loss.backward()
                opt.step()

        fns[name] = run
    rows = {k: v / iters for k, v in race(fns, repeat).items()}
    base = rows["hand-written torch"]
    print(f"\ntraining: {n_in} -> {n} recurrent -> {n_out}, T={steps}, batch {batch}, "
          "forward + backward + Adam, float32")
    for name, t in rows.items():
        print(f"  {name:36s} {t * 1e3:9.1f} ms/iter   x{t / base:5.2f} vs hand-written")
    if "Norse LIFRecurrent + LILinearCell" in rows:
        print(f"  spikecore / Norse = "
              f"{rows['spikecore module'] / rows['Norse LIFRecurrent + LILinearCell']:.3f}")
    if "snnTorch RSynaptic + Leaky" in rows:
        print(f"  spikecore / snnTorch = "
              f"{rows['spikecore module'] / rows['snnTorch RSynaptic + Leaky']:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="N=1000 only, 1 repeat")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    repeat = 1 if args.quick else 3
    for n in (1000,) if args.quick else (1000, 4000):
        simulation(n, 1000, repeat)
    training(repeat)


if __name__ == "__main__":
    main()
