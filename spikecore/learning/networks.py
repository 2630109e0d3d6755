"""Recurrent networks the online learning rules train, in one form.

Every network here is a layer of ``n`` neurons with ``C`` state components each
(``s[t]``, shape ``[C, n]``), one of them (``R``) the neurons' output ``r[t]`` (a rate or
a spike), driven through one weight matrix ``W = [W_rec | W_in | b]`` (``n x m``,
``m = n + n_in + 1``)::

    a[t] = [r[t-1]; x[t]; 1]                      presynaptic vector (length m)
    u[t] = W a[t]                                 each neuron's total input
    s[t] = g(s[t-1], u[t])                        elementwise: neuron i sees only s_i, u_i
    y[t] = W_out r[t] + b_out                     static readout (Marschall et al. 2020)

Because ``g`` is elementwise, the one-step derivatives the rules need are vectors per
neuron, found by autograd through the same ``g`` the forward pass runs (the equation is
written once; :meth:`OnlineRNN.local_derivatives`)::

    L[c', c, i] = d s_c'i[t] / d s_ci[t-1]        local Jacobian (leak, reset)
    D[c', i]    = d s_c'i[t] / d u_i[t]           immediate factor
    d s_c'i[t] / d W_kj (immediate) = D[c', i] delta_ik a_j[t]
    J = d s[t] / d s[t-1] = L (per neuron) + D W_rec (into component R)

Networks:

* :class:`RateRNN` (Marschall, Cho & Savin 2020): ``C = 1``,
  ``h[t] = (1 - alpha) h[t-1] + alpha tanh(u[t])``, ``alpha = dt / tau``.
* :class:`LIFRNN`: ``C = 2`` (``v`` after the reset, spike ``z``), the contract's LIF
  update (:func:`spikecore.discrete.coefficients`, :func:`spikecore.discrete.neuron_step`)
  with a surrogate gradient (:mod:`spikecore.backends.torch.surrogate`); with
  ``tau_adapt`` an ALIF layer (LSNN), ``C = 3`` (adaptation ``A``,
  :func:`spikecore.extensions.alif_step`);
  :meth:`LIFRNN.to_graph` is the same network as a spikecore graph (same readout on the
  torch backend, same spikes on Brian2; tested) and :meth:`LIFRNN.from_graph` reads any
  graph of that form (one LIF or ALIF population, input and delay-1 recurrent projections, a
  static LI readout).

Networks run one sequence at a time (no batch axis): online rules carry per-sequence
state (RTRL's influence matrix), so a batch is a loop over sequences.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import nir
import numpy as np
import torch

from .. import primitives as P
from ..backends.torch.surrogate import spike_function
from ..discrete import NeuronCoefficients, coefficients, neuron_coefficients, neuron_step
from ..errors import SpikecoreError
from ..extensions.alif import ALIF, ALIFCoefficients, alif_step
from ..graph import Edge, Graph, GraphWarning
from ..semantics import Semantics
from ..xp import SpikeFn, decay

#: Parameter names of every :class:`OnlineRNN`, in the order of ``W = [w_rec|w_in|b]``.
HIDDEN_PARAMS = ("w_rec", "w_in", "b")


class OnlineRNN(torch.nn.Module):
    """Base of the networks above: parameters ``w_rec [n, n]``, ``w_in [n, n_in]``,
    ``b [n]``, ``w_out [n_out, n]``, ``b_out [n_out]``; subclasses give ``g``
    (:meth:`cell`), the number of components ``C`` and the output component ``R``."""

    components: int = 1
    output_component: int = 0

    def __init__(self, n_in: int, n_hidden: int, n_out: int, seed: int = 0,
                 g_rec: float = 1.0, g_in: float = 1.0, dtype: torch.dtype = torch.float64):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)

        def normal(*shape: int, std: float) -> torch.nn.Parameter:
            return torch.nn.Parameter(torch.randn(*shape, generator=gen, dtype=dtype) * std)

        self.n_in, self.n, self.n_out = int(n_in), int(n_hidden), int(n_out)
        self.w_rec = normal(n_hidden, n_hidden, std=g_rec / math.sqrt(n_hidden))
        self.w_in = normal(n_hidden, n_in, std=g_in / math.sqrt(n_in))
        self.b = normal(n_hidden, std=0.1)
        self.w_out = normal(n_out, n_hidden, std=1.0 / math.sqrt(n_hidden))
        self.b_out = torch.nn.Parameter(torch.zeros(n_out, dtype=dtype))

    # ------------------------------------------------------------------ the model
    @property
    def m(self) -> int:
        """Length of the presynaptic vector ``a = [r; x; 1]``."""
        return self.n + self.n_in + 1

    def weight(self) -> torch.Tensor:
        """``W = [W_rec | W_in | b]`` (``n x m``)."""
        return torch.cat([self.w_rec, self.w_in, self.b[:, None]], dim=1)

    def initial_state(self) -> torch.Tensor:
        """``s[-1]``, shape ``[C, n]``."""
        return torch.zeros(self.components, self.n, dtype=self.w_rec.dtype)

    def cell(self, s: torch.Tensor, u: torch.Tensor, detach_reset: bool = False
             ) -> torch.Tensor:
        """``g(s[t-1], u[t]) -> s[t]``, elementwise over neurons."""
        raise NotImplementedError

    def presynaptic(self, s: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``a[t] = [r[t-1]; x[t]; 1]``."""
        return torch.cat([s[self.output_component], x, x.new_ones(1)])

    def readout(self, s: torch.Tensor) -> torch.Tensor:
        """``y = W_out r + b_out``."""
        return self.w_out @ s[self.output_component] + self.b_out

    def step(self, s: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One step ``(s[t-1], x[t]) -> (s[t], y[t])`` under autograd (BPTT's unrolled
        network is a loop of these)."""
        s_new = self.cell(s, self.weight() @ self.presynaptic(s, x))
        return s_new, self.readout(s_new)

    def forward(self, xs: torch.Tensor) -> torch.Tensor:
        """Readouts ``y[0..T-1]`` ``[T, n_out]`` of the inputs ``xs`` ``[T, n_in]``."""
        s, ys = self.initial_state(), []
        for x in xs:
            s, y = self.step(s, x)
            ys.append(y)
        return torch.stack(ys)

    def local_derivatives(self, s: torch.Tensor, u: torch.Tensor, detach_reset: bool = False
                          ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(s[t], L, D)``: the new state and the derivatives of the module docstring
        (``L [C, C, n]``, ``D [C, n]``), detached (:func:`elementwise_jacobians` of
        :meth:`cell`)."""
        return elementwise_jacobians(lambda s0, u0: self.cell(s0, u0, detach_reset), s, u)

    def split(self, grad_w: torch.Tensor) -> dict[str, torch.Tensor]:
        """A gradient of ``W`` ``[n, m]`` as the named parameters' gradients."""
        n, n_in = self.n, self.n_in
        return {"w_rec": grad_w[:, :n], "w_in": grad_w[:, n:n + n_in], "b": grad_w[:, -1]}


def elementwise_jacobians(cell: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                          s: torch.Tensor, u: torch.Tensor
                          ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(s1, L, D)`` of an elementwise cell ``s1 = cell(s, u)`` (``s, s1 [C, ...]``,
    ``u [...]``; ``...`` any neuron axes, e.g. ``[batch, n]``), detached::

        L[c', c, ...] = d s1[c', ...] / d s[c, ...],    D[c', ...] = d s1[c', ...] / d u[...]

    The cell acts on each neuron alone, so ``d sum s1[c'] / d (s, u)`` is row ``c'`` of
    both at once: ``C`` backward passes give the exact diagonal Jacobians, through the
    same step function the forward pass runs (the equation is not written again).
    """
    s0 = s.detach().requires_grad_(True)
    u0 = u.detach().requires_grad_(True)
    with torch.enable_grad():
        s1 = cell(s0, u0)
        Ls, Ds = [], []
        for c in range(s1.shape[0]):
            gs, gu = torch.autograd.grad(s1[c].sum(), (s0, u0), retain_graph=True,
                                         allow_unused=True)
            Ls.append(torch.zeros_like(s0) if gs is None else gs)
            Ds.append(torch.zeros_like(u0) if gu is None else gu)
    return s1.detach(), torch.stack(Ls), torch.stack(Ds)


def _lif_cell(co: NeuronCoefficients, s: torch.Tensor, u: torch.Tensor, spike: SpikeFn,
              detach_reset: bool) -> torch.Tensor:
    z, (v,) = neuron_step(torch, co, (s[0],), u, spike, detach_reset)
    return torch.stack([v, z])


def _alif_cell(co: ALIFCoefficients, s: torch.Tensor, u: torch.Tensor, spike: SpikeFn,
               detach_reset: bool) -> torch.Tensor:
    z, (v, a) = alif_step(torch, co, (s[0], s[2]), u, spike, detach_reset)
    return torch.stack([v, z, a])


#: Coefficient record -> ``(components C, cell)`` of a spiking layer (state stacked as
#: ``[v, z]``, or ``[v, z, A]`` with adaptation; the spike ``z`` is component 1).
SPIKING_CELLS: dict[type, tuple[int, Callable[..., torch.Tensor]]] = {
    NeuronCoefficients: (2, _lif_cell),
    ALIFCoefficients: (3, _alif_cell),
}


def spiking_cell(co: NeuronCoefficients | ALIFCoefficients, s: torch.Tensor, u: torch.Tensor,
                 spike: SpikeFn | None, detach_reset: bool = False) -> torch.Tensor:
    """One step of a LIF or ALIF layer under the contract (:func:`spikecore.discrete.
    neuron_step`, :func:`spikecore.extensions.alif_step`) on the stacked state ``s``
    (:data:`SPIKING_CELLS`): ``s[t] = cell(s[t-1], u[t])``, any neuron axes."""
    return SPIKING_CELLS[type(co)][1](co, s, u, spike, detach_reset)


class RateRNN(OnlineRNN):
    """The network of Marschall, Cho & Savin (2020): ``h[t] = (1 - alpha) h[t-1] + alpha
    tanh(W_rec h[t-1] + W_in x[t] + b)``, ``y[t] = W_out h[t] + b_out``,
    ``alpha = dt / tau``.

    Not built from a spikecore graph: :class:`spikecore.extensions.RateUnit` integrates
    the input *before* the nonlinearity (``x[t] = (1 - alpha) x + alpha (J phi(x) + I)``),
    the paper's network applies ``tanh`` to the input; the two are different networks.
    """

    components = 1
    output_component = 0

    def __init__(self, n_in: int, n_hidden: int, n_out: int, alpha: float = 1.0,
                 seed: int = 0, g_rec: float = 1.0, g_in: float = 1.0,
                 dtype: torch.dtype = torch.float64):
        super().__init__(n_in, n_hidden, n_out, seed, g_rec, g_in, dtype)
        if not 0.0 < alpha <= 1.0:
            raise SpikecoreError(f"alpha={alpha!r}: expected 0 < alpha = dt/tau <= 1")
        self.alpha = float(alpha)

    def cell(self, s: torch.Tensor, u: torch.Tensor, detach_reset: bool = False
             ) -> torch.Tensor:
        return ((1.0 - self.alpha) * s[0] + self.alpha * torch.tanh(u))[None]

    def local_derivatives(self, s: torch.Tensor, u: torch.Tensor, detach_reset: bool = False
                          ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Closed form of the base class's autograd result (equal to rounding; tested):
        ``L = 1 - alpha``, ``D = alpha (1 - tanh(u)^2)``. Saves the autograd graph in
        every step (about half of RFLO's time per step at n = 16)."""
        y = torch.tanh(u)
        s1 = ((1.0 - self.alpha) * s[0] + self.alpha * y)[None]
        L = torch.full((1, 1, self.n), 1.0 - self.alpha, dtype=s.dtype)
        return s1, L, (self.alpha * (1.0 - y * y))[None]


class LIFRNN(OnlineRNN):
    """Recurrent LIF (or ALIF: an LSNN) layer under the contract, spikes read out
    statically.

    State ``[v, z]`` (``v`` after the reset), ``[v, z, A]`` with adaptation. Per step,
    with the contract's coefficients ``a_mem, k_x, c`` (:func:`spikecore.discrete.
    coefficients`; with adaptation :func:`spikecore.extensions.alif_step`)::

        v~[t] = a_mem v[t-1] + k_x u[t] + c,     u[t] = W_rec z[t-1] + W_in x[t] + b
        z[t]  = v~[t] > v_th + beta A[t-1]   (backward: the surrogate's psi(v~ - thr))
        v[t]  = reset(v~[t], z[t])           (to_value or subtract, as in ``semantics``)
        A[t]  = rho A[t-1] + z[t]            (ALIF only; rho from tau_adapt)
        y[t]  = W_out z[t] + b_out

    ``tau_adapt=None`` (default): LIF; else ALIF with ``tau_adapt`` and ``beta``.
    ``detach_reset`` (used by e-prop) stops the reset's dependence on ``z``.
    """

    components = 2
    output_component = 1

    def __init__(self, n_in: int, n_hidden: int, n_out: int, tau: float = 10e-3,
                 semantics: Semantics | None = None, v_threshold: float = 1.0,
                 v_reset: float = 0.0, surrogate: str = "superspike",
                 surrogate_scale: float | None = None, seed: int = 0, g_rec: float = 1.0,
                 g_in: float = 3.0, tau_adapt: float | None = None, beta: float = 0.5,
                 dtype: torch.dtype = torch.float64):
        super().__init__(n_in, n_hidden, n_out, seed, g_rec, g_in, dtype)
        self.semantics = semantics or Semantics(dt=1e-3)
        full = lambda value: torch.full((n_hidden,), float(value), dtype=dtype)  # noqa: E731
        self.lif_params = {"tau": full(tau), "r": full(1.0), "v_leak": full(0.0),
                           "v_threshold": full(v_threshold), "v_reset": full(v_reset)}
        self.adaptive = tau_adapt is not None
        if self.adaptive:
            self.components = 3
            self.lif_params.update(tau_adapt=full(tau_adapt), beta=full(beta))
        self._coefficients()
        self.spike = spike_function(surrogate, surrogate_scale)
        self.surrogate = surrogate

    def _coefficients(self) -> None:
        """The contract's coefficients of the current ``lif_params`` (torch)."""
        p, sem = self.lif_params, self.semantics
        if not self.adaptive:
            self.co = coefficients(torch, P.LIF, p, sem)
            return
        membrane = coefficients(torch, P.LI, {k: p[k] for k in ("tau", "r", "v_leak")}, sem)
        rho = decay(torch, float(sem.dt), p["tau_adapt"], sem.integrator == "exact")
        self.co = ALIFCoefficients(membrane, rho, p["beta"], p["v_threshold"], p["v_reset"],
                                   sem.reset)

    def initial_state(self) -> torch.Tensor:
        v0 = self.co.membrane.v_initial if self.adaptive else self.co.v_initial
        return torch.stack([v0] + [torch.zeros_like(v0)] * (self.components - 1))

    def cell(self, s: torch.Tensor, u: torch.Tensor, detach_reset: bool = False
             ) -> torch.Tensor:
        return spiking_cell(self.co, s, u, self.spike, detach_reset)

    @classmethod
    def from_graph(cls, graph: Graph, surrogate: str = "superspike",
                   surrogate_scale: float | None = None, dtype: torch.dtype = torch.float64
                   ) -> LIFRNN:
        """The network of a spikecore graph of the form :meth:`to_graph` writes: one
        LIF or ALIF population (any per-neuron parameters), fed by an ``Input -> Affine/Linear``
        (delay 0) and by itself through a ``Linear`` or ``Affine`` of total delay 1 (its
        bias joins ``b``), read out by ``Affine/Linear -> LI`` whose update is static
        (``a_mem = 0``, ``k_x = 1``, ``c = 0``: ``tau = dt``, ``r = 1``, ``v_leak = 0``
        under Euler). The graph's semantics are kept. Raises
        :class:`~spikecore.errors.SpikecoreError` listing everything that does not fit.
        """
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            g = graph.flatten().validate()
        parts, problems = _lif_rnn_parts(g)
        for w in caught:  # tau = dt is expected of the static readout only
            if not (problems == [] and f"node {parts[4]!r} (LI)" in str(w.message)):
                warnings.warn(w.message, w.category, stacklevel=2)
        if problems:
            raise SpikecoreError(f"graph {g.name!r} is not a recurrent LIF network with a "
                                 "static readout:\n" + "\n".join(f"  - {p}" for p in problems))
        hid, w_in_node, w_rec_node, w_out_node, _ = parts
        node = g.nodes[hid]
        n = int(np.size(node.tau))
        w_in = np.asarray(w_in_node.weight, dtype=np.float64)
        w_out = np.asarray(w_out_node.weight, dtype=np.float64)
        net = cls(w_in.shape[1], n, w_out.shape[0], semantics=g.semantics,
                  surrogate=surrogate, surrogate_scale=surrogate_scale, dtype=dtype,
                  tau_adapt=1.0 if isinstance(node, ALIF) else None)
        net.lif_params = {k: torch.as_tensor(np.broadcast_to(getattr(node, k), (n,)).copy(),
                                             dtype=dtype) for k in net.lif_params}
        net._coefficients()
        bias = np.zeros(n)
        for op in (w_in_node, w_rec_node):
            if op is not None and isinstance(op, nir.Affine):
                bias = bias + np.asarray(op.bias, dtype=np.float64)
        values = {"w_in": w_in, "b": bias, "w_out": w_out,
                  "w_rec": np.zeros((n, n)) if w_rec_node is None else w_rec_node.weight,
                  "b_out": w_out_node.bias if isinstance(w_out_node, nir.Affine)
                  else np.zeros(w_out.shape[0])}
        with torch.no_grad():
            for k, v in values.items():
                getattr(net, k).copy_(torch.as_tensor(np.asarray(v, dtype=np.float64)))
        return net

    def to_graph(self, name: str = "lif_rnn") -> Graph:
        """This network as a spikecore graph (current parameter values)::

            input -> w_in (Affine W_in, b) -> hidden (LIF/ALIF) -> w_out (Affine) -> readout
            hidden -> w_rec (Linear W_rec) -> hidden  (delay 1)

        ``readout`` is an LI with ``tau = dt``, ``r = 1``, ``v_leak = 0``: under Euler its
        update is ``y[t] = W_out z[t] + b_out`` exactly (``a_mem = 0``, ``k_x = 1``), the
        static readout. Only Euler semantics have that readout; others raise.
        """
        sem = self.semantics
        if sem.integrator != "euler":
            raise SpikecoreError("LIFRNN.to_graph: the static readout is an LI with tau = dt, "
                                 "exact only under integrator='euler'; got "
                                 f"{sem.integrator!r}")

        def arr(t: torch.Tensor) -> np.ndarray:
            return t.detach().cpu().numpy().astype(np.float64)

        lif: dict[str, Any] = {k: arr(v) for k, v in self.lif_params.items()}
        n_out = self.n_out
        nodes = {
            "input": nir.Input(input_type=np.array([self.n_in])),
            "w_in": nir.Affine(weight=arr(self.w_in), bias=arr(self.b)),
            "hidden": ALIF(**lif) if self.adaptive else nir.LIF(**lif),
            "w_rec": nir.Linear(weight=arr(self.w_rec)),
            "w_out": nir.Affine(weight=arr(self.w_out), bias=arr(self.b_out)),
            "readout": nir.LI(tau=np.full(n_out, sem.dt), r=np.ones(n_out),
                              v_leak=np.zeros(n_out)),
            "output": nir.Output(output_type=np.array([n_out])),
        }
        edges = [Edge("input", "w_in"), Edge("w_in", "hidden"), Edge("hidden", "w_rec"),
                 Edge("w_rec", "hidden", 1), Edge("hidden", "w_out"),
                 Edge("w_out", "readout"), Edge("readout", "output")]
        with warnings.catch_warnings():
            # tau = dt is the point here (a static readout), not a too coarse step
            warnings.filterwarnings("ignore", "graph .*not smaller than tau", GraphWarning)
            return Graph(nodes, edges, sem, name=name).validate()


def _projection(g: Graph, name: str) -> bool:
    return type(g.nodes[name]) in (nir.Linear, nir.Affine)


def _lif_rnn_parts(g: Graph) -> tuple[tuple, list[str]]:
    """``(hidden, w_in, w_rec or None, w_out, readout name)`` of :meth:`LIFRNN.from_graph`'s
    form, and the problems found (all of them)."""
    hidden = [k for k, v in g.nodes.items() if type(v) in (P.LIF, ALIF)]
    if len(hidden) != 1:
        return (), [f"expected exactly one LIF or ALIF population, found {len(hidden)}: "
                    f"{hidden}"]
    hid = hidden[0]
    problems: list[str] = []
    w_in = w_rec = w_out = readout_name = None
    for e in g.incoming(hid):
        src = e.source
        before = g.incoming(src)
        if not _projection(g, src) or len(before) != 1:
            problems.append(f"{src!r} -> {hid!r}: expected a Linear/Affine with one input")
            continue
        pre = before[0]
        if pre.source == hid and pre.delay_steps + e.delay_steps == 1:
            w_rec = g.nodes[src]
        elif isinstance(g.nodes[pre.source], nir.Input) and pre.delay_steps + e.delay_steps == 0:
            w_in = g.nodes[src]
        else:
            problems.append(f"{src!r} -> {hid!r}: neither the input projection (from an Input, "
                            "delay 0) nor the recurrence (from the LIF, delay 1)")
    for e in g.outgoing(hid):
        if e.delay_steps or not _projection(g, e.target):
            continue
        after = g.outgoing(e.target)
        if len(after) == 1 and type(g.nodes[after[0].target]) is nir.LI \
                and after[0].delay_steps == 0:
            readout_name = after[0].target
            readout = g.nodes[readout_name]
            co = neuron_coefficients(readout, g.semantics)
            if np.any(co.a_mem != 0) or np.any(co.k_x != 1) or np.any(co.c != 0):
                problems.append(
                    f"readout {after[0].target!r} (LI) is not static (a_mem, k_x, c = "
                    f"{co.a_mem.ravel()[0]:.4g}, {co.k_x.ravel()[0]:.4g}, {co.c.ravel()[0]:.4g}); "
                    "the online rules read y = W_out z + b_out: use tau = dt, r = 1, "
                    "v_leak = 0 under integrator='euler'")
            w_out = g.nodes[e.target]
    if w_in is None:
        problems.append(f"no Input -> Linear/Affine -> {hid!r} input projection")
    if w_out is None:
        problems.append(f"no {hid!r} -> Linear/Affine -> LI readout")
    return (hid, w_in, w_rec, w_out, readout_name), problems
