"""Torch runs every extension primitive as documented, and equals Brian2 spike for spike.

Expected values: tests/extension_reference.py (docs/semantics.md §7 transcribed).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from extension_reference import DT, SEMANTICS, alif_graph, rate_graph, reference, refractory_graph

import spikecore as sc
from spikecore import extensions as X
from spikecore.testing import assert_close_arrays, assert_same_spikes

#: See tests/backends/brian2/test_brian2_extensions.py: differently ordered sums in Linear maps.
STATE_ATOL = 1e-12
STEPS = 150


def _cases():
    rng = np.random.default_rng(8)
    for sem in ("euler", "exact_subtract"):
        s = sc.Semantics(dt=DT, **SEMANTICS[sem])
        for kind in ("RefractoryLIF", "RefractoryCubaLIF"):
            yield f"{kind}-{sem}", refractory_graph(kind, s), {"in": rng.uniform(0, 3, (2, STEPS, 3))}
        yield f"ALIF-{sem}", alif_graph(s), {"in": rng.uniform(0, 2, (2, STEPS, 3))}
    for phi in X.PHIS:
        yield f"rate-{phi}", rate_graph(phi, sc.Semantics(dt=DT, integrator="exact")), {}


CASES = {name: (g, x) for name, g, x in _cases()}
RECORD = ("spikes", "v", "i", "alif:a", "x:x")


def _record(g):
    return [r for r in RECORD if ":" not in r or r.split(":")[0] in g.nodes]


@pytest.mark.parametrize("case", sorted(CASES))
def test_torch_matches_the_documented_update_and_brian2(case: str) -> None:
    g, x = CASES[case]
    torch_r = sc.simulate(g, x or None, backend="torch", steps=STEPS, record=_record(g))
    brian_r = sc.simulate(g, x or None, backend="brian2", steps=STEPS, record=_record(g))
    ref = reference(g, x, STEPS, batch=2 if x else 1)
    if ref["spikes"]:
        assert_same_spikes(torch_r, brian_r)
        for n, z in ref["spikes"].items():
            np.testing.assert_array_equal(torch_r.spikes[n], z, err_msg=n)
        assert sum(int(z.sum()) for z in ref["spikes"].values()) > 20
    for n, states in ref["traces"].items():
        for s, want in states.items():
            assert_close_arrays(torch_r.traces[n][s], want, STATE_ATOL, f"{n}:{s} torch")
            assert_close_arrays(torch_r.traces[n][s], brian_r.traces[n][s], STATE_ATOL,
                                f"{n}:{s} torch vs brian2")
    for n, want in ref["outputs"].items():
        assert np.all(np.isfinite(want))
        assert_close_arrays(torch_r.outputs[n], want, STATE_ATOL, f"output {n}")


def test_sources_give_the_identical_stream_on_brian2_and_torch() -> None:
    sem = sc.Semantics(dt=DT, integrator="exact")
    g = sc.Graph({"p": X.PoissonSource(rate=np.full(7, 250.0), seed=3),
                  "w": X.WhiteNoiseSource(mean=np.ones(7), sigma=np.full(7, 0.3), seed=3),
                  "ou": X.OUSource(mean=np.ones(7), sigma=np.full(7, 0.3), tau=np.full(7, 0.01),
                                   seed=3),
                  "op": sc.primitives.Output(np.array([7])),
                  "ow": sc.primitives.Output(np.array([7])),
                  "oo": sc.primitives.Output(np.array([7]))},
                 [("p", "op"), ("w", "ow"), ("ou", "oo")], sem, name="streams")
    a = sc.simulate(g, None, backend="torch", steps=200)
    b = sc.simulate(g, None, backend="brian2", steps=200)
    for o in ("op", "ow", "oo"):
        assert_close_arrays(a.outputs[o], b.outputs[o], 0.0, o)  # bit for bit
    assert 0 < a.outputs["op"].sum() < a.outputs["op"].size


def test_a_module_run_in_pieces_continues_the_stream_and_the_state() -> None:
    g, x = CASES["RefractoryCubaLIF-euler"]
    m = sc.to_torch(g, dtype=torch.float64)
    xt = torch.as_tensor(x["in"])
    with torch.no_grad():
        whole, _ = m(xt)
        first, state = m(xt[:, :60])
        rest, _ = m(xt[:, 60:], state=state)
    assert torch.equal(torch.cat([first, rest], 1), whole)


def test_alif_trains_through_the_surrogate_and_exports_its_parameters() -> None:
    g, x = CASES["ALIF-euler"]
    m = sc.to_torch(g, dtype=torch.float64, trainable=("weight", "v_threshold"))
    out, _ = m(torch.as_tensor(x["in"]))
    out.sum().backward()
    grads = {n: p.grad for n, p in m.named_parameters()}
    assert any(k.endswith("v_threshold") for k in grads)
    assert all(gr is not None and torch.isfinite(gr).all() for gr in grads.values())
    assert any(float(gr.abs().sum()) > 0 for gr in grads.values())
    with torch.no_grad():
        for k, p in m.named_parameters():
            if k.endswith("v_threshold"):
                p.add_(0.25)
    back = sc.from_torch(m)
    assert isinstance(back.nodes["alif"], X.ALIF)
    np.testing.assert_allclose(back.nodes["alif"].v_threshold, g.nodes["alif"].v_threshold + 0.25)
    np.testing.assert_array_equal(back.nodes["alif"].beta, g.nodes["alif"].beta)


def test_every_extension_has_a_torch_builder() -> None:
    from spikecore.backends.torch.registry import BUILDERS

    assert set(X.EXTENSION_TYPES.values()) <= set(BUILDERS)
