"""The conformance grid: producer x model x option, each network built *in the producer*
(its own modules, seeded weights strong enough to spike), exported with the producer's
own exporter, written with ``nir.write`` and read back by spikecore through the
producer's dialect, then run on Brian2 and torch and compared spike for spike with the
producer's own forward pass of the original module (float64 where the producer allows).

Every cell has a DECLARED verdict in :data:`GRID`:

- ``exact``: every spike of every spiking layer identical, on both backends;
- ``approximate``: the measured agreement (see :func:`agreement`) is stated, with why;
- ``refused``: the producer's exporter fails, or spikecore refuses the file (a
  DialectError naming the option), or the exporter writes a file that is not the network
  (the reason is asserted, not only stated).

``tests/conformance/test_grid.py`` proves each declaration; ``docs/ecosystem.md`` is
rendered from the declarations (``.venv/bin/python tests/conformance/grid.py --write
docs/ecosystem.md``; ``--measure`` prints what each cell measures), and a test asserts
the file equals the rendering, so the table cannot go stale.

The producer libraries are imported inside the builders: rendering needs none of them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from importers import float64_default

BATCH, STEPS = 2, 80
BACKENDS = ("brian2", "torch")
VERDICTS = ("exact", "approximate", "refused")
#: An ``approximate`` cell's stated agreement is asserted to this many hundredths.
AGREEMENT_DECIMALS = 2


# ============================================================ declarations
@dataclass(frozen=True)
class Cell:
    """One declared grid cell.

    Attributes:
        producer: the library that built and exported the network.
        model: the network family (feed-forward, recurrent, conv/pool, ...).
        option: the option varied in that family.
        verdict: ``exact``, ``approximate`` or ``refused``.
        why: the explanation shown in the table (for ``exact``: what makes it so, if not
            obvious).
        agreement: ``approximate`` only: the measured agreement (asserted to
            :data:`AGREEMENT_DECIMALS` decimals).
        refusal: ``refused`` only: a regex the failure's ``"Type: message"`` must match.
        stage: ``refused`` only: where it fails (``export``, ``read``), or ``file`` for an
            exporter that writes something else than the network (``refusal`` then
            names the evidence the builder checks).
    """

    producer: str
    model: str
    option: str
    verdict: str
    why: str = ""
    agreement: float | None = None
    refusal: str | None = None
    stage: str | None = None

    @property
    def id(self) -> str:
        return f"{self.producer}-{self.model}-{self.option}".replace(" ", "_").replace("/", "_")


# ============================================================ measurement
@dataclass
class Built:
    """A producer's network, exported and run by the producer.

    ``reference``: NIR node name (as spikecore names it after reading) -> the producer's
    spikes ``[batch, steps, *shape]`` (counts: Sinabs/Rockpool may emit several per step).
    """

    graph: Any
    reference: dict[str, np.ndarray]
    x: np.ndarray
    dialect: str
    dt: float | None = None
    read_options: dict = field(default_factory=dict)
    #: reverse direction: the spikecore graph whose written file the producer imported
    spikecore_graph: Any = None


@dataclass
class Measured:
    stage: str | None = None          # where it failed, None if it ran
    error: str | None = None          # "Type: message"
    agreement: dict[str, float] = field(default_factory=dict)
    first_difference: dict[str, str | None] = field(default_factory=dict)
    producer_spikes: int = 0
    spikecore_spikes: dict[str, int] = field(default_factory=dict)
    wall: float = 0.0

    def summary(self) -> str:
        if self.stage:
            return f"fails at {self.stage}: {self.error}"
        parts = [f"{b}: {self.agreement[b]:.4f} ({self.spikecore_spikes[b]} spikes; first "
                 f"difference {self.first_difference[b]})" for b in self.agreement]
        return f"producer {self.producer_spikes} spikes; " + "; ".join(parts)


def agreement(reference: np.ndarray, got: np.ndarray) -> float:
    """Identical spikes / spikes in either: sum(min) / sum(max) over every (batch, step,
    neuron) of the spike counts; 1.0 when neither spiked."""
    a, b = np.asarray(reference, np.float64), np.asarray(got, np.float64)
    either = np.maximum(a, b).sum()
    return 1.0 if either == 0 else float(np.minimum(a, b).sum() / either)


def first_difference(reference: dict[str, np.ndarray], got: dict[str, np.ndarray]) -> str | None:
    """``node[batch b, step t, neuron i]: producer p, spikecore s`` at the earliest step."""
    best = None
    for node, ref in reference.items():
        bad = np.argwhere(np.asarray(ref) != np.asarray(got[node]))
        if bad.size:
            k = bad[np.argmin(bad[:, 1])]
            if best is None or k[1] < best[0][1]:
                best = (k, node)
    if best is None:
        return None
    k, node = best
    idx = tuple(int(i) for i in k)
    return (f"{node}[batch {idx[0]}, step {idx[1]}, neuron {idx[2:]}]: producer "
            f"{reference[node][idx]:g}, spikecore {got[node][idx]:g}")


def _failure(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def measure(cell: Cell, tmp: Path) -> Measured:
    """Build, export, write, read and run one cell; every failure is recorded with its
    stage, never raised (the test compares it with the declaration)."""
    import time

    import nir
    from importers import ImporterError

    import spikecore as sc

    t0 = time.perf_counter()
    m = Measured()
    try:
        built = BUILDERS[(cell.producer, cell.model, cell.option)](tmp)
    except FileIsNotTheNetwork as exc:
        m.stage, m.error = "file", _failure(exc)
        return m
    except ImporterError as exc:  # reverse direction: the producer's importer failed
        m.stage, m.error = "import", exc.message
        return m
    except Exception as exc:  # noqa: BLE001 - the producer's exporter or module failed
        m.stage, m.error = "export", _failure(exc)
        return m
    if built.spikecore_graph is not None:
        g = built.spikecore_graph
    else:
        path = tmp / f"{cell.id}.nir"
        try:
            nir.write(path, built.graph)
        except Exception as exc:  # noqa: BLE001 - nir.write on the exporter's graph
            m.stage, m.error = "write", _failure(exc)
            return m
        try:
            g = sc.read(path, dialect=built.dialect, dt=built.dt, **built.read_options)
        except Exception as exc:  # noqa: BLE001 - spikecore refuses the file
            m.stage, m.error = "read", _failure(exc)
            return m
    (inp,) = [n for n, node in g.nodes.items() if isinstance(node, nir.Input)]
    m.producer_spikes = int(sum(np.asarray(r).sum() for r in built.reference.values()))
    for backend in BACKENDS:
        r = sc.simulate(g, {inp: built.x}, backend=backend)
        got = {n: np.asarray(r.spikes[n], np.float64) for n in built.reference}
        for n, ref in built.reference.items():
            assert got[n].shape == ref.shape, f"{n}: spikecore {got[n].shape}, producer {ref.shape}"
        m.agreement[backend] = agreement(np.concatenate([built.reference[n].ravel() for n in got]),
                                         np.concatenate([got[n].ravel() for n in got]))
        m.first_difference[backend] = first_difference(built.reference, got)
        m.spikecore_spikes[backend] = int(sum(z.sum() for z in got.values()))
    m.wall = time.perf_counter() - t0
    return m


class FileIsNotTheNetwork(AssertionError):
    """The exporter wrote a file that is not the network it was given (evidence in the
    message): the cell is refused at stage ``file``."""


# ============================================================ shared helpers
def _inputs(shape: tuple[int, ...], rate: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random((BATCH, STEPS, *shape)) < rate).astype(np.float64)


def _libraries_without_samna() -> None:
    # Sinabs' and Rockpool's optional `samna` is a PyPI stub that runs pip on import.
    sys.modules.setdefault("samna", None)


def _step_layers(layers: list[tuple[str, Any]], x: np.ndarray, stateful: bool,
                 spiking: Callable[[Any], bool], dtype: Any = None,
                 reset: Callable[[], None] | None = None,
                 unbatched: bool = False) -> dict[str, np.ndarray]:
    """Step a layer list in time (snnTorch with init_hidden, Norse cells), in ``dtype``
    (default float64) between layers; returns each spiking layer's output [batch, steps,
    *shape]. ``unbatched``: one sample at a time without a batch dimension (``reset()``
    clears the hidden state before each), as a module exported from an unbatched sample
    computes."""
    import torch

    dtype = dtype or torch.float64
    # time-major sequences: one [steps, batch, *shape] run, or one [steps, *shape] per sample
    seqs = [x[b] for b in range(x.shape[0])] if unbatched else [x.swapaxes(0, 1)]
    results: list[dict[str, np.ndarray]] = []
    for seq in seqs:
        if reset is not None:
            reset()
        states: dict[str, Any] = {}
        outs: dict[str, list[np.ndarray]] = {n: [] for n, m in layers if spiking(m)}
        with torch.no_grad():
            for t in range(seq.shape[0]):
                h = torch.tensor(seq[t], dtype=dtype)
                for name, layer in layers:
                    if stateful and spiking(layer):
                        h, states[name] = layer(h, states.get(name))
                    else:
                        h = layer(h)
                    if isinstance(h, tuple):
                        h = h[0]
                    h = h.to(dtype)
                    if name in outs:
                        outs[name].append(h.double().numpy().copy())
        results.append({n: np.stack(o) for n, o in outs.items()})
    if unbatched:
        return {n: np.stack([r[n] for r in results]) for n in results[0]}
    return {n: z.swapaxes(0, 1) for n, z in results[0].items()}


def _hooked(module: Any, names: list[str], run: Callable[[], Any]) -> dict[str, np.ndarray]:
    """Run ``run()`` and return the outputs of the named submodules (forward hooks)."""
    got: dict[str, Any] = {}
    handles = []
    for name in names:
        sub = module.get_submodule(name)

        def hook(_m, _inp, out, name=name):
            got[name] = (out[0] if isinstance(out, tuple) else out).detach().double().numpy()

        handles.append(sub.register_forward_hook(hook))
    try:
        run()
    finally:
        for h in handles:
            h.remove()
    return got


# ============================================================ snnTorch
def _snntorch_leaky(shape: tuple[int, ...], beta: float, reset: str, **kw: Any):
    import snntorch as snn
    import torch

    # Per-neuron beta/threshold: snnTorch 1.0's exporter writes scalars as [1]-shaped
    # arrays otherwise, which nir 1.0.8's type inference rejects.
    options = (dict(reset_mechanism="zero", reset_delay=False) if reset == "zero"
               else {} if reset == "default" else dict(reset_mechanism=reset, reset_delay=False))
    return snn.Leaky(beta=torch.full(shape, beta), threshold=torch.full(shape, 1.0),
                     init_hidden=True, **options, **kw)


def _snntorch_run(net: Any, layers: list[tuple[str, Any]], sample: Any, x: np.ndarray,
                  double: bool = True, unbatched: bool = False) -> Built:
    import snntorch as snn
    import torch
    from snntorch.export_nir import export_to_nir

    graph = export_to_nir(net, sample)
    if double:  # after the export: snnTorch's spikes are float32, its export needs that
        net.double()

    def reset() -> None:
        for _, m in layers:
            if hasattr(m, "reset_hidden"):
                m.reset_hidden()

    spiking = (snn.Leaky, snn.Synaptic, snn.RLeaky, snn.RSynaptic)
    ref = _step_layers(layers, x, stateful=False, spiking=lambda m: isinstance(m, spiking),
                       dtype=torch.float64 if double else torch.float32, reset=reset,
                       unbatched=unbatched)
    return Built(graph, ref, x, dialect="snntorch")


def _snntorch_ff(reset: str = "zero", bias: bool = True, synaptic: bool = False,
                 nested: bool = False) -> Built:
    import snntorch as snn
    import torch

    torch.manual_seed(1)
    lin1, lin2 = torch.nn.Linear(4, 6, bias=bias), torch.nn.Linear(6, 3, bias=bias)
    with torch.no_grad():
        lin1.weight.mul_(3.0)
        lin2.weight.mul_(3.0)
    if synaptic:
        def neuron(n, beta):
            return snn.Synaptic(alpha=torch.full((n,), 0.5), beta=torch.full((n,), beta),
                                threshold=torch.full((n,), 1.0), init_hidden=True,
                                reset_mechanism="zero", reset_delay=False)
    else:
        def neuron(n, beta):
            return _snntorch_leaky((n,), beta, reset)
    n1, n2 = neuron(6, 0.9), neuron(3, 0.8)
    if nested:
        net = torch.nn.Sequential(torch.nn.Sequential(lin1, n1), torch.nn.Sequential(lin2, n2))
        names = ["0.0", "0.1", "1.0", "1.1"]
    else:
        net = torch.nn.Sequential(lin1, n1, lin2, n2)
        names = ["0", "1", "2", "3"]
    x = _inputs((4,), 0.4, seed=2)
    return _snntorch_run(net, list(zip(names, (lin1, n1, lin2, n2), strict=True)),
                         torch.zeros(4), x)


def _snntorch_recurrent(synaptic: bool = False, one_to_one: bool = False) -> Built:
    import snntorch as snn
    import torch

    torch.manual_seed(3)
    lin1, lin2 = torch.nn.Linear(4, 6), torch.nn.Linear(6, 3)
    kw = dict(threshold=torch.full((6,), 1.0), init_hidden=True,
              reset_mechanism="zero", reset_delay=False)
    kw.update(dict(all_to_all=False, V=torch.rand(6) * 2.0) if one_to_one
              else dict(linear_features=6))
    rec = (snn.RSynaptic(alpha=torch.full((6,), 0.5), beta=torch.full((6,), 0.9), **kw)
           if synaptic else snn.RLeaky(beta=torch.full((6,), 0.9), **kw))
    out = _snntorch_leaky((3,), 0.8, "zero")
    with torch.no_grad():
        lin1.weight.mul_(3.0)
        lin2.weight.mul_(3.0)
        if not one_to_one:
            rec.recurrent.weight.mul_(2.0)
    net = torch.nn.Sequential(lin1, rec, lin2, out)
    x = _inputs((4,), 0.3, seed=4)
    # float32: RLeaky feeds its own (float32) spikes to its recurrent Linear
    built = _snntorch_run(net, [("0", lin1), ("1", rec), ("2", lin2), ("3", out)],
                          torch.zeros(4), x, double=False)
    # the exporter names the recurrent cell's neuron "1.lif" (nirtorch 2.6 flattens)
    built.reference = {("1.lif" if k == "1" else k): v for k, v in built.reference.items()}
    return built


def _snntorch_conv() -> Built:
    import torch

    torch.manual_seed(5)
    conv = torch.nn.Conv2d(1, 2, 3)
    n1 = _snntorch_leaky((2, 4, 4), 0.9, "zero")
    pool = torch.nn.AvgPool2d(2)
    flat = torch.nn.Flatten(start_dim=0)
    lin = torch.nn.Linear(8, 3)
    n2 = _snntorch_leaky((3,), 0.8, "zero")
    with torch.no_grad():
        conv.weight.mul_(4.0)
        lin.weight.mul_(4.0)
    layers = [("0", conv), ("1", n1), ("2", pool), ("3", flat), ("4", lin), ("5", n2)]
    net = torch.nn.Sequential(*(m for _, m in layers))
    x = _inputs((1, 6, 6), 0.4, seed=6)
    # exported from an unbatched sample (a batched one fails nir's type inference),
    # so Flatten(start_dim=0) and one sample at a time
    return _snntorch_run(net, layers, torch.zeros(1, 6, 6), x, unbatched=True)


# ============================================================ Norse
NORSE_DT = 1e-3


def _norse_lifbox(n: int, tau: float = 0.01, v_th: float = 0.3, reset: str = "value"):
    import norse.torch as norse
    from norse.torch.functional import reset as resets

    # per-neuron parameters: Norse's exporter needs every field of one shape
    p = norse.LIFBoxParameters(tau_mem_inv=torch_full(n, 1 / tau), v_th=torch_full(n, v_th),
                               v_leak=torch_full(n, 0.0), v_reset=torch_full(n, 0.0),
                               reset_method=(resets.reset_subtract if reset == "subtract"
                                             else resets.reset_value))
    return norse.LIFBoxCell(p, dt=NORSE_DT)


def torch_full(shape: Any, value: float):
    import torch

    return torch.full(shape if isinstance(shape, tuple) else (shape,), value)


def _norse_run(layers: list[tuple[str, Any]], sample: Any, x: np.ndarray,
               infer_types: bool = False) -> Built:
    import norse.torch as norse
    import torch

    model = norse.SequentialState(*(m for _, m in layers))
    graph = norse.to_nir(model, sample, dt=NORSE_DT)
    if infer_types:  # the workaround: nir fills the Conv2d input_shape the exporter left None
        graph.infer_types()

    def spiking(m: Any) -> bool:
        return not isinstance(m, (torch.nn.Linear, torch.nn.Conv2d, torch.nn.Flatten))

    ref = _step_layers(layers, x, stateful=True, spiking=spiking)
    return Built(graph, ref, x, dialect="norse-1.1-export", dt=NORSE_DT)


def _norse_ff(neuron: str = "LIFBox", bias: bool = False, reset: str = "value") -> Built:
    import norse.torch as norse
    import torch

    with float64_default():
        torch.manual_seed(7)
        lin1, lin2 = torch.nn.Linear(4, 5, bias=bias), torch.nn.Linear(5, 3, bias=bias)
        with torch.no_grad():
            lin1.weight.uniform_(0.0, 4.0)
            lin2.weight.uniform_(-0.5, 4.0)
        if neuron == "LIFCell":
            n1 = _norse_lifbox(5, reset=reset)
            n2 = norse.LIFCell(norse.LIFParameters(
                tau_mem_inv=torch_full(3, 1 / 0.01), tau_syn_inv=torch_full(3, 1 / 0.005),
                v_th=torch_full(3, 0.3), v_leak=torch_full(3, 0.0), v_reset=torch_full(3, 0.0)),
                dt=NORSE_DT)
        elif neuron == "IAF":
            n1 = _norse_lifbox(5, reset=reset)
            n2 = norse.IAFCell(norse.IAFParameters(v_th=torch_full(3, 1.0),
                                                   v_reset=torch_full(3, 0.0)), dt=NORSE_DT)
        else:
            n1, n2 = _norse_lifbox(5, reset=reset), _norse_lifbox(3, reset=reset)
        x = _inputs((4,), 0.4, seed=8)
        return _norse_run([("0", lin1), ("1", n1), ("2", lin2), ("3", n2)], torch.zeros(4), x)


def _norse_recurrent() -> Built:
    import norse.torch as norse
    import torch

    with float64_default():
        torch.manual_seed(9)
        lin = torch.nn.Linear(4, 5, bias=False)
        rec = norse.LIFRecurrentCell(5, 5, dt=NORSE_DT)
        x = _inputs((4,), 0.4, seed=10)
        return _norse_run([("0", lin), ("1", rec)], torch.zeros(4), x)


def _norse_conv(flatten: bool = False, infer_types: bool = False) -> Built:
    import torch

    with float64_default():
        torch.manual_seed(11)
        # no Flatten or pooling: Norse's exporter writes neither (a None node)
        conv1, conv2 = torch.nn.Conv2d(1, 2, 3), torch.nn.Conv2d(2, 2, 3)
        with torch.no_grad():
            conv1.weight.uniform_(0.0, 2.0)
            conv2.weight.uniform_(-0.2, 1.0)
        layers = [("0", conv1), ("1", _norse_lifbox((2, 4, 4))), ("2", conv2),
                  ("3", _norse_lifbox((2, 2, 2)))]
        if flatten:
            layers += [("4", torch.nn.Flatten())]
        x = _inputs((1, 6, 6), 0.4, seed=12)
        return _norse_run(layers, torch.zeros(1, 1, 6, 6), x, infer_types)


# ============================================================ Sinabs
def _sinabs_run(net: Any, names: list[str], sample: Any, x: np.ndarray,
                infer_types: bool = False) -> Built:
    """Sinabs' Squeeze layers take [batch*steps, *shape]; the original module, in float64,
    is the reference (hooks on its spiking layers)."""
    import torch
    from sinabs.nir import to_nir

    graph = to_nir(net, sample)
    if infer_types:  # the workaround: nir fills the Conv2d input_shape the exporter left None
        graph.infer_types()
    for m in net.modules():
        if hasattr(m, "reset_states"):
            m.reset_states()
    flat = torch.tensor(x.reshape(BATCH * STEPS, *x.shape[2:]))
    # float64: Sinabs' spike functions return float32 spike counts (exact), cast back to
    # float64 before each weight layer
    handles = [m.register_forward_pre_hook(lambda _m, args: tuple(a.double() for a in args))
               for m in net.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))]
    try:
        with float64_default(), torch.no_grad():
            net.double()
            got = _hooked(net, names, lambda: net(flat))
    finally:
        for h in handles:
            h.remove()
    ref = {n: z.reshape(BATCH, STEPS, *z.shape[1:]) for n, z in got.items()}
    return Built(graph, ref, x, dialect="sinabs")


def _sinabs_ff(neuron: str = "LIF", reset: str = "subtract", bias: bool = True,
               gain: float = 1.0) -> Built:
    _libraries_without_samna()
    import sinabs.activation as sa
    import sinabs.layers as sl
    import torch

    torch.manual_seed(3)
    kw: dict[str, Any] = dict(batch_size=BATCH)
    if reset == "zero":
        kw["reset_fn"] = sa.MembraneReset()

    def layer(n: int, tau: float):
        # per-neuron tensors: scalar parameters make nir.write fail (h5py scalar datasets);
        # norm_input=False: what Sinabs' from_nir rebuilds (its exporter does not store it)
        if neuron == "IAF":
            return sl.IAFSqueeze(spike_threshold=torch.ones(n), **kw)
        return sl.LIFSqueeze(tau_mem=torch.full((n,), tau), spike_threshold=torch.ones(n),
                             norm_input=False, **kw)

    lin1, lin2 = torch.nn.Linear(4, 6, bias=bias), torch.nn.Linear(6, 3, bias=bias)
    with torch.no_grad():
        lin1.weight.uniform_(-0.1, 0.5 * gain)
        lin2.weight.uniform_(-0.1, 0.6 * gain)
    net = torch.nn.Sequential(lin1, layer(6, 8.0), lin2, layer(3, 5.0))
    x = _inputs((4,), 0.4, seed=4)
    return _sinabs_run(net, ["1", "3"], torch.zeros(BATCH, 4), x)


def _sinabs_conv(infer_types: bool = False) -> Built:
    _libraries_without_samna()
    import sinabs.layers as sl
    import torch

    torch.manual_seed(13)
    conv = torch.nn.Conv2d(1, 2, 3, bias=False)
    lin = torch.nn.Linear(8, 3, bias=False)
    with torch.no_grad():
        conv.weight.uniform_(0.0, 0.2)
        lin.weight.uniform_(0.0, 0.25)
    net = torch.nn.Sequential(conv, sl.IAFSqueeze(batch_size=BATCH), sl.SumPool2d(2),
                              torch.nn.Flatten(), lin, sl.IAFSqueeze(batch_size=BATCH))
    x = _inputs((1, 6, 6), 0.3, seed=14)
    return _sinabs_run(net, ["1", "5"], torch.zeros(BATCH, 1, 6, 6), x, infer_types)


# ============================================================ Rockpool
ROCKPOOL_DT = 1e-3


def _rockpool_run(net: Any, names: list[str], x: np.ndarray) -> Built:
    import torch
    from rockpool.nn.modules.torch.nir import to_nir

    graph = to_nir(net)
    # float32, Rockpool's own: LIFTorch multiplies its float32 spikes with w_rec inside
    # its time loop, so a float64 module fails
    with torch.no_grad():
        got = _hooked(net, names, lambda: net(torch.tensor(x, dtype=torch.float32)))
    return Built(graph, got, x, dialect="rockpool")


def _rockpool_ff(neuron: str = "LIFTorch", bias: bool = False, gain: float | None = None,
                 neuron_bias: float = 0.0, recurrent: bool = False) -> Built:
    _libraries_without_samna()
    import torch
    from rockpool.nn.combinators import Sequential
    from rockpool.nn.modules import LIFNeuronTorch, LIFTorch, LinearTorch

    torch.manual_seed(5)
    # LIFNeuronTorch has no synaptic filter: stronger weights to make it spike
    gain = gain or (3.0 if neuron == "LIFNeuronTorch" else 1.0)

    def layer(n: int, tau_mem: float, tau_syn: float, **kw: Any):
        if neuron == "LIFNeuronTorch":
            return LIFNeuronTorch(n, tau_mem=tau_mem, threshold=1.0, dt=ROCKPOOL_DT)
        return LIFTorch(n, tau_mem=tau_mem, tau_syn=tau_syn, threshold=1.0, dt=ROCKPOOL_DT,
                        bias=neuron_bias, **kw)

    rec = dict(has_rec=True) if recurrent else {}
    net = Sequential(LinearTorch((4, 6), has_bias=bias), layer(6, 0.02, 0.01, **rec),
                     LinearTorch((6, 3), has_bias=bias), layer(3, 0.01, 0.005))
    with torch.no_grad():
        # small weights: Rockpool emits several spikes per step when v >= 2*threshold
        net[0].weight.data = torch.rand(4, 6) * 0.05 * gain
        net[2].weight.data = torch.rand(6, 3) * 0.08 * gain
        if bias:
            net[0].bias.data = torch.rand(6) * 0.01
            net[2].bias.data = torch.rand(3) * 0.01
        if recurrent:
            net[1].w_rec.data = torch.rand(6, 6) * 0.05
    x = _inputs((4,), 0.4, seed=6)
    names = [n for n, _ in net.named_children()]
    built = _rockpool_run(net, [names[1], names[3]], x)
    # what the exporter leaves out: the file is then not the network (no dialect can
    # bring it back), whatever a run of it gives
    cuba = [n for n in built.graph.nodes.values() if type(n).__name__ == "CubaLIF"]
    if neuron_bias and all(np.all(np.asarray(n.v_leak) == 0) for n in cuba):
        raise FileIsNotTheNetwork(
            f"LIFTorch(bias={neuron_bias}) exported with v_leak = 0 and no bias anywhere "
            "(Rockpool's to_nir writes v_leak = zeros_like(bias))")
    if recurrent and not any(a == b or (a, b)[::-1] in built.graph.edges
                             for a, b in built.graph.edges):
        raise FileIsNotTheNetwork(
            "LIFTorch(has_rec=True) exported without w_rec: no recurrent edge or weight "
            f"in the file (edges {sorted(built.graph.edges)})")
    return built


# ============================================================ reverse direction
def _reverse(library: str, neuron: str, tmp: Path) -> Built:
    """A graph built in spikecore (the parameters in the producer's conventions), written
    with ``sc.write(plain=True)``, read with ``nir.read`` and imported by the producer's
    own importer (``importers.run_<library>``); compared with spikecore's run of the same
    graph under that producer's dialect."""
    import importers
    import nir

    import spikecore as sc

    dialect, dt = {"snnTorch": ("snntorch", 1e-4), "Norse": ("norse", 1e-3),
                   "Sinabs": ("sinabs", 1.0), "Rockpool": ("rockpool", 1e-3)}[library]
    rng = np.random.default_rng(21)
    sizes = (4, 6, 3)

    def cell(n: int, tau: float) -> Any:
        full = np.full
        if neuron == "IF":
            return nir.IF(r=full(n, 1.0), v_threshold=full(n, 1.0), v_reset=full(n, 0.0))
        if neuron == "LIF":
            r = {"snnTorch": tau / dt, "Rockpool": tau * np.exp(-dt / tau) / dt}.get(library, 1.0)
            return nir.LIF(tau=full(n, tau), r=full(n, r), v_leak=full(n, 0.0),
                           v_threshold=full(n, 1.0), v_reset=full(n, 0.0))
        tau_syn = tau / 2
        r = {"snnTorch": tau / dt, "Rockpool": tau * np.exp(-dt / tau) / dt}.get(library, 1.0)
        w_in = tau_syn / dt if library == "snnTorch" else 1.0
        return nir.CubaLIF(tau_mem=full(n, tau), tau_syn=full(n, tau_syn), r=full(n, r),
                           w_in=full(n, w_in), v_leak=full(n, 0.0),
                           v_threshold=full(n, 1.0), v_reset=full(n, 0.0))

    tau1, tau2 = {"snnTorch": (1e-3, 5e-4), "Sinabs": (8.0, 5.0)}.get(library, (0.02, 0.01))
    # Sinabs and Rockpool emit several spikes per step above 2*threshold: kept below
    gain = {"Norse": 8.0, "Rockpool": 0.06, "Sinabs": 0.35}.get(library, 1.5)
    w1 = rng.uniform(-0.2, 1.0, (sizes[1], sizes[0])) * gain
    w2 = rng.uniform(-0.2, 1.0, (sizes[2], sizes[1])) * gain
    ng = nir.NIRGraph(
        nodes={"input": nir.Input(input_type=np.array([sizes[0]])),
               "w1": nir.Affine(weight=w1, bias=np.zeros(sizes[1])), "n1": cell(sizes[1], tau1),
               "w2": nir.Affine(weight=w2, bias=np.zeros(sizes[2])), "n2": cell(sizes[2], tau2),
               "output": nir.Output(output_type=np.array([sizes[2]]))},
        edges=[("input", "w1"), ("w1", "n1"), ("n1", "w2"), ("w2", "n2"), ("n2", "output")],
        type_check=False)
    g = sc.from_nir(ng, dialect=dialect, dt=dt)
    path = tmp / f"reverse_{library}_{neuron}.nir"
    sc.write(g, path, plain=True)
    raw = nir.read(path)
    x = _inputs((sizes[0],), 0.4, seed=22)
    run = {"snnTorch": lambda: importers.run_snntorch(raw, x),
           "Norse": lambda: importers.run_norse(raw, x, dt=dt),
           "Sinabs": lambda: importers.run_sinabs(raw, x),
           "Rockpool": lambda: importers.run_rockpool(raw, x)}[library]
    (out,) = run().values()
    return Built(raw, {"n2": np.asarray(out, np.float64)}, x, dialect=dialect, dt=dt,
                 spikecore_graph=g)


def _reading(built: Built, **options: Any) -> Built:
    """The same export read with Semantics overrides (the workaround for an option the
    file does not carry)."""
    built.read_options = {**built.read_options, **options}
    return built


def _dialect(built: Built, dialect: str) -> Built:
    """The same export read with another dialect."""
    built.dialect = dialect
    return built


# ============================================================ the grid
E, A, R = "exact", "approximate", "refused"
SNN_RESET = ("the file has no reset mode; snnTorch's import_from_nir (what the dialect "
             "reproduces) builds reset to zero without delay")


def _cells() -> list[tuple[Cell, Callable[[Path], Built]]]:
    def c(producer, model, option, verdict, build, why="", agreement=None, refusal=None,
          stage=None):
        return (Cell(producer, model, option, verdict, why, agreement, refusal, stage),
                lambda tmp: build())

    def rev(producer, neuron, verdict, why="", agreement=None, refusal=None):
        return (Cell(producer, "spikecore file, imported", neuron, verdict, why, agreement,
                     refusal, "import" if verdict == R else None),
                lambda tmp: _reverse(producer, neuron, tmp))

    return [
        # ---------------------------------------------------------------- snnTorch
        c("snnTorch", "feed-forward", "Leaky, zero reset", E, lambda: _snntorch_ff("zero"),
          "reset_mechanism='zero', reset_delay=False: what import_from_nir builds"),
        c("snnTorch", "feed-forward", "Leaky defaults (subtract, reset_delay)", A,
          lambda: _snntorch_ff("default"), SNN_RESET + "; the defaults subtract the threshold "
          "one step late (not decayed); dialect 'snntorch' warns and names "
          "'snntorch-defaults', which reads it exactly (next row)", 0.52),
        c("snnTorch", "feed-forward", "Leaky defaults, read with dialect snntorch-defaults", E,
          lambda: _dialect(_snntorch_ff("default"), "snntorch-defaults"),
          "the delayed, undecayed subtraction written as subtract with v_reset = "
          "thr*(1 - 1/beta)"),
        c("snnTorch", "feed-forward", "Leaky, subtract reset", A,
          lambda: _snntorch_ff("subtract"), SNN_RESET, 0.49),
        c("snnTorch", "feed-forward", "Leaky, subtract reset, read with reset='subtract'", A,
          lambda: _reading(_snntorch_ff("subtract"), reset="subtract"),
          "the override gets most spikes back; snnTorch's reset term comes from the previous "
          "step's membrane (it can subtract twice), the contract's from this step's", 0.89),
        c("snnTorch", "feed-forward", "no bias (Linear)", E,
          lambda: _snntorch_ff("zero", bias=False)),
        c("snnTorch", "feed-forward", "Synaptic (CubaLIF)", E, lambda: _snntorch_ff(synaptic=True),
          "reset to zero without delay; dt/tau_syn = 0.5 warns (alpha = 0.5)"),
        c("snnTorch", "nested modules", "Sequential in Sequential", E,
          lambda: _snntorch_ff(nested=True), "nirtorch 2.6 flattens: nodes '0.0', '0.1', ..."),
        c("snnTorch", "recurrent", "RLeaky all-to-all (recurrent bias)", E,
          lambda: _snntorch_recurrent(),
          "the recurrent delay sits on the spikes (lif -> w_rec), so the recurrent Affine's "
          "bias acts from step 0, as snnTorch's recurrent(0) = b_rec (was 0.90 with the "
          "delay on w_rec -> lif)"),
        c("snnTorch", "recurrent", "RLeaky one-to-one V", E,
          lambda: _snntorch_recurrent(one_to_one=True),
          "exported as a '1.lif' <-> '1.w_rec' (Linear) cycle; float32 run (RLeaky feeds "
          "its float32 spikes back)"),
        c("snnTorch", "recurrent", "RSynaptic (reset_delay=False)", R,
          lambda: _snntorch_recurrent(synaptic=True),
          "snnTorch 1.0's RSynaptic.forward with init_hidden=True, reset_delay=False "
          "reads an unset local `spk` (TypeError), so nirtorch's trace sees an empty graph",
          refusal=r"Cannot find the input of an empty graph", stage="export"),
        c("snnTorch", "conv/pool", "Conv2d, AvgPool2d, Flatten", E, _snntorch_conv,
          "exported from an unbatched sample (a batched one fails nir's type inference), "
          "so Flatten(start_dim=0) and one sample at a time"),
        # ------------------------------------------------------------------ Norse
        c("Norse", "feed-forward", "LIFBoxCell, no bias", E, lambda: _norse_ff(),
          "dialect norse-1.1-export (to_nir writes tau = dt*tau)"),
        c("Norse", "feed-forward", "LIFBoxCell, bias", E, lambda: _norse_ff(bias=True)),
        c("Norse", "feed-forward", "LIFCell (CubaLIF)", E, lambda: _norse_ff("LIFCell")),
        c("Norse", "feed-forward", "IAFCell", E, lambda: _norse_ff("IAF"),
          "IF read as IAFCell: v += x"),
        c("Norse", "feed-forward", "subtract reset", A, lambda: _norse_ff(reset="subtract"),
          "to_nir does not write reset_method; the dialect resets to v_reset", 0.67),
        c("Norse", "feed-forward", "subtract reset, read with reset='subtract'", E,
          lambda: _reading(_norse_ff(reset="subtract"), reset="subtract")),
        c("Norse", "recurrent", "LIFRecurrentCell", R, _norse_recurrent,
          "to_nir has no mapping for LIFRecurrentCell: it writes a None node, which "
          "nir.write cannot serialise", refusal=r"NoneType.*to_dict", stage="write"),
        c("Norse", "conv/pool", "Conv2d", R, _norse_conv,
          "to_nir writes Conv2d(input_shape=None), which nir.write cannot serialise",
          refusal=r"One of data, shape or dtype must be specified", stage="write"),
        c("Norse", "conv/pool", "Conv2d, nir infer_types() before writing", R,
          lambda: _norse_conv(infer_types=True),
          "nir 1.0.8's infer_types fails on Norse's Conv2d (stride/padding as int tuples "
          "of length 1?)", refusal=r"IndexError: tuple index out of range", stage="export"),
        c("Norse", "conv/pool", "Flatten", R, lambda: _norse_conv(flatten=True),
          "to_nir has no mapping for Flatten (nor any pooling): a None node",
          refusal=r"NoneType.*to_dict", stage="write"),
        # ----------------------------------------------------------------- Sinabs
        c("Sinabs", "feed-forward", "LIFSqueeze", E, lambda: _sinabs_ff(),
          "single-spike regime; compared with the original module (norm_input=False)"),
        c("Sinabs", "feed-forward", "IAFSqueeze", E, lambda: _sinabs_ff("IAF")),
        c("Sinabs", "feed-forward", "no bias", E, lambda: _sinabs_ff(bias=False, gain=0.7),
          "exported as Affine with zero bias"),
        c("Sinabs", "feed-forward", "zero reset (MembraneReset)", A,
          lambda: _sinabs_ff(reset="zero"),
          "to_nir does not write the reset function; the dialect subtracts", 0.31),
        c("Sinabs", "feed-forward", "zero reset, read with reset='to_value'", A,
          lambda: _reading(_sinabs_ff(reset="zero"), reset="to_value"),
          "exact but for one step where Sinabs' MultiSpike emits 2 spikes", 0.99),
        c("Sinabs", "feed-forward", "several spikes per step", A, lambda: _sinabs_ff(gain=6.0),
          "MultiSpike emits floor(v/threshold) spikes; the contract at most one", 0.11),
        c("Sinabs", "conv/pool", "Conv2d, IAF, SumPool2d, Flatten", R, _sinabs_conv,
          "to_nir writes Conv2d(input_shape=None), which nir.write cannot serialise",
          refusal=r"One of data, shape or dtype must be specified", stage="write"),
        c("Sinabs", "conv/pool", "the same, nir infer_types() before writing", A,
          lambda: _sinabs_conv(infer_types=True),
          "exact but where MultiSpike emits 2 spikes in a step (the contract: one)", 0.94),
        # --------------------------------------------------------------- Rockpool
        c("Rockpool", "feed-forward", "LIFTorch (CubaLIF)", E, lambda: _rockpool_ff(),
          "dt read from r = tau*exp(-dt/tau)/dt; float32 run (LIFTorch cannot run float64)"),
        c("Rockpool", "feed-forward", "LIFTorch, Linear bias", A, lambda: _rockpool_ff(bias=True),
          "not explained yet: same weights' layout as the exact cell, biases 0..0.01; the "
          "first difference is a spike one step early in Rockpool", 0.72),
        c("Rockpool", "feed-forward", "LIFNeuronTorch (LIF)", E,
          lambda: _rockpool_ff("LIFNeuronTorch")),
        c("Rockpool", "feed-forward", "neuron bias current", R,
          lambda: _rockpool_ff(neuron_bias=0.05),
          "to_nir writes v_leak = 0 and drops LIFTorch.bias: the file is another network",
          refusal=r"v_leak = 0", stage="file"),
        c("Rockpool", "feed-forward", "several spikes per step", A, lambda: _rockpool_ff(gain=8.0),
          "Rockpool emits floor(v/threshold) spikes; the contract at most one", 0.09),
        c("Rockpool", "recurrent", "LIFTorch has_rec", R, lambda: _rockpool_ff(recurrent=True),
          "to_nir drops w_rec: no recurrent edge or weight in the file",
          refusal=r"without w_rec", stage="file"),
        # ------------------------------------------- reverse: spikecore -> producer
        rev("snnTorch", "LIF", E),
        rev("snnTorch", "CubaLIF", E),
        rev("snnTorch", "IF", R,
            "import_from_nir builds IF as Leaky(beta=0.9, init_hidden=False), a leaky neuron "
            "returning (spk, mem), and the next Linear receives the tuple",
            refusal=r"must be Tensor, not tuple"),
        rev("Norse", "LIF", E),
        rev("Norse", "CubaLIF", E),
        rev("Norse", "IF", E),
        rev("Sinabs", "LIF", E),
        rev("Sinabs", "IF", E),
        rev("Rockpool", "CubaLIF", A,
            "spikecore writes the contract's parameters (the dialect's effective tau and "
            "w_in); Rockpool's from_nir ignores w_in and guesses dt = min(tau_mem/(1 + r)) "
            "per layer", 0.14),
        rev("Rockpool", "LIF", R, "from_nir reads LIF as LIFNeuronTorch(tau_mem=node.tau_mem): "
            "NIR's LIF has tau", refusal=r"has no attribute 'tau_mem'"),
    ]


_TABLE = _cells()
GRID: tuple[Cell, ...] = tuple(cell for cell, _ in _TABLE)
BUILDERS: dict[tuple[str, str, str], Callable[[Path], Built]] = {
    (cell.producer, cell.model, cell.option): build for cell, build in _TABLE}


# ============================================================ rendering
BEGIN = "<!-- grid:begin (generated by tests/conformance/grid.py --write; do not edit) -->"
END = "<!-- grid:end -->"


def _figure(cell: Cell) -> str:
    if cell.verdict == "approximate":
        return f"{cell.agreement:.2f} of spikes identical; {cell.why}"
    if cell.verdict == "refused":
        return f"at {cell.stage}: {cell.why}"
    return cell.why


def render_table() -> str:
    """The declared grid as Markdown (what docs/ecosystem.md holds between the markers)."""
    lines = [BEGIN, "",
             f"Agreement: identical spikes / spikes in either, over every spiking layer, batch "
             f"{BATCH} x {STEPS} steps, on Brian2 and torch (both give the same figure).", "",
             "| producer | model | option | verdict | how far / why |",
             "|---|---|---|---|---|"]
    for cell in GRID:
        why = _figure(cell).replace("|", "\\|")
        lines.append(f"| {cell.producer} | {cell.model} | {cell.option} | {cell.verdict} | {why} |")
    counts = {v: sum(c.verdict == v for c in GRID) for v in VERDICTS}
    lines += ["", "Cells: " + ", ".join(f"{n} {v}" for v, n in counts.items()) + ".", "", END]
    return "\n".join(lines)


def render(existing: str | None) -> str:
    """``existing`` (the doc with its hand-written prose) with the table region replaced;
    a skeleton when there is no doc yet."""
    if existing is None or BEGIN not in existing:
        existing = "# Ecosystem conformance\n\n" + BEGIN + "\n" + END + "\n"
    head, rest = existing.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return head + render_table() + tail


def main(argv: list[str]) -> int:
    import argparse
    import tempfile

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--measure", action="store_true", help="measure every cell and print it")
    ap.add_argument("--only", default="", help="substring of the cell ids to measure")
    ap.add_argument("--write", metavar="DOC", help="render the table into DOC (keeps its prose)")
    args = ap.parse_args(argv)
    if args.write:
        doc = Path(args.write)
        doc.write_text(render(doc.read_text() if doc.exists() else None))
        print(f"wrote {doc}")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    if args.measure:
        with tempfile.TemporaryDirectory() as tmp:
            for cell in GRID:
                if args.only in cell.id:
                    m = measure(cell, Path(tmp))
                    print(f"{cell.id} [{m.wall:.1f}s]: {m.summary()}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
