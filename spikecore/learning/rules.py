"""Online gradient rules of Marschall, Cho & Savin (2020, JMLR 21:1-34), one interface
(:class:`~spikecore.learning.base.OnlineRule`).

Symbols (networks module docstring): state ``s [C, n]``, output component ``R``,
``W = [W_rec | W_in | b]`` ``[n, m]``, presynaptic ``a [m]``, local Jacobian
``L [C, C, n]``, immediate factor ``D [C, n]``, full Jacobian ``J`` (``L`` plus
``D W_rec`` into ``R``), readout error ``e = y - y*``, credit ``c = W_out^T e``.

=========  ==========================================  ==============  ===============
rule       influence estimate carried                   floats          unbiased?
=========  ==========================================  ==============  ===============
RTRL       ``M [C, n, n, m]``, exact                   ``C n^2 m``     exact
UORO       ``s~ [C, n]`` (x) ``theta~ [n, m]``         ``C n + n m``   yes (noisy)
KF-RTRL    ``A [C, n, n]`` (x) ``u [m]``               ``C n^2 + m``   yes (less noisy)
RFLO       ``E [C, n, m]`` (own row only, no W_rec)     ``C n m``       no (biased)
e-prop     as RFLO, feedback ``W_out^T``               ``C n m``       no (biased)
ModProp    e-prop's ``E`` + ``N^ [K, n, m]`` (K types)  ``(K+1) n m``   no (less biased
                                                                        with cell types)
=========  ==========================================  ==============  ===============

For ``C = 1`` (rate RNN) and ``m ~ n`` these are Marschall et al.'s Table 1 orders
``n^3``, ``n^2``, ``n^2``, ``n^2``, ``n^2``.
"""

from __future__ import annotations

from typing import Any

import torch

from ..backends.torch.module import SpikecoreModule
from ..errors import SpikecoreError
from .base import OnlineRule, apply_jacobian, as_network, local_trace_step
from .graph_eprop import GraphEProp
from .networks import OnlineRNN, RateRNN

#: Keeps the rank-one scalings finite when a factor is zero (the first step).
EPS = 1e-12


class RTRL(OnlineRule):
    """Exact real-time recurrent learning (Williams & Zipser 1989).

    Carries the influence matrix ``M[t] = d s[t] / dW`` (``[C, n, n, m]``)::

        M[t] = J[t] M[t-1] + M_imm[t],   M_imm[c', i, k, j] = D[c', i] delta_ik a_j[t]
        dL_t/dW_kj = sum_i c_i[t] M[t][R, i, k, j]

    With fixed parameters the sum over a sequence equals BPTT's gradient. Cost per step
    ``O(n^2 * n m)`` time, ``C n^2 m`` floats.
    """

    def _reset_traces(self) -> None:
        n, m = self.net.n, self.net.m
        self.M = torch.zeros(self.net.components, n, n, m, dtype=self.net.w_rec.dtype)

    def memory_floats(self) -> int:
        return self.M.numel()

    def _propagate(self, L: torch.Tensor, D: torch.Tensor, a: torch.Tensor) -> None:
        M = apply_jacobian(self.net, L, D, self.M)
        idx = torch.arange(self.net.n)
        M[:, idx, idx, :] += D[:, :, None] * a  # the immediate term sits on i == k
        self.M = M

    def _hidden_gradient(self, err: torch.Tensor) -> torch.Tensor:
        c = self.net.w_out.t() @ err
        return torch.einsum("i,ikj->kj", c, self.M[self.net.output_component])


