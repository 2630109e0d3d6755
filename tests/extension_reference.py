"""A numpy interpreter of the extension primitives, written from docs/semantics.md §7.

Independent of spikecore.extensions's step functions (which the tests compare against
it): base coefficients come from the §4 contract (spikecore.discrete.neuron_coefficients),
the rest is the documented update, transcribed line by line. Streams are generated here
from the documented key/counter scheme (sha256 key, Philox counter [0, t, 0, 0]).
"""

from __future__ import annotations

import hashlib

import numpy as np
import scipy.sparse

from spikecore import extensions as X
from spikecore import primitives as P
from spikecore.discrete import neuron_coefficients
from spikecore.extensions.ltc import LTCLIF, ltc_coefficients, ltc_initial_state, ltc_step
from spikecore.extensions.sparse import SparseLinear


def documented_draws(seed: int, name: str, b: int, t: int, size: int, kind: str) -> np.ndarray:
    key = np.frombuffer(hashlib.sha256(f"spikecore/{seed}/{name}/{b}".encode()).digest()[:16],
                        dtype=np.uint64)
    gen = np.random.Generator(np.random.Philox(key=key, counter=[0, t, 0, 0]))
    return gen.random(size) if kind == "uniform" else gen.standard_normal(size)


def documented_stream(node, name: str, sem, batch: int, steps: int) -> np.ndarray:
    shape = np.shape(getattr(node, node.shape_param)) or (1,)
    size = int(np.prod(shape))
    dt = sem.dt
    out = np.zeros((batch, steps, size))
    for b in range(batch):
        if isinstance(node, X.PoissonSource):
            p = np.broadcast_to(node.rate, shape).ravel() * dt
            for t in range(steps):
                out[b, t] = documented_draws(node.seed, name, b, t, size, "uniform") < p
            continue
        mean = np.broadcast_to(node.mean, shape).ravel()
        sigma = np.broadcast_to(node.sigma, shape).ravel()
        y = mean.copy()
        for t in range(steps):
            xi = documented_draws(node.seed, name, b, t, size, "normal")
            if isinstance(node, X.WhiteNoiseSource):
                out[b, t] = mean + sigma / np.sqrt(dt) * xi
                continue
            tau = np.broadcast_to(node.tau, shape).ravel()
            if sem.integrator == "exact":
                e = np.exp(-dt / tau)
                y = mean + e * (y - mean) + sigma * np.sqrt(1 - e * e) * xi
            else:
                y = y + dt / tau * (mean - y) + sigma * np.sqrt(2 * dt / tau) * xi
            out[b, t] = y
    return out.reshape(batch, steps, *shape)


def _phi(node, x):
    if node.phi == "tanh":
        return np.tanh(x)
    if node.phi == "relu":
        return np.maximum(x, 0.0)
    return node.k * np.maximum(x, 0.0) ** node.n


