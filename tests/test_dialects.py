"""Dialects: the choices a foreign NIR file leaves open, filled in the producer's way."""

from __future__ import annotations

import nir
import numpy as np
import pytest
from prerequisites import installed_library

import spikecore as sc
from spikecore.dialects import (
    DIALECTS,
    EXPLICIT,
    REQUIRED_EXPLICIT,
    choices_message,
    get_dialect,
)


def foreign_graph() -> nir.NIRGraph:
    n = 2
    return nir.NIRGraph(
        nodes={"in": nir.Input(input_type=np.array([n])),
               "cell": nir.LIF(tau=np.full(n, 0.02), r=np.ones(n), v_leak=np.zeros(n),
                               v_threshold=np.ones(n), v_reset=np.zeros(n)),
               "out": nir.Output(output_type=np.array([n]))},
        edges=[("in", "cell"), ("cell", "out")], type_check=False)


def test_required_dialects_registered():
    assert {"norse", "snntorch"} <= set(DIALECTS)
    for d in DIALECTS.values():
        assert d.description
        # choices are Semantics fields and valid ones
        sc.Semantics(dt=1e-3, **d.choices)


def test_norse_defaults():
    d = get_dialect("norse")
    assert d.default_dt == 1e-3
    assert d.semantics() == sc.Semantics(dt=1e-3, integrator="euler", reset="to_value",
                                         input_meaning="current")
    assert d.semantics(1e-4).dt == 1e-4


def test_snntorch_defaults():
    s = get_dialect("snntorch").semantics()
    assert s.dt == 1e-4 and s.integrator == "euler" and s.reset == "to_value"


def test_dialect_overrides():
    s = get_dialect("norse").semantics(2e-4, reset="subtract", integrator="exact")
    assert s == sc.Semantics(dt=2e-4, integrator="exact", reset="subtract")


def test_unknown_dialect_lists_known():
    with pytest.raises(sc.DialectError) as info:
        get_dialect("sinabz")
    msg = str(info.value)
    assert "'sinabz'" in msg
    for name in DIALECTS:
        assert name in msg


def test_dialect_without_default_dt_needs_dt():
    d = sc.Dialect("test_nodt", "a test dialect that needs dt", default_dt=None)
    with pytest.raises(sc.DialectError, match="pass dt="):
        d.semantics()
    assert d.semantics(1e-3).dt == 1e-3


def test_registered_dialect_with_rewrite_is_used():
    seen = []

    def rewrite(g: nir.NIRGraph) -> nir.NIRGraph:
        seen.append(g)
        nodes = dict(g.nodes)
        cell = nodes["cell"]
        nodes["cell"] = nir.LIF(tau=cell.tau * 2, r=cell.r, v_leak=cell.v_leak,
                                v_threshold=cell.v_threshold, v_reset=cell.v_reset)
        return nir.NIRGraph(nodes=nodes, edges=g.edges, type_check=False)

    name = "test_doubling"
    sc.register_dialect(sc.Dialect(name, "doubles tau", default_dt=1e-3,
                                   choices={"reset": "subtract"}, rewrite=rewrite))
    try:
        ng = foreign_graph()
        g = sc.from_nir(ng, dialect=name)
        assert seen == [ng]
        np.testing.assert_array_equal(g.nodes["cell"].tau, [0.04, 0.04])
        np.testing.assert_array_equal(ng.nodes["cell"].tau, [0.02, 0.02])  # not mutated
        assert g.semantics == sc.Semantics(dt=1e-3, reset="subtract")
    finally:
        DIALECTS.pop(name)


def test_from_nir_without_dialect_lists_choices():
    with pytest.raises(sc.DialectError) as info:
        sc.from_nir(foreign_graph())
    assert info.value.problems == choices_message()
    for name in DIALECTS:
        assert name in str(info.value)


def test_explicit_dialect():
    assert REQUIRED_EXPLICIT == ("dt", "integrator", "reset")
    with pytest.raises(sc.DialectError, match="missing: integrator, reset"):
        sc.from_nir(foreign_graph(), dialect=EXPLICIT, dt=1e-3)
    g = sc.from_nir(foreign_graph(), dialect=EXPLICIT, dt=1e-3, integrator="exact",
                    reset="subtract", input_meaning="increment")
    assert g.semantics == sc.Semantics(dt=1e-3, integrator="exact", reset="subtract",
                                       input_meaning="increment")