class UORO(OnlineRule):
    """Unbiased online recurrent optimisation (Tallec & Ollivier 2018): a
    rank-one estimate ``M ~ s~ (x) theta~``.

    Per step, with fresh random signs ``nu [C, n]``::

        rho0 = sqrt(|theta~| / |J s~|),   rho1 = sqrt(|nu^T M_imm| / |nu|)
        s~     <- rho0 J s~ + rho1 nu
        theta~ <- theta~ / rho0 + (nu^T M_imm) / rho1,  (nu^T M_imm)_kj = (sum_c' nu_c'k D_c'k) a_j
        dL_t/dW = (c . s~[R]) theta~

    ``E[s~ (x) theta~] = M`` (the cross terms have zero mean); the ``rho`` minimise the
    variance. ``C n + n m`` floats.
    """

    def _reset_traces(self) -> None:
        net = self.net
        self.s_tilde = torch.zeros(net.components, net.n, dtype=net.w_rec.dtype)
        self.theta_tilde = torch.zeros(net.n, net.m, dtype=net.w_rec.dtype)

    def memory_floats(self) -> int:
        return self.s_tilde.numel() + self.theta_tilde.numel()

    def _propagate(self, L: torch.Tensor, D: torch.Tensor, a: torch.Tensor) -> None:
        nu = self._signs(*self.s_tilde.shape)
        Js = apply_jacobian(self.net, L, D, self.s_tilde)
        nuF = (nu * D).sum(0)[:, None] * a[None, :]
        rho0 = torch.sqrt((self.theta_tilde.norm() + EPS) / (Js.norm() + EPS))
        rho1 = torch.sqrt((nuF.norm() + EPS) / (nu.norm() + EPS))
        self.s_tilde = rho0 * Js + rho1 * nu
        self.theta_tilde = self.theta_tilde / rho0 + nuF / rho1

    def _hidden_gradient(self, err: torch.Tensor) -> torch.Tensor:
        c = self.net.w_out.t() @ err
        return (c @ self.s_tilde[self.net.output_component]) * self.theta_tilde


class KFRTRL(OnlineRule):
    """Kronecker-factored RTRL (Mujika, Meier & Steger 2018):
    ``M[c', i, k, j] ~ A[c', i, k] u[j]``.

    The immediate term is one Kronecker product (``A_imm[c', i, k] = D[c', i]
    delta_ik``, ``u_imm = a``); the propagated one is ``(J A) (x) u``. Their sum is
    reduced to one product with random signs ``g1, g2``::

        p1 = sqrt(|J A| / |u|),   p2 = sqrt(|A_imm| / |a|)
        u <- g1 p1 u + g2 p2 a,   A <- g1 (J A) / p1 + g2 A_imm / p2
        dL_t/dW_kj = (sum_i c_i A[R, i, k]) u_j

    Unbiased, and with lower variance than UORO (the noise enters through two signs
    per step, not ``C n``). ``C n^2 + m`` floats.
    """

    def _reset_traces(self) -> None:
        net = self.net
        self.A = torch.zeros(net.components, net.n, net.n, dtype=net.w_rec.dtype)
        self.u = torch.zeros(net.m, dtype=net.w_rec.dtype)

    def memory_floats(self) -> int:
        return self.A.numel() + self.u.numel()

    def _propagate(self, L: torch.Tensor, D: torch.Tensor, a: torch.Tensor) -> None:
        JA = apply_jacobian(self.net, L, D, self.A)
        A_imm = torch.diag_embed(D)  # [C, n, n]: D[c', i] on i == k
        g1, g2 = self._signs(2)
        p1 = torch.sqrt((JA.norm() + EPS) / (self.u.norm() + EPS))
        p2 = torch.sqrt((D.norm() + EPS) / (a.norm() + EPS))
        self.u = g1 * p1 * self.u + g2 * p2 * a
        self.A = g1 * JA / p1 + g2 * A_imm / p2

    def _hidden_gradient(self, err: torch.Tensor) -> torch.Tensor:
        c = self.net.w_out.t() @ err
        return torch.outer(c @ self.A[self.net.output_component], self.u)


class _LocalTrace(OnlineRule):
    """The eligibility trace of RFLO and e-prop: the influence of ``W_ij`` on neuron
    ``i``'s own state, propagated by the local Jacobian only (``J`` without ``D W_rec``)::

        E[t][c', i, j] = sum_c L[c', c, i] E[t-1][c, i, j] + D[c', i] a_j[t]
        dL_t/dW_ij = (B e)_i E[t][R, i, j]

    ``B`` is the feedback matrix ``[n, n_out]``. ``C n m`` floats.
    """

    def _feedback(self) -> torch.Tensor:
        raise NotImplementedError

    def _reset_traces(self) -> None:
        net = self.net
        self.E = torch.zeros(net.components, net.n, net.m, dtype=net.w_rec.dtype)

    def memory_floats(self) -> int:
        return self.E.numel()

    def _propagate(self, L: torch.Tensor, D: torch.Tensor, a: torch.Tensor) -> None:
        self.E = local_trace_step(L, D, self.E, a)

    def _hidden_gradient(self, err: torch.Tensor) -> torch.Tensor:
        return (self._feedback() @ err)[:, None] * self.E[self.net.output_component]


