"""Small seeded networks used by the demo, the tests and the benchmarks.

Every function returns a validated :class:`spikecore.Graph` with explicit semantics. Weights
are drawn from ``numpy.random.default_rng(seed)``, so a seed names one network exactly.
"""

from __future__ import annotations

import nir
import numpy as np

from ..graph import Edge, Graph
from ..semantics import Semantics


def _lif(n: int, tau_s: float, v_th: float, v_reset: float = 0.0, v_leak: float = 0.0) -> nir.LIF:
    return nir.LIF(tau=np.full(n, tau_s), r=np.ones(n), v_leak=np.full(n, v_leak),
                   v_threshold=np.full(n, v_th), v_reset=np.full(n, v_reset))


def _cuba_lif(n: int, tau_syn_s: float, tau_mem_s: float, v_th: float) -> nir.CubaLIF:
    return nir.CubaLIF(tau_syn=np.full(n, tau_syn_s), tau_mem=np.full(n, tau_mem_s), r=np.ones(n),
                       v_leak=np.zeros(n), v_threshold=np.full(n, v_th), v_reset=np.zeros(n),
                       w_in=np.ones(n))


def feedforward_lif(sizes: tuple[int, ...] = (20, 30, 10), seed: int = 0, dt: float = 1e-3,
                    tau_s: float = 10e-3, v_threshold: float = 1.0, weight_scale: float = 8.0,
                    semantics: Semantics | None = None) -> Graph:
    """Input -> (Affine -> LIF) per layer -> Output, all edges delay 0.

    Weights ~ N(0, weight_scale / sqrt(fan_in)) so layers keep firing with spike input.
    """
    rng = np.random.default_rng(seed)
    nodes: dict[str, object] = {"input": nir.Input(input_type=np.array([sizes[0]]))}
    edges: list[Edge] = []
    prev = "input"
    for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True), start=1):
        w = rng.normal(0.0, weight_scale / np.sqrt(n_in), size=(n_out, n_in))
        nodes[f"fc{k}"] = nir.Affine(weight=w, bias=np.zeros(n_out))
        nodes[f"lif{k}"] = _lif(n_out, tau_s, v_threshold)
        edges += [Edge(prev, f"fc{k}"), Edge(f"fc{k}", f"lif{k}")]
        prev = f"lif{k}"
    nodes["output"] = nir.Output(output_type=np.array([sizes[-1]]))
    edges.append(Edge(prev, "output"))
    return Graph(nodes, edges, semantics or Semantics(dt=dt), name="feedforward_lif").validate()


def recurrent_lif(n_in: int = 20, n_rec: int = 50, n_out: int = 5, seed: int = 0,
                  dt: float = 1e-3, tau_syn_s: float = 5e-3, tau_mem_s: float = 20e-3,
                  v_threshold: float = 1.0, input_scale: float = 30.0, rec_scale: float = 6.0,
                  rec_delay_steps: int = 1, semantics: Semantics | None = None) -> Graph:
    """A recurrent CUBA-LIF layer with a leaky readout.

    ``input -> w_in (Linear) -> rec (CubaLIF) -> w_rec (Linear, back edge with
    rec_delay_steps) -> rec``, and ``rec -> w_out (Linear) -> readout (LI) -> output``.
    Recurrent weights ~ N(0, rec_scale / sqrt(n_rec)), no self-connections.
    """
    rng = np.random.default_rng(seed)
    w_in = rng.normal(0.0, input_scale / np.sqrt(n_in), size=(n_rec, n_in))
    w_rec = rng.normal(0.0, rec_scale / np.sqrt(n_rec), size=(n_rec, n_rec))
    np.fill_diagonal(w_rec, 0.0)
    w_out = rng.normal(0.0, 1.0 / np.sqrt(n_rec), size=(n_out, n_rec))
    nodes = {
        "input": nir.Input(input_type=np.array([n_in])),
        "w_in": nir.Linear(weight=w_in),
        "rec": _cuba_lif(n_rec, tau_syn_s, tau_mem_s, v_threshold),
        "w_rec": nir.Linear(weight=w_rec),
        "w_out": nir.Linear(weight=w_out),
        "readout": nir.LI(tau=np.full(n_out, tau_mem_s), r=np.ones(n_out), v_leak=np.zeros(n_out)),
        "output": nir.Output(output_type=np.array([n_out])),
    }
    edges = [
        Edge("input", "w_in"), Edge("w_in", "rec"), Edge("rec", "w_rec"),
        Edge("w_rec", "rec", rec_delay_steps), Edge("rec", "w_out"), Edge("w_out", "readout"),
        Edge("readout", "output"),
    ]
    return Graph(nodes, edges, semantics or Semantics(dt=dt), name="recurrent_lif").validate()