def test_dialect_does_not_mutate_the_nir_graph():
    ng = foreign_graph()
    g = sc.from_nir(ng, dialect="norse")
    g.nodes["cell"].tau[0] = 99.0
    assert ng.nodes["cell"].tau[0] == 0.02


def test_torch_tensors_become_numpy():
    """Norse exports torch tensors as parameters: the graph holds numpy arrays."""
    torch = installed_library("torch")
    n = 2
    ng = nir.NIRGraph(
        nodes={"in": nir.Input(input_type=np.array([n])),
               "cell": nir.LIF(tau=torch.full((n,), 0.02, dtype=torch.float64),
                               r=torch.ones(n, dtype=torch.float64),
                               v_leak=torch.zeros(n, dtype=torch.float64),
                               v_threshold=torch.ones(n, dtype=torch.float64),
                               v_reset=torch.zeros(n, dtype=torch.float64)),
               "out": nir.Output(output_type=np.array([n]))},
        edges=[("in", "cell"), ("cell", "out")], type_check=False)
    g = sc.from_nir(ng, dialect="norse").validate()
    assert isinstance(g.nodes["cell"].tau, np.ndarray)
    np.testing.assert_array_equal(g.nodes["cell"].tau, [0.02, 0.02])


# ------------------------------------------------------------- norse follows from_nir
def _one_layer(cell: object, n: int) -> nir.NIRGraph:
    return nir.NIRGraph(
        nodes={"in": nir.Input(input_type=np.array([n])),
               "w": nir.Linear(weight=np.eye(n)),
               "cell": cell,
               "out": nir.Output(output_type=np.array([n]))},
        edges=[("in", "w"), ("w", "cell"), ("cell", "out")], type_check=False)


def _norse_from_nir_spikes(g: nir.NIRGraph, x: np.ndarray, dt: float) -> np.ndarray:
    """Norse's own import of ``g`` stepped over ``x`` [steps, n]: spikes [steps, n]."""
    norse = installed_library("norse")
    torch = installed_library("torch")
    module = norse.torch.from_nir(g, dt=dt).double()
    state, out = None, []
    with torch.no_grad():
        for t in range(x.shape[0]):
            z, state = module(torch.from_numpy(x[t:t + 1]), state)
            out.append(z[0].numpy())
    return np.array(out)


CELLS = {
    # r != 1 and v_reset != 0 on purpose: Norse's import ignores both
    "IF": lambda n: nir.IF(r=np.full(n, 3.0), v_threshold=np.full(n, 1.5),
                           v_reset=np.full(n, 0.4)),
    "LIF": lambda n: nir.LIF(tau=np.full(n, 0.01), r=np.full(n, 2.0), v_leak=np.full(n, 0.1),
                             v_threshold=np.ones(n), v_reset=np.full(n, -0.2)),
    "CubaLIF": lambda n: nir.CubaLIF(tau_syn=np.full(n, 5e-3), tau_mem=np.full(n, 0.01),
                                     r=np.full(n, 2.0), v_leak=np.zeros(n),
                                     v_threshold=np.ones(n), v_reset=np.full(n, 0.3),
                                     w_in=np.full(n, 1.5)),
}


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_norse_dialect_is_norses_from_nir(cell: str) -> None:
    """Spikes of ``dialect='norse'`` equal Norse 1.1's from_nir stepped in time, for the
    cells it imports, with the parameters it ignores set to values that would matter."""
    n, steps, dt = 6, 200, 1e-3
    g = _one_layer(CELLS[cell](n), n)
    rng = np.random.default_rng(3)
    x = rng.random((steps, n)) * (0.9 if cell == "IF" else 60.0)
    expected = _norse_from_nir_spikes(g, x, dt)
    assert expected.sum() > 10, "vacuous: Norse's network hardly spiked"
    with pytest.warns(sc.errors.DialectWarning, match="drops parameters"):
        graph = sc.from_nir(g, dialect="norse", dt=dt)
    for backend in ("brian2", "torch"):
        z = sc.simulate(graph, x[None], backend=backend).spikes["cell"][0]
        bad = np.argwhere(z != expected)
        assert bad.size == 0, (f"{cell} on {backend}: first difference at step {bad[0][0]}, "
                               f"neuron {bad[0][1]}: spikecore {z[tuple(bad[0])]}, Norse "
                               f"{expected[tuple(bad[0])]}")


