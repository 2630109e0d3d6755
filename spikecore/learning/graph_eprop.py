"""e-prop (Bellec et al. 2020, Nat. Commun. 11:3625) on a graph: online, local gradients
for a recurrent network of LIF or ALIF neurons (an LSNN) in a module made by
``to_torch``, with batches and an LI readout; the rule :class:`spikecore.learning.EProp`
returns for such a module (:class:`GraphEProp`), under the interface of
:class:`~spikecore.learning.base.Rule`.

Network form (found in the graph, see :class:`EProp`)::

    I[t]  = W_in x[t] (+ b) + W_rec z[t-1]                   (W_rec optional, delay 1)
    v~[t] = a_m v[t-1] + k_x I[t] + c                        (the contract's membrane)
    b[t]  = v_th + beta A[t-1]                               (LIF: beta = 0)
    z[t]  = v~[t] > b[t]
    v[t]  = (1 - z) v~[t] + z v_reset   or   v~[t] - z (v_th - v_reset)
    A[t]  = rho A[t-1] + z[t]                                (ALIF adaptation, A[-1] = 0)
    y[t]  = kappa y[t-1] + k_o W_out z[t] + c_o              (LI readout, one kappa)

Per synapse ``j <- i`` the eligibility of neuron ``j``'s own state is carried forward
online: the local trace ``E = d s_j / d W_ji`` of every state component (``s = [v, z]``,
ALIF ``[v, z, A]``; :func:`~spikecore.learning.base.local_trace_step`), with the one-step
derivatives found by autograd through the contract's own step function
(:func:`~spikecore.learning.networks.elementwise_jacobians` of
:func:`~spikecore.learning.networks.spiking_cell`, the reset's path stopped). Written
out, with ``ev_ji[t] = d v~_j[t] / d W_ji`` and ``ea_ji[t] = d A_j[t-1] / d W_ji`` (the
adaptation's, ALIF only), that trace is::

    ev[t] = a_m r[t-1] ev[t-1] + k_x pre_i[t]      r = 1 - z (to_value) or 1 (subtract)
    e[t]  = psi_j[t] (ev[t] - beta ea[t])          psi = surrogate derivative at v~ - b
    ea[t+1] = rho ea[t] + e[t]  =  psi ev[t] + (rho - psi beta) ea[t]
    e~[t] = kappa e~[t-1] + e[t]                   (filtered by the readout's leak)
    L_j[t] = sum_k B_jk k_o,k dE/dy_k[t]           (learning signal, B = W_out^T or random)
    dE/dW_ji ~= sum_t L_j[t] e~_ji[t]

``pre_i`` is ``x_i[t]`` for W_in (1 for its bias) and ``z_i[t-1]`` for W_rec. The
readout gradient ``sum_t dE/dy_k[t] k_o,k zbar_j[t]`` (``zbar = kappa zbar + z``) is exact.

Which gradient paths are kept. Kept: everything inside neuron ``j`` except the reset,
i.e. the leak (``a_m r``), the threshold's dependence on ``v~`` (``psi``) and the
adaptation loop ``z[t] -> A[t] -> b[t+1] -> z[t+1]`` (``ea``; the paper's
``epsilon^a``). Stopped: (1) the reset's dependence on the spike, ``d v[t] / d z[t]``
(``v[t]`` is treated as ``r[t] v~[t] + const`` with ``r`` a constant), as in the paper,
whose ``d v^{t+1}/d v^t = alpha`` drops the ``-v_th psi`` term; (2) with recurrence,
every path from ``z_j[t]`` through another neuron (``W_rec z[t-1]``, including the other
neurons' adaptation): the e-prop approximation, as ``L_j`` is only the readout's direct
error (the readout's leak itself is exact, via ``e~``). Without recurrence
(no W_rec, or W_rec = 0) and with symmetric feedback the estimate therefore equals BPTT
through ``to_torch(..., detach_reset=True)`` exactly (that flag stops (1) and nothing
else; in an ALIF it leaves the adaptation path, as here).

Correspondence with the paper (its Methods, ALIF; its ``v^t`` is before the reset):
paper ``v^t`` = ``v~[t]``; paper ``a^t`` = ``A[t-1]`` (its threshold ``A^t = v_th +
beta a^t`` uses the adaptation up to the previous spike, exactly as spikecore's ``b[t]``
uses ``A[t-1]``); its ``a^{t+1} = rho a^t + z^t`` is ``A[t] = rho A[t-1] + z[t]``; its
reset ``- z^t v_th`` inside ``v^{t+1}`` is spikecore's ``reset = subtract`` with
``v_reset = 0`` (spikecore subtracts ``v_th - v_reset``, the baseline, not ``b[t]``);
its input ``W^in x^{t+1} + W^rec z^t`` is the delay-0 input and delay-1 recurrence
above, here scaled by the contract's ``k_x``. So with ``reset = subtract`` the traces are
the paper's ``epsilon^v, epsilon^a`` and ``e = psi (epsilon^v - beta epsilon^a)``
unchanged. Differences: (a) under ``reset = to_value`` the membrane is set to ``v_reset``, so
``ev`` gets the factor ``r = 1 - z[t-1]`` (the stopped reset's Jacobian ``d v / d v~``),
which the paper's subtractive model has not; (b) ``psi`` is the module's surrogate
derivative at ``v~ - b`` (its own scale), not the paper's
``gamma max(0, 1 - |v - A| / v_th) / v_th`` (pass a surrogate and scale to ``to_torch``
to choose it).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import primitives as P
from ..backends.torch.module import SpikecoreModule
from ..backends.torch.ops import AffineOp, NodeOp
from ..errors import SpikecoreError
from ..extensions import ALIF
from .base import Rule, local_trace_step
from .networks import SPIKING_CELLS, elementwise_jacobians, spiking_cell

LOSSES = ("mse", "ce")
#: Hidden-layer types e-prop can train (their state is stacked as ``[v, z(, A)]``).
HIDDEN = (P.LIF, ALIF)
#: Index of the spike ``z`` and of the adaptation ``A`` in the stacked state.
SPIKE, ADAPTATION = 1, 2


@dataclass
class _Parts:
    hidden: str
    w_in: str
    w_rec: str | None
    w_out: str
    readout: str


def _find_parts(m: SpikecoreModule) -> _Parts:
    problems = []
    g = m.graph
    hidden = [n for n in m.names if type(g.nodes[n]) in HIDDEN]
    if len(hidden) != 1:
        names = ", ".join(t.__name__ for t in HIDDEN)
        raise SpikecoreError(
            f"e-prop needs exactly one LIF or ALIF population (the recurrent layer); graph "
            f"{g.name!r} has {len(hidden)}: {hidden}. Supported hidden types: {names}")
    hid = hidden[0]
    w_in = w_rec = w_out = readout = None
    for src, d in m.incoming[hid]:
        op = m.op[src]
        srcs = m.incoming[src]
        if not isinstance(op, AffineOp) or len(srcs) != 1:
            problems.append(f"{src!r} -> {hid!r}: expected a Linear/Affine with one input")
        elif srcs[0][0] == hid and srcs[0][1] + d >= 1:
            w_rec = src
            if srcs[0][1] + d != 1:
                problems.append(f"recurrent path through {src!r} has delay {srcs[0][1] + d}; "
                                "e-prop here needs exactly 1 step")
        elif isinstance(g.nodes[srcs[0][0]], P.Input) and d == 0 and srcs[0][1] == 0:
            w_in = src
        else:
            problems.append(f"{src!r} -> {hid!r}: neither the input projection nor the "
                            "recurrent weights")
    for e in g.outgoing(hid):
        if isinstance(m.op[e.target], AffineOp) and e.delay_steps == 0:
            outs = g.outgoing(e.target)
            if len(outs) == 1 and type(g.nodes[outs[0].target]) is P.LI and \
                    outs[0].delay_steps == 0:
                w_out, readout = e.target, outs[0].target
    if w_in is None:
        problems.append(f"no Input -> Linear/Affine -> {hid!r} input projection")
    if readout is None:
        problems.append(f"no {hid!r} -> Linear/Affine -> LI readout")
    if problems:
        raise SpikecoreError(f"graph {g.name!r} is not a recurrent LIF/ALIF network e-prop "
                             "can train:\n" + "\n".join(f"  - {p}" for p in problems))
    return _Parts(hid, w_in, w_rec, w_out, readout)


@dataclass
class _Network:
    """The network as e-prop reads it (module docstring's symbols): the hidden layer's
    coefficients and surrogate, the weights, and the readout's leak and scale."""

    hid: NodeOp
    co: object                      # NeuronCoefficients (LIF) or ALIFCoefficients
    win_op: AffineOp
    w_rec: torch.Tensor | None
    w_out: torch.Tensor
    b_out: torch.Tensor | None
    kappa: float                    # the readout's leak
    k_o: torch.Tensor
    c_o: torch.Tensor | None
    B: torch.Tensor                 # feedback matrix (W_out, or fixed random)
    readout: NodeOp


@dataclass
class _State:
    """What e-prop carries from step to step: the stacked hidden state ``s [C, batch,
    n]``, the readout ``y``, per weight block the local trace ``E [C, batch, n, m]`` and
    its readout-filtered spike row ``e~ [batch, n, m]``, and the readout filters."""

    s: torch.Tensor
    y: torch.Tensor
    E: dict[str, torch.Tensor]
    ebar: dict[str, torch.Tensor]
    zbar: torch.Tensor
    ones: torch.Tensor              # the bias's presynaptic input [batch, 1]
    obar: float = 0.0


class GraphEProp(Rule):
    """e-prop gradients for a module made by :func:`spikecore.to_torch` (module
    docstring), under the interface of :class:`~spikecore.learning.base.Rule`:
    :meth:`step` advances the network one step for a batch and adds that step's e-prop
    estimate to ``.grad`` of W_in (and its bias), W_rec, W_out (and its bias); step any
    torch optimizer after each step (online) or each sequence. :meth:`run` (alias
    :meth:`backward`) does a batch of whole sequences. Nothing is stored across steps but
    the traces: memory is independent of the number of steps.

    Losses, per step ``t`` with weight ``w[b, t]`` (``mask``, default 1), averaged over
    the batch: ``"mse"``: ``1/2 w sum_k (y - target)**2`` (targets ``[batch, steps,
    n_out]``); ``"ce"``: ``w CE(softmax(y[t]), label)`` (targets: class labels
    ``[batch]``, the same at every step).

    Args:
        module: the lowered network (its surrogate and scale give ``psi``).
        feedback: ``"symmetric"`` (``B = W_out^T``) or ``"random"`` (fixed random ``B``,
            seeded by ``seed``).
        adaptation_trace: ALIF only; ``False`` stops the threshold's dependence on the
            adaptation in the traces (``ea`` dropped, the adaptation loop ``z -> A -> b``
            treated as a given input): a cruder estimate, kept for comparison.
        loss: the default loss of :meth:`step` and :meth:`run`.
    """

    def __init__(self, module: SpikecoreModule, feedback: str = "symmetric", seed: int = 0,
                 adaptation_trace: bool = True, loss: str = "mse"):
        if not isinstance(module, SpikecoreModule):
            raise SpikecoreError("e-prop on a graph expects a module made by "
                                 f"spikecore.to_torch; got {type(module).__name__}")
        if feedback not in ("symmetric", "random"):
            raise SpikecoreError(f"feedback={feedback!r}: expected 'symmetric' or 'random'")
        self.loss = _check_loss(loss)
        self.m = module
        self.parts = _find_parts(module)
        self.feedback = feedback
        self.adaptation_trace = bool(adaptation_trace)
        w_out = module.op[self.parts.w_out].weight
        self.B = None
        if feedback == "random":
            gen = torch.Generator().manual_seed(seed)
            self.B = (torch.randn(w_out.shape, generator=gen, dtype=torch.float64)
                      / w_out.shape[1] ** 0.5).to(dtype=w_out.dtype, device=w_out.device)
        self.reset()

    # ------------------------------------------------------------------ interface
    def reset(self) -> None:
        """Start new sequences: the modules' initial state, zero traces; the network's
        coefficients are read again (from the current parameters) at the next step."""
        self.net: _Network | None = None
        self.state: _State | None = None

    def memory_floats(self) -> int:
        """Numbers carried for learning: the traces and their filtered rows (0 before
        the first step, which sets the batch size)."""
        if self.state is None:
            return 0
        st = self.state
        return sum(e.numel() for e in st.E.values()) + \
            sum(e.numel() for e in st.ebar.values()) + st.zbar.numel() + 1

    @torch.no_grad()
    def step(self, x: torch.Tensor, target: torch.Tensor | None = None,
             loss: str | None = None, weight: torch.Tensor | None = None) -> float:
        """One step for a batch: ``x`` ``[batch, n_in]``; ``target`` ``[batch, n_out]``
        (mse) or labels ``[batch]`` (ce), ``None`` for no loss this step; ``weight``
        ``[batch]`` the loss weights of this step. Adds the step's estimate to ``.grad``;
        returns the step's loss (averaged over the batch)."""
        loss = self.loss if loss is None else _check_loss(loss)
        x = self._step_input(x)
        if self.state is None:
            self.net = self._network()
            self.state = self._initial_state(self.net, x.shape[0])
        elif x.shape[0] != self.state.s.shape[1]:
            raise SpikecoreError(f"e-prop step: batch {x.shape[0]}, but the running "
                                 f"sequences have batch {self.state.s.shape[1]}; call "
                                 "reset() to start new ones")
        net, st = self.net, self.state
        self._hidden_step(net, st, x)
        _readout_step(net, st)
        if target is None:
            return 0.0
        err, value = _loss_error(st.y, target, loss, weight, x.shape[0])
        _add_grads(net, st, err)
        return value

    def run(self, xs: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor | None = None,
            loss: str | None = None) -> float:
        """A batch of whole sequences from a fresh state: ``xs`` ``[batch, steps, n_in]``
        (or a dict by Input name, as the module takes), ``targets`` ``[batch, steps,
        n_out]`` (mse) or labels ``[batch]`` (ce), ``mask`` loss weights ``[steps]`` or
        ``[batch, steps]``. Adds the summed estimate to ``.grad``; returns the loss."""
        loss = self.loss if loss is None else _check_loss(loss)
        inputs, batch, steps = self.m.normalize_inputs(xs, None)
        x = next(iter(inputs.values()))
        mask = _step_weights(mask, x, batch, steps)
        targets = torch.as_tensor(targets, device=x.device)
        self.reset()
        total = 0.0
        for t in range(steps):
            tgt = targets if loss == "ce" else targets[:, t]
            total += self.step(x[:, t], tgt, loss, None if mask is None else mask[:, t])
        return total

    def backward(self, x: torch.Tensor, target: torch.Tensor, loss: str = "ce",
                 mask: torch.Tensor | None = None) -> float:
        """:meth:`run` with the loss named first (this rule's original call; cross
        entropy by default): adds the e-prop estimate to ``.grad``, returns the loss."""
        return self.run(x, target, mask, loss)

    # ------------------------------------------------------------------ internals
    def _step_input(self, x: torch.Tensor) -> torch.Tensor:
        ref = self.m.op[self.parts.w_in].weight
        x = torch.as_tensor(x, dtype=ref.dtype, device=ref.device)
        if x.dim() == 1:
            x = x[None]
        if x.dim() != 2 or x.shape[1] != ref.shape[1]:
            raise SpikecoreError(f"e-prop step: input of shape {tuple(x.shape)}, expected "
                                 f"[batch, {ref.shape[1]}] (one step of "
                                 f"{self.m.input_names[0]!r})")
        return x

    def _network(self) -> _Network:
        """The parameters e-prop reads from the module (coefficients of the current
        parameters); raises if the readout has several leaks."""
        m, p = self.m, self.parts
        prep = m.prepare()
        co_o = prep[p.readout]
        kappa = co_o.a_mem
        if not bool(torch.all(kappa == kappa.reshape(-1)[0])):
            raise SpikecoreError(f"readout {p.readout!r}: e-prop filters eligibility traces "
                                 "with one readout leak; give every readout neuron one tau")
        w_out = m.op[p.w_out].weight
        return _Network(
            hid=m.op[p.hidden], co=prep[p.hidden], win_op=m.op[p.w_in],
            w_rec=m.op[p.w_rec].weight if p.w_rec else None, w_out=w_out,
            b_out=m.op[p.w_out].bias if m.op[p.w_out].has_bias else None,
            kappa=float(kappa.reshape(-1)[0]), k_o=co_o.k_x, c_o=co_o.c,
            B=w_out if self.B is None else self.B, readout=m.op[p.readout])

    def _initial_state(self, net: _Network, batch: int) -> _State:
        """The state before step 0: the modules' initial v and y, no spikes, no
        adaptation, zero traces."""
        v = net.hid.init_state(batch)[0]
        y = net.readout.init_state(batch)[0]
        components = SPIKING_CELLS[type(net.co)][0]
        s = torch.stack([v] + [torch.zeros_like(v)] * (components - 1))
        n_in = net.win_op.weight.shape[1]
        blocks = {"in": n_in, "bias": 1}
        if net.w_rec is not None:
            blocks["rec"] = v.shape[1]
        E = {k: v.new_zeros(components, batch, v.shape[1], m) for k, m in blocks.items()}
        return _State(s=s, y=y, E=E, ebar={k: e[0].clone() for k, e in E.items()},
                      zbar=torch.zeros_like(v), ones=v.new_ones(batch, 1))

    def _hidden_step(self, net: _Network, st: _State, xt: torch.Tensor) -> None:
        """One step of the hidden layer (the contract's step function) and of its
        eligibility traces, in place on ``st``."""
        z = st.s[SPIKE]
        u = net.win_op.apply(xt, None)
        if net.w_rec is not None:
            u = u + z @ net.w_rec.t()
        spike = net.hid.spike
        s_new, L, D = elementwise_jacobians(
            lambda s, u: spiking_cell(net.co, s, u, spike, detach_reset=True), st.s, u)
        if L.shape[0] > ADAPTATION and not self.adaptation_trace:
            L[:, ADAPTATION] = 0.0  # the threshold's dependence on A[t-1] stopped
        pres = {"in": xt, "bias": st.ones, "rec": z}
        for k in st.E:
            st.E[k] = local_trace_step(L, D, st.E[k], pres[k])
            st.ebar[k] = net.kappa * st.ebar[k] + st.E[k][SPIKE]
        st.s = s_new


def _check_loss(loss: str) -> str:
    if loss not in LOSSES:
        raise SpikecoreError(f"loss={loss!r}: expected one of {LOSSES}")
    return loss


def _step_weights(mask: torch.Tensor | None, x: torch.Tensor, batch: int, steps: int
                  ) -> torch.Tensor | None:
    """``mask`` as ``[batch, steps]`` loss weights (None stays None); raises on a wrong
    shape."""
    if mask is None:
        return None
    mask = torch.as_tensor(mask, dtype=x.dtype, device=x.device)
    if mask.dim() == 1:
        mask = mask[None].expand(batch, -1)
    if tuple(mask.shape) != (batch, steps):
        raise SpikecoreError(f"mask: got shape {tuple(mask.shape)}, expected "
                             f"[{steps}] or [{batch}, {steps}] (weights per step)")
    return mask


def _readout_step(net: _Network, st: _State) -> None:
    """The leaky readout ``y = kappa y + k_o (W_out z + b) + c_o`` and its filters
    ``zbar = kappa zbar + z``, ``obar = kappa obar + 1``, in place on ``st``."""
    z = st.s[SPIKE]
    drive = z @ net.w_out.t() + (net.b_out if net.b_out is not None else 0.0)
    st.y = net.kappa * st.y + net.k_o * drive
    if net.c_o is not None:
        st.y = st.y + net.c_o
    st.zbar = net.kappa * st.zbar + z
    st.obar = net.kappa * st.obar + 1.0  # d y[t] / d b_out, per unit of k_o


def _loss_error(y: torch.Tensor, target: torch.Tensor, loss: str, w: torch.Tensor | None,
                batch: int) -> tuple[torch.Tensor, float]:
    """The step's ``dE/dy`` ``[batch, n_out]`` (weighted by ``w``, divided by the batch)
    and its loss value."""
    target = torch.as_tensor(target, device=y.device)
    want = (batch, y.shape[1]) if loss == "mse" else (batch,)
    if tuple(target.shape) != want:
        raise SpikecoreError(f"e-prop {loss} target of a step: got shape "
                             f"{tuple(target.shape)}, expected {list(want)}"
                             + (" (class labels)" if loss == "ce" else ""))
    if w is not None:
        w = torch.as_tensor(w, dtype=y.dtype, device=y.device).reshape(batch)
    if loss == "mse":
        err = y - target.to(y.dtype)
        sq = (err**2).sum(1)
        value = 0.5 * float((sq if w is None else sq * w).sum()) / batch
    else:
        logp = torch.log_softmax(y, dim=-1)
        labels = target.long()
        nll = -logp.gather(1, labels[:, None])[:, 0]
        value = float((nll if w is None else nll * w).sum()) / batch
        err = logp.exp()
        err[torch.arange(batch), labels] -= 1.0
    if w is not None:
        err = err * w[:, None]
    return err / batch, value


def _add_grads(net: _Network, st: _State, err: torch.Tensor) -> None:
    """Add the step's gradient terms to ``.grad``: ``L_j e~_ji`` for the hidden weights
    (learning signal ``L = (err k_o) B``), the exact readout terms for W_out and its
    bias. Buffers (weights not trained) get none."""
    scaled = err * net.k_o
    signal = scaled @ net.B  # [batch, n]
    hidden = {k: torch.einsum("bj,bji->ji", signal, e) for k, e in st.ebar.items()}
    out = {net.win_op.weight: hidden["in"], net.w_out: scaled.t() @ st.zbar}
    if net.b_out is not None:
        out[net.b_out] = scaled.sum(0) * st.obar
    if net.win_op.has_bias:
        out[net.win_op.bias] = hidden["bias"][:, 0]
    if net.w_rec is not None:
        out[net.w_rec] = hidden["rec"]
    for param, grad in out.items():
        if isinstance(param, torch.nn.Parameter):
            param.grad = grad.clone() if param.grad is None else param.grad + grad
