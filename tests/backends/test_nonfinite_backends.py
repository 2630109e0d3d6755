"""NaN/inf on every backend: found in every state (recorded or not) and located to the
step, batch entry and neuron where the numpy contract first goes non-finite
(tests/nonfinite_reference.py: an Euler LI with dt/tau = 3 that doubles |v| each step)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from nonfinite_reference import blowup_graph, blowup_input, contract_first_nonfinite

import spikecore as sc

BACKENDS = ["brian2", "torch", pytest.param("lava", marks=pytest.mark.lava)]


@pytest.mark.parametrize("record", [(), ("v",)])
@pytest.mark.parametrize("backend", BACKENDS)
def test_the_first_nonfinite_state_is_the_contracts(backend: str, record, request) -> None:
    if backend == "lava":
        request.getfixturevalue("lava")  # skips with the reason when Lava cannot run
    # Lava has no stateless chain after the blow-up; the others read it through one
    g, x = blowup_graph(chain=backend != "lava"), blowup_input()
    step, batch, neuron = contract_first_nonfinite(g, x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sc.GraphWarning)
        with pytest.raises(sc.errors.NumericalError) as info:
            sc.simulate(g, x, backend=backend, record=record)
    nf = info.value.nonfinite
    assert (nf.backend, nf.node, nf.state, nf.step, nf.batch, nf.index) == (
        backend, "pop", "v", step, batch, (neuron,))
    assert np.isinf(nf.value)
    assert not np.isfinite(info.value.result.outputs["out"][batch, -1]).any()


def test_brian2_cython_target_locates_the_same_step() -> None:
    g, x = blowup_graph(), blowup_input()
    step, batch, _ = contract_first_nonfinite(g, x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sc.GraphWarning)
        r = sc.simulate(g, x, backend="brian2", codegen_target="cython", on_nonfinite="ignore")
    assert (r.nonfinite.node, r.nonfinite.step, r.nonfinite.batch) == ("pop", step, batch)