class RFLO(_LocalTrace):
    """Random-feedback local online learning (Murray 2019, eLife 8:e43299).

    For the rate RNN the trace is Murray's ``p_ij[t] = (1 - alpha) p_ij[t-1] + alpha
    tanh'(u_i[t]) a_j[t]`` and the update ``dW_ij = (B e)_i p_ij`` with a fixed random
    feedback ``B ~ N(0, 1/n)`` (seeded), not ``W_out^T``. For the LIF network the same
    truncation keeps the neuron's own leak, threshold and reset (``L``).
    """

    def __init__(self, net: OnlineRNN, seed: int = 0, detach_reset: bool | None = None):
        super().__init__(net, seed, detach_reset)
        net, gen = self.net, torch.Generator().manual_seed(self.seed)
        self.B = torch.randn(net.n, net.n_out, generator=gen,
                             dtype=net.w_rec.dtype) / net.n ** 0.5

    def _feedback(self) -> torch.Tensor:
        return self.B


class EProp(_LocalTrace):
    """e-prop (Bellec et al. 2020, Nat. Commun. 11:3625, Methods) with symmetric feedback
    ``B = W_out^T``.

    The trace is the local one above; for the LIF network the reset's dependence on
    the spike is stopped (``detach_reset``), as in the paper, so ``E[z]`` is its
    ``psi_j e^v_ji``. For the rate RNN this equals RFLO with ``B = W_out^T`` (Marschall
    et al. note the two coincide there).

    Given a module made by :func:`spikecore.to_torch` instead of a network of this
    package, ``EProp(module, feedback=..., seed=..., adaptation_trace=..., loss=...)``
    returns the same rule on that graph (:class:`~spikecore.learning.graph_eprop.
    GraphEProp`: any LIF/ALIF layer with an LI readout, batches, random feedback), with
    the same interface; the two give equal gradients (tested).
    """

    detach_reset = True

    def __new__(cls, net: OnlineRNN | SpikecoreModule, *args: Any, **kwargs: Any) -> Any:
        if isinstance(net, SpikecoreModule):
            if args:  # EProp(net, seed) and GraphEProp(module, feedback) differ by position
                raise SpikecoreError("EProp(module, ...): pass the options by name (feedback=, "
                                     "seed=, adaptation_trace=, loss=)")
            return GraphEProp(net, **kwargs)
        return super().__new__(cls)

    def _feedback(self) -> torch.Tensor:
        return self.net.w_out.t()


#: Name -> rule class, for tables and benchmarks.
RULES: dict[str, type[OnlineRule]] = {
    "RTRL": RTRL, "KF-RTRL": KFRTRL, "UORO": UORO, "RFLO": RFLO, "e-prop": EProp,
}


