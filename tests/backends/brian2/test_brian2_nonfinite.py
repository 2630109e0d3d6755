"""NaN/inf on the brian2 backend: found in every state (recorded or not) and located to the
step where the numpy contract first goes non-finite."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from nonfinite_reference import blowup_graph, blowup_input, contract_first_nonfinite

import spikecore as sc


@pytest.mark.parametrize("record", [(), ("v",)])
def test_the_first_nonfinite_state_is_the_contracts(record) -> None:
    g, x = blowup_graph(), blowup_input()
    step, batch, neuron = contract_first_nonfinite(g, x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sc.GraphWarning)
        with pytest.raises(sc.errors.NumericalError) as info:
            sc.simulate(g, x, backend="brian2", record=record)
    nf = info.value.nonfinite
    assert (nf.backend, nf.node, nf.state, nf.step, nf.batch, nf.index) == (
        "brian2", "pop", "v", step, batch, (neuron,))
    assert np.isinf(nf.value)
    assert not np.isfinite(info.value.result.outputs["out"][batch, -1]).any()


def test_cython_target_locates_the_same_step() -> None:
    g, x = blowup_graph(), blowup_input()
    step, batch, _ = contract_first_nonfinite(g, x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sc.GraphWarning)
        r = sc.simulate(g, x, backend="brian2", codegen_target="cython", on_nonfinite="ignore")
    assert (r.nonfinite.node, r.nonfinite.step, r.nonfinite.batch) == ("pop", step, batch)