def reference(graph, inputs: dict[str, np.ndarray], steps: int, batch: int = 1) -> dict:
    """Spikes, traces and outputs of a flat graph of Input/Linear/Affine/Output nodes,
    NIR neurons, extension neurons and sources, by the documented updates."""
    sem = graph.semantics
    shapes = graph.shapes()
    if inputs:
        batch = next(iter(inputs.values())).shape[0]
    order = graph.topological_order()
    sent = {n: np.zeros((batch, steps, *shapes[n])) for n in graph.nodes}
    state, spikes, traces, outputs, received = {}, {}, {}, {}, {}
    dt = sem.dt
    for n, node in graph.nodes.items():
        s = shapes[n]
        if isinstance(node, (X.RefractoryLIF, X.RefractoryCubaLIF)):
            co = neuron_coefficients(node.base(), sem, s)
            state[n] = {"co": co, "i": np.zeros((batch, *s)),
                        "v": np.broadcast_to(co.v_initial, (batch, *s)).copy(),
                        "ref": np.zeros((batch, *s)), "n": np.round(node.t_ref / dt)}
        elif isinstance(node, X.ALIF):
            co = neuron_coefficients(nir_lif_of(node), sem, s)
            rho = (np.exp(-dt / node.tau_adapt) if sem.integrator == "exact"
                   else 1 - dt / node.tau_adapt)
            state[n] = {"co": co, "v": np.broadcast_to(co.v_initial, (batch, *s)).copy(),
                        "a": np.zeros((batch, *s)), "rho": rho}
        elif isinstance(node, X.RateUnit):
            co = neuron_coefficients(P.LI(tau=node.tau, r=np.ones(s), v_leak=np.zeros(s)), sem, s)
            state[n] = {"co": co, "x": np.broadcast_to(node.x0, (batch, *s)).copy()}
        elif isinstance(node, X.CondLIF):
            state[n] = {"g_exc": np.zeros((batch, *s)), "g_inh": np.zeros((batch, *s)),
                        "v": np.broadcast_to(node.v_leak, (batch, *s)).copy()}
        elif isinstance(node, X.Izhikevich):
            state[n] = {"v": np.broadcast_to(node.v0, (batch, *s)).copy(),
                        "u": np.broadcast_to(node.u0, (batch, *s)).copy()}
        elif isinstance(node, X.MorrisLecar):  # also MorrisLecarGraded
            state[n] = {"v": np.broadcast_to(node.v0, (batch, *s)).copy(),
                        "w": np.broadcast_to(node.w0, (batch, *s)).copy()}
        elif type(node) in (X.PoissonSource, X.WhiteNoiseSource, X.OUSource):
            state[n] = {"stream": documented_stream(node, n, sem, batch, steps)}
        elif isinstance(node, LTCLIF):  # through spikecore.extensions.ltc.ltc_step (tested on its own)
            co = ltc_coefficients(node, sem, s)
            v, a, z = ltc_initial_state(co, batch)
            state[n] = {"co": co, "v": v, "a": a, "z": z}
        if type(node) in (X.RefractoryLIF, X.RefractoryCubaLIF, X.ALIF, X.PoissonSource,
                          X.CondLIF, X.Izhikevich, X.MorrisLecar, LTCLIF):
            spikes[n] = np.zeros((batch, steps, *s), dtype=bool)
        names = {X.RefractoryLIF: ("v",), X.RefractoryCubaLIF: ("i", "v"), X.ALIF: ("v", "a"),
                 X.RateUnit: ("x",), X.CondLIF: ("g_exc", "g_inh", "v"),
                 X.Izhikevich: ("v", "u"), X.MorrisLecar: ("v", "w"),
                 X.MorrisLecarGraded: ("v", "w"), LTCLIF: ("v", "a", "z")}.get(type(node), ())
        if names:
            traces[n] = {k: np.zeros((batch, steps, *s)) for k in names}
    for t in range(steps):
        for n in order:
            node = graph.nodes[n]
            x = np.zeros((batch, *shapes[n]))
            if isinstance(node, (P.Linear, P.Affine)):
                x = np.zeros((batch, np.shape(node.weight)[1]))
            if isinstance(node, SparseLinear):
                x = np.zeros((batch, int(node.shape[1])))
            if isinstance(node, X.CondLIF) and graph.incoming(n):
                x = np.zeros((batch, *shapes[graph.incoming(n)[0].source]))
            for e in graph.incoming(n):
                if t - e.delay_steps >= 0:
                    x = x + sent[e.source][:, t - e.delay_steps]
            st = state.get(n)
            received.setdefault(n, np.zeros((batch, steps, *np.shape(x)[1:])))[:, t] = x
            if isinstance(node, P.Input):
                y = inputs[n][:, t]
            elif isinstance(node, P.Output):
                y = x
                outputs[n] = outputs.get(n, np.zeros((batch, steps, *shapes[n])))
                outputs[n][:, t] = y
            elif isinstance(node, P.Linear):
                y = x @ np.asarray(node.weight).T
            elif isinstance(node, SparseLinear):
                # scipy's CSR product (documented field meaning), not spikecore's code.
                W = scipy.sparse.csr_array((node.weights, node.indices, node.indptr),
                                           shape=tuple(int(v) for v in node.shape))
                y = (W @ x.T).T
            elif isinstance(node, P.Affine):
                y = x @ np.asarray(node.weight).T + node.bias
            elif isinstance(node, (X.RefractoryLIF, X.RefractoryCubaLIF)):
                co = st["co"]
                i_old = st["i"]
                i_new = co.a_syn * i_old + co.b_syn * x if co.has_current else i_old
                active = st["ref"] <= 0
                vp = (co.a_mem * st["v"] + co.k_old * i_old + co.k_new * i_new + co.k_x * x
                      + co.c)
                z = active & (vp > co.v_threshold)
                if sem.reset == "to_value":
                    vp = np.where(z, co.v_reset, vp)
                else:
                    vp = np.where(z, vp - (co.v_threshold - co.v_reset), vp)
                st["v"] = np.where(active, vp, st["v"])
                st["ref"] = np.where(z, st["n"], np.maximum(st["ref"] - 1, 0))
                st["i"] = i_new
                y = z.astype(float)
                spikes[n][:, t] = z
                for k in traces[n]:
                    traces[n][k][:, t] = st[k]
            elif isinstance(node, X.ALIF):
                co = st["co"]
                vp = co.a_mem * st["v"] + co.k_x * x + co.c
                b = node.v_threshold + node.beta * st["a"]
                z = vp > b
                if sem.reset == "to_value":
                    vp = np.where(z, node.v_reset, vp)
                else:
                    vp = np.where(z, vp - (node.v_threshold - node.v_reset), vp)
                st["v"], st["a"] = vp, st["rho"] * st["a"] + z
                y = z.astype(float)
                spikes[n][:, t] = z
                traces[n]["v"][:, t], traces[n]["a"][:, t] = st["v"], st["a"]
            elif isinstance(node, X.RateUnit):
                co = st["co"]
                st["x"] = co.a_mem * st["x"] + co.k_x * x + co.c
                y = _phi(node, st["x"])
                traces[n]["x"][:, t] = st["x"]
            elif isinstance(node, X.CondLIF):
                # docs/semantics.md §7, CondLIF: jumps, then the membrane
                size = int(np.prod(shapes[n]))
                xx = x.reshape(batch, 2, size)
                xe = xx[:, 0].reshape(batch, *shapes[n])
                xi = xx[:, 1].reshape(batch, *shapes[n])
                if sem.integrator == "exact":
                    ae, ai = np.exp(-dt / node.tau_exc), np.exp(-dt / node.tau_inh)
                else:
                    ae, ai = 1 - dt / node.tau_exc, 1 - dt / node.tau_inh
                ge_new, gi_new = ae * st["g_exc"] + xe, ai * st["g_inh"] + xi
                if sem.update_order == "current_first":
                    ge, gi = ge_new, gi_new
                else:
                    ge, gi = st["g_exc"], st["g_inh"]
                v, r = st["v"], node.r
                if sem.integrator == "exact":
                    G = 1 + r * ge + r * gi
                    vinf = (node.v_leak + r * ge * node.e_exc + r * gi * node.e_inh) / G
                    vp = vinf + (v - vinf) * np.exp(-dt / node.tau_mem * G)
                else:
                    vp = v + dt / node.tau_mem * ((node.v_leak - v) + r * ge * (node.e_exc - v)
                                                  + r * gi * (node.e_inh - v))
                z = vp > node.v_threshold
                if sem.reset == "to_value":
                    vp = np.where(z, node.v_reset, vp)
                else:
                    vp = np.where(z, vp - (node.v_threshold - node.v_reset), vp)
                st.update(g_exc=ge_new, g_inh=gi_new, v=vp)
                y = z.astype(float)
                spikes[n][:, t] = z
                for k in traces[n]:
                    traces[n][k][:, t] = st[k]
            elif isinstance(node, X.Izhikevich):
                # Izhikevich (2003): two half-steps of v, then u with the new v; h in ms
                h = dt / 1e-3
                v, u = st["v"], st["u"]
                for _ in range(2):
                    v = v + 0.5 * h * (0.04 * (v * v) + 5 * v + 140 - u + x)
                u = u + h * (node.a * (node.b * v - u))
                z = v > node.v_peak
                st["v"], st["u"] = np.where(z, node.c, v), np.where(z, u + node.d, u)
                y = z.astype(float)
                spikes[n][:, t] = z
                traces[n]["v"][:, t], traces[n]["u"][:, t] = st["v"], st["u"]
            elif isinstance(node, X.MorrisLecar):
                h = dt / 1e-3
                v, w = st["v"], st["w"]
                m_inf = (1 + np.tanh((v - node.v1) / node.v2)) / 2
                w_inf = (1 + np.tanh((v - node.v3) / node.v4)) / 2
                tau_w = 1 / np.cosh((v - node.v3) / (2 * node.v4))
                i_ion = (node.g_l * (v - node.v_l) + node.g_ca * m_inf * (v - node.v_ca)
                         + node.g_k * w * (v - node.v_k))
                vp = v + h / node.c_m * (x - i_ion)
                if sem.integrator == "exact":
                    wp = w_inf + (w - w_inf) * np.exp(-h * node.phi / tau_w)
                else:
                    wp = w + h * node.phi * (w_inf - w) / tau_w
                z = (v <= node.v_threshold) & (vp > node.v_threshold)
                st["v"], st["w"] = vp, wp
                if isinstance(node, X.MorrisLecarGraded):
                    y = (1 + np.tanh((vp - node.v_syn) / node.k_syn)) / 2
                else:
                    y = z.astype(float)
                    spikes[n][:, t] = z
                traces[n]["v"][:, t], traces[n]["w"][:, t] = vp, wp
            elif isinstance(node, LTCLIF):
                z, (st["v"], st["a"], _) = ltc_step(np, st["co"], (st["v"], st["a"], st["z"]), x)
                st["z"] = z.astype(float)
                y = st["z"]
                spikes[n][:, t] = z
                for k in traces[n]:
                    traces[n][k][:, t] = st[k]
            elif n in state and "stream" in st:
                y = st["stream"][:, t]
                if n in spikes:
                    spikes[n][:, t] = y > 0.5
            else:
                raise TypeError(f"reference: {type(node).__name__} not handled")
            sent[n][:, t] = y
    return {"spikes": spikes, "traces": traces, "outputs": outputs, "received": received}


