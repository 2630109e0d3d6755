"""The producers' own NIR importers, stepped in time: oracles for conformance tests.

Each ``run_<library>(graph, x, ...)`` hands a ``nir.NIRGraph`` to that library's *own*
import function, runs the module it builds the way the library's documentation says
(state handling included) and returns ``{output node name: spikes}``.

- Input ``x``: array ``[batch, steps, *input_shape]`` (converted to float64).
- Output: ``{name of the graph's Output node: array [batch, steps, *output_shape]}`` as
  float64 numpy (the values the module returns: 0/1 spikes, or counts where a library
  emits several spikes in a step, or whatever a non-spiking output node gives).
- Precision: the modules are converted with ``module.double()`` and fed float64, so the
  arithmetic is float64; but every importer first turns the file's parameters into
  float32 tensors (nirtorch builds its modules in float32; Norse's ``_to_tensor`` and
  Sinabs' ``.float()`` likewise; snnTorch uses ``torch.Tensor``), and Norse keeps some
  parameters as plain tensor attributes that ``.double()`` does not convert. Parameters
  are therefore the file's values rounded to float32, then computed with in float64.
- Failure: when the library cannot import (or run) a graph, :class:`ImporterError` is
  raised, naming the library and keeping its own exception type and message (the
  original exception is chained as ``__cause__``).

These functions take any graph (not only the NIR paper's files): graphs spikecore
writes, read back with ``nir.read``, go through them unchanged.

They import the libraries lazily, so importing this module needs none of them; the
caller checks availability (``prerequisites.installed_library``). Sinabs and Rockpool
pull in the ``samna`` stub, which runs pip on import: it is disabled here
(``sys.modules.setdefault("samna", None)``), as in tests/test_dialects_ecosystem.py.
"""

from __future__ import annotations

import contextlib
import io
import sys
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import nir
import numpy as np

__all__ = ["ImporterError", "RecordError", "output_name", "run_norse", "run_rockpool", "run_sinabs",
           "snntorch_loadable",
           "run_snntorch"]


class ImporterError(RuntimeError):
    """A producer library could not import or run a NIR graph. ``library`` names it,
    ``stage`` is ``"import"`` or ``"run"``, ``message`` is the library's own
    ``"<ExceptionType>: <message>"``."""

    def __init__(self, library: str, stage: str, exc: BaseException):
        self.library, self.stage = library, stage
        self.message = f"{type(exc).__name__}: {exc}"
        super().__init__(f"{library} cannot {stage} this NIR graph: {self.message}")


def output_name(graph: nir.NIRGraph) -> str:
    """The name of the graph's single ``nir.Output`` node (the importers here all return
    one output: nirtorch's executors have one)."""
    names = [n for n, node in graph.nodes.items() if isinstance(node, nir.Output)]
    if len(names) != 1:
        raise ValueError(f"the producers' importers return one output; this graph has "
                         f"{len(names)} Output nodes: {names}")
    return names[0]


@contextlib.contextmanager
def _stage(library: str, stage: str) -> Iterator[None]:
    """Turn any exception of the library into :class:`ImporterError` (message kept)."""
    try:
        yield
    except (ImporterError, RecordError):
        raise
    except Exception as exc:  # noqa: BLE001 - whatever the library raises is its answer
        raise ImporterError(library, stage, exc) from exc


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the libraries' prints ("[warning] scaling weights...") and deprecation
    warnings (nirtorch.load) while they import; nothing they say is lost: a failure
    still raises with their message."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


@contextlib.contextmanager
def float64_default() -> Iterator[None]:
    """Run with torch's default dtype float64, so state a library creates with
    ``torch.zeros(shape)`` (Sinabs' ``init_state_with_shape``, Rockpool's buffers) is
    float64 like the modules after ``.double()``; restored afterwards."""
    import torch

    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def _float64_everywhere(module: Any) -> Any:
    """``module.double()``, and every submodule's floating inputs cast to float64 on the
    way in. For libraries whose spike functions return float32 whatever the state's
    dtype (snnTorch's spike function and Sinabs' ``MultiSpike``/pooling end in
    ``.float()``), which would otherwise
    make the next float64 layer fail; the values cast are spike counts, exact in both."""
    import torch

    def cast(_mod: Any, args: tuple) -> tuple:
        return tuple(a.double() if isinstance(a, torch.Tensor) and a.is_floating_point() else a
                     for a in args)

    module = module.double()
    for sub in module.modules():
        sub.register_forward_pre_hook(cast)
    return module


def _input(x: Any) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim < 3:
        raise ValueError(f"x must be [batch, steps, *input_shape]; got shape {x.shape}")
    return x


