"""The torch backend: ``simulate(..., backend="torch")`` (alias ``"norse"``) runs the graph
as a :class:`~.module.SpikecoreModule` in float64 by default."""

from __future__ import annotations

import time
from contextlib import nullcontext
from typing import Any

import numpy as np
import torch

from ... import numerics
from ... import primitives as P
from ...discrete import neuron_coefficients, neuron_step
from ...graph import Graph
from ...progress import problem as progress_problem
from ...progress import progress_for
from ...result import Result
from ...semantics import Semantics
from ..base import Availability, RecordPlan
from .devices import resolve_device
from .module import check_graph, lower, to_torch
from .registry import BUILDERS


class TorchBackend:
    """``simulate(..., backend="torch")``: the graph as a torch module, float64 by
    default (option ``dtype=torch.float32``), CPU unless ``device=`` is given."""

    name = "torch"

    def __init__(self) -> None:
        self._availability: Availability | None = None

    def availability(self) -> Availability:
        if self._availability is not None:
            return self._availability
        try:
            import norse

            norse_version = norse.__version__
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            norse_version = f"not importable ({type(exc).__name__}: {exc})"
        try:
            self._availability = Availability(
                self.name, True, f"torch {torch.__version__}, norse {norse_version}",
                reason=_tiny_run())
        except Exception as exc:  # noqa: BLE001 - any failure means unavailable
            self._availability = Availability(
                self.name, False, f"torch {getattr(torch, '__version__', '?')}",
                reason=f"a 3-step LIF run failed: {type(exc).__name__}: {exc}",
                fix="pip install 'torch==2.13.0' (CPU build) and norse==1.1.0")
        return self._availability

    def supported(self) -> dict[str, str]:
        return {t.__name__: b.note for t, b in sorted(BUILDERS.items(),
                                                      key=lambda kv: kv[0].__name__)}

    def check(self, graph: Graph, **options: Any) -> list[str]:
        # Every problem at once: unknown options and what the graph cannot lower.
        unknown = sorted(set(options) - set(_RUN_OPTIONS))
        problems = [f"option(s) {unknown} not understood by backend 'torch'; known: "
                    f"{sorted(_RUN_OPTIONS)}"] if unknown else []
        resolve_device(options.get("device"))  # an unusable device is an InputError now
        dtype = options.get("dtype", torch.float64)
        if dtype not in (torch.float32, torch.float64):
            problems.append(f"option dtype={dtype!r}: simulate() runs torch in float32 or "
                            "float64 (results are float64 numpy arrays); for other dtypes "
                            "train the module of sc.to_torch(graph, dtype=...) directly")
        problems += check_graph(graph)
        bad_progress = progress_problem(options.get("progress"))
        return problems + ([bad_progress] if bad_progress else [])

    def run(self, graph: Graph, inputs: dict[str, np.ndarray], steps: int,
            record: RecordPlan, **options: Any) -> Result:
        dtype = options.get("dtype", torch.float64)
        device = options.get("device")
        t0 = time.perf_counter()
        module = lower(graph, dtype=dtype, device=device,
                        event_driven=bool(options.get("event_driven", False)))
        x = {k: torch.as_tensor(v, dtype=dtype, device=module.device)
             for k, v in inputs.items()}
        batch = next(iter(x.values())).shape[0] if x else 1
        build = time.perf_counter() - t0
        t1 = time.perf_counter()
        plan = [f"{n}:{w}" for n, ws in record.items() for w in ws] or None
        with torch.no_grad(), progress_for(options.get("progress"), steps,
                                           "torch") or nullcontext() as bar:
            outputs, _, rec = module.run(x, record=plan, steps=steps, batch=batch,
                                         check_every=numerics.CHECK_EVERY, progress=bar,
                                         layout="btn")
        wall = time.perf_counter() - t1
        res = Result(dt=float(graph.semantics.dt), backend=self.name, wall_time=wall,
                     build_time=build,
                     info={"dtype": str(dtype), "device": str(module.device),
                           "static_prefix": list(module.static)},
                     nonfinite=module.nonfinite)
        for n, whats in rec.items():
            for w, a in whats.items():
                arr = a.detach().cpu().numpy()
                if w == "spikes":
                    res.spikes[n] = arr.astype(bool)
                else:
                    res.traces.setdefault(n, {})[w] = arr.astype(np.float64)
        res.outputs = {n: o.detach().cpu().numpy().astype(np.float64)
                       for n, o in outputs.items()}
        return res


_RUN_OPTIONS = ("dtype", "device", "event_driven", "progress")


def _tiny_run() -> str:
    """Run one LIF neuron for 3 steps against the contract; returns what was checked."""
    sem = Semantics(dt=1e-3)
    lif = P.LIF(tau=np.array([0.01]), r=np.array([1.0]), v_leak=np.array([0.0]),
                v_threshold=np.array([0.5]), v_reset=np.array([0.0]))
    g = Graph({"in": P.Input(np.array([1])), "lif": lif, "out": P.Output(np.array([1]))},
              [("in", "lif"), ("lif", "out")], sem, name="availability")
    m = to_torch(g, dtype=torch.float64)
    x = torch.full((1, 3, 1), 3.0, dtype=torch.float64)  # spikes at step 1 only
    with torch.no_grad():
        z, _ = m(x)
    co = neuron_coefficients(lif, sem)
    state = (co.v_initial,)
    expect = []
    for _ in range(3):
        zz, state = neuron_step(np, co, state, np.array([3.0]))
        expect.append(float(zz[0]))
    got = [float(a) for a in z[0, :, 0]]
    if got != expect or sum(got) != 1:
        raise RuntimeError(f"spikes {got} != contract {expect}")
    return f"3-step LIF run matched the contract (spikes {got})"