def nir_lif_of(node: X.ALIF) -> P.LIF:
    return P.LIF(tau=node.tau, r=node.r, v_leak=node.v_leak, v_threshold=node.v_threshold,
                 v_reset=node.v_reset)


# ----------------------------------------------------------------- graphs for the tests
SEMANTICS = {
    "euler": dict(),
    "exact_subtract": dict(integrator="exact", reset="subtract"),
    "exact_increment": dict(integrator="exact", input_meaning="increment"),
}
DT = 1e-3


def refractory_graph(kind: str, sem, n: int = 5, seed: int = 0):
    """Input -> Linear -> refractory neuron (per-neuron t_ref, 0 included) -> Output, plus a
    Poisson drive through a second Linear."""
    from spikecore import Graph

    rng = np.random.default_rng(seed)
    t_ref = np.array([0, 1, 2, 3, 5][:n], dtype=float) * DT
    common = dict(r=rng.uniform(0.8, 1.2, n), v_leak=np.zeros(n), v_threshold=np.ones(n),
                  v_reset=np.full(n, -0.1), t_ref=t_ref)
    if kind == "RefractoryLIF":
        neuron = X.RefractoryLIF(tau=rng.uniform(0.01, 0.03, n), **common)
    else:
        neuron = X.RefractoryCubaLIF(tau_syn=rng.uniform(0.003, 0.008, n),
                                     tau_mem=rng.uniform(0.01, 0.03, n),
                                     w_in=rng.uniform(1, 2, n), **common)
    return Graph({
        "in": P.Input(np.array([3])),
        "w": P.Linear(rng.uniform(0, 1, (n, 3))),
        "drive": X.PoissonSource(rate=np.full(2, 300.0), seed=11),
        "wd": P.Linear(rng.uniform(0, 10, (n, 2))),
        "n": neuron,
        "out": P.Output(np.array([n])),
    }, [("in", "w"), ("w", "n"), ("drive", "wd"), ("wd", "n"), ("n", "out")], sem,
        name=f"refractory_{kind}")