def test_norse_dialect_names_what_it_drops() -> None:
    g = _one_layer(CELLS["LIF"](2), 2)
    with pytest.warns(sc.errors.DialectWarning) as rec:
        graph = sc.from_nir(g, dialect="norse")
    msg = str(rec[0].message)
    assert "'cell'.v_reset (mean -0.2)" in msg and "'cell'.r (mean 2)" in msg
    assert "dialect='explicit'" in msg
    lif = graph.nodes["cell"]
    assert np.all(lif.r == 1) and np.all(lif.v_reset == 0)
    # IF: v += x is the contract's v += dt*r*x with r = 1/dt
    graph = sc.from_nir(_one_layer(CELLS["IF"](2), 2), dialect="norse", dt=2e-3)
    assert np.all(graph.nodes["cell"].r == 500.0)


def test_norse_dialect_refuses_cuba_lif_with_leak() -> None:
    cell = CELLS["CubaLIF"](2)
    cell.v_leak = np.full(2, 0.5)
    with pytest.raises(sc.errors.DialectError, match="'cell' has v_leak != 0.*synaptic"):
        sc.from_nir(_one_layer(cell, 2), dialect="norse")


# ------------------------------------------------------------------ implausible dt
def test_coarse_dt_warns_naming_node_parameter_and_option() -> None:
    g = _one_layer(nir.LIF(tau=np.array([0.02, 1e-3]), r=np.ones(2), v_leak=np.zeros(2),
                           v_threshold=np.ones(2), v_reset=np.zeros(2)), 2)
    with pytest.warns(sc.errors.DialectWarning,
                      match=r"dt = 1 s.*'cell'\.tau \(dt/tau = 1e\+03\).*Pass dt="):
        sc.from_nir(g, dialect="sinabs")  # Sinabs' default dt is one step: 1 s here
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error", sc.errors.DialectWarning)
        sc.from_nir(g, dialect="sinabs", dt=1e-4)  # dt/tau = 0.1: no warning


def test_dt_inferred_from_r_alone_warns() -> None:
    tau, dt = 0.02, 1e-3
    r = tau * np.exp(-dt / tau) / dt  # what Rockpool's exporter writes
    g = _one_layer(nir.LIF(tau=np.full(2, tau), r=np.full(2, r), v_leak=np.zeros(2),
                           v_threshold=np.ones(2), v_reset=np.zeros(2)), 2)
    with pytest.warns(sc.errors.DialectWarning, match=r"inferred dt = 0\.001 s.*pass dt="):
        graph = sc.from_nir(g, dialect="rockpool")
    assert graph.semantics.dt == dt
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error", sc.errors.DialectWarning)
        sc.from_nir(g, dialect="rockpool", dt=dt)


def test_snntorch_dialect_warns_that_the_reset_is_not_in_the_file() -> None:
    g = _one_layer(nir.LIF(tau=np.full(2, 1e-3), r=np.full(2, 10.0), v_leak=np.zeros(2),
                           v_threshold=np.ones(2), v_reset=np.zeros(2)), 2)
    with pytest.warns(sc.errors.DialectWarning, match="dialect='snntorch-defaults'"):
        sc.from_nir(g, dialect="snntorch")
    # snntorch-defaults: beta = 1 - dt/tau = 0.9, the delayed undecayed subtraction of
    # thr is a subtraction of thr/beta now: v_reset = thr*(1 - 1/beta)
    graph = sc.from_nir(g, dialect="snntorch-defaults")
    assert graph.semantics.reset == "subtract"
    np.testing.assert_allclose(graph.nodes["cell"].v_reset, 1.0 - 1.0 / 0.9, rtol=1e-12)
