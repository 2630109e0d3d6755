"""``spikecore.to_torch`` as a user meets it: its signature in ``help``, one call convention
for both arithmetics (``out, state = module(x)``, ``module(x2, state)`` continues), and
modules that ``torch.save`` / ``torch.load`` round-trip."""

from __future__ import annotations

import inspect
import io

import numpy as np
import pytest
import torch
from spikecore.backends.torch import to_torch as float_to_torch
from spikecore.hardware.loihi2.emulation import Loihi2State

import spikecore as sc
from spikecore import primitives as P
from spikecore.errors import SpikecoreError


def _graph(seed: int = 3, n_in: int = 6, n: int = 8) -> sc.Graph:
    """Input -> Linear -> CubaLIF -> Output, a delay-2 recurrence and a delay-1 input edge
    (so continuing a run needs the state's spike history of both)."""
    rng = np.random.default_rng(seed)
    ones = np.ones(n)
    nodes = {
        "in": P.Input(input_type={"input": np.array([n_in])}),
        "w": P.Linear(weight=rng.normal(0.0, 1.2 / np.sqrt(n_in), (n, n_in))),
        "lif": P.CubaLIF(tau_syn=np.full(n, 4e-3), tau_mem=np.full(n, 1.5e-2), r=ones,
                         v_leak=rng.normal(0.0, 0.02, n), v_threshold=np.full(n, 0.12),
                         v_reset=np.zeros(n), w_in=ones),
        "rec": P.Linear(weight=rng.normal(0.0, 0.4 / np.sqrt(n), (n, n))),
        "out": P.Output(output_type={"output": np.array([n])}),
    }
    edges = [("in", "w", 1), ("w", "lif"), ("lif", "rec", 2), ("rec", "lif"), ("lif", "out")]
    return sc.Graph(nodes, edges, sc.Semantics(dt=1e-3), name="api")


def _spikes(batch: int, steps: int, n: int = 6, seed: int = 1) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.tensor((rng.random((batch, steps, n)) < 0.4).astype(np.float64))


def test_help_shows_the_real_signature() -> None:
    """``help(sc.to_torch)`` names every option (no ``*args, **kwargs``), and the float
    options are the backend's own."""
    params = inspect.signature(sc.to_torch).parameters
    assert not any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params.values())
    assert params["arithmetic"].default == "float"
    backend = inspect.signature(float_to_torch).parameters
    for name in backend:
        assert name in params, f"to_torch lacks the float option {name!r}"
        if name not in ("graph", "dtype"):   # dtype: None stands for torch.float32
            assert params[name].default == backend[name].default, name
    for name in ("train_weights", "fused"):
        assert name in params
    doc = sc.to_torch.__doc__ or ""
    assert "surrogate" in doc and "loihi2" in doc


def test_options_of_the_other_arithmetic_are_refused() -> None:
    g = _graph()
    with pytest.raises(SpikecoreError, match=r"no option\(s\) \['dtype'\]"):
        sc.to_torch(g, torch.float64, arithmetic="loihi2")
    with pytest.raises(SpikecoreError, match=r"no option\(s\) \['fused'\]"):
        sc.to_torch(g, fused=False)
    with pytest.raises(SpikecoreError, match="expected 'float' or 'loihi2'"):
        sc.to_torch(g, arithmetic="int8")


@pytest.mark.parametrize("arithmetic", ["float", "loihi2"])
def test_both_arithmetics_are_called_alike(arithmetic: str) -> None:
    """``out, state = module(x)``; ``module(x2, state)`` continues exactly where the run
    stopped (with and without gradients), the output shaped as the Output node."""
    module = sc.to_torch(_graph(), arithmetic=arithmetic)
    x = _spikes(batch=3, steps=40)
    for grad in (False, True):
        with torch.set_grad_enabled(grad):
            whole, state = module(x)
            first, mid = module(x[:, :17])
            rest, end = module(x[:, 17:], mid)
        assert isinstance(whole, torch.Tensor) and whole.shape == (3, 40, 8)
        assert torch.equal(torch.cat([first, rest], 1).detach(), whole.detach()), grad
        assert whole.sum() > 0
        assert type(end) is type(state)
    if arithmetic == "loihi2":
        assert isinstance(state, Loihi2State)
        for k in state.u:
            assert torch.equal(end.u[k].detach(), state.u[k].detach())
        with pytest.raises(SpikecoreError, match="state does not fit"):
            module(x[:1], state)


def test_float_and_loihi2_outputs_have_the_same_form() -> None:
    g = _graph()
    x = _spikes(batch=2, steps=30)
    out_f, _ = sc.to_torch(g, dtype=torch.float64)(x)
    out_l, _ = sc.to_torch(g, arithmetic="loihi2")(x)
    assert out_f.shape == out_l.shape


@pytest.mark.parametrize("arithmetic", ["float", "loihi2"])
@pytest.mark.parametrize("surrogate", ["superspike", "atan", "heaviside"])
def test_torch_save_round_trip(arithmetic: str, surrogate: str) -> None:
    """``torch.save`` of the whole module (no local closures inside) and ``torch.load``
    give a module with identical outputs, which still trains."""
    module = sc.to_torch(_graph(), arithmetic=arithmetic, surrogate=surrogate)
    x = _spikes(batch=2, steps=30)
    buf = io.BytesIO()
    torch.save(module, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=False)
    with torch.no_grad():
        want, _ = module(x)
        got, _ = loaded(x)
    assert torch.equal(want, got)
    out, _ = loaded(x)
    if surrogate != "heaviside":
        out.sum().backward()
        grads = [p.grad for p in loaded.parameters() if p.requires_grad]
        assert grads and all(g is not None for g in grads)
