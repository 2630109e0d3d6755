"""e-prop (Bellec et al. 2020, Nat. Commun. 11:3625): online, local gradients for a
recurrent LIF network, an alternative to BPTT for modules made by ``to_torch``.

Network form (found in the graph, see :class:`EProp`)::

    I[t] = W_in x[t] (+ b) + W_rec z[t-1]                  (W_rec optional, delay 1)
    v~[t] = a v[t-1] + k_x I[t] + c;  z[t] = v~[t] > v_th   (hidden LIF, the contract)
    v[t] = (1 - z) v~[t] + z v_reset   or   v~[t] - z (v_th - v_reset)
    y[t] = kappa y[t-1] + k_o W_out z[t] + c_o              (LI readout, one kappa)

Per synapse ``j <- i`` an eligibility vector ``eps_ji[t] = d v~_j[t] / d W_ji`` is carried
forward with the reset's gradient stopped (as in the paper)::

    eps[t] = a * r[t-1] * eps[t-1] + k_x * pre_i[t]    r = 1 - z (to_value) or 1 (subtract)
    e[t]   = psi_j[t] * eps[t]                         psi = surrogate derivative at v~ - v_th
    e~[t]  = kappa * e~[t-1] + e[t]                    (filtered by the readout's leak)
    L_j[t] = sum_k B_jk k_o,k dE/dy_k[t]               (learning signal, B = W_out^T or random)
    dE/dW_ji ~= sum_t L_j[t] e~_ji[t]

``pre_i`` is ``x_i[t]`` for W_in and ``z_i[t-1]`` for W_rec. The readout gradient
``sum_t dE/dy_k[t] k_o,k zbar_j[t]`` (``zbar = kappa zbar + z``) is exact. Without
recurrence (no W_rec, or W_rec = 0) and with symmetric feedback this equals BPTT with the
reset's gradient stopped (``to_torch(..., detach_reset=True)``) exactly; with recurrence
it drops the paths through other neurons (the e-prop approximation).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import primitives as P
from ..errors import SpikecoreError
from .norse_ import AffineOp, NeuronOp, SpikecoreModule
from .torch_surrogate import get_surrogate

LOSSES = ("mse", "ce")


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
    lifs = [n for n in m.names if type(g.nodes[n]) is P.LIF]
    if len(lifs) != 1:
        raise SpikecoreError(
            f"e-prop needs exactly one LIF population (the recurrent layer); graph "
            f"{g.name!r} has {len(lifs)}: {lifs}. CubaLIF/ALIF hidden layers are not supported")
    hid = lifs[0]
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
        raise SpikecoreError(f"graph {g.name!r} is not a recurrent LIF network e-prop can "
                             "train:\n" + "\n".join(f"  - {p}" for p in problems))
    return _Parts(hid, w_in, w_rec, w_out, readout)


class EProp:
    """e-prop gradients for a module made by :func:`spikecore.to_torch`.

    ``EProp(module).backward(x, target)`` runs the network forward once, online (no
    stored history, memory independent of the number of steps), and writes the e-prop
    estimate of ``dE/dW`` into ``.grad`` of W_in (and its bias), W_rec and W_out; then
    step any torch optimizer. Losses: ``"mse"`` (``target`` ``[batch, steps, n_out]``,
    ``E = 1/2 mean_b sum_t,k (y - target)**2``) or ``"ce"`` (``target`` class labels
    ``[batch]``, ``E = mean_b sum_t CE(softmax(y[t]), label)``).

    Args:
        module: the lowered network (its surrogate and scale give ``psi``).
        feedback: ``"symmetric"`` (``B = W_out^T``) or ``"random"`` (fixed random ``B``,
            seeded by ``seed``).
    """

    def __init__(self, module: SpikecoreModule, feedback: str = "symmetric", seed: int = 0):
        if not isinstance(module, SpikecoreModule):
            raise SpikecoreError("EProp expects a module made by spikecore.to_torch")
        if feedback not in ("symmetric", "random"):
            raise SpikecoreError(f"feedback={feedback!r}: expected 'symmetric' or 'random'")
        self.m = module
        self.parts = _find_parts(module)
        self.feedback = feedback
        hid: NeuronOp = module.op[self.parts.hidden]
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
    def backward(self, x: torch.Tensor, target: torch.Tensor, loss: str = "ce") -> float:
        """Forward pass with e-prop gradients; returns the loss value."""
        if loss not in LOSSES:
            raise SpikecoreError(f"loss={loss!r}: expected one of {LOSSES}")
        m, p = self.m, self.parts
        inputs, batch, steps = m._inputs(x, None)
        x = next(iter(inputs.values()))
        prep = m.prepare()
        co, co_o = prep[p.hidden], prep[p.readout]
        hid: NeuronOp = m.op[p.hidden]
        win_op: AffineOp = m.op[p.w_in]
        w_in = win_op.weight
        w_rec = m.op[p.w_rec].weight if p.w_rec else None
        w_out = m.op[p.w_out].weight
        b_out = m.op[p.w_out].bias if m.op[p.w_out].has_bias else None
        kappa = co_o.a_mem
        if not bool(torch.all(kappa == kappa.reshape(-1)[0])):
            raise SpikecoreError(f"readout {p.readout!r}: e-prop filters eligibility traces "
                                 "with one readout leak; give every readout neuron one tau")
        kappa = float(kappa.reshape(-1)[0])
        k_o = co_o.k_x
        a, k_x = co.a_mem, co.k_x
        B = w_out if self.B is None else self.B
        n, n_in = w_in.shape
        v = hid.init_state(batch)[0]
        y = m.op[p.readout].init_state(batch)[0]
        z = torch.zeros_like(v)
        eps_in = torch.zeros(batch, n, n_in, dtype=v.dtype, device=v.device)
        ebar_in = torch.zeros_like(eps_in)
        eps_b = torch.zeros_like(v)
        ebar_b = torch.zeros_like(v)
        if w_rec is not None:
            eps_rec = torch.zeros(batch, n, n, dtype=v.dtype, device=v.device)
            ebar_rec = torch.zeros_like(eps_rec)
            g_rec = torch.zeros_like(w_rec)
        zbar = torch.zeros_like(v)
        obar = 0.0
        g_in, g_out = torch.zeros_like(w_in), torch.zeros_like(w_out)
        g_bin = torch.zeros(n, dtype=v.dtype, device=v.device)
        g_bout = torch.zeros(w_out.shape[0], dtype=v.dtype, device=v.device)
        total = 0.0
        for t in range(steps):
            xt = x[:, t]
            cur = win_op.apply(xt, None)
            if w_rec is not None:
                cur = cur + z @ w_rec.t()
            vt = a * v
            if k_x is not None:
                vt = vt + k_x * cur
            if co.c is not None:
                vt = vt + co.c
            u = vt - co.v_threshold
            z_new = (u > 0).to(v.dtype)
            psi = self.derivative(u, self.scale)
            # eligibility vectors: d v~[t] / dW (reset gradient stopped)
            eps_in = a[:, None] * eps_in + k_x[:, None] * xt[:, None, :]
            eps_b = a * eps_b + k_x
            ebar_in = kappa * ebar_in + psi[:, :, None] * eps_in
            ebar_b = kappa * ebar_b + psi * eps_b
            if w_rec is not None:
                eps_rec = a[:, None] * eps_rec + k_x[:, None] * z[:, None, :]
                ebar_rec = kappa * ebar_rec + psi[:, :, None] * eps_rec
            if hid.reset_mode == "to_value":
                keep = 1.0 - z_new
                v = keep * vt
                if co.v_reset is not None:  # None: v_reset is 0
                    v = v + z_new * co.v_reset
                eps_in = eps_in * keep[:, :, None]
                eps_b = eps_b * keep
                if w_rec is not None:
                    eps_rec = eps_rec * keep[:, :, None]
            else:
                v = vt - z_new * co.amount
            z = z_new
            # readout and its error
            drive = z @ w_out.t() + (b_out if b_out is not None else 0.0)
            y = kappa * y + k_o * drive
            if co_o.c is not None:
                y = y + co_o.c
            if loss == "mse":
                err = y - target[:, t]
                total += 0.5 * float((err**2).sum()) / batch
            else:
                logp = torch.log_softmax(y, dim=-1)
                total += float(-logp.gather(1, target[:, None]).sum()) / batch
                err = logp.exp()
                err[torch.arange(batch), target] -= 1.0
            err = err / batch
            zbar = kappa * zbar + z
            L = (err * k_o) @ B  # learning signal [batch, n]
            g_in += torch.einsum("bj,bji->ji", L, ebar_in)
            g_bin += (L * ebar_b).sum(0)
            if w_rec is not None:
                g_rec += torch.einsum("bj,bji->ji", L, ebar_rec)
            obar = kappa * obar + 1.0  # d y[t] / d b_out, per unit of k_o
            g_out += (err * k_o).t() @ zbar
            g_bout += (err * k_o).sum(0) * obar
        grads = {win_op.weight: g_in, w_out: g_out}
        if b_out is not None:
            grads[b_out] = g_bout
        if win_op.has_bias:
            grads[win_op.bias] = g_bin
        if w_rec is not None:
            grads[w_rec] = g_rec
        for param, grad in grads.items():
            if isinstance(param, torch.nn.Parameter):
                param.grad = grad.clone()
        return total