def alif_graph(sem, n: int = 5, seed: int = 1):
    """Input -> ALIF with delayed recurrence and white noise."""
    from spikecore import Graph

    rng = np.random.default_rng(seed)
    alif = X.ALIF(tau=rng.uniform(0.01, 0.03, n), r=np.ones(n), v_leak=np.zeros(n),
                  v_threshold=np.full(n, 0.5), v_reset=np.zeros(n),
                  tau_adapt=rng.uniform(0.05, 0.2, n), beta=rng.uniform(0.1, 1.0, n))
    return Graph({
        "in": P.Input(np.array([3])),
        "w": P.Linear(rng.uniform(0, 1, (n, 3))),
        "noise": X.WhiteNoiseSource(mean=np.zeros(n), sigma=np.full(n, 0.02), seed=5),
        "alif": alif,
        "rec": P.Linear(rng.normal(0, 0.3, (n, n))),
        "out": P.Output(np.array([n])),
    }, [("in", "w"), ("w", "alif"), ("noise", "alif"), ("alif", "rec", 1), ("rec", "alif"),
        ("alif", "out")], sem, name="alif")


def rate_graph(phi: str, sem, n: int = 6, seed: int = 2):
    """A random rate network tau dx/dt = -x + J phi(x) + OU input (delay-1 recurrence)."""
    from spikecore import Graph

    rng = np.random.default_rng(seed)
    unit = X.RateUnit(tau=np.full(n, 0.01), x0=rng.normal(0, 1, n), phi=phi,
                      k=np.full(n, 0.5), n=np.full(n, 1.5))
    return Graph({
        "ou": X.OUSource(mean=np.full(n, 0.2), sigma=np.full(n, 0.3), tau=np.full(n, 0.005),
                         seed=9),
        "x": unit,
        "J": P.Linear(rng.normal(0, 1.2 / np.sqrt(n), (n, n))),
        "out": P.Output(np.array([n])),
    }, [("ou", "x"), ("x", "J", 1), ("J", "x"), ("x", "out")], sem, name=f"rate_{phi}")