def _numpy(t: Any) -> np.ndarray:
    return t.detach().cpu().double().numpy()


def _first(out: Any) -> Any:
    """The output tensor of a (output, state) or (output, ...) return value."""
    return out[0] if isinstance(out, tuple) else out


def _batched(z: np.ndarray, batch: int) -> np.ndarray:
    """A module's output with the batch axis first: a batch-of-one run through a module
    that dropped the batch axis (Norse's Flatten, see :func:`run_norse`) gets it back."""
    return z if z.ndim >= 1 and z.shape[0] == batch and (batch != 1 or z.ndim > 1) else z[None]


class RecordError(LookupError):
    """A node asked for in ``record`` has no (or no unique) module in the import: the
    caller's mistake, not the library's (not wrapped in :class:`ImporterError`)."""


class _Recorder:
    """Forward hooks on the torch modules nirtorch built for the given NIR nodes: every
    call's output (first element of a tuple) is kept. nirtorch names a node's module
    after the node with ``.`` -> ``_`` (and Python keywords prefixed); a node moved into
    a nested graph (snnTorch's recurrence) is found by that last name anywhere."""

    def __init__(self, module: Any, nodes: Sequence[str]):
        self.calls: dict[str, list[np.ndarray]] = {n: [] for n in nodes}
        self.handles = []
        modules = dict(module.named_modules())
        for n in nodes:
            key = n.replace(".", "_")
            candidates = [m for path, m in modules.items() if path in (key, f"nir_node_{key}")]
            if not candidates:
                candidates = [m for path, m in modules.items() if path.endswith(f".{key}")]
            if len(candidates) != 1:
                raise RecordError(f"cannot record node {n!r}: {len(candidates)} modules named "
                                  f"{key!r} in the imported module (it has {sorted(modules)})")
            self.handles.append(candidates[0].register_forward_hook(
                lambda _m, _i, out, n=n: self.calls[n].append(_numpy(_first(out)))))

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


def _step_in_time(module: Any, x: np.ndarray, record: Sequence[str]) -> dict[str, np.ndarray]:
    """Feed ``x[:, t]`` for t = 0..steps-1 as ``out, state = module(x_t, state)``
    (nirtorch's executors' protocol), ``state = None`` at the start; the output and each
    recorded node's output stacked on axis 1 (``[batch, steps, ...]``); the output is
    under the key ``None``."""
    import torch

    rec = _Recorder(module, record)
    outs, state = [], None
    try:
        with torch.no_grad():
            for t in range(x.shape[1]):
                z, state = module(torch.from_numpy(np.ascontiguousarray(x[:, t])), state)
                outs.append(_batched(_numpy(z), x.shape[0]))
    finally:
        rec.remove()
    result: dict[str | None, np.ndarray] = {None: np.stack(outs, axis=1)}
    for n, calls in rec.calls.items():
        if len(calls) != x.shape[1]:
            raise ValueError(f"node {n!r} ran {len(calls)} times in {x.shape[1]} steps")
        result[n] = np.stack([_batched(c, x.shape[0]) for c in calls], axis=1)
    return result


def _named(graph: nir.NIRGraph, result: dict) -> dict[str, np.ndarray]:
    out = {n: v for n, v in result.items() if n is not None}
    out[output_name(graph)] = result[None]
    return out