class ModProp(_LocalTrace):
    """ModProp (Liu, Smith, Mihalas, Shea-Brown & Sümbül 2022, NeurIPS): e-prop's local
    term plus the credit carried through the recurrent weights, approximated with
    cell-type-averaged weights and local derivatives so that it reaches each synapse as
    type-specific modulatory signals filtered over time. Derivation here, in this
    module's symbols (our reading of the paper's approximation, not its code); the paper
    derives it for rate networks, the same steps carry over to the ``C`` components of a
    LIF/ALIF neuron with a surrogate derivative (our extension).

    Exactly, ``M = E + N`` with ``E`` the local trace (:class:`_LocalTrace`) on the diagonal
    ``i == k`` and the non-local part ``N [C, n, n, m]``::

        N[t][c', i] = sum_c L[c', c, i] N[t-1][c, i] + D[c', i] sum_p W_rec[i, p] M[t-1][R, p]

    with ``M[t-1][R, p, k, j] = N[t-1][R, p, k, j] + delta_pk E[t-1][R, k, j]``. ModProp
    replaces, in ``N`` only, ``L[c', c, i]``, ``D[c', i]`` and ``W_rec[i, p]`` by their
    type means ``l_a[c', c]``, ``d_a[c']`` (``a``: neuron ``i``'s type) and ``w[a, b(p)]``
    (the mean of ``W_rec`` over the block of types ``(a, b)``). Then ``N`` is the same for
    all neurons of a type and ``K`` rows suffice::

        N^[t][c', a, k, j] = sum_c l_a[c', c] N^[t-1][c, a, k, j]
                             + d_a[c'] sum_b w[a, b] n_b N^[t-1][R, b, k, j]
                             + d_a[c'] w[a, b(k)] E[t-1][R, k, j]
        dL_t/dW_kj = c_k E[t][R, k, j] + sum_a (sum_{i in a} c_i) N^[t][R, a, k, j]

    (``n_b``: neurons of type ``b``; ``c = W_out^T e``). Unrolled, ``N^`` is the
    eligibility trace convolved with the taps ``(J^^(s-1) d w)[a, b(k)]``, ``J^ = l +
    d w diag(n)`` into ``R``: one filter per (modulator type, synapse type). With one type
    per neuron and the derivatives' type means taken at each step (``mu=None``) nothing is
    averaged and ModProp is RTRL (with ``detach_reset=False``; tested). Floats:
    ``C (K + 1) n m``.

    Args:
        types: the type of each neuron (``n`` integers ``0..K-1``); default one type.
        mu: rate RNN only: the activation derivative as the constant ``mu`` (``d_a =
            mu alpha``, Liu et al.'s fixed ``tanh'``); ``None``: ``D``'s type mean at each
            step (the only choice for a spiking network, whose surrogate derivative
            follows the membrane).
        detach_reset: as e-prop, the reset's path is stopped by default (ModProp's local
            term is e-prop's); ``False`` keeps it (then one type per neuron is exact RTRL).
    """

    detach_reset = True

    def __init__(self, net: OnlineRNN, seed: int = 0, types: torch.Tensor | None = None,
                 mu: float | None = None, detach_reset: bool | None = None):
        net = as_network(net, "ModProp")
        if mu is not None and not isinstance(net, RateRNN):
            raise SpikecoreError(f"ModProp: mu={mu!r} fixes a rate neuron's tanh' (RateRNN); "
                                 f"{type(net).__name__}'s derivative is a surrogate that "
                                 "follows the membrane: leave mu=None (type means per step)")
        t = torch.zeros(net.n, dtype=torch.long) if types is None else \
            torch.as_tensor(types, dtype=torch.long)
        if t.shape != (net.n,) or int(t.min()) < 0:
            raise SpikecoreError(f"types: expected {net.n} non-negative integers, one per "
                                 f"neuron; got shape {tuple(t.shape)}")
        k = int(t.max()) + 1
        self.onehot = torch.nn.functional.one_hot(t, k).to(net.w_rec.dtype).t()  # [K, n]
        if bool((self.onehot.sum(1) == 0).any()):
            raise SpikecoreError("types: every type 0..K-1 needs at least one neuron")
        self.types, self.mu = t, mu
        super().__init__(net, seed, detach_reset)

    def _reset_traces(self) -> None:
        super()._reset_traces()
        net = self.net
        self.N = torch.zeros(net.components, self.onehot.shape[0], net.n, net.m,
                             dtype=net.w_rec.dtype)

    def memory_floats(self) -> int:
        return self.E.numel() + self.N.numel()

    def _feedback(self) -> torch.Tensor:
        return self.net.w_out.t()

    def _propagate(self, L: torch.Tensor, D: torch.Tensor, a: torch.Tensor) -> None:
        P, R = self.onehot, self.net.output_component
        size = P.sum(1)
        w = (P @ self.net.w_rec @ P.t()) / (size[:, None] * size[None, :])  # block means
        leak = torch.einsum("dci,ai->dca", L, P) / size  # l_a[c', c]
        if self.mu is None:
            d = (D @ P.t()) / size  # [C, K]
        else:
            d = torch.full((1, P.shape[0]), float(self.mu) * self.net.alpha, dtype=D.dtype)
        rec = torch.einsum("ab,bkj->akj", w * size, self.N[R])  # sum_b w[a,b] n_b N^[R, b]
        src = w[:, self.types, None] * self.E[R]  # [K, n, m]: w[a, b(k)] E[R, k, j]
        self.N = (torch.einsum("dca,cakj->dakj", leak, self.N)
                  + d[:, :, None, None] * (rec + src)[None])
        super()._propagate(L, D, a)

    def _hidden_gradient(self, err: torch.Tensor) -> torch.Tensor:
        c = self._feedback() @ err
        R = self.net.output_component
        return c[:, None] * self.E[R] + torch.einsum("a,akj->kj", self.onehot @ c, self.N[R])
