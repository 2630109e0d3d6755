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