def cond_graph(sem, n: int = 4, seed: int = 3):
    """Poisson E and I drives, an Input and a delayed recurrence into a CondLIF: every
    pathway is a Linear with 2n rows (first n excitatory, last n inhibitory)."""
    from spikecore import Graph

    rng = np.random.default_rng(seed)
    zeros = np.zeros((n, 4))
    neuron = X.CondLIF(tau_mem=rng.uniform(0.01, 0.03, n), r=rng.uniform(0.8, 1.2, n),
                       v_leak=np.zeros(n), v_threshold=np.ones(n), v_reset=np.full(n, -0.1),
                       tau_exc=rng.uniform(0.003, 0.006, n), tau_inh=rng.uniform(0.006, 0.012, n),
                       e_exc=np.full(n, 14 / 3), e_inh=np.full(n, -2 / 3))
    return Graph({
        "in": P.Input(np.array([3])),
        "w": P.Linear(np.vstack([rng.uniform(0, 0.15, (n, 3)), rng.uniform(0, 0.05, (n, 3))])),
        "exc": X.PoissonSource(rate=np.full(4, 400.0), seed=21),
        "we": P.Linear(np.vstack([rng.uniform(0, 0.4, (n, 4)), zeros])),
        "inh": X.PoissonSource(rate=np.full(4, 300.0), seed=22),
        "wi": P.Linear(np.vstack([zeros, rng.uniform(0, 0.6, (n, 4))])),
        "n": neuron,
        "rec": P.Linear(np.vstack([rng.uniform(0, 0.2, (n, n)), rng.uniform(0, 0.2, (n, n))])),
        "out": P.Output(np.array([n])),
    }, [("in", "w"), ("w", "n"), ("exc", "we"), ("we", "n"), ("inh", "wi"), ("wi", "n"),
        ("n", "rec", 1), ("rec", "n"), ("n", "out")], sem, name="cond_lif")