def ei_network(n_exc: int = 80, n_inh: int = 20, n_in: int = 40, seed: int = 0, dt: float = 1e-4,
               tau_mem_s: float = 20e-3, v_threshold: float = 1.0, p_connect: float = 0.2,
               j_exc: float = 0.1, g_inh: float = 4.0, j_in: float = 0.15, delay_steps: int = 15,
               semantics: Semantics | None = None) -> Graph:
    """A sparse excitatory/inhibitory LIF network (Brunel-style, current jumps via
    ``input_meaning='increment'``-like weights), driven by external spike input.

    Excitatory and inhibitory populations are separate LIF nodes; recurrent projections
    are Linear nodes on edges with ``delay_steps`` (1.5 ms at the default dt). Weights obey
    Dale's law: +j_exc from E, -g_inh*j_exc from I, each connection present with
    probability ``p_connect``. Weights are in volts of jump per spike: the Linear output
    is divided by ``dt/tau_mem`` so that, under forward Euler, one spike moves v by J.
    """
    rng = np.random.default_rng(seed)
    scale = tau_mem_s / dt  # Euler: v += dt/tau * x, so x = J * tau/dt gives a jump of J

    def conn(n_post: int, n_pre: int, j: float) -> np.ndarray:
        return (rng.random((n_post, n_pre)) < p_connect) * j * scale

    w = {
        "in_e": conn(n_exc, n_in, j_in), "in_i": conn(n_inh, n_in, j_in),
        "ee": conn(n_exc, n_exc, j_exc), "ie": conn(n_inh, n_exc, j_exc),
        "ei": conn(n_exc, n_inh, -g_inh * j_exc), "ii": conn(n_inh, n_inh, -g_inh * j_exc),
    }
    np.fill_diagonal(w["ee"], 0.0)
    np.fill_diagonal(w["ii"], 0.0)
    nodes: dict[str, object] = {"input": nir.Input(input_type=np.array([n_in])),
                                "exc": _lif(n_exc, tau_mem_s, v_threshold),
                                "inh": _lif(n_inh, tau_mem_s, v_threshold),
                                "output": nir.Output(output_type=np.array([n_exc]))}
    edges: list[Edge] = [Edge("exc", "output")]
    for key, (src, dst) in {"in_e": ("input", "exc"), "in_i": ("input", "inh"),
                            "ee": ("exc", "exc"), "ie": ("exc", "inh"),
                            "ei": ("inh", "exc"), "ii": ("inh", "inh")}.items():
        nodes[f"w_{key}"] = nir.Linear(weight=w[key])
        external = src == "input"
        edges += [Edge(src, f"w_{key}"), Edge(f"w_{key}", dst, 0 if external else delay_steps)]
    return Graph(nodes, edges, semantics or Semantics(dt=dt), name="ei_network").validate()


def poisson_input(n: int, steps: int, rate_hz: float, dt: float, batch: int = 1,
                  seed: int = 0) -> np.ndarray:
    """Seeded Poisson spike trains ``[batch, steps, n]`` (0/1 float), p = rate*dt per step."""
    rng = np.random.default_rng(seed)
    return (rng.random((batch, steps, n)) < rate_hz * dt).astype(np.float64)
