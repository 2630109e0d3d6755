"""spikecore.testing: the assertions fail where they should, and say where."""

from __future__ import annotations

import numpy as np
import pytest

from spikecore.result import Result
from spikecore.testing import assert_same_spikes


def _result(backend: str, **spikes: np.ndarray) -> Result:
    return Result(spikes=dict(spikes), backend=backend, dt=1e-3)


def _spikes(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((1, 12, 4)) < 0.3


def test_same_spikes_on_the_same_nodes_pass() -> None:
    a = _result("brian2", lif=_spikes(0), out=_spikes(1))
    b = _result("torch", lif=_spikes(0), out=_spikes(1))
    assert_same_spikes(a, b)
    assert_same_spikes(b, a)


def test_a_node_only_the_first_side_recorded_fails_naming_node_and_side() -> None:
    a = _result("brian2", lif=_spikes(0), hidden=_spikes(1))
    b = _result("torch", lif=_spikes(0))
    with pytest.raises(AssertionError) as info:
        assert_same_spikes(a, b)
    msg = str(info.value)
    assert "node 'hidden' recorded by brian2 (result a) but not by torch (result b)" in msg
    assert "'lif'" not in msg  # the node both recorded is not blamed


def test_a_node_only_the_second_side_recorded_fails_naming_node_and_side() -> None:
    a = _result("brian2", lif=_spikes(0))
    b = _result("lava", lif=_spikes(0), readout=_spikes(2))
    with pytest.raises(AssertionError,
                       match=r"node 'readout' recorded by lava \(result b\) but not by "
                             r"brian2 \(result a\)"):
        assert_same_spikes(a, b)


def test_every_one_sided_node_is_named_even_when_the_backends_share_a_name() -> None:
    a = _result("torch", x=_spikes(0), only_a=_spikes(1))
    b = _result("torch", x=_spikes(0), only_b=_spikes(2))
    with pytest.raises(AssertionError) as info:
        assert_same_spikes(a, b)
    msg = str(info.value)
    assert "node 'only_a' recorded by torch (result a) but not by torch (result b)" in msg
    assert "node 'only_b' recorded by torch (result b) but not by torch (result a)" in msg


def test_one_sided_nodes_fail_even_when_the_shared_nodes_differ_nowhere() -> None:
    """The old behaviour compared the intersection and passed here."""
    z = _spikes(3)
    with pytest.raises(AssertionError, match="'extra'"):
        assert_same_spikes(_result("brian2", n=z, extra=z), _result("torch", n=z.copy()))


def test_explicit_nodes_compare_a_subset_on_purpose() -> None:
    z = _spikes(4)
    a = _result("brian2", n=z, extra=_spikes(5))
    b = _result("lava", n=z.copy())
    assert_same_spikes(a, b, nodes=["n"])
    with pytest.raises(AssertionError, match=r"node 'extra' is not recorded by lava \(result b\)"):
        assert_same_spikes(a, b, nodes=["n", "extra"])
    with pytest.raises(AssertionError, match=r"'ghost' is not recorded by brian2 \(result a\) "
                                             r"nor by lava \(result b\)"):
        assert_same_spikes(a, b, nodes=["ghost"])


def test_differing_spikes_still_fail_at_the_first_difference() -> None:
    z = _spikes(6)
    w = z.copy()
    w[0, 7, 1] = not w[0, 7, 1]
    with pytest.raises(AssertionError, match="node 'n', batch 0, neuron 1, step 7"):
        assert_same_spikes(_result("brian2", n=z), _result("torch", n=w))


def test_nothing_recorded_fails() -> None:
    with pytest.raises(AssertionError, match="no spiking node"):
        assert_same_spikes(_result("brian2"), _result("torch"))
