"""e-prop (Bellec et al. 2020, Nat. Commun. 11:3625): online, local gradients for a
recurrent network of LIF or ALIF neurons (an LSNN), an alternative to BPTT for modules
made by ``to_torch``.

Network form (found in the graph, see :class:`EProp`)::

    I[t]  = W_in x[t] (+ b) + W_rec z[t-1]                   (W_rec optional, delay 1)
    v~[t] = a_m v[t-1] + k_x I[t] + c                        (the contract's membrane)
    b[t]  = v_th + beta A[t-1]                               (LIF: beta = 0)
    z[t]  = v~[t] > b[t]
    v[t]  = (1 - z) v~[t] + z v_reset   or   v~[t] - z (v_th - v_reset)
    A[t]  = rho A[t-1] + z[t]                                (ALIF adaptation, A[-1] = 0)
    y[t]  = kappa y[t-1] + k_o W_out z[t] + c_o              (LI readout, one kappa)

Per synapse ``j <- i`` two eligibility vectors are carried forward online: ``ev_ji[t] =
d v~_j[t] / d W_ji`` and ``ea_ji[t] = d A_j[t-1] / d W_ji`` (the adaptation's, ALIF
only), each a derivative through neuron ``j``'s own state only::

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

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ... import primitives as P
from ...errors import SpikecoreError
from ...extensions import ALIF
from .module import SpikecoreModule
from .ops import AffineOp, NodeOp
from .surrogate import get_surrogate

LOSSES = ("mse", "ce")


def _lif_adaptation(op: NodeOp) -> tuple[torch.Tensor, torch.Tensor] | None:
    return None


def _alif_adaptation(op: NodeOp) -> tuple[torch.Tensor, torch.Tensor] | None:
    return op.beta, op.rho


#: Hidden-layer types e-prop can train -> ``(beta, rho)`` of the adaptive threshold
#: (``None``: no adaptation).
HIDDEN: dict[type, Callable[[NodeOp], tuple[torch.Tensor, torch.Tensor] | None]] = {
    P.LIF: _lif_adaptation,
    ALIF: _alif_adaptation,
}


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


class _Trace:
    """Eligibility of one weight matrix ``[batch, n, n_pre]``: ``ev``, ``ea`` (ALIF) and
    the readout-filtered ``e~`` (the module docstring's update)."""

    def __init__(self, batch: int, n: int, n_pre: int, adaptive: bool, like: torch.Tensor):
        self.ev = torch.zeros(batch, n, n_pre, dtype=like.dtype, device=like.device)
        self.ea = torch.zeros_like(self.ev) if adaptive else None
        self.ebar = torch.zeros_like(self.ev)

    def step(self, a_m: torch.Tensor, k_x: torch.Tensor, pre: torch.Tensor, psi: torch.Tensor,
             kappa: float, beta: torch.Tensor | None, rho: torch.Tensor | None) -> None:
        self.ev = a_m[:, None] * self.ev + k_x[:, None] * pre[:, None, :]
        if self.ea is None:
            e = psi[:, :, None] * self.ev
        else:
            e = psi[:, :, None] * (self.ev - beta[:, None] * self.ea)
            self.ea = rho[:, None] * self.ea + e  # d A[t] / dW
        self.ebar = kappa * self.ebar + e

    def after_reset(self, keep: torch.Tensor) -> None:
        self.ev = self.ev * keep[:, :, None]


class EProp:
    """e-prop gradients for a module made by :func:`spikecore.to_torch`.

    ``EProp(module).backward(x, target)`` runs the network forward once, online (no
    stored history, memory independent of the number of steps), and writes the e-prop
    estimate of ``dE/dW`` into ``.grad`` of W_in (and its bias), W_rec and W_out; then
    step any torch optimizer. The hidden layer is a LIF or an ALIF population (LSNN:
    the ALIF eligibility ``ea`` is carried; module docstring). Losses: ``"mse"``
    (``target`` ``[batch, steps, n_out]``, ``E = 1/2 mean_b sum_t,k w[b,t] (y - target)**2``)
    or ``"ce"`` (``target`` class labels ``[batch]``,
    ``E = mean_b sum_t w[b,t] CE(softmax(y[t]), label)``); ``w`` is ``mask`` (default 1).

    Args:
        module: the lowered network (its surrogate and scale give ``psi``).
        feedback: ``"symmetric"`` (``B = W_out^T``) or ``"random"`` (fixed random ``B``,
            seeded by ``seed``).
        adaptation_trace: ALIF only; ``False`` drops ``ea`` (also stops the adaptation
            loop ``z -> A -> b``, treating the threshold as a given input): a cruder
            estimate, kept for comparison.
    """

    def __init__(self, module: SpikecoreModule, feedback: str = "symmetric", seed: int = 0,
                 adaptation_trace: bool = True):
        if not isinstance(module, SpikecoreModule):
            raise SpikecoreError("EProp expects a module made by spikecore.to_torch")
        if feedback not in ("symmetric", "random"):
            raise SpikecoreError(f"feedback={feedback!r}: expected 'symmetric' or 'random'")
        self.m = module
        self.parts = _find_parts(module)
        self.feedback = feedback
        hid = module.op[self.parts.hidden]
        self.adaptation = HIDDEN[type(module.graph.nodes[self.parts.hidden])](hid)
        self.adaptation_trace = bool(adaptation_trace)
        sur = hid.spike
        self.derivative = get_surrogate(getattr(sur, "surrogate", "heaviside")).derivative
        self.scale = getattr(sur, "scale", 0.0)
        w_out = module.op[self.parts.w_out].weight
        self.B = None
        if feedback == "random":
            gen = torch.Generator().manual_seed(seed)
            self.B = (torch.randn(w_out.shape, generator=gen, dtype=torch.float64)
                      / w_out.shape[1] ** 0.5).to(dtype=w_out.dtype, device=w_out.device)

    @torch.no_grad()
    def backward(self, x: torch.Tensor, target: torch.Tensor, loss: str = "ce",
                 mask: torch.Tensor | None = None) -> float:
        """Forward pass with e-prop gradients; returns the loss value.

        ``mask``: optional weights of the loss per step, ``[steps]`` or ``[batch, steps]``
        (e.g. 1 only in a recall window).

        Per step: the hidden layer and its eligibility traces (:meth:`_hidden_step`), the
        readout and its error (:func:`_readout_step`, :func:`_loss_error`), the gradient
        sums (:func:`_accumulate`); at the end the sums go to ``.grad``
        (:func:`_write_grads`).
        """
        if loss not in LOSSES:
            raise SpikecoreError(f"loss={loss!r}: expected one of {LOSSES}")
        inputs, batch, steps = self.m.normalize_inputs(x, None)
        x = next(iter(inputs.values()))
        mask = _step_weights(mask, x, batch, steps)
        net = self._network()
        st = self._initial_state(net, batch)
        total = 0.0
        for t in range(steps):
            xt = x[:, t]
            self._hidden_step(net, st, xt)
            _readout_step(net, st)
            err, value = _loss_error(st.y, target, t, loss,
                                     None if mask is None else mask[:, t], batch)
            total += value
            _accumulate(net, st, err)
        _write_grads(net, st)
        return total

    def _network(self) -> _EPropNet:
        """The parameters e-prop reads from the module (coefficients of the current
        parameters); raises if the readout has several leaks."""
        m, p = self.m, self.parts
        prep = m.prepare()
        co, co_o = prep[p.hidden], prep[p.readout]
        co = getattr(co, "membrane", co)  # ALIF: the LI membrane's coefficients
        hid: NodeOp = m.op[p.hidden]
        win_op: AffineOp = m.op[p.w_in]
        kappa = co_o.a_mem
        if not bool(torch.all(kappa == kappa.reshape(-1)[0])):
            raise SpikecoreError(f"readout {p.readout!r}: e-prop filters eligibility traces "
                                 "with one readout leak; give every readout neuron one tau")
        beta, rho = self.adaptation if self.adaptation is not None else (None, None)
        w_out = m.op[p.w_out].weight
        return _EPropNet(
            hid=hid, readout=m.op[p.readout], win_op=win_op, w_in=win_op.weight,
            w_rec=m.op[p.w_rec].weight if p.w_rec else None, w_out=w_out,
            b_out=m.op[p.w_out].bias if m.op[p.w_out].has_bias else None,
            a_m=co.a_mem, k_x=co.k_x, c=co.c, v_th=hid.v_threshold, v_reset=hid.v_reset,
            beta=beta, rho=rho, kappa=float(kappa.reshape(-1)[0]), k_o=co_o.k_x, c_o=co_o.c,
            B=w_out if self.B is None else self.B)

    def _initial_state(self, net: _EPropNet, batch: int) -> _EPropState:
        """The state before step 0: the modules' initial v and y, no spikes, no
        adaptation, zero traces and gradient sums."""
        v = net.hid.init_state(batch)[0]
        y = net.readout.init_state(batch)[0]
        n, n_in = net.w_in.shape
        adaptive = net.beta is not None and self.adaptation_trace
        traces = {"in": _Trace(batch, n, n_in, adaptive, v),
                  "bias": _Trace(batch, n, 1, adaptive, v)}
        if net.w_rec is not None:
            traces["rec"] = _Trace(batch, n, n, adaptive, v)
        return _EPropState(
            v=v, y=y, z=torch.zeros_like(v), adapt=torch.zeros_like(v),
            zbar=torch.zeros_like(v), obar=0.0, traces=traces,
            ones=torch.ones(batch, 1, dtype=v.dtype, device=v.device),
            grads={k: torch.zeros(n, tr.ev.shape[2], dtype=v.dtype, device=v.device)
                   for k, tr in traces.items()},
            g_out=torch.zeros_like(net.w_out),
            g_bout=torch.zeros(net.w_out.shape[0], dtype=v.dtype, device=v.device))

    def _hidden_step(self, net: _EPropNet, st: _EPropState, xt: torch.Tensor) -> None:
        """One step of the hidden layer (membrane, threshold, spike, reset, adaptation)
        and of its eligibility traces, in place on ``st``."""
        cur = net.win_op.apply(xt, None)
        if net.w_rec is not None:
            cur = cur + st.z @ net.w_rec.t()
        vt = net.a_m * st.v
        if net.k_x is not None:
            vt = vt + net.k_x * cur
        if net.c is not None:
            vt = vt + net.c
        thr = net.v_th if net.beta is None else net.v_th + net.beta * st.adapt
        u = vt - thr
        z_new = (u > 0).to(st.v.dtype)
        psi = self.derivative(u, self.scale)
        pres = {"in": xt, "bias": st.ones, "rec": st.z}
        for k, tr in st.traces.items():
            tr.step(net.a_m, net.k_x, pres[k], psi, net.kappa, net.beta, net.rho)
        if net.hid.reset_mode == "to_value":
            keep = 1.0 - z_new
            st.v = keep * vt + z_new * net.v_reset
            for tr in st.traces.values():
                tr.after_reset(keep)
        else:
            st.v = vt - z_new * (net.v_th - net.v_reset)
        st.z = z_new
        if net.beta is not None:
            st.adapt = net.rho * st.adapt + st.z


@dataclass
class _EPropNet:
    """The network as e-prop reads it (module docstring's symbols): the hidden and
    readout ops, the weights and the contract's coefficients."""

    hid: NodeOp
    readout: NodeOp
    win_op: AffineOp
    w_in: torch.Tensor
    w_rec: torch.Tensor | None
    w_out: torch.Tensor
    b_out: torch.Tensor | None
    a_m: torch.Tensor
    k_x: torch.Tensor | None
    c: torch.Tensor | None
    v_th: torch.Tensor
    v_reset: torch.Tensor
    beta: torch.Tensor | None       # ALIF adaptation (None: LIF)
    rho: torch.Tensor | None
    kappa: float                    # the readout's leak
    k_o: torch.Tensor
    c_o: torch.Tensor | None
    B: torch.Tensor                 # feedback matrix (W_out, or fixed random)


@dataclass
class _EPropState:
    """What e-prop carries from step to step: the hidden state (``v``, ``z``, ``A[t-1]``),
    the readout ``y``, the traces, the readout filters ``zbar`` and ``obar``, and the
    gradient sums."""

    v: torch.Tensor
    y: torch.Tensor
    z: torch.Tensor
    adapt: torch.Tensor
    zbar: torch.Tensor
    obar: float
    traces: dict[str, _Trace]
    ones: torch.Tensor              # the bias's presynaptic input
    grads: dict[str, torch.Tensor]
    g_out: torch.Tensor
    g_bout: torch.Tensor


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


def _readout_step(net: _EPropNet, st: _EPropState) -> None:
    """The leaky readout ``y = kappa y + k_o (W_out z + b) + c_o``, in place on ``st``."""
    drive = st.z @ net.w_out.t() + (net.b_out if net.b_out is not None else 0.0)
    st.y = net.kappa * st.y + net.k_o * drive
    if net.c_o is not None:
        st.y = st.y + net.c_o


def _loss_error(y: torch.Tensor, target: torch.Tensor, t: int, loss: str,
                w: torch.Tensor | None, batch: int) -> tuple[torch.Tensor, float]:
    """Step ``t``'s ``dE/dy`` ``[batch, n_out]`` (weighted by ``w``, divided by the batch)
    and its loss value."""
    if loss == "mse":
        err = y - target[:, t]
        sq = (err**2).sum(1)
        value = 0.5 * float((sq if w is None else sq * w).sum()) / batch
    else:
        logp = torch.log_softmax(y, dim=-1)
        nll = -logp.gather(1, target[:, None])[:, 0]
        value = float((nll if w is None else nll * w).sum()) / batch
        err = logp.exp()
        err[torch.arange(batch), target] -= 1.0
    if w is not None:
        err = err * w[:, None]
    return err / batch, value


def _accumulate(net: _EPropNet, st: _EPropState, err: torch.Tensor) -> None:
    """Add the step's gradient terms: ``L_j e~_ji`` for the hidden weights (learning
    signal ``L = (err k_o) B``), the exact readout terms for W_out and its bias."""
    st.zbar = net.kappa * st.zbar + st.z
    L = (err * net.k_o) @ net.B  # learning signal [batch, n]
    for k, tr in st.traces.items():
        st.grads[k] += torch.einsum("bj,bji->ji", L, tr.ebar)
    st.obar = net.kappa * st.obar + 1.0  # d y[t] / d b_out, per unit of k_o
    st.g_out += (err * net.k_o).t() @ st.zbar
    st.g_bout += (err * net.k_o).sum(0) * st.obar


def _write_grads(net: _EPropNet, st: _EPropState) -> None:
    """The gradient sums into ``.grad`` of the module's parameters."""
    out = {net.w_in: st.grads["in"], net.w_out: st.g_out}
    if net.b_out is not None:
        out[net.b_out] = st.g_bout
    if net.win_op.has_bias:
        out[net.win_op.bias] = st.grads["bias"][:, 0]
    if net.w_rec is not None:
        out[net.w_rec] = st.grads["rec"]
    for param, grad in out.items():
        if isinstance(param, torch.nn.Parameter):
            param.grad = grad.clone()
