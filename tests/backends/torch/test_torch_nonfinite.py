"""NaN/inf on the torch backend: found in every state (recorded or not) and located to the
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
            sc.simulate(g, x, backend="torch", record=record)
    nf = info.value.nonfinite
    assert (nf.backend, nf.node, nf.state, nf.step, nf.batch, nf.index) == (
        "torch", "pop", "v", step, batch, (neuron,))
    assert np.isinf(nf.value)
    assert not np.isfinite(info.value.result.outputs["out"][batch, -1]).any()