# ================================================================= snnTorch
def run_snntorch(graph: nir.NIRGraph, x: Any, record: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """snnTorch 1.0's ``snntorch.import_nir.import_from_nir(graph)``, stepped in time.

    What the import builds (snntorch/import_nir.py, with nirtorch 2.6's
    ``nir_to_torch``): first, every 2-cycle "LIF/CubaLIF <-> Affine/Linear" of the top
    graph is moved into a nested NIRGraph (``_replace_rnn_subgraph_with_nirgraph``)
    whose edges send the subgraph's *input into the recurrent weight* (``input ->
    w_rec -> neuron``), so the layer computes ``neuron(W_rec (x + z[t-1]) + b_rec)``,
    not ``neuron(x + W_rec z[t-1] + b_rec)``. Then nirtorch maps each node, recursing
    into nested graphs (so snnTorch's own RSynaptic/RLeaky branch for NIRGraph nodes
    is never reached), and wires a ``torch.fx.GraphModule`` (modules cast to float32).
    A nested graph the queue reaches before its input exists is wired twice, and the
    second time fails (``'GraphModule' object has no attribute 'items'``): whether
    snnTorch's recurrent import works depends on the order of ``graph.nodes`` (see
    :func:`snntorch_loadable`). The node mapping:

    - Affine/Linear -> ``torch.nn.Linear``; Conv2d, Flatten, AvgPool2d likewise;
    - LIF -> ``snn.Leaky(beta = 1 - dt/tau, threshold = v_threshold / (r*dt/tau),
      reset_mechanism="zero", reset_delay=False, init_hidden=True)``; asserts v_leak = 0;
    - CubaLIF -> ``snn.Synaptic(alpha = 1 - dt/tau_syn, beta = 1 - dt/tau_mem,
      threshold = v_threshold / (w_in*dt/tau_syn), "zero", reset_delay=False,
      init_hidden=True)``, asserting ``r == tau_mem/dt`` and ``v_leak == 0``;
    - IF -> ``snn.Leaky(beta=0.9, init_hidden=False)``: a leak, and a module returning
      ``(spk, mem)``, which the next layer cannot take (IF graphs fail to run);

    with ``dt = 1e-4`` hard-coded and every reset "zero" whatever the file says.
    Synaptic's step: ``syn = alpha*syn + x``, ``mem = beta*mem + syn``, ``spk = mem >
    threshold``, then ``mem = 0`` where it spiked.

    How it steps: ``out, state = module(x_t, state)`` once per step from ``state=None``;
    ``state`` carries nirtorch's recurrent caches (a cycle's previous output), the
    neurons keep their own hidden state (``init_hidden=True``), cleared before the run
    as snnTorch's docs say for init_hidden (``snntorch.utils.reset(module)``; neurons
    then start from zeros shaped like their first input).

    ``record``: names of further top-level nodes of ``graph`` whose module outputs are
    returned too (same layout), read with forward hooks on the modules the import built.
    """
    x = _input(x)
    with _stage("snnTorch", "import"), _quiet():
        import snntorch.utils
        from snntorch.import_nir import import_from_nir

        module = _float64_everywhere(import_from_nir(graph))
    snntorch.utils.reset(module)
    with _stage("snnTorch", "run"), _quiet():
        return _named(graph, _step_in_time(module, x, record))


def snntorch_loadable(graph: nir.NIRGraph, nest_recurrence: bool = True) -> nir.NIRGraph:
    """The same network in the form snnTorch 1.0's import handles: a workaround for its
    two recurrent-import bugs (see :func:`run_snntorch`), changing no parameter and no
    connection of the network.

    1. Each top-level 2-cycle "LIF/CubaLIF <-> Affine/Linear" whose weight node has no
       other input or output is nested as a subgraph ``{input -> neuron, neuron ->
       w_rec -> neuron, neuron -> output}`` named after the neuron (the structure of
       snnTorch's NIR 0.2 ``_subgraph`` files), so snnTorch's own re-nesting, which
       would feed the input into ``w_rec``, finds no cycle to rewrite.
    2. Nodes are listed in topological order from the Input (ignoring the edges back
       into a cycle), so nirtorch reaches every node after its inputs.

    ``nest_recurrence=False`` applies only 2: then snnTorch's import runs, with its own
    (input -> w_rec) re-nesting of the recurrence.
    """
    nodes = dict(graph.nodes)
    edges = list(dict.fromkeys(graph.edges))
    neuron_types, weight_types = (nir.LIF, nir.CubaLIF), (nir.Affine, nir.Linear)
    for a, b in list(edges) if nest_recurrence else []:
        if (b, a) not in edges or a not in nodes or b not in nodes:
            continue
        if not (isinstance(nodes[a], neuron_types) and isinstance(nodes[b], weight_types)):
            continue
        if [e for e in edges if b in e and e not in ((a, b), (b, a))]:
            continue
        neuron, w = nodes.pop(a), nodes.pop(b)
        shape = {"input": np.asarray(neuron.input_type["input"])}
        sub = nir.NIRGraph(
            nodes={"input": nir.Input(input_type=shape), "neuron": neuron, "w_rec": w,
                   "output": nir.Output(output_type={"output": shape["input"]})},
            edges=[("input", "neuron"), ("neuron", "w_rec"), ("w_rec", "neuron"),
                   ("neuron", "output")], type_check=False)
        nodes[a] = sub
        edges = [e for e in edges if e not in ((a, b), (b, a))]
    order: list[str] = [n for n, node in nodes.items() if isinstance(node, nir.Input)]
    while len(order) < len(nodes):
        ready = [n for n in nodes if n not in order
                 and all(s in order for s, d in edges if d == n and not _reaches(n, s, edges))]
        if not ready:
            raise ValueError(f"cannot order nodes {sorted(set(nodes) - set(order))}")
        order.append(ready[0])
    return nir.NIRGraph(nodes={n: nodes[n] for n in order}, edges=edges,
                        metadata=dict(graph.metadata or {}), type_check=False)


def _reaches(start: str, end: str, edges: list[tuple[str, str]]) -> bool:
    """True if a path of edges leads from ``start`` to ``end`` (so ``end -> start``
    closes a cycle)."""
    seen, todo = set(), [start]
    while todo:
        n = todo.pop()
        if n == end:
            return True
        if n not in seen:
            seen.add(n)
            todo.extend(d for s, d in edges if s == n)
    return False


# ==================================================================== Norse
def run_norse(graph: nir.NIRGraph, x: Any, dt: float, record: Sequence[str] = (),
              one_sample_at_a_time: bool = False) -> dict[str, np.ndarray]:
    """Norse 1.1's ``norse.torch.from_nir(graph, dt=dt)``, stepped in time.

    What the import builds (norse/torch/utils/import_nir.py): a nirtorch
    ``GraphExecutor`` (the deprecated ``nirtorch.load``), parameters as float32:

    - Affine/Linear/Conv2d -> the torch modules; SumPool2d -> ``LPPool2d(norm_type=1)``
      (padding ignored); Flatten -> ``torch.nn.Flatten(start_dim, end_dim)`` with NIR's
      dims, which exclude the batch: with a batch of more than one, ``start_dim=0``
      flattens the batch into the features and the next layer fails;
    - IF -> ``IAFCell(v_th=v_threshold)``: ``v += x`` (no dt; ``r`` ignored with a
      logged warning), spike when ``v > v_th``, reset to 0 (``v_reset`` not read);
    - LIF -> ``LIFBoxCell(tau_mem_inv=1/tau, v_th, v_leak)``: ``v += dt/tau*(x +
      v_leak - v)`` (``r`` ignored), spike when ``v > v_th``, reset to 0 (``v_reset``
      not read); the state starts at ``v = v_leak``;
    - CubaLIF -> ``w_in*x -> LIBoxCell(1/tau_syn, v_leak) -> r*(...) ->
      LIFBoxCell(1/tau_mem, v_th, v_leak)``: the synapse ``i += dt/tau_syn*(v_leak - i
      + w_in*x)`` is updated first, its new value times ``r`` drives the membrane;
    - nested NIRGraph -> another GraphExecutor; any other node: ``None`` (nirtorch then
      fails).

    How it steps: ``out, state = module(x_t, state)`` once per step from ``state=None``
    (Norse's cells create their initial state from the first input); the executor's
    state holds each cell's state and, for a cycle, the previous step's outputs: a back
    edge delivers one step late.

    ``one_sample_at_a_time``: run each batch element as a batch of one (then Norse's
    Flatten flattens the lone sample's features, as NIR means): the workaround for the
    Flatten bug above; results are stacked back on the batch axis.

    ``record``: names of further top-level nodes of ``graph`` whose module outputs are
    returned too (same layout), read with forward hooks on the modules the import built.
    """
    x = _input(x)
    if one_sample_at_a_time and x.shape[0] > 1:
        runs = [run_norse(graph, x[b:b + 1], dt, record) for b in range(x.shape[0])]
        return {n: np.concatenate([r[n] for r in runs]) for n in runs[0]}
    with _stage("Norse", "import"), _quiet():
        import norse.torch

        module = norse.torch.from_nir(graph, dt=dt).double()
    with _stage("Norse", "run"), _quiet():
        return _named(graph, _step_in_time(module, x, record))


# =================================================================== Sinabs
def run_sinabs(graph: nir.NIRGraph, x: Any, record: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """Sinabs 2.0's ``sinabs.from_nir(graph, batch_size=batch)``, run on the whole
    sequence.

    What the import builds (sinabs/nir.py): a nirtorch ``GraphExecutor`` of Sinabs
    layers in their "Squeeze" form, which take ``[batch*steps, ...]`` and unflatten it
    to ``[batch, steps, ...]`` with the given ``batch_size``; parameters as float32:

    - Affine/Conv1d/Conv2d -> torch modules; SumPool2d -> ``sl.SumPool2d``; Flatten ->
      ``nn.Flatten`` with its dims shifted by one (for the time-flattened batch axis);
    - IF -> ``IAFSqueeze(spike_threshold=v_threshold, min_v_mem=-v_threshold)``:
      ``v += x`` (``r`` and ``v_reset`` ignored), ``MultiSpike``: ``floor(v/threshold)``
      spikes when ``v >= threshold``, subtractive reset, ``v`` clipped below at
      ``-threshold``;
    - LIF -> ``LIFSqueeze(tau_mem=tau, spike_threshold, norm_input=False)``: ``v =
      exp(-1/tau)*v + x`` (tau in *steps*, ``r`` ignored), same spikes and reset;
    - LI -> ``ExpLeakSqueeze(tau)`` (requires r = 1, v_leak = 0); other nodes: ``None``.

    How it runs: one call on the input flattened batch-major to ``[batch*steps, ...]``;
    the layers loop over time internally. Sinabs layers keep their state between
    calls: it is cleared first (``sinabs.reset_states(model)``, as Sinabs' docs say).

    Precision: float64 state and synapses (torch's default dtype is float64 during the
    run, so the state Sinabs creates with ``torch.zeros`` is float64); Sinabs' spike
    functions return float32 whatever the state's dtype, so each layer's input is cast
    back to float64 (spike counts: exact either way).

    ``record``: names of further top-level nodes of ``graph`` whose module outputs are
    returned too (same layout), read with forward hooks on the modules the import built.
    """
    sys.modules.setdefault("samna", None)
    x = _input(x)
    batch, steps = x.shape[:2]
    with _stage("Sinabs", "import"), _quiet():
        import sinabs
        import torch

        module = _float64_everywhere(sinabs.from_nir(graph, batch_size=batch))
    sinabs.reset_states(module)
    rec = _Recorder(module, record)
    try:
        with _stage("Sinabs", "run"), _quiet(), float64_default(), torch.no_grad():
            flat = torch.from_numpy(np.ascontiguousarray(x.reshape(batch * steps, *x.shape[2:])))
            z = _numpy(_first(module(flat)))
    finally:
        rec.remove()
    result = {n: c[0].reshape(batch, steps, *c[0].shape[1:]) for n, c in rec.calls.items()}
    result[output_name(graph)] = z.reshape(batch, steps, *z.shape[1:])
    return result


# ================================================================= Rockpool
def run_rockpool(graph: nir.NIRGraph, x: Any) -> dict[str, np.ndarray]:
    """Rockpool 3.1's ``rockpool.nn.modules.torch.nir.from_nir(graph)``, run on the
    whole sequence.

    What the import builds (rockpool/nn/modules/torch/nir.py): a nirtorch
    ``GraphExecutor`` of Rockpool torch modules (``to_torch()`` API: they return only
    their output):

    - Affine/Linear -> ``LinearTorch`` (weight transposed);
    - CubaLIF -> ``LIFTorch(tau_mem, tau_syn, threshold=v_threshold, bias=v_leak,
      dt = min(tau_mem/(1 + r)))``: a dt *guessed per layer* from the parameters (its
      exporter writes ``r = tau*exp(-dt/tau)/dt``; the guess is not that inverse);
      ``i = exp(-dt/tau_syn)*(i + x)``, ``v = exp(-dt/tau_mem)*v + i + bias``, spikes
      ``floor(v/threshold)`` where ``v >= threshold``, subtractive reset; ``w_in``
      ignored;
    - a nested NIRGraph of exactly {Input, CubaLIF, Affine|Linear, Output} ->
      ``LIFTorch(has_rec=True, w_rec=weight.T)`` (its edges are not read; an Affine's
      bias is dropped with a warning);
    - LIF -> ``LIFNeuronTorch(tau_mem=node.tau_mem, ...)``, which fails: NIR's LIF has
      ``tau``; LI -> ``ExpSynTorch(tau.int(), ...)``; anything else raises
      ``NotImplementedError``.

    How it runs: one call on ``[batch, steps, n]``; Rockpool modules evolve over the
    time axis and keep their final state in their buffers, so every module's state is
    reset first (``reset_state()``, Rockpool's documented way).

    Precision: float32, module and input. Rockpool's spike function ends in
    ``.float()`` inside LIFTorch's time loop, and with ``has_rec`` the product with a
    float64 ``w_rec`` then fails ("expected m1 and m2 to have the same dtype"): Rockpool
    cannot run in float64.
    """
    sys.modules.setdefault("samna", None)
    x = _input(x)
    with _stage("Rockpool", "import"), _quiet():
        import torch
        from rockpool.nn.modules.torch.nir import from_nir

        module = from_nir(graph).float()
    for sub in module.modules():
        if sub is not module and hasattr(sub, "reset_state"):
            sub.reset_state()
    with _stage("Rockpool", "run"), _quiet(), torch.no_grad():
        z = _numpy(_first(module(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))))
    return {output_name(graph): z}