#: Izhikevich (2003), fig. 2: regular spiking, intrinsically bursting, chattering, fast
#: spiking, low-threshold spiking.
IZHIKEVICH_TYPES = {"RS": (0.02, 0.2, -65.0, 8.0), "IB": (0.02, 0.2, -55.0, 4.0),
                    "CH": (0.02, 0.2, -50.0, 2.0), "FS": (0.1, 0.2, -65.0, 2.0),
                    "LTS": (0.02, 0.25, -65.0, 2.0)}


def izhikevich_graph(sem, seed: int = 4):
    """The five cell types driven by an Input through a Linear, with delayed recurrence."""
    from spikecore import Graph

    rng = np.random.default_rng(seed)
    a, b, c, d = (np.array(p) for p in zip(*IZHIKEVICH_TYPES.values(), strict=True))
    n = a.size
    return Graph({
        "in": P.Input(np.array([3])),
        # weights in 1/8 (inputs in 1/16, see the tests): every sum is exact in float64,
        # so only the neuron's own arithmetic could differ between backends
        "w": P.Linear(np.round(rng.uniform(0, 5, (n, 3)) * 8) / 8),
        "izh": X.Izhikevich(a=a, b=b, c=c, d=d, v0=np.full(n, -65.0), u0=b * -65.0),
        "rec": P.Linear(np.round(rng.uniform(-2, 4, (n, n)) * 8) / 8),
        "out": P.Output(np.array([n])),
    }, [("in", "w"), ("w", "izh"), ("izh", "rec", 1), ("rec", "izh"), ("izh", "out")], sem,
        name="izhikevich")


ML_DT = 1e-4  # 0.1 ms: the Morris-Lecar time scales are ms


def morris_lecar_graph(sem, seed: int = 5):
    """Spiking type I neurons and a graded type II network with delayed recurrence, both
    driven by constant-ish currents from an Input."""
    from spikecore import Graph

    rng = np.random.default_rng(seed)
    n = 3
    spiking = X.MorrisLecar.of_type("I", n, v0=-30.0, w0=0.1)
    graded = X.MorrisLecarGraded(**X.MorrisLecar.of_type("II", n, v0=-50.0, w0=0.0).fields())
    return Graph({
        "in": P.Input(np.array([2])),
        "w1": P.Linear(rng.uniform(30, 60, (n, 2))),
        "ml": spiking,
        "w2": P.Linear(rng.uniform(40, 70, (n, 2))),
        "mlg": graded,
        "rec": P.Linear(rng.uniform(0, 30, (n, n))),
        "out": P.Output(np.array([n])),
        "outg": P.Output(np.array([n])),
    }, [("in", "w1"), ("w1", "ml"), ("in", "w2"), ("w2", "mlg"), ("mlg", "rec", 1),
        ("rec", "mlg"), ("ml", "out"), ("mlg", "outg")], sem, name="morris_lecar")
